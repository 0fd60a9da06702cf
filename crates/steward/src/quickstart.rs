//! `steward quickstart`: an Overlord and N MiddleManagers in one process, with SQLite metadata
//! and in-process coordination. The embedded default deployment.
//!
//! Start order matters for restarts: the MiddleManagers restore first (re-adopting peons that
//! outlived the previous process and re-announcing ends recorded on disk), so the Overlord's
//! first view of the cluster already contains them and nothing is assigned twice. Stop order is
//! the reverse: MiddleManagers stop their peons and wait for the Overlord to record those ends,
//! then the Overlord stops.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use steward_cluster::{FileTaskLogs, InProcessCoordinator, WorkerCoordinator};
use steward_metadata::SqliteStore;
use steward_overlord::api::{self, ApiConfig};
use steward_overlord::{Overlord, OverlordParts, QueueConfig, RunnerConfig};
use steward_worker::{MiddleManager, WorkerConfig};
use tokio::net::TcpListener;
use tracing::info;

use crate::config::Properties;

/// Settings of the Overlord, read from properties.
pub fn overlord_settings(p: &Properties) -> anyhow::Result<(QueueConfig, RunnerConfig)> {
    let queue = QueueConfig {
        max_size: p.number("druid.indexer.queue.maxSize")?,
        max_task_payload_size: p.bytes("druid.indexer.queue.maxTaskPayloadSize")?,
        ..QueueConfig::default()
    };
    let runner = RunnerConfig {
        task_assignment_timeout: p.period("druid.indexer.runner.taskAssignmentTimeout")?,
        task_cleanup_timeout: p.period("druid.indexer.runner.taskCleanupTimeout")?,
        max_retries_before_blacklist: p.number("druid.indexer.runner.maxRetriesBeforeBlacklist")?,
        worker_blacklist_backoff_time: p
            .period("druid.indexer.runner.workerBlackListBackoffTime")?,
        worker_blacklist_cleanup_period: p
            .period("druid.indexer.runner.workerBlackListCleanupPeriod")?,
        max_percentage_blacklist_workers: p
            .number("druid.indexer.runner.maxPercentageBlacklistWorkers")?,
        min_worker_version: p.string("druid.indexer.runner.minWorkerVersion"),
    };
    if runner.max_retries_before_blacklist < 1 || runner.max_percentage_blacklist_workers > 100 {
        bail!(
            "maxRetriesBeforeBlacklist must be >= 1 and maxPercentageBlacklistWorkers in [0, 100]"
        );
    }
    Ok((queue, runner))
}

/// Settings of the `index`-th in-process MiddleManager.
fn worker_settings(
    p: &Properties,
    data_dir: &std::path::Path,
    index: u16,
) -> anyhow::Result<WorkerConfig> {
    let host = p.string("druid.host");
    let port = p.number::<u16>("steward.quickstart.workerPort")? + index;
    let ports = match p.get("druid.indexer.runner.ports") {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse::<u16>()
                    .with_context(|| format!("druid.indexer.runner.ports: bad port [{s}]"))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let base = p.path_or("druid.indexer.task.baseTaskDir", data_dir.join("task"));
    Ok(WorkerConfig {
        ip: p.get("druid.worker.ip").unwrap_or_else(|| host.clone()),
        host,
        port,
        capacity: p.number("druid.worker.capacity")?,
        version: p.string("druid.worker.version"),
        category: p.string("druid.worker.category"),
        base_task_dir: base.join(port.to_string()),
        start_port: p.number("druid.indexer.runner.startPort")?,
        end_port: p.number("druid.indexer.runner.endPort")?,
        ports,
        peon_program: std::env::current_exe().context("cannot find the steward executable")?,
        peon_args: vec!["peon".to_string()],
        graceful_shutdown_timeout: p.period("druid.indexer.task.gracefulShutdownTimeout")?,
        task_logs: task_logs(p, data_dir),
    })
}

fn task_logs(p: &Properties, data_dir: &std::path::Path) -> FileTaskLogs {
    FileTaskLogs::new(p.path_or(
        "druid.indexer.logs.directory",
        data_dir.join("indexing-logs"),
    ))
}

async fn bind(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    let addr: SocketAddr = format!("0.0.0.0:{port}").parse()?;
    TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on port {port} (is another Steward or Druid running on {host}:{port}?)"
        )
    })
}

/// Runs quickstart until SIGINT or SIGTERM.
pub async fn run(p: Properties) -> anyhow::Result<()> {
    let data_dir = PathBuf::from(p.string("steward.dataDir"));
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    if p.string("druid.indexer.logs.type") != "file" {
        bail!("druid.indexer.logs.type: only `file` is supported");
    }
    let db_path = match p.get("druid.metadata.storage.connector.connectURI") {
        None => data_dir.join("metadata.db"),
        Some(uri) => match uri.strip_prefix("sqlite:") {
            Some(path) => PathBuf::from(path.trim_start_matches("//")),
            None => bail!("druid.metadata.storage.connector.connectURI: quickstart supports sqlite:<path> only, got [{uri}]"),
        },
    };
    let store = Arc::new(
        SqliteStore::open(&db_path, &p.string("druid.metadata.storage.tables.base"))
            .await
            .with_context(|| format!("cannot open metadata store {}", db_path.display()))?,
    );
    let coordinator = Arc::new(InProcessCoordinator::new());
    let host = p.string("druid.host");
    let overlord_port: u16 = p.number("druid.plaintextPort")?;
    let overlord_listener = bind(&host, overlord_port).await?;

    let mut workers = Vec::new();
    for i in 0..p.number::<u16>("steward.quickstart.workers")? {
        let config = worker_settings(&p, &data_dir, i)?;
        let listener = bind(&host, config.port).await?;
        let mm =
            MiddleManager::start(config, coordinator.clone() as Arc<dyn WorkerCoordinator>).await?;
        info!(
            worker = mm.worker().host,
            capacity = mm.worker().capacity,
            "MiddleManager started"
        );
        let router = mm.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        workers.push(mm);
    }

    let (queue, runner) = overlord_settings(&p)?;
    let overlord = Overlord::start(OverlordParts {
        queue,
        runner,
        store,
        coordinator,
        task_logs: task_logs(&p, &data_dir),
    })
    .await?;
    let api_config = ApiConfig {
        self_url: format!("http://{host}:{overlord_port}"),
        recently_finished_threshold: p.period("druid.indexer.storage.recentlyFinishedThreshold")?,
    };
    let router = api::router(overlord.clone(), api_config);
    let server = tokio::spawn(async move { axum::serve(overlord_listener, router).await });
    info!(url = format!("http://{host}:{overlord_port}"), data_dir = %data_dir.display(), "Steward quickstart is ready");
    eprintln!(
        "Steward quickstart: Overlord on http://{host}:{overlord_port}, data in {}. Ctrl-C stops.",
        data_dir.display()
    );

    wait_for_stop_signal().await?;
    info!("stopping: MiddleManagers first, then the Overlord");
    for mm in workers {
        mm.stop().await;
    }
    overlord.stop().await;
    server.abort();
    info!("stopped");
    Ok(())
}

async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
