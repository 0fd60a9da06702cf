//! `steward bench-ingest`: how fast one `index` task turns wikiticker-shaped JSON into
//! published segments, and how much memory its peon needs, side by side with DuckDB computing
//! the same rollup from the same files.
//!
//! The run generates its input once (`input`, kept in `--data-dir` by shape and seed), starts a
//! quickstart of this executable with default memory settings (`local`), submits the tutorial
//! schema with rollup (`spec`), and reads the outcome the way an operator would: the task's own
//! duration from its status (task start to publish), rows from its report, the peon's peak
//! resident memory from the last line of its log, the segments from the metadata store. Then
//! DuckDB runs the same rollup into Parquet (`duckdb`) and the report puts the two side by side.
//!
//! `--parallel N` submits `index_parallel` with `maxNumConcurrentSubTasks` N instead; its peak
//! memory is the largest of the supervisor's and the sub-tasks'.

mod duckdb;
mod input;
mod local;
mod spec;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use steward_model::TaskState;
use steward_segment::QueryableIndex;

use crate::client::{ClientOptions, OverlordClient, TaskFilter};
use duckdb::DuckDbRun;
use input::InputShape;
use local::LocalQuickstart;

/// Druid's tutorial sample, the pool the input's rows are drawn from.
const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/druid/data/wikiticker-2015-09-12-sampled.json.gz"
);
/// A task still running after this long is stuck, not slow.
const TASK_DEADLINE: Duration = Duration::from_secs(3 * 3600);
const POLL: Duration = Duration::from_millis(100);

