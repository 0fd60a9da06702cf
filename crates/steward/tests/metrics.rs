//! End-to-end: `GET /metrics` of a real quickstart's Overlord and MiddleManager, read with a
//! Prometheus text-format parser, while tasks succeed, fail and run; and its protection by
//! Druid's basic security.

mod common;

use std::time::Duration;

use common::metrics::{scrape, Metrics};
use common::{auth_properties, noop, wait_for, Quickstart, ADMIN_PASSWORD};
use serde_json::json;

const T: Duration = Duration::from_secs(30);
const NONE: (&str, &str) = ("dataSource", "none");
const NOOP: (&str, &str) = ("taskType", "noop");
const CATEGORY: (&str, &str) = ("category", "_default_worker_category");
const VERSION: (&str, &str) = ("workerVersion", "0");

/// Scrapes `url` until `ready` holds of the figures (each end is recorded a moment after its
/// status is visible), then returns them.
async fn scrape_until(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    ready: impl Fn(&Metrics) -> bool,
) -> Metrics {
    wait_for(what, T, || async {
        let m = scrape(http, url).await;
        ready(&m).then_some(m)
    })
    .await
}

#[tokio::test]
async fn the_overlord_and_middle_manager_count_tasks_slots_and_latencies_in_druids_names() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "druid.worker.capacity=3").await;
    let (overlord, mm) = (
        qs.url.clone(),
        format!("http://127.0.0.1:{}", qs.worker_port),
    );
    let first = scrape(&qs.http, &overlord).await;
    assert_eq!(first.value("druid_task_success_count_total", &[NONE]), None);
    assert_eq!(
        first.value("druid_taskslot_total_count", &[CATEGORY]),
        Some(3.0)
    );
    assert_eq!(
        first.value("druid_taskslot_idle_count", &[CATEGORY]),
        Some(3.0)
    );
    assert_eq!(
        first.value("druid_worker_count", &[CATEGORY, VERSION]),
        Some(1.0)
    );

    let ok = qs.submit_ok(noop("metrics-ok", 10)).await;
    assert_eq!(qs.wait_complete(&ok, T).await["statusCode"], "SUCCESS");
    let long = qs.submit_ok(noop("metrics-long", 600_000)).await;
    qs.wait_runner_state(&long, "RUNNING", T).await;
    let worker = [CATEGORY, VERSION];
    let running = scrape(&qs.http, &overlord).await;
    let mm_running = scrape(&qs.http, &mm).await;
    for (scraped, name, labels, expected) in [
        (&running, "druid_task_running_count", &[NONE][..], 1.0),
        (&running, "druid_taskslot_used_count", &[CATEGORY], 1.0),
        (&running, "druid_taskslot_idle_count", &[CATEGORY], 2.0),
        (&running, "druid_taskslot_lazy_count", &[CATEGORY], 0.0),
        (
            &running,
            "druid_taskslot_blacklisted_count",
            &[CATEGORY],
            0.0,
        ),
        (
            &mm_running,
            "druid_worker_taskslot_used_count",
            &worker,
            1.0,
        ),
        (
            &mm_running,
            "druid_worker_taskslot_idle_count",
            &worker,
            2.0,
        ),
        (
            &mm_running,
            "druid_worker_taskslot_total_count",
            &worker,
            3.0,
        ),
    ] {
        assert_eq!(scraped.value(name, labels), Some(expected), "{name}");
    }

    // Shut down while running: it fails on the worker.
    let r = qs.post(&format!("task/{long}/shutdown"), json!({})).await;
    assert_eq!(r.status(), 200);
    let failed = qs.wait_complete(&long, T).await;
    assert_eq!(failed["statusCode"], "FAILED");
    // The slot is free again once the runner has cleaned the task up, a moment after its end.
    let m = scrape_until(
        &qs.http,
        &overlord,
        "the failure counted, its slot free",
        |m| {
            m.value("druid_task_failed_count_total", &[NONE]) == Some(1.0)
                && m.value("druid_taskslot_used_count", &[CATEGORY]) == Some(0.0)
        },
    )
    .await;
    assert_eq!(
        m.value("druid_task_success_count_total", &[NONE]),
        Some(1.0)
    );
    // Ends without a duration (a shutdown's is -1) are counted but not timed.
    let timed = 1 + u32::from(failed["duration"].as_i64().unwrap() >= 0);
    assert_eq!(
        m.observations("druid_task_run_time", &[NONE, NOOP]),
        Some(f64::from(timed))
    );
    assert_eq!(
        m.observations("druid_task_pending_time", &[NONE, NOOP]),
        Some(2.0)
    );
    assert_eq!(m.value("druid_task_running_count", &[NONE]), None);
    // Every statement the store ran is timed, labelled by operation and backend.
    let stored_end = [("backend", "sqlite"), ("operation", "set_status")];
    assert!(m.observations("druid_metadata_request_time", &stored_end) >= Some(2.0));

    let mm_ended = scrape_until(&qs.http, &mm, "the worker's counts", |m| {
        m.value("druid_worker_task_failed_count_total", &worker) == Some(1.0)
    })
    .await;
    assert_eq!(
        mm_ended.value("druid_worker_task_success_count_total", &worker),
        Some(1.0)
    );
    // Each service serves its own figures, not the process's sum.
    assert!(!mm_ended.has_sample("druid_task_success_count_total"));
    assert!(!m.has_sample("druid_worker_task_success_count_total"));
}

#[tokio::test]
async fn metrics_need_state_read_with_basic_security_on() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), &auth_properties()).await;
    let mm = format!("http://127.0.0.1:{}", qs.worker_port);
    for url in [qs.url.clone(), mm] {
        let anonymous = qs.http.get(format!("{url}/metrics")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{url}");
        let wrong = qs
            .http
            .get(format!("{url}/metrics"))
            .basic_auth("admin", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{url}");
        let admin = qs
            .http
            .get(format!("{url}/metrics"))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 200, "{url}");
        assert!(admin.text().await.unwrap().contains("# TYPE druid_"));
    }
}
