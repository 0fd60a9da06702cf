//! A private, standalone ZooKeeper server for a test, run from Debian's `zookeeper` package.
//!
//! Each server has its own loopback port and temporary data directory, so tests can run in
//! parallel and one test may stop, restart or freeze its server without disturbing others.
//! `tickTime` is 500 ms, which lets tests use sessions as short as one second.
//!
//! The JVM runs in its own process group, out of reach of the terminal's Ctrl-C, and is killed
//! by a watchdog instead: a tiny `sh` that reads a pipe only this test process holds and, when
//! the pipe closes, kills the JVM and removes its data directory. The pipe closes however the
//! test process ends (panic, Ctrl-C, SIGKILL, or a normal exit that never drops a server kept
//! in a `static`), so no JVM outlives its test. Dropping a server kills its JVM at once.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Without an slf4j binding ZooKeeper logs nothing, and a failed start would be a mystery.
const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
const MAIN_CLASS: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// Measured to cut the median start from 0.40 s to 0.34 s; a test server needs no JIT or heap.
const JVM_FLAGS: [&str; 3] = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m"];
/// A start usually takes well under a second, but a busy two-core machine has been seen to
/// take several.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Another test may take the free port between our probe and the JVM's bind.
const START_ATTEMPTS: usize = 3;
/// Waits for its stdin to close, then kills the JVM (`$0`) and removes its directory (`$1`),
/// which a server kept in a `static` is never dropped to remove. The JVM is gone once init has
/// reaped it, which may take a while; the wait is bounded so the watchdog always ends.
const WATCHDOG: &str = r#"read _
kill -KILL "$0" 2>/dev/null
i=0
while kill -0 "$0" 2>/dev/null && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
rm -rf "$1""#;

/// A running (or stopped) private ZooKeeper server.
pub struct ZooKeeperServer {
    dir: tempfile::TempDir,
    port: u16,
    jvm: Option<Jvm>,
}

struct Jvm {
    java: Child,
    watchdog: Child,
}

