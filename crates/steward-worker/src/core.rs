//! The MiddleManager's core (Druid's `WorkerTaskManager` and `WorkerTaskMonitor`): the worker's
//! state as a plain state machine, in the shape of the Overlord's core. Events come in as data,
//! effects go out as data, time is passed in; it does no I/O, so its whole life is tested
//! without sockets, processes or sleeps, and a simulation can run several of them beside the
//! Overlord's core.
//!
//! It owns the running tasks, the completed tasks whose end the Overlord has not recorded yet,
//! the peon ports, the enabled flag and the stop in progress. A driver (the MiddleManager's is
//! `driver`) uses it so:
//!
//! 1. [`WorkerCore::start`] with what a restart found ([`Restored`], empty on a first start) and
//!    the status announcements the coordinator still holds for this worker; carry out the
//!    effects it returns (the re-announcements, the worker's announcement, the runs of the
//!    restored tasks), then subscribe to the coordinator.
//! 2. Every event ([`WorkerInput`]: the coordinator's, a run's report, a request) goes to
//!    [`WorkerCore::handle`] with the current time; carry out the effects in the order given.
//! 3. Once [`WorkerCore::next_deadline`] has passed, call [`WorkerCore::tick`].
//! 4. [`WorkerEffect::Stopped`] ends the core's life: it takes no more events.
//!
//! What the core guarantees, given a driver that carries out a task's coordinator writes in the
//! order they come out:
//!
//! - a task's announcements keep their order: RUNNING without location, RUNNING with location
//!   (both in [`WorkerEffect::AnnounceStarted`]), the end;
//! - an end is recorded here before the effect announcing it leaves, so the Overlord's removal
//!   of that announcement always finds the task completed;
//! - an assignment of a task already known here is not run again: removed once the task's
//!   start or end is announced, kept before (it is then the only trace of where the task
//!   runs, and the start removes it); assignments are ignored while stopping;
//! - a reserved id (`Layout::is_reserved`) or no free port ends the task with
//!   [`TaskEnd::SpawnFailed`], a run that fails ends it with [`TaskEnd::WorkerError`];
//! - a stop announces the worker disabled, stops every peon, waits (at most
//!   [`STATUS_REMOVAL_WAIT`]) for the Overlord to remove the announced ends, then unannounces.
//!
//! [`WorkerCore::check_invariants`] states what must hold between events; debug builds check it
//! after every event (the state is bounded by the worker's capacity and its unrecorded ends, so
//! the check is cheap).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use steward_model::coordination::WorkerEvent;
use steward_model::end::TaskEnd;
use steward_model::{Task, TaskAnnouncement, TaskLocation, TaskState, TaskStatus, Worker};

use crate::layout::Layout;
pub use crate::layout::PeonRecord;
use crate::ports::PortFinder;

/// How long a stopping MiddleManager waits for the Overlord to record the ends it announced.
pub const STATUS_REMOVAL_WAIT: Duration = Duration::from_secs(5);

/// What a task's run is to do with the task.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Start a peon on this port.
    Launch { port: u16 },
    /// Watch a peon a previous MiddleManager started.
    Adopt(PeonRecord),
    /// The task has already ended (or could not start); record the end.
    Finish {
        status: TaskStatus,
        attempt: Option<u32>,
    },
}

/// What a restarted MiddleManager found in its base dir (the MiddleManager reads it from disk;
/// a simulation makes it up from its model of the disk). A task id appears at most once across
/// both fields, and adopted peons hold distinct ports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Restored {
    /// Final announcements the Overlord may not have recorded yet, by task id.
    pub completed: BTreeMap<String, TaskAnnouncement>,
    /// Tasks with a directory: live peons to adopt ([`Plan::Adopt`]), or ends to record
    /// ([`Plan::Finish`]).
    pub tasks: Vec<(Task, Plan)>,
}

