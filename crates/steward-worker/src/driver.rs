//! The MiddleManager's driver: one tokio task owns the [`WorkerCore`], feeds it what happens
//! (the coordinator's events, the per-task runs' reports, requests from the HTTP API and the
//! [`MiddleManager`](crate::MiddleManager) handle, the stop's deadline) and carries out the
//! effects it returns.
//!
//! Coordinator writes are carried out here, one at a time, in the order the core gives them:
//! that alone keeps a task's announcements in order (RUNNING without location, RUNNING with
//! location, the end), and a worker writes only a few times per task, so waiting for each write
//! costs nothing a task would notice. Everything slow about a task (files, the peon, log pushes)
//! runs on its own tokio task ([`crate::task_run`]) and comes back as an input. The HTTP API reads
//! the [`View`] published after every event, without asking.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use steward_cluster::{sleep_until, CoordinatorError, WorkerCoordinator, WorkerEvent};
use steward_model::Task;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;

use crate::core::{Plan, WorkerCore, WorkerEffect, WorkerInput};
use crate::layout::TaskDir;
use crate::requests::{Answer, Request, RunningTask, View};
use crate::shared::Shared;
use crate::task_run;

/// A started driver: where to send requests, what it publishes, and its task.
pub(crate) struct Running {
    pub requests: mpsc::UnboundedSender<Request>,
    pub view: watch::Receiver<View>,
    pub task: JoinHandle<()>,
}

/// Carries out the effects of [`WorkerCore::start`] (every write must succeed, or the worker
/// does not start), subscribes to the worker's assignments and runs the event loop.
pub(crate) async fn start(
    shared: Arc<Shared>,
    coordinator: Arc<dyn WorkerCoordinator>,
    core: WorkerCore,
    effects: Vec<WorkerEffect>,
) -> Result<Running, CoordinatorError> {
    let host = shared.config.worker_id();
    let mut runs = Vec::new();
    for effect in effects {
        match effect {
            WorkerEffect::Run { task, plan } => runs.push((task, plan)),
            effect => {
                if let Some(written) = write(&*coordinator, &host, &effect).await {
                    written?;
                }
            }
        }
    }
    let mut subscription = coordinator.subscribe(&host).await?;
    let (inputs, inputs_rx) = mpsc::unbounded_channel();
    // Assignments present at subscription go in before any restored task can end, so a stale
    // assignment of a restored task is seen while the task is still known here.
    while let Ok(event) = subscription.try_recv() {
        let _ = inputs.send(WorkerInput::Coordinator(event));
    }
    let (requests, requests_rx) = mpsc::unbounded_channel();
    let (view_tx, view) = watch::channel(View {
        worker: core.worker(),
        logs: BTreeMap::new(),
        running: Vec::new(),
    });
    let mut driver = Driver {
        shared,
        coordinator,
        host: host.clone(),
        core,
        inputs: inputs.clone(),
        tasks: JoinSet::new(),
        runs: HashMap::new(),
        stops: HashMap::new(),
        stop_waiters: Vec::new(),
        view: view_tx,
    };
    driver.tasks.spawn(forward(subscription, inputs));
    for (task, plan) in runs {
        driver.spawn_run(task, plan);
    }
    driver.publish();
    tracing::info!(worker = %host, "MiddleManager started");
    let task = tokio::spawn(
        driver
            .run(inputs_rx, requests_rx)
            .instrument(tracing::info_span!("worker", %host)),
    );
    Ok(Running {
        requests,
        view,
        task,
    })
}

async fn forward(
    mut subscription: mpsc::UnboundedReceiver<WorkerEvent>,
    inputs: mpsc::UnboundedSender<WorkerInput>,
) {
    while let Some(event) = subscription.recv().await {
        if inputs.send(WorkerInput::Coordinator(event)).is_err() {
            return;
        }
    }
    tracing::warn!("coordinator subscription ended: no more assignments will arrive");
}

/// Carries out an effect that is a coordinator write; `None` for any other effect.
async fn write(
    coordinator: &dyn WorkerCoordinator,
    host: &str,
    effect: &WorkerEffect,
) -> Option<Result<(), CoordinatorError>> {
    Some(match effect {
        WorkerEffect::AnnounceWorker(worker) => coordinator.announce(worker).await,
        WorkerEffect::Unannounce => coordinator.unannounce(host).await,
        WorkerEffect::AnnounceStatus(announcement) => {
            coordinator.announce_status(host, announcement).await
        }
        WorkerEffect::AnnounceStarted { running, located } => {
            coordinator.announce_started(host, running, located).await
        }
        WorkerEffect::RemoveAssignment(id) => coordinator.remove_assignment(host, id).await,
        WorkerEffect::Run { .. }
        | WorkerEffect::StopPeon(_)
        | WorkerEffect::ForgetCompleted(_)
        | WorkerEffect::Refuse(_)
        | WorkerEffect::Stopped => return None,
    })
}

/// What carrying out one event's effects came to.
struct Outcome {
    /// The answer to the request that caused them, if one did.
    answer: Result<(), String>,
    stopped: bool,
}

