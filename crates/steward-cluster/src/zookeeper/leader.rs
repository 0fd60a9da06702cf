//! Druid's Overlord leader election through ZooKeeper, compatible with Curator's `LeaderLatch`.
//!
//! Each participant creates an ephemeral-sequential node `<latch>/_c_<uuid>-latch-<seq>` whose
//! data is its participant id (`http://host:port`). The lowest sequence leads, and the leader's
//! id is the data of the lowest node, so Druid's and Steward's Overlords agree on the leader and
//! on `GET /druid/indexer/v1/leader`. A participant that does not lead watches its predecessor,
//! as Curator does, and also the leader's node, to know whom to redirect to.
//!
//! # Losing leadership
//!
//! A participant gives up at once when its session ends (expired or closed), when its node
//! disappears, and when its connection has been down for the session timeout: ZooKeeper may
//! have expired the session by then without this process hearing of it (the client only learns
//! of an expiry when it reconnects), and another Overlord may lead. Curator's `LeaderLatch` gives
//! up on any disconnection; waiting out the session timeout keeps a short network blip from
//! restarting the Overlord's queue. It then joins again with a new node, at the back of the
//! line, after deleting its old node if the session survived (Curator's `reset`): the old node,
//! first in line, would otherwise name this process leader while it does not lead.
//!
//! # Fencing
//!
//! A leader that has lost its session may still have writes in flight, and the client retries
//! them on the next session. So while a coordinator takes part in an election, its Overlord-side
//! writes are ZooKeeper transactions that first check that its latch node exists ([`Fence`]):
//! once the node is gone, because the session expired or the participant gave up, no write of
//! the old leadership lands, whatever the timing. A participant that does not lead writes
//! nothing.

use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use steward_model::backoff::Backoff;

use futures::future::{select_all, Future};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use zookeeper_client as zk;

use super::config::join;
use super::read::{list, read_children};
use super::session::{is_transient, Session};
use super::PERSISTENT;
use crate::{LeaderElection, Leadership};

const EPHEMERAL_SEQUENTIAL: zk::CreateOptions<'static> =
    zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
/// Curator's `LeaderLatch` lock name: the part of a node's name before its sequence.
const LATCH_NAME: &str = "latch-";
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often a participant waiting for a connection checks that its coordinator still exists.
const SESSION_CHECK: Duration = Duration::from_secs(1);
/// How long leaving the election may take to delete the node; the session timeout removes it
/// otherwise.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a coordinator's Overlord-side writes are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Latch {
    /// The coordinator takes part in no election: writes go ahead.
    Unelected,
    /// Leading with this latch node: writes go ahead while it exists.
    Leading(String),
    /// Taking part without leading: nothing is written.
    Following,
}

/// The coordinator's current [`Latch`], set by its election.
#[derive(Debug)]
pub(crate) struct Fence(Mutex<Latch>);

impl Fence {
    pub(crate) fn new() -> Fence {
        Fence(Mutex::new(Latch::Unelected))
    }

    pub(crate) fn latch(&self) -> Latch {
        self.0.lock().expect("fence lock poisoned").clone()
    }

    fn set(&self, latch: Latch) {
        *self.0.lock().expect("fence lock poisoned") = latch;
    }
}

/// This process's part in the Overlord leader election. Dropping it leaves the election;
/// [`ZkLeaderElection::close`] leaves and waits until the node is deleted.
pub struct ZkLeaderElection {
    /// Held so that [`ZkLeaderElection::close`] can still delete the node when the coordinator
    /// that opened the session has been dropped first (an Overlord stops its term, and drops
    /// the coordinator with it, before it leaves): without it the session would go with the
    /// coordinator, unclosed as the process exits, and the node would stay until it expired.
    _session: Arc<Session>,
    leadership: watch::Receiver<Leadership>,
    leave: Option<oneshot::Sender<()>>,
    left: oneshot::Receiver<()>,
}

impl ZkLeaderElection {
    pub(crate) fn join(
        session: &Arc<Session>,
        fence: Arc<Fence>,
        latch_path: String,
        participant_id: String,
    ) -> ZkLeaderElection {
        fence.set(Latch::Following);
        let (tx, leadership) = watch::channel(Leadership::default());
        let (leave, leave_rx) = oneshot::channel();
        let (left_tx, left) = oneshot::channel();
        let participant = Participant {
            session: Arc::downgrade(session),
            dir: latch_path,
            id: participant_id,
            fence,
            tx,
            terms: 0,
            stale: None,
            backoff: Backoff::new(FIRST_BACKOFF, MAX_BACKOFF),
        };
        tokio::spawn(participant.run(leave_rx, left_tx));
        ZkLeaderElection {
            _session: session.clone(),
            leadership,
            leave: Some(leave),
            left,
        }
    }

