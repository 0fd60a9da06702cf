//! The peon process around a task: task file, directory lock, stop signals, the toolbox from
//! `peon.json` (tasks that call the Overlord), status and report.
//!
//! The peon's stdout and stderr are the task's log file (the MiddleManager redirects them), so
//! every line printed here is what an operator reads for the task. The peon outlives its
//! MiddleManager on purpose (a restarted MiddleManager re-adopts it): it ignores SIGHUP and does
//! not watch stdin, and only SIGTERM or SIGINT stop the task early.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{SigHandler, Signal};
use serde_json::{json, Map, Value};
use steward_model::{Task, TaskLocation, TaskStatus};
use tokio::signal::unix::{signal, SignalKind};

use crate::log::{error, info};
use crate::{run_task, TaskOutcome, Toolbox};

/// Druid's `druid.indexer.task.directoryLockTimeout` default (PT10M).
const DIRECTORY_LOCK_TIMEOUT: Duration = Duration::from_secs(600);
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// Runs the task in `task_dir` as attempt `attempt_id` and returns the process exit code: 0 once
/// the task has ended (whether it succeeded or failed) and its status is written, 1 if the peon
/// could not run it at all (unreadable task file, task directory locked by another peon, status
/// not writable).
pub fn peon_main(task_dir: &Path, attempt_id: u32) -> i32 {
    run_peon(task_dir, attempt_id, DIRECTORY_LOCK_TIMEOUT)
}

fn run_peon(task_dir: &Path, attempt_id: u32, lock_timeout: Duration) -> i32 {
    // SAFETY: SIG_IGN installs no handler code, so nothing can run in signal context.
    if let Err(e) = unsafe { nix::sys::signal::signal(Signal::SIGHUP, SigHandler::SigIgn) } {
        error(&format!("Cannot ignore SIGHUP: {e}"));
        return 1;
    }
    // One thread is enough for one task, and starts in microseconds.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error(&format!("Cannot start the peon's runtime: {e}"));
            return 1;
        }
    };
    let result = runtime.block_on(peon(task_dir, attempt_id, lock_timeout));
    // The status is written: a stopped task's blocking thread may still wait on its input,
    // and must not keep the process alive until the MiddleManager kills it.
    runtime.shutdown_background();
    match result {
        Ok(()) => 0,
        Err(msg) => {
            error(&msg);
            1
        }
    }
}

async fn peon(task_dir: &Path, attempt_id: u32, lock_timeout: Duration) -> Result<(), String> {
    // Handlers go in first: a stop request during start-up must not kill the peon silently.
    let mut stop = StopSignals::install()?;
    let task_file = task_dir.join("task.json");
    let task = std::fs::read(&task_file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| Task::from_bytes(&bytes).map_err(|e| e.to_string()))
        .map_err(|e| format!("Cannot read task file [{}]: {e}", task_file.display()))?;
    let _lock = tokio::select! {
        lock = lock_task_dir(task_dir, lock_timeout) => lock?,
        name = stop.recv() => return Err(format!("Received {name} while waiting for the lock")),
    };
    let location = location_from_env();
    info(&format!(
        "Running task[{}] type[{}] dataSource[{}] attempt[{attempt_id}] location[{}:{}]",
        task.id(),
        task.task_type(),
        task.data_source(),
        location.host.as_deref().unwrap_or("unknown"),
        location.port,
    ));
    let started = Instant::now();
    let stopped = async {
        let name = stop.recv().await;
        info(&format!("Received {name}: stopping the task"));
    };
    // A task that calls the Overlord or deep storage needs `peon.json`; without a usable one it
    // ends FAILED saying why, with its status and report written as for any end.
    let outcome = match task.kind().uses_task_actions() {
        false => run_task(&task, None, stopped).await,
        true => match Toolbox::load(task_dir, &task, u16::try_from(location.port).ok()) {
            Ok(toolbox) => run_task(&task, Some(&toolbox), stopped).await,
            Err(msg) => TaskOutcome {
                status: TaskStatus::failure(task.id(), msg),
                reports: Map::new(),
            },
        },
    };
    let duration = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let status = outcome
        .status
        .with_duration(duration)
        .with_location(location);

    let attempt_dir = task_dir.join("attempt").join(attempt_id.to_string());
    std::fs::create_dir_all(&attempt_dir)
        .map_err(|e| format!("Cannot create attempt dir [{}]: {e}", attempt_dir.display()))?;
    // The report goes first: status.json is what marks the attempt as finished.
    write_atomic(
        &attempt_dir,
        "report.json",
        &serde_json::to_vec(&report(&task, outcome.reports)).expect("JSON"),
    )?;
    write_atomic(
        &attempt_dir,
        "status.json",
        &serde_json::to_vec(&status).expect("JSON"),
    )?;
    info(&format!(
        "Task[{}] finished: status[{}] duration[{} ms] peakRss[{}]{}",
        status.id,
        status.status.as_str(),
        status.duration,
        peak_rss_bytes().map_or("unknown".to_string(), |b| format!(
            "{:.1} MB",
            b as f64 / 1e6
        )),
        status
            .error_msg
            .as_deref()
            .map(|e| format!(" errorMsg[{e}]"))
            .unwrap_or_default(),
    ));
    Ok(())
}

