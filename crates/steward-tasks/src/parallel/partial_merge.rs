//! The `partial_index_generic_merge` sub-task (Druid's `PartialGenericSegmentMergeTask`): the
//! second phase of a hash-partitioned `index_parallel` ingestion. Its `ioConfig` names
//! partitions, each a time chunk's hash bucket with the partial segments the first phase
//! wrote of it and the final shard spec its supervisor numbered. For each partition it reads
//! the partials back, combines their rows into one segment
//! ([`steward_ingest::compaction::merge_index_task`]), names it with the version of the
//! group's lock on the chunk, and pushes it; then it reports every segment to its supervisor,
//! which publishes them all at once.
//!
//! Its report carries no row counts: the first phase counted the rows. Segments pushed by an
//! attempt that cannot report are removed again.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};
use steward_ingest::compaction::{self, InputSegment};
use steward_ingest::input::{InputSourceSpec, SegmentFile};
use steward_ingest::meters::ParseExceptionHandler;
use steward_ingest::pipeline::BuiltSegment;
use steward_ingest::spec::{IngestionSpec, TuningConfig};
use steward_model::end::TaskEnd;
use steward_model::{Interval, SegmentSchemaMapping, SubTaskSpec, Task, TaskStatus};

use super::partitions::{by_partition, PartitionLocation};
use super::report::{PushedSegmentsReport, SubTaskReport};
use super::supervisor_client::SupervisorClient;
use crate::index::{self, publish, IngestionProgress};
use crate::log::info;
use crate::{TaskOutcome, Toolbox};

/// Runs a `partial_index_generic_merge` task to its end.
pub(crate) async fn run(
    task: &Task,
    sub: &SubTaskSpec,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
) -> TaskOutcome {
    let id = task.id();
    let cancel = Arc::new(AtomicBool::new(false));
    let merged = tokio::select! {
        merged = merge(task, sub, toolbox, &cancel) => merged,
        _ = stop => {
            cancel.store(true, Ordering::Relaxed);
            Err(TaskEnd::Stopped.status(id).error_msg.unwrap_or_default())
        }
    };
    TaskOutcome::without_reports(match merged {
        Ok(()) => TaskStatus::success(id),
        Err(e) => TaskStatus::failure(id, e),
    })
}

async fn merge(
    task: &Task,
    sub: &SubTaskSpec,
    toolbox: &Toolbox,
    cancel: &Arc<AtomicBool>,
) -> Result<(), String> {
    let payload = task.to_json();
    let spec = &payload["spec"];
    let locations: Vec<PartitionLocation> = serde_json::from_value(
        spec.pointer("/ioConfig/partitionLocations")
            .cloned()
            .unwrap_or(Value::Null),
    )
    .map_err(|e| format!("Cannot read spec.ioConfig.partitionLocations: {e}"))?;
    let partitions = by_partition(locations);
    let mut intervals: Vec<Interval> = partitions.iter().map(|(i, _, _)| *i).collect();
    intervals.dedup();
    // The supervisor holds these locks; the group shares them, and their versions.
    let lock_type = sub.ingest.lock_type(task.context())?;
    let locks = publish::lock_intervals(task, toolbox, lock_type, &intervals, None).await?;

    if partitions.is_empty() {
        return Err("Empty partition locations".into());
    }
    let merger = Merger {
        task,
        sub,
        spec,
        toolbox,
    };
    let mut pushed = publish::Unpublished::new(toolbox);
    let mut rows = Vec::with_capacity(partitions.len());
    let mut chat = None;
    for (interval, shard_spec, partials) in partitions {
        let version = &locks
            .iter()
            .find(|l| l.interval.contains(&interval))
            .ok_or_else(|| format!("No lock of task[{}] covers interval[{interval}]", task.id()))?
            .version;
        let merged = merger.merge_partition(cancel, interval, &partials).await?;
        let named = publish::segment(task, &merged.segment, interval, version, shard_spec);
        rows.push((named.id().to_string(), merged.segment.num_rows));
        let dir = merged.segment.dir;
        publish::push_all(&mut pushed, vec![(named, dir.clone())])?;
        // The next partition builds in the same place, and a push may have hard-linked these
        // files: they must be gone before it writes.
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("Cannot remove the built segment [{}]: {e}", dir.display()))?;
        chat = Some(merged.chat);
    }
    info(&format!("Merged [{}] segments", pushed.segments().len()));
    let report = SubTaskReport::Pushed(PushedSegmentsReport {
        task_id: task.id().to_string(),
        old_segments: Vec::new(),
        segments: pushed.segments().to_vec(),
        task_report: Map::new(),
        segment_schema_mapping: Some(SegmentSchemaMapping::of_rows(rows)),
    });
    let tuning = chat.expect("at least one partition was merged");
    let reported = match SupervisorClient::locate(toolbox, &sub.supervisor_task_id, &tuning).await {
        Ok(client) => client.report(&report).await,
        Err(e) => Err(e),
    };
    reported.map_err(|e| format!("Cannot report to the supervisor: {e}"))?;
    // The supervisor has them: it publishes them, or removes them if the ingestion fails.
    pushed.keep();
    Ok(())
}

