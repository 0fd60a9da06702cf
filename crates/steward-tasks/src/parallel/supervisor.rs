//! The `index_parallel` supervisor in parallel mode (Druid's `ParallelIndexSupervisorTask`):
//! it splits the input, runs a sub-task per split through the Overlord, and publishes the
//! segments they push all at once.
//!
//! With dynamic partitioning it runs one phase (Druid's `SinglePhaseParallelIndexTaskRunner`):
//! `single_phase_sub_task`s, whose segments the supervisor names as they ask. With hashed
//! partitioning (perfect rollup) it runs two (Druid's `PartialHashSegmentGenerateTaskRunner`
//! then `PartialGenericSegmentMergeTaskRunner`): `partial_index_generate` sub-tasks write each
//! split's rows as partial segments per time chunk and hash bucket under deep storage's
//! `shuffle-data/`; the supervisor numbers every chunk's buckets and deals the partitions out
//! to at most `totalNumMergeTasks` `partial_index_generic_merge` sub-tasks, which merge each
//! partition into its final segment. The partials are deleted when the supervisor ends,
//! whatever the outcome.
//!
//! One loop owns all the state ([`TaskMonitor`], [`SegmentAllocator`]): it starts sub-tasks
//! while slots are free, checks the running ones' status every `taskStatusCheckPeriodMs`
//! (retrying a failed split), and answers its chat handler, whose endpoints only pass requests
//! to it (`segment/allocate`, `report`, live reports and progress). When every split has
//! succeeded, the segments of the attempts that succeeded are published in one transaction.
//! If a split runs out of attempts, the publish fails, or the supervisor is stopped, the
//! running sub-tasks are shut down, nothing is published and the reported files are removed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use steward_http::error_body;
use steward_ingest::input::InputSourceSpec;
use steward_ingest::spec::IngestionSpec;
use steward_model::end::TaskEnd;
use steward_model::time::parse_instant;
use steward_model::{
    BatchIngestSpec, DataSegment, IngestionMode, SegmentIdWithShardSpec, SegmentSchemaMapping,
    Task, TaskLocation, TaskLockType, TaskStatus,
};
use tokio::sync::{mpsc, oneshot};

use super::allocator::{close_chunks, SegmentAllocator};
use super::monitor::{Change, Phase, Submission, TaskMonitor};
use super::overlord;
use super::partitions::{merge_assignments, GeneratedPartitionsReport};
use super::report::{PushedSegmentsReport, RowStats, SubTaskReport};
use super::sub_task_spec;
use super::supervisor_client::{SegmentAllocationRequest, ALLOCATE_PATH, REPORT_PATH};
use crate::index::{self, publish, IngestionState, REPORT_KEY};
use crate::log::{error, info, warn};
use crate::{TaskOutcome, Toolbox};

/// Druid's names of the phases, in their failure messages.
const SINGLE_PHASE: &str = "segment generation";
const GENERATE_PHASE: &str = "partial segment generation";
const MERGE_PHASE: &str = "partial segment merge";

/// How long an abandoned two-phase supervisor waits for its shut-down sub-tasks to end, and
/// how often it asks.
const SUB_TASK_END_WAIT: Duration = Duration::from_secs(30);
const SUB_TASK_END_POLL: Duration = Duration::from_millis(250);

/// How soon the supervisor asks again about a sub-task that has reported.
const REPORTED_CHECK: Duration = Duration::from_millis(50);

/// How long the supervisor waits for a running sub-task's live report.
const LIVE_REPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Chat requests waiting for the loop.
const PENDING_REQUESTS: usize = 64;

type ChatError = (StatusCode, String);

