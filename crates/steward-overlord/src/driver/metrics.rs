//! What the driver records in the Overlord's [`Metrics`] and what a scrape reads from the
//! core, so that the core itself stays free of metrics.
//!
//! Recorded as they happen (Druid emits the same events): a task's end, once this Overlord has
//! stored it (`task/run/time`, `task/success/count`, `task/failed/count`, by datasource and
//! type as Druid's `TaskQueue` emits them), and an assignment, once written
//! (`task/pending/time`, from the task's entry into the runner, as Druid's `RemoteTaskRunner`
//! measures it). Read at scrape time, from the core between two events as the API's listings
//! are: the tasks waiting, pending and running per datasource, the task slots per worker
//! category (Druid's `TaskSlotCountStatsMonitor`) and the announced workers.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use steward_metrics::catalogue::{
    TASK_FAILED_COUNT, TASK_PENDING_COUNT, TASK_PENDING_TIME, TASK_RUNNING_COUNT, TASK_RUN_TIME,
    TASK_SLOT_BLACKLISTED_COUNT, TASK_SLOT_IDLE_COUNT, TASK_SLOT_LAZY_COUNT, TASK_SLOT_TOTAL_COUNT,
    TASK_SLOT_USED_COUNT, TASK_SUCCESS_COUNT, TASK_WAITING_COUNT, WORKER_COUNT,
};
use steward_metrics::{Metrics, Scrape};
use steward_model::{RunnerTaskState, Task, TaskState, TaskStatusPlus};

use crate::core::OverlordCore;

/// A task's end, just stored by this Overlord.
pub(super) fn task_ended(metrics: &Metrics, ended: &TaskStatusPlus) {
    let ds = ended.data_source.as_str();
    match ended.status_code {
        TaskState::Success => metrics.count(&TASK_SUCCESS_COUNT, &[ds], 1),
        TaskState::Failed => metrics.count(&TASK_FAILED_COUNT, &[ds], 1),
        TaskState::Running => return,
    }
    // A task that never started has no duration (-1).
    if ended.duration >= 0 {
        let labels = [ds, ended.task_type.as_str()];
        metrics.observe_millis(&TASK_RUN_TIME, &labels, ended.duration as f64);
    }
}

/// A task's assignment, just written; it entered the runner at `pending_since`.
pub(super) fn assigned(metrics: &Metrics, task: &Task, pending_since: Timestamp) {
    let waited = Timestamp::now().duration_since(pending_since);
    let labels = [task.data_source(), task.task_type()];
    metrics.observe_millis(&TASK_PENDING_TIME, &labels, waited.as_millis_f64().max(0.0));
}

/// The core's counts of tasks, slots and workers right now.
pub(crate) fn scrape(core: &OverlordCore) -> Scrape {
    let scrape = Scrape::new();
    let mut tasks: HashMap<(RunnerTaskState, String), u32> = HashMap::new();
    for status in core.active_statuses() {
        *tasks
            .entry((status.runner_status_code, status.data_source))
            .or_default() += 1;
    }
    for ((state, ds), n) in tasks {
        let def = match state {
            RunnerTaskState::Waiting => &TASK_WAITING_COUNT,
            RunnerTaskState::Pending => &TASK_PENDING_COUNT,
            RunnerTaskState::Running => &TASK_RUNNING_COUNT,
            RunnerTaskState::None => continue,
        };
        scrape.gauge(def, &[&ds], f64::from(n));
    }
    let mut slots: BTreeMap<String, Slots> = BTreeMap::new();
    let mut workers: BTreeMap<(String, String), u32> = BTreeMap::new();
    for view in core.workers() {
        let w = &view.worker;
        let of_category = slots.entry(w.category.clone()).or_default();
        of_category.total += w.capacity;
        of_category.used += view.curr_capacity_used;
        // Druid's idle slots are those of the workers it may assign to: not blacklisted.
        match view.blacklisted_until {
            Some(_) => of_category.blacklisted += w.capacity,
            None => of_category.idle += w.capacity.saturating_sub(view.curr_capacity_used),
        }
        *workers
            .entry((w.category.clone(), w.version.clone()))
            .or_default() += 1;
    }
    for (category, s) in &slots {
        let labels = [category.as_str()];
        scrape.gauge(&TASK_SLOT_TOTAL_COUNT, &labels, f64::from(s.total));
        scrape.gauge(&TASK_SLOT_IDLE_COUNT, &labels, f64::from(s.idle));
        scrape.gauge(&TASK_SLOT_USED_COUNT, &labels, f64::from(s.used));
        scrape.gauge(&TASK_SLOT_LAZY_COUNT, &labels, 0.0);
        scrape.gauge(
            &TASK_SLOT_BLACKLISTED_COUNT,
            &labels,
            f64::from(s.blacklisted),
        );
    }
    for ((category, version), n) in workers {
        scrape.gauge(&WORKER_COUNT, &[&category, &version], f64::from(n));
    }
    scrape
}

#[derive(Default)]
struct Slots {
    total: u32,
    idle: u32,
    used: u32,
    blacklisted: u32,
}
