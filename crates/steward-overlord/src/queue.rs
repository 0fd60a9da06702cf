//! The task queue as a state machine (Druid's `TaskQueue`).
//!
//! The queue holds the *active* tasks: accepted and stored, not yet recorded as ended. It
//! hands a task to the runner once the core's [`Readiness`] says it may run, and when the
//! runner reports an end it has the status persisted, then asks the runner to shut the task
//! down (which cleans up the status announcement) and forgets the task. Like the runner it
//! does no I/O: it appends [`QueueEffect`]s for the core to route.
//!
//! A task that is not ready waits (WAITING). Druid's manage loop asks every waiting task again
//! on each pass, at least once a minute; here the waiting tasks are asked again when something
//! they may wait for is released (a task's end recorded, or a lock given back on its own):
//! every waiting task, higher priority first and in the order they were accepted within one
//! priority, so that the most important task gets first claim on what was released.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use jiff::Timestamp;
use steward_model::end::TaskEnd;
use steward_model::{Task, TaskStatus};
use tracing::{info, warn};

use crate::config::QueueConfig;
use crate::readiness::Readiness;

/// What the queue asks for after an event.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueEffect {
    /// Hand the task to the runner.
    RunnerRun(Task),
    /// Ask the runner to shut the task down (drop, stop or clean up, depending on its state).
    RunnerShutdown { task_id: String, reason: String },
    /// Record the task's end in the metadata store; answer with [`TaskQueue::persisted`].
    PersistStatus(TaskStatus),
}

/// Why a submission was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("Task [{0}] already exists")]
    Duplicate(String),
    #[error("Too many tasks (max = {0}): the task queue is full")]
    Full(usize),
    #[error("The task queue is not running (this Overlord is not leading)")]
    NotStarted,
}

/// Where an active task stands.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryState {
    /// Accepted; the metadata store insert is under way.
    Inserting,
    /// Stored, not ready to run yet (`runnerStatusCode` WAITING).
    Waiting,
    /// Handed to the runner.
    Submitted,
    /// Ended; the status is being persisted.
    Completing(TaskStatus),
}

/// An active task.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub task: Task,
    pub created: Timestamp,
    pub state: EntryState,
    /// When the queue accepted it, counted: the order among waiting tasks of one priority.
    accepted: u64,
}

/// A waiting task's place in line: higher priority first, then first accepted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct WaitKey {
    neg_priority: i64,
    accepted: u64,
    id: String,
}

impl Entry {
    fn wait_key(&self) -> WaitKey {
        WaitKey {
            neg_priority: -self.task.priority(),
            accepted: self.accepted,
            id: self.task.id().to_string(),
        }
    }
}

pub const SHUTDOWN_BY_USER: &str = "Shutdown request from user";

/// The queue's state.
pub struct TaskQueue {
    config: QueueConfig,
    /// Looked up by id on every event, hence hashed; walks whose order reaches the effects
    /// sort first (`shutdown_data_source`) or follow `waiting`.
    active: HashMap<String, Entry>,
    /// The WAITING entries in the order they are asked again.
    waiting: BTreeSet<WaitKey>,
    next_accepted: u64,
    started: bool,
}

