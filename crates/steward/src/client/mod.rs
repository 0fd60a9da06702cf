//! `steward task ...`, `steward workers`, `steward datasources`, `steward segments ...` and
//! `steward kill`: a command-line client for the Overlord's HTTP API.
//!
//! It speaks only Druid's public APIs: the Overlord's (`/druid/indexer/v1/...`) and, for
//! segments, the Coordinator's metadata API (`/druid/coordinator/v1/metadata/...`, which a
//! Steward Overlord serves itself), so the same commands work against a Steward Overlord and,
//! for those APIs, against Druid itself. Every failure becomes one
//! `error:` line on stderr and an exit code scripts can rely on: 1 when the Overlord answered with
//! an error (or the input was bad), 2 when it could not be reached at all. `--json` prints the
//! server's own JSON, pretty-printed, so scripts are not tied to the human layout.
//!
//! [`http`] is the client and its errors, [`commands`] what the task and worker commands do,
//! [`segments`] the datasource and segment commands, [`tables`] how lists are shown.

mod commands;
mod http;
mod segments;
mod tables;

pub use commands::{run_task_command, run_workers, TaskCommand};
pub use http::{error_message, exit_code, ClientError, ClientOptions, OverlordClient, TaskFilter};
pub use segments::{run_data_sources, run_kill, run_segments, KillArgs, SegmentsArgs};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use anyhow::anyhow;
    use reqwest::StatusCode;
    use steward_model::{TaskState, TaskStatusPlus};

    use super::commands::*;
    use super::http::*;
    use super::tables::*;
    use steward_model::{RunnerTaskState, TaskLocation};

    fn task(id: &str, state: TaskState, runner: RunnerTaskState) -> TaskStatusPlus {
        TaskStatusPlus {
            id: id.to_string(),
            group_id: id.to_string(),
            task_type: "noop".to_string(),
            created_time: "2026-03-08T10:30:00.000Z".to_string(),
            queue_insertion_time: "1970-01-01T00:00:00.000Z".to_string(),
            status_code: state,
            status: state,
            runner_status_code: runner,
            duration: if state.is_complete() { 1500 } else { -1 },
            location: TaskLocation::unknown(),
            data_source: "wiki".to_string(),
            error_msg: None,
        }
    }

    #[test]
    fn error_message_reads_all_three_body_shapes() {
        let druid = r#"{"error":"druidException","errorCode":"invalidInput","persona":"USER",
            "category":"INVALID_INPUT","errorMessage":"Task [x] already exists","context":{}}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, druid),
            "Task [x] already exists"
        );
        let legacy = r#"{"error":"Could not resolve type id 'nope'"}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, legacy),
            "Could not resolve type id 'nope'"
        );
        let text = "Cannot find any task with id: [t1]\n";
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, text),
            "Cannot find any task with id: [t1]"
        );
    }

    #[test]
    fn error_message_falls_back_to_body_or_status() {
        assert_eq!(
            error_message(StatusCode::SERVICE_UNAVAILABLE, ""),
            "Service Unavailable"
        );
        let odd = r#"{"task":"t1","status":null}"#;
        assert_eq!(error_message(StatusCode::NOT_FOUND, odd), odd);
        let bare = r#"{"error":"druidException","errorMessage":null}"#;
        assert_eq!(error_message(StatusCode::INTERNAL_SERVER_ERROR, bare), bare);
        let long = "x".repeat(5000);
        assert_eq!(
            error_message(StatusCode::INTERNAL_SERVER_ERROR, &long)
                .chars()
                .count(),
            1000
        );
    }

    #[test]
    fn client_errors_read_well_and_map_to_exit_codes() {
        let unreachable = ClientError::Unreachable {
            overlord: "http://localhost:8090".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            unreachable.to_string(),
            "cannot reach the Overlord at http://localhost:8090 (connection refused). Is \
             'steward quickstart' running? Set --overlord or STEWARD_OVERLORD."
        );
        assert_eq!(exit_code(&anyhow::Error::new(unreachable)), 2);
        let http = ClientError::Http {
            status: StatusCode::NOT_FOUND,
            message: "nope".into(),
        };
        assert_eq!(http.to_string(), "nope (HTTP 404 Not Found)");
        assert_eq!(exit_code(&anyhow::Error::new(http)), 1);
        assert_eq!(exit_code(&anyhow!("bad file")), 1);
    }

    #[test]
    fn urls_are_built_below_the_base_with_ids_encoded() {
        let c = OverlordClient::new(&ClientOptions::url("localhost:8090/")).unwrap();
        assert_eq!(c.base(), "http://localhost:8090");
        assert_eq!(
            c.indexer_url(&["task", "a b/c", "status"]).as_str(),
            "http://localhost:8090/druid/indexer/v1/task/a%20b%2Fc/status"
        );
        let prefixed = OverlordClient::new(&ClientOptions::url("http://gw:80/ovl")).unwrap();
        assert_eq!(prefixed.url(&["status"]).as_str(), "http://gw/ovl/status");
        assert!(OverlordClient::new(&ClientOptions::url("https://secure:8290")).is_ok());
        assert!(OverlordClient::new(&ClientOptions::url("ftp://files:21")).is_err());
    }

    #[test]
    fn read_spec_rejects_missing_and_non_json_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, r#"{"type":"noop"}"#).unwrap();
        assert_eq!(read_spec(&good).unwrap(), br#"{"type":"noop"}"#);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        assert!(read_spec(&bad)
            .unwrap_err()
            .to_string()
            .contains("is not valid JSON"));
        let array = dir.path().join("array.json");
        std::fs::write(&array, "[1]").unwrap();
        assert!(read_spec(&array)
            .unwrap_err()
            .to_string()
            .contains("not a JSON object"));
        let missing = dir.path().join("missing.json");
        assert!(read_spec(&missing)
            .unwrap_err()
            .to_string()
            .contains("cannot read task spec"));
    }

    #[test]
    fn table_columns_fit_their_cells_and_cut_long_ones() {
        let columns = [col("ID", 6), col("STATE", 10)];
        let rows = vec![
            vec!["a".to_string(), "RUNNING".to_string()],
            vec!["abcdefghij".to_string(), "-".to_string()],
        ];
        assert_eq!(
            render_table(&columns, &rows),
            "ID      STATE\na       RUNNING\nabcde…  -\n"
        );
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo!", 5), "héll…");
    }

    #[test]
    fn task_table_shows_every_column() {
        let mut failed = task("t2", TaskState::Failed, RunnerTaskState::None);
        failed.duration = 61_000;
        let table = task_table(&[
            task("t1", TaskState::Running, RunnerTaskState::Pending),
            failed,
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "ID  TYPE  DATASOURCE  STATUS   RUNNER   CREATED              DURATION",
                "t1  noop  wiki        RUNNING  PENDING  2026-03-08 10:30:00  -",
                "t2  noop  wiki        FAILED   NONE     2026-03-08 10:30:00  1m01s",
            ]
        );
    }

    #[test]
    fn worker_table_reads_the_workers_listing() {
        let answer = serde_json::json!([{
            "worker": {"scheme":"http","host":"mm1:8091","ip":"mm1","capacity":4,"version":"0",
                "category":"_default_worker_category"},
            "currCapacityUsed": 2, "currParallelIndexCapacityUsed": 0,
            "availabilityGroups": ["a","b"], "runningTasks": ["a","b"],
            "lastCompletedTaskTime": "2026-03-08T10:30:00.000Z"
        }, {
            "worker": {"host":"mm2:8091","ip":"mm2","capacity":1,"version":""},
            "lastCompletedTaskTime": "2026-03-08T10:31:00.000Z",
            "blacklistedUntil": "2026-03-08T11:00:00.000Z"
        }]);
        let workers: Vec<WorkerEntry> = serde_json::from_value(answer).unwrap();
        let table = worker_table(&workers);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "HOST      CAPACITY  USED  ENABLED  RUNNING TASKS  LAST COMPLETED       BLACKLISTED UNTIL");
        assert_eq!(
            lines[1],
            "mm1:8091  4         2     yes      a,b            2026-03-08 10:30:00  -"
        );
        assert_eq!(lines[2], "mm2:8091  1         0     no       -              2026-03-08 10:31:00  2026-03-08 11:00:00");
    }

    #[test]
    fn data_source_and_segment_tables_read_druids_answers() {
        let segment = |interval: &str, partition: u32, size: u64| {
            serde_json::json!({"dataSource": "wiki", "interval": interval,
                "version": "2024-01-01T00:00:00.000Z", "loadSpec": {"type": "local"},
                "dimensions": "page", "metrics": "count",
                "shardSpec": {"type": "numbered", "partitionNum": partition, "partitions": 2},
                "binaryVersion": 9, "size": size})
        };
        let answer = serde_json::json!([
            {"name": "wiki", "properties": {"created": "2026-03-08T10:30:00.000Z"},
             "segments": [segment("2015-09-12/2015-09-13", 0, 1000),
                          segment("2015-09-13/2015-09-14", 1, 2_000_000)]},
            {"name": "empty", "properties": {}, "segments": []}
        ]);
        let entries: Vec<DataSourceEntry> = serde_json::from_value(answer).unwrap();
        let table = data_source_table(&entries);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME   SEGMENTS  SIZE     INTERVAL",
                "wiki   2         1.9 MiB  2015-09-12T00:00:00.000Z/2015-09-14T00:00:00.000Z",
                "empty  0         0 B      -",
            ]
        );
        let segments: Vec<steward_model::DataSegment> = vec![
            serde_json::from_value(segment("2015-09-12/2015-09-13", 0, 1000)).unwrap(),
            serde_json::from_value(segment("2015-09-12/2015-09-13", 1, 1024)).unwrap(),
        ];
        let table = segment_table(&segments);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("ID  ")
                && lines[0].ends_with("VERSION                   PARTITION  SIZE"),
            "{}",
            lines[0]
        );
        assert!(lines[2].starts_with("wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_2024-01-01T00:00:00.000Z_1  2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z  2024-01-01T00:00:00.000Z  1          1.0 KiB"), "{}", lines[2]);
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn row_progress_shows_moved_rows_with_their_rate() {
        let report = |processed: u64| {
            serde_json::json!({"ingestionStatsAndErrors": {"payload": {"rowStats": {"totals":
                {"buildSegments": {"processed": processed, "processedBytes": 12_500_000,
                 "thrownAway": 3, "unparseable": 1, "processedWithError": 1}}}}}})
        };
        let mut rows = RowProgress::default();
        assert_eq!(
            rows.line(&report(1_234_567), Duration::from_secs(2)).unwrap(),
            "    2.0s  1,234,567 rows processed (617,283 rows/s), 12 MB read, 3 thrown away, 2 with errors"
        );
        // With the input's size known, a bar shows how much of it was read.
        let mut with_size = report(1_300_000);
        with_size["ingestionStatsAndErrors"]["payload"]["inputProgress"] =
            serde_json::json!({"bytesRead": 450, "bytesTotal": 1000});
        assert_eq!(
            rows.line(&with_size, Duration::from_secs(3)).unwrap(),
            "    3.0s  [#########-----------]  45%  1,300,000 rows processed (65,433 rows/s), 12 MB read, 3 thrown away, 2 with errors"
        );
        // Unmoved rows print nothing; a noop's report has none.
        assert_eq!(rows.line(&report(1_300_000), Duration::from_secs(4)), None);
        assert_eq!(
            rows.line(&serde_json::json!({}), Duration::from_secs(4)),
            None
        );
    }

    #[test]
    fn summary_and_progress_lines() {
        let mut t = task("t1", TaskState::Failed, RunnerTaskState::None);
        t.error_msg = Some("Shutdown request from user".into());
        t.location = TaskLocation::new("mm1", 8100);
        assert_eq!(
            final_line(&t),
            "FAILED t1 (duration 1.5 s): Shutdown request from user"
        );
        let summary = status_summary(&t);
        assert!(
            summary.starts_with("Task:       t1\nType:       noop\n"),
            "{summary}"
        );
        assert!(summary.contains("Status:     FAILED (runner: NONE)\n"));
        assert!(summary.contains("Location:   mm1:8100\n"));
        assert!(summary.ends_with("Error:      Shutdown request from user"));
        let running = task("t1", TaskState::Running, RunnerTaskState::Running);
        assert_eq!(
            progress_line(&running, Duration::from_millis(250)),
            "    0.2s  RUNNING"
        );
        assert!(parse_status(&serde_json::json!({"task":"t1","status":null})).is_err());
        let answer = serde_json::json!({"task":"t1","status":serde_json::to_value(&t).unwrap()});
        assert_eq!(parse_status(&answer).unwrap(), t);
    }

    #[test]
    fn durations_and_times_read_well() {
        assert_eq!(format_millis(-1), "-");
        assert_eq!(format_millis(42), "42 ms");
        assert_eq!(format_millis(1_500), "1.5 s");
        assert_eq!(format_millis(125_000), "2m05s");
        assert_eq!(format_millis(3_600_000 * 2 + 60_000 * 3), "2h03m");
        assert_eq!(
            short_time("2026-03-08T10:30:00.123Z"),
            "2026-03-08 10:30:00"
        );
        assert_eq!(short_time("whenever"), "whenever");
    }

    #[test]
    fn log_cursor_asks_only_for_new_bytes() {
        let mut c = LogCursor::new(0);
        assert_eq!(c.request_offset(), 0);
        assert_eq!(c.accept(b"hello "), b"hello ");
        assert_eq!(c.request_offset(), 6);
        assert_eq!(c.accept(b""), b"");
        assert_eq!(c.accept(b"world"), b"world");
        assert_eq!(c.request_offset(), 11);

        let mut from = LogCursor::new(4);
        assert_eq!(from.request_offset(), 4);
        assert_eq!(from.accept(b"rest"), b"rest");
        assert_eq!(from.request_offset(), 8);
    }

    #[test]
    fn log_cursor_with_negative_offset_prints_the_tail_then_follows() {
        let mut c = LogCursor::new(-3);
        assert_eq!(
            c.request_offset(),
            0,
            "the whole log is needed to know where it ends"
        );
        assert_eq!(c.accept(b"abcdef"), b"def");
        assert_eq!(c.request_offset(), 6);
        assert_eq!(c.accept(b"gh"), b"gh");

        let mut short = LogCursor::new(-100);
        assert_eq!(short.accept(b"abc"), b"abc");
        assert_eq!(short.request_offset(), 3);
    }
}