/// The most memory this peon has held resident (`ru_maxrss`), in bytes: what the task needed
/// at its peak, for an operator sizing a MiddleManager's slots.
fn peak_rss_bytes() -> Option<u64> {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok()?;
    let max_rss = u64::try_from(usage.max_rss()).ok()?;
    // Linux counts kibibytes, macOS bytes.
    Some(if cfg!(target_os = "macos") {
        max_rss
    } else {
        max_rss * 1024
    })
}

/// SIGTERM (the MiddleManager's graceful shutdown) and SIGINT (an operator running a peon by
/// hand).
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<Self, String> {
        let install =
            |kind| signal(kind).map_err(|e| format!("Cannot install signal handler: {e}"));
        Ok(StopSignals {
            term: install(SignalKind::terminate())?,
            int: install(SignalKind::interrupt())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Takes the exclusive lock on `<taskDir>/lock` that keeps a second peon off this task,
/// retrying until `timeout` (the other peon may be on its way out).
async fn lock_task_dir(task_dir: &Path, timeout: Duration) -> Result<Flock<File>, String> {
    let path = task_dir.join("lock");
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("Cannot open lock file [{}]: {e}", path.display()))?;
    let deadline = Instant::now() + timeout;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = f;
                tokio::time::sleep(LOCK_RETRY_INTERVAL).await;
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(format!(
                    "Cannot lock task directory [{}] within {} ms: another peon holds it",
                    task_dir.display(),
                    timeout.as_millis()
                ))
            }
            Err((_, e)) => return Err(format!("Cannot lock [{}]: {e}", path.display())),
        }
    }
}

/// The location the MiddleManager allocated for this peon, unknown if it did not say.
fn location_from_env() -> TaskLocation {
    let host = std::env::var("STEWARD_TASK_HOST").ok();
    let port = std::env::var("STEWARD_TASK_PORT")
        .ok()
        .and_then(|p| p.parse().ok());
    match (host, port) {
        (Some(host), Some(port)) => TaskLocation::new(host, port),
        _ => TaskLocation::unknown(),
    }
}

/// Druid's report map: the task's own reports, then its context (every task reports at least
/// that; Druid's batch tasks put it last too).
fn report(task: &Task, mut reports: Map<String, Value>) -> Value {
    reports.insert(
        "taskContext".into(),
        json!({
            "type": "taskContext",
            "taskId": task.id(),
            "payload": task.payload().get("context").cloned().unwrap_or_else(|| json!({})),
        }),
    );
    Value::Object(reports)
}