/// Everything the core reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerInput {
    /// From the coordinator: an assignment, or the Overlord's removal of a status announcement
    /// (it has recorded that end).
    Coordinator(WorkerEvent),
    /// The task's peon runs at `location`.
    Started { id: String, location: TaskLocation },
    /// The task's end is on disk; this is its final announcement.
    Ended(TaskAnnouncement),
    /// The task's run failed (panicked) before reporting an end.
    RunFailed { id: String, error: String },
    /// Stop the task's peon (the worker API's shutdown).
    Shutdown(String),
    /// Announce the worker enabled or disabled (the worker API's enable and disable).
    SetEnabled(bool),
    /// Stop the MiddleManager: see the module doc.
    Stop,
}

/// Work for the driver, in the order it is to be carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEffect {
    /// Create or replace the worker's announcement (a disabled worker's has an empty version).
    AnnounceWorker(Worker),
    /// Remove the worker's announcement.
    Unannounce,
    /// Create or update the task's status announcement.
    AnnounceStatus(TaskAnnouncement),
    /// The peon started: announce `running` (no location), then `located`, then remove the
    /// assignment (`WorkerCoordinator::announce_started`). Boxed: two announcements inline
    /// would make every effect twice as large.
    AnnounceStarted {
        running: Box<TaskAnnouncement>,
        located: Box<TaskAnnouncement>,
    },
    /// Remove the task's assignment.
    RemoveAssignment(String),
    /// Start the task's run; it reports back [`WorkerInput::Started`] and [`WorkerInput::Ended`].
    Run { task: Task, plan: Plan },
    /// Stop the task's peon (gracefully); its run then reports the end.
    StopPeon(String),
    /// The Overlord has recorded the task's end: delete its `completedTasks` file.
    ForgetCompleted(String),
    /// The request that caused this is refused, for this reason.
    Refuse(String),
    /// The stop is complete: answer whoever asked for it.
    Stopped,
}

/// A task handed to this worker and not yet ended.
#[derive(Debug)]
struct RunningTask {
    task: Task,
    port: Option<u16>,
    /// Set by the first shutdown request: one [`WorkerEffect::StopPeon`] per task.
    stop_requested: bool,
    /// Whether the start has been announced (and with it the assignment removed).
    started: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// The deadline is set once every peon has ended: until then the Overlord may still
    /// remove announcements.
    Stopping {
        removal_deadline: Option<Timestamp>,
    },
    Stopped,
}

/// The worker's state; see the module doc.
#[derive(Debug)]
pub struct WorkerCore {
    /// The worker's announcement while enabled.
    worker: Worker,
    /// Where peons are reached (`druid.host`).
    peon_host: String,
    running: BTreeMap<String, RunningTask>,
    completed: BTreeMap<String, TaskAnnouncement>,
    ports: PortFinder,
    enabled: bool,
    phase: Phase,
}

impl WorkerCore {
    /// A core for the worker announced as `worker` (enabled), whose peons are reached on
    /// `peon_host` and get their ports from `ports`, resuming what a restart found. `held` are
    /// the status announcements the coordinator still holds for this worker: as Druid does, a
    /// RUNNING one that no task here explains any more is announced FAILED
    /// ([`TaskEnd::UnknownAfterRestart`]). The effects re-announce the unrecorded ends and the
    /// adopted peons, then the worker, then start the restored tasks' runs.
    pub fn start(
        worker: Worker,
        peon_host: impl Into<String>,
        ports: PortFinder,
        restored: Restored,
        held: Vec<TaskAnnouncement>,
    ) -> (WorkerCore, Vec<WorkerEffect>) {
        let mut core = WorkerCore {
            worker,
            peon_host: peon_host.into(),
            running: BTreeMap::new(),
            completed: restored.completed,
            ports,
            enabled: true,
            phase: Phase::Serving,
        };
        let mut out: Vec<WorkerEffect> = core
            .completed
            .values()
            .cloned()
            .map(WorkerEffect::AnnounceStatus)
            .collect();
        for (task, plan) in &restored.tasks {
            if let Plan::Adopt(record) = plan {
                let location = core.peon_location(record.port);
                let running = announcement(task, TaskStatus::running(task.id()), location);
                out.push(WorkerEffect::AnnounceStatus(running));
            }
        }
        let known: BTreeSet<&str> = core
            .completed
            .keys()
            .map(String::as_str)
            .chain(restored.tasks.iter().map(|(t, _)| t.id()))
            .collect();
        for stale in held {
            if stale.status == TaskState::Running && !known.contains(stale.id.as_str()) {
                out.push(WorkerEffect::AnnounceStatus(repaired(stale)));
            }
        }
        out.push(WorkerEffect::AnnounceWorker(core.worker()));
        for (task, plan) in restored.tasks {
            core.run(task, plan, &mut out);
        }
        core.checked();
        (core, out)
    }