/// What the chat handler asks of the loop.
enum ChatRequest {
    Allocate(
        SegmentAllocationRequest,
        oneshot::Sender<Result<SegmentIdWithShardSpec, ChatError>>,
    ),
    Report(SubTaskReport, oneshot::Sender<Result<(), ChatError>>),
    Stats(oneshot::Sender<RowStats>),
    Progress(oneshot::Sender<Value>),
    Phase(oneshot::Sender<&'static str>),
}

/// Runs the supervisor of `task` in parallel mode to its end.
pub(crate) async fn run(
    task: &Task,
    facts: &BatchIngestSpec,
    spec: &IngestionSpec,
    toolbox: &Toolbox,
    stop: impl Future<Output = ()>,
) -> TaskOutcome {
    let id = task.id();
    let (sender, mut requests) = mpsc::channel(PENDING_REQUESTS);
    let server = toolbox
        .chat
        .as_ref()
        .ok_or_else(|| {
            "An index_parallel task running sub-tasks serves them a chat handler, and its \
             MiddleManager gave it no port"
                .to_string()
        })
        .and_then(|chat| chat.serve(id, routes(id, sender)));
    let server = match server {
        Ok(server) => server,
        Err(e) => return end(task, Err(e), &RowStats::default()),
    };
    let mut stop = pin!(stop);
    let outcome = match Supervisor::new(task, facts, spec, toolbox).await {
        Err(e) => end(task, Err(e), &RowStats::default()),
        Ok(mut supervisor) => {
            let published = supervisor.run(&mut requests, stop.as_mut()).await;
            if published.is_err() {
                supervisor.abandon().await;
            }
            if supervisor.two_phase {
                supervisor.delete_partials();
            }
            end(task, published, &supervisor.row_stats())
        }
    };
    server.abort();
    outcome
}

/// The status and the completion report.
fn end(task: &Task, published: Result<u64, String>, stats: &RowStats) -> TaskOutcome {
    let id = task.id();
    let (status, published) = match published {
        Ok(n) => (TaskStatus::success(id), Some(n)),
        Err(e) => (TaskStatus::failure(id, e), None),
    };
    let report = stats.report(
        id,
        IngestionState::Completed,
        status.error_msg.as_deref(),
        published,
        true,
    );
    TaskOutcome {
        status,
        reports: Map::from_iter([(REPORT_KEY.to_string(), report)]),
    }
}

struct Supervisor<'a> {
    task: &'a Task,
    toolbox: &'a Toolbox,
    spec: &'a IngestionSpec,
    lock_type: TaskLockType,
    appending: bool,
    /// The query and segment granularities as submitted, for `segmentAllocate`.
    granularities: (Value, Value),
    lock_timeout_ms: u64,
    /// Hashed partitioning: partial segments first, then their merge.
    two_phase: bool,
    /// The monitor of the phase running now.
    monitor: TaskMonitor,
    /// The first phase's reports, once the merge runs: their row counts are the ingestion's.
    generated: Vec<SubTaskReport>,
    allocator: SegmentAllocator,
    /// Whether the last status check got every answer: only then is a reported sub-task
    /// asked about again before the period is out.
    overlord_answers: bool,
    /// The last known location of each running sub-task, for their live reports.
    locations: HashMap<String, TaskLocation>,
}

