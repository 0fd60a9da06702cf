//! `steward quickstart`: an Overlord and N MiddleManagers in one process, with SQLite metadata
//! and in-process coordination. The embedded default deployment.
//!
//! Start order matters for restarts: the MiddleManagers restore first (re-adopting peons that
//! outlived the previous process and re-announcing ends recorded on disk), so the Overlord's
//! first view of the cluster already contains them and nothing is assigned twice. Stop order is
//! the reverse: MiddleManagers stop their peons and wait for the Overlord to record those ends,
//! then the Overlord stops.

use std::net::SocketAddr;
use std::sync::Arc;

use steward_cluster::{InProcessCoordinator, WorkerCoordinator};
use steward_overlord::api;
use steward_overlord::{spawn_retention, Overlord, OverlordParts};
use steward_worker::MiddleManager;
use tracing::info;

use crate::config::Properties;
use crate::settings::{
    api_settings, bind, data_dir, open_store, overlord_settings, retention_settings, task_logs,
    wait_for_stop_signal, worker_settings,
};

/// Runs quickstart until SIGINT or SIGTERM.
pub async fn run(p: Properties) -> anyhow::Result<()> {
    let data_dir = data_dir(&p)?;
    let store = open_store(&p, &data_dir).await?;
    if let Some(retention) = retention_settings(&p)? {
        spawn_retention(store.clone(), task_logs(&p, &data_dir)?, retention);
    }
    let coordinator = Arc::new(InProcessCoordinator::new());
    let host = p.string("druid.host");
    let overlord_port = p.port_or(8090)?;
    let overlord_listener = bind(&host, overlord_port).await?;

    let mut workers = Vec::new();
    let first_port = p.number::<u16>("steward.quickstart.workerPort")?;
    let base = p.path_or("druid.indexer.task.baseTaskDir", data_dir.join("task"));
    for i in 0..p.number::<u16>("steward.quickstart.workers")? {
        let port = first_port + i;
        let config = worker_settings(&p, &data_dir, port, base.join(port.to_string()))?;
        let listener = bind(&host, port).await?;
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
        task_logs: task_logs(&p, &data_dir)?,
    })
    .await?;
    let router = api::router(overlord.clone(), api_settings(&p, overlord_port)?);
    let server = tokio::spawn(async move {
        axum::serve(
            overlord_listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
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
