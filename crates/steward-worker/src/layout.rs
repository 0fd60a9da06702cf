//! The MiddleManager's files, in Druid's layout under `baseTaskDir`:
//!
//! ```text
//! <base>/completedTasks/<taskId>         final announcement, until the Overlord has recorded it
//! <base>/workerTaskManagerTmp/           scratch for the worker itself, emptied at start
//! <base>/<taskId>/task.json              task payload (written only if absent)
//! <base>/<taskId>/log                    the peon's stdout and stderr, appended
//! <base>/<taskId>/peon.pid               which process runs the task (for re-adoption)
//! <base>/<taskId>/peon.json              Overlords, deep storage, credentials (mode 0600;
//!                                        tasks that call the Overlord only)
//! <base>/<taskId>/lock                   held by the peon
//! <base>/<taskId>/attempt/<n>/status.json, report.json   written by the peon
//! ```
//!
//! Everything a restarted MiddleManager needs is on disk, so a restart loses no task.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use steward_model::peon::PEON_CONFIG_FILE;
use steward_model::{Task, TaskStatus};

const COMPLETED_DIR: &str = "completedTasks";
const TMP_DIR: &str = "workerTaskManagerTmp";
/// Names in the base dir that are not task dirs. Druid keeps `assignedTasks` and `restore.json`
/// there too; they are reserved so a Druid base dir is never mistaken for tasks.
const RESERVED: &[&str] = &[COMPLETED_DIR, TMP_DIR, "assignedTasks", "restore.json"];

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    base: PathBuf,
}

impl Layout {
    pub(crate) fn new(base: impl Into<PathBuf>) -> Self {
        Layout { base: base.into() }
    }

    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    /// Creates the worker's directories and empties its scratch dir.
    pub(crate) fn prepare(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.completed_dir())?;
        match std::fs::remove_dir_all(self.tmp_dir()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(self.tmp_dir())
    }

    pub(crate) fn completed_dir(&self) -> PathBuf {
        self.base.join(COMPLETED_DIR)
    }

    pub(crate) fn completed_file(&self, task_id: &str) -> PathBuf {
        self.completed_dir().join(task_id)
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.base.join(TMP_DIR)
    }

    pub(crate) fn task_dir(&self, task_id: &str) -> PathBuf {
        self.base.join(task_id)
    }

    /// Whether a name in the base dir (or a task id) belongs to the worker's bookkeeping.
    pub(crate) fn is_reserved(name: &str) -> bool {
        RESERVED.contains(&name)
    }
}

/// One task's directory.
#[derive(Debug, Clone)]
pub(crate) struct TaskDir {
    path: PathBuf,
}

impl TaskDir {
    pub(crate) fn new(path: PathBuf) -> Self {
        TaskDir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn log_file(&self) -> PathBuf {
        self.path.join("log")
    }

    pub(crate) fn task_file(&self) -> PathBuf {
        self.path.join("task.json")
    }

    pub(crate) fn pid_file(&self) -> PathBuf {
        self.path.join("peon.pid")
    }

    pub(crate) fn peon_config_file(&self) -> PathBuf {
        self.path.join(PEON_CONFIG_FILE)
    }

    pub(crate) fn attempt_dir(&self, attempt: u32) -> PathBuf {
        self.path.join("attempt").join(attempt.to_string())
    }

    pub(crate) fn status_file(&self, attempt: u32) -> PathBuf {
        self.attempt_dir(attempt).join("status.json")
    }

    pub(crate) fn report_file(&self, attempt: u32) -> PathBuf {
        self.attempt_dir(attempt).join("report.json")
    }

    /// Makes the dir ready for a new attempt and returns its number: 1 + the highest numbered
    /// attempt already there, so an earlier attempt's files are never overwritten.
    pub(crate) fn prepare_attempt(&self, task: &Task) -> std::io::Result<u32> {
        std::fs::create_dir_all(&self.path)?;
        if !self.task_file().exists() {
            write_atomic(&self.task_file(), &task.to_bytes())?;
        }
        let attempt = self.next_attempt()?;
        std::fs::create_dir_all(self.attempt_dir(attempt))?;
        Ok(attempt)
    }

    fn next_attempt(&self) -> std::io::Result<u32> {
        let highest = match std::fs::read_dir(self.path.join("attempt")) {
            Ok(entries) => entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .max()
                .unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(highest + 1)
    }

    pub(crate) fn read_task(&self) -> Result<Task, String> {
        let bytes = std::fs::read(self.task_file()).map_err(|e| e.to_string())?;
        Task::from_bytes(&bytes).map_err(|e| e.to_string())
    }

    pub(crate) fn read_peon_record(&self) -> Option<PeonRecord> {
        let bytes = std::fs::read(self.pid_file()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub(crate) fn write_peon_record(&self, record: &PeonRecord) -> std::io::Result<()> {
        write_atomic(&self.pid_file(), &serde_json::to_vec(record).expect("JSON"))
    }

    /// The final status a peon wrote for `attempt`: `Ok(None)` if it wrote none, `Err` if what
    /// it wrote is not a final status.
    pub(crate) fn read_status(&self, attempt: u32) -> Result<Option<TaskStatus>, String> {
        let path = self.status_file(attempt);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("Cannot read task status [{}]: {e}", path.display())),
        };
        let status: TaskStatus = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "Task peon wrote an unreadable status [{}]: {e}",
                path.display()
            )
        })?;
        if !status.is_complete() {
            return Err(format!(
                "Task peon exited with status [{}] in [{}], which is not an end",
                status.status.as_str(),
                path.display()
            ));
        }
        Ok(Some(status))
    }
}

/// `peon.pid`: what a restarted MiddleManager needs to find and watch a running peon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeonRecord {
    pub pid: u32,
    pub attempt: u32,
    pub port: u16,
    pub start_time: jiff::Timestamp,
}

pub(crate) use steward_model::files::write_atomic;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attempts_count_up_and_task_file_is_kept() {
        let base = tempfile::tempdir().unwrap();
        let dir = TaskDir::new(base.path().join("t1"));
        let task = Task::from_json(json!({"type":"noop","id":"t1","runTime":5})).unwrap();
        assert_eq!(dir.prepare_attempt(&task).unwrap(), 1);
        assert!(dir.attempt_dir(1).is_dir());
        std::fs::create_dir_all(dir.path().join("attempt/not-a-number")).unwrap();
        let other = Task::from_json(json!({"type":"noop","id":"t1","runTime":7})).unwrap();
        assert_eq!(dir.prepare_attempt(&other).unwrap(), 2);
        assert_eq!(
            dir.read_task().unwrap(),
            task,
            "task.json is written only if absent"
        );
    }

    #[test]
    fn status_must_be_a_final_one() {
        let base = tempfile::tempdir().unwrap();
        let dir = TaskDir::new(base.path().join("t1"));
        std::fs::create_dir_all(dir.attempt_dir(1)).unwrap();
        assert_eq!(dir.read_status(1), Ok(None));
        std::fs::write(dir.status_file(1), b"{").unwrap();
        assert!(dir
            .read_status(1)
            .unwrap_err()
            .contains("unreadable status"));
        std::fs::write(dir.status_file(1), br#"{"id":"t1","status":"RUNNING"}"#).unwrap();
        assert!(dir.read_status(1).unwrap_err().contains("not an end"));
        std::fs::write(
            dir.status_file(1),
            br#"{"id":"t1","status":"SUCCESS","duration":3}"#,
        )
        .unwrap();
        assert_eq!(
            dir.read_status(1),
            Ok(Some(TaskStatus::success("t1").with_duration(3)))
        );
    }
}