/// Options of `steward bench-ingest`.
#[derive(clap::Args, Debug)]
pub struct IngestBenchArgs {
    /// Input rows.
    #[arg(long, default_value_t = 5_000_000)]
    pub rows: u64,
    /// Days the rows' times spread over (one DAY segment each).
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Input files the rows are cut into (consecutive times each; `index_parallel` splits by
    /// file).
    #[arg(long, default_value_t = 4)]
    pub files: u32,
    /// Seed of the row draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Submit `index_parallel` with maxNumConcurrentSubTasks N instead of one `index` task.
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,
    /// Perfect rollup: hashed partitions, N buckets per day (with `--parallel`, Druid's
    /// two-phase shuffle).
    #[arg(long, value_name = "N")]
    pub hashed: Option<u32>,
    /// Where generated inputs are kept and each run's quickstart lives.
    #[arg(long, default_value = "/tmp/steward-bench-ingest")]
    pub data_dir: PathBuf,
    /// Druid's wikiticker sample (`.json.gz`) the rows are drawn from.
    #[arg(long, default_value = SAMPLE)]
    pub sample: PathBuf,
    /// Python interpreter with the `duckdb` package; the comparison is skipped without it.
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Skip the DuckDB comparison.
    #[arg(long)]
    pub no_duckdb: bool,
    /// Keep the run's quickstart directory (segments, task logs) after a successful run.
    #[arg(long)]
    pub keep: bool,
    /// Print one JSON object with all figures instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark and prints the report. Fails if the task does not succeed.
pub async fn run(args: &IngestBenchArgs) -> anyhow::Result<()> {
    if let Some(n) = args.parallel {
        ensure!(n >= 1, "--parallel must be at least 1");
    }
    if let Some(n) = args.hashed {
        ensure!(n >= 1, "--hashed must be at least 1");
    }
    let shape = InputShape {
        rows: args.rows,
        days: args.days,
        files: args.files,
        seed: args.seed,
    };
    eprintln!(
        "input: {} rows over {} days in {} files (seed {}) under {}",
        shape.rows,
        shape.days,
        shape.files,
        shape.seed,
        args.data_dir.display()
    );
    let input_dir = {
        let (sample, data_dir) = (args.sample.clone(), args.data_dir.clone());
        tokio::task::spawn_blocking(move || input::ensure_input(&shape, &sample, &data_dir))
            .await
            .context("the input generator panicked")??
    };
    let input_bytes = json_bytes(&input_dir)?;

    let stamp = jiff::Timestamp::now().as_millisecond();
    let run_dir = args.data_dir.join(format!("run-{stamp}"));
    // The supervisor of index_parallel holds a slot while its sub-tasks run.
    let capacity = args.parallel.map_or(1, |n| n + 1);
    let qs = LocalQuickstart::start(&run_dir, capacity).await?;
    let steward = ingest(&qs, &shape, &input_dir, args, stamp).await;
    drop(qs);
    let steward =
        steward.with_context(|| format!("files of the run kept in {}", run_dir.display()))?;

    let duckdb = if args.no_duckdb {
        Comparison::Skipped("--no-duckdb".into())
    } else {
        eprintln!("DuckDB: the same rollup into Parquet...");
        let (python, input_dir, out) = (
            args.python.clone(),
            input_dir.clone(),
            run_dir.join("duckdb.parquet"),
        );
        match tokio::task::spawn_blocking(move || duckdb::run(&python, &input_dir, &out))
            .await
            .context("the DuckDB runner panicked")??
        {
            Some(run) => Comparison::Ran(run),
            None => Comparison::Skipped(format!(
                "{} cannot import duckdb; scripts/bench-ingest.sh installs it",
                args.python.display()
            )),
        }
    };
    if !args.keep {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("removing {}", run_dir.display()))?;
    }
    let report = Report {
        shape,
        input_bytes,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        steward,
        duckdb,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// What Steward did.
#[derive(Debug, Clone, PartialEq)]
struct StewardRun {
    task_type: String,
    /// The task's own duration (its status), task start to publish.
    task_time: Duration,
    /// From submission until the benchmark saw SUCCESS: adds queueing, the peon's start and
    /// the poll interval.
    wall_time: Duration,
    /// Rows the task processed (its report).
    processed: u64,
    /// The largest peak RSS of the run's peons (the task's, or a parallel task's and its
    /// sub-tasks').
    peak_rss_bytes: Option<u64>,
    /// Peons that ran: 1 for `index`, the supervisor and its sub-tasks for `index_parallel`.
    tasks: usize,
    segments: usize,
    segment_rows: u64,
    segment_bytes: u64,
}

/// Submits the task, waits for it and gathers its figures.
async fn ingest(
    qs: &LocalQuickstart,
    shape: &InputShape,
    input_dir: &Path,
    args: &IngestBenchArgs,
    stamp: i64,
) -> anyhow::Result<StewardRun> {
    let client = OverlordClient::new(&ClientOptions::url(&qs.url))?;
    let data_source = format!("bench_ingest_{stamp}");
    let task = spec::task(
        &data_source,
        input_dir,
        &shape.interval(),
        args.parallel,
        args.hashed,
    );
    eprintln!(
        "steward: {} task into {data_source} on {} (data in {})...",
        task["type"].as_str().unwrap_or_default(),
        qs.url,
        qs.data_dir.display()
    );
    let submitted = Instant::now();
    let id = client.submit(task.to_string()).await?;
    let status = loop {
        let status = client.task_status(&id).await?;
        if matches!(status.status_code, TaskState::Success | TaskState::Failed) {
            break status;
        }
        if submitted.elapsed() > TASK_DEADLINE {
            bail!(
                "task {id} did not finish within {} s",
                TASK_DEADLINE.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    };
    let wall_time = submitted.elapsed();
    if status.status_code != TaskState::Success {
        bail!(
            "task {id} FAILED: {}",
            status.error_msg.as_deref().unwrap_or("no error message")
        );
    }
    let report = client.get_json(&format!("task/{id}/reports")).await?;
    // An `index` task reports `rowStats.buildSegments`; a parallel supervisor, Druid's
    // parallel shape `rowStats.totals.buildSegments` (its sub-tasks' sum).
    let row_stats = "/ingestionStatsAndErrors/payload/rowStats";
    let processed = ["buildSegments", "totals/buildSegments"]
        .iter()
        .find_map(|at| report.pointer(&format!("{row_stats}/{at}/processed")))
        .and_then(Value::as_u64)
        .context("the task's report has no processed rows")?;

    // Every task of the run's datasource is this run's: the task itself and any sub-tasks.
    let listed = client
        .tasks_raw(&TaskFilter {
            datasource: Some(data_source.clone()),
            ..TaskFilter::default()
        })
        .await?;
    let mut ids: Vec<String> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect();
    if !ids.contains(&id) {
        ids.push(id.clone());
    }
    let mut peak_rss_bytes = None;
    for task_id in &ids {
        let log = client.task_log_bytes(task_id, 0).await?;
        if let Some(rss) = peak_rss_in_log(&String::from_utf8_lossy(&log)) {
            peak_rss_bytes = peak_rss_bytes.max(Some(rss));
        }
    }

    let segments = client.used_segments(&data_source, None).await?;
    let segments = segments.as_array().cloned().unwrap_or_default();
    let mut segment_rows = 0;
    let mut segment_bytes = 0;
    for segment in &segments {
        segment_bytes += segment["size"].as_u64().unwrap_or(0);
        let path = segment
            .pointer("/loadSpec/path")
            .and_then(Value::as_str)
            .context("a segment without a local loadSpec path")?;
        let index = QueryableIndex::open(Path::new(path))
            .with_context(|| format!("reading segment {path}"))?;
        segment_rows += index.num_rows as u64;
    }
    Ok(StewardRun {
        task_type: status.task_type,
        task_time: Duration::from_millis(u64::try_from(status.duration).unwrap_or(0)),
        wall_time,
        processed,
        peak_rss_bytes,
        tasks: ids.len(),
        segments: segments.len(),
        segment_rows,
        segment_bytes,
    })
}

/// The peon's peak RSS from its closing line, `... peakRss[123.4 MB] ...`.
fn peak_rss_in_log(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains("peakRss["))?;
    let start = line.find("peakRss[")? + "peakRss[".len();
    let megabytes: f64 = line[start..].split(" MB]").next()?.parse().ok()?;
    Some((megabytes * 1e6).round() as u64)
}

/// The bytes of the input's JSON files.
fn json_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "json") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

#[derive(Debug, Clone, PartialEq)]
enum Comparison {
    Ran(DuckDbRun),
    Skipped(String),
}

struct Report {
    shape: InputShape,
    input_bytes: u64,
    cores: usize,
    steward: StewardRun,
    duckdb: Comparison,
}

impl Report {
    fn rows_per_second(&self) -> f64 {
        self.shape.rows as f64 / self.steward.task_time.as_secs_f64().max(1e-9)
    }

    /// Steward's time over DuckDB's: above 1 means Steward was slower.
    fn time_ratio(&self) -> Option<f64> {
        match &self.duckdb {
            Comparison::Ran(d) => Some(self.steward.task_time.as_secs_f64() / d.seconds.max(1e-9)),
            Comparison::Skipped(_) => None,
        }
    }

    fn to_json(&self) -> Value {
        let s = &self.steward;
        let duckdb = match &self.duckdb {
            Comparison::Ran(d) => json!({
                "version": d.version,
                "threads": d.threads,
                "seconds": round3(d.seconds),
                "rowsPerSecond": (self.shape.rows as f64 / d.seconds.max(1e-9)).round(),
                "rows": d.rows,
                "peakRssBytes": d.peak_rss_bytes,
            }),
            Comparison::Skipped(why) => json!({"skipped": why}),
        };
        json!({
            "input": {
                "rows": self.shape.rows,
                "bytes": self.input_bytes,
                "days": self.shape.days,
                "files": self.shape.files,
                "seed": self.shape.seed,
            },
            "cores": self.cores,
            "steward": {
                "taskType": s.task_type,
                "tasks": s.tasks,
                "seconds": round3(s.task_time.as_secs_f64()),
                "wallSeconds": round3(s.wall_time.as_secs_f64()),
                "rowsPerSecond": self.rows_per_second().round(),
                "processed": s.processed,
                "peakRssBytes": s.peak_rss_bytes,
                "segments": s.segments,
                "rows": s.segment_rows,
                "segmentBytes": s.segment_bytes,
            },
            "duckdb": duckdb,
            "timeRatio": self.time_ratio().map(round3),
        })
    }

    fn to_text(&self) -> String {
        let s = &self.steward;
        let mut out = format!(
            "{} rows of wikiticker JSON ({:.1} MB in {} files over {} days), rollup HOUR, \
             segments DAY, {} cores\n\n",
            self.shape.rows,
            self.input_bytes as f64 / 1e6,
            self.shape.files,
            self.shape.days,
            self.cores
        );
        out += &format!(
            "{:<28} {:>8} {:>10} {:>10} {:>11} {:>12}  output\n",
            "", "rows", "seconds", "rows/s", "peak RSS", "rolled up"
        );
        let peons = match s.tasks {
            1 => String::new(),
            n => format!(", {n} peons"),
        };
        out += &format!(
            "{:<28} {:>8} {:>10.2} {:>10.0} {:>11} {:>12}  {} segments, {:.1} MB\n",
            format!("steward {}{peons}", s.task_type),
            s.processed,
            s.task_time.as_secs_f64(),
            self.rows_per_second(),
            fmt_bytes(s.peak_rss_bytes),
            s.segment_rows,
            s.segments,
            s.segment_bytes as f64 / 1e6
        );
        match &self.duckdb {
            Comparison::Ran(d) => {
                out += &format!(
                    "{:<28} {:>8} {:>10.2} {:>10.0} {:>11} {:>12}  1 Parquet file\n",
                    format!("DuckDB {} ({} threads)", d.version, d.threads),
                    self.shape.rows,
                    d.seconds,
                    self.shape.rows as f64 / d.seconds.max(1e-9),
                    fmt_bytes(Some(d.peak_rss_bytes)),
                    d.rows,
                );
                let ratio = self.time_ratio().unwrap_or(f64::NAN);
                out += &format!("\nsteward/DuckDB time: {ratio:.2}\n");
                if d.rows != s.segment_rows {
                    out += &format!(
                        "WARNING: the rollups differ: {} rows in steward's segments, {} in DuckDB's file\n",
                        s.segment_rows, d.rows
                    );
                }
            }
            Comparison::Skipped(why) => out += &format!("DuckDB: skipped ({why})\n"),
        }
        out += &format!(
            "steward: task time from its status (start to publish); {:.2} s from submission to \
             SUCCESS seen\n",
            s.wall_time.as_secs_f64()
        );
        out
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn fmt_bytes(b: Option<u64>) -> String {
    b.map_or("n/a".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_rss_is_read_from_the_peons_closing_line() {
        let log = "2025-01-01T00:00:00Z INFO Running task[t] type[index]\n\
                   2025-01-01T00:00:09Z INFO Task[t] finished: status[SUCCESS] duration[9000 ms] \
                   peakRss[181.5 MB]\n";
        assert_eq!(peak_rss_in_log(log), Some(181_500_000));
        assert_eq!(peak_rss_in_log("Task[t] finished: peakRss[unknown]"), None);
        assert_eq!(peak_rss_in_log("no such line"), None);
    }

    fn report(duckdb: Comparison) -> Report {
        Report {
            shape: InputShape {
                rows: 1_000_000,
                days: 3,
                files: 4,
                seed: 1,
            },
            input_bytes: 436_000_000,
            cores: 2,
            steward: StewardRun {
                task_type: "index".into(),
                task_time: Duration::from_secs(4),
                wall_time: Duration::from_millis(4300),
                processed: 1_000_000,
                peak_rss_bytes: Some(150_000_000),
                tasks: 1,
                segments: 3,
                segment_rows: 600_000,
                segment_bytes: 90_000_000,
            },
            duckdb,
        }
    }

    #[test]
    fn the_report_puts_steward_and_duckdb_side_by_side() {
        let r = report(Comparison::Ran(DuckDbRun {
            version: "1.2.0".into(),
            threads: 2,
            seconds: 2.0,
            rows: 600_000,
            peak_rss_bytes: 900_000_000,
        }));
        assert_eq!(r.rows_per_second(), 250_000.0);
        assert_eq!(r.time_ratio(), Some(2.0));
        let v = r.to_json();
        assert_eq!(v["steward"]["rowsPerSecond"], json!(250_000.0));
        assert_eq!(v["duckdb"]["rowsPerSecond"], json!(500_000.0));
        assert_eq!(v["timeRatio"], json!(2.0));
        let text = r.to_text();
        assert!(text.contains("steward index"), "{text}");
        let line = |start: &str| -> Vec<String> {
            let line = text
                .lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_default();
            line.split_whitespace().map(str::to_string).collect()
        };
        assert_eq!(
            line("steward index").join(" "),
            "steward index 1000000 4.00 250000 150.0 MB 600000 3 segments, 90.0 MB",
            "{text}"
        );
        assert_eq!(
            line("DuckDB").join(" "),
            "DuckDB 1.2.0 (2 threads) 1000000 2.00 500000 900.0 MB 600000 1 Parquet file",
            "{text}"
        );
        assert!(text.contains("steward/DuckDB time: 2.00"), "{text}");
        assert!(!text.contains("WARNING"), "{text}");
    }

    #[test]
    fn a_different_rollup_or_a_skipped_comparison_is_said() {
        let r = report(Comparison::Ran(DuckDbRun {
            version: "1.2.0".into(),
            threads: 2,
            seconds: 2.0,
            rows: 600_001,
            peak_rss_bytes: 1,
        }));
        assert!(r.to_text().contains("WARNING: the rollups differ"));
        let r = report(Comparison::Skipped("--no-duckdb".into()));
        assert_eq!(r.time_ratio(), None);
        assert!(r.to_text().contains("DuckDB: skipped (--no-duckdb)"));
        assert_eq!(r.to_json()["duckdb"], json!({"skipped": "--no-duckdb"}));
    }
}
