//! Native parallel batch ingestion (Druid's `index_parallel`): a supervisor task splits its
//! input and runs sub-tasks through the Overlord; they build and push segments, and their
//! supervisor publishes them all at once. With dynamic partitioning a `single_phase_sub_task`
//! per split builds segments the supervisor names; with hashed partitioning (perfect rollup)
//! `partial_index_generate` sub-tasks write partial segments per hash bucket, which
//! `partial_index_generic_merge` sub-tasks merge into the final segments (Druid's two-phase
//! shuffle, through deep storage).
//!
//! With `maxNumConcurrentSubTasks` 1 (the default), or an input that does not split, the
//! supervisor ingests in its own peon exactly as an `index` task (Druid's sequential mode).
//!
//! - `sub_task_spec`: splits (or partitions), and the sub-task of each attempt.
//! - `monitor`: which sub-tasks run, retries, which reports count (plain state).
//! - `allocator`: segment ids of an overwriting ingestion, closing chunks at publish.
//! - `report`: the sub-tasks' reports and the supervisor's row counts.
//! - `overlord`: submitting, watching and shutting down sub-tasks.
//! - `supervisor_client`: the sub-task's calls to its supervisor.
//! - `partitions`: the partial segments of the first phase and their merge assignments.
//! - `supervisor`, `sub_task`, `partial_generate`, `partial_merge`: the tasks.

mod allocator;
mod monitor;
mod overlord;
mod partial_generate;
mod partial_merge;
mod partitions;
mod report;
mod sub_task;
mod sub_task_spec;
mod supervisor;
mod supervisor_client;

pub(crate) use partial_generate::run as run_partial_generate;
pub(crate) use partial_merge::run as run_partial_merge;
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
