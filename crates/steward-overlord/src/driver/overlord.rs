//! [`Overlord`], the handle to one leadership term's core: how the HTTP API submits tasks,
//! shuts them down, changes the worker config and reads the core; and the start of a term,
//! which loads what the core must know before its event loop runs.
//!
//! The handle never touches the core itself: changes are [`Command`]s to the event loop and
//! reads are closures it runs between events, so the handle is cheap to clone and never
//! blocks the loop. Store writes that must precede a change to the core (a task's insert, a
//! worker config) are done here, on the caller's task, and only while the term lasts.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use steward_cluster::{FileTaskLogs, OverlordCoordinator};
use steward_http::InternalClient;
use steward_metadata::{AuditEntry, AuditInfo, MetadataStore, StoreError};
use steward_metrics::Metrics;
use steward_model::{Task, TaskStatus};
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tracing::{error, info};

use super::command::{Command, Query};
use super::event_loop::event_loop;
use super::io::{lock_row_writer, IoRunner, Lanes, SHUTDOWN_TIMEOUT};
use crate::config::{QueueConfig, RunnerConfig};
use crate::core::OverlordCore;
use crate::queue::QueueError;
use crate::term::Term;
use crate::worker_config::{InvalidWorkerConfig, WorkerBehaviorConfig, CONFIG_KEY};

/// Why a submission failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(StoreError),
}

/// Why a worker config change failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerConfigError {
    /// The config is not valid JSON or not a config Steward can honour.
    #[error(transparent)]
    Invalid(#[from] InvalidWorkerConfig),
    /// The store did not take it; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Overlord is stopping or no longer leads: the config applies from the next start if
    /// it was stored.
    #[error("the overlord is not running")]
    NotStarted,
}

/// Everything the driver needs from outside.
#[derive(Clone)]
pub struct OverlordParts {
    pub queue: QueueConfig,
    pub runner: RunnerConfig,
    pub store: Arc<dyn MetadataStore>,
    pub coordinator: Arc<dyn OverlordCoordinator>,
    pub task_logs: FileTaskLogs,
    /// How the Overlord calls MiddleManagers (TLS trust, escalator credentials).
    pub internal_client: InternalClient,
    /// Where task ends and assignments are recorded (the registry `/metrics` serves).
    pub metrics: Metrics,
}

/// Handle to a running Overlord.
#[derive(Clone)]
pub struct Overlord {
    pub(super) tx: mpsc::UnboundedSender<Command>,
    pub(super) store: Arc<dyn MetadataStore>,
    task_logs: FileTaskLogs,
    http: reqwest::Client,
    queue_config: Arc<QueueConfig>,
    /// Held from storing a worker config until the core has it, so that concurrent changes
    /// reach the core in the order the store recorded them.
    worker_config_writes: Arc<Mutex<()>>,
    /// Moves whenever the core releases a lock (see `OverlordCore::lock_releases`).
    pub(super) lock_releases: watch::Receiver<u64>,
    /// One segment allocation at a time per datasource, as in Druid: two allocations in one
    /// interval would otherwise both pick the next partition number.
    pub(super) allocations: Arc<std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>>,
    term: Term,
}

impl Overlord {
    /// Starts an Overlord that leads for as long as it runs (see `Overlord::start_term`).
    pub async fn start(parts: OverlordParts) -> anyhow::Result<Overlord> {
        Overlord::start_term(parts, Term::unending()).await
    }

    /// Starts a leadership term: loads the stored worker config, subscribes to the
    /// coordinator, adopts what workers already run, loads the stored active tasks into the
    /// queue and starts the event loop, which runs until it is stopped or the term ends.
    pub(crate) async fn start_term(parts: OverlordParts, term: Term) -> anyhow::Result<Overlord> {
        let OverlordParts {
            queue,
            runner,
            store,
            coordinator,
            task_logs,
            internal_client,
            metrics,
        } = parts;
        let http = internal_client
            .builder()
            .timeout(SHUTDOWN_TIMEOUT)
            .build()?;
        let queue_config = Arc::new(queue.clone());
        let assignment_timeout = runner.task_assignment_timeout;
        let mut core = OverlordCore::new(queue, runner);
        // Before any task can be assigned, so that none is placed under the wrong strategy.
        let worker_config = load_worker_config(store.as_ref()).await?;
        let mut effects = core.set_worker_config(worker_config, Timestamp::now());
        let mut events = coordinator.subscribe().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let io = IoRunner {
            tx: tx.clone(),
            assignment_timeout,
            store: store.clone(),
            coordinator: coordinator.clone(),
            http: http.clone(),
            lock_rows: lock_row_writer(store.clone(), term.clone()),
            term: term.clone(),
            lanes: Lanes::default(),
            metrics,
        };
        let now = Timestamp::now();
        // The coordinator enqueues its current state before `subscribe` returns: feed it in
        // first so that tasks already on workers are adopted, not assigned a second time.
        while let Ok(event) = events.try_recv() {
            effects.extend(core.cluster_event(event, now));
        }
        let stored = store.active_tasks().await?;
        effects.extend(core.end_unrunnable(stored.unrunnable, now));
        let tasks: Vec<(Task, Timestamp)> = stored
            .tasks
            .into_iter()
            .map(|(task, info)| (task, info.created_time))
            .collect();
        // Assignments a previous leader wrote that no worker has picked up yet: without them
        // such a task would be assigned again, and run twice once its worker returns.
        let assignments = coordinator.assignments().await?;
        effects.extend(core.adopt_assignments(assignments, &tasks, now));
        let stored_locks = store.active_task_locks().await?;
        effects.extend(core.start(tasks, stored_locks, now));
        io.run_all(&core, effects);
        let (releases_tx, lock_releases) = watch::channel(core.lock_releases());
        tokio::spawn(event_loop(core, rx, events, io, releases_tx, term.clone()));
        Ok(Overlord {
            tx,
            store,
            task_logs,
            http,
            queue_config,
            worker_config_writes: Arc::new(Mutex::new(())),
            lock_releases,
            allocations: Arc::default(),
            term,
        })
    }

