//! The `single_phase_sub_task` (Druid's `SinglePhaseSubTask`): one split of an `index_parallel`
//! ingestion, built into segments that its supervisor publishes.
//!
//! It reads its split into segments as an `index` task would, then asks its supervisor for
//! each segment's id (in the sequence of its spec, so a retry of the spec is given the same
//! ids), pushes the files and reports them with its own completion report. It publishes
//! nothing: the segments become visible only when the supervisor publishes every split's at
//! once. Files pushed by an attempt that cannot report are removed again.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Map;
use steward_ingest::spec::IngestionSpec;
use steward_model::time::format_ts;
use steward_model::{SegmentSchemaMapping, SubTaskSpec, Task};

use super::report::{PushedSegmentsReport, SubTaskReport};
use super::sub_task_spec::spec_id_of;
use super::supervisor_client::{SegmentAllocationRequest, SupervisorClient};
use crate::index::{self, publish, IngestionProgress, IngestionState};
use crate::{TaskOutcome, Toolbox};

/// Runs a `single_phase_sub_task` to its end.
pub(crate) async fn run(
    task: &Task,
    sub: &SubTaskSpec,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
) -> TaskOutcome {
    index::run_ingestion(task, toolbox, stop, |spec, progress, cancel| async move {
        ingest(task, sub, &spec, toolbox, &progress, &cancel)
            .await
            .map(|()| None)
    })
    .await
}

async fn ingest(
    task: &Task,
    sub: &SubTaskSpec,
    spec: &IngestionSpec,
    toolbox: &Toolbox,
    progress: &Arc<IngestionProgress>,
    cancel: &Arc<AtomicBool>,
) -> Result<(), String> {
    let tuning = &spec.tuning_config;
    if tuning.force_guaranteed_rollup {
        return Err("Guaranteed rollup is not supported".into());
    }
    let local = index::build(spec, toolbox, progress, cancel).await?;
    let supervisor = SupervisorClient::locate(toolbox, &sub.supervisor_task_id, tuning).await?;
    let sequence = spec_id_of(task);
    let mut named = Vec::with_capacity(local.len());
    let mut previous: Option<String> = None;
    for segment in &local {
        let id = supervisor
            .allocate(&SegmentAllocationRequest {
                timestamp: format_ts(segment.bucket.start),
                sequence_name: sequence.to_string(),
                prev_segment_id: previous.take(),
            })
            .await?;
        previous = Some(id.id().to_string());
        named.push((
            publish::segment(task, segment, id.interval, &id.version, id.shard_spec),
            segment.dir.clone(),
        ));
    }
    if cancel.load(Ordering::Relaxed) {
        return Err("Canceled".into());
    }
    let schema = SegmentSchemaMapping::of_rows(
        named
            .iter()
            .zip(&local)
            .map(|((segment, _), local)| (segment.id().to_string(), local.num_rows)),
    );
    let mut pushed = publish::Unpublished::new(toolbox);
    publish::push_all(&mut pushed, named)?;
    progress.set_state(IngestionState::Completed);
    let (key, completion) = progress.completion_report(None, None);
    let report = SubTaskReport::Pushed(PushedSegmentsReport {
        task_id: task.id().to_string(),
        old_segments: Vec::new(),
        segments: pushed.segments().to_vec(),
        task_report: Map::from_iter([(key, completion)]),
        segment_schema_mapping: Some(schema),
    });
    supervisor
        .report(&report)
        .await
        .map_err(|e| format!("Cannot report to the supervisor: {e}"))?;
    // The supervisor has them: it publishes them, or removes them if the ingestion fails.
    pushed.keep();
    Ok(())
}
