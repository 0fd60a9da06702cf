//! Builders shared by the state-machine tests: a fixed clock, workers and noop tasks.

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
