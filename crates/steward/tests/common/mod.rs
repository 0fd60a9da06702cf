//! Test harness: a real `steward quickstart` process on free ports with its own data dir, and
//! helpers that wait on observable conditions with a deadline (never a bare sleep).

#![allow(dead_code)]

pub mod actions;
pub mod cluster;
pub mod input_server;
pub mod metrics;
pub mod wiki;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
pub use steward_testkit::wait_for;
use steward_testkit::TestCa;

pub const STEWARD: &str = env!("CARGO_BIN_EXE_steward");

/// Whether this test run's clusters are secured (`STEWARD_TEST_SECURE=1`): TLS only, with a
/// CA made for the run, and Druid's basic authentication on. `scripts/test.sh` runs the cluster
/// suites a second time so.
pub fn secure() -> bool {
    std::env::var("STEWARD_TEST_SECURE").is_ok_and(|v| v == "1")
}

/// The CA of this test process (made once, kept until the process exits).
pub fn test_ca() -> &'static TestCa {
    static CA: OnceLock<(tempfile::TempDir, TestCa)> = OnceLock::new();
    let (_, ca) = CA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::create(dir.path());
        (dir, ca)
    });
    ca
}

/// The administrator the secured clusters are set up with.
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// The internal client's password of the secured clusters.
pub const INTERNAL_PASSWORD: &str = "internal-secret";

/// Druid's basic security with `admin` / [`ADMIN_PASSWORD`] and the internal client
/// `druid_system` / [`INTERNAL_PASSWORD`], as properties.
pub fn auth_properties() -> String {
    steward_testkit::basic_security_properties(ADMIN_PASSWORD, INTERNAL_PASSWORD)
}

/// A client for the tests' own calls: in a secured run it trusts the run's CA and logs in as
/// the administrator.
pub fn client_builder() -> reqwest::ClientBuilder {
    if !secure() {
        return steward_http::client_builder();
    }
    steward_http::InternalClient {
        ca: steward_http::load_ca(&test_ca().ca).unwrap(),
        authorization: steward_http::basic_authorization("admin", ADMIN_PASSWORD),
    }
    .builder()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running quickstart.
pub struct Quickstart {
    pub child: Option<Child>,
    pub api: Api,
    pub port: u16,
    pub worker_port: u16,
    pub data_dir: PathBuf,
    pub config: PathBuf,
}

impl Quickstart {
    /// Starts quickstart with extra properties appended to its config file.
    pub async fn start(dir: &Path, extra_properties: &str) -> Quickstart {
        Quickstart::start_with(dir, extra_properties, None).await
    }

    /// Starts quickstart serving HTTPS only, with the certificate of `ca`; the test's client
    /// trusts `ca`.
    pub async fn start_tls(dir: &Path, extra_properties: &str, ca: &TestCa) -> Quickstart {
        Quickstart::start_with(dir, extra_properties, Some(ca)).await
    }

    async fn start_with(dir: &Path, extra_properties: &str, tls: Option<&TestCa>) -> Quickstart {
        let port = free_port();
        let worker_port = free_port();
        let peon_port = 20_000 + (free_port() % 20_000);
        let config = dir.join("steward.properties");
        let (scheme, tls_properties, http) = match tls {
            None => ("http", String::new(), steward_http::client_builder()),
            Some(ca) => (
                "https",
                format!(
                    "druid.enablePlaintextPort=false\ndruid.enableTlsPort=true\n\
                     druid.tlsPort={port}\nsteward.quickstart.workerTlsPort={worker_port}\n\
                     steward.server.https.certPath={}\nsteward.server.https.keyPath={}\n\
                     steward.client.https.caPath={}\n",
                    ca.cert.display(),
                    ca.key.display(),
                    ca.ca.display()
                ),
                steward_http::client_builder()
                    .add_root_certificate(steward_http::load_ca(&ca.ca).unwrap().remove(0)),
            ),
        };
        std::fs::write(
            &config,
            format!(
                "druid.host=127.0.0.1\ndruid.indexer.runner.startPort={peon_port}\ndruid.indexer.task.gracefulShutdownTimeout=PT5S\n{tls_properties}{extra_properties}\n"
            ),
        )
        .unwrap();
        let mut qs = Quickstart {
            child: None,
            api: Api {
                url: format!("{scheme}://127.0.0.1:{port}"),
                http: http.build().unwrap(),
            },
            port,
            worker_port,
            data_dir: dir.join("var"),
            config,
        };
        qs.spawn().await;
        qs
    }

    /// (Re)starts the process on the same ports and data dir.
    pub async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.parent().unwrap().join("quickstart.log"))
            .unwrap();
        let child = Command::new(STEWARD)
            .args(["quickstart", "--config"])
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args([
                "--port",
                &self.port.to_string(),
                "--worker-port",
                &self.worker_port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start steward quickstart");
        self.child = Some(child);
        let http = self.http.clone();
        let url = format!("{}/status/health", self.url);
        wait_for("quickstart to serve", Duration::from_secs(30), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                http.get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        })
        .await;
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Stops the process with `signal` and waits for it to exit.
    pub fn stop_with(&mut self, signal: nix::sys::signal::Signal) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal);
            let _ = child.wait();
        }
    }
}

