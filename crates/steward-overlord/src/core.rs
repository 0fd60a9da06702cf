//! The Overlord's core: the task queue and the task runner, wired to each other, with only
//! I/O requests leaving it.
//!
//! In Druid the queue and the runner call each other through futures and listeners under
//! several locks. Here both are plain state owned by one [`OverlordCore`]: an event goes to one
//! of them, their effects on each other are routed right away, and what remains is a list of
//! [`IoEffect`]s (write an assignment, call a worker, persist a status) for the driver to carry
//! out concurrently. The whole lifecycle can therefore be tested without sockets or sleeps.
//!
//! Whether a task may run is the core's decision too ([`Readiness`]): it depends on the third
//! piece of state, the [`TaskLockbox`], which the queue asks through the core. Task actions
//! that take, list or release locks and the publish's critical section enter here as well
//! (see `actions.rs`), so one order of events decides every lock.

use jiff::Timestamp;
use steward_model::coordination::RunnerEvent;
use steward_model::{
    time::format_ts, RunnerTaskState, Task, TaskLocation, TaskLock, TaskStatus, TaskStatusPlus,
    Worker,
};

use crate::config::{QueueConfig, RunnerConfig};
use crate::lockbox::{LockPersist, TaskLockbox};
use crate::queue::{EntryState, QueueEffect, QueueError, TaskQueue};
use crate::readiness::{LockReadiness, Readiness};
use crate::runner::{RunnerEffect, TaskRunner, WorkerView};
use crate::worker_config::WorkerBehaviorConfig;

/// Work for the driver. The driver may carry out effects concurrently, except that effects
/// addressed to one task on one worker ([`IoEffect::target`]) are carried out one after
/// another in the order the core emitted them, each after the previous one has finished or
/// given up. The runner relies on it: an assignment withdrawn when its worker went away and
/// written again when the worker came back must not have the removal land last, which would
/// leave the worker holding an unstarted task with no assignment for a new leader to find.
#[derive(Debug, Clone, PartialEq)]
pub enum IoEffect {
    /// Write the assignment; failures come back as [`OverlordCore::assign_failed`].
    Assign {
        worker: Worker,
        task: Task,
    },
    RemoveAssignment {
        worker: String,
        task_id: String,
    },
    RemoveStatus {
        worker: String,
        task_id: String,
    },
    ShutdownOnWorker {
        worker: Worker,
        task_id: String,
    },
    /// Persist the end; success comes back as [`OverlordCore::persisted`].
    PersistStatus(TaskStatus),
    /// Mirror lock changes in `druid_tasklocks`, in this order and after every earlier one.
    PersistLocks(Vec<LockPersist>),
    /// Delete the pending segments an ended task allocated under APPEND locks (Druid cleans
    /// them up when such a task is removed from the lockbox).
    DeletePendingSegments {
        task_allocator_id: String,
    },
}

impl IoEffect {
    /// The (worker, task) the effect is addressed to; effects with one target are ordered.
    pub fn target(&self) -> Option<(&str, &str)> {
        match self {
            IoEffect::Assign { worker, task } => Some((&worker.host, task.id())),
            IoEffect::RemoveAssignment { worker, task_id }
            | IoEffect::RemoveStatus { worker, task_id } => Some((worker, task_id)),
            IoEffect::ShutdownOnWorker { worker, task_id } => Some((&worker.host, task_id)),
            IoEffect::PersistStatus(_)
            | IoEffect::PersistLocks(_)
            | IoEffect::DeletePendingSegments { .. } => None,
        }
    }
}

/// Queue, runner and lockbox together.
pub struct OverlordCore {
    queue: TaskQueue,
    runner: TaskRunner,
    pub(crate) lockbox: TaskLockbox,
    /// Replaces the lockbox's answer to whether a task may run (tests that make tasks wait on
    /// something else that changes).
    readiness: Option<Box<dyn Readiness>>,
    /// How many times a lock was released: a `lockAcquire` waiting for one tries again when
    /// this moves.
    pub(crate) lock_releases: u64,
    /// Routed events since the invariants were last checked (debug builds).
    unchecked: usize,
}

