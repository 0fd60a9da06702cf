//! The task runner as a state machine (Druid's `RemoteTaskRunner`, without its global lock).
//!
//! The runner knows the workers and every task it was handed until the queue has recorded the
//! task's end: *pending* (no worker yet), *running* (assigned to a worker; unacknowledged until
//! the worker announces a status for it), *complete* (ended, status announcement not yet cleaned
//! up). It does no I/O: each event method takes the current time and appends
//! [`RunnerEffect`]s for the driver to carry out (write an assignment, call a worker, ...) or for
//! the task queue to react to (a task's status changed). Timeouts are deadlines checked by
//! [`TaskRunner::tick`], so they are tested without sleeping.
//!
//! One file per concept: [`items`] (the record of a task at each stage) and [`worker_state`]
//! (one worker's accounting) are the data; [`placement`] chooses a worker for each pending
//! task; [`assignment`] follows an assignment until the worker acknowledges it (adopted from a
//! previous leader, failed, timed out); [`announcements`] reads the workers' status
//! announcements; [`workers`] handles workers appearing, changing, vanishing and coming back;
//! [`blacklist`] keeps failing workers out for a while; [`views`] answers the API and the
//! tests; [`invariants`] checks the accounting. This file holds the state, the queue's two
//! requests (run, shut down) and the clock.

mod announcements;
mod assignment;
mod blacklist;
mod invariants;
mod items;
mod placement;
mod views;
mod worker_state;
mod workers;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use steward_model::{Task, TaskLocation, TaskStatus, Worker};
use tracing::info;

use crate::config::RunnerConfig;
use crate::select::WorkerSelectStrategy;
use items::{CompleteItem, PendingItem, PendingKey, RunningItem};
pub use views::WorkerView;
use worker_state::WorkerState;
use workers::LostWorker;

/// What the runner asks for after an event.
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerEffect {
    /// Write an assignment of `task` to `worker`; report failure with [`TaskRunner::assign_failed`].
    Assign { worker: Worker, task: Task },
    /// Delete an assignment the worker may not have picked up.
    RemoveAssignment { worker: String, task_id: String },
    /// Delete a task's status announcement (cleanup after its end was recorded).
    RemoveStatus { worker: String, task_id: String },
    /// Ask the worker to stop the task (`POST /druid/worker/v1/task/{id}/shutdown`).
    ShutdownOnWorker { worker: Worker, task_id: String },
    /// A task's status changed; only complete statuses are reported.
    StatusChanged { task_id: String, status: TaskStatus },
    /// A task's location changed.
    LocationChanged {
        task_id: String,
        location: TaskLocation,
    },
    /// A worker announced a running task the runner had not been handed: the queue must decide
    /// whether it is an active task (hand it over, which adopts it) or not (shut it down).
    Discovered { task_id: String, worker: String },
}

/// The task runner's state.
pub struct TaskRunner {
    config: RunnerConfig,
    strategy: WorkerSelectStrategy,
    workers: BTreeMap<String, WorkerState>,
    /// Ordered, as `workers` is: the cleanup walks it and emits effects in its order, which must
    /// not depend on a hash seed (a replayed simulation seed would differ).
    lost_workers: BTreeMap<String, LostWorker>,
    /// The task maps are hash maps, looked up by id on every event. Whatever walks them in an
    /// order that reaches the effects sorts first (`known_task_ids`); the order tasks are
    /// placed in is `pending_order`'s.
    pending: HashMap<String, PendingItem>,
    pending_order: BTreeSet<PendingKey>,
    next_seq: u64,
    running: HashMap<String, RunningItem>,
    ack_deadlines: BTreeSet<(Timestamp, String)>,
    complete: HashMap<String, CompleteItem>,
    next_blacklist_check: Option<Timestamp>,
}

pub(super) fn after(now: Timestamp, d: Duration) -> Timestamp {
    now.saturating_add(d).unwrap_or(Timestamp::MAX)
}

