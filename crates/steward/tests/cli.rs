//! End-to-end: the `steward` CLI against a real quickstart.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{free_port, Quickstart, STEWARD};
use serde_json::{json, Value};

fn steward(qs_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(STEWARD)
        .args(args)
        .env("STEWARD_OVERLORD", qs_url)
        .output()
        .expect("run steward")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[tokio::test]
async fn submit_wait_status_list_log_and_workers() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let url = qs.url.clone();

    let ok = dir.path().join("ok.json");
    std::fs::write(&ok, r#"{"type":"noop","id":"cli-ok","runTime":20}"#).unwrap();
    let o = tokio::task::spawn_blocking({
        let (url, ok) = (url.clone(), ok.clone());
        move || steward(&url, &["task", "submit", ok.to_str().unwrap(), "--wait"])
    })
    .await
    .unwrap();
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).contains("cli-ok"));
    assert!(stdout(&o).contains("SUCCESS"));

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"type":"noop","id":"cli-bad","isReadyResult":"exception"}"#,
    )
    .unwrap();
    let o = tokio::task::spawn_blocking({
        let (url, bad) = (url.clone(), bad.clone());
        move || steward(&url, &["task", "submit", bad.to_str().unwrap(), "--wait"])
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "a FAILED task must exit non-zero");

    let o = steward(&url, &["task", "status", "cli-ok", "--json"]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"]["statusCode"], "SUCCESS");

    let o = steward(&url, &["task", "list", "--state", "complete"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("cli-ok") && stdout(&o).contains("cli-bad"),
        "{}",
        stdout(&o)
    );
    let o = steward(&url, &["task", "list", "--state", "complete", "--json"]);
    let v: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.len(), 2);

    let o = steward(&url, &["task", "log", "cli-ok"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("cli-ok"));

    let o = steward(&url, &["workers"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains(&format!("127.0.0.1:{}", qs.worker_port)),
        "{}",
        stdout(&o)
    );

    let long = qs
        .submit_ok(json!({"type":"noop","id":"cli-long","runTime":600000}))
        .await;
    qs.wait_runner_state(&long, "RUNNING", Duration::from_secs(30))
        .await;
    let o = steward(&url, &["task", "shutdown", "cli-long"]);
    assert!(o.status.success());
    assert_eq!(
        qs.wait_complete(&long, Duration::from_secs(30)).await["statusCode"],
        "FAILED"
    );

    let o = steward(&url, &["task", "status", "no-such-task"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Cannot find any task"));
}

#[tokio::test]
async fn datasources_segments_and_kill_on_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let url = qs.url.clone();
    let run = |args: &'static [&'static str]| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || steward(&url, args))
    };
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();

    for (args, expected) in [
        (&["datasources"][..], "no datasources with used segments\n"),
        (&["segments", "wiki"], "no used segments in wiki\n"),
        (
            &["segments", "wiki", "--interval", "2020-01-01/2020-02-01"],
            "no used segments in wiki\n",
        ),
        (
            &["segments", "wiki", "--unused"],
            "no unused segments in wiki\n",
        ),
        (
            &[
                "segments",
                "mark-unused",
                "wiki",
                "--interval",
                "2020-01-01/2020-02-01",
            ],
            "0 segments of wiki marked unused\n",
        ),
        (
            &[
                "segments",
                "mark-used",
                "wiki",
                "--interval",
                "2020-01-01/2020-02-01",
            ],
            "0 segments of wiki marked used\n",
        ),
    ] {
        let o = run(args).await.unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), expected, "{args:?}");
    }
    for (args, expected) in [
        (&["datasources", "--json"][..], json!([])),
        (&["segments", "wiki", "--json"], json!([])),
        (&["segments", "wiki", "--unused", "--json"], json!([])),
        (
            &[
                "segments",
                "mark-unused",
                "wiki",
                "--interval",
                "2020-01-01/2020-02-01",
                "--json",
            ],
            json!({"numChangedSegments": 0}),
        ),
    ] {
        let o = run(args).await.unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v, expected, "{args:?}");
    }

    // The server's refusals, exit code 1, its message on stderr.
    for (args, needle) in [
        (&["segments", ".wiki"][..], "cannot start with '.'"),
        (
            &["segments", "wiki", "--interval", "soon"],
            "JSON list of intervals",
        ),
        (
            &["segments", "wiki", "--unused", "--interval", "soon"],
            "Invalid interval [soon]",
        ),
        (
            &[
                "segments",
                "mark-used",
                "wiki",
                "--interval",
                "2020-02-01/2020-01-01",
            ],
            "Malformed segments filter",
        ),
    ] {
        let o = run(args).await.unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    // Arguments clap refuses before anything is sent.
    for args in [
        &["segments"][..],
        &["segments", "mark-unused", "wiki"],
        &["segments", "wiki", "mark-unused"],
        &["kill", "wiki"],
    ] {
        let o = run(args).await.unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("Usage:"), "{args:?}: {}", stderr(&o));
    }

    // A kill task of Druid's shape: accepted (and then of type kill), or refused with the
    // server's reason if this Overlord does not run kill tasks.
    let o = run(&["kill", "wiki", "--interval", "2020-01-01/2020-02-01"])
        .await
        .unwrap();
    if o.status.success() {
        let id = stdout(&o).trim().to_string();
        let status = qs.wait_complete(&id, Duration::from_secs(30)).await;
        assert_eq!(status["type"], "kill");
        assert_eq!(status["dataSource"], "wiki");
    } else {
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("Could not resolve type id 'kill'"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn unreachable_overlord_is_a_clear_error() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let o = steward(&url, &["task", "list"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot reach the Overlord"), "{err}");
}
