//! What the runner tells others about its state: the API's views of workers and tasks, and
//! the queries the core and the tests ask.

use std::collections::BTreeMap;

use jiff::Timestamp;
use steward_model::{RunnerTaskState, TaskLocation, Worker};

use super::TaskRunner;

/// Snapshot of one worker for `GET /druid/indexer/v1/workers`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerView {
    pub worker: Worker,
    pub curr_capacity_used: u32,
    /// Slots held by `index_parallel` supervisors.
    pub curr_parallel_index_capacity_used: u32,
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

impl TaskRunner {
    /// Whether the runner holds the task: pending, running, or ended and not yet cleaned up.
    pub(crate) fn knows(&self, task_id: &str) -> bool {
        self.pending.contains_key(task_id)
            || self.running.contains_key(task_id)
            || self.complete.contains_key(task_id)
    }

    pub(crate) fn task_view(&self, task_id: &str) -> Option<RunnerTaskView> {
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
    pub(crate) fn worker_of(&self, task_id: &str) -> Option<&Worker> {
        let host = &self.running.get(task_id)?.worker;
        self.workers.get(host).map(|w| &w.worker)
    }

    /// Where a running task's peon serves its chat handler: the task's location, reached
    /// with its worker's scheme (a peon serves HTTPS when its MiddleManager does).
    pub(crate) fn peon_url_of(&self, task_id: &str) -> Option<String> {
        let running = self.running.get(task_id)?;
        let worker = &self.workers.get(&running.worker)?.worker;
        let host = running.location.host.as_ref()?;
        (running.location.port > 0)
            .then(|| format!("{}://{host}:{}", worker.scheme, running.location.port))
    }

    /// Every task id the runner knows (pending, running, complete), sorted: the queue's
    /// reconciliation shuts down in this order, which must not be the maps' hash order.
    pub fn known_task_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .pending
            .keys()
            .chain(self.running.keys())
            .chain(self.complete.keys())
            .cloned()
            .collect();
        ids.sort_unstable();
        ids
    }

    pub(crate) fn workers(&self) -> Vec<WorkerView> {
        self.workers
            .values()
            .map(|w| WorkerView {
                worker: w.worker.clone(),
                curr_capacity_used: w.used,
                curr_parallel_index_capacity_used: w.parallel_index_used(),
                curr_capacity_used_by_task_type: w.used_by_type.clone(),
                availability_groups: w.availability_groups.keys().cloned().collect(),
                running_tasks: w.tasks.iter().cloned().collect(),
                last_completed_task_time: w.last_completed_task_time,
                blacklisted_until: w.blacklisted_until,
            })
            .collect()
    }

    /// `(total, used)` capacity over announced workers.
    pub(crate) fn capacity(&self) -> (u32, u32) {
        self.workers
            .values()
            .fold((0, 0), |(t, u), w| (t + w.worker.capacity, u + w.used))
    }

    /// Sizes of the internal maps: `(pending, running, complete)`.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.pending.len(), self.running.len(), self.complete.len())
    }
}