impl TaskRunner {
    pub(crate) fn new(config: RunnerConfig) -> Self {
        TaskRunner {
            config,
            strategy: WorkerSelectStrategy::default(),
            workers: BTreeMap::new(),
            lost_workers: BTreeMap::new(),
            pending: HashMap::new(),
            pending_order: BTreeSet::new(),
            next_seq: 0,
            running: HashMap::new(),
            ack_deadlines: BTreeSet::new(),
            complete: HashMap::new(),
            next_blacklist_check: None,
        }
    }

    /// Replaces the worker select strategy (the dynamic worker config changed); pending tasks
    /// are assigned under the new one at once.
    pub(crate) fn set_strategy(
        &mut self,
        strategy: WorkerSelectStrategy,
        now: Timestamp,
        out: &mut Vec<RunnerEffect>,
    ) {
        self.strategy = strategy;
        self.assign_pending(now, out);
    }

    #[cfg(test)]
    pub(crate) fn strategy(&self) -> &WorkerSelectStrategy {
        &self.strategy
    }

    /// Hands a task to the runner. Idempotent per task id: a pending or running task is left as
    /// it is, a complete one reports its end again.
    pub(crate) fn run(&mut self, task: Task, now: Timestamp, out: &mut Vec<RunnerEffect>) {
        let id = task.id().to_string();
        if let Some(item) = self.running.get_mut(&id) {
            if std::mem::take(&mut item.discovered) {
                // Druid's wording, logged only now that the queue has said the task is active.
                info!(
                    worker = item.worker,
                    task = id,
                    "worker announced a status for a task I didn't know about, adding to running tasks"
                );
            }
            return;
        }
        if self.pending.contains_key(&id) {
            return;
        }
        if let Some(c) = self.complete.get(&id) {
            out.push(RunnerEffect::StatusChanged {
                task_id: id,
                status: c.status.clone(),
            });
            return;
        }
        self.enqueue(task, now);
        self.assign_pending(now, out);
    }

    /// Stops a task: pending → dropped; complete → cleaned up (status announcement removed);
    /// running → the worker is asked to stop it.
    pub(crate) fn shutdown(&mut self, task_id: &str, reason: &str, out: &mut Vec<RunnerEffect>) {
        if let Some(item) = self.pending.remove(task_id) {
            self.pending_order.remove(&item.key);
            info!(task = task_id, reason, "dropped pending task");
        } else if let Some(item) = self.complete.remove(task_id) {
            if let Some(worker) = item.worker {
                out.push(RunnerEffect::RemoveStatus {
                    worker,
                    task_id: task_id.to_string(),
                });
            }
        } else if let Some(item) = self.running.get_mut(task_id) {
            item.shutdown_requested = true;
            info!(
                task = task_id,
                worker = item.worker,
                reason,
                "shutting down running task"
            );
            let unacknowledged = item.ack_deadline.is_some();
            if unacknowledged {
                out.push(RunnerEffect::RemoveAssignment {
                    worker: item.worker.clone(),
                    task_id: task_id.to_string(),
                });
            }
            if let Some(w) = self.workers.get(&item.worker) {
                out.push(RunnerEffect::ShutdownOnWorker {
                    worker: w.worker.clone(),
                    task_id: task_id.to_string(),
                });
            }
            if unacknowledged {
                // The worker never confirmed the task: free its slot now rather than at the
                // assignment timeout. If the worker did pick it up, its announcement makes the
                // task a discovered one, which the queue shuts down.
                let item = self.running.remove(task_id).expect("checked above");
                self.forget_assignment(task_id, &item);
            }
        }
    }

    /// Fires every deadline that has passed: assignment timeouts, worker cleanups, the
    /// blacklist check.
    pub(crate) fn tick(&mut self, now: Timestamp, out: &mut Vec<RunnerEffect>) {
        self.expire_assignments(now, out);
        self.clean_up_lost_workers(now, out);
        self.check_blacklist(now);
        self.assign_pending(now, out);
    }

    /// The earliest instant at which [`tick`](Self::tick) has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        let ack = self.ack_deadlines.first().map(|(t, _)| *t);
        let lost = self.lost_workers.values().map(|l| l.deadline).min();
        [ack, lost, self.next_blacklist_check]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.pending.shrink_to_fit();
        self.running.shrink_to_fit();
        self.complete.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests;
