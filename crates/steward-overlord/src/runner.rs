//! The task runner as a state machine (Druid's `RemoteTaskRunner`, without its global lock).
//!
//! The runner knows the workers and every task it was handed until the queue has recorded the
//! task's end: *pending* (no worker yet), *running* (assigned to a worker; unacknowledged until
//! the worker announces a status for it), *complete* (ended, status announcement not yet cleaned
//! up). It does no I/O: each event method takes the current time and appends
//! [`RunnerEffect`]s for the driver to carry out (write an assignment, call a worker, ...) or for
//! the task queue to react to (a task's status changed). Timeouts are deadlines checked by
//! [`TaskRunner::tick`], so they are tested without sleeping.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::time::Duration;

use jiff::Timestamp;
use steward_model::end::TaskEnd;
use steward_model::time::format_period;
use steward_model::{
    RunnerTaskState, Task, TaskAnnouncement, TaskLocation, TaskResource, TaskState, TaskStatus,
    Worker,
};
use tracing::{error, info, warn};

use crate::config::RunnerConfig;
use crate::select::{Candidate, SlotUsage, TaskDemand, WorkerSelectStrategy};

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

struct WorkerState {
    worker: Worker,
    initialized: bool,
    /// Ids of running items owned by this worker.
    tasks: BTreeSet<String>,
    used: u32,
    availability_groups: BTreeMap<String, u32>,
    used_by_type: BTreeMap<String, u32>,
    last_completed_task_time: Timestamp,
    blacklisted_until: Option<Timestamp>,
    continuously_failed_tasks: u32,
    /// Tasks a returning worker ran before it vanished and has not announced again yet; those
    /// still unannounced when it is initialized are gone from it.
    unconfirmed: BTreeSet<String>,
}

impl WorkerState {
    fn new(worker: Worker, now: Timestamp) -> Self {
        WorkerState {
            worker,
            initialized: false,
            tasks: BTreeSet::new(),
            used: 0,
            availability_groups: BTreeMap::new(),
            used_by_type: BTreeMap::new(),
            last_completed_task_time: now,
            blacklisted_until: None,
            continuously_failed_tasks: 0,
            unconfirmed: BTreeSet::new(),
        }
    }

    fn add_task(&mut self, id: &str, item: &RunningItem) {
        if self.tasks.insert(id.to_string()) {
            self.used += item.resource.required_capacity;
            *self
                .availability_groups
                .entry(item.resource.availability_group.clone())
                .or_default() += 1;
            *self.used_by_type.entry(item.task_type.clone()).or_default() +=
                item.resource.required_capacity;
        }
    }

    fn remove_task(&mut self, id: &str, item: &RunningItem) {
        if self.tasks.remove(id) {
            self.used -= item.resource.required_capacity;
            decrement(
                &mut self.availability_groups,
                &item.resource.availability_group,
                1,
            );
            decrement(
                &mut self.used_by_type,
                &item.task_type,
                item.resource.required_capacity,
            );
        }
    }
}

/// Lowers a per-worker counter, dropping the key at zero so idle workers hold no entries.
fn decrement(map: &mut BTreeMap<String, u32>, key: &str, by: u32) {
    if let Some(n) = map.get_mut(key) {
        *n -= by.min(*n);
        if *n == 0 {
            map.remove(key);
        }
    }
}

struct PendingItem {
    task: Task,
    key: PendingKey,
    inserted: Timestamp,
}

/// Higher priority first, then first come first served.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PendingKey {
    neg_priority: i64,
    seq: u64,
    id: String,
}

struct RunningItem {
    task_type: String,
    resource: TaskResource,
    worker: String,
    location: TaskLocation,
    inserted: Timestamp,
    /// Kept until the worker acknowledges, so a vanished worker's assignment can be retried.
    task: Option<Task>,
    /// Deadline of an unacknowledged assignment.
    ack_deadline: Option<Timestamp>,
    /// Set when the task was stopped on request: its FAILED end says nothing about the worker.
    shutdown_requested: bool,
    /// Announced by a worker but not handed over by the queue (yet): until the queue has said
    /// the task is active, nothing may claim it was adopted.
    discovered: bool,
}

impl RunningItem {
    /// The task of an assignment the worker never acknowledged: as far as the Overlord knows
    /// nothing ran, so it may be assigned again. Not a task stopped on request: its end is
    /// recorded (or about to be).
    fn take_retryable(&mut self) -> Option<Task> {
        if self.ack_deadline.is_none() || self.shutdown_requested {
            return None;
        }
        self.task.take()
    }
}

