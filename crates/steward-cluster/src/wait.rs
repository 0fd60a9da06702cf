//! Waiting on an optional deadline, as every event loop here does: the Overlord's master and
//! the MiddleManager wait for their next timer, the ZooKeeper feeds for their next re-watch.

use tokio::time::Instant;

/// Sleeps until `at`, or forever when there is none (a `select!` branch that never fires).
pub async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
