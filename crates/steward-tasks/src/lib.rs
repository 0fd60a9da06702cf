//! What a peon runs: the task logic of each task type, and the peon process around it.
//!
//! A MiddleManager starts one peon per task as `steward peon <taskDir> <attemptId>`; the binary
//! calls [`peon_main`]. The task logic ([`run_task`]) is kept apart from the process concerns
//! (files, locking, signals) so it can be tested without sending signals to the test process.
//!
//! - [`actions`]: the task-action client, how a task talks to the Overlord.
//! - [`storage`]: deep storage, where segments' files go.
//! - [`chat`]: the HTTP endpoints a running task serves (live reports, row stats).
//! - [`Toolbox`]: all of these, as a task gets them (from the task dir's `peon.json`).
//! - `noop`, `kill`, `index`, `parallel` (`index_parallel` and its sub-tasks): the task types.

pub mod actions;
pub mod chat;
mod compact;
mod index;
mod kill;
mod log;
mod noop;
mod parallel;
mod peon;
pub mod storage;
mod toolbox;

use std::future::Future;

use serde_json::{Map, Value};
use steward_model::end::TaskEnd;
use steward_model::{Task, TaskKind, TaskStatus};

pub use peon::peon_main;
pub use toolbox::Toolbox;

/// How a task ended, and the reports it leaves (Druid's report map: report key → report).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOutcome {
    pub status: TaskStatus,
    pub reports: Map<String, Value>,
}

impl TaskOutcome {
    fn without_reports(status: TaskStatus) -> TaskOutcome {
        TaskOutcome {
            status,
            reports: Map::new(),
        }
    }
}

/// Runs `task` to its end. Tasks that call the Overlord or deep storage
/// ([`TaskKind::uses_task_actions`]) need `toolbox`; without one they fail. If `stop`
/// completes first, the task stops early and ends FAILED
/// ([`steward_model::end::TaskEnd::Stopped`]).
pub async fn run_task(
    task: &Task,
    toolbox: Option<&Toolbox>,
    stop: impl Future<Output = ()>,
) -> TaskOutcome {
    let id = task.id();
    match (task.kind(), toolbox) {
        (TaskKind::Noop(spec), _) => TaskOutcome::without_reports(noop::run(id, spec, stop).await),
        (TaskKind::Kill(spec), Some(toolbox)) => tokio::select! {
            killed = kill::run(task, spec, toolbox) => match killed {
                Ok(stats) => {
                    let (key, report) = stats.report(id);
                    TaskOutcome {
                        status: TaskStatus::success(id),
                        reports: Map::from_iter([(key, report)]),
                    }
                }
                Err(msg) => TaskOutcome::without_reports(TaskStatus::failure(id, msg)),
            },
            // Stopping between two awaits of a batch leaves at worst files without rows.
            _ = stop => TaskOutcome::without_reports(TaskEnd::Stopped.status(id)),
        },
        (TaskKind::Index(facts), Some(toolbox)) => index::run(task, facts, toolbox, stop).await,
        (TaskKind::IndexParallel(facts), Some(toolbox)) => {
            parallel::run(task, facts, toolbox, stop).await
        }
        (TaskKind::SinglePhaseSubTask(sub), Some(toolbox)) => {
            parallel::run_sub_task(task, sub, toolbox, stop).await
        }
        (TaskKind::PartialIndexGenerate(sub), Some(toolbox)) => {
            parallel::run_partial_generate(task, sub, toolbox, stop).await
        }
        (TaskKind::PartialIndexGenericMerge(sub), Some(toolbox)) => {
            parallel::run_partial_merge(task, sub, toolbox, stop).await
        }
        (TaskKind::Compact(spec), Some(toolbox)) => compact::run(task, spec, toolbox, stop).await,
        (_, None) => TaskOutcome::without_reports(TaskStatus::failure(
            id,
            format!(
                "Task [{id}] of type [{}] needs the Overlord's URLs and deep storage ({}), \
                 which its MiddleManager did not provide",
                task.task_type(),
                steward_model::peon::PEON_CONFIG_FILE,
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;
    use steward_model::TaskState;

    const DEADLINE: Duration = Duration::from_secs(30);

    fn noop(run_time_ms: u64) -> Task {
        Task::from_json(json!({"type":"noop","id":"noop_test","runTime":run_time_ms})).unwrap()
    }

    #[tokio::test]
    async fn noop_succeeds_after_its_run_time() {
        let outcome =
            tokio::time::timeout(DEADLINE, run_task(&noop(10), None, std::future::pending()))
                .await
                .expect("noop finished");
        assert_eq!(outcome.status, TaskStatus::success("noop_test"));
        assert!(outcome.reports.is_empty());
    }

    #[tokio::test]
    async fn noop_stopped_early_fails_as_canceled() {
        let status = tokio::time::timeout(DEADLINE, run_task(&noop(3_600_000), None, async {}))
            .await
            .expect("stopped noop finished")
            .status;
        assert_eq!(status.status, TaskState::Failed);
        assert_eq!(
            status.error_msg.as_deref(),
            Some("Canceled as task execution process stopped")
        );
        assert_eq!(status.id, "noop_test");
    }

    #[tokio::test]
    async fn a_kill_without_a_toolbox_fails_and_says_why() {
        let kill = Task::from_json(json!({"type":"kill","id":"kill_1","dataSource":"wiki",
            "interval":"2024-01-01/2024-01-02"}))
        .unwrap();
        let status = run_task(&kill, None, std::future::pending()).await.status;
        assert_eq!(status.status, TaskState::Failed);
        assert_eq!(
            status.error_msg.as_deref(),
            Some(
                "Task [kill_1] of type [kill] needs the Overlord's URLs and deep storage \
                 (peon.json), which its MiddleManager did not provide"
            )
        );
    }
}
