//! `steward quickstart`: an Overlord and N MiddleManagers in one process, with SQLite metadata
//! and in-process coordination. The embedded default deployment; it listens on 127.0.0.1 unless
//! `steward.bindAddress` says otherwise, so a first run on a laptop is not open to its network.
//!
//! Start order matters for restarts: the MiddleManagers restore first (re-adopting peons that
//! outlived the previous process and re-announcing ends recorded on disk), so the Overlord's
//! first view of the cluster already contains them and nothing is assigned twice. Stop order is
//! the reverse: MiddleManagers stop their peons and wait for the Overlord to record those ends,
//! then the Overlord stops.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use steward_cluster::{InProcessCoordinator, WorkerCoordinator};
use steward_metrics::Metrics;
use steward_overlord::api;
use steward_overlord::{spawn_retention, Overlord, OverlordParts};
use steward_worker::MiddleManager;
use tracing::info;

use crate::config::Properties;
use crate::settings::{
    api_settings, data_dir, open_store, overlord_settings, peon_settings, retention_settings,
    task_logs, wait_for_stop_signal, worker_settings, HttpSettings,
};

/// Runs quickstart until SIGINT or SIGTERM.
pub async fn run(p: Properties) -> anyhow::Result<()> {
    let data_dir = data_dir(&p)?;
    let http = HttpSettings::load(&p, IpAddr::V4(Ipv4Addr::LOCALHOST))?;
    let host = p.string("druid.host");
    let overlord_ports = (p.port_or(8090)?, p.tls_port_or(8290)?);
    let overlord_listeners = http.bind(overlord_ports.0, overlord_ports.1).await?;
    // The Overlord's registry; each MiddleManager has its own.
    let metrics = Metrics::new();
    let store = open_store(&p, &data_dir, &metrics).await?;
    let security = http.overlord_security(store.clone()).await?;
    http.warn_if_open("quickstart");
    if let Some(retention) = retention_settings(&p)? {
        spawn_retention(store.clone(), task_logs(&p, &data_dir)?, retention);
    }
    let coordinator = Arc::new(InProcessCoordinator::new());
    let api_config = api_settings(
        &p,
        http.advertised(overlord_ports.0, overlord_ports.1),
        security.clone(),
        metrics.clone(),
    )?;
    // The in-process coordinator holds no election: peons are told this process's URL.
    let peon = peon_settings(&p, &data_dir, &http, vec![api_config.self_url.clone()])?;

    let mut workers = Vec::new();
    let mut servers = Vec::new();
    let first_port = p.number::<u16>("steward.quickstart.workerPort")?;
    let first_tls_port = p.number::<u16>("steward.quickstart.workerTlsPort")?;
    let base = p.path_or("druid.indexer.task.baseTaskDir", data_dir.join("task"));
    for i in 0..p.number::<u16>("steward.quickstart.workers")? {
        let (port, tls_port) = (first_port + i, first_tls_port + i);
        let advertised = http.advertised(port, tls_port);
        let config = worker_settings(
            &p,
            &data_dir,
            advertised,
            base.join(port.to_string()),
            peon.clone(),
            &http.internal_client,
            Metrics::new(),
        )?;
        let listeners = http.bind(port, tls_port).await?;
        let mm =
            MiddleManager::start(config, coordinator.clone() as Arc<dyn WorkerCoordinator>).await?;
        info!(
            worker = mm.worker().host,
            capacity = mm.worker().capacity,
            "MiddleManager started"
        );
        // In one process the MiddleManagers check callers against the Overlord's users and
        // roles, kept fresh from the store, rather than against the bootstrap passwords.
        let router = match &security {
            Some(security) => mm.secured_router(security),
            None => mm.router(),
        };
        servers.extend(http.serve(listeners, router));
        workers.push(mm);
    }

    let (queue, runner) = overlord_settings(&p)?;
    let overlord = Overlord::start(OverlordParts {
        queue,
        runner,
        store,
        coordinator,
        task_logs: task_logs(&p, &data_dir)?,
        internal_client: http.internal_client.clone(),
        metrics,
    })
    .await?;
    let url = api_config.self_url.clone();
    let router = api::router(overlord.clone(), api_config);
    servers.extend(http.serve(overlord_listeners, router));
    info!(url, data_dir = %data_dir.display(), "Steward quickstart is ready");
    eprintln!(
        "Steward quickstart: Overlord on {url} (host {host}), data in {}. Ctrl-C stops.",
        data_dir.display()
    );

    wait_for_stop_signal().await?;
    info!("stopping: MiddleManagers first, then the Overlord");
    for mm in workers {
        mm.stop().await;
    }
    overlord.stop().await;
    for server in servers {
        server.abort();
    }
    info!("stopped");
    Ok(())
}
