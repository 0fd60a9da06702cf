//! What an ingestion task tells about itself: Druid's `ingestionStatsAndErrors` report when it
//! ends, and the same live while it runs (`rowStats`, `unparseableEvents`, `liveReports` on
//! its chat handler).
//!
//! One [`IngestionProgress`] is shared by the thread that ingests (it counts rows), the chat
//! handler (it reads them at any time) and the task (it moves the state and writes the final
//! report), so the live view and the report cannot disagree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};
use steward_ingest::meters::{ParseExceptionHandler, RowIngestionMeters};

/// Druid's report key.
pub(crate) const REPORT_KEY: &str = "ingestionStatsAndErrors";
const BUILD_SEGMENTS: &str = "buildSegments";
const DETERMINE_PARTITIONS: &str = "determinePartitions";

/// Druid's `IngestionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum IngestionState {
    NotStarted,
    DeterminePartitions,
    BuildSegments,
    Completed,
}

/// The counters, saved bad rows and state of one ingestion.
#[derive(Debug)]
pub(crate) struct IngestionProgress {
    task_id: String,
    /// Steward reads its input once; Druid's report still has the phase, with zeros.
    determine_partitions: RowIngestionMeters,
    pub(crate) build_segments: RowIngestionMeters,
    pub(crate) parse_exceptions: ParseExceptionHandler,
    state: Mutex<IngestionState>,
}

impl IngestionProgress {
    pub(crate) fn new(task_id: &str, parse_exceptions: ParseExceptionHandler) -> Self {
        IngestionProgress {
            task_id: task_id.to_string(),
            determine_partitions: RowIngestionMeters::default(),
            build_segments: RowIngestionMeters::default(),
            parse_exceptions,
            state: Mutex::new(IngestionState::NotStarted),
        }
    }

