//! The `index` task (Druid's `IndexTask`): one peon reads the input, rolls it up, writes the
//! segments, pushes them and publishes them in one transaction.
//!
//! The order is what keeps a failed or stopped task invisible: the input is read once, into
//! the rollup index (bounded memory, spilled runs), while only counting; segments are written
//! under the task's work directory; then the task holds its locks (taken at `isReady` when the
//! spec names its intervals, otherwise now, for the chunks its rows fell in), names the
//! segments with its locks' versions, pushes their files and publishes them all in one
//! `segmentTransactionalInsert`, with tombstones over the emptied chunks when the spec drops
//! existing data. A task stopped or failing before the publish leaves no metadata row, and
//! removes the files it pushed.
//!
//! - `report`: row counters, live and final reports.
//! - `publish`: versions, partitions, push and publish.
//! - `tombstones`: the chunks `dropExisting` empties.

pub(crate) mod publish;
mod report;
mod tombstones;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};
use steward_ingest::input::{DruidInputSource, InputSourceSpec, SegmentFile};
use steward_ingest::meters::ParseExceptionHandler;
use steward_ingest::pipeline::{self, BuildRequest, BuiltSegment};
use steward_ingest::spec::IngestionSpec;
use steward_model::end::TaskEnd;
use steward_model::{
    BatchIngestSpec, DataSegment, IngestionMode, Interval, SegmentSchemaMapping, Task, TaskAction,
    TaskStatus,
};

use crate::log::{info, warn};
use crate::{TaskOutcome, Toolbox};
pub(crate) use report::{IngestionProgress, IngestionState, REPORT_KEY};

/// Druid's `Tasks.DEFAULT_LOCK_TIMEOUT_MILLIS`: how long a task waits for a lock it takes
/// while running (`taskLockTimeout` in the context).
const DEFAULT_LOCK_TIMEOUT_MS: u64 = 300_000;

/// Runs an `index` task in the toolbox's work dir to its end.
pub(crate) async fn run(
    task: &Task,
    facts: &BatchIngestSpec,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
) -> TaskOutcome {
    match IngestionSpec::from_task_json(&task.to_json()) {
        Ok(spec) => run_spec(task, facts, spec, toolbox, stop).await,
        Err(e) => TaskOutcome::without_reports(TaskStatus::failure(task.id(), e.to_string())),
    }
}

/// The frame of every ingestion task: reads the spec, serves the live reports, runs `ingest`
/// until it ends or `stop` comes (which sets the cancel flag the build watches), and leaves
/// the final report. `ingest` answers how many segments it published, `None` for a task
/// that publishes nothing itself (a sub-task).
pub(crate) async fn run_ingestion<F, Fut>(
    task: &Task,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
    ingest: F,
) -> TaskOutcome
where
    F: FnOnce(IngestionSpec, Arc<IngestionProgress>, Arc<AtomicBool>) -> Fut,
    Fut: Future<Output = Result<Option<u64>, String>>,
{
    match IngestionSpec::from_task_json(&task.to_json()) {
        Ok(spec) => run_ingestion_of(task, spec, toolbox, stop, ingest).await,
        Err(e) => TaskOutcome::without_reports(TaskStatus::failure(task.id(), e.to_string())),
    }
}

