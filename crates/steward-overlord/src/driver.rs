//! The driver: one tokio task owns the [`OverlordCore`] and feeds it events; the I/O the core
//! asks for runs on other tasks and reports back as events.
//!
//! This is where Druid's `statusLock` is gone: the core is never locked, the event loop never
//! awaits I/O, and one slow worker or a slow metadata store delays only its own effect.
//! [`Overlord`] is the cheap, cloneable handle the HTTP API uses: submissions, shutdowns and
//! worker config changes are commands, reads are closures run against the core between events.
//!
//! An `Overlord` is one leadership [`Term`]: its event loop and its I/O stop once the term is
//! over (see [`crate::master`]), and it writes to the store only while the term lasts.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use steward_cluster::{CoordinatorError, FileTaskLogs, OverlordCoordinator, RunnerEvent};
use steward_http::{path_segment, InternalClient};
use steward_metadata::{AuditEntry, AuditInfo, MetadataStore, StoreError};
use steward_model::backoff::Backoff;
use steward_model::{Task, TaskStatus, Worker};
use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::{error, info, warn};

use crate::config::{QueueConfig, RunnerConfig};
use crate::core::{IoEffect, OverlordCore};
use crate::master::Term;
use crate::queue::QueueError;
use crate::worker_config::{InvalidWorkerConfig, WorkerBehaviorConfig, CONFIG_KEY};

/// How often tasks the runner holds but the queue does not are swept (Druid's manage loop
/// period); event-driven reconciliation covers the usual cases, this is the safety net.
const RECONCILE_PERIOD: Duration = Duration::from_secs(60);
/// Worker shutdown calls: Druid's `taskShutdownLinkTimeout` per try, a few tries.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);
const SHUTDOWN_TRIES: u32 = 3;
/// Waits between attempts at an assignment or a status write while the coordinator or the
/// store is out.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

type Query = Box<dyn FnOnce(&OverlordCore) + Send>;

enum Command {
    Reserve {
        task: Task,
        created: Timestamp,
        reply: oneshot::Sender<Result<(), QueueError>>,
    },
    Inserted(String),
    InsertFailed(String),
    Shutdown {
        task_id: String,
        reason: String,
        reply: oneshot::Sender<bool>,
    },
    ShutdownDataSource {
        data_source: String,
        reason: String,
        reply: oneshot::Sender<usize>,
    },
    AssignFailed {
        task_id: String,
        worker: String,
        worker_gone: bool,
    },
    Persisted {
        task_id: String,
        row_changed: bool,
    },
    SetWorkerConfig {
        config: WorkerBehaviorConfig,
        reply: oneshot::Sender<()>,
    },
    Query(Query),
    Stop(oneshot::Sender<()>),
}

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

/// `<worker>/druid/worker/v1/task/<id>/<rest>`, the id percent-encoded: a task id may hold
/// `?`, `#`, `%` or spaces, which would otherwise end the path or be decoded into another id.
pub fn worker_task_url(worker: &Worker, task_id: &str, rest: &str) -> String {
    format!(
        "{}/druid/worker/v1/task/{}/{rest}",
        worker.url(),
        path_segment(task_id)
    )
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
}

/// Handle to a running Overlord.
#[derive(Clone)]
pub struct Overlord {
    tx: mpsc::UnboundedSender<Command>,
    store: Arc<dyn MetadataStore>,
    task_logs: FileTaskLogs,
    http: reqwest::Client,
    queue_config: Arc<QueueConfig>,
    /// Held from storing a worker config until the core has it, so that concurrent changes
    /// reach the core in the order the store recorded them.
    worker_config_writes: Arc<Mutex<()>>,
    term: Term,
}

impl Overlord {
    /// Starts an Overlord that leads for as long as it runs (see [`Overlord::start_term`]).
    pub async fn start(parts: OverlordParts) -> anyhow::Result<Overlord> {
        Overlord::start_term(parts, Term::unending()).await
    }

