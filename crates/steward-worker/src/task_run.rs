//! One task's life on this worker, from launch (or re-adoption) to its end.
//!
//! Each task gets its own tokio task that does that task's slow work (files, the process, log
//! pushes) and tells the driver what happened through its input channel:
//! [`WorkerInput::Started`] once the peon runs, [`WorkerInput::Ended`] once the end is on disk.
//! Only the core decides what is announced, so the announcements of one task keep their order.

use std::sync::Arc;
use std::time::Instant;

use steward_cluster::WorkerCoordinator;
use steward_model::end::TaskEnd;
use steward_model::files::write_atomic_private;
use steward_model::{Task, TaskAnnouncement, TaskLocation, TaskStatus};
use tokio::sync::{mpsc, oneshot};

use crate::core::{Plan, WorkerInput};
use crate::layout::{write_atomic, PeonRecord, TaskDir};
use crate::process::{self, Exit, Peon};
use crate::shared::Shared;

/// Runs `task` according to `plan` and reports to the driver; see the module doc.
pub(crate) async fn run(
    shared: Arc<Shared>,
    coordinator: Arc<dyn WorkerCoordinator>,
    task: Task,
    plan: Plan,
    stop: oneshot::Receiver<()>,
    events: mpsc::UnboundedSender<WorkerInput>,
) {
    let dir = TaskDir::new(shared.layout.task_dir(task.id()));
    let (status, attempt) = match plan {
        Plan::Launch { port } => {
            let what = Launch {
                shared: &shared,
                coordinator: &*coordinator,
                task: &task,
                dir: &dir,
            };
            launch(&what, port, stop, &events).await
        }
        Plan::Adopt(record) => {
            let location = TaskLocation::new(shared.config.host.clone(), i32::from(record.port));
            let mut peon = Peon::Adopted {
                pid: record.pid,
                task_dir: dir.path().to_path_buf(),
            };
            let exit =
                process::wait_or_stop(&mut peon, stop, shared.config.graceful_shutdown_timeout)
                    .await;
            let status = status_after_exit(task.id(), &dir, record.attempt, exit)
                .with_duration(millis_since(record.start_time))
                .with_location(location);
            (status, Some(record.attempt))
        }
        Plan::Finish { status, attempt } => (status, attempt),
    };
    let announcement = finish(shared, task, dir, status, attempt).await;
    let _ = events.send(WorkerInput::Ended(announcement));
}

/// What starting a task's peon needs.
struct Launch<'a> {
    shared: &'a Shared,
    coordinator: &'a dyn WorkerCoordinator,
    task: &'a Task,
    dir: &'a TaskDir,
}

impl Launch<'_> {
    /// Writes `peon.json` for a task that calls the Overlord or deep storage, with the
    /// Overlords the coordinator knows now first.
    async fn write_peon_config(&self) -> Result<(), String> {
        if !self.task.kind().uses_task_actions() {
            return Ok(());
        }
        let mut config = self.shared.config.peon.clone();
        let mut urls = match self.coordinator.overlord_urls().await {
            Ok(urls) => urls,
            Err(e) if config.overlord_urls.is_empty() => {
                return Err(format!("cannot learn the Overlords' URLs: {e}"))
            }
            Err(e) => {
                tracing::warn!("cannot learn the Overlords' URLs, using the configured ones: {e}");
                Vec::new()
            }
        };
        for url in config.overlord_urls.drain(..) {
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
        if urls.is_empty() {
            return Err("no Overlord URL is known to hand to the peon".to_string());
        }
        config.overlord_urls = urls;
        let path = self.dir.peon_config_file();
        write_atomic_private(&path, &serde_json::to_vec(&config).expect("JSON"))
            .map_err(|e| format!("cannot write [{}]: {e}", path.display()))
    }
}

