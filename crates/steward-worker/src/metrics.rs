//! The MiddleManager's metrics: what `GET /metrics` on its port serves.
//!
//! Recorded as they happen, in the worker's own registry (each MiddleManager has one, so the
//! MiddleManagers of one quickstart process each show their own figures): the ends of the
//! tasks run here (`worker/task/success|failed/count`, labelled with the worker's category and
//! version as Druid's `WorkerTaskCountStatsMonitor` labels them). Computed for each scrape:
//! the task slots, and the ingestion counters of each task (`ingest/events/processed`, ...,
//! labelled with its datasource, id and type).
//!
//! A task's ingestion counters are its peon's (`RowIngestionMeters`): while it runs, each
//! scrape asks its chat handler for `rowStats` (with a short timeout; a peon that does not
//! answer in time is left out of that scrape); when it ends, the totals of its report are
//! kept, for [`FINISHED_KEPT`], so that the last scrapes of a task see its final figures.
//! After that its series go, as they do from Druid's Prometheus emitter after its TTL: one
//! series per task must not grow without bound on a MiddleManager that runs tasks for months.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Deserialize;
use serde_json::Value;
use steward_http::path_segment;
use steward_metrics::catalogue::{
    MetricDef, INGEST_EVENTS_PROCESSED, INGEST_EVENTS_PROCESSED_WITH_ERROR,
    INGEST_EVENTS_THROWN_AWAY, INGEST_EVENTS_UNPARSEABLE, INGEST_INPUT_BYTES,
    WORKER_TASK_FAILED_COUNT, WORKER_TASK_SLOT_IDLE_COUNT, WORKER_TASK_SLOT_TOTAL_COUNT,
    WORKER_TASK_SLOT_USED_COUNT, WORKER_TASK_SUCCESS_COUNT,
};
use steward_metrics::{Metrics, Scrape};
use steward_model::{Task, TaskState};

use crate::config::WorkerConfig;
use crate::requests::View;

/// How long a finished task's ingestion counters stay in the scrapes.
pub(crate) const FINISHED_KEPT: Duration = Duration::from_secs(600);
/// How long a scrape waits for a running peon's `rowStats`.
const PEON_TIMEOUT: Duration = Duration::from_secs(2);

/// One MiddleManager's metrics.
#[derive(Debug)]
pub(crate) struct WorkerMetrics {
    registry: Metrics,
    /// Druid's `category` and `workerVersion` dimensions: the configured ones.
    labels: [String; 2],
    capacity: u32,
    /// The host peons are reached on.
    peon_host: String,
    /// Calls peons' chat handlers with the internal client's credentials.
    chat: reqwest::Client,
    chat_scheme: &'static str,
    finished: Mutex<HashMap<String, Finished>>,
}

/// What scrapes show of a task that ended here.
#[derive(Debug)]
struct Finished {
    data_source: String,
    task_type: String,
    rows: RowTotals,
    at: Instant,
}

/// Druid's `RowIngestionMeters` totals of the `buildSegments` phase.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RowTotals {
    processed: u64,
    processed_bytes: u64,
    processed_with_error: u64,
    thrown_away: u64,
    unparseable: u64,
}

impl RowTotals {
    fn figures(&self) -> [(&'static MetricDef, u64); 5] {
        [
            (&INGEST_EVENTS_PROCESSED, self.processed),
            (
                &INGEST_EVENTS_PROCESSED_WITH_ERROR,
                self.processed_with_error,
            ),
            (&INGEST_EVENTS_UNPARSEABLE, self.unparseable),
            (&INGEST_EVENTS_THROWN_AWAY, self.thrown_away),
            (&INGEST_INPUT_BYTES, self.processed_bytes),
        ]
    }

    /// The totals in a task's final report (`ingestionStatsAndErrors`), if it has them.
    fn of_report(report: &[u8]) -> Option<RowTotals> {
        let report: Value = serde_json::from_slice(report).ok()?;
        let stats = &report["ingestionStatsAndErrors"]["payload"]["rowStats"]["buildSegments"];
        RowTotals::deserialize(stats).ok()
    }

    /// The totals in a running peon's `rowStats` answer.
    fn of_row_stats(row_stats: &Value) -> Option<RowTotals> {
        RowTotals::deserialize(&row_stats["totals"]["buildSegments"]).ok()
    }
}

impl WorkerMetrics {
    pub(crate) fn new(config: &WorkerConfig) -> Result<WorkerMetrics, reqwest::Error> {
        let chat = config
            .internal_client
            .builder()
            .timeout(PEON_TIMEOUT)
            .build()?;
        Ok(WorkerMetrics {
            registry: config.metrics.clone(),
            labels: [config.category.clone(), config.version.clone()],
            capacity: config.capacity,
            peon_host: config.host.clone(),
            chat,
            chat_scheme: if config.peon.chat.tls.is_some() {
                "https"
            } else {
                "http"
            },
            finished: Mutex::new(HashMap::new()),
        })
    }

