//! Building each role's parts from properties, shared by `quickstart` and the cluster roles.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use steward_cluster::zookeeper::{ZkConfig, ZkCoordinator};
use steward_cluster::FileTaskLogs;
use steward_metadata::MetadataStore;
use steward_overlord::api::ApiConfig;
use steward_overlord::{QueueConfig, RetentionConfig, RunnerConfig};
use steward_worker::WorkerConfig;
use tokio::net::TcpListener;

use crate::config::Properties;

/// The data directory, created if missing.
pub fn data_dir(p: &Properties) -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(p.string("steward.dataDir"));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    Ok(dir)
}

/// Queue and runner settings of an Overlord.
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

/// HTTP settings of an Overlord listening on `port`.
pub fn api_settings(p: &Properties, port: u16) -> anyhow::Result<ApiConfig> {
    Ok(ApiConfig {
        self_url: format!("http://{}:{port}", p.string("druid.host")),
        recently_finished_threshold: p.period("druid.indexer.storage.recentlyFinishedThreshold")?,
    })
}

/// The metadata store named by `druid.metadata.storage.connector.connectURI` (SQLite,
/// PostgreSQL or MySQL; a SQLite file in the data directory by default), logged in with
/// `druid.metadata.storage.connector.user` and `.password` when they are set.
pub async fn open_store(p: &Properties, data_dir: &Path) -> anyhow::Result<Arc<dyn MetadataStore>> {
    let uri = p
        .get("druid.metadata.storage.connector.connectURI")
        .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("metadata.db").display()));
    let user = p.get("druid.metadata.storage.connector.user");
    let password = p.get("druid.metadata.storage.connector.password");
    steward_metadata::open_store(
        &uri,
        user.as_deref(),
        password.as_deref(),
        &p.string("druid.metadata.storage.tables.base"),
    )
    .await
    .context("cannot open the metadata store (druid.metadata.storage.connector.connectURI)")
}

/// The retention cleaner's settings (`druid.indexer.logs.kill.*`, in milliseconds as in
/// Druid), or `None` when it is disabled.
pub fn retention_settings(p: &Properties) -> anyhow::Result<Option<RetentionConfig>> {
    let enabled = p.string("druid.indexer.logs.kill.enabled");
    let enabled: bool = enabled.parse().map_err(|_| {
        anyhow::anyhow!("druid.indexer.logs.kill.enabled: [{enabled}] is not true or false")
    })?;
    if !enabled {
        return Ok(None);
    }
    let ms = |key: &str| -> anyhow::Result<Duration> { Ok(Duration::from_millis(p.number(key)?)) };
    let config = RetentionConfig {
        duration_to_retain: ms("druid.indexer.logs.kill.durationToRetain")?,
        initial_delay: ms("druid.indexer.logs.kill.initialDelay")?,
        delay: ms("druid.indexer.logs.kill.delay")?,
    };
    if config.delay.is_zero() {
        bail!("druid.indexer.logs.kill.delay must be positive");
    }
    Ok(Some(config))
}

/// The task-log store (`druid.indexer.logs.*`).
pub fn task_logs(p: &Properties, data_dir: &Path) -> anyhow::Result<FileTaskLogs> {
    if p.string("druid.indexer.logs.type") != "file" {
        bail!("druid.indexer.logs.type: only `file` is supported");
    }
    Ok(FileTaskLogs::new(p.path_or(
        "druid.indexer.logs.directory",
        data_dir.join("indexing-logs"),
    )))
}

/// A MiddleManager listening on `port` with its task dirs under `base_task_dir`.
pub fn worker_settings(
    p: &Properties,
    data_dir: &Path,
    port: u16,
    base_task_dir: PathBuf,
) -> anyhow::Result<WorkerConfig> {
    let host = p.string("druid.host");
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
    Ok(WorkerConfig {
        ip: p.get("druid.worker.ip").unwrap_or_else(|| host.clone()),
        host,
        port,
        capacity: p.number("druid.worker.capacity")?,
        version: p.string("druid.worker.version"),
        category: p.string("druid.worker.category"),
        base_task_dir,
        start_port: p.number("druid.indexer.runner.startPort")?,
        end_port: p.number("druid.indexer.runner.endPort")?,
        ports,
        peon_program: std::env::current_exe().context("cannot find the steward executable")?,
        peon_args: vec!["peon".to_string()],
        graceful_shutdown_timeout: p.period("druid.indexer.task.gracefulShutdownTimeout")?,
        task_logs: task_logs(p, data_dir)?,
    })
}

/// ZooKeeper settings (`druid.zk.*`); `payload_url` is the Overlord's own URL.
pub fn zk_settings(p: &Properties, payload_url: Option<String>) -> anyhow::Result<ZkConfig> {
    let ms = |key: &str| -> anyhow::Result<std::time::Duration> {
        Ok(std::time::Duration::from_millis(p.number(key)?))
    };
    Ok(ZkConfig {
        connect: p.string("druid.zk.service.host"),
        session_timeout: ms("druid.zk.service.sessionTimeoutMs")?,
        connection_timeout: ms("druid.zk.service.connectionTimeoutMs")?,
        base: p.string("druid.zk.paths.base"),
        indexer_base: p.get("druid.zk.paths.indexer.base"),
        announcements_path: p.get("druid.zk.paths.indexer.announcementsPath"),
        tasks_path: p.get("druid.zk.paths.indexer.tasksPath"),
        status_path: p.get("druid.zk.paths.indexer.statusPath"),
        max_znode_bytes: p.bytes("druid.indexer.runner.maxZnodeBytes")?,
        payload_url,
        ..ZkConfig::default()
    })
}

/// Connects to ZooKeeper.
pub async fn connect_zk(config: ZkConfig) -> anyhow::Result<Arc<ZkCoordinator>> {
    let connect = config.connect.clone();
    let zk = ZkCoordinator::connect(config).await.with_context(|| {
        format!("cannot connect to ZooKeeper at {connect} (druid.zk.service.host)")
    })?;
    Ok(Arc::new(zk))
}

/// Listens on all interfaces at `port`.
pub async fn bind(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    let addr: SocketAddr = format!("0.0.0.0:{port}").parse()?;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on port {port} (is another Steward or Druid process running on {host}:{port}?)"))
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