    /// Reacts to one event; see [`WorkerInput`].
    pub fn handle(&mut self, input: WorkerInput, now: Timestamp) -> Vec<WorkerEffect> {
        let mut out = Vec::new();
        if self.phase == Phase::Stopped {
            tracing::debug!(?input, "the MiddleManager has stopped: event ignored");
            return out;
        }
        match input {
            WorkerInput::Coordinator(WorkerEvent::Assigned(task)) => self.assigned(task, &mut out),
            WorkerInput::Coordinator(WorkerEvent::StatusRemoved(id)) => {
                self.status_removed(&id, &mut out)
            }
            WorkerInput::Started { id, location } => self.started(&id, location, &mut out),
            WorkerInput::Ended(end) => self.ended(end, &mut out),
            WorkerInput::RunFailed { id, error } => self.run_failed(&id, &error, &mut out),
            WorkerInput::Shutdown(id) => self.shutdown(&id, &mut out),
            WorkerInput::SetEnabled(enabled) => self.set_enabled(enabled, &mut out),
            WorkerInput::Stop => self.stop(&mut out),
        }
        self.advance_stop(now, &mut out);
        self.checked();
        out
    }

    /// Ends a stop whose wait for the Overlord's removals has run out by `now`.
    pub fn tick(&mut self, now: Timestamp) -> Vec<WorkerEffect> {
        let mut out = Vec::new();
        if self.next_deadline().is_some_and(|deadline| now >= deadline) {
            tracing::warn!(
                tasks = ?self.completed.keys().collect::<Vec<_>>(),
                "the Overlord has not recorded these ends; they stay in completedTasks"
            );
            self.finish_stop(&mut out);
        }
        self.checked();
        out
    }

