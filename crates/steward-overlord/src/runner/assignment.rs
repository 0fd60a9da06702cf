//! An assignment's life until the worker acknowledges it: recorded when a task is placed (or
//! adopted from a previous leader's write), ended when its write fails or the worker does not
//! pick it up in time, withdrawn when the task is taken back.
//!
//! Until acknowledged the running item keeps the task, so that an assignment nothing ran can be
//! given to another worker instead of failing the task.

use jiff::Timestamp;
use steward_model::end::TaskEnd;
use steward_model::time::format_period;
use steward_model::{Task, TaskLocation, Worker};
use tracing::{error, info};

use super::items::{CompleteItem, PendingItem, PendingKey, RunningItem};
use super::{after, RunnerEffect, TaskRunner};

impl TaskRunner {
    /// An assignment found in the coordinator when this runner started (written by a previous
    /// leader, not yet picked up). The task counts as assigned to that worker, waiting for its
    /// acknowledgement under the usual assignment timeout, so it is not assigned a second
    /// time. An assignment to a worker that is not announced is withdrawn: the task will be
    /// assigned afresh.
    pub(crate) fn adopt_assignment(
        &mut self,
        host: &str,
        task: Task,
        now: Timestamp,
        out: &mut Vec<RunnerEffect>,
    ) {
        let id = task.id();
        if self.pending.contains_key(id)
            || self.running.contains_key(id)
            || self.complete.contains_key(id)
        {
            return;
        }
        if !self.workers.contains_key(host) {
            out.push(RunnerEffect::RemoveAssignment {
                worker: host.to_string(),
                task_id: id.to_string(),
            });
            return;
        }
        info!(
            task = id,
            worker = host,
            "adopting an assignment written before this runner started"
        );
        self.place_unacknowledged(host, task, now, now);
    }

    /// Writing the assignment of `task_id` to `worker` failed. If the worker vanished meanwhile
    /// the task goes back to pending; any other failure ends it, as in Druid. Either way the
    /// assignment is withdrawn too: the failure does not say which write failed, and a later
    /// write of the same assignment may still land (the task withdrawn from this worker and
    /// assigned to it again while this one was on its way, as when a worker away past the
    /// assignment timeout comes back); the driver carries out the removal after it.
    pub(crate) fn assign_failed(
        &mut self,
        task_id: &str,
        worker: &str,
        worker_gone: bool,
        now: Timestamp,
        out: &mut Vec<RunnerEffect>,
    ) {
        let Some(item) = self.running.get(task_id) else {
            return;
        };
        // A write still under way when its assignment was withdrawn and the task assigned
        // elsewhere says nothing about the new assignment.
        if item.ack_deadline.is_none() || item.worker != worker {
            return;
        }
        let mut item = self.running.remove(task_id).expect("checked above");
        self.forget_assignment(task_id, &item);
        out.push(RunnerEffect::RemoveAssignment {
            worker: worker.to_string(),
            task_id: task_id.to_string(),
        });
        match item.take_retryable().filter(|_| worker_gone) {
            Some(task) => {
                self.enqueue(task, item.inserted);
                self.assign_pending(now, out);
            }
            None => {
                let status = TaskEnd::AssignFailed.status(task_id);
                self.complete.insert(
                    task_id.to_string(),
                    CompleteItem {
                        worker: None,
                        status: status.clone(),
                    },
                );
                out.push(RunnerEffect::StatusChanged {
                    task_id: task_id.to_string(),
                    status,
                });
                self.assign_pending(now, out);
            }
        }
    }

    /// Puts a task in line for a worker; [`assign_pending`](Self::assign_pending) places it.
    pub(super) fn enqueue(&mut self, task: Task, inserted: Timestamp) {
        let key = PendingKey {
            neg_priority: -task.priority(),
            seq: self.next_seq,
            id: task.id().to_string(),
        };
        self.next_seq += 1;
        self.pending_order.insert(key.clone());
        self.pending.insert(
            key.id.clone(),
            PendingItem {
                task,
                key,
                inserted,
            },
        );
    }

    pub(super) fn forget_assignment(&mut self, id: &str, item: &RunningItem) {
        if let Some(deadline) = item.ack_deadline {
            self.ack_deadlines.remove(&(deadline, id.to_string()));
        }
        if let Some(w) = self.workers.get_mut(&item.worker) {
            w.remove_task(id, item);
        } else if let Some(lost) = self.lost_workers.get_mut(&item.worker) {
            lost.state.remove_task(id, item);
        }
    }

    /// Records `task` as assigned to `host` and waiting for the worker to acknowledge it; returns
    /// the worker.
    pub(super) fn place_unacknowledged(
        &mut self,
        host: &str,
        task: Task,
        inserted: Timestamp,
        now: Timestamp,
    ) -> Worker {
        let id = task.id().to_string();
        let deadline = after(now, self.config.task_assignment_timeout);
        let item = RunningItem {
            task_type: task.task_type().to_string(),
            resource: task.resource().clone(),
            worker: host.to_string(),
            location: TaskLocation::unknown(),
            inserted,
            task: Some(task),
            ack_deadline: Some(deadline),
            shutdown_requested: false,
            discovered: false,
        };
        let w = self
            .workers
            .get_mut(host)
            .expect("placed on a known worker");
        w.add_task(&id, &item);
        let worker = w.worker.clone();
        self.ack_deadlines.insert((deadline, id.clone()));
        self.running.insert(id, item);
        worker
    }

    /// Ends the assignments the workers did not acknowledge in time (Druid's
    /// `taskAssignmentTimeout`); the task of a worker that is away is assigned again instead.
    pub(super) fn expire_assignments(&mut self, now: Timestamp, out: &mut Vec<RunnerEffect>) {
        while let Some((deadline, id)) = self.ack_deadlines.first().cloned() {
            if deadline > now {
                break;
            }
            self.ack_deadlines.remove(&(deadline, id.clone()));
            let Some(mut item) = self.running.remove(&id) else {
                continue;
            };
            // A worker that is away cannot have been sitting on the assignment: the task did not
            // run, so it runs elsewhere, as it would at the worker's cleanup.
            let retry = if self.lost_workers.contains_key(&item.worker) {
                item.take_retryable()
            } else {
                None
            };
            item.ack_deadline = None;
            self.forget_assignment(&id, &item);
            out.push(RunnerEffect::RemoveAssignment {
                worker: item.worker.clone(),
                task_id: id.clone(),
            });
            if let Some(task) = retry {
                info!(
                    task = id,
                    worker = item.worker,
                    "worker went away without picking up the task in time; assigning it again"
                );
                self.enqueue(task, item.inserted);
                continue;
            }
            let timeout = format_period(self.config.task_assignment_timeout);
            error!(
                task = id,
                worker = item.worker,
                timeout,
                "worker did not start the task in time"
            );
            // Druid counts a worker that sits on its assignments as failing them.
            if let Some(w) = self.workers.get_mut(&item.worker) {
                w.continuously_failed_tasks += 1;
            }
            self.maybe_blacklist(&item.worker, now);
            let status = TaskEnd::AssignmentTimeout { timeout: &timeout }.status(&id);
            self.complete.insert(
                id.clone(),
                CompleteItem {
                    worker: Some(item.worker.clone()),
                    status: status.clone(),
                },
            );
            out.push(RunnerEffect::StatusChanged {
                task_id: id.clone(),
                status,
            });
        }
    }
}
