//! Builders shared by the state-machine tests: a fixed clock, workers and noop tasks; the log
//! lines a piece of code writes.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use steward_model::{Task, Worker, DEFAULT_WORKER_CATEGORY};

pub fn t0() -> Timestamp {
    Timestamp::from_second(1_767_225_600).unwrap() // 2026-01-01T00:00:00Z
}

pub fn later(t: Timestamp, secs: u64) -> Timestamp {
    t.saturating_add(Duration::from_secs(secs)).unwrap()
}

pub fn worker(host: &str, capacity: u32) -> Worker {
    Worker {
        scheme: "http".into(),
        host: host.into(),
        ip: host.split(':').next().unwrap().into(),
        capacity,
        version: "1".into(),
        category: DEFAULT_WORKER_CATEGORY.into(),
    }
}

pub fn noop(id: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id})).unwrap()
}

pub fn noop_priority(id: &str, priority: i64) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "context": {"priority": priority}})).unwrap()
}

/// Runs `f` and returns what it returned with the log lines it wrote (this thread only, every
/// level, no colours).
pub fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let buf = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buf.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (r, text.lines().map(str::to_string).collect())
}

/// Whether some line says `phrase` about task `id`.
pub fn logged_about(lines: &[String], id: &str, phrase: &str) -> bool {
    let field = format!("task=\"{id}\"");
    lines
        .iter()
        .any(|l| l.contains(phrase) && l.split_whitespace().any(|w| w == field))
}

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

/// Druid's messages word for word, as the tests expect them: an oracle independent of
/// `TaskEnd`, so that a drift in its wording fails them.
pub mod messages {
    pub const DISAPPEARED: &str =
        "The worker that this task was assigned disappeared. See overlord logs for more details.";
    pub const WORKER_CLEANUP: &str =
        "Canceled for worker cleanup. See overlord logs for more details.";
    pub const ASSIGN_FAILED: &str =
        "Failed to assign this task. See overlord logs for more details.";
    pub const NOT_READY: &str = "Encountered error[Not ready. Never will be ready. Go away!] while waiting for task to be ready. See Overlord logs for more details.";

    pub fn assignment_timeout(timeout: &str) -> String {
        format!(
            "The worker that this task is assigned did not start it in timeout[{timeout}]. See overlord logs for more details."
        )
    }
}
