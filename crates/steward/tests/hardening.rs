//! End-to-end, as a hostile or careless client would try it against a real quickstart: ids that
//! name files elsewhere or that a database or ZooKeeper cannot take, error answers that are not
//! JSON, ids with URL syntax in them, clients that hold connections, the listen address.

mod common;

use std::time::Duration;

use common::{noop, wait_for, Quickstart};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn hostile_ids_reach_no_file_and_are_refused_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    // Files a path traversal could reach: next to the data dir and at an absolute path.
    let secret = dir.path().join("secret");
    std::fs::write(secret.with_extension("log"), "SECRET LOG").unwrap();
    std::fs::write(secret.with_extension("report.json"), "SECRET REPORT").unwrap();
    let absolute = secret.to_str().unwrap().replace('/', "%2F");
    for id in [
        absolute.as_str(),
        "..%2Fsecret",
        "..%2F..%2Fsecret",
        "..",
        "%2E%2E%2Fsecret",
    ] {
        for what in ["log", "reports", "status", ""] {
            let path = format!("task/{id}/{what}");
            let r = qs.get(path.trim_end_matches('/')).await;
            let status = r.status();
            let body = r.text().await.unwrap();
            assert!(status == 400 || status == 404, "{path}: {status} {body}");
            assert!(!body.contains("SECRET"), "{path}: {body}");
        }
    }
    let r = qs.get(&format!("task/{absolute}/log")).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("cannot contain '/'"),
        "{body}"
    );
    // The MiddleManager checks ids too.
    let mm = format!("http://127.0.0.1:{}/druid/worker/v1", qs.worker_port);
    let r = qs
        .http
        .get(format!("{mm}/task/..%2Fsecret/log"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(!r.text().await.unwrap().contains("SECRET"));

    // Ids every store, ZooKeeper and filesystem can take, or a 400 at submit: the bounds of
    // each excluded range, characters beyond U+FFFF, and ids whose files would not fit a name.
    let before = qs.all_tasks().await;
    let longest = "l".repeat(239);
    for (id, needle) in [
        ("nul\u{0}", "illegal UTF8 character [0x0]"),
        ("unit\u{1F}", "illegal UTF8 character [0x1f]"),
        ("del\u{7F}", "illegal UTF8 character [0x7f]"),
        ("private\u{F8FF}", "illegal UTF8 character [0xf8ff]"),
        ("smile\u{1F600}", "illegal UTF8 character [0x1f600]"),
        (&"l".repeat(240), "the limit is 239 bytes"),
        (&"é".repeat(150), "the limit is 239 bytes"),
    ] {
        let r = qs.submit(noop(id, 10)).await;
        assert_eq!(r.status(), 400, "{id:?}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["errorMessage"].as_str().unwrap().contains(needle),
            "{id:?}: {body}"
        );
        let r = qs
            .http
            .post(qs.v1("task"))
            .json(&json!({"type": "noop", "dataSource": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "dataSource {id:?}");
    }
    let r = qs.post("taskStatus", json!(["fine", "nul\u{0}"])).await;
    assert_eq!(r.status(), 400);
    assert_eq!(qs.all_tasks().await, before, "nothing was stored");

    // The longest allowed id keeps its log and report.
    let done = qs
        .wait_complete(&qs.submit_ok(noop(&longest, 10)).await, T)
        .await;
    assert_eq!(done["statusCode"], "SUCCESS");
    let log = qs.get(&format!("task/{longest}/log")).await;
    assert_eq!(log.status(), 200);
    assert!(log.text().await.unwrap().contains(&longest));
}

#[tokio::test]
async fn every_error_answers_druid_json() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let mm = format!("http://127.0.0.1:{}", qs.worker_port);
    let v1 = |p: &str| qs.v1(p);
    let requests = [
        qs.http.get(v1("tasks?state=sideways")),
        qs.http.get(v1("tasks?max=-1")),
        qs.http.get(v1("completeTasks?n=lots")),
        qs.http.get(v1("task/nope/status")),
        qs.http.get(v1("task/nope/log?offset=abc")),
        qs.http.post(v1("taskStatus")).json(&json!([])),
        qs.http.post(v1("taskStatus")).body("not json"),
        qs.http.post(v1("datasources/nothing/shutdownAllTasks")),
        qs.http.delete(v1("task/nope")),
        qs.http.put(v1("tasks")),
        qs.http.get(v1("no/such/endpoint")),
        qs.http.get(v1("worker/history?count=0")),
        qs.http.get(format!("{mm}/druid/worker/v1/task/nope/log")),
        qs.http
            .get(format!("{mm}/druid/worker/v1/task/nope/log?offset=x")),
        qs.http.delete(format!("{mm}/druid/worker/v1/enabled")),
        qs.http.get(format!("{mm}/nowhere")),
    ];
    for request in requests {
        let r = request.send().await.unwrap();
        let url = r.url().to_string();
        let status = r.status();
        assert!(status.is_client_error(), "{url}: {status}");
        let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("application/json"),
            "{url}: {content_type}"
        );
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{url}: {body}");
    }
}

#[tokio::test]
async fn a_running_task_whose_id_has_url_syntax_streams_its_live_log() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let id = "odd ?id#with%25 and %";
    let submitted = qs.submit_ok(noop(id, 600_000)).await;
    assert_eq!(submitted, id);
    let encoded = steward_http::path_segment(id);
    qs.wait_runner_state(&encoded, "RUNNING", T).await;
    // While it runs the log comes from its MiddleManager, through the Overlord.
    wait_for("the live log", T, || async {
        let r = qs.get(&format!("task/{encoded}/log")).await;
        let text = r.text().await.ok()?;
        text.contains(id).then_some(())
    })
    .await;
    let r = qs
        .post(&format!("task/{encoded}/shutdown"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["task"], id);
    let done = qs.wait_complete(&encoded, T).await;
    assert_eq!(done["statusCode"], "FAILED");
}

#[tokio::test]
async fn idle_connections_beyond_the_cap_do_not_take_the_overlord_down() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(
        dir.path(),
        "steward.server.http.maxConnections=20\nsteward.server.http.headerReadTimeout=PT2S",
    )
    .await;
    let addr = format!("127.0.0.1:{}", qs.port);
    // 200 connections that never send a request, and 20 that stall mid-header.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    for _ in 0..20 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /status/health HTTP/1.1\r\nhost: x\r\nx-slow: ")
            .await
            .unwrap();
        idle.push(s);
    }
    // Over the cap the Overlord answers 503 or closes the connection at once, instead of
    // leaving clients hanging...
    let fresh = steward_http::client_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    match fresh
        .get(format!("http://{addr}/status/health"))
        .send()
        .await
    {
        Ok(r) => assert!(r.status() == 503 || r.status() == 200, "{}", r.status()),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    // ... and so does its MiddleManager: the process's ports share one budget, so a flood on
    // one cannot take the descriptors the others need ...
    let mm = format!("http://127.0.0.1:{}/status/health", qs.worker_port);
    match fresh.get(&mm).send().await {
        Ok(r) => assert_eq!(r.status(), 503),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    // ... and once the server has dropped the idle connections it serves again, with every
    // one of the idle clients still connected on its side.
    wait_for("the Overlord to serve again", T, || async {
        for url in [format!("http://{addr}/status/health"), mm.clone()] {
            let r = fresh.get(url).send().await.ok()?;
            (r.status() == 200).then_some(())?;
        }
        Some(())
    })
    .await;
    let id = qs.submit_ok(noop("after-the-flood", 10)).await;
    assert_eq!(qs.wait_complete(&id, T).await["statusCode"], "SUCCESS");
    drop(idle);
}

#[tokio::test]
async fn quickstart_listens_on_loopback_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let listening = listening_addresses();
    for port in [qs.port, qs.worker_port] {
        let on_port: Vec<_> = listening.iter().filter(|(_, p)| *p == port).collect();
        assert!(!on_port.is_empty(), "nothing listens on {port}");
        for (addr, _) in on_port {
            assert_eq!(addr, "0100007F", "port {port} listens on {addr}");
        }
    }
    drop(qs);
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "steward.bindAddress=0.0.0.0").await;
    let listening = listening_addresses();
    assert!(listening.contains(&("00000000".to_string(), qs.port)));
}

/// (hex IPv4 address, port) of every listening TCP socket, from /proc/net/tcp.
fn listening_addresses() -> Vec<(String, u16)> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // State 0A is LISTEN.
            if fields.get(3) != Some(&"0A") {
                return None;
            }
            let (addr, port) = fields[1].split_once(':')?;
            Some((addr.to_string(), u16::from_str_radix(port, 16).ok()?))
        })
        .collect()
}
