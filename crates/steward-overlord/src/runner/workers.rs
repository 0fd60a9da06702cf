//! Workers appearing, changing, vanishing and coming back, and the cleanup of those that do
//! not come back in time.
//!
//! A worker whose announcement disappears keeps its tasks (and its slots) for the cleanup
//! timeout, as in Druid: a ZooKeeper session that expires and comes back, or a MiddleManager
//! restarting, must not fail the tasks its peons still run.

use jiff::Timestamp;
use steward_model::end::TaskEnd;
use steward_model::Worker;
use tracing::{error, info, warn};

use super::worker_state::WorkerState;
use super::{after, RunnerEffect, TaskRunner};

/// A worker whose announcement disappeared, kept until `deadline` in case it returns.
pub(super) struct LostWorker {
    pub(super) state: WorkerState,
    pub(super) deadline: Timestamp,
}

impl TaskRunner {
    /// A worker announced itself. A second announcement of a known worker is an error and the
    /// first registration is kept; a worker that returns within the cleanup timeout gets its
    /// tasks back.
    pub(crate) fn worker_added(&mut self, worker: Worker, now: Timestamp) {
        if self.workers.contains_key(&worker.host) {
            error!(
                worker = worker.host,
                "worker already initialized, ignoring the second registration"
            );
            return;
        }
        let state = match self.lost_workers.remove(&worker.host) {
            Some(lost) => {
                info!(
                    worker = worker.host,
                    "worker came back before its cleanup timeout; cleanup cancelled"
                );
                let unconfirmed = lost
                    .state
                    .tasks
                    .iter()
                    .filter(|id| {
                        self.running
                            .get(*id)
                            .is_some_and(|r| r.ack_deadline.is_none())
                    })
                    .cloned()
                    .collect();
                WorkerState {
                    worker: worker.clone(),
                    initialized: false,
                    unconfirmed,
                    ..lost.state
                }
            }
            None => WorkerState::new(worker.clone(), now),
        };
        // A returning worker may still be blacklisted; checks that ran while it was away did
        // not see it, so make sure one is scheduled to lift it.
        if state.blacklisted_until.is_some() {
            self.schedule_blacklist_check(now);
        }
        self.workers.insert(worker.host.clone(), state);
    }

    /// Every status the worker had when it appeared has been seen: it may now get tasks.
    pub(crate) fn worker_initialized(
        &mut self,
        host: &str,
        now: Timestamp,
        out: &mut Vec<RunnerEffect>,
    ) {
        if let Some(w) = self.workers.get_mut(host) {
            w.initialized = true;
            for id in std::mem::take(&mut w.unconfirmed) {
                self.status_removed(host, &id, now, out);
            }
            self.assign_pending(now, out);
        }
    }

    /// A worker re-announced itself (enabled/disabled, capacity, category).
    pub(crate) fn worker_changed(
        &mut self,
        worker: Worker,
        now: Timestamp,
        out: &mut Vec<RunnerEffect>,
    ) {
        match self.workers.get_mut(&worker.host) {
            Some(w) => {
                w.worker = worker;
                self.assign_pending(now, out);
            }
            None => warn!(worker = worker.host, "update for an unknown worker ignored"),
        }
    }

    /// A worker's announcement disappeared: its tasks stay running until the cleanup timeout,
    /// so a worker that comes back in time keeps them.
    pub(crate) fn worker_removed(&mut self, host: &str, now: Timestamp) {
        if let Some(state) = self.workers.remove(host) {
            let deadline = after(now, self.config.task_cleanup_timeout);
            info!(
                worker = host,
                tasks = state.tasks.len(),
                "worker disappeared; cleanup scheduled"
            );
            self.lost_workers
                .insert(host.to_string(), LostWorker { state, deadline });
        }
    }

    /// Fails the tasks of workers that did not come back within the cleanup timeout (Druid's
    /// `taskCleanupTimeout`); a task such a worker never picked up is assigned again instead.
    pub(super) fn clean_up_lost_workers(&mut self, now: Timestamp, out: &mut Vec<RunnerEffect>) {
        let expired: Vec<String> = self
            .lost_workers
            .iter()
            .filter(|(_, lost)| lost.deadline <= now)
            .map(|(host, _)| host.clone())
            .collect();
        for host in expired {
            let lost = self.lost_workers.remove(&host).expect("collected above");
            for id in lost.state.tasks {
                let Some(mut item) = self.running.remove(&id) else {
                    continue;
                };
                if let Some(deadline) = item.ack_deadline {
                    self.ack_deadlines.remove(&(deadline, id.clone()));
                }
                out.push(RunnerEffect::RemoveAssignment {
                    worker: host.clone(),
                    task_id: id.clone(),
                });
                // Druid fails these too; a task the worker never picked up did not run, so it
                // runs elsewhere instead. Should the worker have started it after all, its
                // return settles which run counts (see `status_announced`).
                if let Some(task) = item.take_retryable() {
                    info!(
                        task = id,
                        worker = host,
                        "worker did not come back in time and never picked up the task; assigning it again"
                    );
                    self.enqueue(task, item.inserted);
                    continue;
                }
                warn!(
                    task = id,
                    worker = host,
                    "worker did not come back in time; failing its task"
                );
                out.push(RunnerEffect::RemoveStatus {
                    worker: host.clone(),
                    task_id: id.clone(),
                });
                out.push(RunnerEffect::StatusChanged {
                    task_id: id.clone(),
                    status: TaskEnd::WorkerCleanup
                        .status(&id)
                        .with_location(item.location),
                });
            }
        }
    }
}
