//! Cluster mode: `steward overlord` and `steward middle-manager` as separate processes, possibly
//! on separate hosts, coordinated through ZooKeeper with Druid's znode layout. The Overlord's
//! runner and queue and the MiddleManager are the very same as in quickstart; only the
//! coordinator differs. Several Overlords may run: they elect a leader through ZooKeeper, and
//! the others serve their API by redirecting to it.

use std::net::SocketAddr;
use std::sync::Arc;

use steward_cluster::{LeaderElection, OverlordCoordinator, WorkerCoordinator};
use steward_overlord::api;
use steward_overlord::{spawn_retention, OverlordParts, TaskMaster};
use steward_worker::MiddleManager;
use tracing::info;

use crate::config::Properties;
use crate::settings::{
    api_settings, bind, connect_zk, data_dir, open_store, overlord_settings, retention_settings,
    task_logs, wait_for_stop_signal, worker_settings, zk_settings,
};

/// Runs an Overlord until SIGINT or SIGTERM: it serves HTTP from the start, takes part in the
/// leader election as `http://<druid.host>:<port>`, and runs the queue while it leads. Stopping
/// it leaves workers and their tasks alone and hands the leadership over at once.
pub async fn run_overlord(p: Properties) -> anyhow::Result<()> {
    let data_dir = data_dir(&p)?;
    let host = p.string("druid.host");
    let port = p.port_or(8090)?;
    let api_config = api_settings(&p, port)?;
    let listener = bind(&host, port).await?;
    let store = open_store(&p, &data_dir).await?;
    if let Some(retention) = retention_settings(&p)? {
        spawn_retention(store.clone(), task_logs(&p, &data_dir)?, retention);
    }
    let zk = connect_zk(zk_settings(&p, Some(api_config.self_url.clone()))?).await?;
    let (queue, runner) = overlord_settings(&p)?;
    let election = zk.join_election(api_config.self_url.clone());
    let parts = OverlordParts {
        queue,
        runner,
        store,
        coordinator: zk as Arc<dyn OverlordCoordinator>,
        task_logs: task_logs(&p, &data_dir)?,
    };
    let master = TaskMaster::start(parts, election.leadership());
    let router = api::router_with_master(master.clone(), api_config);
    // The peer address is recorded in the audit trail of dynamic config changes.
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    info!(
        url = format!("http://{host}:{port}"),
        "Overlord is serving and taking part in the leader election"
    );
    wait_for_stop_signal().await?;
    master.stop().await;
    election.close().await;
    server.abort();
    info!("Overlord stopped");
    Ok(())
}

/// Runs a MiddleManager until SIGINT or SIGTERM, which stops its peons gracefully. A
/// MiddleManager killed instead leaves its peons running; started again on the same host, port
/// and task dir, it re-adopts them.
pub async fn run_middle_manager(p: Properties) -> anyhow::Result<()> {
    let data_dir = data_dir(&p)?;
    let host = p.string("druid.host");
    let port = p.port_or(8091)?;
    let base = p.path_or("druid.indexer.task.baseTaskDir", data_dir.join("task"));
    let config = worker_settings(&p, &data_dir, port, base)?;
    let listener = bind(&host, port).await?;
    let zk = connect_zk(zk_settings(&p, None)?).await?;
    let mm = MiddleManager::start(config, zk as Arc<dyn WorkerCoordinator>).await?;
    let router = mm.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    info!(
        worker = mm.worker().host,
        capacity = mm.worker().capacity,
        "MiddleManager is ready"
    );
    wait_for_stop_signal().await?;
    mm.stop().await;
    server.abort();
    info!("MiddleManager stopped");
    Ok(())
}
