//! Which Overlord leads (Druid's `DruidLeaderSelector`).
//!
//! Several Overlords may run; one leads: only it assigns tasks and writes task state, the others
//! redirect their API callers to it. [`LeaderElection`] is what the Overlord's lifecycle and its
//! HTTP layer watch. [`ZkLeaderElection`](crate::zookeeper::ZkLeaderElection) elects through
//! ZooKeeper as Druid does; [`AlwaysLeader`] is the election of a process that is alone by
//! construction (`steward quickstart`).

use tokio::sync::watch;

/// What this process knows about the leadership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    /// `Some(term)` while this process leads. Every leadership gets a new term (Druid's
    /// `localTerm`), so that a leadership lost and regained is never taken for an unbroken one:
    /// whatever the earlier term started must not act in the later one.
    pub term: Option<u64>,
    /// The leader's URL (its participant id, `http://host:port`): this process's own while it
    /// leads, `None` while no leader is known.
    pub leader: Option<String>,
}

impl Leadership {
    pub fn is_leader(&self) -> bool {
        self.term.is_some()
    }
}

/// An election this process takes part in.
pub trait LeaderElection: Send + Sync {
    /// The current leadership, updated on every change. If the election ends, its last value
    /// stands.
    fn leadership(&self) -> watch::Receiver<Leadership>;
}

/// The election of a process that always leads, in one unending term.
pub struct AlwaysLeader {
    leadership: watch::Receiver<Leadership>,
}

impl AlwaysLeader {
    /// Leads as `url`.
    pub fn new(url: impl Into<String>) -> Self {
        let (_, leadership) = watch::channel(Leadership {
            term: Some(1),
            leader: Some(url.into()),
        });
        AlwaysLeader { leadership }
    }
}

impl LeaderElection for AlwaysLeader {
    fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }
}