impl<'a> Supervisor<'a> {
    /// Confirms the locks taken at `isReady` (their versions name the segments) and splits
    /// the input.
    async fn new(
        task: &'a Task,
        facts: &BatchIngestSpec,
        spec: &'a IngestionSpec,
        toolbox: &'a Toolbox,
    ) -> Result<Supervisor<'a>, String> {
        let lock_type = facts.lock_type(task.context())?;
        let appending = facts.mode == IngestionMode::Append;
        let locks = match facts.intervals.is_empty() || appending {
            true => Vec::new(),
            false => {
                publish::lock_intervals(task, toolbox, lock_type, &facts.lock_intervals(), None)
                    .await?
            }
        };
        let tuning = &spec.tuning_config;
        let hint = &tuning.split_hint_spec;
        let splits = match &spec.io_config.input_source {
            InputSourceSpec::Druid(druid) => {
                druid.split_segments(&index::segments_of(druid, toolbox).await?, hint)
            }
            input => input
                .splits(hint)
                .map_err(|e| format!("Cannot split the input source: {e}"))?,
        };
        let two_phase = tuning.force_guaranteed_rollup;
        let (phase, sub_task_type) = match two_phase {
            true => (GENERATE_PHASE, "partial_index_generate"),
            false => (SINGLE_PHASE, "single_phase_sub_task"),
        };
        let specs = sub_task_spec::specs(task, &splits, sub_task_type)?;
        info(&format!(
            "Split the input into [{}] sub-task specs; running up to [{}] at a time",
            specs.len(),
            tuning.max_num_concurrent_sub_tasks
        ));
        Ok(Supervisor {
            task,
            toolbox,
            spec,
            lock_type,
            appending,
            granularities: index::submitted_granularities(task),
            lock_timeout_ms: index::lock_timeout_ms(task)?,
            two_phase,
            generated: Vec::new(),
            monitor: TaskMonitor::new(
                phase,
                specs,
                usize::try_from(tuning.max_num_concurrent_sub_tasks).unwrap_or(1),
                u32::try_from(tuning.max_retry).unwrap_or(0),
            ),
            allocator: SegmentAllocator::new(
                task.data_source(),
                spec.data_schema.granularity_spec.clone(),
                &locks,
            ),
            locations: HashMap::new(),
            overlord_answers: true,
        })
    }

    /// Runs the phases, then publishes; the number of segments published.
    async fn run(
        &mut self,
        requests: &mut mpsc::Receiver<ChatRequest>,
        mut stop: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<u64, String> {
        self.run_phase(requests, stop.as_mut()).await?;
        if self.two_phase {
            unless_stopped(stop.as_mut(), self.start_merge())
                .await
                .ok_or_else(|| {
                    TaskEnd::Stopped
                        .status(self.task.id())
                        .error_msg
                        .unwrap_or_default()
                })??;
            self.run_phase(requests, stop).await?;
        }
        // The publish is one transaction: it is not interrupted halfway.
        self.publish().await
    }

    /// Between the phases: keeps the first phase's reports, locks the chunks the rows fell
    /// in when the spec names no intervals, and sets up the merge phase.
    async fn start_merge(&mut self) -> Result<(), String> {
        self.generated = self.monitor.succeeded_reports().cloned().collect();
        let generated: Vec<&GeneratedPartitionsReport> = self
            .generated
            .iter()
            .filter_map(|r| match r {
                SubTaskReport::Generated(g) => Some(g),
                SubTaskReport::Pushed(_) => None,
            })
            .collect();
        if self.spec.data_schema.granularity_spec.intervals.is_empty() {
            // Druid's determined intervals: the chunks the rows fell in, locked now.
            let mut chunks: Vec<_> = generated
                .iter()
                .flat_map(|r| r.partition_stats.iter().map(|s| s.interval))
                .collect();
            chunks.sort();
            chunks.dedup();
            publish::lock_intervals(
                self.task,
                self.toolbox,
                self.lock_type,
                &chunks,
                Some(self.lock_timeout_ms),
            )
            .await?;
        }
        let tuning = &self.spec.tuning_config;
        let assignments = merge_assignments(
            generated,
            usize::try_from(tuning.total_num_merge_tasks).unwrap_or(1),
        );
        let partitions: usize = assignments.iter().map(Vec::len).sum();
        let specs = sub_task_spec::merge_specs(self.task, assignments);
        info(&format!(
            "Phase[{GENERATE_PHASE}] succeeded: [{partitions}] partial segments go to [{}] merge sub-task specs",
            specs.len()
        ));
        self.monitor = TaskMonitor::new(
            MERGE_PHASE,
            specs,
            usize::try_from(tuning.max_num_concurrent_sub_tasks).unwrap_or(1),
            u32::try_from(tuning.max_retry).unwrap_or(0),
        );
        Ok(())
    }

    /// The row counts of the sub-tasks that succeeded (a merge sub-task reports none).
    fn row_stats(&self) -> RowStats {
        RowStats::of_reports(
            self.generated
                .iter()
                .chain(self.monitor.succeeded_reports()),
        )
    }

    /// Best effort: the partial segments of a two-phase ingestion, once it has ended.
    fn delete_partials(&self) {
        if let Err(e) = self.toolbox.storage.delete_partials(self.task.id()) {
            warn(&format!("Cannot delete the partial segments: {e}"));
        }
    }

    async fn run_phase(
        &mut self,
        requests: &mut mpsc::Receiver<ChatRequest>,
        mut stop: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), String> {
        let stopped = || {
            TaskEnd::Stopped
                .status(self.task.id())
                .error_msg
                .unwrap_or_default()
        };
        let period = u64::try_from(self.spec.tuning_config.task_status_check_period_ms)
            .unwrap_or(0)
            .max(1);
        let mut ticker = tokio::time::interval(Duration::from_millis(period));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            while let Some(submission) = self.monitor.next_submission() {
                unless_stopped(stop.as_mut(), self.start(submission))
                    .await
                    .ok_or_else(stopped)??;
            }
            match self.monitor.phase() {
                Phase::Succeeded => return Ok(()),
                Phase::Failed(e) => return Err(e),
                Phase::Running => {}
            }
            tokio::select! {
                _ = stop.as_mut() => return Err(stopped()),
                Some(request) = requests.recv() => {
                    unless_stopped(stop.as_mut(), self.answer(request))
                        .await
                        .ok_or_else(stopped)?;
                }
                // A sub-task that reported is about to end: asked again soon rather than at
                // the next period, so the next one starts without waiting out the period.
                _ = tokio::time::sleep(REPORTED_CHECK),
                    if self.overlord_answers && self.monitor.awaiting_end() => {
                    unless_stopped(stop.as_mut(), self.check_statuses())
                        .await
                        .ok_or_else(stopped)??;
                }
                _ = ticker.tick() => {
                    unless_stopped(stop.as_mut(), self.check_statuses())
                        .await
                        .ok_or_else(stopped)??;
                }
            }
        }
    }

    /// Submits an attempt of a spec to the Overlord.
    async fn start(&mut self, submission: Submission) -> Result<(), String> {
        let spec = self.monitor.spec(submission);
        let spec_id = spec.id.clone();
        let sub_task = spec.new_sub_task(self.task, submission.num_attempts)?;
        overlord::submit(self.toolbox, &sub_task).await?;
        info(&format!(
            "Submitted sub-task[{}] for spec[{spec_id}], attempt [{}]",
            sub_task.id(),
            submission.num_attempts + 1
        ));
        self.monitor.started(submission, sub_task.id());
        Ok(())
    }

    /// Asks the Overlord about each running sub-task and acts on what ended. A status the
    /// Overlord cannot give now is asked again at the next check.
    async fn check_statuses(&mut self) -> Result<(), String> {
        let running: Vec<String> = self
            .monitor
            .running_task_ids()
            .map(str::to_string)
            .collect();
        self.overlord_answers = true;
        for task_id in running {
            let status = match overlord::status(self.toolbox, &task_id).await {
                Ok(status) => status,
                Err(e) => {
                    warn(&format!("Cannot check sub-task[{task_id}]: {e}"));
                    self.overlord_answers = false;
                    continue;
                }
            };
            self.locations.insert(task_id.clone(), status.location);
            let change = self.monitor.status_changed(&task_id, status.status_code);
            if change != Change::None {
                self.locations.remove(&task_id);
            }
            let why = status.error_msg.as_deref().unwrap_or("no error message");
            match change {
                Change::None => {}
                Change::Succeeded { spec_id } => {
                    self.allocator.forget(&spec_id);
                    info(&format!("Sub-task[{task_id}] succeeded spec[{spec_id}]"));
                }
                Change::Retry(submission) => {
                    warn(&format!(
                        "Sub-task[{task_id}] failed ({why}); retrying its spec"
                    ));
                    self.start(submission).await?;
                }
                Change::Exhausted => {
                    error(&format!(
                        "Sub-task[{task_id}] failed ({why}) and its spec has no attempts left"
                    ));
                }
            }
        }
        Ok(())
    }

    async fn answer(&mut self, request: ChatRequest) {
        match request {
            ChatRequest::Allocate(request, reply) => {
                let allocated = self.allocate(request).await;
                if let Err((_, e)) = &allocated {
                    warn(&format!("Refused a segment allocation: {e}"));
                }
                let _ = reply.send(allocated);
            }
            ChatRequest::Report(report, reply) => {
                match &report {
                    SubTaskReport::Pushed(r) => info(&format!(
                        "Sub-task[{}] reported [{}] pushed segments",
                        r.task_id,
                        r.segments.len()
                    )),
                    SubTaskReport::Generated(r) => info(&format!(
                        "Sub-task[{}] reported [{}] partial segments",
                        r.task_id,
                        r.partition_stats.len()
                    )),
                }
                let collected = self.monitor.collect_report(report);
                let _ = reply.send(collected.map_err(|e| (StatusCode::BAD_REQUEST, e)));
            }
            ChatRequest::Stats(reply) => {
                // Running sub-tasks are asked apart from the loop, which goes on meanwhile.
                let stats = self.row_stats();
                let urls: Vec<String> = self
                    .monitor
                    .running_task_ids()
                    .filter_map(|id| {
                        let base = self.toolbox.peers.base_url(self.locations.get(id)?, id)?;
                        Some(format!("{base}/liveReports"))
                    })
                    .collect();
                let http = self.toolbox.peers.http().clone();
                tokio::spawn(async move {
                    let _ = reply.send(live_stats(&http, stats, urls).await);
                });
            }
            ChatRequest::Progress(reply) => {
                let _ = reply.send(self.monitor.progress());
            }
            ChatRequest::Phase(reply) => {
                let _ = reply.send(self.monitor.phase_name());
            }
        }
    }

    /// Druid's `allocateNewSegment`: the supervisor numbers an overwriting ingestion's
    /// segments itself, and asks the Overlord for an appending one's.
    async fn allocate(
        &mut self,
        request: SegmentAllocationRequest,
    ) -> Result<SegmentIdWithShardSpec, ChatError> {
        let bad_request = |e: String| (StatusCode::BAD_REQUEST, e);
        let failed = |e: String| (StatusCode::INTERNAL_SERVER_ERROR, e);
        let timestamp = parse_instant(&request.timestamp).map_err(bad_request)?;
        if self.appending {
            let bucket = self
                .spec
                .data_schema
                .granularity_spec
                .bucket_interval(timestamp.as_millisecond())
                .ok_or_else(|| {
                    bad_request(format!(
                        "Could not find interval for timestamp [{}]",
                        request.timestamp
                    ))
                })?;
            let (query, segment) = &self.granularities;
            return publish::allocate_appended(
                self.task,
                self.toolbox,
                self.lock_type,
                (query, segment),
                bucket,
                &request.sequence_name,
                request.prev_segment_id,
            )
            .await
            .map_err(failed);
        }
        let (bucket, lock_first) = self.allocator.bucket(timestamp).map_err(bad_request)?;
        if lock_first {
            let locks = publish::lock_intervals(
                self.task,
                self.toolbox,
                self.lock_type,
                &[bucket],
                Some(self.lock_timeout_ms),
            )
            .await
            .map_err(failed)?;
            for lock in &locks {
                self.allocator.add_lock(lock);
            }
        }
        self.allocator
            .allocate(
                bucket,
                &request.sequence_name,
                request.prev_segment_id.as_deref(),
            )
            .map_err(bad_request)
    }

    /// Publishes every segment the successful attempts reported, in one transaction; an
    /// overwriting ingestion's chunks close with their count as core partitions.
    async fn publish(&self) -> Result<u64, String> {
        let segments: Vec<DataSegment> = pushed(self.monitor.succeeded_reports())
            .flat_map(|r| r.segments.iter().cloned())
            .collect();
        let mut schema = SegmentSchemaMapping::of_rows([]);
        for report in pushed(self.monitor.succeeded_reports()) {
            if let Some(mapping) = &report.segment_schema_mapping {
                schema.merge(mapping);
            }
        }
        if segments.is_empty() {
            info("No segments to publish");
            return Ok(0);
        }
        let segments = match self.appending {
            true => segments,
            false => close_chunks(segments)?,
        };
        let published = publish::publish(self.toolbox, self.lock_type, segments, schema).await?;
        Ok(published.len() as u64)
    }

    /// After a failure or a stop: shuts the running sub-tasks down (Druid's
    /// `TaskMonitor.stop`) and removes the files of every reported segment. In a two-phase
    /// ingestion it waits (a while) for them to end, since one still running could push a
    /// partial segment after the supervisor deleted them.
    async fn abandon(&mut self) {
        let running: Vec<String> = self
            .monitor
            .running_task_ids()
            .map(str::to_string)
            .collect();
        for task_id in &running {
            info(&format!("Shutting down sub-task[{task_id}]"));
            if let Err(e) = overlord::shutdown(self.toolbox, task_id).await {
                warn(&e);
            }
        }
        if self.two_phase {
            let deadline = tokio::time::Instant::now() + SUB_TASK_END_WAIT;
            for task_id in &running {
                while !overlord::status(self.toolbox, task_id)
                    .await
                    .is_ok_and(|s| s.status_code.is_complete())
                {
                    if tokio::time::Instant::now() >= deadline {
                        warn(&format!(
                            "Sub-task[{task_id}] has not ended; a partial segment it pushes later stays in deep storage"
                        ));
                        break;
                    }
                    tokio::time::sleep(SUB_TASK_END_POLL).await;
                }
            }
        }
        let reported: Vec<DataSegment> = pushed(self.monitor.all_reports())
            .flat_map(|r| r.segments.iter().cloned())
            .collect();
        publish::remove_pushed(self.toolbox, &reported);
    }
}

