//! `steward bench-history`: how fast the Overlord answers with a large task history.
//!
//! Druid's Overlord and console fall over with a long completed-task history (druid-pains
//! §1.3–1.4). This benchmark seeds a PostgreSQL metadata store with completed tasks (1,000,000
//! by default) straight into Druid's `druid_tasks` table, then measures the median and p90 of
//! the four history queries an operator's tools make, against a running Overlord that uses that
//! store, plus the Overlord's RSS before and after.
//!
//! The seeded history spans `--days` days (100 by default: 10,000 tasks a day, the load Druid
//! users report) across `--datasources` datasources, so the default 24-hour
//! `recentlyFinishedThreshold` window holds a realistic day of tasks.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Row};

use crate::bench::percentile;
use crate::client::{ClientOptions, OverlordClient};

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// The Overlord's PostgreSQL metadata store (the same URI as its connectURI).
    #[arg(long)]
    pub metadata_uri: String,
    /// Metadata table prefix (druid.metadata.storage.tables.base).
    #[arg(long, default_value = "druid")]
    pub table_base: String,
    /// Completed tasks to have in the store (missing ones are inserted).
    #[arg(long, default_value_t = 1_000_000)]
    pub tasks: u64,
    /// Days the seeded history spans, ending now.
    #[arg(long, default_value_t = 100)]
    pub days: u64,
    /// Datasources the seeded tasks are spread over.
    #[arg(long, default_value_t = 20)]
    pub datasources: u64,
    /// Requests per query.
    #[arg(long, default_value_t = 100)]
    pub samples: usize,
}

/// Rows inserted per statement while seeding.
const SEED_CHUNK: u64 = 50_000;

pub async fn run(overlord: &ClientOptions, args: &HistoryArgs) -> anyhow::Result<()> {
    let table = format!("{}_tasks", args.table_base);
    if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("invalid table base [{}]", args.table_base);
    }
    let client = OverlordClient::new(overlord)?;
    seed(args, &table).await?;
    let rss_before = client.rss_bytes().await?;
    let queries = [
        (
            "tasks?state=complete&max=100".to_string(),
            "GET tasks?state=complete&max=100",
        ),
        ("completeTasks?n=100".to_string(), "GET completeTasks?n=100"),
        (
            "tasks?datasource=bench_ds_7&state=complete".to_string(),
            "GET tasks?datasource=X&state=complete",
        ),
    ];
    println!(
        "Steward history benchmark against {}: {} completed tasks in {table} ({} cores on this machine)",
        client.base(),
        args.tasks,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    for (path, label) in &queries {
        let (times, rows) = sample(&client, path, args.samples).await?;
        report(label, &times, Some(rows));
    }
    // Single-task status of ids spread over the whole history.
    let mut times = Vec::with_capacity(args.samples);
    for i in 0..args.samples as u64 {
        let n = (i * 7_919 * 127) % args.tasks + 1;
        let path = format!("task/hist_{n}/status");
        let started = Instant::now();
        let v: Value = client.get_json(&path).await?;
        times.push(started.elapsed());
        if v["status"]["statusCode"] != "SUCCESS" {
            bail!("unexpected status for hist_{n}: {v}");
        }
    }
    report("GET task/{id}/status", &times, None);
    let rss_after = client.rss_bytes().await?;
    match (rss_before, rss_after) {
        (Some(a), Some(b)) => println!(
            "Overlord RSS  {:.1} MB before the queries, {:.1} MB after",
            a as f64 / 1e6,
            b as f64 / 1e6
        ),
        _ => println!("Overlord RSS  n/a"),
    }
    Ok(())
}

async fn sample(
    client: &OverlordClient,
    path: &str,
    n: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut times = Vec::with_capacity(n);
    let mut rows = 0;
    for _ in 0..n {
        let started = Instant::now();
        let v: Value = client.get_json(path).await?;
        times.push(started.elapsed());
        rows = v.as_array().map(Vec::len).unwrap_or(0);
    }
    Ok((times, rows))
}

fn report(label: &str, times: &[Duration], rows: Option<usize>) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(f64::NAN);
    let rows = rows.map(|r| format!("  ({r} rows)")).unwrap_or_default();
    println!(
        "{label:<42} p50 {:>6.1} ms  p90 {:>6.1} ms{rows}",
        ms(percentile(&sorted, 50)),
        ms(percentile(&sorted, 90))
    );
}

/// Inserts the completed tasks the store is missing, `SEED_CHUNK` rows per statement, with
/// PostgreSQL generating the rows itself (a million round trips would take longer than the
/// benchmark).
async fn seed(args: &HistoryArgs, table: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(&args.metadata_uri)
        .with_context(|| format!("invalid PostgreSQL URI {}", args.metadata_uri))?
        // Seeding statements are slow by design; sqlx would warn about each one.
        .disable_statement_logging();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to {}", args.metadata_uri))?;
    let have: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE id LIKE 'hist\\_%'"
    )))
    .fetch_one(&pool)
    .await
    .with_context(|| format!("cannot read {table}: is the Overlord's store initialised?"))?
    .get(0);
    let span_ms = args.days * 86_400_000;
    let started = Instant::now();
    let mut next = have as u64 + 1;
    while next <= args.tasks {
        let last = (next + SEED_CHUNK - 1).min(args.tasks);
        // Task i was created span*(1 - i/N) ago, so hist_N is the newest.
        let sql = format!(
            "INSERT INTO {table} (id, created_date, datasource, payload, status_payload, active, type, group_id) \
             SELECT 'hist_' || i, \
                    to_char((now() - ({span_ms} - i * {span_ms} / {n}) * interval '1 millisecond') AT TIME ZONE 'UTC', \
                            'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
                    'bench_ds_' || (i % {ds}), \
                    convert_to('{{\"type\":\"noop\",\"id\":\"hist_' || i || '\",\"groupId\":\"hist_' || i || \
                               '\",\"dataSource\":\"bench_ds_' || (i % {ds}) || '\",\"runTime\":1,\"context\":{{}}}}', 'UTF8'), \
                    convert_to('{{\"id\":\"hist_' || i || '\",\"status\":\"SUCCESS\",\"duration\":5,\"errorMsg\":null,\
                               \"location\":{{\"host\":null,\"port\":-1,\"tlsPort\":-1}}}}', 'UTF8'), \
                    FALSE, 'noop', 'hist_' || i \
             FROM generate_series({next}, {last}) AS i",
            n = args.tasks,
            ds = args.datasources,
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .context("seeding the history")?;
        eprintln!("seeded {last} of {} completed tasks", args.tasks);
        next = last + 1;
    }
    if have as u64 >= args.tasks {
        eprintln!("the store already holds {have} seeded tasks");
    } else {
        eprintln!("seeding took {:.1} s", started.elapsed().as_secs_f64());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
        .execute(&pool)
        .await?;
    Ok(())
}