struct CompleteItem {
    worker: Option<String>,
    /// Kept so that handing a complete task to the runner again reports its end again (a new
    /// leader's queue learns about ends that happened while no leader existed this way).
    status: TaskStatus,
}

struct LostWorker {
    state: WorkerState,
    deadline: Timestamp,
}

/// Snapshot of one worker for `GET /druid/indexer/v1/workers`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerView {
    pub worker: Worker,
    pub curr_capacity_used: u32,
    pub curr_capacity_used_by_task_type: BTreeMap<String, u32>,
    pub availability_groups: Vec<String>,
    pub running_tasks: Vec<String>,
    pub last_completed_task_time: Timestamp,
    pub blacklisted_until: Option<Timestamp>,
}

/// What the runner knows about one task, for status APIs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerTaskView {
    pub state: RunnerTaskState,
    pub location: TaskLocation,
    pub queue_insertion_time: Timestamp,
    pub worker: Option<String>,
}

/// The task runner's state.
pub struct TaskRunner {
    config: RunnerConfig,
    strategy: WorkerSelectStrategy,
    workers: BTreeMap<String, WorkerState>,
    lost_workers: HashMap<String, LostWorker>,
    pending: HashMap<String, PendingItem>,
    pending_order: BTreeSet<PendingKey>,
    next_seq: u64,
    running: HashMap<String, RunningItem>,
    ack_deadlines: BTreeSet<(Timestamp, String)>,
    complete: HashMap<String, CompleteItem>,
    next_blacklist_check: Option<Timestamp>,
}

fn after(now: Timestamp, d: Duration) -> Timestamp {
    now.saturating_add(d).unwrap_or(Timestamp::MAX)
}