/// Debug builds check the invariants after every event while the core holds at most this many
/// tasks, and after every n-th event beyond (n = tasks / this), so a check costs about this
/// much per event however large the backlog: a 10,000-task test stays linear.
const CHECK_BUDGET: usize = 256;

/// Druid's reason for shutting down a task whose lock a new leader could not take again.
const LOCK_NOT_REACQUIRED: &str =
    "Shutting down forcefully as task failed to reacquire lock while becoming leader";

impl OverlordCore {
    pub fn new(queue: QueueConfig, runner: RunnerConfig) -> Self {
        OverlordCore {
            queue: TaskQueue::new(queue),
            runner: TaskRunner::new(runner),
            lockbox: TaskLockbox::new(),
            readiness: None,
            lock_releases: 0,
            unchecked: 0,
        }
    }

    /// A core whose tasks' readiness `readiness` decides (tests that make tasks wait on
    /// something that changes).
    #[cfg(test)]
    pub(crate) fn with_readiness(
        queue: QueueConfig,
        runner: RunnerConfig,
        readiness: impl Readiness + 'static,
    ) -> Self {
        OverlordCore {
            readiness: Some(Box::new(readiness)),
            ..OverlordCore::new(queue, runner)
        }
    }

    /// Starts the queue with the stored active tasks and their stored locks. Call it after the
    /// coordinator's initial state has been fed in, so tasks already on workers are adopted, not
    /// assigned again.
    ///
    /// The locks are taken again first (Druid's `syncFromStorage`), so a task that held a lock
    /// under the previous leader holds it still and no waiting task can take it meanwhile;
    /// every task of a group whose lock cannot be taken again is shut down, as in Druid.
    pub fn start(
        &mut self,
        tasks: Vec<(Task, Timestamp)>,
        stored_locks: Vec<(String, TaskLock)>,
        now: Timestamp,
    ) -> Vec<IoEffect> {
        let mut persist = Vec::new();
        for (task, _) in &tasks {
            self.lockbox.add(task);
        }
        let all: Vec<Task> = tasks.iter().map(|(t, _)| t.clone()).collect();
        let failed_groups = self.lockbox.restore(&all, stored_locks, &mut persist);
        let mut q = Vec::new();
        self.ask(now, &mut persist, |queue, readiness| {
            queue.start(tasks, readiness, &mut q)
        });
        for task in all
            .iter()
            .filter(|t| failed_groups.iter().any(|g| g == t.group_id()))
        {
            self.queue.shutdown(task.id(), LOCK_NOT_REACQUIRED, &mut q);
        }
        self.queue.reconcile(&self.runner.known_task_ids(), &mut q);
        self.route(Vec::new(), q, persist, now)
    }

    /// Ends the stored active rows that cannot be run, as (task id, why), before the queue
    /// starts (see `TaskQueue::end_unrunnable`).
    pub fn end_unrunnable(&mut self, rows: Vec<(String, String)>, now: Timestamp) -> Vec<IoEffect> {
        let mut q = Vec::new();
        for (id, why) in rows {
            self.queue.end_unrunnable(&id, &why, &mut q);
        }
        self.route(Vec::new(), q, Vec::new(), now)
    }

    /// Takes over the assignments found in the coordinator at start (before [`start`](Self::start)):
    /// those of stored active tasks are adopted, the others (stale) withdrawn.
    pub fn adopt_assignments(
        &mut self,
        assignments: Vec<(String, String)>,
        stored: &[(Task, Timestamp)],
        now: Timestamp,
    ) -> Vec<IoEffect> {
        let mut r = Vec::new();
        for (worker, task_id) in assignments {
            match stored.iter().find(|(t, _)| t.id() == task_id) {
                Some((task, _)) => self
                    .runner
                    .adopt_assignment(&worker, task.clone(), now, &mut r),
                None => r.push(RunnerEffect::RemoveAssignment { worker, task_id }),
            }
        }
        self.route(r, Vec::new(), Vec::new(), now)
    }

    pub fn reserve(&mut self, task: &Task, now: Timestamp) -> Result<(), QueueError> {
        self.queue.reserve(task, now)
    }

    pub fn insert_failed(&mut self, task_id: &str) {
        self.queue.insert_failed(task_id);
    }

