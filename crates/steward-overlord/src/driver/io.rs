//! The effect executor: carries out the core's [`IoEffect`]s (assignments, cleanups, worker
//! shutdown calls, status writes), each on its own tokio task, and reports the outcomes the
//! core waits for back to the event loop as commands. Effects addressed to one task on one
//! worker wait for each other in a [`Lanes`] lane, in the order the core emitted them, as
//! `IoEffect` promises.
//!
//! Retries live here, not in the core: an outage of the coordinator or the store is waited
//! out with a backoff, bounded where the core has a deadline of its own (the assignment
//! timeout) and unbounded for an end, which must never be lost.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use steward_cluster::{CoordinatorError, OverlordCoordinator};
use steward_http::path_segment;
use steward_metadata::{MetadataStore, StoreError};
use steward_metrics::Metrics;
use steward_model::backoff::Backoff;
use steward_model::Worker;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use super::command::Command;
use super::metrics::assigned;
use crate::core::{IoEffect, OverlordCore};
use crate::lockbox::LockPersist;
use crate::term::Term;

/// Worker shutdown calls: Druid's `taskShutdownLinkTimeout` per try, a few tries.
pub(super) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);
const SHUTDOWN_TRIES: u32 = 3;
/// Waits between attempts at an assignment or a status write while the coordinator or the
/// store is out.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// `<worker>/druid/worker/v1/task/<id>/<rest>`, the id percent-encoded: a task id may hold
/// `?`, `#`, `%` or spaces, which would otherwise end the path or be decoded into another id.
pub(crate) fn worker_task_url(worker: &Worker, task_id: &str, rest: &str) -> String {
    format!(
        "{}/druid/worker/v1/task/{}/{rest}",
        worker.url(),
        path_segment(task_id)
    )
}

/// Carries out [`IoEffect`]s, each on its own task, within the term.
pub(super) struct IoRunner {
    /// Where outcomes go back to the event loop.
    pub(super) tx: mpsc::UnboundedSender<Command>,
    /// How long an assignment write may wait out a coordinator outage.
    pub(super) assignment_timeout: Duration,
    pub(super) store: Arc<dyn MetadataStore>,
    pub(super) coordinator: Arc<dyn OverlordCoordinator>,
    pub(super) http: reqwest::Client,
    /// The one writer of lock rows (see [`lock_row_writer`]).
    pub(super) lock_rows: mpsc::UnboundedSender<LockRowWork>,
    pub(super) term: Term,
    pub(super) lanes: Lanes,
    pub(super) metrics: Metrics,
}

/// What the lock row writer is sent.
pub(super) enum LockRowWork {
    /// Lock changes to write, in this order.
    Write(Vec<LockPersist>),
    /// Runs once every change sent before is written (never, if the term ends first).
    Then(Box<dyn FnOnce() + Send>),
}

/// Starts the writer that mirrors lock changes in `druid_tasklocks`, one at a time in the order
/// the core made them: a lock released right after it was taken must not have its delete land
/// before its insert. A store outage is waited out; the order is kept meanwhile. A change the
/// store refuses (a row to replace that is not there) is logged and skipped: a retry would
/// fail the same way, and would hold back every change and every [`LockRowWork::Then`] after it.
pub(super) fn lock_row_writer(
    store: Arc<dyn MetadataStore>,
    term: Term,
) -> mpsc::UnboundedSender<LockRowWork> {
    let (tx, mut rx) = mpsc::unbounded_channel::<LockRowWork>();
    tokio::spawn(term.run(async move {
        while let Some(work) = rx.recv().await {
            let batch = match work {
                LockRowWork::Write(batch) => batch,
                LockRowWork::Then(then) => {
                    then();
                    continue;
                }
            };
            for change in batch {
                let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
                loop {
                    let written = match &change {
                        LockPersist::Insert { task_id, lock } => {
                            store.insert_lock(task_id, lock).await
                        }
                        LockPersist::Replace { task_id, old, new } => {
                            store.replace_lock(task_id, old, new).await
                        }
                        LockPersist::Delete { task_id, lock } => {
                            store.delete_lock(task_id, lock).await
                        }
                    };
                    match written {
                        Ok(()) => break,
                        Err(e @ StoreError::Unavailable(_)) => {
                            warn!(change = ?change, error = %e, "could not write task lock row; retrying");
                            tokio::time::sleep(backoff.next_wait()).await;
                        }
                        Err(e) => {
                            error!(change = ?change, error = %e, "task lock row refused; skipping it");
                            break;
                        }
                    }
                }
            }
        }
    }));
    tx
}

