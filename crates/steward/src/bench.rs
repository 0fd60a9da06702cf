//! `steward bench`: latency and throughput of a running Overlord, measured from outside through
//! Druid's HTTP API with `noop` tasks.
//!
//! Latency is the time a client waits from submitting a task to seeing it succeed, one task at a
//! time, so it covers the whole path (queue, runner, worker, status write-back). Throughput is
//! how fast the Overlord gets a burst of tasks through, submitted by concurrent clients. The
//! server's resident memory before and after shows whether a burst leaves memory behind. The
//! benchmark usually shares a small machine with the server, so it does as little as it can: one
//! pooled HTTP client, batched status polls in the throughput phase.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use steward_model::TaskState;
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::task::JoinSet;

use crate::client::{ClientOptions, OverlordClient};

/// The task every phase submits: a `noop` that runs for 1 ms, so the figures measure the
/// indexing service and not the task.
const NOOP_SPEC: &str = r#"{"type":"noop","runTime":1,"dataSource":"bench"}"#;
/// Pause between status polls of a latency task: short, so the poll interval barely adds to
/// the measured latency.
const LATENCY_POLL: Duration = Duration::from_millis(1);
/// A latency task that takes this long means the service is stuck, not slow.
const LATENCY_TASK_DEADLINE: Duration = Duration::from_secs(60);
/// Pause between status polls in the throughput phase; the completion time is at most this
/// late.
const THROUGHPUT_POLL: Duration = Duration::from_millis(50);
/// Ids per `taskStatus` poll: only the oldest unfinished tasks are asked about. Tasks end
/// roughly in submission order, so this window tracks progress while keeping the benchmark's
/// own load on the server small (polling every unfinished id would cost the server more than
/// the tasks themselves).
const STATUS_WINDOW: usize = 256;
const THROUGHPUT_DEADLINE: Duration = Duration::from_secs(600);
/// Failed tasks shown in the report.
const SHOWN_FAILURES: usize = 5;

/// Options of `steward bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Tasks submitted one after another to measure latency.
    #[arg(long, default_value_t = 200)]
    pub latency_tasks: usize,
    /// Tasks submitted in a burst to measure throughput.
    #[arg(long, default_value_t = 5000)]
    pub throughput_tasks: usize,
    /// Concurrent submitters in the throughput phase.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Tasks run as in the throughput phase, unmeasured, before anything is measured: a
    /// freshly started JVM (ZooKeeper's) spends its first seconds compiling, which a cluster
    /// that has been up for a while does not.
    #[arg(long, default_value_t = 0)]
    pub warmup_tasks: usize,
    /// Print one JSON object with all figures instead of the report.
    #[arg(long)]
    pub json: bool,
}

/// Runs both phases against the Overlord at `overlord` and prints the report. Fails if the
/// Overlord cannot be reached or answers with errors, if tasks do not finish in time, and, after
/// the report, if any benchmark task FAILED.
pub async fn run_bench(overlord: &ClientOptions, args: &BenchArgs) -> anyhow::Result<()> {
    ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let client = OverlordClient::new(overlord)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).ok();
    if args.warmup_tasks > 0 {
        eprintln!("warm-up: {} noop tasks, not measured...", args.warmup_tasks);
        let warmup = throughput_phase(&client, args.warmup_tasks, args.concurrency).await?;
        if let Some(f) = warmup.failures.first() {
            bail!(
                "{} warm-up task(s) FAILED, e.g. {}: {}",
                warmup.failures.len(),
                f.id,
                f.error_msg.as_deref().unwrap_or("-")
            );
        }
    }
    let rss_before = client.rss_bytes().await?;

    eprintln!("latency: {} sequential noop tasks...", args.latency_tasks);
    let latency = latency_phase(&client, args.latency_tasks).await?;
    eprintln!(
        "throughput: {} noop tasks from {} concurrent submitters...",
        args.throughput_tasks, args.concurrency
    );
    let throughput = throughput_phase(&client, args.throughput_tasks, args.concurrency).await?;
    let rss_after = client.rss_bytes().await?;

    let report = Report {
        overlord: client.base().to_string(),
        cores,
        rss_before,
        rss_after,
        warmup_tasks: args.warmup_tasks,
        latency: LatencySummary::of(latency.samples),
        throughput_tasks: args.throughput_tasks,
        concurrency: args.concurrency,
        throughput: throughput.timing,
        failures: [latency.failures, throughput.failures].concat(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_text());
    }
    if !report.failures.is_empty() {
        bail!("{} benchmark task(s) FAILED", report.failures.len());
    }
    Ok(())
}

