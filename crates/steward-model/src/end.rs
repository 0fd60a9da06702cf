//! Where a task ends FAILED without its peon having said so: every cause, with Druid's message
//! (operators grep for them), in one place.
//!
//! The paths, by the process that decides:
//!
//! * the peon: stopped before it finished ([`TaskEnd::Stopped`]);
//! * the MiddleManager: the peon cannot be spawned ([`TaskEnd::SpawnFailed`]), is shut down
//!   before it started ([`TaskEnd::ShutdownBeforeStart`]), exits without a status
//!   ([`TaskEnd::NoStatusWritten`], [`TaskEnd::ExitCode`]), leaves a status that cannot be read
//!   ([`TaskEnd::StatusUnreadable`]), cannot be waited for ([`TaskEnd::WaitFailed`]), was gone
//!   while or before the MiddleManager restarted ([`TaskEnd::GoneUnwatched`],
//!   [`TaskEnd::GoneAtRestart`]), is unknown to a restarted MiddleManager
//!   ([`TaskEnd::UnknownAfterRestart`]), or its run failed inside the MiddleManager
//!   ([`TaskEnd::WorkerError`]);
//! * the Overlord's runner: the worker's status announcement vanished
//!   ([`TaskEnd::WorkerDisappeared`]), its worker did not come back in time
//!   ([`TaskEnd::WorkerCleanup`]), the assignment could not be written
//!   ([`TaskEnd::AssignFailed`]) or was not started in time ([`TaskEnd::AssignmentTimeout`]);
//! * the Overlord's queue: a shutdown request ([`TaskEnd::Shutdown`]), a failed readiness
//!   check ([`TaskEnd::NotReady`]), a stored task Steward cannot run ([`TaskEnd::CannotRun`]).
//!
//! Whatever the cause, an end reaches the Overlord's queue as a status and is recorded once,
//! by the queue's persist effect (`UPDATE ... WHERE active`): the one persist path.

use crate::TaskStatus;

/// Why a task ended FAILED; [`TaskEnd::status`] is the status it ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEnd<'a> {
    Stopped,
    SpawnFailed {
        error: &'a str,
    },
    ShutdownBeforeStart,
    NoStatusWritten {
        file: &'a str,
    },
    ExitCode(i32),
    StatusUnreadable {
        error: &'a str,
    },
    WaitFailed {
        error: &'a str,
    },
    GoneUnwatched,
    GoneAtRestart,
    UnknownAfterRestart,
    WorkerError {
        error: &'a str,
    },
    WorkerDisappeared,
    WorkerCleanup,
    AssignFailed,
    /// `timeout` as an ISO period, as Druid prints it.
    AssignmentTimeout {
        timeout: &'a str,
    },
    Shutdown {
        reason: &'a str,
    },
    NotReady {
        error: &'a str,
    },
    CannotRun {
        why: &'a str,
    },
}

impl TaskEnd<'_> {
    /// The `errorMsg` of the end.
    pub fn message(&self) -> String {
        match self {
            TaskEnd::Stopped => "Canceled as task execution process stopped".into(),
            TaskEnd::SpawnFailed { error } => {
                format!("Failed to run task with an exception: {error}")
            }
            TaskEnd::ShutdownBeforeStart => "Task was shut down before its peon started".into(),
            TaskEnd::NoStatusWritten { file } => {
                format!("Task peon exited with code 0 without writing its status [{file}]")
            }
            TaskEnd::ExitCode(code) => format!(
                "Task execution process exited unsuccessfully with code[{code}]. \
                 See middleManager logs for more details."
            ),
            TaskEnd::StatusUnreadable { error } => error.to_string(),
            TaskEnd::WaitFailed { error } => {
                format!("Cannot wait for the task's peon process: {error}")
            }
            TaskEnd::GoneUnwatched => {
                "Task peon exited without writing a status while its MiddleManager was not \
                 watching"
                    .into()
            }
            TaskEnd::GoneAtRestart => {
                "Task's peon process was gone when its MiddleManager restarted".into()
            }
            TaskEnd::UnknownAfterRestart => {
                "Canceled as unknown task after MiddleManager restart".into()
            }
            TaskEnd::WorkerError { error } => {
                format!("MiddleManager error while running the task: {error}")
            }
            TaskEnd::WorkerDisappeared => "The worker that this task was assigned disappeared. \
                                           See overlord logs for more details."
                .into(),
            TaskEnd::WorkerCleanup => {
                "Canceled for worker cleanup. See overlord logs for more details.".into()
            }
            TaskEnd::AssignFailed => {
                "Failed to assign this task. See overlord logs for more details.".into()
            }
            TaskEnd::AssignmentTimeout { timeout } => format!(
                "The worker that this task is assigned did not start it in timeout[{timeout}]. \
                 See overlord logs for more details."
            ),
            TaskEnd::Shutdown { reason } => reason.to_string(),
            TaskEnd::NotReady { error } => format!(
                "Encountered error[{error}] while waiting for task to be ready. See Overlord \
                 logs for more details."
            ),
            TaskEnd::CannotRun { why } => format!("Steward cannot run this task: {why}"),
        }
    }

    /// The FAILED status task `id` ends with.
    pub fn status(&self, id: &str) -> TaskStatus {
        TaskStatus::failure(id, self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn druids_messages_are_kept_word_for_word() {
        assert_eq!(
            TaskEnd::WorkerDisappeared.message(),
            "The worker that this task was assigned disappeared. See overlord logs for more details."
        );
        assert_eq!(
            TaskEnd::AssignmentTimeout { timeout: "PT5M" }.message(),
            "The worker that this task is assigned did not start it in timeout[PT5M]. See overlord logs for more details."
        );
        assert_eq!(
            TaskEnd::ExitCode(3).message(),
            "Task execution process exited unsuccessfully with code[3]. See middleManager logs for more details."
        );
        assert_eq!(
            TaskEnd::NotReady { error: "x" }.message(),
            "Encountered error[x] while waiting for task to be ready. See Overlord logs for more details."
        );
        let status = TaskEnd::WorkerCleanup.status("t1");
        assert_eq!(status.id, "t1");
        assert_eq!(
            status.error_msg.as_deref(),
            Some("Canceled for worker cleanup. See overlord logs for more details.")
        );
    }
}
