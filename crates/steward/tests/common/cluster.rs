//! A real cluster for end-to-end tests: a private ZooKeeper, one or more `steward overlord`
//! processes and N `steward middle-manager` processes, each with its own properties file and
//! data dir, all sharing a task-log directory as a cluster would share a volume. Overlords
//! share one metadata store: a SQLite file, since they all run on this host.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use steward_testkit::ZooKeeperServer;

use super::{auth_properties, free_port, secure, test_ca, wait_for, Api, STEWARD};

/// One `steward` process that can be killed, frozen and started again with the same config.
pub struct Proc {
    child: Option<Child>,
    args: Vec<String>,
    log: PathBuf,
    pub port: u16,
}

impl Proc {
    fn new(role: &str, config: &Path, log: PathBuf, port: u16) -> Proc {
        let args = vec![
            role.to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        Proc {
            child: None,
            args,
            log,
            port,
        }
    }

    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(STEWARD)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start steward");
        self.child = Some(child);
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    /// Sends `signal` and, unless it only freezes the process, waits for it to exit.
    pub fn signal(&mut self, signal: Signal) {
        let _ = kill(self.pid(), signal);
        if !matches!(signal, Signal::SIGSTOP | Signal::SIGCONT) {
            let _ = self.child.take().unwrap().wait();
        }
    }

    pub fn url(&self) -> String {
        let scheme = if secure() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGCONT);
            let _ = kill(pid, Signal::SIGTERM);
            let _ = child.wait();
        }
    }
}

/// A database of its own on the machine's PostgreSQL server (127.0.0.1:5432, user postgres),
/// dropped with the test.
pub struct TestDatabase {
    pub name: String,
}

fn psql(sql: &str) -> std::process::Output {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            sql,
        ])
        .output()
        .expect("psql (PostgreSQL client) is required")
}