/// A task that ended FAILED, with its error message.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    id: String,
    error_msg: Option<String>,
}

struct LatencyRun {
    samples: Vec<Duration>,
    failures: Vec<Failure>,
}

/// Submits `tasks` noop tasks one at a time, each timed from just before its submission until
/// its SUCCESS is seen.
async fn latency_phase(client: &OverlordClient, tasks: usize) -> anyhow::Result<LatencyRun> {
    let mut run = LatencyRun {
        samples: Vec::with_capacity(tasks),
        failures: Vec::new(),
    };
    for _ in 0..tasks {
        let start = Instant::now();
        let id = client.submit(NOOP_SPEC).await?;
        loop {
            let status = client.task_status(&id).await?;
            match status.status_code {
                TaskState::Success => {
                    run.samples.push(start.elapsed());
                    break;
                }
                TaskState::Failed => {
                    run.failures.push(Failure {
                        id,
                        error_msg: status.error_msg,
                    });
                    break;
                }
                TaskState::Running if start.elapsed() > LATENCY_TASK_DEADLINE => {
                    bail!(
                        "task {id} did not finish within {} s",
                        LATENCY_TASK_DEADLINE.as_secs()
                    );
                }
                TaskState::Running => tokio::time::sleep(LATENCY_POLL).await,
            }
        }
    }
    Ok(run)
}

/// When the throughput phase's milestones were reached, from its first submission.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ThroughputTiming {
    submitted: usize,
    succeeded: usize,
    failed: usize,
    /// Until the last submission was answered.
    submit_time: Duration,
    /// Until the last completion was observed.
    total_time: Duration,
}

struct ThroughputRun {
    timing: ThroughputTiming,
    failures: Vec<Failure>,
}

