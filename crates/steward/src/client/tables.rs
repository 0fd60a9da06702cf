//! Human-readable tables of tasks, workers, datasources and segments, cut to a terminal's
//! width.

use serde::Deserialize;
use steward_model::time::{format_ts, parse_instant};
use steward_model::{DataSegment, TaskStatusPlus, Worker};

/// One entry of `GET /druid/indexer/v1/workers`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WorkerEntry {
    worker: Worker,
    #[serde(default)]
    curr_capacity_used: u32,
    #[serde(default)]
    running_tasks: Vec<String>,
    #[serde(default)]
    last_completed_task_time: Option<String>,
    #[serde(default)]
    blacklisted_until: Option<String>,
}

/// One datasource of `GET /druid/coordinator/v1/metadata/datasources?full` (Druid's
/// `ImmutableDruidDataSource`).
#[derive(Debug, Deserialize)]
pub(super) struct DataSourceEntry {
    name: String,
    #[serde(default)]
    segments: Vec<DataSegment>,
}

/// A table column: its title and the widest its cells may be before they are cut.
pub(super) struct Column {
    title: &'static str,
    max_width: usize,
}

pub(super) const fn col(title: &'static str, max_width: usize) -> Column {
    Column { title, max_width }
}

/// Task ids are what users copy from this table, so the column fits a generated id
/// (`noop_<timestamp>_<uuid>`, 66 characters) whole.
const TASK_COLUMNS: [Column; 7] = [
    col("ID", 80),
    col("TYPE", 24),
    col("DATASOURCE", 32),
    col("STATUS", 7),
    col("RUNNER", 7),
    col("CREATED", 19),
    col("DURATION", 12),
];

const WORKER_COLUMNS: [Column; 7] = [
    col("HOST", 40),
    col("CAPACITY", 8),
    col("USED", 4),
    col("ENABLED", 7),
    col("RUNNING TASKS", 60),
    col("LAST COMPLETED", 19),
    col("BLACKLISTED UNTIL", 19),
];

const DATA_SOURCE_COLUMNS: [Column; 4] = [
    col("NAME", 60),
    col("SEGMENTS", 8),
    col("SIZE", 10),
    col("INTERVAL", 49),
];

/// Segment ids are what users copy from this table (to mark or look one up), so the column
/// fits a long one whole.
const SEGMENT_COLUMNS: [Column; 5] = [
    col("ID", 200),
    col("INTERVAL", 49),
    col("VERSION", 30),
    col("PARTITION", 9),
    col("SIZE", 10),
];

/// Datasources with the number and total size of their used segments and the interval they
/// span.
pub(super) fn data_source_table(entries: &[DataSourceEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|ds| {
            let start = ds.segments.iter().map(|s| s.interval.start).min();
            let end = ds.segments.iter().map(|s| s.interval.end).max();
            vec![
                ds.name.clone(),
                ds.segments.len().to_string(),
                format_bytes(ds.segments.iter().map(|s| s.size).sum()),
                match (start, end) {
                    (Some(start), Some(end)) => format!("{}/{}", format_ts(start), format_ts(end)),
                    _ => "-".into(),
                },
            ]
        })
        .collect();
    render_table(&DATA_SOURCE_COLUMNS, &rows)
}

pub(super) fn segment_table(segments: &[DataSegment]) -> String {
    let rows: Vec<Vec<String>> = segments
        .iter()
        .map(|s| {
            vec![
                s.id().to_string(),
                s.interval.to_string(),
                s.version.clone(),
                s.shard_spec.partition_num().to_string(),
                format_bytes(s.size),
            ]
        })
        .collect();
    render_table(&SEGMENT_COLUMNS, &rows)
}

pub(super) fn task_table(tasks: &[TaskStatusPlus]) -> String {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.task_type.clone(),
                t.data_source.clone(),
                t.status_code.as_str().to_string(),
                t.runner_status_code.as_str().to_string(),
                short_time(&t.created_time),
                if t.status_code.is_complete() {
                    format_millis(t.duration)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    render_table(&TASK_COLUMNS, &rows)
}

pub(super) fn worker_table(workers: &[WorkerEntry]) -> String {
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            vec![
                w.worker.host.clone(),
                w.worker.capacity.to_string(),
                w.curr_capacity_used.to_string(),
                if w.worker.is_enabled() { "yes" } else { "no" }.to_string(),
                if w.running_tasks.is_empty() {
                    "-".into()
                } else {
                    w.running_tasks.join(",")
                },
                w.last_completed_task_time
                    .as_deref()
                    .map_or("-".into(), short_time),
                w.blacklisted_until
                    .as_deref()
                    .map_or("-".into(), short_time),
            ]
        })
        .collect();
    render_table(&WORKER_COLUMNS, &rows)
}

/// Lays out rows under a header, each column as wide as its widest cell (capped at its
/// `max_width`, cutting longer cells), two spaces apart, without trailing blanks.
pub(super) fn render_table(columns: &[Column], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let widest = rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
            widest.min(c.max_width).max(c.title.chars().count())
        })
        .collect();
    let mut out = String::new();
    let titles: Vec<String> = columns.iter().map(|c| c.title.to_string()).collect();
    for row in std::iter::once(&titles).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{:<w$}", truncate(cell, w)))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`.
pub(super) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `2026-03-08T10:30:00.000Z` → `2026-03-08 10:30:00` (UTC); anything unparsable is kept as is.
pub(super) fn short_time(iso: &str) -> String {
    parse_instant(iso)
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| iso.to_string())
}

/// A task duration in milliseconds for people; negative means unknown (Druid's -1).
pub(super) fn format_millis(ms: i64) -> String {
    match ms {
        ..0 => "-".to_string(),
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A size for people: bytes below 1 KiB, else binary units with one decimal.
pub(super) fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
