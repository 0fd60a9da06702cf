//! End-to-end: the metadata store (a private PostgreSQL) goes down while tasks run and comes
//! back. Submissions fail with 503 meanwhile, running tasks keep running, and every end that
//! happened during the outage is recorded once the store is back.

mod common;

use std::time::Duration;

use common::{noop, wait_for, Quickstart};
use nix::sys::signal::Signal;
use serde_json::Value;
use steward_testkit::PostgresServer;

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn store_outage_refuses_submissions_and_loses_no_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut pg = PostgresServer::start();
    let mut qs = Quickstart::start(
        dir.path(),
        &format!("druid.metadata.storage.connector.connectURI={}", pg.url()),
    )
    .await;
    let during = qs.submit_ok(noop("ends-during-outage", 1_500)).await;
    let after = qs.submit_ok(noop("ends-after-outage", 600_000)).await;
    qs.wait_runner_state(&during, "RUNNING", T).await;
    qs.wait_runner_state(&after, "RUNNING", T).await;

    pg.stop();
    let refused = qs.submit(noop("refused", 10)).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("metadata store unavailable"),
        "{body}"
    );
    // The task ends while the store is down: its end is known in memory...
    let s = qs.wait_complete(&during, T).await;
    assert_eq!(s["statusCode"], "SUCCESS");
    // ...and the other keeps running.
    assert_eq!(qs.status(&after).await["runnerStatusCode"], "RUNNING");

    pg.start_again();
    // Shut the long one down now that the store is back; both ends must be in the store.
    assert_eq!(
        qs.post(&format!("task/{after}/shutdown"), serde_json::json!({}))
            .await
            .status(),
        200
    );
    qs.wait_complete(&after, T).await;
    wait_for("both ends to be recorded", T, || async {
        let complete: Vec<Value> = qs.get("tasks?state=complete").await.json().await.ok()?;
        (complete.len() == 2).then_some(())
    })
    .await;
    // A restarted Overlord reads them back from the store alone.
    qs.stop_with(Signal::SIGTERM);
    qs.spawn().await;
    assert_eq!(qs.status(&during).await["statusCode"], "SUCCESS");
    assert_eq!(qs.status(&after).await["statusCode"], "FAILED");
    assert_eq!(
        qs.get("task/refused/status").await.status(),
        404,
        "nothing was stored for it"
    );
}
