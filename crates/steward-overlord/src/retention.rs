//! Retention (Druid's `TaskLogAutoCleaner`, `druid.indexer.logs.kill.*`): a periodic pass that
//! deletes stored task logs and complete task rows older than the retention period, so neither
//! the log directory nor the task history grows without bound. Active tasks are never deleted,
//! however old.
//!
//! The cleaner is a plain tokio task that the caller starts: which process runs it (every
//! Overlord, or only the leader) is the caller's decision. Passes are idempotent, so two
//! Overlords cleaning at once delete nothing twice and nothing they should not.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use steward_cluster::FileTaskLogs;
use steward_metadata::MetadataStore;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// When and what the cleaner deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Logs and complete tasks older than this are deleted (`durationToRetain`).
    pub duration_to_retain: Duration,
    /// From the start to the first pass (`initialDelay`).
    pub initial_delay: Duration,
    /// From the end of one pass to the start of the next (`delay`), as Druid schedules it.
    pub delay: Duration,
}

/// Starts the cleaner: a first pass after `initial_delay`, then one every `delay`, until the
/// task is aborted. A failed pass is logged and the next one runs on schedule.
pub fn spawn_retention(
    store: Arc<dyn MetadataStore>,
    task_logs: FileTaskLogs,
    config: RetentionConfig,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(config.initial_delay).await;
        loop {
            clean(store.as_ref(), &task_logs, config.duration_to_retain).await;
            tokio::time::sleep(config.delay).await;
        }
    })
}

/// One pass: logs first, then rows, as Druid does.
async fn clean(store: &dyn MetadataStore, task_logs: &FileTaskLogs, retain: Duration) {
    let cutoff = SystemTime::now().checked_sub(retain).unwrap_or(UNIX_EPOCH);
    let logs = task_logs.clone();
    match tokio::task::spawn_blocking(move || logs.delete_older_than(cutoff)).await {
        Ok(Ok(deleted)) => {
            info!(deleted, dir = %task_logs.dir().display(), "retention: deleted task log files")
        }
        Ok(Err(e)) => {
            warn!(error = %e, dir = %task_logs.dir().display(), "retention: cannot delete task logs")
        }
        Err(e) => warn!(error = %e, "retention: task log deletion failed"),
    }
    let before = Timestamp::try_from(cutoff).unwrap_or(Timestamp::UNIX_EPOCH);
    match store.delete_complete_tasks_created_before(before).await {
        Ok(deleted) => info!(deleted, %before, "retention: deleted complete tasks"),
        Err(e) => warn!(error = %e, "retention: cannot delete complete tasks"),
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use serde_json::json;
    use steward_metadata::SqliteStore;
    use steward_model::{Task, TaskStatus};
    use tempfile::TempDir;
    use tokio::time::Instant;

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(10);

    /// Waits until `done` holds, polling; panics naming `what` after [`DEADLINE`].
    async fn until<F, Fut>(what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let polled = tokio::time::timeout(DEADLINE, async {
            while !done().await {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        polled
            .await
            .unwrap_or_else(|_| panic!("no {what} within {DEADLINE:?}"));
    }

    async fn insert(store: &SqliteStore, id: &str, age: Duration, complete: bool) {
        let task = Task::from_json(json!({"type": "noop", "id": id, "dataSource": "wiki"}));
        let created = Timestamp::now() - age;
        store
            .insert_task(&task.unwrap(), created, &TaskStatus::running(id))
            .await
            .unwrap();
        if complete {
            assert!(store.set_status(&TaskStatus::success(id)).await.unwrap());
        }
    }

    fn write_log(logs: &FileTaskLogs, task: &str, age: Duration) {
        std::fs::create_dir_all(logs.dir()).unwrap();
        let path = logs.dir().join(format!("{task}.log"));
        std::fs::write(&path, b"log").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::now() - age)
            .unwrap();
    }

    fn exists(logs: &FileTaskLogs, task: &str) -> bool {
        logs.dir().join(format!("{task}.log")).exists()
    }

    #[tokio::test]
    async fn passes_start_after_the_initial_delay_repeat_and_spare_active_tasks() {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(&dir.path().join("meta.db"), "druid")
            .await
            .unwrap();
        let logs = FileTaskLogs::new(dir.path().join("logs"));
        let hour = Duration::from_secs(3600);
        insert(&store, "old_done", 2 * hour, true).await;
        insert(&store, "old_active", 2 * hour, false).await;
        insert(&store, "new_done", Duration::from_secs(60), true).await;
        write_log(&logs, "old_done", 2 * hour);
        write_log(&logs, "new_done", Duration::ZERO);

        let config = RetentionConfig {
            duration_to_retain: hour,
            initial_delay: Duration::from_millis(300),
            delay: Duration::from_millis(100),
        };
        let started = Instant::now();
        let cleaner = spawn_retention(Arc::new(store.clone()), logs.clone(), config.clone());

        until("first pass", || async {
            store.get_info("old_done").await.unwrap().is_none() && !exists(&logs, "old_done")
        })
        .await;
        assert!(
            started.elapsed() >= config.initial_delay,
            "the first pass waits for the initial delay"
        );
        assert!(store.get_info("old_active").await.unwrap().unwrap().active);
        assert!(store.get_info("new_done").await.unwrap().is_some());
        assert!(exists(&logs, "new_done"));

        // Written after the first pass: only a later pass can delete these.
        write_log(&logs, "late", 2 * hour);
        insert(&store, "late", 2 * hour, true).await;
        until("a later pass", || async {
            store.get_info("late").await.unwrap().is_none() && !exists(&logs, "late")
        })
        .await;
        assert!(store.get_info("old_active").await.unwrap().is_some());
        assert!(exists(&logs, "new_done"));
        cleaner.abort();
    }
}
