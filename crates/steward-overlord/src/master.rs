//! The Overlord's leadership lifecycle (Druid's `DruidOverlord` and `TaskMaster`).
//!
//! Every Overlord process serves HTTP; only the leader runs a queue and a runner. [`TaskMaster`]
//! follows the leadership an election publishes: on becoming leader it starts a fresh term at
//! once ([`Overlord::start_term`]: subscribe to the coordinator, adopt what the workers run,
//! load the active tasks from the store, start the queue; Druid first waits `startDelay`, a
//! minute); on losing it, it stops the term. Workers and their tasks are left alone: the next
//! leader adopts them from their status announcements and records the ends of tasks that
//! finished while no one led.
//!
//! A term does not wait to be told that it is over: its event loop and every I/O task it
//! spawned watch the leadership themselves ([`Term`]) and stop before their next step once the
//! term has ended, so an assignment or a status write of a lost leadership never lands later.
//! Writes to ZooKeeper are fenced by the leader's latch node on top of that (see
//! `steward_cluster::zookeeper`).

use std::sync::Arc;
use std::time::Duration;

use steward_cluster::{sleep_until, Leadership};
use steward_metadata::MetadataStore;
use steward_model::backoff::Backoff;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info};

use crate::driver::{Overlord, OverlordParts};
use crate::term::Term;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Holds the current term's [`Overlord`], if this process leads. Cheap to clone.
#[derive(Clone)]
pub struct TaskMaster {
    leadership: watch::Receiver<Leadership>,
    terms: watch::Receiver<Option<Overlord>>,
    /// Asks the lifecycle task to stop; `None` for a process that always leads.
    stop: Option<mpsc::UnboundedSender<oneshot::Sender<()>>>,
    /// The metadata store every term uses, also while this process does not lead: what is
    /// read from it alone (Druid's Coordinator metadata API) is served by every Overlord.
    store: Arc<dyn MetadataStore>,
}

impl TaskMaster {
    /// Follows `leadership`: starts a term with `parts` whenever this process becomes leader
    /// and stops it when it is not any more.
    pub fn start(parts: OverlordParts, leadership: watch::Receiver<Leadership>) -> TaskMaster {
        let (terms_tx, terms) = watch::channel(None);
        let (stop, stop_rx) = mpsc::unbounded_channel();
        let store = parts.store.clone();
        tokio::spawn(lifecycle(parts, leadership.clone(), terms_tx, stop_rx));
        TaskMaster {
            leadership,
            terms,
            stop: Some(stop),
            store,
        }
    }

    /// A process that always leads, with its one `overlord`.
    pub(crate) fn leading(
        overlord: Overlord,
        leadership: watch::Receiver<Leadership>,
    ) -> TaskMaster {
        let store = overlord.store().clone();
        let (_, terms) = watch::channel(Some(overlord));
        TaskMaster {
            leadership,
            terms,
            stop: None,
            store,
        }
    }

    /// The running term's Overlord; `None` unless this process leads and its term has started
    /// (Druid's `isLeader`: the latch is held and the leader services are up).
    pub(crate) fn overlord(&self) -> Option<Overlord> {
        self.terms
            .borrow()
            .as_ref()
            .filter(|o| o.term().is_current())
            .cloned()
    }

    /// The metadata store, whether this process leads or not.
    pub(crate) fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    /// What this process knows about the leadership.
    pub(crate) fn leadership(&self) -> Leadership {
        self.leadership.borrow().clone()
    }

    /// Stops the running term and no longer starts new ones.
    pub async fn stop(&self) {
        match &self.stop {
            Some(stop) => {
                let (reply, stopped) = oneshot::channel();
                if stop.send(reply).is_ok() {
                    let _ = stopped.await;
                }
            }
            None => {
                let overlord = self.terms.borrow().clone();
                if let Some(overlord) = overlord {
                    overlord.stop().await;
                }
            }
        }
    }
}

async fn lifecycle(
    parts: OverlordParts,
    mut leadership: watch::Receiver<Leadership>,
    terms: watch::Sender<Option<Overlord>>,
    mut stop: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    let mut election_open = true;
    let mut retry = Backoff::new(FIRST_RETRY, MAX_RETRY);
    loop {
        let wanted = leadership.borrow_and_update().term;
        let running = terms.borrow().as_ref().map(|o| o.term().id());
        if running.is_some() && running != wanted {
            if let Some(overlord) = terms.send_replace(None) {
                info!(
                    term = overlord.term().id(),
                    "no longer leading: stopping the term"
                );
                overlord.stop().await;
            }
        }
        let mut retry_after = None;
        if let Some(id) = wanted.filter(|id| running != Some(*id)) {
            info!(term = id, "leading: starting a term");
            match Overlord::start_term(parts.clone(), Term::new(id, leadership.clone())).await {
                Ok(overlord) => {
                    retry.reset();
                    terms.send_replace(Some(overlord));
                }
                Err(e) => {
                    error!(term = id, error = %e, "cannot start leading; retrying");
                    retry_after = Some(tokio::time::Instant::now() + retry.next_wait());
                }
            }
        }
        tokio::select! {
            changed = leadership.changed(), if election_open => election_open = changed.is_ok(),
            () = sleep_until(retry_after) => {}
            reply = stop.recv() => {
                if let Some(overlord) = terms.send_replace(None) {
                    overlord.stop().await;
                }
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
                return;
            }
        }
    }
}
