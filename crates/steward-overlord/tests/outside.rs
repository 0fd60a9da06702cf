//! The Overlord's core driven from outside the crate, as the whole-cluster simulation drives
//! it: this compiles only while everything such a driver needs stays public.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use steward_model::coordination::RunnerEvent;
use steward_model::{
    Task, TaskAnnouncement, TaskLocation, TaskStatus, Worker, DEFAULT_WORKER_CATEGORY,
};
use steward_overlord::{
    EntryState, IoEffect, OverlordCore, QueueConfig, QueueError, RunnerConfig, WorkerView,
};

const HOST: &str = "mm-a:8091";

fn worker() -> Worker {
    Worker {
        scheme: "http".into(),
        host: HOST.into(),
        ip: "mm-a".into(),
        capacity: 1,
        version: "1".into(),
        category: DEFAULT_WORKER_CATEGORY.into(),
    }
}

fn task(id: &str, ready: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "isReadyResult": ready})).unwrap()
}

#[test]
fn a_driver_outside_the_crate_takes_tasks_through_the_core() {
    let now = Timestamp::from_second(1_767_225_600).unwrap();
    let mut core = OverlordCore::new(QueueConfig::default(), RunnerConfig::default());
    assert_eq!(
        core.reserve(&task("early", "YES"), now),
        Err(QueueError::NotStarted)
    );
    assert!(core
        .end_unrunnable(vec![("bad".into(), "unknown task type [x]".into())], now)
        .iter()
        .all(|e| matches!(e, IoEffect::PersistStatus(s) if s.id == "bad")));
    assert!(core.adopt_assignments(Vec::new(), &[], now).is_empty());
    assert!(core.start(Vec::new(), Vec::new(), now).is_empty());
    core.cluster_event(RunnerEvent::WorkerAdded(worker()), now);
    core.cluster_event(RunnerEvent::WorkerInitialized(HOST.into()), now);

    let t1 = task("t1", "YES");
    core.reserve(&t1, now).unwrap();
    assert_eq!(core.queue().len(), 1);
    assert_eq!(
        core.inserted("t1", now),
        vec![IoEffect::Assign {
            worker: worker(),
            task: t1.clone()
        }]
    );
    assert_eq!(
        core.queue().entry("t1").unwrap().state,
        EntryState::Submitted
    );
    assert_eq!(core.runner().sizes(), (0, 1, 0));
    assert_eq!(core.runner().known_task_ids(), vec!["t1".to_string()]);
    let views: Vec<WorkerView> = core.workers();
    assert_eq!(
        (
            views[0].worker.host.as_str(),
            views[0].curr_capacity_used,
            views[0].running_tasks.clone(),
            views[0].availability_groups.len(),
            views[0].blacklisted_until
        ),
        (HOST, 1, vec!["t1".to_string()], 1, None)
    );
    assert!(core.next_deadline().is_some());

    // Neither stored nor shut down twice; a waiting task is shut down like any other.
    core.reserve(&task("dup", "YES"), now).unwrap();
    core.insert_failed("dup");
    core.reserve(&task("waits", "NO"), now).unwrap();
    assert!(core.inserted("waits", now).is_empty());
    assert_eq!(
        core.queue().entry("waits").unwrap().state,
        EntryState::Waiting
    );
    let (n, _) = core.shutdown_data_source("elsewhere", "gone", now);
    assert_eq!(n, 0);
    let (found, effects) = core.shutdown("waits", "Shutdown request from user", now);
    assert!(found);
    assert!(matches!(&effects[..], [IoEffect::PersistStatus(s)] if s.id == "waits"));
    core.persisted("waits", true, now);

    let done = TaskStatus::success("t1");
    let ended = core.cluster_event(
        RunnerEvent::StatusAnnounced {
            worker: HOST.into(),
            announcement: TaskAnnouncement::of(&t1, done.clone(), TaskLocation::unknown()),
        },
        now,
    );
    assert!(matches!(&ended[..], [IoEffect::PersistStatus(s)] if s.id == "t1"));
    assert!(core.completing_status("t1").is_some());
    assert_eq!(
        core.persisted("t1", true, now),
        vec![IoEffect::RemoveStatus {
            worker: HOST.into(),
            task_id: "t1".into()
        }]
    );
    core.check_invariants();
    let later = now.saturating_add(Duration::from_secs(3600)).unwrap();
    assert!(core.assign_failed("t1", HOST, false, later).is_empty());
    core.tick(later);
    assert!(core.reconcile(later).is_empty());
    core.persisted("bad", true, later);
    assert!(core.queue().is_empty());
    assert_eq!(core.queue().entries().count(), 0);
    assert_eq!(core.runner().sizes(), (0, 0, 0));
}
