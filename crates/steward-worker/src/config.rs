//! What a MiddleManager is configured with, under Druid's property names.

use std::path::PathBuf;
use std::time::Duration;

use steward_cluster::FileTaskLogs;
use steward_http::InternalClient;
use steward_metrics::Metrics;
use steward_model::peon::{PeonConfig, RetryPolicy, StorageConfig};
use steward_model::{Worker, DEFAULT_WORKER_CATEGORY};

/// A MiddleManager's configuration. [`WorkerConfig::new`] fills in Druid's defaults.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Advertised host (`druid.host`); peons are reached on this host too.
    pub host: String,
    /// Port others reach the worker's HTTP API on (`druid.plaintextPort`, or `druid.tlsPort`
    /// when it serves TLS); the worker id is `host:port`.
    pub port: u16,
    /// `http`, or `https` when the worker serves TLS; announced, so the Overlord calls it so.
    pub scheme: String,
    /// `druid.worker.ip`.
    pub ip: String,
    /// `druid.worker.capacity`.
    pub capacity: u32,
    /// `druid.worker.version`; a disabled worker announces `""` instead.
    pub version: String,
    /// `druid.worker.category`.
    pub category: String,
    /// `druid.indexer.task.baseTaskDir`: task directories and the worker's bookkeeping.
    pub base_task_dir: PathBuf,
    /// `druid.indexer.runner.startPort`: first port scanned for a peon.
    pub start_port: u16,
    /// `druid.indexer.runner.endPort`: last port scanned for a peon.
    pub end_port: u16,
    /// `druid.indexer.runner.ports`: if non-empty, peons get only these ports.
    pub ports: Vec<u16>,
    /// The peon command is `peon_program peon_args... <taskDir> <attemptId>`.
    pub peon_program: PathBuf,
    pub peon_args: Vec<String>,
    /// `druid.indexer.task.gracefulShutdownTimeout`: how long a peon has between SIGTERM and
    /// SIGKILL.
    pub graceful_shutdown_timeout: Duration,
    /// Where finished tasks' logs, reports and statuses are pushed (`druid.indexer.logs.*`).
    pub task_logs: FileTaskLogs,
    /// Environment variables peons do not inherit: the ones this process's secrets came from.
    pub peon_env_remove: Vec<String>,
    /// What a peon whose task calls the Overlord or deep storage finds in its `peon.json`.
    /// The Overlords the coordinator knows at the peon's start (cluster mode: the leader
    /// election's participants) come before `overlord_urls` here.
    pub peon: PeonConfig,
    /// How this MiddleManager calls peons (TLS trust, escalator credentials).
    pub internal_client: InternalClient,
    /// The registry this MiddleManager's `/metrics` serves (its ZooKeeper session's too).
    pub metrics: Metrics,
}

impl WorkerConfig {
    /// A configuration with Druid's defaults: ip = host, capacity = processors - 1 (at least 1),
    /// version `"0"`, the default category, peon ports 8100..=65535, graceful shutdown PT5M,
    /// local deep storage in `/tmp/druid/localStorage`, Druid's action retries, no Overlord
    /// URL besides the coordinator's.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        base_task_dir: impl Into<PathBuf>,
        peon_program: impl Into<PathBuf>,
        task_logs: FileTaskLogs,
    ) -> Self {
        let host = host.into();
        let processors = std::thread::available_parallelism().map_or(1, |n| n.get());
        WorkerConfig {
            ip: host.clone(),
            host,
            port,
            scheme: "http".to_string(),
            capacity: u32::try_from(processors.saturating_sub(1).max(1)).unwrap_or(u32::MAX),
            version: "0".to_string(),
            category: DEFAULT_WORKER_CATEGORY.to_string(),
            base_task_dir: base_task_dir.into(),
            start_port: 8100,
            end_port: 65535,
            ports: Vec::new(),
            peon_program: peon_program.into(),
            peon_args: Vec::new(),
            graceful_shutdown_timeout: Duration::from_secs(300),
            task_logs,
            peon_env_remove: Vec::new(),
            peon: PeonConfig {
                overlord_urls: Vec::new(),
                storage: StorageConfig::Local {
                    storage_directory: PathBuf::from("/tmp/druid/localStorage"),
                    zip: false,
                },
                retry: RetryPolicy::default(),
                escalator: None,
                ca_path: None,
                chat: Default::default(),
            },
            internal_client: InternalClient::default(),
            metrics: Metrics::default(),
        }
    }

    /// The worker id: `host:port`, as Druid names workers everywhere.
    pub(crate) fn worker_id(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The announcement of this worker while enabled (the core clears the version while it
    /// is disabled).
    pub(crate) fn worker(&self) -> Worker {
        Worker {
            scheme: self.scheme.clone(),
            host: self.worker_id(),
            ip: self.ip.clone(),
            capacity: self.capacity,
            version: self.version.clone(),
            category: self.category.clone(),
        }
    }
}