/// Submits `tasks` noop tasks from `concurrency` submitters while polling, in batches, the
/// statuses of those not yet finished, until all have finished.
async fn throughput_phase(
    client: &OverlordClient,
    tasks: usize,
    concurrency: usize,
) -> anyhow::Result<ThroughputRun> {
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let (submitted_tx, mut submitted_rx) = mpsc::unbounded_channel::<String>();
    let mut submitters = JoinSet::new();
    for _ in 0..concurrency.min(tasks) {
        let (client, next, tx) = (client.clone(), next.clone(), submitted_tx.clone());
        submitters.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < tasks {
                let id = client.submit(NOOP_SPEC).await?;
                if tx.send(id).is_err() {
                    break;
                }
            }
            anyhow::Ok(Instant::now())
        });
    }
    // Only the submitters hold senders now, so the channel closes when the last one is done.
    drop(submitted_tx);

    let mut last_submit = start;
    let mut last_completion = start;
    let mut submitted = 0;
    let mut succeeded = 0;
    let mut failures = Vec::new();
    let mut unfinished: Vec<String> = Vec::new();
    let mut submitting = true;
    while submitting || !unfinished.is_empty() {
        // A failed submitter ends the phase at once; dropping the set stops the others.
        while let Some(joined) = submitters.try_join_next() {
            last_submit = last_submit.max(joined.context("a submitter panicked")??);
        }
        loop {
            match submitted_rx.try_recv() {
                Ok(id) => {
                    submitted += 1;
                    unfinished.push(id);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    submitting = false;
                    break;
                }
            }
        }
        let window = unfinished.len().min(STATUS_WINDOW);
        let mut still_unfinished = Vec::with_capacity(unfinished.len());
        if window > 0 {
            let batch = &unfinished[..window];
            let mut statuses = client.task_statuses(batch).await?;
            let observed = Instant::now();
            for id in batch {
                match statuses.remove(id) {
                    Some(status) if status.is_complete() => {
                        last_completion = observed;
                        if status.status == TaskState::Success {
                            succeeded += 1;
                        } else {
                            failures.push(Failure {
                                id: id.clone(),
                                error_msg: status.error_msg,
                            });
                        }
                    }
                    _ => still_unfinished.push(id.clone()),
                }
            }
        }
        still_unfinished.extend_from_slice(&unfinished[window..]);
        unfinished = still_unfinished;
        if start.elapsed() > THROUGHPUT_DEADLINE {
            bail!(
                "{} of {tasks} throughput tasks were not finished after {} s",
                unfinished.len() + tasks.saturating_sub(submitted),
                THROUGHPUT_DEADLINE.as_secs()
            );
        }
        if submitting || !unfinished.is_empty() {
            tokio::time::sleep(THROUGHPUT_POLL).await;
        }
    }
    // A submitter may have failed after the last check; its error must not be lost.
    while let Some(joined) = submitters.join_next().await {
        last_submit = last_submit.max(joined.context("a submitter panicked")??);
    }
    ensure!(
        submitted == tasks,
        "only {submitted} of {tasks} throughput tasks were submitted"
    );
    Ok(ThroughputRun {
        timing: ThroughputTiming {
            submitted,
            succeeded,
            failed: failures.len(),
            submit_time: last_submit - start,
            total_time: last_completion - start,
        },
        failures,
    })
}

/// Nearest-rank percentile of samples sorted ascending: the smallest sample that at least
/// `pct` percent of the samples do not exceed. `None` without samples.
pub fn percentile<T: Copy>(sorted: &[T], pct: u32) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    // Integer arithmetic, so that e.g. p99 of 100 samples is exactly rank 99.
    let rank = (pct as usize * sorted.len()).div_ceil(100);
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct LatencySummary {
    succeeded: usize,
    p50: Option<Duration>,
    p90: Option<Duration>,
    p99: Option<Duration>,
    max: Option<Duration>,
}

impl LatencySummary {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        LatencySummary {
            succeeded: samples.len(),
            p50: percentile(&samples, 50),
            p90: percentile(&samples, 90),
            p99: percentile(&samples, 99),
            max: samples.last().copied(),
        }
    }
}

struct Report {
    overlord: String,
    cores: Option<usize>,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
    warmup_tasks: usize,
    latency: LatencySummary,
    throughput_tasks: usize,
    concurrency: usize,
    throughput: ThroughputTiming,
    failures: Vec<Failure>,
}

impl Report {
    fn tasks_per_second(&self) -> Option<f64> {
        rate(
            self.throughput.succeeded + self.throughput.failed,
            self.throughput.total_time,
        )
    }

    fn submits_per_second(&self) -> Option<f64> {
        rate(self.throughput.submitted, self.throughput.submit_time)
    }

    /// Decimal megabytes; negative when the server shrank.
    fn rss_growth_mb(&self) -> Option<f64> {
        Some((self.rss_after? as f64 - self.rss_before? as f64) / 1e6)
    }

