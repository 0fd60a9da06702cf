//! Peon processes: spawning, signalling, and noticing their exit.
//!
//! A peon must outlive its MiddleManager (a restarted one re-adopts it), so it is spawned
//! detached from it: its own process group (a Ctrl-C on the MiddleManager's terminal does not
//! reach it, and a shutdown signals the peon and everything it started), stdin from /dev/null,
//! stdout and stderr straight into the task's log file (a pipe through the MiddleManager would
//! kill the peon with SIGPIPE once the MiddleManager is gone), and no kill-on-drop.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::oneshot;

use crate::config::WorkerConfig;

/// How often a re-adopted peon (not our child, so no exit notification) is checked.
const ADOPTED_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How a peon's run ended, as far as the MiddleManager could see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Exit code; death by signal `s` is `128 + s`, as Java reports it.
    Code(i32),
    /// A re-adopted peon is gone; its exit code is not ours to collect.
    Unobserved,
    /// Waiting for the child failed.
    WaitFailed(String),
}

/// A running peon: a child spawned by this MiddleManager, or one re-adopted after a restart.
pub(crate) enum Peon {
    Child {
        child: tokio::process::Child,
        pid: u32,
    },
    Adopted {
        pid: u32,
        task_dir: PathBuf,
    },
}

/// Starts `<program> <args...> <taskDir> <attemptId>` as described in the module doc.
pub(crate) fn spawn(
    config: &WorkerConfig,
    task_dir: &Path,
    log_file: &Path,
    attempt: u32,
    port: u16,
) -> std::io::Result<Peon> {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log_file)?;
    let mut command = tokio::process::Command::new(&config.peon_program);
    for variable in &config.peon_env_remove {
        command.env_remove(variable);
    }
    let child = command
        .args(&config.peon_args)
        .arg(task_dir)
        .arg(attempt.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("STEWARD_TASK_HOST", &config.host)
        .env("STEWARD_TASK_PORT", port.to_string())
        .process_group(0)
        .spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other("the peon exited at once"))?;
    Ok(Peon::Child { child, pid })
}

impl Peon {
    pub(crate) fn pid(&self) -> u32 {
        match self {
            Peon::Child { pid, .. } | Peon::Adopted { pid, .. } => *pid,
        }
    }

    /// Waits for the peon to exit. Cancel-safe.
    async fn wait(&mut self) -> Exit {
        match self {
            Peon::Child { child, .. } => match child.wait().await {
                Ok(status) => Exit::Code(
                    status
                        .code()
                        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
                ),
                Err(e) => Exit::WaitFailed(e.to_string()),
            },
            Peon::Adopted { pid, task_dir } => {
                while is_peon_alive(*pid, task_dir) {
                    tokio::time::sleep(ADOPTED_POLL_INTERVAL).await;
                }
                Exit::Unobserved
            }
        }
    }

    /// Signals the peon's whole process group (the peon is its leader).
    fn signal_group(&self, signal: Signal) {
        let pid = self.pid();
        match killpg(Pid::from_raw(pid as i32), signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!(pid, "cannot send {signal} to the peon's process group: {e}"),
        }
    }
}

/// Waits for the peon to exit; if `stop` fires first, stops it gracefully: SIGTERM to its
/// process group, then SIGKILL once `grace` has passed.
pub(crate) async fn wait_or_stop(
    peon: &mut Peon,
    stop: oneshot::Receiver<()>,
    grace: Duration,
) -> Exit {
    tokio::select! {
        exit = peon.wait() => return exit,
        requested = stop => if requested.is_err() {
            // Nobody can ask for a stop any more; the peon runs to its end.
            return peon.wait().await;
        },
    }
    tracing::info!(
        pid = peon.pid(),
        "stopping peon: SIGTERM to its process group"
    );
    peon.signal_group(Signal::SIGTERM);
    if let Ok(exit) = tokio::time::timeout(grace, peon.wait()).await {
        return exit;
    }
    tracing::warn!(
        pid = peon.pid(),
        "peon still running {} ms after SIGTERM: SIGKILL to its process group",
        grace.as_millis()
    );
    peon.signal_group(Signal::SIGKILL);
    peon.wait().await
}

/// Whether `pid` is a live peon of the task in `task_dir`. The command line must name the task
/// dir, so a recycled pid is not mistaken for the peon; a zombie counts as exited.
pub(crate) fn is_peon_alive(pid: u32, task_dir: &Path) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    match kill(Pid::from_raw(raw), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself contain ") ".
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    if matches!(state, None | Some('Z' | 'X')) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
        return false;
    };
    let dir = task_dir.as_os_str().as_encoded_bytes();
    cmdline.split(|b| *b == 0).any(|arg| arg == dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh_peon(script: &str, task_dir: &Path) -> std::process::Child {
        std::process::Command::new("/bin/sh")
            .args(["-c", script, "peon"])
            .arg(task_dir)
            .arg("1")
            // The script's own children (its `sleep`) outlive a killed `sh`; they must not
            // hold the test's output open.
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    fn wait_until(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_live_peon_is_recognised_by_its_task_dir() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = sh_peon(r#"while [ -d "$1" ]; do sleep 1; done"#, dir.path());
        // The kernel fills in a new program's command line a moment after exec.
        wait_until("the peon is recognised", || {
            is_peon_alive(child.id(), dir.path())
        });
        assert!(
            !is_peon_alive(child.id(), Path::new("/some/other/task")),
            "recycled pid"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            !is_peon_alive(child.id(), dir.path()),
            "a reaped process is gone"
        );
    }

    #[test]
    fn a_zombie_peon_counts_as_exited() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = sh_peon("exit 0", dir.path());
        let stat = format!("/proc/{}/stat", child.id());
        wait_until("the peon is a zombie", || {
            std::fs::read_to_string(&stat).unwrap().contains(") Z")
        });
        assert!(!is_peon_alive(child.id(), dir.path()));
        child.wait().unwrap();
    }
}
