//! Building each role's parts from properties, shared by `quickstart` and the cluster roles.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::Router;
use steward_cluster::zookeeper::{ZkConfig, ZkCoordinator};
use steward_cluster::FileTaskLogs;
use steward_http::{
    load_ca, serve, server_tls_config, Connections, InternalClient, ServerHandle, ServerLimits,
    TlsServerConfig,
};
use steward_ingest::input::InputSourceConfig;
use steward_metadata::MetadataStore;
use steward_metrics::Metrics;
use steward_model::peon::{
    BasicCredentials, ChatConfig, ChatTls, PeonConfig, RetryPolicy, StorageConfig,
};
use steward_overlord::api::ApiConfig;
use steward_overlord::{QueueConfig, RetentionConfig, RunnerConfig};
use steward_security::{Security, SecurityConfig};
use steward_worker::WorkerConfig;
use tokio::net::TcpListener;
use tracing::warn;

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
        input_sources: InputSourceConfig {
            allowed_protocols: serde_json::from_str::<Vec<String>>(
                &p.string("druid.ingestion.http.allowedProtocols"),
            )
            .context("druid.ingestion.http.allowedProtocols must be a JSON list of strings")?
            .into_iter()
            .map(|protocol| protocol.to_ascii_lowercase())
            .collect(),
            ..InputSourceConfig::default()
        },
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
        parallel_index_task_slot_ratio: p
            .number("druid.indexer.runner.parallelIndexTaskSlotRatio")?,
    };
    if runner.max_retries_before_blacklist < 1 || runner.max_percentage_blacklist_workers > 100 {
        bail!(
            "maxRetriesBeforeBlacklist must be >= 1 and maxPercentageBlacklistWorkers in [0, 100]"
        );
    }
    if !(0.0..=1.0).contains(&runner.parallel_index_task_slot_ratio) {
        bail!("druid.indexer.runner.parallelIndexTaskSlotRatio must be in [0, 1]");
    }
    Ok((queue, runner))
}

/// HTTP settings of an Overlord reached at `scheme://druid.host:port`, serving `metrics`.
pub fn api_settings(
    p: &Properties,
    (scheme, port): (&str, u16),
    security: Option<Security>,
    metrics: Metrics,
) -> anyhow::Result<ApiConfig> {
    Ok(ApiConfig {
        security,
        metrics,
        self_url: format!("{scheme}://{}:{port}", p.string("druid.host")),
        recently_finished_threshold: p.period("druid.indexer.storage.recentlyFinishedThreshold")?,
    })
}