    /// The leadership term this Overlord runs in.
    pub(crate) fn term(&self) -> &Term {
        &self.term
    }

    pub(crate) fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    pub(crate) fn task_logs(&self) -> &FileTaskLogs {
        &self.task_logs
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn queue_config(&self) -> &QueueConfig {
        &self.queue_config
    }

    /// Runs a read-only closure against the core, between events.
    pub(crate) async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&OverlordCore) -> R + Send + 'static,
    ) -> Option<R> {
        let (reply, rx) = oneshot::channel();
        let q: Query = Box::new(move |core| {
            let _ = reply.send(f(core));
        });
        self.tx.send(Command::Query(q)).ok()?;
        rx.await.ok()
    }

    /// Accepts a task: reserve it in the queue, store it, then make it active. When this
    /// returns `Ok` the task is stored and visible to every status call.
    pub(crate) async fn submit(&self, task: Task) -> Result<(), SubmitError> {
        let task = task.with_context_defaults(&self.queue_config.default_context);
        let created = Timestamp::now();
        let (reply, rx) = oneshot::channel();
        self.send(Command::Reserve {
            task: task.clone(),
            created,
            reply,
        })?;
        rx.await.map_err(|_| QueueError::NotStarted)??;
        let id = task.id().to_string();
        // A stored task the next leader has not loaded would stay active and unrun.
        if !self.term.is_current() {
            return Err(QueueError::NotStarted.into());
        }
        match self
            .store
            .insert_task(&task, created, &TaskStatus::running(&id))
            .await
        {
            Ok(()) => {
                self.send(Command::Inserted(id))?;
                Ok(())
            }
            Err(e) => {
                self.send(Command::InsertFailed(id.clone()))?;
                Err(match e {
                    StoreError::AlreadyExists(_) => SubmitError::Queue(QueueError::Duplicate(id)),
                    e => SubmitError::Store(e),
                })
            }
        }
    }

    /// Ends an active task FAILED with `reason`; false if it is not active.
    pub(crate) async fn shutdown(&self, task_id: &str, reason: &str) -> bool {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Shutdown {
            task_id: task_id.into(),
            reason: reason.into(),
            reply,
        };
        self.send(cmd).is_ok() && rx.await.unwrap_or(false)
    }

    /// Shuts down every active task of a datasource; returns how many.
    pub(crate) async fn shutdown_data_source(&self, data_source: &str, reason: &str) -> usize {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::ShutdownDataSource {
            data_source: data_source.into(),
            reason: reason.into(),
            reply,
        };
        if self.send(cmd).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }

    /// The stored dynamic worker config as it was posted, `None` if it was never set.
    pub(crate) async fn worker_config(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get_config(CONFIG_KEY).await
    }

    /// Validates a worker config, stores it with an audit entry and applies it. When this
    /// returns `Ok`, every assignment from then on uses the new config.
    pub(crate) async fn set_worker_config(
        &self,
        body: &[u8],
        audit: AuditInfo,
    ) -> Result<(), WorkerConfigError> {
        let parsed = WorkerBehaviorConfig::parse(body)?;
        let _order = self.worker_config_writes.lock().await;
        if !self.term.is_current() {
            return Err(WorkerConfigError::NotStarted);
        }
        self.store
            .set_config_with_audit(CONFIG_KEY, &parsed.json, &audit, Timestamp::now())
            .await?;
        info!(
            author = audit.author,
            comment = audit.comment,
            ip = audit.ip,
            config = %String::from_utf8_lossy(&parsed.json),
            "worker config changed"
        );
        let (reply, rx) = oneshot::channel();
        let cmd = Command::SetWorkerConfig {
            config: parsed.config,
            reply,
        };
        self.tx
            .send(cmd)
            .map_err(|_| WorkerConfigError::NotStarted)?;
        rx.await.map_err(|_| WorkerConfigError::NotStarted)
    }

    /// Recorded worker config changes, newest first (see [`MetadataStore::audit_history`]).
    pub(crate) async fn worker_config_history(
        &self,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        limit: Option<usize>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.store
            .audit_history(CONFIG_KEY, created_after, created_before, limit)
            .await
    }

    /// Stops the event loop (the queue stops; workers and their tasks are not touched).
    pub async fn stop(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Stop(reply)).is_ok() {
            let _ = rx.await;
        }
    }

    pub(super) fn send(&self, cmd: Command) -> Result<(), QueueError> {
        self.tx.send(cmd).map_err(|_| QueueError::NotStarted)
    }
}

/// The stored worker config, or Druid's default when none was ever set. A stored config Steward
/// cannot use (written by Druid with a `javascript` strategy, say) must not keep the Overlord
/// from starting: it is logged and the default applies until a valid one is posted.
async fn load_worker_config(store: &dyn MetadataStore) -> Result<WorkerBehaviorConfig, StoreError> {
    let Some(stored) = store.get_config(CONFIG_KEY).await? else {
        return Ok(WorkerBehaviorConfig::default());
    };
    match WorkerBehaviorConfig::parse(&stored) {
        Ok(parsed) => Ok(parsed.config),
        Err(e) => {
            error!(
                error = %e,
                config = %String::from_utf8_lossy(&stored),
                "stored worker config is not usable; assigning tasks with equalDistribution until a valid one is posted"
            );
            Ok(WorkerBehaviorConfig::default())
        }
    }
}