/// Druid's Overlord API, as the tests use it.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(url: String) -> Api {
        Api {
            url,
            http: client_builder().build().unwrap(),
        }
    }

    /// Waits until `/status/health` answers.
    pub async fn wait_healthy(&self, what: &str) {
        let url = format!("{}/status/health", self.url);
        wait_for(&format!("{what} to serve"), Duration::from_secs(30), || {
            let (http, url) = (self.http.clone(), url.clone());
            async move {
                http.get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        })
        .await;
    }

    /// Waits until this Overlord leads with its queue running (`isLeader` answers 200).
    pub async fn wait_leading(&self) {
        let url = self.v1("isLeader");
        wait_for("the Overlord to lead", Duration::from_secs(30), || {
            let (http, url) = (self.http.clone(), url.clone());
            async move {
                http.get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status() == 200)
                    .map(|_| ())
            }
        })
        .await;
    }

    /// Waits until this Overlord names `leader` as the leader (`GET leader`).
    pub async fn wait_leader_known(&self, leader: &str) {
        let url = self.v1("leader");
        wait_for(
            &format!("the Overlord to follow {leader}"),
            Duration::from_secs(30),
            || {
                let (http, url) = (self.http.clone(), url.clone());
                async move {
                    let r = http.get(&url).send().await.ok()?;
                    (r.text().await.ok()? == leader).then_some(())
                }
            },
        )
        .await;
    }

    pub fn v1(&self, path: &str) -> String {
        format!("{}/druid/indexer/v1/{path}", self.url)
    }

    pub async fn submit(&self, task: Value) -> reqwest::Response {
        self.http
            .post(self.v1("task"))
            .json(&task)
            .send()
            .await
            .unwrap()
    }

    /// Submits a task that must be accepted; returns its id.
    pub async fn submit_ok(&self, task: Value) -> String {
        let r = self.submit(task).await;
        assert_eq!(
            r.status(),
            200,
            "submit refused: {}",
            r.text().await.unwrap()
        );
        r.json::<Value>().await.unwrap()["task"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn status(&self, id: &str) -> Value {
        let r = self
            .http
            .get(self.v1(&format!("task/{id}/status")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "status of {id}");
        r.json::<Value>().await.unwrap()["status"].clone()
    }

    /// Waits until the task's statusCode is SUCCESS or FAILED and returns the status.
    pub async fn wait_complete(&self, id: &str, timeout: Duration) -> Value {
        wait_for(&format!("task {id} to end"), timeout, || async {
            let s = self.status(id).await;
            (s["statusCode"] != "RUNNING").then_some(s)
        })
        .await
    }

    pub async fn wait_runner_state(&self, id: &str, state: &str, timeout: Duration) -> Value {
        wait_for(
            &format!("task {id} runner state {state}"),
            timeout,
            || async {
                let s = self.status(id).await;
                (s["runnerStatusCode"] == state).then_some(s)
            },
        )
        .await
    }

    /// `task/{id}/reports` as JSON: live while the task runs, stored once it ended.
    pub async fn reports(&self, id: &str) -> Value {
        self.get(&format!("task/{id}/reports"))
            .await
            .json()
            .await
            .unwrap()
    }

    /// `task/{id}/log` as text.
    pub async fn log(&self, id: &str) -> String {
        self.get(&format!("task/{id}/log"))
            .await
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.v1(path)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.v1(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Every task the Overlord lists (all states).
    pub async fn all_tasks(&self) -> Vec<Value> {
        self.get("tasks").await.json::<Vec<Value>>().await.unwrap()
    }
}

impl std::ops::Deref for Quickstart {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        self.stop_with(nix::sys::signal::Signal::SIGTERM);
    }
}

pub fn noop(id: &str, run_time_ms: u64) -> Value {
    json!({"type": "noop", "id": id, "runTime": run_time_ms})
}

/// Whether a process with this pid exists.
pub fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Pids of peon processes running the given task (found by their command line).
pub fn peon_pids(task_id: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("\0peon\0") && cmdline.contains(task_id) {
            pids.push(pid);
        }
    }
    pids
}