async fn launch(
    what: &Launch<'_>,
    port: u16,
    mut stop: oneshot::Receiver<()>,
    events: &mpsc::UnboundedSender<WorkerInput>,
) -> (TaskStatus, Option<u32>) {
    let (shared, task, dir) = (what.shared, what.task, what.dir);
    let id = task.id();
    let failed = |e: &dyn std::fmt::Display| {
        TaskEnd::SpawnFailed {
            error: &e.to_string(),
        }
        .status(id)
    };
    let attempt = match dir.prepare_attempt(task) {
        Ok(a) => a,
        Err(e) => {
            return (
                failed(&format!("cannot prepare [{}]: {e}", dir.path().display())),
                None,
            )
        }
    };
    if let Err(e) = what.write_peon_config().await {
        return (failed(&e), Some(attempt));
    }
    if stop.try_recv().is_ok() {
        return (TaskEnd::ShutdownBeforeStart.status(id), Some(attempt));
    }
    let start_time = jiff::Timestamp::now();
    let started = Instant::now();
    let mut peon = match process::spawn(&shared.config, dir.path(), &dir.log_file(), attempt, port)
    {
        Ok(p) => p,
        Err(e) => return (failed(&e), Some(attempt)),
    };
    let record = PeonRecord {
        pid: peon.pid(),
        attempt,
        port,
        start_time,
    };
    if let Err(e) = dir.write_peon_record(&record) {
        tracing::warn!(
            "cannot write [{}]; a restarted MiddleManager will not find this peon: {e}",
            dir.pid_file().display()
        );
    }
    tracing::info!(pid = record.pid, attempt, port, "peon started");
    let location = TaskLocation::new(shared.config.host.clone(), i32::from(port));
    let _ = events.send(WorkerInput::Started {
        id: id.to_string(),
        location: location.clone(),
    });
    let exit =
        process::wait_or_stop(&mut peon, stop, shared.config.graceful_shutdown_timeout).await;
    tracing::info!(?exit, "peon exited");
    let duration = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let status = status_after_exit(id, dir, attempt, exit)
        .with_duration(duration)
        .with_location(location);
    (status, Some(attempt))
}

/// The task's status once its peon is gone (Druid's `ForkingTaskRunner` rules).
fn status_after_exit(id: &str, dir: &TaskDir, attempt: u32, exit: Exit) -> TaskStatus {
    match exit {
        Exit::Code(0) => match dir.read_status(attempt) {
            Ok(Some(status)) => status,
            Ok(None) => TaskEnd::NoStatusWritten {
                file: &dir.status_file(attempt).display().to_string(),
            }
            .status(id),
            Err(msg) => TaskEnd::StatusUnreadable { error: &msg }.status(id),
        },
        Exit::Code(code) => TaskEnd::ExitCode(code).status(id),
        Exit::Unobserved => match dir.read_status(attempt) {
            Ok(Some(status)) => status,
            Ok(None) => TaskEnd::GoneUnwatched.status(id),
            Err(msg) => TaskEnd::StatusUnreadable { error: &msg }.status(id),
        },
        Exit::WaitFailed(e) => TaskEnd::WaitFailed {
            error: &e.to_string(),
        }
        .status(id),
    }
}

/// Druid's end of a task on the worker: push the log, report and status to the task-log store
/// (failures are only logged), record the end in the worker's metrics, persist the final
/// announcement in `completedTasks/`, delete the task dir.
async fn finish(
    shared: Arc<Shared>,
    task: Task,
    dir: TaskDir,
    status: TaskStatus,
    attempt: Option<u32>,
) -> TaskAnnouncement {
    let announcement = TaskAnnouncement::of(&task, status.clone(), status.location.clone());
    let record = announcement.clone();
    let span = tracing::Span::current();
    let done = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let id = task.id();
        let logs = &shared.config.task_logs;
        if dir.log_file().exists() {
            if let Err(e) = logs.push_log(id, &dir.log_file()) {
                tracing::warn!("cannot push the task log: {e}");
            }
        }
        let report = attempt.map(|a| dir.report_file(a)).filter(|r| r.exists());
        if let Some(report) = &report {
            if let Err(e) = logs.push_report(id, report) {
                tracing::warn!("cannot push the task report: {e}");
            }
        }
        // Before the task dir goes: the report holds the task's final ingestion counters.
        let report = report.and_then(|r| std::fs::read(r).ok());
        shared
            .metrics
            .task_ended(&task, status.status, report.as_deref());
        let status_file = shared.layout.tmp_dir().join(format!("{id}.status.json"));
        let pushed = write_atomic(&status_file, &serde_json::to_vec(&status).expect("JSON"))
            .and_then(|()| logs.push_status(id, &status_file));
        if let Err(e) = pushed {
            tracing::warn!("cannot push the task status: {e}");
        }
        let _ = std::fs::remove_file(&status_file);
        let completed = serde_json::to_vec(&record).expect("JSON");
        if let Err(e) = write_atomic(&shared.layout.completed_file(id), &completed) {
            tracing::error!("cannot record the end in completedTasks; a restart will lose it: {e}");
        }
        match std::fs::remove_dir_all(dir.path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!("cannot delete the task dir [{}]: {e}", dir.path().display())
            }
            _ => {}
        }
    })
    .await;
    if let Err(e) = done {
        tracing::error!("recording the task's end failed: {e}");
    }
    tracing::info!(status = announcement.status.as_str(), "task ended");
    announcement
}

fn millis_since(start: jiff::Timestamp) -> i64 {
    let elapsed = jiff::Timestamp::now().duration_since(start).as_millis();
    i64::try_from(elapsed.max(0)).unwrap_or(i64::MAX)
}
