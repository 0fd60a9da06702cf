//! What a peon runs: the task logic of each task type, and the peon process around it.
//!
//! A MiddleManager starts one peon per task as `steward peon <taskDir> <attemptId>`; the binary
//! calls [`peon_main`]. The task logic ([`run_task`]) is kept apart from the process concerns
//! (files, locking, signals) so it can be tested without sending signals to the test process.

pub mod actions;
mod log;
mod noop;
mod peon;
pub mod storage;

use std::future::Future;

use steward_model::{Task, TaskKind, TaskStatus};

pub use peon::peon_main;

/// Runs `task` to its end. If `stop` completes first, the task stops early and ends FAILED
/// ([`steward_model::end::TaskEnd::Stopped`]).
pub async fn run_task(task: &Task, stop: impl Future<Output = ()>) -> TaskStatus {
    match task.kind() {
        TaskKind::Noop(spec) => noop::run(task.id(), spec, stop).await,
        TaskKind::Kill(_) => todo!(),
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
        let status = tokio::time::timeout(DEADLINE, run_task(&noop(10), std::future::pending()))
            .await
            .expect("noop finished");
        assert_eq!(status, TaskStatus::success("noop_test"));
    }

    #[tokio::test]
    async fn noop_stopped_early_fails_as_canceled() {
        let status = tokio::time::timeout(DEADLINE, run_task(&noop(3_600_000), async {}))
            .await
            .expect("stopped noop finished");
        assert_eq!(status.status, TaskState::Failed);
        assert_eq!(
            status.error_msg.as_deref(),
            Some("Canceled as task execution process stopped")
        );
        assert_eq!(status.id, "noop_test");
    }
}
