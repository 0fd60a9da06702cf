//! The `noop` task: waits its `runTime`, then succeeds. Used to exercise scheduling, locks and
//! worker capacity without doing any work.

use std::future::Future;
use std::time::Duration;

use steward_model::{NoopSpec, TaskStatus};

use crate::log::info;
use steward_model::end::TaskEnd;

pub(crate) async fn run(id: &str, spec: &NoopSpec, stop: impl Future<Output = ()>) -> TaskStatus {
    info(&format!(
        "Running noop task[{id}] for [{}] ms",
        spec.run_time_ms
    ));
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(spec.run_time_ms)) => TaskStatus::success(id),
        _ = stop => TaskEnd::Stopped.status(id),
    }
}