    fn to_json(&self) -> Value {
        let t = &self.throughput;
        json!({
            "overlord": self.overlord,
            "cores": self.cores,
            "rssBeforeBytes": self.rss_before,
            "rssAfterBytes": self.rss_after,
            "rssGrowthMb": self.rss_growth_mb().map(round3),
            "warmupTasks": self.warmup_tasks,
            "latency": {
                "tasks": self.latency.succeeded + self.failures_in_latency(),
                "succeeded": self.latency.succeeded,
                "p50Ms": self.latency.p50.map(ms),
                "p90Ms": self.latency.p90.map(ms),
                "p99Ms": self.latency.p99.map(ms),
                "maxMs": self.latency.max.map(ms),
            },
            "throughput": {
                "tasks": self.throughput_tasks,
                "concurrency": self.concurrency,
                "submitSeconds": round3(t.submit_time.as_secs_f64()),
                "submitsPerSecond": self.submits_per_second().map(round3),
                "seconds": round3(t.total_time.as_secs_f64()),
                "tasksPerSecond": self.tasks_per_second().map(round3),
                "succeeded": t.succeeded,
                "failed": t.failed,
            },
            "failed": self.failures.len(),
            "failures": self.failures.iter().take(SHOWN_FAILURES)
                .map(|f| json!({"id": f.id, "errorMsg": f.error_msg}))
                .collect::<Vec<_>>(),
        })
    }

    fn failures_in_latency(&self) -> usize {
        self.failures.len() - self.throughput.failed
    }