    pub fn inserted(&mut self, task_id: &str, now: Timestamp) -> Vec<IoEffect> {
        if let Some(task) = self.queue.entry(task_id).map(|e| e.task.clone()) {
            self.lockbox.add(&task);
        }
        let (mut q, mut persist) = (Vec::new(), Vec::new());
        self.ask(now, &mut persist, |queue, readiness| {
            queue.inserted(task_id, readiness, &mut q)
        });
        self.route(Vec::new(), q, persist, now)
    }

    /// User shutdown of one task; false if it is not active.
    pub fn shutdown(
        &mut self,
        task_id: &str,
        reason: &str,
        now: Timestamp,
    ) -> (bool, Vec<IoEffect>) {
        let mut q = Vec::new();
        let found = self.queue.shutdown(task_id, reason, &mut q);
        (found, self.route(Vec::new(), q, Vec::new(), now))
    }

    pub fn shutdown_data_source(
        &mut self,
        data_source: &str,
        reason: &str,
        now: Timestamp,
    ) -> (usize, Vec<IoEffect>) {
        let mut q = Vec::new();
        let n = self.queue.shutdown_data_source(data_source, reason, &mut q);
        (n, self.route(Vec::new(), q, Vec::new(), now))
    }

    pub fn cluster_event(&mut self, event: RunnerEvent, now: Timestamp) -> Vec<IoEffect> {
        let mut r = Vec::new();
        match event {
            RunnerEvent::WorkerAdded(w) => self.runner.worker_added(w, now),
            RunnerEvent::WorkerChanged(w) => self.runner.worker_changed(w, now, &mut r),
            RunnerEvent::WorkerRemoved(host) => self.runner.worker_removed(&host, now),
            RunnerEvent::WorkerInitialized(host) => {
                self.runner.worker_initialized(&host, now, &mut r)
            }
            RunnerEvent::StatusAnnounced {
                worker,
                announcement,
            } => self
                .runner
                .status_announced(&worker, announcement, now, &mut r),
            RunnerEvent::StatusRemoved { worker, task_id } => {
                self.runner.status_removed(&worker, &task_id, now, &mut r)
            }
        }
        self.route(r, Vec::new(), Vec::new(), now)
    }

    pub fn assign_failed(
        &mut self,
        task_id: &str,
        worker: &str,
        worker_gone: bool,
        now: Timestamp,
    ) -> Vec<IoEffect> {
        let mut r = Vec::new();
        self.runner
            .assign_failed(task_id, worker, worker_gone, now, &mut r);
        self.route(r, Vec::new(), Vec::new(), now)
    }

    /// The task's end is recorded: its locks are released (Druid's `TaskLockbox.remove`), then
    /// the queue forgets it and asks the waiting tasks again.
    pub fn persisted(&mut self, task_id: &str, row_changed: bool, now: Timestamp) -> Vec<IoEffect> {
        let mut persist = Vec::new();
        let mut appended = false;
        if let Some(task) = self.queue.entry(task_id).map(|e| e.task.clone()) {
            appended = self
                .lockbox
                .find_locks(task_id)
                .iter()
                .any(|l| l.lock_type == steward_model::TaskLockType::Append);
            if self.lockbox.remove(&task, &mut persist) {
                self.lock_releases += 1;
            }
        }
        let mut q = Vec::new();
        self.ask(now, &mut persist, |queue, readiness| {
            queue.persisted(task_id, row_changed, readiness, &mut q)
        });
        let mut io = self.route(Vec::new(), q, persist, now);
        if appended {
            io.push(IoEffect::DeletePendingSegments {
                task_allocator_id: task_id.to_string(),
            });
        }
        io
    }

    /// Applies a dynamic worker config: pending tasks are assigned under it at once, and every
    /// later assignment uses it.
    pub(crate) fn set_worker_config(
        &mut self,
        config: WorkerBehaviorConfig,
        now: Timestamp,
    ) -> Vec<IoEffect> {
        let mut r = Vec::new();
        self.runner
            .set_strategy(config.select_strategy, now, &mut r);
        self.route(r, Vec::new(), Vec::new(), now)
    }

