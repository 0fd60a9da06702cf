//! Placement: which pending task goes to which worker, in the pending tasks' priority order.
//!
//! The runner decides which workers are runnable for a task (initialized, enabled, recent
//! enough, not blacklisted, with room and no task of the same availability group); the
//! [`WorkerSelectStrategy`](crate::select::WorkerSelectStrategy) picks among them. The walk is
//! built to stay cheap with a long backlog: it stops once the cluster is full and asks the
//! strategy only once per demand that finds no worker.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use jiff::Timestamp;
use steward_model::Task;

use super::items::PendingKey;
use super::worker_state::{WorkerState, PARALLEL_INDEX_TYPE};
use super::{RunnerEffect, TaskRunner};
use crate::select::{Candidate, SlotUsage, TaskDemand};

impl TaskRunner {
    /// Whether a worker could take any task at all right now.
    fn usable(&self, w: &WorkerState) -> bool {
        w.initialized
            && w.worker.is_enabled()
            && w.worker.version >= self.config.min_worker_version
            && w.blacklisted_until.is_none()
    }

    /// Whether `w` has room for `task`: free slots and, for an `index_parallel` supervisor,
    /// a free slot of the supervisors' share (`parallelIndexTaskSlotRatio`).
    fn has_room(&self, w: &WorkerState, task: &Task) -> bool {
        let required = task.resource().required_capacity;
        let room = |capacity: u32, used: u32| capacity.saturating_sub(used) >= required;
        room(w.worker.capacity, w.used)
            && (task.task_type() != PARALLEL_INDEX_TYPE
                || room(
                    self.config.parallel_index_capacity(w.worker.capacity),
                    w.parallel_index_used(),
                ))
    }

    fn runnable<'a>(&'a self, task: &'a Task) -> impl Iterator<Item = Candidate<'a>> + 'a {
        let group = &task.resource().availability_group;
        self.workers.values().filter_map(move |w| {
            let ok = self.usable(w)
                && self.has_room(w, task)
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
        let group = &task.resource().availability_group;
        self.workers.values().any(|w| {
            self.usable(w) && self.has_room(w, task) && w.availability_groups.contains_key(group)
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
    pub(super) fn assign_pending(&mut self, now: Timestamp, out: &mut Vec<RunnerEffect>) {
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