/// One partition's segment, and the tuning it was built with (which says how to reach the
/// supervisor).
struct Merged {
    segment: BuiltSegment,
    chat: TuningConfig,
}

/// What merging a partition needs of the task.
struct Merger<'a> {
    task: &'a Task,
    sub: &'a SubTaskSpec,
    /// The task's ingestion spec.
    spec: &'a Value,
    toolbox: &'a Toolbox,
}

impl Merger<'_> {
    /// Builds one partition's segment from its partial segments.
    async fn merge_partition(
        &self,
        cancel: &Arc<AtomicBool>,
        interval: Interval,
        partials: &[PartitionLocation],
    ) -> Result<Merged, String> {
        let (task, toolbox) = (self.task, self.toolbox);
        let mut index_spec = IngestionSpec::from_task_json(&self.merge_task(interval, partials)?)
            .map_err(|e| format!("The merge's derived spec is invalid: {e}"))?;
        if let InputSourceSpec::Druid(druid) = &mut index_spec.io_config.input_source {
            druid.files = Some(
                partials
                    .iter()
                    .map(|p| {
                        Ok(SegmentFile {
                            path: self.partial_path(p)?,
                            windows: vec![interval],
                        })
                    })
                    .collect::<Result<_, String>>()?,
            );
        }
        let progress = Arc::new(IngestionProgress::new(
            task.id(),
            ParseExceptionHandler::new(false, 0, 0),
        ));
        let mut built = index::build(&index_spec, toolbox, &progress, cancel).await?;
        let chat = index_spec.tuning_config;
        match (built.pop(), built.is_empty()) {
            (Some(segment), true) => Ok(Merged { segment, chat }),
            (None, _) => Err(format!(
                "The partial segments of interval[{interval}] hold no rows"
            )),
            (Some(_), false) => Err(format!(
                "The partial segments of interval[{interval}] made more than one segment"
            )),
        }
    }

    /// Where a partial segment of this task's supervisor is read.
    fn partial_path(&self, partial: &PartitionLocation) -> Result<PathBuf, String> {
        self.toolbox
            .storage
            .partial_readable_path(&partial.load_spec, &self.sub.supervisor_task_id)
            .map_err(|e| format!("Partial segment of sub-task[{}]: {e}", partial.sub_task_id))
    }

    /// The `index` task JSON that merges one partition.
    fn merge_task(
        &self,
        interval: Interval,
        partials: &[PartitionLocation],
    ) -> Result<Value, String> {
        let task = self.task;
        compaction::merge_index_task(self.spec, task.id(), task.data_source(), interval, || {
            partials
                .iter()
                .map(|p| {
                    InputSegment::read(
                        &self.partial_path(p)?,
                        p.sub_task_id.clone(),
                        interval,
                        String::new(),
                    )
                })
                .collect()
        })
    }
}