/// The metadata store named by `druid.metadata.storage.connector.connectURI` (SQLite,
/// PostgreSQL or MySQL; a SQLite file in the data directory by default), logged in with
/// `druid.metadata.storage.connector.user` and `.password` when they are set; its operations
/// are timed in `metrics`.
pub async fn open_store(
    p: &Properties,
    data_dir: &Path,
    metrics: &Metrics,
) -> anyhow::Result<Arc<dyn MetadataStore>> {
    let uri = p
        .get("druid.metadata.storage.connector.connectURI")
        .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("metadata.db").display()));
    let user = p.get("druid.metadata.storage.connector.user");
    let password = p.get("druid.metadata.storage.connector.password");
    steward_metadata::open_timed_store(
        &uri,
        user.as_deref(),
        password.as_deref(),
        &p.string("druid.metadata.storage.tables.base"),
        metrics,
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

/// What a MiddleManager writes into `peon.json` (see [`steward_model::peon`]): deep storage
/// (`druid.storage.*`), the task-action client's retries (`druid.peon.taskActionClient.*`),
/// the internal client's credentials and CA, and `overlord_urls`, the Overlords the
/// MiddleManager knows without asking its coordinator (quickstart's own).
pub fn peon_settings(
    p: &Properties,
    data_dir: &Path,
    http: &HttpSettings,
    overlord_urls: Vec<String>,
) -> anyhow::Result<PeonConfig> {
    if p.string("druid.storage.type") != "local" {
        bail!("druid.storage.type: only `local` is supported");
    }
    let retry = RetryPolicy {
        min_wait: p.period("druid.peon.taskActionClient.retry.minWait")?,
        max_wait: p.period("druid.peon.taskActionClient.retry.maxWait")?,
        max_retry_count: p.number("druid.peon.taskActionClient.retry.maxRetryCount")?,
    };
    Ok(PeonConfig {
        overlord_urls,
        storage: StorageConfig::Local {
            storage_directory: std::path::absolute(
                p.path_or("druid.storage.storageDirectory", data_dir.join("segments")),
            )
            .context("druid.storage.storageDirectory")?,
            zip: p.flag("druid.storage.zip")?,
        },
        retry,
        escalator: http.security.as_ref().map(|s| BasicCredentials {
            username: s.escalator().username().to_string(),
            password: s.escalator().password().to_string(),
        }),
        ca_path: p.get("steward.client.https.caPath").map(PathBuf::from),
        chat: ChatConfig {
            bind_address: Some(http.bind.to_string()),
            // The certificate and key were read once already: the paths are there. Absolute,
            // since a peon does not run in the MiddleManager's directory.
            tls: match &http.tls {
                None => None,
                Some(_) => Some(ChatTls {
                    cert_path: std::path::absolute(
                        p.path_or("steward.server.https.certPath", PathBuf::new()),
                    )
                    .context("steward.server.https.certPath")?,
                    key_path: std::path::absolute(
                        p.path_or("steward.server.https.keyPath", PathBuf::new()),
                    )
                    .context("steward.server.https.keyPath")?,
                }),
            },
        },
    })
}

/// A MiddleManager reached at `scheme://druid.host:port` with its task dirs under
/// `base_task_dir`, handing `peon` to the peons that call the Overlord, calling them with
/// `internal_client` and recording in `metrics`.
pub fn worker_settings(
    p: &Properties,
    data_dir: &Path,
    (scheme, port): (&str, u16),
    base_task_dir: PathBuf,
    peon: PeonConfig,
    internal_client: &InternalClient,
    metrics: Metrics,
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
        scheme: scheme.to_string(),
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
        peon_env_remove: p.secret_variables(),
        peon,
        internal_client: internal_client.clone(),
        metrics,
    })
}

