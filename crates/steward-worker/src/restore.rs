//! What a starting MiddleManager finds on disk from its previous life.
//!
//! Druid's MiddleManager forgets (and deletes) the tasks it was running when it restarts, unless
//! the task type can restore itself. Steward's peons outlive their MiddleManager, so a restart
//! re-adopts live peons and reports the end of those that finished meanwhile: every task that
//! was handed to this worker reaches an end.

use steward_model::end::TaskEnd;
use steward_model::{TaskAnnouncement, TaskLocation, TaskStatus};

use crate::core::{Plan, Restored};
use crate::layout::{Layout, PeonRecord, TaskDir};
use crate::process::is_peon_alive;

/// Reads the base dir. Unreadable completed-task files are removed (they name no task anyone
/// could learn the end of); task dirs this worker cannot read are logged and left alone.
pub(crate) fn scan(layout: &Layout, host: &str) -> std::io::Result<Restored> {
    let mut restored = Restored::default();
    for entry in std::fs::read_dir(layout.completed_dir())? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        let parsed = std::fs::read(entry.path())
            .map_err(|e| e.to_string())
            .and_then(|b| {
                serde_json::from_slice::<TaskAnnouncement>(&b).map_err(|e| e.to_string())
            });
        match parsed {
            Ok(announcement) if announcement.id == name => {
                restored.completed.insert(name, announcement);
            }
            Ok(_) => {
                tracing::warn!(task = %name, "completed task file names another task; removed");
                let _ = std::fs::remove_file(entry.path());
            }
            Err(e) => {
                tracing::warn!(task = %name, "unreadable completed task file removed: {e}");
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    for entry in std::fs::read_dir(layout.base())? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if Layout::is_reserved(&name) || name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        let dir = TaskDir::new(layout.task_dir(&name));
        if !dir.task_file().exists() && !dir.pid_file().exists() {
            // Not a task dir of ours: never delete what this worker did not write.
            tracing::debug!(dir = %dir.path().display(), "not a task dir; left alone");
            continue;
        }
        if restored.completed.contains_key(&name) {
            tracing::info!(task = %name, "removing a task dir left behind after the task's end");
            if let Err(e) = std::fs::remove_dir_all(dir.path()) {
                tracing::warn!(task = %name, "cannot remove [{}]: {e}", dir.path().display());
            }
            continue;
        }
        let task = match dir.read_task() {
            Ok(task) if task.id() == name => task,
            Ok(task) => {
                let other = task.id();
                tracing::warn!(task = %name, other, "task dir holds another task; left alone");
                continue;
            }
            Err(e) => {
                tracing::warn!(task = %name, "unreadable task.json ({e}); task dir left alone");
                continue;
            }
        };
        let record = dir.read_peon_record();
        let plan = match record {
            Some(record) if is_peon_alive(record.pid, dir.path()) => {
                tracing::info!(task = %name, pid = record.pid, "re-adopting running peon");
                Plan::Adopt(record)
            }
            record => {
                let (status, attempt) = status_found_at_restart(&name, &dir, record.as_ref(), host);
                let status_name = status.status.as_str();
                tracing::info!(task = %name, status = status_name, "peon ended while we were down");
                Plan::Finish { status, attempt }
            }
        };
        restored.tasks.push((task, plan));
    }
    Ok(restored)
}

/// The end of a task a restarted MiddleManager found without a live peon.
fn status_found_at_restart(
    id: &str,
    dir: &TaskDir,
    record: Option<&PeonRecord>,
    host: &str,
) -> (TaskStatus, Option<u32>) {
    let Some(record) = record else {
        return (TaskEnd::GoneAtRestart.status(id), None);
    };
    let status = match dir.read_status(record.attempt) {
        Ok(Some(status)) => status,
        Ok(None) => TaskEnd::GoneAtRestart.status(id),
        Err(msg) => TaskEnd::StatusUnreadable { error: &msg }.status(id),
    };
    let location = TaskLocation::new(host, i32::from(record.port));
    (status.with_location(location), Some(record.attempt))
}
