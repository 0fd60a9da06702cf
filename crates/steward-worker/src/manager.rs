//! The MiddleManager: the one owner of the worker's state (Druid's `WorkerTaskMonitor` and
//! `WorkerTaskManager`).
//!
//! An actor task holds the running and completed tasks, the ports and the enabled flag. It is fed
//! by one channel: assignments and status removals from the coordinator, `Started`/`Ended` from
//! the per-task runs ([`crate::task_run`]), and requests from the HTTP API and [`MiddleManager`].
//! Because it alone announces, a task's announcements keep their order (RUNNING without
//! location, RUNNING with location, the end), and because an end is sent to it before it is
//! announced, the Overlord's removal of that announcement always finds the task completed. The
//! HTTP API reads a [`View`] the actor publishes after every event, without asking it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use steward_cluster::{sleep_until, CoordinatorError, WorkerCoordinator, WorkerEvent};
use steward_model::end::TaskEnd;
use steward_model::{Task, TaskAnnouncement, TaskLocation, TaskState, TaskStatus, Worker};
use steward_security::Security;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::WorkerConfig;
use crate::layout::{Layout, TaskDir};
use crate::ports::{can_bind, PortFinder};
use crate::restore::{self, Restored};
use crate::task_run::{self, Plan};

/// How long a stopping MiddleManager waits for the Overlord to record the ends it announced.
const STATUS_REMOVAL_WAIT: Duration = Duration::from_secs(5);

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
}

/// What every part of the worker reads and nobody changes.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: WorkerConfig,
    pub layout: Layout,
}

/// Everything the actor reacts to.
#[derive(Debug)]
pub(crate) enum Event {
    Coordinator(WorkerEvent),
    /// The task's peon is running at `location`.
    Started {
        id: String,
        location: TaskLocation,
    },
    /// The task's end is on disk; the announcement is the final one.
    Ended(TaskAnnouncement),
    Shutdown {
        id: String,
        reply: oneshot::Sender<()>,
    },
    SetEnabled {
        enabled: bool,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// What the HTTP API shows: the worker as announced, and the log file of each task here.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub worker: Worker,
    pub logs: BTreeMap<String, PathBuf>,
}

/// A running MiddleManager. Dropping it without [`MiddleManager::stop`] stops the worker's
/// bookkeeping but leaves the peons running, for a restarted MiddleManager to re-adopt.
pub struct MiddleManager {
    events: mpsc::UnboundedSender<Event>,
    view: watch::Receiver<View>,
    actor: JoinHandle<()>,
}

impl MiddleManager {
    /// Restores what a previous MiddleManager left in `base_task_dir`, announces the worker and
    /// starts taking assignments.
    pub async fn start(
        config: WorkerConfig,
        coordinator: Arc<dyn WorkerCoordinator>,
    ) -> Result<MiddleManager, WorkerError> {
        let layout = Layout::new(&config.base_task_dir);
        let host = config.worker_id();
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

        let mut ports = PortFinder::new(
            config.ports.clone(),
            config.start_port,
            config.end_port,
            can_bind,
        );
        for (_, plan) in &restored.tasks {
            if let Plan::Adopt(record) = plan {
                ports.mark_used(record.port);
            }
        }
        reannounce(&*coordinator, &config, &restored).await?;
        coordinator.announce(&config.worker(true)).await?;
        let mut subscription = coordinator.subscribe(&host).await?;

        let (events, rx) = mpsc::unbounded_channel();
        // Assignments present at subscription go in before any restored task can end, so a
        // stale assignment of a restored task is seen while the task is still known here.
        while let Ok(event) = subscription.try_recv() {
            let _ = events.send(Event::Coordinator(event));
        }
        let shared = Arc::new(Shared { config, layout });
        let (view_tx, view) = watch::channel(View {
            worker: shared.config.worker(true),
            logs: BTreeMap::new(),
        });
        let mut actor = Actor {
            shared,
            coordinator,
            host: host.clone(),
            events: events.clone(),
            running: BTreeMap::new(),
            completed: restored.completed,
            ports,
            enabled: true,
            stopping: None,
            tasks: JoinSet::new(),
            runs: HashMap::new(),
            view: view_tx,
        };
        actor.tasks.spawn(forward(subscription, events.clone()));
        for (task, plan) in restored.tasks {
            actor.run_task(task, plan);
        }
        actor.publish();
        tracing::info!(worker = %host, "MiddleManager started");
        let actor = tokio::spawn(
            actor
                .run(rx)
                .instrument(tracing::info_span!("worker", %host)),
        );
        Ok(MiddleManager {
            events,
            view,
            actor,
        })
    }