/// ZooKeeper settings (`druid.zk.*`); `payload_url` is the Overlord's own URL, and workers
/// fetch large payloads from it with `internal_client`; requests are timed in `metrics`.
pub fn zk_settings(
    p: &Properties,
    payload_url: Option<String>,
    internal_client: InternalClient,
    metrics: Metrics,
) -> anyhow::Result<ZkConfig> {
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
        internal_client,
        metrics,
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

/// How a process serves HTTP and how it calls other Steward processes: the listen address,
/// the connection limits, TLS.
pub struct HttpSettings {
    bind: IpAddr,
    limits: ServerLimits,
    plaintext: bool,
    tls: Option<Arc<TlsServerConfig>>,
    /// How this process's internal calls reach others (CA to trust, escalator credentials).
    pub internal_client: InternalClient,
    security: Option<SecurityConfig>,
}

/// The ports a process listens on, bound before anything else starts so that a port in use
/// stops the process at once.
pub struct Listeners {
    plaintext: Option<TcpListener>,
    tls: Option<TcpListener>,
}

impl HttpSettings {
    /// Reads the HTTP settings; `default_bind` is the role's listen address when
    /// `steward.bindAddress` is not set.
    pub fn load(p: &Properties, default_bind: IpAddr) -> anyhow::Result<HttpSettings> {
        let security = SecurityConfig::from_properties(|key| p.get(key))
            .map_err(|e| anyhow::anyhow!("security configuration: {e}"))?;
        let bind = match p.get("steward.bindAddress") {
            None => default_bind,
            Some(a) => a
                .trim()
                .parse()
                .with_context(|| format!("steward.bindAddress: [{a}] is not an IP address"))?,
        };
        let max_connections = match p.get("steward.server.http.maxConnections") {
            Some(_) => p.number("steward.server.http.maxConnections")?,
            None => default_max_connections(),
        };
        if max_connections == 0 {
            bail!("steward.server.http.maxConnections must be at least 1");
        }
        let limits = ServerLimits {
            max_idle_time: p.period("druid.server.http.maxIdleTime")?,
            header_read_timeout: p.period("steward.server.http.headerReadTimeout")?,
            max_request_header_size: p.bytes("druid.server.http.maxRequestHeaderSize")?,
            connections: Connections::new(max_connections),
        };
        let plaintext = p.flag("druid.enablePlaintextPort")?;
        let tls = if p.flag("druid.enableTlsPort")? {
            let (Some(cert), Some(key)) = (
                p.get("steward.server.https.certPath"),
                p.get("steward.server.https.keyPath"),
            ) else {
                bail!("druid.enableTlsPort needs steward.server.https.certPath and steward.server.https.keyPath (PEM files)");
            };
            Some(server_tls_config(Path::new(&cert), Path::new(&key))?)
        } else {
            None
        };
        if !plaintext && tls.is_none() {
            bail!("druid.enablePlaintextPort=false needs druid.enableTlsPort=true: no port would be served");
        }
        let ca = match p.get("steward.client.https.caPath") {
            Some(path) => load_ca(Path::new(&path))?,
            None => Vec::new(),
        };
        Ok(HttpSettings {
            bind,
            limits,
            plaintext,
            tls,
            internal_client: InternalClient {
                ca,
                authorization: security.as_ref().map(|s| s.escalator().authorization()),
            },
            security,
        })
    }

    /// Security as an Overlord runs it: users and roles in the metadata store.
    pub async fn overlord_security(
        &self,
        store: Arc<dyn MetadataStore>,
    ) -> anyhow::Result<Option<Security>> {
        let Some(config) = self.security.clone() else {
            return Ok(None);
        };
        Ok(Some(Security::with_store(config, store).await.context(
            "cannot load users and roles from the metadata store",
        )?))
    }

    /// Security as a cluster MiddleManager runs it: the internal client, and `admin` if its
    /// file sets `initialAdminPassword`, only.
    pub fn worker_security(&self) -> Option<Security> {
        self.security.clone().map(Security::without_store)
    }

    /// Says, once at start, what an operator must know about who can reach this process.
    pub fn warn_if_open(&self, role: &str) {
        if self.security.is_none() && !self.bind.is_loopback() {
            warn!(
                role,
                bind = %self.bind,
                "authentication is off and the HTTP ports listen on a non-loopback address: anyone who reaches them can submit and stop tasks and change the configuration (see the README's Security section)"
            );
        }
    }

    /// The scheme and port others reach this process on: HTTPS when it serves TLS (as Druid
    /// prefers its TLS port), else plain HTTP.
    pub fn advertised(&self, plaintext_port: u16, tls_port: u16) -> (&'static str, u16) {
        if self.tls.is_some() {
            ("https", tls_port)
        } else {
            ("http", plaintext_port)
        }
    }

    /// Whether the ports are reachable from other hosts.
    pub fn is_exposed(&self) -> bool {
        !self.bind.is_loopback()
    }

    /// Binds the enabled ports.
    pub async fn bind(&self, plaintext_port: u16, tls_port: u16) -> anyhow::Result<Listeners> {
        let listen = |port: u16| async move {
            TcpListener::bind(SocketAddr::new(self.bind, port))
                .await
                .with_context(|| format!("cannot listen on {}:{port} (is another Steward or Druid process using it?)", self.bind))
        };
        Ok(Listeners {
            plaintext: match self.plaintext {
                true => Some(listen(plaintext_port).await?),
                false => None,
            },
            tls: match self.tls {
                Some(_) => Some(listen(tls_port).await?),
                None => None,
            },
        })
    }

    /// Serves `router` on every bound port.
    pub fn serve(&self, listeners: Listeners, router: Router) -> Vec<ServerHandle> {
        let mut servers = Vec::new();
        if let Some(l) = listeners.plaintext {
            servers.push(serve(l, router.clone(), None, self.limits.clone()));
        }
        if let (Some(l), Some(tls)) = (listeners.tls, &self.tls) {
            servers.push(serve(l, router, Some(tls.clone()), self.limits.clone()));
        }
        servers
    }
}

/// A quarter of the open-file limit (raised to its hard maximum at start), at least 64, for all
/// the process's ports together: the rest stays for peons' logs, task dirs, the store and
/// ZooKeeper.
fn default_max_connections() -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let soft = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    };
    usize::try_from(soft / 4).unwrap_or(usize::MAX).max(64)
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECURED: &str = "\
        druid.auth.authenticatorChain=[\"basic\"]\n\
        druid.auth.authenticator.basic.type=basic\n\
        druid.auth.authenticator.basic.initialInternalClientPassword=internal-secret\n\
        druid.auth.authenticator.basic.authorizerName=basic\n\
        druid.auth.authorizers=[\"basic\"]\n\
        druid.auth.authorizer.basic.type=basic\n\
        druid.escalator.type=basic\n\
        druid.escalator.internalClientUsername=druid_system\n\
        druid.escalator.internalClientPassword=internal-secret\n\
        druid.escalator.authorizerName=basic\n";

    fn peon(text: &str) -> anyhow::Result<PeonConfig> {
        let p = Properties::parse(text)?;
        let http = HttpSettings::load(&p, IpAddr::from([127, 0, 0, 1]))?;
        peon_settings(
            &p,
            Path::new("/var/steward"),
            &http,
            vec!["http://o:8090".into()],
        )
    }

    #[test]
    fn peons_get_druids_defaults_and_no_credentials_without_security() {
        let config = peon("").unwrap();
        assert_eq!(config.overlord_urls, ["http://o:8090"]);
        assert_eq!(
            config.storage,
            StorageConfig::Local {
                storage_directory: "/var/steward/segments".into(),
                zip: false
            }
        );
        assert_eq!(config.retry, RetryPolicy::default());
        assert_eq!((config.escalator, config.ca_path), (None, None));
    }

    #[test]
    fn peons_get_the_configured_storage_retries_and_the_internal_client() {
        let config = peon(&format!(
            "{SECURED}druid.storage.storageDirectory=/mnt/deep\ndruid.storage.zip=true\n\
             druid.peon.taskActionClient.retry.minWait=PT1S\n\
             druid.peon.taskActionClient.retry.maxWait=PT10S\n\
             druid.peon.taskActionClient.retry.maxRetryCount=4\n"
        ))
        .unwrap();
        assert_eq!(
            config.storage,
            StorageConfig::Local {
                storage_directory: "/mnt/deep".into(),
                zip: true
            }
        );
        assert_eq!(
            config.retry,
            RetryPolicy {
                min_wait: Duration::from_secs(1),
                max_wait: Duration::from_secs(10),
                max_retry_count: 4
            }
        );
        assert_eq!(
            config.escalator,
            Some(BasicCredentials {
                username: "druid_system".into(),
                password: "internal-secret".into()
            })
        );
        let err = peon("druid.storage.type=s3\n").unwrap_err().to_string();
        assert_eq!(err, "druid.storage.type: only `local` is supported");
    }

    #[test]
    fn the_parallel_index_slot_ratio_is_read_and_must_be_a_share() {
        let runner = |text: &str| overlord_settings(&Properties::parse(text)?).map(|(_, r)| r);
        assert_eq!(runner("").unwrap().parallel_index_task_slot_ratio, 1.0);
        let half = runner("druid.indexer.runner.parallelIndexTaskSlotRatio=0.5\n").unwrap();
        assert_eq!(half.parallel_index_task_slot_ratio, 0.5);
        for bad in ["1.5", "-0.1", "half"] {
            let text = format!("druid.indexer.runner.parallelIndexTaskSlotRatio={bad}\n");
            let e = runner(&text).unwrap_err().to_string();
            assert!(e.contains("parallelIndexTaskSlotRatio"), "{bad}: {e}");
        }
    }
}