    /// Starts a leadership term: loads the stored worker config, subscribes to the
    /// coordinator, adopts what workers already run, loads the stored active tasks into the
    /// queue and starts the event loop, which runs until it is stopped or the term ends.
    pub async fn start_term(parts: OverlordParts, term: Term) -> anyhow::Result<Overlord> {
        let OverlordParts {
            queue,
            runner,
            store,
            coordinator,
            task_logs,
            internal_client,
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
            term: term.clone(),
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
        effects.extend(core.start(tasks, now));
        io.run_all(effects);
        tokio::spawn(event_loop(core, rx, events, io, term.clone()));
        Ok(Overlord {
            tx,
            store,
            task_logs,
            http,
            queue_config,
            worker_config_writes: Arc::new(Mutex::new(())),
            term,
        })
    }

    /// The leadership term this Overlord runs in.
    pub fn term(&self) -> &Term {
        &self.term
    }

    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    pub fn task_logs(&self) -> &FileTaskLogs {
        &self.task_logs
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn queue_config(&self) -> &QueueConfig {
        &self.queue_config
    }

    /// Runs a read-only closure against the core, between events.
    pub async fn query<R: Send + 'static>(
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
    pub async fn submit(&self, task: Task) -> Result<(), SubmitError> {
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
    pub async fn shutdown(&self, task_id: &str, reason: &str) -> bool {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Shutdown {
            task_id: task_id.into(),
            reason: reason.into(),
            reply,
        };
        self.send(cmd).is_ok() && rx.await.unwrap_or(false)
    }

    /// Shuts down every active task of a datasource; returns how many.
    pub async fn shutdown_data_source(&self, data_source: &str, reason: &str) -> usize {
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
    pub async fn worker_config(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get_config(CONFIG_KEY).await
    }

    /// Validates a worker config, stores it with an audit entry and applies it. When this
    /// returns `Ok`, every assignment from then on uses the new config.
    pub async fn set_worker_config(
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
    pub async fn worker_config_history(
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

    fn send(&self, cmd: Command) -> Result<(), QueueError> {
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

async fn event_loop(
    mut core: OverlordCore,
    mut rx: mpsc::UnboundedReceiver<Command>,
    mut events: mpsc::UnboundedReceiver<RunnerEvent>,
    io: IoRunner,
    term: Term,
) {
    let mut reconcile = tokio::time::interval(RECONCILE_PERIOD);
    reconcile.tick().await;
    let mut events_open = true;
    let mut was_busy = false;
    let mut ending = term.clone();
    loop {
        if !term.is_current() {
            info!(term = term.id(), "term over: overlord event loop stopped");
            break;
        }
        let sleep = match core.next_deadline() {
            Some(t) => {
                let wait = t.duration_since(Timestamp::now());
                Duration::try_from(wait).unwrap_or(Duration::ZERO)
            }
            None => Duration::from_secs(3600),
        };
        let effects = tokio::select! {
            cmd = rx.recv() => match cmd {
                None => break,
                Some(Command::Stop(reply)) => {
                    info!("overlord event loop stopped");
                    let _ = reply.send(());
                    break;
                }
                Some(cmd) => handle(&mut core, cmd),
            },
            event = events.recv(), if events_open => match event {
                Some(event) => core.cluster_event(event, Timestamp::now()),
                None => {
                    warn!("coordinator event stream closed");
                    events_open = false;
                    Vec::new()
                }
            },
            _ = tokio::time::sleep(sleep) => core.tick(Timestamp::now()),
            _ = reconcile.tick() => core.reconcile(Timestamp::now()),
            () = ending.ended() => Vec::new(),
        };
        io.run_all(effects);
        let busy = !core.queue.is_empty();
        if was_busy && !busy {
            core.shrink_to_fit();
            release_free_memory();
        }
        was_busy = busy;
    }
}

/// Hands memory freed after a burst back to the operating system. glibc keeps freed heap
/// pages of every thread's arena mapped, so without this a burst of thousands of queued tasks
/// would leave the Overlord's RSS at its high-water mark long after the queue drained.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::task::spawn_blocking(|| {
        // SAFETY: malloc_trim only walks and releases the allocator's own free lists.
        unsafe { libc::malloc_trim(0) };
    });
}

fn handle(core: &mut OverlordCore, cmd: Command) -> Vec<IoEffect> {
    let now = Timestamp::now();
    match cmd {
        Command::Reserve {
            task,
            created,
            reply,
        } => {
            let _ = reply.send(core.reserve(&task, created));
            Vec::new()
        }
        Command::Inserted(id) => core.inserted(&id, now),
        Command::InsertFailed(id) => {
            core.insert_failed(&id);
            Vec::new()
        }
        Command::Shutdown {
            task_id,
            reason,
            reply,
        } => {
            let (found, effects) = core.shutdown(&task_id, &reason, now);
            let _ = reply.send(found);
            effects
        }
        Command::ShutdownDataSource {
            data_source,
            reason,
            reply,
        } => {
            let (n, effects) = core.shutdown_data_source(&data_source, &reason, now);
            let _ = reply.send(n);
            effects
        }
        Command::AssignFailed {
            task_id,
            worker,
            worker_gone,
        } => core.assign_failed(&task_id, &worker, worker_gone, now),
        Command::Persisted {
            task_id,
            row_changed,
        } => core.persisted(&task_id, row_changed, now),
        Command::SetWorkerConfig { config, reply } => {
            let effects = core.set_worker_config(config, now);
            let _ = reply.send(());
            effects
        }
        Command::Query(q) => {
            q(core);
            Vec::new()
        }
        Command::Stop(_) => unreachable!("handled by the loop"),
    }
}

/// Carries out [`IoEffect`]s, each on its own task, within the term.
struct IoRunner {
    tx: mpsc::UnboundedSender<Command>,
    assignment_timeout: Duration,
    store: Arc<dyn MetadataStore>,
    coordinator: Arc<dyn OverlordCoordinator>,
    http: reqwest::Client,
    term: Term,
}

impl IoRunner {
    fn run_all(&self, effects: Vec<IoEffect>) {
        for effect in effects {
            self.run(effect);
        }
    }

    /// Spawns an effect that stops, before its next step, once the term is over.
    fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        tokio::spawn(self.term.clone().run(work));
    }

    fn run(&self, effect: IoEffect) {
        let tx = self.tx.clone();
        let coordinator = self.coordinator.clone();
        match effect {
            IoEffect::Assign { worker, task } => {
                let give_up = self.assignment_timeout;
                self.spawn(async move {
                    let task_id = task.id().to_string();
                    let started = std::time::Instant::now();
                    let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
                    loop {
                        match coordinator.assign(&worker.host, &task).await {
                            Ok(()) | Err(CoordinatorError::Exists(_)) => return,
                            // The leadership is over; the next leader assigns the task.
                            Err(CoordinatorError::NotLeader) => return,
                            // A coordinator outage is waited out; the runner's assignment
                            // timeout still bounds how long the task may stay unassigned.
                            Err(CoordinatorError::Unavailable(e))
                                if started.elapsed() < give_up =>
                            {
                                warn!(task = task_id, worker = worker.host, error = %e, "coordinator unavailable; retrying assignment");
                                tokio::time::sleep(backoff.next_wait()).await;
                            }
                            Err(e) => {
                                warn!(task = task_id, worker = worker.host, error = %e, "assignment failed");
                                let worker_gone = matches!(e, CoordinatorError::NoNode(_));
                                let _ = tx.send(Command::AssignFailed {
                                    task_id,
                                    worker: worker.host,
                                    worker_gone,
                                });
                                return;
                            }
                        }
                    }
                });
            }
            IoEffect::RemoveAssignment { worker, task_id } => {
                self.spawn(async move {
                    if let Err(e) = coordinator.remove_assignment(&worker, &task_id).await {
                        warn!(task = task_id, worker, error = %e, "could not remove assignment");
                    }
                });
            }
            IoEffect::RemoveStatus { worker, task_id } => {
                self.spawn(async move {
                    if let Err(e) = coordinator.remove_status(&worker, &task_id).await {
                        warn!(task = task_id, worker, error = %e, "could not remove status announcement");
                    }
                });
            }
            IoEffect::ShutdownOnWorker { worker, task_id } => {
                let http = self.http.clone();
                self.spawn(async move {
                    let url = worker_task_url(&worker, &task_id, "shutdown");
                    for attempt in 1..=SHUTDOWN_TRIES {
                        match http.post(&url).send().await {
                            Ok(r) if r.status().is_success() => return,
                            Ok(r) => {
                                warn!(task = task_id, status = %r.status(), attempt, "worker refused shutdown")
                            }
                            Err(e) => {
                                warn!(task = task_id, error = %e, attempt, "worker shutdown call failed")
                            }
                        }
                    }
                });
            }
            IoEffect::PersistStatus(status) => {
                let store = self.store.clone();
                self.spawn(async move {
                    // Never give up on an end: retry until the store takes it (nothing is lost
                    // while the store is down; the task stays active in memory meanwhile).
                    let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
                    loop {
                        match store.set_status(&status).await {
                            Ok(row_changed) => {
                                let _ = tx.send(Command::Persisted {
                                    task_id: status.id.clone(),
                                    row_changed,
                                });
                                return;
                            }
                            Err(e) => {
                                warn!(task = status.id, error = %e, "could not persist task status; retrying");
                                tokio::time::sleep(backoff.next_wait()).await;
                            }
                        }
                    }
                });
            }
        }
    }
}