impl TaskRunner {
    pub fn new(config: RunnerConfig) -> Self {
        TaskRunner {
            config,
            strategy: WorkerSelectStrategy::default(),
            workers: BTreeMap::new(),
            lost_workers: HashMap::new(),
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
    pub fn set_strategy(
        &mut self,
        strategy: WorkerSelectStrategy,
        now: Timestamp,
        out: &mut Vec<RunnerEffect>,
    ) {
        self.strategy = strategy;
        self.assign_pending(now, out);
    }

    pub fn strategy(&self) -> &WorkerSelectStrategy {
        &self.strategy
    }

    // ----- events -----------------------------------------------------------------------------

    /// Hands a task to the runner. Idempotent per task id: a pending or running task is left as
    /// it is, a complete one reports its end again.
    pub fn run(&mut self, task: Task, now: Timestamp, out: &mut Vec<RunnerEffect>) {
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
    pub fn shutdown(&mut self, task_id: &str, reason: &str, out: &mut Vec<RunnerEffect>) {
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

    /// A worker announced itself. A second announcement of a known worker is an error and the
    /// first registration is kept; a worker that returns within the cleanup timeout gets its
    /// tasks back.
    pub fn worker_added(&mut self, worker: Worker, now: Timestamp) {
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
        if state.blacklisted_until.is_some() && self.next_blacklist_check.is_none() {
            self.next_blacklist_check =
                Some(after(now, self.config.worker_blacklist_cleanup_period));
        }
        self.workers.insert(worker.host.clone(), state);
    }

    /// Every status the worker had when it appeared has been seen: it may now get tasks.
    pub fn worker_initialized(&mut self, host: &str, now: Timestamp, out: &mut Vec<RunnerEffect>) {
        if let Some(w) = self.workers.get_mut(host) {
            w.initialized = true;
            for id in std::mem::take(&mut w.unconfirmed) {
                self.status_removed(host, &id, now, out);
            }
            self.assign_pending(now, out);
        }
    }

    /// A worker re-announced itself (enabled/disabled, capacity, category).
    pub fn worker_changed(&mut self, worker: Worker, now: Timestamp, out: &mut Vec<RunnerEffect>) {
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
    pub fn worker_removed(&mut self, host: &str, now: Timestamp) {
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

    /// A worker created or updated the status announcement of a task.
    pub fn status_announced(
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
    pub fn status_removed(
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

    /// An assignment found in the coordinator when this runner started (written by a previous
    /// leader, not yet picked up). The task counts as assigned to that worker, waiting for its
    /// acknowledgement under the usual assignment timeout, so it is not assigned a second
    /// time. An assignment to a worker that is not announced is withdrawn: the task will be
    /// assigned afresh.
    pub fn adopt_assignment(
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
    /// the task goes back to pending; any other failure ends it, as in Druid.
    pub fn assign_failed(
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

    /// Fires every deadline that has passed: assignment timeouts, worker cleanups, the
    /// blacklist check.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<RunnerEffect>) {
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
        if self.next_blacklist_check.is_some_and(|t| t <= now) {
            self.check_blacklisted_workers(now);
            self.next_blacklist_check = self
                .workers
                .values()
                .any(|w| w.blacklisted_until.is_some())
                .then(|| after(now, self.config.worker_blacklist_cleanup_period));
        }
        self.assign_pending(now, out);
    }

    /// The earliest instant at which [`tick`](Self::tick) has something to do.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let ack = self.ack_deadlines.first().map(|(t, _)| *t);
        let lost = self.lost_workers.values().map(|l| l.deadline).min();
        [ack, lost, self.next_blacklist_check]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- queries ----------------------------------------------------------------------------

    /// Whether the runner holds the task: pending, running, or ended and not yet cleaned up.
    pub fn knows(&self, task_id: &str) -> bool {
        self.pending.contains_key(task_id)
            || self.running.contains_key(task_id)
            || self.complete.contains_key(task_id)
    }

    pub fn task_view(&self, task_id: &str) -> Option<RunnerTaskView> {
        if let Some(p) = self.pending.get(task_id) {
            return Some(RunnerTaskView {
                state: RunnerTaskState::Pending,
                location: TaskLocation::unknown(),
                queue_insertion_time: p.inserted,
                worker: None,
            });
        }
        if let Some(r) = self.running.get(task_id) {
            let state = if r.ack_deadline.is_some() {
                RunnerTaskState::Pending
            } else {
                RunnerTaskState::Running
            };
            return Some(RunnerTaskView {
                state,
                location: r.location.clone(),
                queue_insertion_time: r.inserted,
                worker: Some(r.worker.clone()),
            });
        }
        self.complete.get(task_id).map(|c| RunnerTaskView {
            state: RunnerTaskState::None,
            location: TaskLocation::unknown(),
            queue_insertion_time: Timestamp::UNIX_EPOCH,
            worker: c.worker.clone(),
        })
    }

    /// The announced worker a task runs on, if any.
    pub fn worker_of(&self, task_id: &str) -> Option<&Worker> {
        let host = &self.running.get(task_id)?.worker;
        self.workers.get(host).map(|w| &w.worker)
    }

    /// Every task id the runner knows (pending, running, complete).
    pub fn known_task_ids(&self) -> Vec<String> {
        self.pending
            .keys()
            .chain(self.running.keys())
            .chain(self.complete.keys())
            .cloned()
            .collect()
    }

    pub fn workers(&self) -> Vec<WorkerView> {
        self.workers
            .values()
            .map(|w| WorkerView {
                worker: w.worker.clone(),
                curr_capacity_used: w.used,
                curr_capacity_used_by_task_type: w.used_by_type.clone(),
                availability_groups: w.availability_groups.keys().cloned().collect(),
                running_tasks: w.tasks.iter().cloned().collect(),
                last_completed_task_time: w.last_completed_task_time,
                blacklisted_until: w.blacklisted_until,
            })
            .collect()
    }

    /// `(total, used)` capacity over announced workers.
    pub fn capacity(&self) -> (u32, u32) {
        self.workers
            .values()
            .fold((0, 0), |(t, u), w| (t + w.worker.capacity, u + w.used))
    }

    pub fn shrink_to_fit(&mut self) {
        self.pending.shrink_to_fit();
        self.running.shrink_to_fit();
        self.complete.shrink_to_fit();
        self.lost_workers.shrink_to_fit();
    }

    /// Sizes of the internal maps: `(pending, running, complete)`.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.pending.len(), self.running.len(), self.complete.len())
    }

    /// The runner's accounting invariants, checked by the core after every event in debug
    /// builds (and by the tests): a task is in at most one of pending, running and complete;
    /// the priority order holds exactly the pending tasks; acknowledgement deadlines exist
    /// exactly for running tasks awaiting one; each worker (present or away) holds exactly the
    /// running tasks assigned to it, and its used capacity, availability groups and use by
    /// task type are the sums over them.
    pub fn check_invariants(&self) {
        for id in self.pending.keys() {
            assert!(
                !self.running.contains_key(id) && !self.complete.contains_key(id),
                "task {id} is pending and also running or complete"
            );
        }
        for id in self.running.keys() {
            assert!(
                !self.complete.contains_key(id),
                "task {id} is running and complete"
            );
        }
        assert_eq!(
            self.pending_order.len(),
            self.pending.len(),
            "pending order"
        );
        for key in &self.pending_order {
            assert!(
                self.pending.get(&key.id).is_some_and(|p| p.key == *key),
                "order key of {} without its pending task",
                key.id
            );
        }
        let awaiting: BTreeSet<(Timestamp, String)> = self
            .running
            .iter()
            .filter_map(|(id, item)| item.ack_deadline.map(|d| (d, id.clone())))
            .collect();
        assert_eq!(
            awaiting, self.ack_deadlines,
            "acknowledgement deadlines differ from the running tasks awaiting one"
        );
        let states = self
            .workers
            .iter()
            .chain(self.lost_workers.iter().map(|(h, l)| (h, &l.state)));
        let mut owned = 0;
        for (host, state) in states {
            let mut expected =
                WorkerState::new(state.worker.clone(), state.last_completed_task_time);
            for id in &state.tasks {
                let item = self
                    .running
                    .get(id)
                    .unwrap_or_else(|| panic!("worker {host} holds {id}, which is not running"));
                assert_eq!(
                    item.worker, *host,
                    "task {id} held by {host}, assigned elsewhere"
                );
                expected.add_task(id, item);
            }
            owned += state.tasks.len();
            assert_eq!(state.used, expected.used, "used capacity of {host}");
            assert_eq!(
                state.availability_groups, expected.availability_groups,
                "availability groups of {host}"
            );
            assert_eq!(
                state.used_by_type, expected.used_by_type,
                "use by type of {host}"
            );
        }
        assert_eq!(
            owned,
            self.running.len(),
            "running tasks held by no worker's accounting"
        );
    }

    // ----- internals --------------------------------------------------------------------------

    /// Puts a task in line for a worker; [`assign_pending`](Self::assign_pending) places it.
    fn enqueue(&mut self, task: Task, inserted: Timestamp) {
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

    fn forget_assignment(&mut self, id: &str, item: &RunningItem) {
        if let Some(deadline) = item.ack_deadline {
            self.ack_deadlines.remove(&(deadline, id.to_string()));
        }
        if let Some(w) = self.workers.get_mut(&item.worker) {
            w.remove_task(id, item);
        } else if let Some(lost) = self.lost_workers.get_mut(&item.worker) {
            lost.state.remove_task(id, item);
        }
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

    fn blacklisted_count(&self) -> usize {
        self.workers
            .values()
            .filter(|w| w.blacklisted_until.is_some())
            .count()
    }

    /// The share of workers that may be blacklisted, as Druid computes it.
    fn blacklist_limit(&self) -> f64 {
        self.workers.len() as f64 * (self.config.max_percentage_blacklist_workers as f64 / 100.0)
    }

    fn maybe_blacklist(&mut self, host: &str, now: Timestamp) {
        let limit = self.blacklist_limit();
        let count = self.blacklisted_count() as f64;
        let max_retries = self.config.max_retries_before_blacklist;
        let backoff = self.config.worker_blacklist_backoff_time;
        let Some(w) = self.workers.get_mut(host) else {
            return;
        };
        if w.blacklisted_until.is_none()
            && w.continuously_failed_tasks > max_retries
            && count <= limit - 1.0
        {
            let until = after(now, backoff);
            warn!(worker = host, failures = w.continuously_failed_tasks, until = %until, "blacklisting worker");
            w.blacklisted_until = Some(until);
            if self.next_blacklist_check.is_none() {
                self.next_blacklist_check =
                    Some(after(now, self.config.worker_blacklist_cleanup_period));
            }
        }
    }

    fn check_blacklisted_workers(&mut self, now: Timestamp) {
        let hosts: Vec<String> = self
            .workers
            .iter()
            .filter(|(_, w)| w.blacklisted_until.is_some())
            .map(|(h, _)| h.clone())
            .collect();
        for host in hosts {
            let over_limit = self.blacklisted_count() as f64 > self.blacklist_limit();
            let w = self.workers.get_mut(&host).expect("collected above");
            if over_limit || w.blacklisted_until.is_some_and(|t| t <= now) {
                info!(worker = host, "removing worker from the blacklist");
                w.blacklisted_until = None;
                w.continuously_failed_tasks = 0;
            }
        }
    }

    /// Whether a worker could take any task at all right now.
    fn usable(&self, w: &WorkerState) -> bool {
        w.initialized
            && w.worker.is_enabled()
            && w.worker.version >= self.config.min_worker_version
            && w.blacklisted_until.is_none()
    }

    fn runnable<'a>(&'a self, task: &'a Task) -> impl Iterator<Item = Candidate<'a>> + 'a {
        let required = task.resource().required_capacity;
        let group = &task.resource().availability_group;
        self.workers.values().filter_map(move |w| {
            let ok = self.usable(w)
                && w.worker.capacity.saturating_sub(w.used) >= required
                && !w.availability_groups.contains_key(group);
            ok.then_some(Candidate {
                host: &w.worker.host,
                capacity: w.worker.capacity,
                used: w.used,
                category: &w.worker.category,
            })
        })
    }

    /// Whether some worker was not runnable for the task only because it runs a task of the
    /// same availability group: then another task of the same demand may still fit.
    fn held_back_by_group(&self, task: &Task) -> bool {
        let required = task.resource().required_capacity;
        let group = &task.resource().availability_group;
        self.workers.values().any(|w| {
            self.usable(w)
                && w.worker.capacity.saturating_sub(w.used) >= required
                && w.availability_groups.contains_key(group)
        })
    }

    /// Slots over every announced worker, for `taskLimits`.
    fn slot_usage(&self, task_type: &str) -> SlotUsage {
        self.workers
            .values()
            .fold(SlotUsage::default(), |u, w| SlotUsage {
                total_capacity: u.total_capacity + w.worker.capacity,
                used_by_type: u.used_by_type + w.used_by_type.get(task_type).copied().unwrap_or(0),
            })
    }

    /// Records `task` as assigned to `host` and waiting for the worker to acknowledge it; returns
    /// the worker.
    fn place_unacknowledged(
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

    fn has_free_capacity(&self) -> bool {
        self.workers
            .values()
            .any(|w| self.usable(w) && w.used < w.worker.capacity)
    }

    /// Walks pending tasks in priority order and assigns each that some worker can take. The
    /// walk stops as soon as no worker has free capacity, so a long backlog costs nothing while
    /// the cluster is full.
    ///
    /// Assignments during a walk only use up capacity, so a demand (type, datasource, required
    /// capacity) that found no worker finds none later in the same walk either: the tasks
    /// behind it with the same demand are skipped without asking the strategy again. That keeps
    /// a backlog held back by strong affinity, categories or task limits cheap while other
    /// tasks still fit.
    fn assign_pending(&mut self, now: Timestamp, out: &mut Vec<RunnerEffect>) {
        if !self.has_free_capacity() {
            return;
        }
        let mut cursor: Option<PendingKey> = None;
        let mut unplaceable = Unplaceable::default();
        loop {
            let next = match &cursor {
                None => self.pending_order.first().cloned(),
                Some(k) => self
                    .pending_order
                    .range((Bound::Excluded(k), Bound::Unbounded))
                    .next()
                    .cloned(),
            };
            let Some(key) = next else { break };
            cursor = Some(key.clone());
            let task = &self.pending[&key.id].task;
            let demand = TaskDemand {
                task_type: task.task_type(),
                data_source: task.data_source(),
                required_capacity: task.resource().required_capacity,
            };
            if unplaceable.contains(&demand) {
                continue;
            }
            let chosen = self.strategy.select(
                &demand,
                || self.slot_usage(demand.task_type),
                self.runnable(task),
            );
            let Some(host) = chosen.map(str::to_string) else {
                if !self.held_back_by_group(task) {
                    unplaceable.insert(&demand);
                }
                continue;
            };
            self.pending_order.remove(&key);
            let p = self.pending.remove(&key.id).expect("pending item for key");
            let worker = self.place_unacknowledged(&host, p.task.clone(), p.inserted, now);
            out.push(RunnerEffect::Assign {
                worker,
                task: p.task,
            });
            // Only an assignment uses up capacity, so only then can the cluster become full.
            if !self.has_free_capacity() {
                break;
            }
        }
    }
}

/// Task demands that found no worker during one walk over the pending tasks, looked up by
/// borrowed strings so that a skipped task costs no allocation.
#[derive(Default)]
struct Unplaceable(HashMap<String, HashMap<String, BTreeSet<u32>>>);

impl Unplaceable {
    fn contains(&self, d: &TaskDemand<'_>) -> bool {
        self.0
            .get(d.task_type)
            .and_then(|by_ds| by_ds.get(d.data_source))
            .is_some_and(|caps| caps.contains(&d.required_capacity))
    }

    fn insert(&mut self, d: &TaskDemand<'_>) {
        self.0
            .entry(d.task_type.to_string())
            .or_default()
            .entry(d.data_source.to_string())
            .or_default()
            .insert(d.required_capacity);
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