/// The reports of pushed segments among `reports`.
fn pushed<'a>(
    reports: impl Iterator<Item = &'a SubTaskReport>,
) -> impl Iterator<Item = &'a PushedSegmentsReport> {
    reports.filter_map(|r| match r {
        SubTaskReport::Pushed(p) => Some(p),
        SubTaskReport::Generated(_) => None,
    })
}

/// `work`, unless `stop` comes first.
async fn unless_stopped<T>(
    stop: Pin<&mut impl Future<Output = ()>>,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        _ = stop => None,
    }
}

/// `stats` plus the live reports at `urls`; a sub-task that does not answer adds nothing.
async fn live_stats(http: &reqwest::Client, mut stats: RowStats, urls: Vec<String>) -> RowStats {
    for url in urls {
        let live = async {
            let response = http
                .get(&url)
                .timeout(LIVE_REPORT_TIMEOUT)
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())?;
            response.json::<Value>().await.ok()
        };
        if let Some(reports) = live.await {
            stats.add_live(&reports);
        }
    }
    stats
}

// ----- chat handler -------------------------------------------------------------------------

#[derive(Clone)]
struct ChatState {
    task_id: Arc<str>,
    requests: mpsc::Sender<ChatRequest>,
}

/// The supervisor's endpoints under its chat path.
fn routes(task_id: &str, requests: mpsc::Sender<ChatRequest>) -> Router {
    Router::new()
        .route(ALLOCATE_PATH, post(allocate))
        .route(REPORT_PATH, post(report))
        .route("/liveReports", get(live_reports))
        .route("/rowStats", get(row_stats))
        .route("/progress", get(progress))
        .route("/phase", get(phase))
        .route("/mode", get(|| async { "parallel" }))
        .with_state(ChatState {
            task_id: task_id.into(),
            requests,
        })
}