    /// Leaves the election: gives up leadership and deletes this participant's node, so that
    /// the next in line leads at once rather than after the session timeout.
    pub async fn close(mut self) {
        drop(self.leave.take());
        // The participant drops its end when it is done.
        let _ = (&mut self.left).await;
    }
}

impl LeaderElection for ZkLeaderElection {
    fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }
}

/// This participant's node.
#[derive(Debug, Clone)]
struct Node {
    path: String,
    name: String,
    /// `_c_<uuid>-latch-`: Curator's protected-mode prefix, unique to this node.
    protected: String,
    session: zk::SessionId,
}

/// Why a participation ended.
enum Ended {
    /// Join again with a new node.
    Rejoin,
    /// The coordinator is gone: nothing left to take part with.
    Gone,
}

/// One look at the line of participants.
enum Evaluation {
    /// This participant's node is gone.
    NodeGone,
    /// A node changed between reads: look again.
    Again,
    /// Wait for one of these to fire.
    Watching(Vec<zk::OneshotWatcher>),
}

struct Participant {
    session: Weak<Session>,
    dir: String,
    id: String,
    fence: Arc<Fence>,
    tx: watch::Sender<Leadership>,
    terms: u64,
    /// A node this participant may have left behind in a session that may still be alive:
    /// the session and the node's protected prefix.
    stale: Option<(zk::SessionId, String)>,
    backoff: Backoff,
}

impl Participant {
    async fn run(mut self, mut leave: oneshot::Receiver<()>, _left: oneshot::Sender<()>) {
        loop {
            let ended = tokio::select! {
                _ = &mut leave => break,
                ended = self.take_part() => ended,
            };
            self.step_down(None);
            if matches!(ended, Ended::Gone) {
                return;
            }
        }
        self.step_down(None);
        tracing::info!(
            participant = self.id,
            "leaving the Overlord leader election"
        );
        if let Some(client) = self.session.upgrade().map(|s| s.client()) {
            let removed = tokio::time::timeout(LEAVE_TIMEOUT, self.remove_stale(&client)).await;
            if !matches!(removed, Ok(Ok(()))) {
                tracing::warn!(
                    participant = self.id,
                    "could not delete the latch node; it goes with the session"
                );
            }
        }
    }

    /// Joins with a new node and follows the line until this participation ends.
    async fn take_part(&mut self) -> Ended {
        loop {
            let Some(client) = self.connected().await else {
                return Ended::Gone;
            };
            let joined = async {
                self.remove_stale(&client).await?;
                self.create_node(&client).await
            }
            .await;
            drop(client);
            match joined {
                Ok(node) => {
                    self.backoff.reset();
                    tracing::info!(
                        participant = self.id,
                        node = node.path,
                        "joined the Overlord leader election"
                    );
                    // Deleted when this participation ends, if its session outlives it.
                    self.stale = Some((node.session, node.protected.clone()));
                    return self.follow(&node).await;
                }
                Err(e) => {
                    tracing::warn!(participant = self.id, error = %e,
                        "cannot join the Overlord leader election yet; retrying");
                    tokio::time::sleep(self.backoff.next_wait()).await;
                }
            }
        }
    }

    /// A connected client; `None` once the coordinator is gone.
    async fn connected(&self) -> Option<zk::Client> {
        loop {
            let session = self.session.upgrade()?;
            if let Some(client) = session.connected(Instant::now() + SESSION_CHECK).await {
                return Some(client);
            }
        }
    }

