//! `steward datasources`, `steward segments ...` and `steward kill`: published segments as the
//! Overlord's metadata store holds them, through Druid's Coordinator metadata API (which a
//! Steward Overlord serves), marking them used or unused through the Overlord's datasource
//! API, and deleting unused ones with Druid's kill task.

use anyhow::Context;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use steward_model::DataSegment;

use super::commands::{from_answer, print_json, print_line, report, submit, write_out};
use super::http::{ClientError, ClientOptions, OverlordClient};
use super::tables::{data_source_table, segment_table, DataSourceEntry};

/// `steward segments`: list a datasource's segments, or mark them.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SegmentsArgs {
    #[command(subcommand)]
    command: Option<SegmentsCommand>,
    /// The datasource whose segments to list.
    #[arg(required = true)]
    data_source: Option<String>,
    /// Only segments overlapping this interval (with --unused: lying within it), e.g.
    /// 2024-01-01/2024-02-01.
    #[arg(long)]
    interval: Option<String>,
    /// List the unused segments instead of the used ones.
    #[arg(long)]
    unused: bool,
}

/// `steward segments mark-unused|mark-used`.
#[derive(clap::Subcommand, Debug)]
enum SegmentsCommand {
    /// Mark unused the used segments of a datasource lying within an interval.
    MarkUnused(MarkArgs),
    /// Mark used the unused segments of a datasource lying within an interval, except those
    /// newer used segments overshadow.
    MarkUsed(MarkArgs),
}

#[derive(clap::Args, Debug)]
struct MarkArgs {
    data_source: String,
    /// e.g. 2024-01-01/2024-02-01.
    #[arg(long)]
    interval: String,
}

/// `steward kill`: submit Druid's kill task.
#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// The datasource whose unused segments to delete.
    data_source: String,
    /// Delete the unused segments lying within this interval, e.g. 2024-01-01/2024-02-01.
    #[arg(long)]
    interval: String,
    /// Wait for the task to end, showing its progress; exit 0 on SUCCESS, 1 on FAILED.
    #[arg(long)]
    wait: bool,
}

/// Runs `steward datasources`; exit code and error handling as for `steward task`.
pub async fn run_data_sources(options: &ClientOptions, json: bool) -> anyhow::Result<i32> {
    Ok(report(data_sources(options, json).await))
}

/// Runs `steward segments ...`.
pub async fn run_segments(
    options: &ClientOptions,
    json: bool,
    args: SegmentsArgs,
) -> anyhow::Result<i32> {
    Ok(report(segments(options, json, args).await))
}

/// Runs `steward kill`.
pub async fn run_kill(options: &ClientOptions, json: bool, args: KillArgs) -> anyhow::Result<i32> {
    Ok(report(kill(options, json, args).await))
}

async fn data_sources(options: &ClientOptions, json: bool) -> anyhow::Result<i32> {
    let client = OverlordClient::new(options)?;
    let answer = client.data_sources_full().await?;
    if json {
        print_json(&answer)?;
        return Ok(0);
    }
    let entries: Vec<DataSourceEntry> =
        from_answer(client.coordinator_url(&["metadata", "datasources"]), answer)?;
    if entries.is_empty() {
        print_line("no datasources with used segments")?;
    } else {
        write_out(data_source_table(&entries).as_bytes())?;
    }
    Ok(0)
}

/// One entry of `unusedSegments` (Druid's `DataSegmentPlus`): the segment is what is shown.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SegmentPlus {
    data_segment: DataSegment,
}

async fn segments(options: &ClientOptions, json: bool, args: SegmentsArgs) -> anyhow::Result<i32> {
    let client = OverlordClient::new(options)?;
    if let Some(command) = args.command {
        return mark(&client, json, command).await;
    }
    let ds = args
        .data_source
        .context("a datasource is required (clap enforces it)")?;
    let interval = args.interval.as_deref();
    let answer = if args.unused {
        client.unused_segments(&ds, interval).await?
    } else {
        match client.used_segments(&ds, interval).await {
            Ok(answer) => answer,
            // A datasource without used segments is not found: nothing to list.
            Err(ClientError::Http {
                status: StatusCode::NOT_FOUND,
                ..
            }) => json!([]),
            Err(e) => return Err(e.into()),
        }
    };
    if json {
        print_json(&answer)?;
        return Ok(0);
    }
    let url = client.coordinator_url(&["metadata", "datasources", &ds]);
    let segments: Vec<DataSegment> = if args.unused {
        let plus: Vec<SegmentPlus> = from_answer(url, answer)?;
        plus.into_iter().map(|p| p.data_segment).collect()
    } else {
        from_answer(url, answer)?
    };
    if segments.is_empty() {
        let which = if args.unused { "unused" } else { "used" };
        print_line(&format!("no {which} segments in {ds}"))?;
    } else {
        write_out(segment_table(&segments).as_bytes())?;
    }
    Ok(0)
}

async fn mark(
    client: &OverlordClient,
    json: bool,
    command: SegmentsCommand,
) -> anyhow::Result<i32> {
    let (args, used) = match command {
        SegmentsCommand::MarkUnused(args) => (args, false),
        SegmentsCommand::MarkUsed(args) => (args, true),
    };
    let answer = client
        .mark_segments(&args.data_source, used, &args.interval)
        .await?;
    if json {
        print_json(&answer)?;
        return Ok(0);
    }
    let changed = answer
        .get("numChangedSegments")
        .and_then(Value::as_u64)
        .ok_or_else(|| ClientError::BadAnswer {
            url: client
                .indexer_url(&["datasources", &args.data_source])
                .to_string(),
            detail: format!("no numChangedSegments in {answer}"),
        })?;
    let state = if used { "used" } else { "unused" };
    print_line(&format!(
        "{changed} segments of {} marked {state}",
        args.data_source
    ))?;
    Ok(0)
}

/// Submits `{"type":"kill","dataSource":...,"interval":...}` as `steward task submit` does.
async fn kill(options: &ClientOptions, json: bool, args: KillArgs) -> anyhow::Result<i32> {
    let client = OverlordClient::new(options)?;
    let spec = json!({
        "type": "kill",
        "dataSource": args.data_source,
        "interval": args.interval,
    });
    submit(&client, json, spec.to_string().into_bytes(), args.wait).await
}
