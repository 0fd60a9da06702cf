//! The `partial_index_generate` sub-task (Druid's `PartialHashSegmentGenerateTask`): the first
//! phase of a hash-partitioned `index_parallel` ingestion. It reads one split as an `index`
//! task would, rolls it up and cuts it by time chunk and hash bucket (`numShards` buckets per
//! chunk), pushes each bucket's partial segment under deep storage's `shuffle-data/` and
//! reports them to its supervisor, which deals them out to the merge phase.
//!
//! It names no segment and publishes nothing. A partial segment pushed by an attempt that
//! fails stays until its supervisor ends, which deletes all its ingestion's partials.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Map;
use steward_ingest::spec::IngestionSpec;
use steward_model::{SubTaskSpec, Task};

use super::partitions::{GeneratedPartitionsReport, PartitionStat};
use super::report::SubTaskReport;
use super::supervisor_client::SupervisorClient;
use crate::index::{self, IngestionProgress, IngestionState};
use crate::log::info;
use crate::storage::PartialLocation;
use crate::{TaskOutcome, Toolbox};

/// Runs a `partial_index_generate` task to its end.
pub(crate) async fn run(
    task: &Task,
    sub: &SubTaskSpec,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
) -> TaskOutcome {
    index::run_ingestion(task, toolbox, stop, |spec, progress, cancel| async move {
        generate(task, sub, &spec, toolbox, &progress, &cancel)
            .await
            .map(|()| None)
    })
    .await
}

async fn generate(
    task: &Task,
    sub: &SubTaskSpec,
    spec: &IngestionSpec,
    toolbox: &Toolbox,
    progress: &Arc<IngestionProgress>,
    cancel: &Arc<AtomicBool>,
) -> Result<(), String> {
    let tuning = &spec.tuning_config;
    let built = index::build(spec, toolbox, progress, cancel).await?;
    let supervisor = SupervisorClient::locate(toolbox, &sub.supervisor_task_id, tuning).await?;
    let mut partition_stats = Vec::with_capacity(built.len());
    for segment in built {
        if cancel.load(Ordering::Relaxed) {
            return Err("Canceled".into());
        }
        let bucket = segment.hash_bucket.ok_or(
            "A partial segment holds no hash bucket: partial_index_generate needs a hashed partitionsSpec",
        )?;
        let at = PartialLocation {
            supervisor_task_id: &sub.supervisor_task_id,
            sub_task_id: task.id(),
            interval: segment.bucket,
            bucket_id: bucket.bucket_id,
        };
        let (load_spec, _) = toolbox
            .storage
            .push_partial(&segment.dir, &at)
            .map_err(|e| {
                format!(
                    "Cannot push the partial segment of interval[{}] bucket[{}]: {e}",
                    segment.bucket, bucket.bucket_id
                )
            })?;
        partition_stats.push(PartitionStat {
            interval: segment.bucket,
            shard_spec: bucket,
            load_spec,
        });
    }
    info(&format!(
        "Pushed [{}] partial segments",
        partition_stats.len()
    ));
    progress.set_state(IngestionState::Completed);
    let (key, completion) = progress.completion_report(None, None);
    let report = SubTaskReport::Generated(GeneratedPartitionsReport {
        task_id: task.id().to_string(),
        partition_stats,
        task_report: Map::from_iter([(key, completion)]),
    });
    supervisor
        .report(&report)
        .await
        .map_err(|e| format!("Cannot report to the supervisor: {e}"))
}
