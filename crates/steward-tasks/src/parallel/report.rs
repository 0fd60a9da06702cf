//! What sub-tasks tell their supervisor and what the supervisor tells about the whole
//! ingestion: Druid's `PushedSegmentsReport`, and the supervisor's `ingestionStatsAndErrors`
//! with its sub-tasks' row counts added up.
//!
//! A sub-task's report carries the segments it pushed and its own completion report, whose
//! `buildSegments` totals and saved bad rows the supervisor sums over the attempts that
//! succeeded; while sub-tasks run, the supervisor adds their live reports. The supervisor's
//! report has Druid's parallel shape: `rowStats` is `{"totals": {"buildSegments": ...}}`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use steward_ingest::meters::RowIngestionMetersTotals;
use steward_model::{DataSegment, SegmentSchemaMapping};

use super::partitions::GeneratedPartitionsReport;
use crate::index::{IngestionState, REPORT_KEY};

const BUILD_SEGMENTS: &str = "buildSegments";

/// Druid's `PushedSegmentsReport` (`type: pushed_segments`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "pushed_segments", rename_all = "camelCase")]
pub(crate) struct PushedSegmentsReport {
    pub(crate) task_id: String,
    /// Segments the new ones overshadow entirely; Steward's sub-tasks replace no segment by
    /// id, so this stays empty.
    #[serde(default)]
    pub(crate) old_segments: Vec<DataSegment>,
    pub(crate) segments: Vec<DataSegment>,
    /// The sub-task's completion report map.
    #[serde(default)]
    pub(crate) task_report: Map<String, Value>,
    /// The segments' row counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) segment_schema_mapping: Option<SegmentSchemaMapping>,
}

/// What a sub-task reports to its supervisor: the segments it pushed (a single-phase or a
/// merge sub-task), or the partial segments it wrote (a first-phase one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum SubTaskReport {
    Pushed(PushedSegmentsReport),
    Generated(GeneratedPartitionsReport),
}

impl SubTaskReport {
    pub(crate) fn task_id(&self) -> &str {
        match self {
            SubTaskReport::Pushed(r) => &r.task_id,
            SubTaskReport::Generated(r) => &r.task_id,
        }
    }

    /// The sub-task's `buildSegments` totals and saved bad rows, from its completion report.
    /// A merge sub-task sends none: its rows were counted when the first phase read them.
    fn stats(&self) -> RowStats {
        let task_report = match self {
            SubTaskReport::Pushed(r) => &r.task_report,
            SubTaskReport::Generated(r) => &r.task_report,
        };
        let payload = task_report.get(REPORT_KEY).and_then(|r| r.get("payload"));
        let totals = payload
            .and_then(|p| p.pointer("/rowStats/buildSegments"))
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default();
        RowStats {
            totals,
            unparseable_events: saved_events(payload),
        }
    }
}

/// `buildSegments` totals and saved bad rows, added up over sub-tasks.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RowStats {
    pub(crate) totals: RowIngestionMetersTotals,
    pub(crate) unparseable_events: Vec<Value>,
}

impl RowStats {
    /// The sum over `reports` (Druid's `doGetRowStatsAndUnparseableEventsParallelSinglePhase`).
    pub(crate) fn of_reports<'a>(reports: impl IntoIterator<Item = &'a SubTaskReport>) -> RowStats {
        let mut sum = RowStats::default();
        for report in reports {
            sum.add(report.stats());
        }
        sum
    }

    /// Adds a running sub-task's live report (`GET task/{id}/reports`), whose totals sit under
    /// `rowStats.totals`; one without them yet adds nothing.
    pub(crate) fn add_live(&mut self, reports: &Value) {
        let payload = reports.get(REPORT_KEY).and_then(|r| r.get("payload"));
        let totals = payload
            .and_then(|p| p.pointer("/rowStats/totals/buildSegments"))
            .and_then(|t| serde_json::from_value(t.clone()).ok());
        if let Some(totals) = totals {
            self.add(RowStats {
                totals,
                unparseable_events: saved_events(payload),
            });
        }
    }

    fn add(&mut self, other: RowStats) {
        self.totals += other.totals;
        self.unparseable_events.extend(other.unparseable_events);
    }

    /// The supervisor's `ingestionStatsAndErrors` report: live (`segments_published` `None`
    /// and no error) or final.
    pub(crate) fn report(
        &self,
        task_id: &str,
        state: IngestionState,
        error: Option<&str>,
        segments_published: Option<u64>,
        complete: bool,
    ) -> Value {
        json!({
            "type": REPORT_KEY,
            "taskId": task_id,
            "payload": {
                "ingestionState": state,
                "unparseableEvents": {BUILD_SEGMENTS: self.unparseable_events},
                "rowStats": self.row_stats(),
                "errorMsg": error,
                "segmentAvailabilityConfirmed": false,
                "segmentAvailabilityWaitTimeMs": 0,
                "recordsProcessed": if complete { json!({}) } else { Value::Null },
                "segmentsRead": null,
                "segmentsPublished": segments_published,
            }
        })
    }

    /// Druid's parallel `rowStats`: totals only, no moving averages.
    pub(crate) fn row_stats(&self) -> Value {
        json!({"totals": {BUILD_SEGMENTS: self.totals}})
    }
}

