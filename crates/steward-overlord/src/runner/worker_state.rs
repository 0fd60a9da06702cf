//! What the runner knows about one worker: its announcement, whether it may get tasks yet,
//! the running tasks it holds, and the accounting derived from them (capacity, availability
//! groups and use by task type, kept as running sums so that placing a task costs no pass over
//! the worker's tasks), plus its record for blacklisting.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use steward_model::Worker;

use super::items::RunningItem;

/// Druid's `ParallelIndexSupervisorTask.TYPE`: the supervisors whose slots
/// `parallelIndexTaskSlotRatio` bounds (their sub-tasks are of other types).
pub(crate) const PARALLEL_INDEX_TYPE: &str = "index_parallel";

pub(super) struct WorkerState {
    pub(super) worker: Worker,
    pub(super) initialized: bool,
    /// Ids of running items owned by this worker.
    pub(super) tasks: BTreeSet<String>,
    pub(super) used: u32,
    pub(super) availability_groups: BTreeMap<String, u32>,
    pub(super) used_by_type: BTreeMap<String, u32>,
    pub(super) last_completed_task_time: Timestamp,
    pub(super) blacklisted_until: Option<Timestamp>,
    pub(super) continuously_failed_tasks: u32,
    /// Tasks a returning worker ran before it vanished and has not announced again yet; those
    /// still unannounced when it is initialized are gone from it.
    pub(super) unconfirmed: BTreeSet<String>,
}

impl WorkerState {
    pub(super) fn new(worker: Worker, now: Timestamp) -> Self {
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

    /// Druid's `currParallelIndexCapacityUsed`: slots held by `index_parallel` supervisors.
    pub(super) fn parallel_index_used(&self) -> u32 {
        self.used_by_type
            .get(PARALLEL_INDEX_TYPE)
            .copied()
            .unwrap_or(0)
    }

    pub(super) fn add_task(&mut self, id: &str, item: &RunningItem) {
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

    pub(super) fn remove_task(&mut self, id: &str, item: &RunningItem) {
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