    /// A task ended here with `state`; `report` is its final report, if it wrote one.
    pub(crate) fn task_ended(&self, task: &Task, state: TaskState, report: Option<&[u8]>) {
        let labels = [self.labels[0].as_str(), self.labels[1].as_str()];
        match state {
            TaskState::Success => self.registry.count(&WORKER_TASK_SUCCESS_COUNT, &labels, 1),
            TaskState::Failed => self.registry.count(&WORKER_TASK_FAILED_COUNT, &labels, 1),
            TaskState::Running => return,
        }
        if let Some(rows) = report.and_then(RowTotals::of_report) {
            let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
            finished.retain(|_, f| f.at.elapsed() < FINISHED_KEPT);
            finished.insert(
                task.id().to_string(),
                Finished {
                    data_source: task.data_source().to_string(),
                    task_type: task.task_type().to_string(),
                    rows,
                    at: Instant::now(),
                },
            );
        }
    }

    /// The Prometheus text of one scrape: the registry, the slots of `view` and the
    /// ingestion counters of the tasks running and recently finished.
    pub(crate) async fn render(&self, view: View) -> String {
        let scrape = Scrape::new();
        let labels = [self.labels[0].as_str(), self.labels[1].as_str()];
        let used = u32::try_from(view.running.len()).unwrap_or(u32::MAX);
        scrape.gauge(
            &WORKER_TASK_SLOT_TOTAL_COUNT,
            &labels,
            f64::from(self.capacity),
        );
        scrape.gauge(&WORKER_TASK_SLOT_USED_COUNT, &labels, f64::from(used));
        let idle = self.capacity.saturating_sub(used);
        scrape.gauge(&WORKER_TASK_SLOT_IDLE_COUNT, &labels, f64::from(idle));

        let host = &self.peon_host;
        let live = join_all(view.running.iter().map(|task| async move {
            let port = task.port?;
            let url = format!(
                "{}://{host}:{port}/druid/worker/v1/chat/{}/rowStats",
                self.chat_scheme,
                path_segment(&task.id)
            );
            let answer = self.chat.get(url).send().await.ok()?;
            let body: Value = answer.error_for_status().ok()?.json().await.ok()?;
            Some((task, RowTotals::of_row_stats(&body)?))
        }))
        .await;
        let mut shown = Vec::new();
        {
            let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
            finished.retain(|_, f| f.at.elapsed() < FINISHED_KEPT);
            for (id, f) in finished.iter() {
                shown.push((
                    id.clone(),
                    f.data_source.clone(),
                    f.task_type.clone(),
                    f.rows,
                ));
            }
        }
        // A task that has just ended may still be listed as running: its report wins.
        for (task, rows) in live.into_iter().flatten() {
            if !shown.iter().any(|(id, ..)| *id == task.id) {
                let (ds, ty) = (task.data_source.clone(), task.task_type.clone());
                shown.push((task.id.clone(), ds, ty, rows));
            }
        }
        for (id, ds, ty, rows) in &shown {
            for (def, value) in rows.figures() {
                scrape.counter(def, &[ds, id, ty], value);
            }
        }
        self.registry.render(scrape)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::RowTotals;

    #[test]
    fn reads_row_totals_from_final_reports_and_live_row_stats() {
        let totals = json!({"processed": 7, "processedBytes": 70, "processedWithError": 1,
            "thrownAway": 2, "unparseable": 3});
        let report = json!({"ingestionStatsAndErrors": {"payload": {"rowStats":
            {"buildSegments": totals}}}});
        let from_report = RowTotals::of_report(report.to_string().as_bytes()).unwrap();
        let live = RowTotals::of_row_stats(&json!({"totals": {"buildSegments": totals}})).unwrap();
        for rows in [from_report, live] {
            let figures: Vec<u64> = rows.figures().iter().map(|(_, v)| *v).collect();
            assert_eq!(figures, [7, 1, 3, 2, 70]);
        }
        // A report of a task that ingests nothing (kill) has none.
        assert!(RowTotals::of_report(br#"{"killUnusedSegments": {}}"#).is_none());
    }
}