/// [`steward_model::files::write_atomic`], with an error naming the file.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(name);
    steward_model::files::write_atomic(&path, bytes)
        .map_err(|e| format!("Cannot write [{}]: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use steward_model::TaskState;

    /// Tokio delivers a process-wide signal to every peon running in this test process, so the
    /// tests that run a peon take turns.
    static PEONS: Mutex<()> = Mutex::new(());

    fn one_peon_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        PEONS.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn task_dir_with(task_json: Option<Value>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(t) = task_json {
            std::fs::write(
                dir.path().join("task.json"),
                serde_json::to_vec(&t).unwrap(),
            )
            .unwrap();
        }
        dir
    }

    #[test]
    fn peon_writes_status_and_report_of_its_attempt() {
        let _turn = one_peon_at_a_time();
        let dir = task_dir_with(Some(
            json!({"type":"noop","id":"noop_peon","runTime":1,"context":{"k":"v"}}),
        ));
        assert_eq!(peon_main(dir.path(), 3), 0);
        let attempt = dir.path().join("attempt/3");
        let status: TaskStatus =
            serde_json::from_slice(&std::fs::read(attempt.join("status.json")).unwrap()).unwrap();
        assert_eq!(status.id, "noop_peon");
        assert_eq!(status.status, TaskState::Success);
        assert!(status.duration >= 1, "duration {}", status.duration);
        let report: Value =
            serde_json::from_slice(&std::fs::read(attempt.join("report.json")).unwrap()).unwrap();
        assert_eq!(
            report,
            json!({"taskContext":{"type":"taskContext","taskId":"noop_peon","payload":{"k":"v"}}})
        );
        let leftovers: Vec<_> = std::fs::read_dir(&attempt)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn peak_rss_is_the_process_high_water_mark() {
        let before = peak_rss_bytes().expect("getrusage works on this platform");
        // A test process holds at least its code and stack resident.
        assert!(before > 1_000_000, "{before}");
        let touched = vec![1u8; 64 << 20];
        let after = peak_rss_bytes().unwrap();
        assert!(after >= before && after >= touched.len() as u64, "{after}");
        assert_eq!(touched.iter().map(|&b| u64::from(b)).sum::<u64>(), 64 << 20);
    }

    #[test]
    fn peon_without_a_readable_task_fails() {
        let _turn = one_peon_at_a_time();
        let missing = task_dir_with(None);
        assert_ne!(peon_main(missing.path(), 1), 0);
        assert!(!missing.path().join("attempt").exists());
        let garbage = task_dir_with(Some(json!({"type":"no-such-type"})));
        assert_ne!(peon_main(garbage.path(), 1), 0);
    }

    #[test]
    fn second_peon_on_a_locked_task_dir_fails() {
        let _turn = one_peon_at_a_time();
        let dir = task_dir_with(Some(json!({"type":"noop","id":"noop_locked","runTime":1})));
        let held = File::create(dir.path().join("lock")).unwrap();
        let held = Flock::lock(held, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| e)
            .unwrap();
        assert_ne!(run_peon(dir.path(), 1, Duration::from_millis(300)), 0);
        assert!(!dir.path().join("attempt/1/status.json").exists());
        drop(held);
        assert_eq!(run_peon(dir.path(), 1, Duration::from_millis(300)), 0);
        assert!(dir.path().join("attempt/1/status.json").exists());
    }

    #[test]
    fn sigterm_stops_the_task_and_the_peon_still_reports() {
        let _turn = one_peon_at_a_time();
        let dir = task_dir_with(Some(
            json!({"type":"noop","id":"noop_term","runTime":3_600_000}),
        ));
        let task_dir = dir.path().to_path_buf();
        let peon = std::thread::spawn(move || peon_main(&task_dir, 1));
        // The peon takes its lock after installing its handlers: once the lock is held, SIGTERM
        // reaches the task instead of killing the test process.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "the peon never took its lock");
            if let Ok(f) = File::open(dir.path().join("lock")) {
                if let Err((_, nix::errno::Errno::EWOULDBLOCK)) =
                    Flock::lock(f, FlockArg::LockExclusiveNonblock)
                {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        nix::sys::signal::raise(Signal::SIGTERM).unwrap();
        assert_eq!(peon.join().unwrap(), 0);
        let status: TaskStatus = serde_json::from_slice(
            &std::fs::read(dir.path().join("attempt/1/status.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(status.status, TaskState::Failed);
        assert_eq!(
            status.error_msg.as_deref(),
            Some("Canceled as task execution process stopped")
        );
    }
}
