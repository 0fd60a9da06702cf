//! The `steward` binary: every role (quickstart, peon) and the command-line client.

mod dump_segment;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use steward::bench::BenchArgs;
use steward::client::{ClientOptions, KillArgs, SegmentsArgs, TaskCommand};
use steward::config::{defaults_text, Properties};

#[derive(Parser, Debug)]
#[command(
    name = "steward",
    version,
    about = "An indexing service in the shape of Apache Druid's (Overlord, MiddleManagers, peons)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct ClientArgs {
    #[command(flatten)]
    options: ClientOptions,
    /// Print the server's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an Overlord and MiddleManager(s) in one process (SQLite, in-process coordination).
    Quickstart {
        /// Properties file (Druid property names; see `steward config --defaults`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (steward.dataDir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Overlord port (druid.plaintextPort).
        #[arg(long)]
        port: Option<u16>,
        /// Task slots per MiddleManager (druid.worker.capacity).
        #[arg(long)]
        capacity: Option<u32>,
        /// Number of in-process MiddleManagers (steward.quickstart.workers).
        #[arg(long)]
        workers: Option<u16>,
        /// Worker API port of the first MiddleManager (steward.quickstart.workerPort).
        #[arg(long)]
        worker_port: Option<u16>,
    },
    /// Run an Overlord (cluster mode: coordination through ZooKeeper).
    Overlord {
        /// Properties file (Druid property names; see `steward config --defaults`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run a MiddleManager (cluster mode: coordination through ZooKeeper).
    MiddleManager {
        /// Properties file (Druid property names; see `steward config --defaults`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run one task (started by a MiddleManager: `steward peon <taskDir> <attemptId>`).
    #[command(hide = true)]
    Peon { task_dir: PathBuf, attempt_id: u32 },
    /// Work with tasks on an Overlord.
    Task {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// List the Overlord's workers.
    Workers {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the datasources with used segments: their segments, size and interval.
    Datasources {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List a datasource's segments, or mark them used or unused.
    Segments {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: SegmentsArgs,
    },
    /// Delete a datasource's unused segments in an interval (submits Druid's kill task).
    Kill {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: KillArgs,
    },
    /// Measure submit→SUCCESS latency and throughput against a running Overlord.
    Bench {
        #[command(flatten)]
        overlord: ClientOptions,
        #[command(flatten)]
        args: BenchArgs,
    },
    /// Measure task actions (locks, segment allocation) per second with many concurrent tasks.
    BenchActions {
        #[command(flatten)]
        overlord: ClientOptions,
        #[command(flatten)]
        args: steward::bench_actions::ActionBenchArgs,
    },
    /// Measure history queries against an Overlord whose PostgreSQL store holds many tasks.
    BenchHistory {
        #[command(flatten)]
        overlord: ClientOptions,
        #[command(flatten)]
        args: steward::bench_history::HistoryArgs,
    },
    /// Measure one index task on generated wikiticker JSON (rows/s, peak RSS) against DuckDB.
    BenchIngest(steward::bench_ingest::IngestBenchArgs),
    /// Print a segment's rows, metadata or bitmaps (Druid's DumpSegment tool).
    DumpSegment(dump_segment::DumpSegmentArgs),
    /// Show configuration.
    Config {
        /// Print every property with its default and meaning.
        #[arg(long)]
        defaults: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    // A local file tool: no logging setup and no runtime.
    if let Command::DumpSegment(args) = &cli.command {
        if let Err(e) = dump_segment::run(args) {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    // The peon stays lean: no logging setup, no multi-threaded runtime, its own exit code.
    if let Command::Peon {
        task_dir,
        attempt_id,
    } = &cli.command
    {
        std::process::exit(steward_tasks::peon_main(task_dir, *attempt_id));
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STEWARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only help a terminal; in a log file they are noise for grep.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(run(cli.command)).unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        1
    });
    std::process::exit(code);
}

async fn run(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Quickstart {
            config,
            data_dir,
            port,
            capacity,
            workers,
            worker_port,
        } => {
            let mut p = load(config)?;
            if let Some(v) = data_dir {
                p.set("steward.dataDir", v.display());
            }
            if let Some(v) = port {
                p.set("druid.plaintextPort", v);
            }
            if let Some(v) = capacity {
                p.set("druid.worker.capacity", v);
            }
            if let Some(v) = workers {
                p.set("steward.quickstart.workers", v);
            }
            if let Some(v) = worker_port {
                p.set("steward.quickstart.workerPort", v);
            }
            steward::quickstart::run(p).await?;
            Ok(0)
        }
        Command::Overlord { config } => {
            steward::cluster::run_overlord(load(config)?).await?;
            Ok(0)
        }
        Command::MiddleManager { config } => {
            steward::cluster::run_middle_manager(load(config)?).await?;
            Ok(0)
        }
        Command::Peon { .. } | Command::DumpSegment(_) => {
            unreachable!("handled before the runtime starts")
        }
        Command::Task { client, command } => {
            steward::client::run_task_command(&client.options, client.json, command).await
        }
        Command::Workers { client } => {
            steward::client::run_workers(&client.options, client.json).await
        }
        Command::Datasources { client } => {
            steward::client::run_data_sources(&client.options, client.json).await
        }
        Command::Segments { client, args } => {
            steward::client::run_segments(&client.options, client.json, args).await
        }
        Command::Kill { client, args } => {
            steward::client::run_kill(&client.options, client.json, args).await
        }
        Command::Bench { overlord, args } => {
            match steward::bench::run_bench(&overlord, &args).await {
                Ok(()) => Ok(0),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Ok(steward::client::exit_code(&e))
                }
            }
        }
        Command::BenchActions { overlord, args } => {
            steward::bench_actions::run(&overlord, &args).await?;
            Ok(0)
        }
        Command::BenchHistory { overlord, args } => {
            steward::bench_history::run(&overlord, &args).await?;
            Ok(0)
        }
        Command::BenchIngest(args) => {
            steward::bench_ingest::run(&args).await?;
            Ok(0)
        }
        Command::Config { defaults } => {
            if defaults {
                print!("{}", defaults_text());
            } else {
                println!(
                    "Use `steward config --defaults` to list every property with its default."
                );
            }
            Ok(0)
        }
    }
}

fn load(config: Option<PathBuf>) -> anyhow::Result<Properties> {
    match config {
        Some(path) => Properties::load(&path),
        None => Ok(Properties::default()),
    }
}