impl IoRunner {
    /// Runs `then` once every lock change started so far is written; drops it if the term ends
    /// first.
    pub(super) fn after_lock_rows(&self, then: impl FnOnce() + Send + 'static) {
        // The writer outlives no term: if it is gone, so is `then`.
        let _ = self.lock_rows.send(LockRowWork::Then(Box::new(then)));
    }

    /// Starts the effects in the order given, the core's: each joins its lane now, so that
    /// effects with one target land in that order whenever their tasks get to run. `core`,
    /// which made them, is read for what the metrics need (when an assigned task entered the
    /// runner).
    pub(super) fn run_all(&self, core: &OverlordCore, effects: Vec<IoEffect>) {
        for effect in effects {
            let pending_since = match &effect {
                IoEffect::Assign { task, .. } => core
                    .runner()
                    .task_view(task.id())
                    .map(|v| v.queue_insertion_time),
                _ => None,
            };
            self.run(effect, pending_since);
        }
    }

    /// Spawns an effect that waits for its turn in `lane`, if it has one, and stops, before its
    /// next step, once the term is over (a turn that comes after the end never starts).
    fn spawn(&self, lane: Option<Place>, work: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(self.term.clone().run(async move {
            if let Some(mut place) = lane {
                place.turn().await;
                work.await;
                // The next effect in the lane starts once this place is dropped.
                drop(place);
            } else {
                work.await;
            }
        }));
    }

    fn run(&self, effect: IoEffect, pending_since: Option<Timestamp>) {
        let tx = self.tx.clone();
        let coordinator = self.coordinator.clone();
        let lane = effect
            .target()
            .map(|(worker, task)| self.lanes.join(worker, task));
        match effect {
            IoEffect::Assign { worker, task } => {
                let give_up = self.assignment_timeout;
                let metrics = self.metrics.clone();
                // The locks a task was found ready with are stored before it can run (Druid
                // stores them before the task is handed to its runner): a leader that dies
                // meanwhile leaves them to the next, which takes them again.
                let (stored, locks_stored) = oneshot::channel();
                self.after_lock_rows(move || {
                    let _ = stored.send(());
                });
                self.spawn(lane, async move {
                    if locks_stored.await.is_err() {
                        // The term is over; the next leader assigns the task.
                        return;
                    }
                    let task_id = task.id().to_string();
                    let started = std::time::Instant::now();
                    let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
                    loop {
                        match coordinator.assign(&worker.host, &task).await {
                            Ok(()) => {
                                if let Some(since) = pending_since {
                                    assigned(&metrics, &task, since);
                                }
                                return;
                            }
                            Err(CoordinatorError::Exists(_)) => return,
                            // The leadership is over; the next leader assigns the task.
                            Err(CoordinatorError::NotLeader) => return,
                            // A coordinator outage is waited out; the runner's assignment
                            // timeout still bounds how long the task may stay unassigned.
                            Err(CoordinatorError::Unavailable(e))
                                if started.elapsed() < give_up =>
                            {
                                warn!(task = task_id, worker = worker.host, error = %e, "coordinator unavailable; retrying assignment");
                                tokio::time::sleep(backoff.next_wait()).await;
                            }
                            Err(e) => {
                                warn!(task = task_id, worker = worker.host, error = %e, "assignment failed");
                                let worker_gone = matches!(e, CoordinatorError::NoNode(_));
                                let _ = tx.send(Command::AssignFailed {
                                    task_id,
                                    worker: worker.host,
                                    worker_gone,
                                });
                                return;
                            }
                        }
                    }
                });
            }
            IoEffect::RemoveAssignment { worker, task_id } => {
                self.spawn(lane, async move {
                    if let Err(e) = coordinator.remove_assignment(&worker, &task_id).await {
                        warn!(task = task_id, worker, error = %e, "could not remove assignment");
                    }
                });
            }
            IoEffect::RemoveStatus { worker, task_id } => {
                self.spawn(lane, async move {
                    if let Err(e) = coordinator.remove_status(&worker, &task_id).await {
                        warn!(task = task_id, worker, error = %e, "could not remove status announcement");
                    }
                });
            }
            IoEffect::ShutdownOnWorker { worker, task_id } => {
                let http = self.http.clone();
                self.spawn(lane, async move {
                    let url = worker_task_url(&worker, &task_id, "shutdown");
                    for attempt in 1..=SHUTDOWN_TRIES {
                        match http.post(&url).send().await {
                            Ok(r) if r.status().is_success() => return,
                            Ok(r) => {
                                warn!(task = task_id, status = %r.status(), attempt, "worker refused shutdown")
                            }
                            Err(e) => {
                                warn!(task = task_id, error = %e, attempt, "worker shutdown call failed")
                            }
                        }
                    }
                });
            }
            IoEffect::PersistStatus(status) => {
                let store = self.store.clone();
                self.spawn(lane, async move {
                    // Never give up on an end: retry until the store takes it (nothing is lost
                    // while the store is down; the task stays active in memory meanwhile).
                    let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
                    loop {
                        match store.set_status(&status).await {
                            Ok(row_changed) => {
                                let _ = tx.send(Command::Persisted {
                                    task_id: status.id.clone(),
                                    row_changed,
                                });
                                return;
                            }
                            Err(e) => {
                                warn!(task = status.id, error = %e, "could not persist task status; retrying");
                                tokio::time::sleep(backoff.next_wait()).await;
                            }
                        }
                    }
                });
            }
            IoEffect::DeletePendingSegments { task_allocator_id } => {
                let store = self.store.clone();
                self.spawn(lane, async move {
                    // Left behind, they only block allocations in their intervals until an
                    // operator deletes them (`DELETE pendingSegments/{dataSource}`).
                    if let Err(e) = store
                        .delete_pending_segments_of_allocator(&task_allocator_id)
                        .await
                    {
                        warn!(task = task_allocator_id, error = %e, "could not delete the pending segments of an ended task");
                    }
                });
            }
            IoEffect::PersistLocks(changes) => {
                // The writer outlives no term: if it is gone, the term is over and the next
                // leader takes the locks again from what was written.
                let _ = self.lock_rows.send(LockRowWork::Write(changes));
            }
        }
    }
}