fn saved_events(payload: Option<&Value>) -> Vec<Value> {
    payload
        .and_then(|p| p.pointer("/unparseableEvents/buildSegments"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub_report(task_id: &str, processed: u64, bad: &[&str]) -> SubTaskReport {
        let events: Vec<Value> = bad.iter().map(|b| json!({"details": [b]})).collect();
        serde_json::from_value(json!({
            "type": "pushed_segments",
            "taskId": task_id,
            "oldSegments": [],
            "segments": [],
            "taskReport": {"ingestionStatsAndErrors": {"type": "ingestionStatsAndErrors",
                "taskId": task_id, "payload": {
                    "ingestionState": "COMPLETED",
                    "unparseableEvents": {"determinePartitions": [], "buildSegments": events},
                    "rowStats": {
                        "determinePartitions": {"processed": 0},
                        "buildSegments": {"processed": processed, "processedBytes": processed * 10,
                            "processedWithError": 0, "thrownAway": 1, "unparseable": bad.len()}}}}}
        }))
        .unwrap()
    }

    // Druid's AbstractParallelIndexSupervisorTaskTest.buildExpectedTaskReportParallel.
    #[test]
    fn sub_task_totals_add_up_into_druids_parallel_report() {
        let reports = [sub_report("a", 10, &["x"]), sub_report("b", 5, &[])];
        let mut stats = RowStats::of_reports(&reports);
        assert_eq!(
            stats.totals,
            RowIngestionMetersTotals {
                processed: 15,
                processed_bytes: 150,
                processed_with_error: 0,
                thrown_away: 2,
                unparseable: 1
            }
        );
        let report = stats.report("sup", IngestionState::Completed, None, Some(3), true);
        let payload = &report["payload"];
        assert_eq!(report["type"], "ingestionStatsAndErrors");
        assert_eq!(report["taskId"], "sup");
        assert_eq!(
            payload["rowStats"]["totals"]["buildSegments"]["processed"],
            15
        );
        assert_eq!(
            payload["unparseableEvents"]["buildSegments"][0]["details"][0],
            "x"
        );
        assert_eq!(payload["segmentsPublished"], 3);
        assert_eq!(payload["ingestionState"], "COMPLETED");

        // A running sub-task's live report adds its totals; one without them adds nothing.
        stats.add_live(&json!({"ingestionStatsAndErrors": {"payload": {
            "rowStats": {"totals": {"buildSegments": {"processed": 7, "processedBytes": 1,
                "processedWithError": 0, "thrownAway": 0, "unparseable": 0}}},
            "unparseableEvents": {}}}}));
        stats.add_live(&json!({}));
        assert_eq!(stats.totals.processed, 22);
        assert_eq!(
            stats.report("sup", IngestionState::BuildSegments, None, None, false)["payload"]
                ["segmentsPublished"],
            Value::Null
        );
    }

    #[test]
    fn sub_task_reports_keep_druids_json_and_are_told_apart_by_type() {
        let report = sub_report("a", 1, &[]);
        assert!(matches!(report, SubTaskReport::Pushed(_)));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["type"], "pushed_segments");
        assert_eq!(json["taskId"], "a");
        assert_eq!(json["oldSegments"], json!([]));
        assert_eq!(
            serde_json::from_value::<SubTaskReport>(json).unwrap(),
            report
        );

        let generated = json!({"type": "generated_partitions_metadata", "taskId": "g",
            "partitionStats": [], "taskReport": {}});
        let parsed: SubTaskReport = serde_json::from_value(generated).unwrap();
        assert!(matches!(parsed, SubTaskReport::Generated(_)));
        assert_eq!(parsed.task_id(), "g");
        assert!(serde_json::from_value::<SubTaskReport>(json!({"type": "nope"})).is_err());
    }
}