struct Driver {
    shared: Arc<Shared>,
    coordinator: Arc<dyn WorkerCoordinator>,
    host: String,
    core: WorkerCore,
    /// Handed to every run, for its reports.
    inputs: mpsc::UnboundedSender<WorkerInput>,
    /// The coordinator forwarder and every per-task run; dropping the driver aborts them all.
    tasks: JoinSet<()>,
    /// Which task each per-task run serves, so a run that panics still ends its task.
    runs: HashMap<tokio::task::Id, String>,
    /// How to ask each task's run to stop its peon.
    stops: HashMap<String, oneshot::Sender<()>>,
    stop_waiters: Vec<oneshot::Sender<()>>,
    view: watch::Sender<View>,
}

impl Driver {
    async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<WorkerInput>,
        mut requests: mpsc::UnboundedReceiver<Request>,
    ) {
        loop {
            let deadline = self.core.next_deadline().map(instant_of);
            let (effects, reply) = tokio::select! {
                Some(input) = inputs.recv() => (self.core.handle(input, Timestamp::now()), None),
                Some(request) = requests.recv() => self.request(request),
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    (self.joined(joined), None)
                }
                () = sleep_until(deadline) => (self.core.tick(Timestamp::now()), None),
            };
            let outcome = self.carry_out(effects).await;
            self.publish();
            if let Some(reply) = reply {
                let _ = reply.send(outcome.answer);
            }
            if outcome.stopped {
                break;
            }
        }
        tracing::info!("MiddleManager stopped");
        for waiter in self.stop_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    /// Feeds a request to the core; the answer, if one is due now, goes to the returned
    /// sender once the effects are carried out.
    fn request(&mut self, request: Request) -> (Vec<WorkerEffect>, Option<Answer>) {
        let now = Timestamp::now();
        match request {
            Request::Shutdown { id, reply } => (
                self.core.handle(WorkerInput::Shutdown(id), now),
                Some(reply),
            ),
            Request::SetEnabled { enabled, reply } => {
                let input = WorkerInput::SetEnabled(enabled);
                (self.core.handle(input, now), Some(reply))
            }
            Request::Stop(waiter) => {
                self.stop_waiters.push(waiter);
                (self.core.handle(WorkerInput::Stop, now), None)
            }
        }
    }

    async fn carry_out(&mut self, effects: Vec<WorkerEffect>) -> Outcome {
        let mut outcome = Outcome {
            answer: Ok(()),
            stopped: false,
        };
        for effect in effects {
            match effect {
                WorkerEffect::Run { task, plan } => self.spawn_run(task, plan),
                WorkerEffect::StopPeon(id) => {
                    if let Some(stop) = self.stops.remove(&id) {
                        let _ = stop.send(());
                    }
                }
                WorkerEffect::ForgetCompleted(id) => self.forget(&id),
                WorkerEffect::Refuse(reason) => outcome.answer = Err(reason),
                WorkerEffect::Stopped => outcome.stopped = true,
                effect => {
                    if let Some(Err(e)) = write(&*self.coordinator, &self.host, &effect).await {
                        tracing::error!(?effect, "coordinator write failed: {e}");
                        if let WorkerEffect::AnnounceWorker(_) = effect {
                            outcome.answer = Err(e.to_string());
                        }
                    }
                }
            }
        }
        outcome
    }

    fn spawn_run(&mut self, task: Task, plan: Plan) {
        let id = task.id().to_string();
        let (stop, stop_rx) = oneshot::channel();
        self.stops.insert(id.clone(), stop);
        let run = task_run::run(
            self.shared.clone(),
            self.coordinator.clone(),
            task,
            plan,
            stop_rx,
            self.inputs.clone(),
        );
        let run = self
            .tasks
            .spawn(run.instrument(tracing::info_span!("task", id = %id)));
        self.runs.insert(run.id(), id);
    }

    /// A per-task run is over; one that failed ends its task.
    fn joined(
        &mut self,
        joined: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    ) -> Vec<WorkerEffect> {
        let run = match &joined {
            Ok((run, ())) => *run,
            Err(e) => e.id(),
        };
        let Some(id) = self.runs.remove(&run) else {
            return Vec::new();
        };
        // The task may already be running again (its end recorded, then assigned anew); the
        // new run's stop stays.
        if !self.runs.values().any(|other| *other == id) {
            self.stops.remove(&id);
        }
        match joined {
            Ok(_) => Vec::new(),
            Err(e) => {
                let failed = WorkerInput::RunFailed {
                    id,
                    error: e.to_string(),
                };
                self.core.handle(failed, Timestamp::now())
            }
        }
    }

    fn forget(&self, id: &str) {
        match std::fs::remove_file(self.shared.layout.completed_file(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(task = %id, "cannot remove the completed task file: {e}")
            }
            _ => {}
        }
    }

    fn publish(&self) {
        let logs = self
            .core
            .running_ids()
            .map(|id| {
                let dir = TaskDir::new(self.shared.layout.task_dir(id));
                (id.to_string(), dir.log_file())
            })
            .collect();
        let running = self
            .core
            .running_tasks()
            .map(|(task, port)| RunningTask {
                id: task.id().to_string(),
                data_source: task.data_source().to_string(),
                task_type: task.task_type().to_string(),
                port,
            })
            .collect();
        self.view.send_replace(View {
            worker: self.core.worker(),
            logs,
            running,
        });
    }
}

/// The tokio instant of a deadline the core set in wall-clock time.
fn instant_of(deadline: Timestamp) -> Instant {
    let wait = deadline.duration_since(Timestamp::now());
    Instant::now() + Duration::try_from(wait).unwrap_or(Duration::ZERO)
}