impl TestDatabase {
    pub fn create() -> TestDatabase {
        let name = format!("steward_e2e_{}", uuid_like());
        let out = psql(&format!("CREATE DATABASE {name}"));
        assert!(
            out.status.success(),
            "cannot create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TestDatabase { name }
    }

    pub fn uri(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// Runs one query in this database and returns its single value.
    pub fn scalar(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                &self.name,
                "-qAt",
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}_{}", nanos, std::process::id())
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// ZooKeeper, Overlords and MiddleManagers.
pub struct Cluster {
    pub zk: ZooKeeperServer,
    pub dir: PathBuf,
    /// The API of the first Overlord, which leads when the cluster starts.
    pub api: Api,
    pub overlords: Vec<Proc>,
    pub mms: Vec<Proc>,
    /// The shared PostgreSQL store of a cluster with several Overlords (dropped last).
    pub db: Option<TestDatabase>,
}

/// Stops the processes before ZooKeeper, in a cluster's shutdown order (MiddleManagers, whose
/// peons' ends the Overlord records, then Overlords): a process stopping without ZooKeeper
/// waits out its connection timeout.
impl Drop for Cluster {
    fn drop(&mut self) {
        self.mms.clear();
        self.overlords.clear();
    }
}

impl std::ops::Deref for Cluster {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Properties every process of a test cluster shares: short ZooKeeper sessions so a lost
/// process is noticed in seconds, and one shared task-log directory; in a secured run, TLS only
/// and authentication.
fn common_properties(zk: &ZooKeeperServer, dir: &Path) -> String {
    let secured = if secure() {
        let ca = test_ca();
        format!(
            "druid.enablePlaintextPort=false\n\
             druid.enableTlsPort=true\n\
             steward.server.https.certPath={}\n\
             steward.server.https.keyPath={}\n\
             steward.client.https.caPath={}\n{}",
            ca.cert.display(),
            ca.key.display(),
            ca.ca.display(),
            auth_properties()
        )
    } else {
        String::new()
    };
    secured
        + &format!(
            "druid.host=127.0.0.1\n\
         druid.zk.service.host={}\n\
         druid.zk.service.sessionTimeoutMs=2000\n\
         druid.zk.service.connectionTimeoutMs=5000\n\
         druid.indexer.logs.directory={}\n\
         druid.indexer.task.gracefulShutdownTimeout=PT5S\n",
            zk.connect_string(),
            dir.join("task-logs").display()
        )
}

/// A process of role `role` named `name`: its properties (`properties` plus its own port and
/// data dir) in `<dir>/<name>.properties`, its output in `<dir>/<name>.log`.
fn configured_proc(dir: &Path, role: &str, name: &str, properties: &str) -> Proc {
    let port = free_port();
    let config = dir.join(format!("{name}.properties"));
    let data = dir.join(name);
    std::fs::write(
        &config,
        format!(
            "{properties}druid.plaintextPort={port}\ndruid.tlsPort={port}\nsteward.dataDir={}\n",
            data.display()
        ),
    )
    .unwrap();
    Proc::new(role, &config, dir.join(format!("{name}.log")), port)
}

impl Cluster {
    /// Starts ZooKeeper, an Overlord with `overlord_properties` and `workers` MiddleManagers
    /// with `worker_properties`, and waits until the Overlord sees every worker.
    pub async fn start(
        dir: &Path,
        workers: usize,
        overlord_properties: &str,
        worker_properties: &str,
    ) -> Cluster {
        Cluster::start_with_overlords(dir, 1, workers, overlord_properties, worker_properties).await
    }

    /// Like [`Cluster::start`] with `overlords` Overlords: the first leads (it is started and
    /// elected before the others join), the others follow it.
    pub async fn start_with_overlords(
        dir: &Path,
        overlords: usize,
        workers: usize,
        overlord_properties: &str,
        worker_properties: &str,
    ) -> Cluster {
        let zk = ZooKeeperServer::start().await;
        let common = common_properties(&zk, dir);
        // Several Overlords share a PostgreSQL store, as in production; one uses SQLite.
        let db = (overlords > 1).then(TestDatabase::create);
        let store = match &db {
            Some(db) => db.uri(),
            None => format!("sqlite:{}", dir.join("metadata.db").display()),
        };
        let mut procs: Vec<Proc> = Vec::new();
        for i in 0..overlords {
            let mut overlord = configured_proc(
                dir,
                "overlord",
                &format!("overlord{i}"),
                &format!("{common}druid.metadata.storage.connector.connectURI={store}\n{overlord_properties}\n"),
            );
            overlord.spawn();
            let api = Api::new(overlord.url());
            api.wait_healthy("an Overlord").await;
            match procs.first() {
                None => api.wait_leading().await,
                Some(leader) => api.wait_leader_known(&leader.url()).await,
            }
            procs.push(overlord);
        }
        let api = Api::new(procs[0].url());
        let mut cluster = Cluster {
            zk,
            dir: dir.to_path_buf(),
            api,
            overlords: procs,
            mms: Vec::new(),
            db,
        };
        for i in 0..workers {
            let peon_port = 20_000 + (free_port() % 20_000);
            let mut mm = configured_proc(
                dir,
                "middle-manager",
                &format!("mm{i}"),
                &format!(
                    "{common}druid.indexer.runner.startPort={peon_port}\n{worker_properties}\n"
                ),
            );
            mm.spawn();
            cluster.mms.push(mm);
        }
        cluster.wait_workers(workers).await;
        cluster
    }

    /// The Overlord's `/workers` listing.
    pub async fn workers(&self) -> Vec<Value> {
        self.get("workers").await.json().await.unwrap()
    }

    /// Waits until the Overlord lists exactly `n` workers.
    pub async fn wait_workers(&self, n: usize) {
        wait_for(&format!("{n} workers"), Duration::from_secs(30), || async {
            (self.workers().await.len() == n).then_some(())
        })
        .await;
    }

    /// The host of the worker a task runs on, per the Overlord.
    pub async fn worker_of(&self, id: &str) -> Option<String> {
        self.workers().await.into_iter().find_map(|w| {
            let runs = w["runningTasks"].as_array()?.iter().any(|t| t == id);
            runs.then(|| w["worker"]["host"].as_str().unwrap().to_string())
        })
    }

    /// Index of the MiddleManager with this host.
    pub fn mm_index(&self, host: &str) -> usize {
        self.mms
            .iter()
            .position(|m| m.host() == host)
            .expect("known worker")
    }

    /// Every log a test cluster wrote, to print when a test fails.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                out.push_str(&format!("==== {}\n", entry.path().display()));
                out.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        out
    }
}