/// [`run_ingestion`] of a spec the task does not carry as such (a compaction's).
pub(crate) async fn run_ingestion_of<F, Fut>(
    task: &Task,
    spec: IngestionSpec,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
    ingest: F,
) -> TaskOutcome
where
    F: FnOnce(IngestionSpec, Arc<IngestionProgress>, Arc<AtomicBool>) -> Fut,
    Fut: Future<Output = Result<Option<u64>, String>>,
{
    let id = task.id();
    let tuning = &spec.tuning_config;
    let progress = Arc::new(IngestionProgress::new(
        id,
        ParseExceptionHandler::new(
            tuning.log_parse_exceptions,
            u64::try_from(tuning.max_parse_exceptions).unwrap_or(0),
            usize::try_from(tuning.max_saved_parse_exceptions).unwrap_or(0),
        ),
    ));
    let chat = toolbox
        .chat
        .as_ref()
        .map(|chat| chat.serve(id, progress.clone().routes()));
    if let Some(Err(e)) = &chat {
        warn(&format!("Live reports are not served: {e}"));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let outcome = tokio::select! {
        result = ingest(spec, progress.clone(), cancel.clone()) => result,
        _ = stop => {
            // The reading thread sees the flag at its next row and stops writing.
            cancel.store(true, Ordering::Relaxed);
            Err(TaskEnd::Stopped.status(id).error_msg.unwrap_or_default())
        }
    };
    if let Some(Ok(handle)) = chat {
        handle.abort();
    }
    let (status, published) = match outcome {
        Ok(published) => {
            progress.set_state(IngestionState::Completed);
            (TaskStatus::success(id), published)
        }
        Err(msg) => (TaskStatus::failure(id, msg), None),
    };
    let (key, report) = progress.completion_report(status.error_msg.as_deref(), published);
    TaskOutcome {
        status,
        reports: Map::from_iter([(key, report)]),
    }
}

/// Runs `spec`, the `index` spec of `task` (or one derived from it, a compaction's), to its
/// end.
pub(crate) async fn run_spec(
    task: &Task,
    facts: &BatchIngestSpec,
    spec: IngestionSpec,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
) -> TaskOutcome {
    run_ingestion_of(
        task,
        spec,
        toolbox,
        stop,
        |spec, progress, cancel| async move {
            ingest(task, facts, &spec, toolbox, &progress, &cancel)
                .await
                .map(Some)
        },
    )
    .await
}

/// Reads, builds, locks, names, pushes and publishes; the number of segments published.
async fn ingest(
    task: &Task,
    facts: &BatchIngestSpec,
    spec: &IngestionSpec,
    toolbox: &Toolbox,
    progress: &Arc<IngestionProgress>,
    cancel: &Arc<AtomicBool>,
) -> Result<u64, String> {
    let lock_type = facts.lock_type(task.context())?;
    let appending = facts.mode == IngestionMode::Append;
    // Locks taken at isReady: held already, asked again for their versions.
    let mut locks = match facts.intervals.is_empty() || appending {
        true => Vec::new(),
        false => {
            publish::lock_intervals(task, toolbox, lock_type, &facts.lock_intervals(), None).await?
        }
    };
    let local = build(spec, toolbox, progress, cancel).await?;
    let named = if appending {
        let (query, granularity) = submitted_granularities(task);
        publish::name_appended(task, toolbox, lock_type, &query, &granularity, &local).await?
    } else {
        if facts.intervals.is_empty() {
            // Druid's determined intervals: the chunks the rows fell in, locked now.
            let wait = lock_timeout_ms(task)?;
            let chunks = Interval::condense(local.iter().map(|s| s.bucket).collect());
            locks = publish::lock_intervals(task, toolbox, lock_type, &chunks, Some(wait)).await?;
        }
        publish::name_overwriting(task, &locks, &local)?
    };
    if cancel.load(Ordering::Relaxed) {
        return Err("Canceled".into());
    }
    let schema = SegmentSchemaMapping::of_rows(
        named
            .iter()
            .zip(&local)
            .map(|(segment, local)| (segment.id().to_string(), local.num_rows)),
    );
    let to_push = named
        .into_iter()
        .zip(local)
        .map(|(segment, local)| (segment, local.dir))
        .collect();
    let mut pushed = publish::Unpublished::new(toolbox);
    publish::push_all(&mut pushed, to_push)?;
    let mut to_publish = pushed.segments().to_vec();
    if facts.mode == IngestionMode::Replace {
        let chunks = facts.bucket_intervals();
        let tombstones =
            tombstones::tombstones(task, toolbox, &chunks, &locks, pushed.segments()).await?;
        info(&format!("Publishing [{}] tombstones", tombstones.len()));
        to_publish.extend(tombstones);
    }
    let published = publish::publish(toolbox, lock_type, to_publish, schema).await?;
    pushed.keep();
    // Druid's `segmentsPublished` counts segments with data.
    Ok(published.iter().filter(|s| !s.is_tombstone()).count() as u64)
}

/// Reads the input (all of it, or a sub-task's split) and writes its segments under
/// `work_dir`, counting into `progress`; stops at the next check once `cancel` is set. A
/// `druid` source whose files are not given yet reads the segments the Overlord lists now.
pub(crate) async fn build(
    spec: &IngestionSpec,
    toolbox: &Toolbox,
    progress: &Arc<IngestionProgress>,
    cancel: &Arc<AtomicBool>,
) -> Result<Vec<BuiltSegment>, String> {
    progress.set_state(IngestionState::BuildSegments);
    let mut spec = spec.clone();
    if let InputSourceSpec::Druid(druid) = &mut spec.io_config.input_source {
        if druid.files.is_none() {
            druid.files = Some(files_to_read(druid, toolbox).await?);
        }
    }
    let work_dir = &toolbox.work_dir;
    let built = {
        let (progress, cancel) = (progress.clone(), cancel.clone());
        let segments_dir = work_dir.join("segments");
        tokio::task::spawn_blocking(move || {
            pipeline::build_segments(BuildRequest {
                spec: &spec,
                input: &spec.io_config.input_source,
                work_dir: &segments_dir,
                meters: &progress.build_segments,
                parse_exceptions: &progress.parse_exceptions,
                cancel: &cancel,
            })
        })
        .await
        .map_err(|e| format!("The ingestion thread failed: {e}"))?
        .map_err(|e| e.to_string())?
    };
    let totals = progress.build_segments.totals();
    info(&format!(
        "Processed[{}] events, unparseable[{}], thrownAway[{}]; built [{}] segments.",
        totals.processed,
        totals.unparseable,
        totals.thrown_away,
        built.len()
    ));
    Ok(built)
}

/// The datasource's segments the druid source reads now, each with the windows where it
/// shows (Druid's `DruidInputSource` reads the timeline: a used segment partly overshadowed by
/// a newer version shows only where it is not); a split's, if it names its segments.
pub(crate) async fn segments_of(
    druid: &DruidInputSource,
    toolbox: &Toolbox,
) -> Result<Vec<(DataSegment, Vec<Interval>)>, String> {
    let mut segments: Vec<DataSegment> = toolbox
        .act(TaskAction::RetrieveUsedSegments {
            data_source: druid.data_source.clone(),
            intervals: vec![druid.interval],
            visibility: None,
        })
        .await?;
    segments.retain(|s| !s.is_tombstone());
    let mut visible = druid.visible(segments);
    if let Some(split) = &druid.segments {
        let mut by_id: HashMap<String, (DataSegment, Vec<Interval>)> = visible
            .into_iter()
            .map(|v| (v.0.id().to_string(), v))
            .collect();
        visible = split
            .iter()
            .map(|w| {
                by_id.remove(&w.segment_id).ok_or_else(|| {
                    format!(
                        "Segment [{}] of this split is no longer visible",
                        w.segment_id
                    )
                })
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(visible)
}

/// The files of the segments the druid source reads, with their windows.
async fn files_to_read(
    druid: &DruidInputSource,
    toolbox: &Toolbox,
) -> Result<Vec<SegmentFile>, String> {
    let segments = segments_of(druid, toolbox).await?;
    info(&format!(
        "Reading [{}] segments of [{}] in [{}]",
        segments.len(),
        druid.data_source,
        druid.interval
    ));
    segments
        .into_iter()
        .map(|(segment, windows)| {
            let path = toolbox
                .storage
                .readable_path(&segment)
                .map_err(|e| e.to_string())?;
            Ok(SegmentFile { path, windows })
        })
        .collect()
}

/// How long a task waits for a lock it takes while running (`taskLockTimeout`).
pub(crate) fn lock_timeout_ms(task: &Task) -> Result<u64, String> {
    match task.context().get("taskLockTimeout") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| "Task context [taskLockTimeout] must be a number".to_string()),
        None => Ok(DEFAULT_LOCK_TIMEOUT_MS),
    }
}

/// The query and segment granularities as submitted (`segmentAllocate` takes them so), with
/// Druid's defaults.
pub(crate) fn submitted_granularities(task: &Task) -> (Value, Value) {
    let json = task.to_json();
    let at = |pointer: &str, default: &str| {
        json.pointer(pointer)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| Value::String(default.into()))
    };
    (
        at("/spec/dataSchema/granularitySpec/queryGranularity", "NONE"),
        at("/spec/dataSchema/granularitySpec/segmentGranularity", "DAY"),
    )
}