impl TaskQueue {
    pub(crate) fn new(config: QueueConfig) -> Self {
        TaskQueue {
            config,
            active: HashMap::new(),
            waiting: BTreeSet::new(),
            next_accepted: 0,
            started: false,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_started(&self) -> bool {
        self.started
    }

    /// Loads the active tasks from storage and starts managing them (on becoming leader): they
    /// wait, and are asked in priority order whether they are ready.
    pub(crate) fn start(
        &mut self,
        tasks: Vec<(Task, Timestamp)>,
        readiness: &mut dyn Readiness,
        out: &mut Vec<QueueEffect>,
    ) {
        self.started = true;
        for (task, created) in tasks {
            self.accept(task, created, EntryState::Waiting);
        }
        self.manage_waiting(readiness, out);
        info!(active = self.active.len(), "task queue started");
    }

    /// Ends an active row that cannot become a task (a payload that does not decode, a type
    /// Steward does not run): it is never queued, only its end is recorded, by the same persist
    /// path as every other end.
    pub(crate) fn end_unrunnable(&self, task_id: &str, why: &str, out: &mut Vec<QueueEffect>) {
        warn!(
            task = task_id,
            reason = why,
            "ending an active task that cannot be run"
        );
        out.push(QueueEffect::PersistStatus(
            TaskEnd::CannotRun { why }.status(task_id),
        ));
    }

    /// Reserves a place for a submitted task before it is stored, so that duplicates and the
    /// queue limit are decided in one place.
    pub(crate) fn reserve(&mut self, task: &Task, created: Timestamp) -> Result<(), QueueError> {
        if !self.started {
            return Err(QueueError::NotStarted);
        }
        if self.active.contains_key(task.id()) {
            return Err(QueueError::Duplicate(task.id().to_string()));
        }
        if self.active.len() >= self.config.max_size {
            return Err(QueueError::Full(self.config.max_size));
        }
        self.accept(task.clone(), created, EntryState::Inserting);
        Ok(())
    }

    /// The store refused or failed the insert: the reservation is dropped.
    pub(crate) fn insert_failed(&mut self, task_id: &str) {
        if self
            .active
            .get(task_id)
            .is_some_and(|e| e.state == EntryState::Inserting)
        {
            self.active.remove(task_id);
        }
    }

    /// The task is stored: it becomes active, and runs if it is ready.
    pub(crate) fn inserted(
        &mut self,
        task_id: &str,
        readiness: &mut dyn Readiness,
        out: &mut Vec<QueueEffect>,
    ) {
        if self
            .active
            .get(task_id)
            .is_some_and(|e| e.state == EntryState::Inserting)
        {
            self.set_state(task_id, EntryState::Waiting);
            self.manage(task_id, readiness, out);
        }
    }

    /// The runner reports a status. Only ends matter; an end for a task the queue does not
    /// hold means the runner has something the queue no longer wants: shut it down.
    pub(crate) fn runner_status(
        &mut self,
        task_id: &str,
        status: TaskStatus,
        out: &mut Vec<QueueEffect>,
    ) {
        if !status.is_complete() || !self.started {
            return;
        }
        match self.active.get(task_id) {
            Some(e) if matches!(e.state, EntryState::Completing(_) | EntryState::Inserting) => {}
            Some(_) => {
                self.set_state(task_id, EntryState::Completing(status.clone()));
                out.push(QueueEffect::PersistStatus(status));
            }
            None => out.push(QueueEffect::RunnerShutdown {
                task_id: task_id.to_string(),
                reason: "Task is not present in queue anymore.".to_string(),
            }),
        }
    }

    /// The runner found a task running on `worker` that it had not been handed. An active task
    /// is handed over, which adopts it where it runs; any other is shut down there.
    pub(crate) fn discovered(&mut self, task_id: &str, worker: &str, out: &mut Vec<QueueEffect>) {
        if !self.started {
            // The queue's start hands every active task to the runner and reconciles the rest.
            return;
        }
        match self.active.get(task_id) {
            Some(e) if matches!(e.state, EntryState::Waiting | EntryState::Submitted) => {
                out.push(QueueEffect::RunnerRun(e.task.clone()));
                self.set_state(task_id, EntryState::Submitted);
            }
            Some(e) if matches!(e.state, EntryState::Completing(_)) => info!(
                task = task_id,
                worker,
                "worker announced a task whose end is being recorded; it is shut down there once recorded"
            ),
            // Its insert hands it over.
            Some(_) => {}
            None => {
                info!(
                    task = task_id,
                    worker,
                    "worker announced a task that is not active: its end is already recorded; shutting it down there"
                );
                out.push(QueueEffect::RunnerShutdown {
                    task_id: task_id.to_string(),
                    reason: "Task is not present in queue anymore.".to_string(),
                });
            }
        }
    }

    /// The task's end is recorded (or the row was no longer active): release the task, then
    /// ask the waiting tasks again, since it may have held what they wait for (Druid's
    /// `notifyStatus` requests management once the task's locks are removed).
    pub(crate) fn persisted(
        &mut self,
        task_id: &str,
        row_changed: bool,
        readiness: &mut dyn Readiness,
        out: &mut Vec<QueueEffect>,
    ) {
        let Some(entry) = self.active.remove(task_id) else {
            return;
        };
        self.waiting.remove(&entry.wait_key());
        if !row_changed {
            warn!(
                task = task_id,
                "stored task was already inactive; its status was not overwritten"
            );
        }
        let reason = match &entry.state {
            EntryState::Completing(s) => s
                .error_msg
                .clone()
                .unwrap_or_else(|| "Task completed".into()),
            _ => "Task completed".into(),
        };
        out.push(QueueEffect::RunnerShutdown {
            task_id: task_id.to_string(),
            reason,
        });
        self.manage_waiting(readiness, out);
    }

    /// Asks every waiting task again: something they may wait for (a lock) was released.
    pub(crate) fn manage_all(&mut self, readiness: &mut dyn Readiness, out: &mut Vec<QueueEffect>) {
        self.manage_waiting(readiness, out);
    }

    /// Ends an active task FAILED with `reason` (user shutdown). Returns false if the task is
    /// not active here (complete tasks are left alone, as in Druid).
    pub(crate) fn shutdown(
        &mut self,
        task_id: &str,
        reason: &str,
        out: &mut Vec<QueueEffect>,
    ) -> bool {
        match self.active.get(task_id) {
            Some(e) if matches!(e.state, EntryState::Waiting | EntryState::Submitted) => {
                let status = TaskEnd::Shutdown { reason }.status(task_id);
                self.set_state(task_id, EntryState::Completing(status.clone()));
                out.push(QueueEffect::PersistStatus(status));
                true
            }
            _ => false,
        }
    }

    /// Shuts down every active task of a datasource; returns how many.
    pub(crate) fn shutdown_data_source(
        &mut self,
        data_source: &str,
        reason: &str,
        out: &mut Vec<QueueEffect>,
    ) -> usize {
        let mut ids: Vec<String> = self
            .active
            .values()
            .filter(|e| e.task.data_source() == data_source)
            .map(|e| e.task.id().to_string())
            .collect();
        // In id order, not the map's hash order: the effects come out in this order.
        ids.sort_unstable();
        ids.iter()
            .filter(|id| self.shutdown(id, reason, out))
            .count()
    }

    /// Tasks the runner knows but the queue does not are shut down (Druid's manage loop).
    pub(crate) fn reconcile(&self, runner_known: &[String], out: &mut Vec<QueueEffect>) {
        if !self.started {
            return;
        }
        for id in runner_known {
            if !self.active.contains_key(id) {
                out.push(QueueEffect::RunnerShutdown {
                    task_id: id.clone(),
                    reason: "Task is not present in queue anymore.".to_string(),
                });
            }
        }
    }

    pub fn entry(&self, task_id: &str) -> Option<&Entry> {
        self.active.get(task_id)
    }

    /// Every active entry, in no particular order (a hash map's): a caller that acts on each
    /// sorts them first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.active.values()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.active.shrink_to_fit();
    }

    /// The queue's invariant, checked by the core with its own: the waiting line holds exactly
    /// the WAITING entries.
    pub(crate) fn check_invariants(&self) {
        let waiting: BTreeSet<WaitKey> = self
            .active
            .values()
            .filter(|e| e.state == EntryState::Waiting)
            .map(Entry::wait_key)
            .collect();
        assert_eq!(
            waiting, self.waiting,
            "the waiting line differs from the waiting tasks"
        );
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Adds an entry, counted in the order the queue accepted it.
    fn accept(&mut self, task: Task, created: Timestamp, state: EntryState) {
        let entry = Entry {
            task,
            created,
            state,
            accepted: self.next_accepted,
        };
        self.next_accepted += 1;
        if entry.state == EntryState::Waiting {
            self.waiting.insert(entry.wait_key());
        }
        self.active.insert(entry.task.id().to_string(), entry);
    }

    /// Moves an active entry to `state`, keeping the waiting line in step.
    fn set_state(&mut self, task_id: &str, state: EntryState) {
        let e = self.active.get_mut(task_id).expect("an active entry");
        if e.state == EntryState::Waiting {
            self.waiting.remove(&e.wait_key());
        }
        if state == EntryState::Waiting {
            self.waiting.insert(e.wait_key());
        }
        e.state = state;
    }

    /// Asks every waiting task, in line, whether it is ready now. The walk goes on from each
    /// task's place in line, so a task that leaves the line on the way costs no copy of it.
    fn manage_waiting(&mut self, readiness: &mut dyn Readiness, out: &mut Vec<QueueEffect>) {
        let mut cursor: Option<WaitKey> = None;
        loop {
            let next = match &cursor {
                None => self.waiting.first(),
                Some(k) => self
                    .waiting
                    .range((Bound::Excluded(k), Bound::Unbounded))
                    .next(),
            };
            let Some(key) = next.cloned() else { break };
            self.manage(&key.id, readiness, out);
            cursor = Some(key);
        }
    }

    /// Asks a waiting task whether it is ready: it runs, keeps waiting, or fails with Druid's
    /// message for an exception in `isReady`.
    fn manage(&mut self, task_id: &str, readiness: &mut dyn Readiness, out: &mut Vec<QueueEffect>) {
        let Some(e) = self.active.get(task_id) else {
            return;
        };
        if e.state != EntryState::Waiting {
            return;
        }
        match readiness.is_ready(&e.task) {
            Ok(true) => {
                out.push(QueueEffect::RunnerRun(e.task.clone()));
                self.set_state(task_id, EntryState::Submitted);
            }
            Ok(false) => {}
            Err(reason) => {
                let status = TaskEnd::NotReady { error: &reason }.status(task_id);
                self.set_state(task_id, EntryState::Completing(status.clone()));
                out.push(QueueEffect::PersistStatus(status));
            }
        }
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