/// The lanes of effects addressed to one (worker, task): each effect joins the lane of its
/// target when it is started and waits until the effect before it in that lane has finished,
/// given up, or been dropped with its term. Only targets with an effect in flight have a lane.
#[derive(Default)]
pub(super) struct Lanes(Arc<Mutex<LaneTails>>);

#[derive(Default)]
struct LaneTails {
    next: u64,
    /// For each target, the last place joined: its number and what resolves when it is done.
    tails: HashMap<(String, String), (u64, oneshot::Receiver<()>)>,
}

impl Lanes {
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.0.lock().expect("lanes poisoned").tails.is_empty()
    }

    /// Takes the next place in the lane of `(worker, task)`.
    fn join(&self, worker: &str, task: &str) -> Place {
        let mut lanes = self.0.lock().expect("lanes poisoned");
        lanes.next += 1;
        let number = lanes.next;
        let (done, done_rx) = oneshot::channel();
        let key = (worker.to_string(), task.to_string());
        let before = lanes
            .tails
            .insert(key.clone(), (number, done_rx))
            .map(|(_, rx)| rx);
        Place {
            lanes: self.0.clone(),
            key,
            number,
            before,
            _done: done,
        }
    }
}

/// One effect's place in its lane. Dropping it (the effect done, or dropped with its term)
/// lets the next effect go and, if it was the last, closes the lane.
pub(super) struct Place {
    lanes: Arc<Mutex<LaneTails>>,
    key: (String, String),
    number: u64,
    before: Option<oneshot::Receiver<()>>,
    /// Never sent: its drop is the signal.
    _done: oneshot::Sender<()>,
}

impl Place {
    /// Resolves once the effect before this one in the lane is done.
    async fn turn(&mut self) {
        if let Some(before) = self.before.take() {
            // Closed, not sent: either way the effect before is done.
            let _ = before.await;
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut lanes = self.lanes.lock().expect("lanes poisoned");
        if lanes
            .tails
            .get(&self.key)
            .is_some_and(|(number, _)| *number == self.number)
        {
            lanes.tails.remove(&self.key);
        }
    }
}
