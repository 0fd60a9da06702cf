//! Measures one build of segments in this process, without an Overlord: what the `index`
//! task's ingestion thread does, for profiling (`perf record` this example).
//!
//! `cargo run --release -p steward-ingest --example build_throughput -- TASK.json WORK_DIR`:
//! the task file is an `index` task spec (e.g. one `steward bench-ingest` submits); segments
//! are written under WORK_DIR, which is emptied first.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use steward_ingest::meters::{ParseExceptionHandler, RowIngestionMeters};
use steward_ingest::pipeline::{build_segments, BuildRequest};
use steward_ingest::spec::IngestionSpec;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(task), Some(work)) = (args.next(), args.next()) else {
        eprintln!("usage: build_throughput TASK.json WORK_DIR");
        std::process::exit(2);
    };
    let task: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&task).expect("task file")).expect("task JSON");
    let spec = IngestionSpec::from_task_json(&task).expect("spec");
    let work = std::path::Path::new(&work);
    let _ = std::fs::remove_dir_all(work);
    let meters = RowIngestionMeters::default();
    let start = Instant::now();
    let built = build_segments(BuildRequest {
        spec: &spec,
        input: &spec.io_config.input_source,
        work_dir: work,
        meters: &meters,
        parse_exceptions: &ParseExceptionHandler::new(false, 0, 0),
        cancel: &AtomicBool::new(false),
    })
    .expect("build");
    let seconds = start.elapsed().as_secs_f64();
    let totals = meters.totals();
    let rows: u64 = built.iter().map(|s| s.num_rows).sum();
    let usage = peak_rss();
    println!(
        "{} rows processed in {seconds:.2} s: {:.0} rows/s; {} segments, {rows} rows; peak RSS {usage}",
        totals.processed,
        totals.processed as f64 / seconds,
        built.len(),
    );
}

/// The process's peak RSS as Linux reports it in /proc.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
