//! Cluster mode: `steward overlord` and `steward middle-manager` as separate processes, possibly
//! on separate hosts, coordinated through ZooKeeper with Druid's znode layout. The Overlord's
//! runner and queue and the MiddleManager are the very same as in quickstart; only the
//! coordinator differs. Several Overlords may run: they elect a leader through ZooKeeper, and
//! the others serve their API by redirecting to it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use steward_cluster::{LeaderElection, OverlordCoordinator, WorkerCoordinator};
use steward_metrics::Metrics;
use steward_overlord::api;
use steward_overlord::{spawn_retention, OverlordParts, TaskMaster};
use steward_worker::MiddleManager;
use tracing::info;

use crate::config::Properties;
use crate::settings::{
    api_settings, connect_zk, data_dir, open_store, overlord_settings, peon_settings,
    retention_settings, task_logs, wait_for_stop_signal, worker_settings, zk_settings,
    HttpSettings,
};

/// Cluster roles listen on every interface unless `steward.bindAddress` says otherwise.
const CLUSTER_BIND: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Runs an Overlord until SIGINT or SIGTERM: it serves HTTP from the start, takes part in the
/// leader election under its advertised URL, and runs the queue while it leads. Stopping it
/// leaves workers and their tasks alone and hands the leadership over at once.
pub async fn run_overlord(p: Properties) -> anyhow::Result<()> {
    let data_dir = data_dir(&p)?;
    let http = HttpSettings::load(&p, CLUSTER_BIND)?;
    let (port, tls_port) = (p.port_or(8090)?, p.tls_port_or(8290)?);
    let listeners = http.bind(port, tls_port).await?;
    let metrics = Metrics::new();
    let store = open_store(&p, &data_dir, &metrics).await?;
    let security = http.overlord_security(store.clone()).await?;
    http.warn_if_open("overlord");
    let api_config = api_settings(
        &p,
        http.advertised(port, tls_port),
        security,
        metrics.clone(),
    )?;
    if let Some(retention) = retention_settings(&p)? {
        spawn_retention(store.clone(), task_logs(&p, &data_dir)?, retention);
    }
    let zk = connect_zk(zk_settings(
        &p,
        Some(api_config.self_url.clone()),
        http.internal_client.clone(),
        metrics.clone(),
    )?)
    .await?;
    let (queue, runner) = overlord_settings(&p)?;
    let election = zk.join_election(api_config.self_url.clone());
    let parts = OverlordParts {
        queue,
        runner,
        store,
        coordinator: zk as Arc<dyn OverlordCoordinator>,
        task_logs: task_logs(&p, &data_dir)?,
        internal_client: http.internal_client.clone(),
        metrics,
    };
    let master = TaskMaster::start(parts, election.leadership());
    let url = api_config.self_url.clone();
    let router = api::router_with_master(master.clone(), api_config);
    let servers = http.serve(listeners, router);
    info!(
        url,
        "Overlord is serving and taking part in the leader election"
    );
    wait_for_stop_signal().await?;
    master.stop().await;
    election.close().await;
    for server in servers {
        server.abort();
    }
    info!("Overlord stopped");
    Ok(())
}

/// Runs a MiddleManager until SIGINT or SIGTERM, which stops its peons gracefully. A
/// MiddleManager killed instead leaves its peons running; started again on the same host, port
/// and task dir, it re-adopts them.
pub async fn run_middle_manager(p: Properties) -> anyhow::Result<()> {
    let data_dir = data_dir(&p)?;
    let http = HttpSettings::load(&p, CLUSTER_BIND)?;
    let (port, tls_port) = (p.port_or(8091)?, p.tls_port_or(8291)?);
    let base = p.path_or("druid.indexer.task.baseTaskDir", data_dir.join("task"));
    // Peons learn the Overlords from the leader election's znodes, read as each one starts.
    let peon = peon_settings(&p, &data_dir, &http, Vec::new())?;
    let metrics = Metrics::new();
    let config = worker_settings(
        &p,
        &data_dir,
        http.advertised(port, tls_port),
        base,
        peon,
        &http.internal_client,
        metrics.clone(),
    )?;
    let listeners = http.bind(port, tls_port).await?;
    let zk = connect_zk(zk_settings(
        &p,
        None,
        http.internal_client.clone(),
        metrics,
    )?)
    .await?;
    let mm = MiddleManager::start(config, zk as Arc<dyn WorkerCoordinator>).await?;
    http.warn_if_open("middle-manager");
    let router = match http.worker_security() {
        Some(security) => mm.secured_router(&security),
        None => mm.router(),
    };
    let servers = http.serve(listeners, router);
    info!(
        worker = mm.worker().host,
        capacity = mm.worker().capacity,
        "MiddleManager is ready"
    );
    wait_for_stop_signal().await?;
    mm.stop().await;
    for server in servers {
        server.abort();
    }
    info!("MiddleManager stopped");
    Ok(())
}