/// Passes a request to the loop and waits for its answer.
async fn ask<T>(
    state: &ChatState,
    request: impl FnOnce(oneshot::Sender<T>) -> ChatRequest,
) -> Result<T, Response> {
    let not_running = || {
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "The supervisor is not running its sub-tasks now",
        )
    };
    let (reply, answer) = oneshot::channel();
    state
        .requests
        .send(request(reply))
        .await
        .map_err(|_| not_running())?;
    answer.await.map_err(|_| not_running())
}

fn error_response(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        error_body(message),
    )
        .into_response()
}

fn answered<T: serde::Serialize>(answer: Result<Result<T, ChatError>, Response>) -> Response {
    match answer {
        Err(response) => response,
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err((status, message))) => error_response(status, &message),
    }
}

async fn allocate(
    State(s): State<ChatState>,
    Json(request): Json<SegmentAllocationRequest>,
) -> Response {
    answered(ask(&s, |reply| ChatRequest::Allocate(request, reply)).await)
}

async fn report(State(s): State<ChatState>, Json(report): Json<SubTaskReport>) -> Response {
    answered(ask(&s, |reply| ChatRequest::Report(report, reply)).await)
}

async fn live_reports(State(s): State<ChatState>) -> Response {
    match ask(&s, ChatRequest::Stats).await {
        Err(response) => response,
        Ok(stats) => {
            let report = stats.report(&s.task_id, IngestionState::BuildSegments, None, None, false);
            Json(json!({ REPORT_KEY: report })).into_response()
        }
    }
}

async fn row_stats(State(s): State<ChatState>) -> Response {
    match ask(&s, ChatRequest::Stats).await {
        Err(response) => response,
        Ok(stats) => Json(stats.row_stats()).into_response(),
    }
}

async fn phase(State(s): State<ChatState>) -> Response {
    match ask(&s, ChatRequest::Phase).await {
        Err(response) => response,
        Ok(name) => Json(name).into_response(),
    }
}

async fn progress(State(s): State<ChatState>) -> Response {
    match ask(&s, ChatRequest::Progress).await {
        Err(response) => response,
        Ok(progress) => Json(progress).into_response(),
    }
}