    /// The worker as currently announced (version `""` while disabled).
    pub fn worker(&self) -> Worker {
        self.view.borrow().worker.clone()
    }

    /// The worker HTTP API (`/druid/worker/v1/...`, `/status/health`); the caller serves it on
    /// `config.port`.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.events.clone(), self.view.clone(), None)
    }

    /// The worker HTTP API behind authentication and Druid's per-route permissions.
    pub fn secured_router(&self, security: &Security) -> axum::Router {
        crate::http::router(self.events.clone(), self.view.clone(), Some(security))
    }

    /// Stops cleanly: announces the worker disabled, stops every peon gracefully and reports its
    /// end, waits (bounded) for the Overlord to record those ends, then unannounces the worker.
    pub async fn stop(mut self) {
        let (reply, done) = oneshot::channel();
        if self.events.send(Event::Stop { reply }).is_ok() {
            let _ = done.await;
        }
        let _ = (&mut self.actor).await;
    }
}

impl Drop for MiddleManager {
    fn drop(&mut self) {
        // Ends the actor and, with its JoinSet, every per-task run; the peons are separate
        // processes and keep running.
        self.actor.abort();
    }
}

/// Tells the Overlord what a restart found: the ends it may not have recorded, the peons still
/// running, and, as Druid does, FAILED for RUNNING announcements no task here explains any more.
async fn reannounce(
    coordinator: &dyn WorkerCoordinator,
    config: &WorkerConfig,
    restored: &Restored,
) -> Result<(), CoordinatorError> {
    let host = config.worker_id();
    for announcement in restored.completed.values() {
        coordinator.announce_status(&host, announcement).await?;
    }
    for (task, plan) in &restored.tasks {
        if let Plan::Adopt(record) = plan {
            let location = TaskLocation::new(config.host.clone(), i32::from(record.port));
            let running = announcement(task, TaskStatus::running(task.id()), location);
            coordinator.announce_status(&host, &running).await?;
        }
    }
    let known: BTreeSet<&str> = restored
        .completed
        .keys()
        .map(String::as_str)
        .chain(restored.tasks.iter().map(|(t, _)| t.id()))
        .collect();
    for stale in coordinator.statuses(&host).await? {
        if stale.status == TaskState::Running && !known.contains(stale.id.as_str()) {
            let end = TaskEnd::UnknownAfterRestart;
            tracing::warn!(task = %stale.id, "{}", end.message());
            let failed = end
                .status(&stale.id)
                .with_location(stale.task_location.clone());
            let repaired = TaskAnnouncement {
                status: TaskState::Failed,
                task_status: failed,
                ..stale
            };
            coordinator.announce_status(&host, &repaired).await?;
        }
    }
    Ok(())
}

fn announcement(task: &Task, status: TaskStatus, location: TaskLocation) -> TaskAnnouncement {
    let status = status.with_location(location.clone());
    TaskAnnouncement::of(task, status, location)
}

async fn forward(
    mut subscription: mpsc::UnboundedReceiver<WorkerEvent>,
    events: mpsc::UnboundedSender<Event>,
) {
    while let Some(event) = subscription.recv().await {
        if events.send(Event::Coordinator(event)).is_err() {
            return;
        }
    }
    tracing::warn!("coordinator subscription ended: no more assignments will arrive");
}

/// A task handed to this worker and not yet ended.
struct RunningTask {
    task: Task,
    port: Option<u16>,
    /// Taken by the first shutdown request.
    stop: Option<oneshot::Sender<()>>,
    /// Whether the start has been announced (and the assignment removed).
    started: bool,
}

struct Stopping {
    replies: Vec<oneshot::Sender<()>>,
    /// Set once every peon has ended: until then the Overlord may remove announcements.
    removal_deadline: Option<Instant>,
}