    pub(crate) fn set_state(&self, state: IngestionState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    pub(crate) fn state(&self) -> IngestionState {
        *self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Druid's `rowStats`: totals and moving averages of the phases reached (all with `full`).
    pub(crate) fn row_stats(&self, full: bool) -> Value {
        let now = Instant::now();
        let (mut totals, mut averages) = (Map::new(), Map::new());
        for (name, meters, shown) in self.phases(full) {
            if shown {
                totals.insert(name.into(), json!(meters.totals()));
                averages.insert(name.into(), meters.moving_averages(now));
            }
        }
        json!({"movingAverages": averages, "totals": totals})
    }

    /// Druid's `unparseableEvents` while running: the saved bad rows of the phases reached.
    pub(crate) fn unparseable_events(&self, full: bool) -> Value {
        let mut events = Map::new();
        for (name, _, shown) in self.phases(full) {
            if shown {
                let saved = match name {
                    BUILD_SEGMENTS => json!(self.parse_exceptions.saved()),
                    _ => json!(self.parse_exceptions.saved().map(|_| Vec::<Value>::new())),
                };
                events.insert(name.into(), saved);
            }
        }
        Value::Object(events)
    }

    /// How far through its input the task is (Steward's addition to the live report): bytes
    /// read as stored, and the input's size when known.
    fn input_progress(&self) -> Value {
        let (read, total) = self.build_segments.input_progress();
        json!({"bytesRead": read, "bytesTotal": total})
    }

    /// Druid's live report: the state, the saved bad rows and the row stats so far.
    pub(crate) fn live_reports(&self, full: bool) -> Value {
        let payload = json!({
            "ingestionState": self.state(),
            "unparseableEvents": self.completion_unparseable_events(),
            "rowStats": self.row_stats(full),
            "inputProgress": self.input_progress(),
            "errorMsg": null,
            "segmentAvailabilityConfirmed": false,
            "segmentAvailabilityWaitTimeMs": 0,
            "recordsProcessed": null,
            "segmentsRead": null,
            "segmentsPublished": null,
        });
        json!({ REPORT_KEY: self.report(payload) })
    }

    /// The report the task leaves when it ends.
    pub(crate) fn completion_report(
        &self,
        error: Option<&str>,
        segments_published: Option<u64>,
    ) -> (String, Value) {
        let totals: Map<String, Value> = self
            .phases(true)
            .map(|(name, meters, _)| (name.to_string(), json!(meters.totals())))
            .collect();
        let payload = json!({
            "ingestionState": self.state(),
            "unparseableEvents": self.completion_unparseable_events(),
            "rowStats": totals,
            "errorMsg": error,
            "segmentAvailabilityConfirmed": false,
            "segmentAvailabilityWaitTimeMs": 0,
            "recordsProcessed": {},
            "segmentsRead": null,
            "segmentsPublished": segments_published,
        });
        (REPORT_KEY.to_string(), self.report(payload))
    }

    /// The chat handler's routes of this ingestion.
    pub(crate) fn routes(self: Arc<Self>) -> Router {
        Router::new()
            .route("/rowStats", get(row_stats))
            .route("/unparseableEvents", get(unparseable_events))
            .route("/liveReports", get(live_reports))
            .with_state(self)
    }

    fn report(&self, payload: Value) -> Value {
        json!({"type": REPORT_KEY, "taskId": self.task_id, "payload": payload})
    }

    /// Druid's `getTaskCompletionUnparseableEvents`: both phases' saved rows, or nothing when
    /// none are kept.
    fn completion_unparseable_events(&self) -> Value {
        match self.parse_exceptions.saved() {
            None => json!({}),
            Some(saved) => json!({DETERMINE_PARTITIONS: [], BUILD_SEGMENTS: saved}),
        }
    }

    /// Each phase, its meters, and whether a live view shows it yet (Druid's
    /// `addBuildSegmentStatsToReport` and its determine-partitions twin).
    fn phases(
        &self,
        full: bool,
    ) -> impl Iterator<Item = (&'static str, &RowIngestionMeters, bool)> {
        let state = self.state();
        [
            (
                DETERMINE_PARTITIONS,
                &self.determine_partitions,
                full || state == IngestionState::DeterminePartitions,
            ),
            (
                BUILD_SEGMENTS,
                &self.build_segments,
                full || matches!(
                    state,
                    IngestionState::BuildSegments | IngestionState::Completed
                ),
            ),
        ]
        .into_iter()
    }
}

type Full = Query<HashMap<String, String>>;

async fn row_stats(State(p): State<Arc<IngestionProgress>>, Query(q): Full) -> Json<Value> {
    Json(p.row_stats(q.contains_key("full")))
}

async fn unparseable_events(
    State(p): State<Arc<IngestionProgress>>,
    Query(q): Full,
) -> Json<Value> {
    Json(p.unparseable_events(q.contains_key("full")))
}

async fn live_reports(State(p): State<Arc<IngestionProgress>>, Query(q): Full) -> Json<Value> {
    Json(p.live_reports(q.contains_key("full")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_ingest::ParseError;

    #[test]
    fn reports_follow_druids_shapes_and_phases() {
        let p = IngestionProgress::new("index_1", ParseExceptionHandler::new(false, 10, 5));
        // Nothing of buildSegments shows before the phase starts, unless asked in full.
        assert_eq!(p.row_stats(false)["totals"], json!({}));
        assert!(p.row_stats(true)["totals"]["buildSegments"]["processed"] == 0);
        p.set_state(IngestionState::BuildSegments);
        p.build_segments.add_processed(3);
        p.build_segments.add_processed_bytes(120);
        p.parse_exceptions
            .unparseable(&p.build_segments, &ParseError::new("bad json"), Some("{x"))
            .unwrap();
        let live = p.live_reports(false);
        let payload = &live["ingestionStatsAndErrors"]["payload"];
        assert_eq!(live["ingestionStatsAndErrors"]["taskId"], "index_1");
        assert_eq!(payload["ingestionState"], "BUILD_SEGMENTS");
        assert_eq!(
            payload["rowStats"]["totals"]["buildSegments"]["processed"],
            3
        );
        assert_eq!(
            payload["rowStats"]["totals"]["buildSegments"]["unparseable"],
            1
        );
        assert!(payload["rowStats"]["movingAverages"]["buildSegments"]["1m"].is_object());
        assert_eq!(
            payload["unparseableEvents"]["buildSegments"][0]["details"][0],
            "bad json"
        );
        p.set_state(IngestionState::Completed);
        let (key, report) = p.completion_report(None, Some(2));
        assert_eq!(key, "ingestionStatsAndErrors");
        let payload = &report["payload"];
        assert_eq!(payload["ingestionState"], "COMPLETED");
        assert_eq!(payload["segmentsPublished"], 2);
        assert_eq!(payload["rowStats"]["buildSegments"]["processedBytes"], 120);
        assert_eq!(payload["rowStats"]["determinePartitions"]["processed"], 0);
        assert_eq!(payload["errorMsg"], Value::Null);
    }
}