    /// Deletes the node a previous participation may have left in a session that is still
    /// alive; a node of an ended session is gone already.
    async fn remove_stale(&mut self, client: &zk::Client) -> Result<(), zk::Error> {
        let Some((session, protected)) = &self.stale else {
            return Ok(());
        };
        if *session == client.session_id() {
            for name in list(client, &self.dir).await? {
                if name.starts_with(protected.as_str()) {
                    match client.delete(&join(&self.dir, &name), None).await {
                        Ok(()) | Err(zk::Error::NoNode) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        self.stale = None;
        Ok(())
    }

    async fn create_node(&mut self, client: &zk::Client) -> Result<Node, zk::Error> {
        let protected = format!("_c_{}-{LATCH_NAME}", uuid::Uuid::new_v4());
        let prefix = join(&self.dir, &protected);
        loop {
            match client
                .create(&prefix, self.id.as_bytes(), &EPHEMERAL_SEQUENTIAL)
                .await
            {
                Ok((_, sequence)) => {
                    let name = format!("{protected}{sequence}");
                    return Ok(Node {
                        path: join(&self.dir, &name),
                        name,
                        protected,
                        session: client.session_id(),
                    });
                }
                Err(zk::Error::NoNode) => client.mkdir(&self.dir, &PERSISTENT).await?,
                Err(e) => {
                    // The node may exist although the answer was lost: the next attempt
                    // deletes it by its prefix before creating another.
                    self.stale = Some((client.session_id(), protected));
                    return Err(e);
                }
            }
        }
    }

    /// Follows the line, leading when first, until the node or the session is lost, or the
    /// connection has been down for the session timeout.
    async fn follow(&mut self, node: &Node) -> Ended {
        let mut disconnected_since: Option<Instant> = None;
        // Between looks at the line that failed for a reason a reconnection may cure.
        let mut retry = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        loop {
            let Some(client) = self.session.upgrade().map(|s| s.client()) else {
                return Ended::Gone;
            };
            if client.session_id() != node.session {
                tracing::warn!(
                    participant = self.id,
                    "ZooKeeper session replaced; joining again"
                );
                return Ended::Rejoin;
            }
            let timeout = client.session_timeout();
            let mut states = client.state_watcher();
            let state = states.state();
            if state.is_terminated() {
                tracing::warn!(participant = self.id, ?state, "ZooKeeper session ended");
                return Ended::Rejoin;
            }
            let mut look_again: Pin<Box<dyn Future<Output = ()> + Send>> =
                if state == zk::SessionState::SyncConnected {
                    disconnected_since = None;
                    let evaluation = self.evaluate(&client, node).await;
                    if evaluation.is_ok() {
                        retry.reset();
                    }
                    match evaluation {
                        Ok(Evaluation::NodeGone) => {
                            tracing::warn!(
                                participant = self.id,
                                node = node.path,
                                "latch node disappeared; joining again"
                            );
                            return Ended::Rejoin;
                        }
                        Ok(Evaluation::Again) => continue,
                        Ok(Evaluation::Watching(watchers)) => Box::pin(async move {
                            select_all(watchers.into_iter().map(|w| Box::pin(w.changed()))).await;
                        }),
                        Err(e) if is_transient(&e) => {
                            tracing::debug!(participant = self.id, error = %e,
                                "cannot read the leader latch; looking again");
                            Box::pin(tokio::time::sleep(retry.next_wait()))
                        }
                        Err(e) => {
                            tracing::warn!(participant = self.id, error = %e,
                                "cannot read the leader latch; joining again");
                            return Ended::Rejoin;
                        }
                    }
                } else {
                    disconnected_since.get_or_insert_with(Instant::now);
                    Box::pin(std::future::pending())
                };
            drop(client);
            loop {
                let give_up_at = disconnected_since.map(|since| since + timeout);
                tokio::select! {
                    () = super::sleep_until(give_up_at) => {
                        tracing::warn!(participant = self.id, timeout_ms = timeout.as_millis(),
                            "disconnected from ZooKeeper for the session timeout; the session may have expired");
                        return Ended::Rejoin;
                    }
                    () = &mut look_again => break,
                    state = states.changed() => match state {
                        zk::SessionState::Disconnected => {
                            disconnected_since.get_or_insert_with(Instant::now);
                        }
                        // The client restores one-shot watches on reconnection; looking again
                        // costs one read and covers whatever happened meanwhile.
                        zk::SessionState::SyncConnected => break,
                        state if state.is_terminated() => break,
                        _ => {}
                    },
                }
            }
        }
    }

    /// Reads the line: leads if first, else learns the leader; returns the watches that say
    /// when to look again.
    async fn evaluate(
        &mut self,
        client: &zk::Client,
        node: &Node,
    ) -> Result<Evaluation, zk::Error> {
        let mut line: Vec<(i64, String)> = list(client, &self.dir)
            .await?
            .into_iter()
            .filter_map(|name| sequence(&name).map(|s| (s, name)))
            .collect();
        line.sort();
        let Some(place) = line.iter().position(|(_, name)| *name == node.name) else {
            return Ok(Evaluation::NodeGone);
        };
        let mut watchers = Vec::with_capacity(3);
        // Someone deleting this node (an operator, a session ending) must be noticed.
        match client.get_and_watch_data(&node.path).await {
            Ok((_, _, watcher)) => watchers.push(watcher),
            Err(zk::Error::NoNode) => return Ok(Evaluation::NodeGone),
            Err(e) => return Err(e),
        }
        if place == 0 {
            self.lead(node);
            return Ok(Evaluation::Watching(watchers));
        }
        let leader = join(&self.dir, &line[0].1);
        let data = match client.get_and_watch_data(&leader).await {
            Ok((data, _, watcher)) => {
                watchers.push(watcher);
                data
            }
            Err(zk::Error::NoNode) => return Ok(Evaluation::Again),
            Err(e) => return Err(e),
        };
        if place > 1 {
            let predecessor = join(&self.dir, &line[place - 1].1);
            match client.get_and_watch_data(&predecessor).await {
                Ok((_, _, watcher)) => watchers.push(watcher),
                Err(zk::Error::NoNode) => return Ok(Evaluation::Again),
                Err(e) => return Err(e),
            }
        }
        self.step_down(Some(String::from_utf8_lossy(&data).into_owned()));
        Ok(Evaluation::Watching(watchers))
    }

    fn lead(&mut self, node: &Node) {
        if self.tx.borrow().is_leader() {
            return;
        }
        self.terms += 1;
        // Open the fence before the term starts, so that none of its writes is refused.
        self.fence.set(Latch::Leading(node.path.clone()));
        self.tx.send_replace(Leadership {
            term: Some(self.terms),
            leader: Some(self.id.clone()),
        });
        tracing::info!(
            participant = self.id,
            term = self.terms,
            node = node.path,
            "leading the Overlords"
        );
    }

    /// Not leading; `leader` is who does, if known.
    fn step_down(&mut self, leader: Option<String>) {
        let now = Leadership { term: None, leader };
        let before = self.tx.send_replace(now.clone());
        // Close the fence only after the term has ended: a write it refuses must never be seen
        // by a term that still looks current.
        self.fence.set(Latch::Following);
        if before.is_leader() {
            tracing::warn!(participant = self.id, "no longer leading the Overlords");
        }
        if before.leader != now.leader {
            if let Some(leader) = &now.leader {
                tracing::info!(
                    participant = self.id,
                    leader,
                    "following the Overlord leader"
                );
            }
        }
    }
}

/// The participant ids (Overlord URLs) of the election at `latch_path`, in line order: the
/// leader first. Read once, not watched: a MiddleManager asks when it starts a peon.
pub(crate) async fn participants(
    session: &Session,
    latch_path: &str,
) -> Result<Vec<String>, crate::CoordinatorError> {
    let nodes = session
        .run("readParticipants", |client| {
            let dir = latch_path.to_string();
            async move { read_children(&client, &dir).await }
        })
        .await
        .map_err(|e| super::coordinator_error(e, latch_path))?;
    let mut line: Vec<(i64, String)> = nodes
        .into_iter()
        .filter_map(|(name, data, _)| Some((sequence(&name)?, String::from_utf8(data).ok()?)))
        .collect();
    line.sort();
    let mut ids: Vec<String> = Vec::with_capacity(line.len());
    for (_, id) in line {
        // A participant that rejoined may have a stale node left in the line for a moment.
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The sequence of a latch node's name (`..latch-<seq>`), as Curator sorts them.
fn sequence(name: &str) -> Option<i64> {
    let (_, seq) = name.rsplit_once(LATCH_NAME)?;
    seq.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latch_nodes_sort_by_their_sequence() {
        assert_eq!(
            sequence("_c_6bd3b1a0-6a0d-4c51-a1f4-7a0f7a2a9c1e-latch-0000000012"),
            Some(12)
        );
        assert_eq!(sequence("latch-0000000003"), Some(3));
        assert_eq!(sequence("_c_x-lock-0000000001"), None);
        assert_eq!(sequence("_c_x-latch-"), None);
    }
}