impl ZooKeeperServer {
    /// Starts a server on a free loopback port with a fresh data directory and waits until it
    /// serves. Panics if ZooKeeper is not installed or does not start.
    pub async fn start() -> ZooKeeperServer {
        for jar in [ZOOKEEPER_JAR, SLF4J_SIMPLE_JAR] {
            assert!(
                Path::new(jar).exists(),
                "ZooKeeper is not installed ({jar} is missing): run `apt-get install -y zookeeper`"
            );
        }
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port().await;
            let mut server = ZooKeeperServer {
                dir: tempfile::Builder::new()
                    .prefix("steward-zk-")
                    .tempdir()
                    .expect("create a data directory for ZooKeeper"),
                port,
                jvm: None,
            };
            server.write_config();
            match server.launch().await {
                Ok(jvm) => {
                    server.jvm = Some(jvm);
                    return server;
                }
                Err(e) => failures.push(format!("port {port}: {e}")),
            }
        }
        panic!(
            "ZooKeeper did not start in {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n")
        );
    }

    /// `host:port` for a ZooKeeper client.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server gracefully (SIGTERM) and waits until it has exited.
    pub async fn stop(&mut self) {
        let mut jvm = self.jvm.take().expect("ZooKeeper is not running");
        // A paused JVM would never act on SIGTERM.
        signal(&jvm.java, Signal::SIGCONT);
        signal(&jvm.java, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if jvm.java.try_wait().expect("wait for ZooKeeper").is_some() {
                break;
            }
            if Instant::now() >= deadline {
                signal(&jvm.java, Signal::SIGKILL);
                let _ = jvm.java.wait();
                break;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        jvm.dismiss_watchdog();
    }

    /// Starts the stopped server again on the same port and data directory (same znodes,
    /// same sessions, as after a real ZooKeeper restart).
    pub async fn start_again(&mut self) {
        assert!(self.jvm.is_none(), "ZooKeeper is already running");
        match self.launch().await {
            Ok(jvm) => self.jvm = Some(jvm),
            Err(e) => panic!("ZooKeeper did not start again: {e}"),
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers, as with a
    /// server stuck in a long GC pause.
    pub fn pause(&self) {
        signal(&self.running().java, Signal::SIGSTOP);
    }

    /// Whether the server has a connection of session `id` (`cons`): false once it has
    /// expired the session, which closes its connection, or if nothing answers.
    pub async fn has_connection_of(&self, id: i64) -> bool {
        let sid = format!("sid=0x{id:x},");
        four_letter_word(self.port, "cons")
            .await
            .is_some_and(|connections| connections.contains(&sid))
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        signal(&self.running().java, Signal::SIGCONT);
    }

    fn running(&self) -> &Jvm {
        self.jvm.as_ref().expect("ZooKeeper is not running")
    }

    fn config_file(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("zookeeper.log")
    }

    fn write_config(&self) {
        let data = self.dir.path().join("data");
        let config = format!(
            "tickTime=500\n\
             dataDir={}\n\
             clientPort={}\n\
             clientPortAddress=127.0.0.1\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=*\n\
             forceSync=no\n",
            data.display(),
            self.port
        );
        std::fs::write(self.config_file(), config).expect("write zoo.cfg");
    }

    async fn launch(&self) -> Result<Jvm, String> {
        if srvr(self.port).await.is_some() {
            return Err("something already answers on the port".into());
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .map_err(|e| format!("cannot open the log file: {e}"))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let java = Command::new("java")
            .args(JVM_FLAGS)
            .arg("-cp")
            .arg(format!("{ZOOKEEPER_JAR}:{SLF4J_SIMPLE_JAR}"))
            .arg(MAIN_CLASS)
            .arg(self.config_file())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run java: {e}"))?;
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(java.id().to_string())
            .arg(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let mut jvm = match watchdog {
            Ok(watchdog) => Jvm { java, watchdog },
            Err(e) => {
                let mut java = java;
                let _ = java.kill();
                let _ = java.wait();
                return Err(format!("cannot run the watchdog: {e}"));
            }
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = jvm.java.try_wait().map_err(|e| e.to_string())? {
                jvm.dismiss_watchdog();
                return Err(format!(
                    "java exited ({status}); log:\n{}",
                    log_tail(&self.log_file(), log_start)
                ));
            }
            if srvr(self.port).await.is_some_and(|s| s.contains("Mode:")) {
                return Ok(jvm);
            }
            if Instant::now() >= deadline {
                let log = log_tail(&self.log_file(), log_start);
                jvm.kill();
                return Err(format!("not serving after {READY_TIMEOUT:?}; log:\n{log}"));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Jvm {
    fn kill(&mut self) {
        signal(&self.java, Signal::SIGKILL);
        let _ = self.java.wait();
        self.dismiss_watchdog();
    }

    /// Ends the watchdog without letting it signal: the JVM's pid may already be reused.
    fn dismiss_watchdog(&mut self) {
        signal(&self.watchdog, Signal::SIGKILL);
        let _ = self.watchdog.wait();
    }
}

impl Drop for ZooKeeperServer {
    fn drop(&mut self) {
        if let Some(mut jvm) = self.jvm.take() {
            jvm.kill();
        }
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits in i32"));
    // The process may have exited on its own already.
    let _ = kill(pid, signal);
}

async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free loopback port");
    listener.local_addr().expect("local address").port()
}

/// ZooKeeper's `srvr` four-letter word; `None` if nothing answers. `Mode:` appears in the answer
/// only once the server serves requests (`ruok` says `imok` earlier than that).
async fn srvr(port: u16) -> Option<String> {
    four_letter_word(port, "srvr").await
}

/// A four-letter word's answer (the configuration allows every word); `None` if nothing
/// answers.
async fn four_letter_word(port: u16, word: &str) -> Option<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(word.as_bytes()).await.ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        Some(answer)
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
}

fn log_tail(path: &Path, from: u64) -> String {
    const TAIL: u64 = 4000;
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = from.max(len.saturating_sub(TAIL));
    let mut tail = String::new();
    if file.seek(SeekFrom::Start(start)).is_ok() {
        let _ = file.read_to_string(&mut tail);
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn starts_stops_and_starts_again_on_the_same_port() {
        let mut server = ZooKeeperServer::start().await;
        let port = server.port;
        assert!(srvr(port).await.unwrap().contains("Mode: standalone"));
        server.stop().await;
        assert!(srvr(port).await.is_none());
        server.start_again().await;
        assert!(srvr(port).await.unwrap().contains("Mode: standalone"));
        server.pause();
        server.resume();
        assert!(srvr(port).await.unwrap().contains("Mode:"));
        drop(server);
        assert!(srvr(port).await.is_none());
    }
}