    /// When [`tick`](Self::tick) has something to do.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match self.phase {
            Phase::Stopping { removal_deadline } => removal_deadline,
            Phase::Serving | Phase::Stopped => None,
        }
    }

    /// The worker as announced now.
    pub fn worker(&self) -> Worker {
        let mut worker = self.worker.clone();
        if !self.enabled {
            worker.version = String::new();
        }
        worker
    }

    /// The tasks handed to this worker that have not ended.
    pub fn running_ids(&self) -> impl Iterator<Item = &str> {
        self.running.keys().map(String::as_str)
    }

    /// The tasks handed to this worker that have not ended, with their peons' ports.
    pub fn running_tasks(&self) -> impl Iterator<Item = (&Task, Option<u16>)> {
        self.running.values().map(|r| (&r.task, r.port))
    }

    /// The ended tasks whose end the Overlord has not recorded yet.
    pub fn completed_ids(&self) -> impl Iterator<Item = &str> {
        self.completed.keys().map(String::as_str)
    }

    /// What must hold between events; a violation is a bug, and panics here rather than
    /// showing up later as a lost or doubled task.
    pub fn check_invariants(&self) {
        let mut held = BTreeSet::new();
        for (id, running) in &self.running {
            assert_eq!(running.task.id(), id, "running task filed under another id");
            assert!(
                !self.completed.contains_key(id),
                "task {id} is both running and completed"
            );
            if let Some(port) = running.port {
                assert!(
                    held.insert(port),
                    "port {port} is held by two tasks, one {id}"
                );
            }
        }
        assert_eq!(
            &held,
            self.ports.used(),
            "the ports marked used are not those the running tasks hold"
        );
        for (id, end) in &self.completed {
            assert_eq!(&end.id, id, "completed task filed under another id");
        }
        assert!(
            self.phase == Phase::Serving || !self.enabled,
            "a stopping worker is announced enabled"
        );
        match self.phase {
            Phase::Serving => {}
            Phase::Stopping { removal_deadline } => {
                for (id, running) in &self.running {
                    assert!(running.stop_requested, "task {id} runs on while stopping");
                }
                assert!(
                    removal_deadline.is_none()
                        || (self.running.is_empty() && !self.completed.is_empty()),
                    "the wait for removals is set with peons running or nothing to remove"
                );
            }
            Phase::Stopped => assert!(self.running.is_empty(), "stopped with tasks running"),
        }
    }

    fn checked(&self) {
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
    }

    fn assigned(&mut self, task: Task, out: &mut Vec<WorkerEffect>) {
        let id = task.id().to_string();
        if self.running.get(&id).is_some_and(|t| !t.started) {
            // Until its start is announced, the assignment is the only trace of where the
            // task runs: removed now (after a new session delivered it again), a new leader
            // would find the task nowhere and assign it a second time. The start removes it.
            tracing::info!(task = %id, "assignment of a task starting here: kept until the start");
            return;
        }
        if self.running.contains_key(&id) || self.completed.contains_key(&id) {
            tracing::info!(task = %id, "assignment of a task already known here: removing it");
            out.push(WorkerEffect::RemoveAssignment(id));
            return;
        }
        if self.phase != Phase::Serving {
            tracing::info!(task = %id, "assignment ignored: the MiddleManager is stopping");
            return;
        }
        let cannot_run = |error: String| Plan::Finish {
            status: TaskEnd::SpawnFailed { error: &error }.status(&id),
            attempt: None,
        };
        let plan = if Layout::is_reserved(&id) {
            cannot_run(format!(
                "task id [{id}] is reserved by the MiddleManager's directory layout"
            ))
        } else {
            match self.ports.allocate() {
                Ok(port) => Plan::Launch { port },
                Err(e) => cannot_run(e),
            }
        };
        tracing::info!(task = %id, ?plan, "task assigned");
        self.run(task, plan, out);
    }

    fn run(&mut self, task: Task, plan: Plan, out: &mut Vec<WorkerEffect>) {
        let port = match &plan {
            Plan::Launch { port } => Some(*port),
            Plan::Adopt(record) => {
                self.ports.mark_used(record.port);
                Some(record.port)
            }
            Plan::Finish { .. } => None,
        };
        let running = RunningTask {
            task: task.clone(),
            port,
            stop_requested: false,
            started: matches!(plan, Plan::Adopt(_)),
        };
        self.running.insert(task.id().to_string(), running);
        out.push(WorkerEffect::Run { task, plan });
    }

    fn started(&mut self, id: &str, location: TaskLocation, out: &mut Vec<WorkerEffect>) {
        let Some(entry) = self.running.get_mut(id) else {
            return;
        };
        entry.started = true;
        let running = announcement(
            &entry.task,
            TaskStatus::running(id),
            TaskLocation::unknown(),
        );
        let located = announcement(&entry.task, TaskStatus::running(id), location);
        out.push(WorkerEffect::AnnounceStarted {
            running: Box::new(running),
            located: Box::new(located),
        });
    }

    fn ended(&mut self, end: TaskAnnouncement, out: &mut Vec<WorkerEffect>) {
        let Some(entry) = self.running.remove(&end.id) else {
            return;
        };
        if let Some(port) = entry.port {
            self.ports.release(port);
        }
        if !entry.started {
            out.push(WorkerEffect::RemoveAssignment(end.id.clone()));
        }
        self.completed.insert(end.id.clone(), end.clone());
        out.push(WorkerEffect::AnnounceStatus(end));
    }

    fn run_failed(&mut self, id: &str, error: &str, out: &mut Vec<WorkerEffect>) {
        let Some(task) = self.running.get(id).map(|t| t.task.clone()) else {
            return;
        };
        tracing::error!(task = %id, "the task's run failed: {error}");
        let status = TaskEnd::WorkerError { error }.status(id);
        self.ended(announcement(&task, status, TaskLocation::unknown()), out);
    }

    fn status_removed(&mut self, id: &str, out: &mut Vec<WorkerEffect>) {
        if self.completed.remove(id).is_none() {
            return;
        }
        tracing::info!(task = %id, "the Overlord recorded the end: forgetting the task");
        out.push(WorkerEffect::ForgetCompleted(id.to_string()));
    }

    fn shutdown(&mut self, id: &str, out: &mut Vec<WorkerEffect>) {
        match self.running.get_mut(id) {
            Some(running) if !running.stop_requested => {
                tracing::info!(task = %id, "shutdown requested");
                running.stop_requested = true;
                out.push(WorkerEffect::StopPeon(id.to_string()));
            }
            _ => tracing::info!(task = %id, "no peon to stop: not running here, or stopping"),
        }
    }

    fn set_enabled(&mut self, enabled: bool, out: &mut Vec<WorkerEffect>) {
        if enabled && self.phase != Phase::Serving {
            out.push(WorkerEffect::Refuse(
                "the MiddleManager is stopping".to_string(),
            ));
            return;
        }
        self.enabled = enabled;
        tracing::info!(enabled, "worker re-announced");
        out.push(WorkerEffect::AnnounceWorker(self.worker()));
    }

    fn stop(&mut self, out: &mut Vec<WorkerEffect>) {
        if self.phase != Phase::Serving {
            return;
        }
        tracing::info!(
            tasks = self.running.len(),
            "stopping: disabling the worker and its peons"
        );
        self.phase = Phase::Stopping {
            removal_deadline: None,
        };
        self.set_enabled(false, out);
        let ids: Vec<String> = self.running.keys().cloned().collect();
        for id in ids {
            self.shutdown(&id, out);
        }
    }

    /// Once every peon of a stopping worker has ended, waits for the Overlord's removals, and
    /// finishes the stop when there is nothing left to wait for.
    fn advance_stop(&mut self, now: Timestamp, out: &mut Vec<WorkerEffect>) {
        let Phase::Stopping { removal_deadline } = self.phase else {
            return;
        };
        if !self.running.is_empty() {
            return;
        }
        if self.completed.is_empty() {
            self.finish_stop(out);
        } else if removal_deadline.is_none() {
            let deadline = now
                .saturating_add(STATUS_REMOVAL_WAIT)
                .unwrap_or(Timestamp::MAX);
            self.phase = Phase::Stopping {
                removal_deadline: Some(deadline),
            };
        }
    }

    fn finish_stop(&mut self, out: &mut Vec<WorkerEffect>) {
        self.phase = Phase::Stopped;
        out.push(WorkerEffect::Unannounce);
        out.push(WorkerEffect::Stopped);
    }

    fn peon_location(&self, port: u16) -> TaskLocation {
        TaskLocation::new(self.peon_host.clone(), i32::from(port))
    }
}

fn announcement(task: &Task, status: TaskStatus, location: TaskLocation) -> TaskAnnouncement {
    let status = status.with_location(location.clone());
    TaskAnnouncement::of(task, status, location)
}

/// FAILED in place of a RUNNING announcement no task here explains after a restart.
fn repaired(stale: TaskAnnouncement) -> TaskAnnouncement {
    let end = TaskEnd::UnknownAfterRestart;
    tracing::warn!(task = %stale.id, "{}", end.message());
    let failed = end
        .status(&stale.id)
        .with_location(stale.task_location.clone());
    TaskAnnouncement {
        status: TaskState::Failed,
        task_status: failed,
        ..stale
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
