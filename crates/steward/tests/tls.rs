//! End-to-end TLS: a quickstart serving HTTPS only (Overlord and MiddleManager), with a CA made
//! for the test, reached with curl and with the CLI. Cluster mode over TLS (Overlord ↔
//! MiddleManagers, payload fetches included) is the cluster suites' secured run.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{noop, Quickstart, STEWARD};
use serde_json::Value;
use steward_testkit::TestCa;

const T: Duration = Duration::from_secs(30);

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is required")
}

#[tokio::test]
async fn https_only_quickstart_serves_curl_and_the_cli_that_trust_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::create(dir.path());
    let qs = Quickstart::start_tls(dir.path(), "", &ca).await;
    assert!(qs.url.starts_with("https://"), "{}", qs.url);
    let cacert = ca.ca.to_str().unwrap();

    // curl with the CA: the task API; without it: a certificate error.
    let health = curl(&["--cacert", cacert, &format!("{}/status/health", qs.url)]);
    assert!(health.status.success(), "{health:?}");
    assert_eq!(String::from_utf8_lossy(&health.stdout), "true");
    let refused = curl(&[&format!("{}/status/health", qs.url)]);
    assert_eq!(
        refused.status.code(),
        Some(60),
        "curl's certificate error: {refused:?}"
    );
    // Plain HTTP on the TLS port gets no answer.
    let plain = curl(&[&format!("http://127.0.0.1:{}/status/health", qs.port)]);
    assert!(!plain.status.success());

    // The CLI with the CA submits, waits (the peon runs on the MiddleManager, reached over
    // HTTPS too) and reads the log.
    let spec = dir.path().join("task.json");
    std::fs::write(&spec, noop("over-tls", 20).to_string()).unwrap();
    let cli = |args: Vec<String>| {
        let url = qs.url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(STEWARD)
                .args(args)
                .env("STEWARD_OVERLORD", url)
                .output()
                .unwrap()
        })
    };
    let spec_arg = spec.to_str().unwrap().to_string();
    let with_ca = |args: &[&str]| {
        let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        v.extend(["--ca-cert".to_string(), cacert.to_string()]);
        v
    };
    let o = cli(with_ca(&["task", "submit", &spec_arg, "--wait"]))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("SUCCESS"));
    let o = cli(with_ca(&["task", "log", "over-tls"])).await.unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("over-tls"));
    // Without the CA the CLI cannot reach it, and says why.
    let o = cli(vec!["task".into(), "status".into(), "over-tls".into()])
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");

    // The worker announces itself over HTTPS, and its API is served only so.
    let workers: Vec<Value> = qs.get("workers").await.json().await.unwrap();
    assert_eq!(workers[0]["worker"]["scheme"], "https");
    let mm = format!(
        "https://127.0.0.1:{}/druid/worker/v1/enabled",
        qs.worker_port
    );
    let enabled = curl(&["--cacert", cacert, &mm]);
    assert!(enabled.status.success(), "{enabled:?}");
    let done = qs.wait_complete("over-tls", T).await;
    assert_eq!(done["statusCode"], "SUCCESS");
}
