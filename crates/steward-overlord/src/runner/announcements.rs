//! The workers' status announcements of their tasks: a task acknowledged, running somewhere,
//! moved, ended or lost.
//!
//! An announcement is the only word from a worker about a task, so every case of Druid's
//! status listener is here: a task announced by a worker it was not assigned to, a task the
//! runner was never handed (discovered, which the queue decides about), a late announcement of
//! a task whose end is already known, and an announcement that disappears while its task runs.

use jiff::Timestamp;
use steward_model::end::TaskEnd;
use steward_model::{TaskAnnouncement, TaskLocation, TaskState, TaskStatus};
use tracing::{info, warn};

use super::items::{CompleteItem, RunningItem};
use super::{RunnerEffect, TaskRunner};

impl TaskRunner {
    /// A worker created or updated the status announcement of a task.
    pub(crate) fn status_announced(
        &mut self,
        host: &str,
        announcement: TaskAnnouncement,
        now: Timestamp,
        out: &mut Vec<RunnerEffect>,
    ) {
        let id = announcement.id.clone();
        let Some(worker) = self.workers.get(host) else {
            warn!(
                worker = host,
                task = id,
                "status from an unknown worker ignored"
            );
            return;
        };
        let worker = worker.worker.clone();
        let owner = self.running.get(&id).map(|item| item.worker.clone());
        match owner {
            Some(owner) if owner != host => {
                if announcement.status == TaskState::Running {
                    warn!(
                        task = id,
                        worker = host,
                        owner,
                        "task announced by a worker it was not assigned to; shutting it down there"
                    );
                    out.push(RunnerEffect::ShutdownOnWorker {
                        worker,
                        task_id: id,
                    });
                } else {
                    // Only the owner's end counts, and nothing else would clean this one up.
                    out.push(RunnerEffect::RemoveStatus {
                        worker: host.to_string(),
                        task_id: id,
                    });
                }
                return;
            }
            Some(_) => {}
            None if self.complete.contains_key(&id) => {
                if announcement.status == TaskState::Running {
                    out.push(RunnerEffect::ShutdownOnWorker {
                        worker,
                        task_id: id,
                    });
                } else if self.complete[&id].worker.as_deref() != Some(host) {
                    // The recorded end came from elsewhere; the cleanup of the complete task
                    // only reaches the worker it ended on.
                    out.push(RunnerEffect::RemoveStatus {
                        worker: host.to_string(),
                        task_id: id,
                    });
                }
                return;
            }
            None => {
                let (inserted, discovered) = match self.pending.remove(&id) {
                    Some(p) => {
                        self.pending_order.remove(&p.key);
                        // Typically a task that went back to pending when this worker vanished,
                        // which it had picked up after all: this is its only run.
                        info!(
                            worker = host,
                            task = id,
                            "worker announced a pending task; it runs there"
                        );
                        (p.inserted, false)
                    }
                    None => (now, true),
                };
                let item = RunningItem {
                    task_type: announcement.task_type.clone(),
                    resource: announcement.task_resource.clone(),
                    worker: host.to_string(),
                    location: TaskLocation::unknown(),
                    inserted,
                    task: None,
                    ack_deadline: None,
                    shutdown_requested: false,
                    discovered,
                };
                if let Some(w) = self.workers.get_mut(host) {
                    w.add_task(&id, &item);
                }
                self.running.insert(id.clone(), item);
                // An end is reported as a status change, which is the queue's decision already.
                if discovered && !announcement.task_status.is_complete() {
                    out.push(RunnerEffect::Discovered {
                        task_id: id.clone(),
                        worker: host.to_string(),
                    });
                }
            }
        }
        if let Some(w) = self.workers.get_mut(host) {
            w.unconfirmed.remove(&id);
        }
        let item = self.running.get_mut(&id).expect("running item exists");
        if let Some(deadline) = item.ack_deadline.take() {
            self.ack_deadlines.remove(&(deadline, id.clone()));
            item.task = None;
        }
        if !announcement.task_location.is_unknown() && announcement.task_location != item.location {
            item.location = announcement.task_location.clone();
            out.push(RunnerEffect::LocationChanged {
                task_id: id.clone(),
                location: item.location.clone(),
            });
        }
        if announcement.task_status.is_complete() {
            self.task_complete(&id, announcement.task_status, now, out);
        }
    }

    /// A task's status announcement disappeared. For a running task that means it is lost.
    pub(crate) fn status_removed(
        &mut self,
        host: &str,
        task_id: &str,
        now: Timestamp,
        out: &mut Vec<RunnerEffect>,
    ) {
        let owned = self
            .running
            .get(task_id)
            .is_some_and(|item| item.worker == host);
        if !owned {
            return;
        }
        let item = self.running.remove(task_id).expect("checked above");
        // Also frees the slot of a worker that is away (its state is kept for its return).
        self.forget_assignment(task_id, &item);
        warn!(
            task = task_id,
            worker = host,
            "status announcement of a running task disappeared"
        );
        out.push(RunnerEffect::StatusChanged {
            task_id: task_id.to_string(),
            status: TaskEnd::WorkerDisappeared
                .status(task_id)
                .with_location(item.location),
        });
        // The freed slot may fit a pending task; nothing else would trigger that.
        self.assign_pending(now, out);
    }

    fn task_complete(
        &mut self,
        id: &str,
        status: TaskStatus,
        now: Timestamp,
        out: &mut Vec<RunnerEffect>,
    ) {
        let Some(item) = self.running.remove(id) else {
            warn!(
                task = id,
                "completion for a task that is not running ignored"
            );
            return;
        };
        self.forget_assignment(id, &item);
        let status = if status.location.is_unknown() {
            status.with_location(item.location.clone())
        } else {
            status
        };
        if let Some(w) = self.workers.get_mut(&item.worker) {
            w.last_completed_task_time = now;
            match status.status {
                TaskState::Success => {
                    w.continuously_failed_tasks = 0;
                    w.blacklisted_until = None;
                }
                // A task stopped on request says nothing about the worker's health (#4620).
                TaskState::Failed if !item.shutdown_requested => {
                    w.continuously_failed_tasks += 1;
                }
                _ => {}
            }
        }
        self.maybe_blacklist(&item.worker, now);
        self.complete.insert(
            id.to_string(),
            CompleteItem {
                worker: Some(item.worker),
                status: status.clone(),
            },
        );
        out.push(RunnerEffect::StatusChanged {
            task_id: id.to_string(),
            status,
        });
        self.assign_pending(now, out);
    }
}