    fn to_text(&self) -> String {
        let (t, lat) = (&self.throughput, &self.latency);
        let cores = self
            .cores
            .map_or("an unknown number of".to_string(), |n| n.to_string());
        let growth = self
            .rss_growth_mb()
            .map_or(String::new(), |g| format!(" ({g:+.1} MB)"));
        let mut lines = vec![
            format!(
                "Steward benchmark against {} ({cores} cores on this machine, shared with the \
                 server)",
                self.overlord
            ),
            format!(
                "Warm-up         {} noop tasks, not measured",
                self.warmup_tasks
            ),
            format!("RSS before      {}", fmt_bytes(self.rss_before)),
            format!(
                "Latency         {} sequential noop tasks, submit until SUCCESS seen",
                lat.succeeded + self.failures_in_latency()
            ),
            format!(
                "  p50 {}   p90 {}   p99 {}   max {}",
                fmt_ms(lat.p50),
                fmt_ms(lat.p90),
                fmt_ms(lat.p99),
                fmt_ms(lat.max)
            ),
            format!(
                "Throughput      {} noop tasks, {} concurrent submitters",
                self.throughput_tasks, self.concurrency
            ),
            format!(
                "  submitted     {} in {:.2} s ({} submits/s)",
                t.submitted,
                t.submit_time.as_secs_f64(),
                fmt_rate(self.submits_per_second())
            ),
            format!(
                "  completed     {} SUCCESS, {} FAILED in {:.2} s: {} tasks/s",
                t.succeeded,
                t.failed,
                t.total_time.as_secs_f64(),
                fmt_rate(self.tasks_per_second())
            ),
            format!("RSS after       {}{growth}", fmt_bytes(self.rss_after)),
        ];
        if !self.failures.is_empty() {
            lines.push(format!("FAILED tasks    {}", self.failures.len()));
            for f in self.failures.iter().take(SHOWN_FAILURES) {
                lines.push(format!(
                    "  {}: {}",
                    f.id,
                    f.error_msg.as_deref().unwrap_or("-")
                ));
            }
        }
        lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

fn rate(count: usize, elapsed: Duration) -> Option<f64> {
    (count > 0 && !elapsed.is_zero()).then(|| count as f64 / elapsed.as_secs_f64())
}

fn ms(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn fmt_ms(d: Option<Duration>) -> String {
    d.map_or("n/a".to_string(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

fn fmt_rate(r: Option<f64>) -> String {
    r.map_or("n/a".to_string(), |r| format!("{r:.1}"))
}

fn fmt_bytes(b: Option<u64>) -> String {
    b.map_or("n/a".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50), Some(50));
        assert_eq!(percentile(&samples, 90), Some(90));
        assert_eq!(percentile(&samples, 99), Some(99));
        assert_eq!(percentile(&samples, 100), Some(100));
        let ten: Vec<u32> = (1..=10).map(|x| x * 10).collect();
        assert_eq!(percentile(&ten, 50), Some(50));
        assert_eq!(percentile(&ten, 90), Some(90));
        assert_eq!(percentile(&ten, 99), Some(100));
        assert_eq!(percentile(&ten, 0), Some(10));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile::<u32>(&[], 50), None);
    }

    #[test]
    fn latency_summary_sorts_its_samples() {
        let samples = [30, 10, 20, 40].map(Duration::from_millis).to_vec();
        let s = LatencySummary::of(samples);
        assert_eq!(s.succeeded, 4);
        assert_eq!(s.p50, Some(Duration::from_millis(20)));
        assert_eq!(s.p90, Some(Duration::from_millis(40)));
        assert_eq!(s.max, Some(Duration::from_millis(40)));
        assert_eq!(LatencySummary::of(Vec::new()).p50, None);
    }

    fn report(failures: Vec<Failure>, throughput_failed: usize) -> Report {
        Report {
            overlord: "http://localhost:8090".into(),
            cores: Some(2),
            rss_before: Some(50_000_000),
            rss_after: Some(62_500_000),
            warmup_tasks: 0,
            latency: LatencySummary::of(vec![Duration::from_millis(5); 3]),
            throughput_tasks: 10,
            concurrency: 4,
            throughput: ThroughputTiming {
                submitted: 10,
                succeeded: 10 - throughput_failed,
                failed: throughput_failed,
                submit_time: Duration::from_millis(500),
                total_time: Duration::from_secs(2),
            },
            failures,
        }
    }

    #[test]
    fn report_figures() {
        let r = report(Vec::new(), 0);
        assert_eq!(r.tasks_per_second(), Some(5.0));
        assert_eq!(r.submits_per_second(), Some(20.0));
        assert_eq!(r.rss_growth_mb(), Some(12.5));
        let v = r.to_json();
        assert_eq!(v["latency"]["p99Ms"], json!(5.0));
        assert_eq!(v["latency"]["tasks"], json!(3));
        assert_eq!(v["throughput"]["tasksPerSecond"], json!(5.0));
        assert_eq!(v["rssGrowthMb"], json!(12.5));
        assert_eq!(v["failed"], json!(0));
        assert_eq!(v["warmupTasks"], json!(0));
        let text = r.to_text();
        assert!(text.contains("(2 cores on this machine"), "{text}");
        assert!(text.contains("Warm-up         0 noop tasks"), "{text}");
        assert!(text.contains("p50 5.0 ms"), "{text}");
        assert!(
            text.contains("10 SUCCESS, 0 FAILED in 2.00 s: 5.0 tasks/s"),
            "{text}"
        );
        assert!(
            text.contains("RSS after       62.5 MB (+12.5 MB)"),
            "{text}"
        );
    }

    #[test]
    fn report_lists_the_first_failures_and_tolerates_missing_figures() {
        let failures: Vec<Failure> = (0..7)
            .map(|i| Failure {
                id: format!("t{i}"),
                error_msg: Some("boom".into()),
            })
            .collect();
        let mut r = report(failures, 6);
        r.rss_after = None;
        let v = r.to_json();
        assert_eq!(v["failed"], json!(7));
        assert_eq!(v["failures"].as_array().unwrap().len(), SHOWN_FAILURES);
        assert_eq!(v["failures"][0], json!({"id": "t0", "errorMsg": "boom"}));
        assert_eq!(v["latency"]["tasks"], json!(4));
        assert_eq!(v["rssGrowthMb"], Value::Null);
        let text = r.to_text();
        assert!(text.contains("RSS after       n/a\n"), "{text}");
        assert!(text.contains("FAILED tasks    7\n  t0: boom\n"), "{text}");
        assert!(!text.contains("t5:"), "{text}");
        assert_eq!(rate(0, Duration::ZERO), None);
    }
}