struct Actor {
    shared: Arc<Shared>,
    coordinator: Arc<dyn WorkerCoordinator>,
    host: String,
    events: mpsc::UnboundedSender<Event>,
    running: BTreeMap<String, RunningTask>,
    completed: BTreeMap<String, TaskAnnouncement>,
    ports: PortFinder,
    enabled: bool,
    stopping: Option<Stopping>,
    /// The coordinator forwarder and every per-task run; dropping the actor aborts them all.
    tasks: JoinSet<()>,
    /// Which task each per-task run serves, so a run that panics still ends its task.
    runs: HashMap<tokio::task::Id, String>,
    view: watch::Sender<View>,
}

impl Actor {
    async fn run(mut self, mut events: mpsc::UnboundedReceiver<Event>) {
        loop {
            let deadline = self.stopping.as_ref().and_then(|s| s.removal_deadline);
            tokio::select! {
                Some(event) = events.recv() => self.handle(event).await,
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.joined(joined).await;
                }
                () = sleep_until(deadline) => {
                    tracing::warn!(
                        tasks = ?self.completed.keys().collect::<Vec<_>>(),
                        "the Overlord has not recorded these ends; they stay in completedTasks"
                    );
                    break;
                }
            }
            self.publish();
            if self.stop_complete() {
                break;
            }
        }
        if let Err(e) = self.coordinator.unannounce(&self.host).await {
            tracing::warn!("cannot unannounce the worker: {e}");
        }
        tracing::info!("MiddleManager stopped");
        for reply in self.stopping.take().map(|s| s.replies).unwrap_or_default() {
            let _ = reply.send(());
        }
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Coordinator(WorkerEvent::Assigned(task)) => self.assigned(task).await,
            Event::Coordinator(WorkerEvent::StatusRemoved(id)) => self.status_removed(&id),
            Event::Started { id, location } => self.started(&id, location).await,
            Event::Ended(announcement) => self.ended(announcement).await,
            Event::Shutdown { id, reply } => {
                self.shutdown(&id);
                let _ = reply.send(());
            }
            Event::SetEnabled { enabled, reply } => {
                let result = self.set_enabled(enabled).await;
                self.publish();
                let _ = reply.send(result);
            }
            Event::Stop { reply } => self.begin_stop(reply).await,
        }
    }

    async fn assigned(&mut self, task: Task) {
        let id = task.id().to_string();
        if self.running.contains_key(&id) || self.completed.contains_key(&id) {
            tracing::info!(task = %id, "assignment of a task already known here: removing it");
            self.remove_assignment(&id).await;
            return;
        }
        if self.stopping.is_some() {
            tracing::info!(task = %id, "assignment ignored: the MiddleManager is stopping");
            return;
        }
        let cannot_run = |e: String| Plan::Finish {
            status: TaskEnd::SpawnFailed {
                error: &e.to_string(),
            }
            .status(&id),
            attempt: None,
        };
        let plan = if Layout::is_reserved(&id) {
            cannot_run(format!(
                "task id [{id}] is reserved by the MiddleManager's directory layout"
            ))
        } else {
            match self.ports.allocate() {
                Ok(port) => Plan::Launch { port },
                Err(e) => cannot_run(e),
            }
        };
        tracing::info!(task = %id, ?plan, "task assigned");
        self.run_task(task, plan);
    }

    fn run_task(&mut self, task: Task, plan: Plan) {
        let id = task.id().to_string();
        let (stop, stop_rx) = oneshot::channel();
        let port = match &plan {
            Plan::Launch { port } => Some(*port),
            Plan::Adopt(record) => Some(record.port),
            Plan::Finish { .. } => None,
        };
        let started = matches!(plan, Plan::Adopt(_));
        self.running.insert(
            id.clone(),
            RunningTask {
                task: task.clone(),
                port,
                stop: Some(stop),
                started,
            },
        );
        let run = task_run::run(
            self.shared.clone(),
            task,
            plan,
            stop_rx,
            self.events.clone(),
        );
        let run = self
            .tasks
            .spawn(run.instrument(tracing::info_span!("task", id = %id)));
        self.runs.insert(run.id(), id);
    }

    async fn joined(&mut self, joined: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let run = match &joined {
            Ok((run, ())) => *run,
            Err(e) => e.id(),
        };
        let Some(id) = self.runs.remove(&run) else {
            return;
        };
        let Err(e) = joined else { return };
        let Some(task) = self.running.get(&id).map(|t| t.task.clone()) else {
            return;
        };
        tracing::error!(task = %id, "the task's run failed: {e}");
        let status = TaskEnd::WorkerError {
            error: &e.to_string(),
        }
        .status(&id);
        let end = announcement(&task, status, TaskLocation::unknown());
        self.ended(end).await;
    }

    async fn started(&mut self, id: &str, location: TaskLocation) {
        let Some(entry) = self.running.get_mut(id) else {
            return;
        };
        entry.started = true;
        let task = entry.task.clone();
        let unknown = announcement(&task, TaskStatus::running(id), TaskLocation::unknown());
        let located = announcement(&task, TaskStatus::running(id), location);
        if let Err(e) = self
            .coordinator
            .announce_started(&self.host, &unknown, &located)
            .await
        {
            tracing::error!(task = %id, "cannot announce the task's start: {e}");
        }
    }

    async fn ended(&mut self, end: TaskAnnouncement) {
        let id = end.id.clone();
        let Some(entry) = self.running.remove(&id) else {
            return;
        };
        if let Some(port) = entry.port {
            self.ports.release(port);
        }
        if !entry.started {
            self.remove_assignment(&id).await;
        }
        self.completed.insert(id, end.clone());
        self.announce_status(&end).await;
    }

    fn status_removed(&mut self, id: &str) {
        if self.completed.remove(id).is_none() {
            return;
        }
        tracing::info!(task = %id, "the Overlord recorded the end: forgetting the task");
        match std::fs::remove_file(self.shared.layout.completed_file(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(task = %id, "cannot remove the completed task file: {e}")
            }
            _ => {}
        }
    }

    fn shutdown(&mut self, id: &str) {
        match self.running.get_mut(id).and_then(|t| t.stop.take()) {
            Some(stop) => {
                tracing::info!(task = %id, "shutdown requested");
                let _ = stop.send(());
            }
            None => tracing::info!(task = %id, "no peon to stop: not running here, or stopping"),
        }
    }

    async fn set_enabled(&mut self, enabled: bool) -> Result<(), String> {
        if enabled && self.stopping.is_some() {
            return Err("the MiddleManager is stopping".to_string());
        }
        self.enabled = enabled;
        tracing::info!(enabled, "worker re-announced");
        self.coordinator
            .announce(&self.shared.config.worker(enabled))
            .await
            .map_err(|e| e.to_string())
    }

    async fn begin_stop(&mut self, reply: oneshot::Sender<()>) {
        if let Some(stopping) = &mut self.stopping {
            stopping.replies.push(reply);
            return;
        }
        tracing::info!(
            tasks = self.running.len(),
            "stopping: disabling the worker and its peons"
        );
        self.stopping = Some(Stopping {
            replies: vec![reply],
            removal_deadline: None,
        });
        if let Err(e) = self.set_enabled(false).await {
            tracing::warn!("cannot announce the worker disabled: {e}");
        }
        let ids: Vec<String> = self.running.keys().cloned().collect();
        for id in ids {
            self.shutdown(&id);
        }
    }

    /// Whether a stop has finished: every peon ended and every end recorded by the Overlord.
    fn stop_complete(&mut self) -> bool {
        let Some(stopping) = &mut self.stopping else {
            return false;
        };
        if !self.running.is_empty() {
            return false;
        }
        if self.completed.is_empty() {
            return true;
        }
        stopping
            .removal_deadline
            .get_or_insert_with(|| Instant::now() + STATUS_REMOVAL_WAIT);
        false
    }

    async fn announce_status(&self, announcement: &TaskAnnouncement) {
        if let Err(e) = self
            .coordinator
            .announce_status(&self.host, announcement)
            .await
        {
            tracing::error!(task = %announcement.id, status = announcement.status.as_str(),
                "cannot announce the task's status: {e}");
        }
    }

    async fn remove_assignment(&self, id: &str) {
        if let Err(e) = self.coordinator.remove_assignment(&self.host, id).await {
            tracing::warn!(task = %id, "cannot remove the assignment: {e}");
        }
    }

    fn publish(&self) {
        let logs = self
            .running
            .keys()
            .map(|id| {
                (
                    id.clone(),
                    TaskDir::new(self.shared.layout.task_dir(id)).log_file(),
                )
            })
            .collect();
        self.view.send_replace(View {
            worker: self.shared.config.worker(self.enabled),
            logs,
        });
    }
}
