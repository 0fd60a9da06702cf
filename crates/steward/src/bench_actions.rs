//! `steward bench-actions`: how many task actions a running Overlord serves per second when many
//! tasks ask at once, the load that Druid's users see slow segment allocation with about 1,000
//! streaming tasks.
//!
//! It submits `--tasks` long `noop` tasks (active tasks may act whether or not a worker has
//! started them yet), then gives each its own client for two timed phases: `lockTryAcquire` +
//! `lockRelease` of the task's own day (one round trip counted per pair), then `segmentAllocate`
//! in that day, each allocation following the task's previous one as a streaming task's do.
//! Every action goes through the leader's HTTP API, its core and, for allocations, the metadata
//! store. Afterwards the tasks are shut down and their pending segments deleted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::json;
use steward_model::action::SegmentAllocate;
use steward_model::{Interval, TaskAction, TaskLockType};
use tokio::task::JoinSet;

use crate::client::{ClientOptions, OverlordClient};

/// Each run writes to a datasource of its own, so runs never meet each other's pending segments.
fn data_source() -> String {
    format!("bench_actions_{}", jiff::Timestamp::now().as_millisecond())
}

/// How long the tasks may take to end once shut down, before the pending segments are deleted.
const END_DEADLINE: Duration = Duration::from_secs(60);

/// Options of `steward bench-actions`.
#[derive(clap::Args, Debug)]
pub struct ActionBenchArgs {
    /// Concurrent tasks, each with its own client.
    #[arg(long, default_value_t = 100)]
    pub tasks: usize,
    /// Length of each timed phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Print one JSON object with the figures instead of the report.
    #[arg(long)]
    pub json: bool,
}

/// A task's own day: no two tasks of the benchmark contend for a lock.
fn day(i: usize) -> Interval {
    let start = jiff::Timestamp::UNIX_EPOCH
        .checked_add(jiff::SignedDuration::from_hours(24 * (i as i64 + 20_000)))
        .expect("in range");
    let end = start
        .checked_add(jiff::SignedDuration::from_hours(24))
        .expect("in range");
    Interval::new(start, end)
}

/// Runs the two phases and prints the report.
pub async fn run(overlord: &ClientOptions, args: &ActionBenchArgs) -> anyhow::Result<()> {
    ensure!(args.tasks >= 1, "--tasks must be at least 1");
    let client = OverlordClient::new(overlord)?;
    let ds = data_source();
    let mut ids = Vec::with_capacity(args.tasks);
    for i in 0..args.tasks {
        let spec = json!({"type": "noop", "dataSource": ds, "runTime": 3_600_000,
                          "id": format!("{ds}_{i}")});
        ids.push(
            client
                .submit(spec.to_string())
                .await
                .context("submitting a task")?,
        );
    }
    let phase = Duration::from_secs(args.seconds);
    let locks = timed(&client, &ids, phase, |client, id, i, _| async move {
        let interval = day(i);
        let lock = client
            .action(
                &id,
                &TaskAction::LockTryAcquire {
                    lock_type: TaskLockType::Exclusive,
                    interval,
                },
            )
            .await?;
        anyhow::ensure!(!lock.is_null(), "task {id} did not get its own day");
        client
            .action(&id, &TaskAction::LockRelease { interval })
            .await?;
        Ok(())
    })
    .await;
    let allocating = ds.clone();
    let allocations = timed(&client, &ids, phase, move |client, id, i, n| {
        let ds = allocating.clone();
        async move {
            // A new sequence each time, so every call allocates a new pending segment (the same
            // sequence again would be answered with the id it already has).
            let segment = client
                .action(
                    &id,
                    &TaskAction::SegmentAllocate(SegmentAllocate {
                        data_source: ds,
                        timestamp: day(i).start,
                        query_granularity: json!("NONE"),
                        preferred_segment_granularity: json!("DAY"),
                        sequence_name: format!("{id}_{n}"),
                        previous_segment_id: None,
                        skip_segment_lineage_check: true,
                        partial_shard_spec: None,
                        lock_granularity: None,
                        task_lock_type: None,
                    }),
                )
                .await?;
            anyhow::ensure!(!segment.is_null(), "task {id} got no segment id");
            Ok(())
        }
    })
    .await;
    for id in &ids {
        let _ = client.shutdown(id).await;
    }
    // The Overlord deletes pending segments only once no task of the datasource is active.
    let ended = Instant::now() + END_DEADLINE;
    while Instant::now() < ended {
        let statuses = client.task_statuses(&ids).await?;
        if statuses.values().all(|s| s.is_complete()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.delete(&format!("pendingSegments/{ds}")).await?;
    let report = json!({
        "tasks": args.tasks,
        "seconds": args.seconds,
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "lockRoundTripsPerSecond": locks.as_ref().map(|n| *n as f64 / args.seconds as f64).ok(),
        "segmentAllocationsPerSecond": allocations.as_ref().map(|n| *n as f64 / args.seconds as f64).ok(),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} tasks, {} s per phase, {} cores",
            args.tasks, args.seconds, report["cores"]
        );
        println!(
            "lockTryAcquire+lockRelease round trips/s: {:.0}",
            report["lockRoundTripsPerSecond"].as_f64().unwrap_or(0.0)
        );
        println!(
            "segmentAllocate/s:                        {:.0}",
            report["segmentAllocationsPerSecond"]
                .as_f64()
                .unwrap_or(0.0)
        );
    }
    locks?;
    allocations?;
    Ok(())
}

/// Runs `step` (client, task id, task index, step number) in a loop for `phase` on one client
/// per task; returns how many steps completed.
async fn timed<F, Fut>(
    client: &OverlordClient,
    ids: &[String],
    phase: Duration,
    step: F,
) -> anyhow::Result<u64>
where
    F: Fn(OverlordClient, String, usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + phase;
    let mut clients = JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        let (client, id, step, done) = (client.clone(), id.clone(), step.clone(), done.clone());
        clients.spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                step(client.clone(), id.clone(), i, n).await?;
                done.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = clients.join_next().await {
        joined??;
    }
    Ok(done.load(Ordering::Relaxed))
}
