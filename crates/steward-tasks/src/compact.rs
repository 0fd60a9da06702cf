//! Druid's `compact` task: re-ingests a datasource's segments in an interval, replacing them
//! (fewer, larger segments; a new granularity or schema if the task gives one).
//!
//! The peon looks up the used segments of the interval, reads each one's dimensions and
//! `metadata.drd`, and derives the `index` spec that reads them back through the `druid`
//! input source ([`steward_ingest::compaction`]); from there it runs as an `index` task under
//! the compaction's own id, locks and reports. An interval without segments fails, as in Druid.

use std::future::Future;

use steward_ingest::compaction::{self, InputSegment};
use steward_ingest::input::DruidInputSource;
use steward_ingest::spec::IngestionSpec;
use steward_model::{CompactSpec, Task, TaskStatus};

use crate::index;
use crate::log::info;
use crate::{TaskOutcome, Toolbox};

pub(crate) async fn run(
    task: &Task,
    spec: &CompactSpec,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
) -> TaskOutcome {
    match derive(task, spec, toolbox).await {
        Ok(index_spec) => index::run_spec(task, &spec.ingest, index_spec, toolbox, stop).await,
        Err(e) => TaskOutcome::without_reports(TaskStatus::failure(task.id(), e)),
    }
}

/// The `index` spec that compacts the interval's segments as they are now.
async fn derive(
    task: &Task,
    spec: &CompactSpec,
    toolbox: &Toolbox,
) -> Result<IngestionSpec, String> {
    let source = DruidInputSource {
        data_source: task.data_source().to_string(),
        interval: spec.interval,
        dimensions: None,
        metrics: None,
        segments: None,
        files: None,
    };
    let segments = index::segments_of(&source, toolbox).await?;
    if segments.is_empty() {
        return Err("No segments found for compaction. Please check that datasource name and interval are correct.".into());
    }
    let mut inputs = Vec::with_capacity(segments.len());
    for (segment, _) in segments {
        let path = toolbox
            .storage
            .readable_path(&segment)
            .map_err(|e| e.to_string())?;
        let (id, interval, version) = (segment.id().to_string(), segment.interval, segment.version);
        let input =
            tokio::task::spawn_blocking(move || InputSegment::read(&path, id, interval, version))
                .await
                .map_err(|e| format!("Reading a segment failed: {e}"))??;
        inputs.push(input);
    }
    info(&format!(
        "Compacting [{}] segments of [{}] in [{}]",
        inputs.len(),
        task.data_source(),
        spec.interval
    ));
    let index_task = compaction::index_task(
        task.payload(),
        task.id(),
        task.data_source(),
        spec.interval,
        &inputs,
    )?;
    info(&format!("Compacting as [{}]", index_task["spec"]));
    IngestionSpec::from_task_json(&index_task)
        .map_err(|e| format!("The compaction's derived spec is invalid: {e}"))
}
