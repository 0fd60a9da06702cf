//! The Overlord's task API as a supervisor uses it (Druid's `OverlordClient`: `runTask`,
//! `taskStatus`, `cancelTask`), through the task-action client, so the
//! calls find the leader, carry the internal credentials and retry as actions do.

use reqwest::Method;
use serde_json::Value;
use steward_http::path_segment;
use steward_model::api::TaskStatusPlus;
use steward_model::Task;

use crate::actions::ActionError;
use crate::Toolbox;

const TASK_PATH: &str = "/druid/indexer/v1/task";

/// Submits `task`. A retried submission that the Overlord stored the first time is answered
/// "already exists", which is a success here: the id is this supervisor's own.
pub(crate) async fn submit(toolbox: &Toolbox, task: &Task) -> Result<(), String> {
    let id = task.id();
    let what = format!("Submitting sub-task[{id}]");
    match toolbox
        .actions
        .call(&what, Method::POST, TASK_PATH, Some(&task.to_json()))
        .await
    {
        Ok(_) => Ok(()),
        Err(ActionError::Refused {
            status: 400,
            message,
        }) if message == format!("Task [{id}] already exists") => Ok(()),
        Err(e) => Err(format!("{what} failed: {e}")),
    }
}

/// The status of task `id`, with its location.
pub(crate) async fn status(toolbox: &Toolbox, id: &str) -> Result<TaskStatusPlus, String> {
    let what = format!("Reading the status of task[{id}]");
    let path = format!("{TASK_PATH}/{}/status", path_segment(id));
    let mut answer = toolbox
        .actions
        .call(&what, Method::GET, &path, None)
        .await
        .map_err(|e| format!("{what} failed: {e}"))?;
    let status = answer
        .get_mut("status")
        .map(Value::take)
        .unwrap_or_default();
    serde_json::from_value(status).map_err(|e| format!("{what}: unreadable answer: {e}"))
}

/// Asks the Overlord to shut task `id` down; one that has ended already is no error.
pub(crate) async fn shutdown(toolbox: &Toolbox, id: &str) -> Result<(), String> {
    let what = format!("Shutting down task[{id}]");
    let path = format!("{TASK_PATH}/{}/shutdown", path_segment(id));
    toolbox
        .actions
        .call(&what, Method::POST, &path, None)
        .await
        .map(drop)
        .map_err(|e| format!("{what} failed: {e}"))
}
