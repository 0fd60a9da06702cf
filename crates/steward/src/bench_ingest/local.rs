//! The quickstart the ingestion benchmark runs against: this same executable started as
//! `steward quickstart` on free ports, with its own data directory and default memory settings,
//! stopped (SIGTERM, as an operator would) when the benchmark is done.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::client::{ClientOptions, OverlordClient};

/// How long the quickstart may take to be ready for tasks.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long it may take to stop its peons and exit before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// A quickstart child process; stopped when dropped.
pub struct LocalQuickstart {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
}

impl LocalQuickstart {
    /// Starts a quickstart with `capacity` task slots in `data_dir` (created) and waits until
    /// its Overlord sees its MiddleManager.
    pub async fn start(data_dir: &Path, capacity: u32) -> anyhow::Result<LocalQuickstart> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let (port, worker_port) = (free_port()?, free_port()?);
        // Peons take ports upwards from here: somewhere no test or other benchmark is likely to
        // be.
        let peon_port = 20_000 + free_port()? % 20_000;
        let config = data_dir.join("steward.properties");
        std::fs::write(
            &config,
            format!(
                "druid.host=127.0.0.1\ndruid.plaintextPort={port}\n\
                 steward.quickstart.workerPort={worker_port}\n\
                 druid.indexer.runner.startPort={peon_port}\ndruid.worker.capacity={capacity}\n\
                 steward.dataDir={}\n",
                data_dir.join("var").display()
            ),
        )
        .with_context(|| format!("writing {}", config.display()))?;
        let log_path = data_dir.join("quickstart.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let exe = std::env::current_exe().context("finding the steward executable")?;
        let child = Command::new(exe)
            .arg("quickstart")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting steward quickstart")?;
        let mut qs = LocalQuickstart {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
        };
        let client = OverlordClient::new(&ClientOptions::url(&qs.url))?;
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let workers = client.workers_raw().await.ok();
            if workers
                .as_ref()
                .and_then(|w| w.as_array())
                .is_some_and(|w| !w.is_empty())
            {
                return Ok(qs);
            }
            if let Some(exit) = qs.child.try_wait()? {
                bail!("quickstart exited with {exit}; see {}", log_path.display());
            }
            if Instant::now() > deadline {
                bail!(
                    "quickstart did not answer within {} s; see {}",
                    START_DEADLINE.as_secs(),
                    log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for LocalQuickstart {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
