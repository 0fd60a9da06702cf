//! Native parallel batch ingestion (Druid's `index_parallel` with dynamic partitioning): a
//! supervisor task splits its input and runs a `single_phase_sub_task` per split through the
//! Overlord; the sub-tasks build and push segments, their supervisor names and publishes them.
//!
//! With `maxNumConcurrentSubTasks` 1 (the default), or an input that does not split, the
//! supervisor ingests in its own peon exactly as an `index` task (Druid's sequential mode).
//! Hashed partitioning across sub-tasks (Druid's two-phase shuffle) is refused when the task
//! is submitted (`steward_ingest::spec`).
//!
//! - `sub_task_spec`: splits, and the sub-task of each attempt.
//! - `monitor`: which sub-tasks run, retries, which reports count (plain state).
//! - `allocator`: segment ids of an overwriting ingestion, closing chunks at publish.
//! - `report`: the sub-tasks' reports and the supervisor's row counts.
//! - `overlord`: submitting, watching and shutting down sub-tasks.
//! - `supervisor_client`: the sub-task's calls to its supervisor.
//! - `supervisor`, `sub_task`: the two tasks.

mod allocator;
mod monitor;
mod overlord;
mod report;
mod sub_task;
mod sub_task_spec;
mod supervisor;
mod supervisor_client;

pub(crate) use sub_task::run as run_sub_task;

use std::future::Future;

use steward_ingest::spec::IngestionSpec;
use steward_model::{BatchIngestSpec, Task, TaskStatus};

use crate::log::info;
use crate::{index, TaskOutcome, Toolbox};

/// Runs an `index_parallel` task: in parallel mode its supervisor, else an `index` task.
pub(crate) async fn run(
    task: &Task,
    facts: &BatchIngestSpec,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
) -> TaskOutcome {
    let spec = match IngestionSpec::from_task_json(&task.to_json()) {
        Ok(spec) => spec,
        Err(e) => {
            return TaskOutcome::without_reports(TaskStatus::failure(task.id(), e.to_string()))
        }
    };
    if spec.is_parallel_mode() {
        return supervisor::run(task, facts, &spec, toolbox, stop).await;
    }
    info(&format!(
        "maxNumConcurrentSubTasks[{}] with a [{}] input source: running sequentially",
        spec.tuning_config.max_num_concurrent_sub_tasks,
        if spec.io_config.input_source.is_splittable() {
            "splittable"
        } else {
            "non-splittable"
        }
    ));
    index::run(task, facts, toolbox, stop).await
}