    pub fn tick(&mut self, now: Timestamp) -> Vec<IoEffect> {
        let mut r = Vec::new();
        self.runner.tick(now, &mut r);
        self.route(r, Vec::new(), Vec::new(), now)
    }

    /// Shuts down what the runner holds and the queue does not (periodic safety net).
    pub fn reconcile(&mut self, now: Timestamp) -> Vec<IoEffect> {
        let mut q = Vec::new();
        self.queue.reconcile(&self.runner.known_task_ids(), &mut q);
        self.route(Vec::new(), q, Vec::new(), now)
    }

    /// Gives back the room the maps grew into during a burst (a map keeps its capacity when
    /// emptied). Called when the queue drains.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.queue.shrink_to_fit();
        self.runner.shrink_to_fit();
    }

    /// The core's invariants (the runner's accounting, the queue's waiting line, and every task
    /// handed to the runner known to it until its end is recorded), checked after every routed
    /// event in debug builds; a violation is a bug, and stops the process there rather than
    /// later.
    pub fn check_invariants(&self) {
        self.runner.check_invariants();
        self.queue.check_invariants();
        self.lockbox.check_invariants();
        for entry in self.queue.entries() {
            let id = entry.task.id();
            if entry.state == EntryState::Submitted {
                assert!(
                    self.runner.knows(id),
                    "task {id} was handed to the runner, which does not know it"
                );
            }
            assert_eq!(
                self.lockbox.is_active(id),
                entry.state != EntryState::Inserting,
                "task {id} ({:?}) is stored and active in the queue exactly when the lockbox knows it",
                entry.state
            );
        }
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.runner.next_deadline()
    }

    /// The queue, to read: every change goes through the core, which routes its effects.
    pub fn queue(&self) -> &TaskQueue {
        &self.queue
    }

    /// The runner, to read: every change goes through the core, which routes its effects.
    pub fn runner(&self) -> &TaskRunner {
        &self.runner
    }

    /// The locks the lockbox holds for the task (revoked ones included) whatever the task's
    /// state, an ending task's too: what its rows in `druid_tasklocks` must mirror once the
    /// writes asked for have landed. [`task_locks`](Self::task_locks) answers a peon, and only
    /// for a task acting here.
    pub fn held_locks(&self, task_id: &str) -> Vec<TaskLock> {
        self.lockbox.find_locks(task_id)
    }

    /// How many times a lock was released so far.
    pub fn lock_releases(&self) -> u64 {
        self.lock_releases
    }

    /// Runs a queue step that may ask whether tasks are ready: the test readiness if one was
    /// given, else the lockbox's, whose lock rows go to `persist`.
    pub(crate) fn ask(
        &mut self,
        now: Timestamp,
        persist: &mut Vec<LockPersist>,
        step: impl FnOnce(&mut TaskQueue, &mut dyn Readiness),
    ) {
        match self.readiness.as_mut() {
            Some(readiness) => step(&mut self.queue, readiness.as_mut()),
            None => {
                let mut locks = LockReadiness {
                    lockbox: &mut self.lockbox,
                    now,
                    persist,
                };
                step(&mut self.queue, &mut locks)
            }
        }
    }

    /// Routes queue and runner effects to each other until only I/O remains; lock rows are
    /// written before anything else the event caused.
    pub(crate) fn route(
        &mut self,
        mut r: Vec<RunnerEffect>,
        mut q: Vec<QueueEffect>,
        persist: Vec<LockPersist>,
        now: Timestamp,
    ) -> Vec<IoEffect> {
        let mut io = Vec::new();
        if !persist.is_empty() {
            io.push(IoEffect::PersistLocks(persist));
        }
        while !r.is_empty() || !q.is_empty() {
            for effect in std::mem::take(&mut r) {
                match effect {
                    RunnerEffect::Assign { worker, task } => {
                        io.push(IoEffect::Assign { worker, task })
                    }
                    RunnerEffect::RemoveAssignment { worker, task_id } => {
                        io.push(IoEffect::RemoveAssignment { worker, task_id })
                    }
                    RunnerEffect::RemoveStatus { worker, task_id } => {
                        io.push(IoEffect::RemoveStatus { worker, task_id })
                    }
                    RunnerEffect::ShutdownOnWorker { worker, task_id } => {
                        io.push(IoEffect::ShutdownOnWorker { worker, task_id })
                    }
                    RunnerEffect::StatusChanged { task_id, status } => {
                        self.queue.runner_status(&task_id, status, &mut q)
                    }
                    // Locations are read from the runner when asked for; nothing is stored.
                    RunnerEffect::LocationChanged { .. } => {}
                    RunnerEffect::Discovered { task_id, worker } => {
                        self.queue.discovered(&task_id, &worker, &mut q)
                    }
                }
            }
            for effect in std::mem::take(&mut q) {
                match effect {
                    QueueEffect::RunnerRun(task) => self.runner.run(task, now, &mut r),
                    QueueEffect::RunnerShutdown { task_id, reason } => {
                        self.runner.shutdown(&task_id, &reason, &mut r)
                    }
                    QueueEffect::PersistStatus(status) => {
                        // Druid records where the task ran with its end (a user shutdown
                        // carries no location of its own).
                        let location = self.runner.task_view(&status.id).map(|v| v.location);
                        let status = match location {
                            Some(l) if status.location.is_unknown() && !l.is_unknown() => {
                                status.with_location(l)
                            }
                            _ => status,
                        };
                        io.push(IoEffect::PersistStatus(status))
                    }
                }
            }
        }
        if cfg!(debug_assertions) {
            self.unchecked += 1;
            if self.unchecked >= self.queue.len() / CHECK_BUDGET {
                self.unchecked = 0;
                self.check_invariants();
            }
        }
        io
    }

    // ----- views for the API --------------------------------------------------------------------

    /// The API view of an active task, or `None` if the queue does not hold it.
    pub(crate) fn active_status(&self, task_id: &str) -> Option<TaskStatusPlus> {
        let e = self.queue.entry(task_id)?;
        if e.state == EntryState::Inserting {
            return None;
        }
        let runner = self.runner.task_view(task_id);
        let (status, runner_state, location, inserted) = match (&e.state, runner) {
            (EntryState::Completing(s), runner) => {
                let location = match runner {
                    Some(v) if s.location.is_unknown() => v.location,
                    _ => s.location.clone(),
                };
                (
                    s.clone(),
                    RunnerTaskState::None,
                    location,
                    Timestamp::UNIX_EPOCH,
                )
            }
            (_, Some(v)) => (
                TaskStatus::running(task_id),
                v.state,
                v.location,
                v.queue_insertion_time,
            ),
            (_, None) => (
                TaskStatus::running(task_id),
                RunnerTaskState::Waiting,
                TaskLocation::unknown(),
                Timestamp::UNIX_EPOCH,
            ),
        };
        Some(TaskStatusPlus {
            id: task_id.to_string(),
            group_id: e.task.group_id().to_string(),
            task_type: e.task.task_type().to_string(),
            created_time: format_ts(e.created),
            queue_insertion_time: format_ts(inserted),
            status_code: status.status,
            status: status.status,
            runner_status_code: runner_state,
            duration: status.duration,
            location,
            data_source: e.task.data_source().to_string(),
            error_msg: status.error_msg,
        })
    }

    /// API views of every active task (stored ones only).
    pub(crate) fn active_statuses(&self) -> Vec<TaskStatusPlus> {
        let mut v: Vec<TaskStatusPlus> = self
            .queue
            .entries()
            .filter_map(|e| self.active_status(e.task.id()))
            .collect();
        v.sort_by(|a, b| {
            a.created_time
                .cmp(&b.created_time)
                .then_with(|| a.id.cmp(&b.id))
        });
        v
    }

    /// The payload of an active task.
    pub(crate) fn active_task(&self, task_id: &str) -> Option<Task> {
        self.queue
            .entry(task_id)
            .filter(|e| e.state != EntryState::Inserting)
            .map(|e| e.task.clone())
    }

    /// The status of an active task that has ended but is not yet persisted.
    pub fn completing_status(&self, task_id: &str) -> Option<TaskStatus> {
        match &self.queue.entry(task_id)?.state {
            EntryState::Completing(s) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn workers(&self) -> Vec<WorkerView> {
        self.runner.workers()
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
