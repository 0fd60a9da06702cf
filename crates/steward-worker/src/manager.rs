//! The MiddleManager: the handle a process holds to run a worker, and how a worker starts.
//!
//! Starting reads what a previous MiddleManager left in the base dir ([`crate::restore`]) and
//! the status announcements the coordinator still holds, builds the [`WorkerCore`] from them
//! and hands it to its driver ([`crate::driver`]). The handle then talks to the driver only
//! through requests and the published view, as the HTTP API does.

use std::path::PathBuf;
use std::sync::Arc;

use steward_cluster::{CoordinatorError, WorkerCoordinator};
use steward_model::Worker;
use steward_security::Security;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::WorkerConfig;
use crate::core::WorkerCore;
use crate::driver;
use crate::http::Api;
use crate::layout::Layout;
use crate::metrics::WorkerMetrics;
use crate::ports::{can_bind, PortFinder};
use crate::requests::{Request, View};
use crate::restore;
use crate::shared::Shared;

/// Why a MiddleManager could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot use task directory [{path}]: {source}")]
    TaskDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
    #[error("cannot build the client that calls peons: {0}")]
    Client(#[from] reqwest::Error),
}

/// A running MiddleManager. Dropping it without [`MiddleManager::stop`] stops the worker's
/// bookkeeping but leaves the peons running, for a restarted MiddleManager to re-adopt.
pub struct MiddleManager {
    shared: Arc<Shared>,
    requests: mpsc::UnboundedSender<Request>,
    view: watch::Receiver<View>,
    driver: JoinHandle<()>,
}

impl MiddleManager {
    /// Restores what a previous MiddleManager left in `base_task_dir`, announces the worker and
    /// starts taking assignments.
    pub async fn start(
        config: WorkerConfig,
        coordinator: Arc<dyn WorkerCoordinator>,
    ) -> Result<MiddleManager, WorkerError> {
        let layout = Layout::new(&config.base_task_dir);
        let scan = {
            let (layout, peon_host) = (layout.clone(), config.host.clone());
            tokio::task::spawn_blocking(move || {
                layout.prepare()?;
                restore::scan(&layout, &peon_host)
            })
        };
        let restored = scan
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|source| WorkerError::TaskDir {
                path: config.base_task_dir.clone(),
                source,
            })?;
        let held = coordinator.statuses(&config.worker_id()).await?;
        let ports = PortFinder::new(
            config.ports.clone(),
            config.start_port,
            config.end_port,
            can_bind,
        );
        let (core, effects) =
            WorkerCore::start(config.worker(), &config.host, ports, restored, held);
        let metrics = WorkerMetrics::new(&config)?;
        let shared = Arc::new(Shared {
            config,
            layout,
            metrics,
        });
        let running = driver::start(shared.clone(), coordinator, core, effects).await?;
        Ok(MiddleManager {
            shared,
            requests: running.requests,
            view: running.view,
            driver: running.task,
        })
    }

    /// The worker as currently announced (version `""` while disabled).
    pub fn worker(&self) -> Worker {
        self.view.borrow().worker.clone()
    }

    /// The worker HTTP API (`/druid/worker/v1/...`, `/status/health`); the caller serves it on
    /// `config.port`.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.api(), None)
    }

    /// The worker HTTP API behind authentication and Druid's per-route permissions.
    pub fn secured_router(&self, security: &Security) -> axum::Router {
        crate::http::router(self.api(), Some(security))
    }

    fn api(&self) -> Api {
        Api {
            shared: self.shared.clone(),
            requests: self.requests.clone(),
            view: self.view.clone(),
        }
    }

    /// Stops cleanly: announces the worker disabled, stops every peon gracefully and reports its
    /// end, waits (bounded) for the Overlord to record those ends, then unannounces the worker.
    pub async fn stop(mut self) {
        let (reply, done) = oneshot::channel();
        if self.requests.send(Request::Stop(reply)).is_ok() {
            let _ = done.await;
        }
        let _ = (&mut self.driver).await;
    }
}

impl Drop for MiddleManager {
    fn drop(&mut self) {
        // Ends the driver and, with its JoinSet, every per-task run; the peons are separate
        // processes and keep running.
        self.driver.abort();
    }
}
