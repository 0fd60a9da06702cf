use super::*;
use crate::test_support::*;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::json;
use steward_model::{TaskAnnouncement, TaskState};

use crate::queue::SHUTDOWN_BY_USER;
use crate::readiness::TaskReadiness;
use crate::test_support::messages;
use crate::worker_config::WorkerBehaviorConfig;

// ----- helpers ---------------------------------------------------------------------------------

fn noop_ready(id: &str, result: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "isReadyResult": result})).unwrap()
}

fn announcement(task: &Task, status: TaskStatus, location: TaskLocation) -> TaskAnnouncement {
    TaskAnnouncement::of(task, status, location)
}

fn core() -> OverlordCore {
    OverlordCore::new(QueueConfig::default(), RunnerConfig::default())
}

/// Announces and initializes a worker.
fn add_worker(core: &mut OverlordCore, w: Worker, now: Timestamp) -> Vec<IoEffect> {
    let host = w.host.clone();
    let mut out = core.cluster_event(RunnerEvent::WorkerAdded(w), now);
    out.extend(core.cluster_event(RunnerEvent::WorkerInitialized(host), now));
    out
}

fn announce(
    core: &mut OverlordCore,
    host: &str,
    a: TaskAnnouncement,
    now: Timestamp,
) -> Vec<IoEffect> {
    core.cluster_event(
        RunnerEvent::StatusAnnounced {
            worker: host.into(),
            announcement: a,
        },
        now,
    )
}

fn submit(core: &mut OverlordCore, task: &Task, now: Timestamp) -> Vec<IoEffect> {
    core.reserve(task, now).unwrap();
    core.inserted(task.id(), now)
}

// ----- lifecycle -------------------------------------------------------------------------------

/// A stored row that cannot become a task ends FAILED through the core's one persist path, at
/// start, and leaves nothing in the queue or the runner.
#[test]
fn an_unrunnable_stored_row_ends_through_the_persist_path() {
    let now = t0();
    let mut core = core();
    let out = core.end_unrunnable(
        vec![(
            "index_kafka_x".into(),
            "unknown task type [index_kafka]".into(),
        )],
        now,
    );
    assert_eq!(
        out,
        vec![IoEffect::PersistStatus(TaskStatus::failure(
            "index_kafka_x",
            "Steward cannot run this task: unknown task type [index_kafka]"
        ))]
    );
    assert!(core.start(Vec::new(), Vec::new(), now).is_empty());
    assert!(core.persisted("index_kafka_x", true, now).is_empty());
    assert!(core.queue.is_empty());
    assert_eq!(core.runner.sizes(), (0, 0, 0));
}

#[test]
fn full_lifecycle_of_a_task_and_its_status_views() {
    const H: &str = "mm-a:8091";
    let now = t0();
    let mut core = core();
    assert!(core.start(Vec::new(), Vec::new(), now).is_empty());

    // No worker yet: the runner holds the task as PENDING.
    let t1 = noop("t1");
    core.reserve(&t1, now).unwrap();
    assert_eq!(core.active_status("t1"), None, "not stored yet");
    assert_eq!(core.active_task("t1"), None);
    assert!(core.inserted("t1", now).is_empty());
    let s = core.active_status("t1").unwrap();
    assert_eq!(
        (s.status_code, s.status, s.runner_status_code),
        (
            TaskState::Running,
            TaskState::Running,
            RunnerTaskState::Pending
        )
    );
    assert!(s.location.is_unknown());
    assert_eq!(s.created_time, "2026-01-01T00:00:00.000Z");
    assert_eq!(s.queue_insertion_time, "2026-01-01T00:00:00.000Z");
    assert_eq!(
        (
            s.id.as_str(),
            s.group_id.as_str(),
            s.task_type.as_str(),
            s.data_source.as_str()
        ),
        ("t1", "t1", "noop", "none")
    );
    assert_eq!((s.duration, s.error_msg), (-1, None));
    assert_eq!(core.active_task("t1"), Some(t1.clone()));

    // A task that is not ready is WAITING: the runner does not know it.
    assert!(submit(&mut core, &noop_ready("waits", "NO"), now).is_empty());
    let s = core.active_status("waits").unwrap();
    assert_eq!(
        (s.status_code, s.runner_status_code),
        (TaskState::Running, RunnerTaskState::Waiting)
    );

    // A worker appears: the task is assigned, still PENDING until the worker acknowledges.
    let at = later(now, 10);
    let out = add_worker(&mut core, worker(H, 2), at);
    assert_eq!(
        out,
        vec![IoEffect::Assign {
            worker: worker(H, 2),
            task: t1.clone()
        }]
    );
    assert_eq!(
        core.active_status("t1").unwrap().runner_status_code,
        RunnerTaskState::Pending
    );
    assert_eq!(core.next_deadline(), Some(later(at, 300)));

    // RUNNING with its location.
    let loc = TaskLocation::new("mm-a", 8100);
    assert!(announce(
        &mut core,
        H,
        announcement(&t1, TaskStatus::running("t1"), loc.clone()),
        at
    )
    .is_empty());
    let s = core.active_status("t1").unwrap();
    assert_eq!(
        (s.status_code, s.runner_status_code),
        (TaskState::Running, RunnerTaskState::Running)
    );
    assert_eq!(s.location, loc);
    assert_eq!(s.queue_insertion_time, "2026-01-01T00:00:00.000Z");
    assert_eq!(core.next_deadline(), None);

    // SUCCESS: the end is persisted (with the runner's location); the view shows the end.
    let done = TaskStatus::success("t1").with_duration(2500);
    let out = announce(
        &mut core,
        H,
        announcement(&t1, done.clone(), loc.clone()),
        later(now, 20),
    );
    let expected = done.with_location(loc.clone());
    assert_eq!(out, vec![IoEffect::PersistStatus(expected.clone())]);
    let s = core.active_status("t1").unwrap();
    assert_eq!(
        (s.status_code, s.status, s.runner_status_code),
        (
            TaskState::Success,
            TaskState::Success,
            RunnerTaskState::None
        )
    );
    assert_eq!((s.location.clone(), s.duration), (loc, 2500));
    assert_eq!(core.completing_status("t1"), Some(expected));
    assert_eq!(core.workers()[0].curr_capacity_used, 0);

    // Persisted: the status announcement is cleaned up and nothing is left of the task.
    let out = core.persisted("t1", true, later(now, 21));
    assert_eq!(
        out,
        vec![IoEffect::RemoveStatus {
            worker: H.into(),
            task_id: "t1".into()
        }]
    );
    assert_eq!(core.active_status("t1"), None);
    assert_eq!(core.completing_status("t1"), None);
    assert_eq!(core.runner.task_view("t1"), None);
    assert_eq!(core.runner.sizes(), (0, 0, 0));
    assert_eq!(core.queue.len(), 1, "only the waiting task is left");
    assert!(core
        .cluster_event(
            RunnerEvent::StatusRemoved {
                worker: H.into(),
                task_id: "t1".into()
            },
            later(now, 22)
        )
        .is_empty());
    assert_eq!(
        core.active_statuses()
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        vec!["waits"]
    );
}

#[test]
fn user_shutdown_of_a_running_task() {
    const H: &str = "mm-a:8091";
    let now = t0();
    let mut core = core();
    core.start(Vec::new(), Vec::new(), now);
    add_worker(&mut core, worker(H, 1), now);
    let t1 = noop("t1");
    submit(&mut core, &t1, now);
    announce(
        &mut core,
        H,
        announcement(
            &t1,
            TaskStatus::running("t1"),
            TaskLocation::new("mm-a", 8100),
        ),
        now,
    );

    // The end is recorded first, the worker is told afterwards (Druid's order).
    let (found, out) = core.shutdown("t1", SHUTDOWN_BY_USER, now);
    assert!(found);
    let failed = TaskStatus::failure("t1", SHUTDOWN_BY_USER);
    // The recorded end carries where the task ran, as Druid's notifyStatus does.
    let recorded = failed
        .clone()
        .with_location(TaskLocation::new("mm-a", 8100));
    assert_eq!(out, vec![IoEffect::PersistStatus(recorded)]);
    let s = core.active_status("t1").unwrap();
    assert_eq!(
        (s.status_code, s.runner_status_code, s.error_msg.as_deref()),
        (
            TaskState::Failed,
            RunnerTaskState::None,
            Some(SHUTDOWN_BY_USER)
        )
    );
    assert_eq!(
        core.shutdown("t1", SHUTDOWN_BY_USER, now),
        (false, vec![]),
        "already ending"
    );

    let out = core.persisted("t1", true, now);
    assert_eq!(
        out,
        vec![IoEffect::ShutdownOnWorker {
            worker: worker(H, 1),
            task_id: "t1".into()
        }]
    );
    assert!(core.queue.is_empty());
    assert_eq!(
        core.runner.sizes(),
        (0, 1, 0),
        "running until the worker reports the end"
    );

    // The worker's FAILED end is not persisted again; its announcement is cleaned up.
    let out = announce(
        &mut core,
        H,
        announcement(
            &t1,
            TaskStatus::failure("t1", "killed"),
            TaskLocation::unknown(),
        ),
        later(now, 5),
    );
    assert_eq!(
        out,
        vec![IoEffect::RemoveStatus {
            worker: H.into(),
            task_id: "t1".into()
        }]
    );
    assert_eq!(core.runner.sizes(), (0, 0, 0));
    assert!(core.queue.is_empty());
    assert_eq!(core.workers()[0].curr_capacity_used, 0);
    assert!(core.runner.known_task_ids().is_empty());
}

#[test]
fn user_shutdown_of_a_pending_task_drops_it_from_the_runner() {
    let now = t0();
    let mut core = core();
    core.start(Vec::new(), Vec::new(), now);
    submit(&mut core, &noop("t1"), now);
    let (found, out) = core.shutdown("t1", SHUTDOWN_BY_USER, now);
    assert!(found);
    assert_eq!(
        out,
        vec![IoEffect::PersistStatus(TaskStatus::failure(
            "t1",
            SHUTDOWN_BY_USER
        ))]
    );
    assert!(core.persisted("t1", true, now).is_empty());
    assert_eq!(core.runner.sizes(), (0, 0, 0));
    assert!(
        add_worker(&mut core, worker("mm-a:8091", 1), now).is_empty(),
        "never assigned"
    );
}

#[test]
fn failover_start_adopts_running_tasks_and_persists_ends_that_happened_meanwhile() {
    const H: &str = "mm-a:8091";
    let now = t0();
    let created = Timestamp::from_second(1_767_000_000).unwrap();
    let mut core = core();
    let running = noop("running");
    let done = noop("done");
    let orphan = noop("orphan");
    let fresh = noop("fresh");
    let loc = TaskLocation::new("mm-a", 8100);

    // The coordinator's snapshot, before the queue starts.
    let mut out = core.cluster_event(RunnerEvent::WorkerAdded(worker(H, 4)), now);
    out.extend(announce(
        &mut core,
        H,
        announcement(&running, TaskStatus::running("running"), loc.clone()),
        now,
    ));
    out.extend(announce(
        &mut core,
        H,
        announcement(&done, TaskStatus::success("done"), TaskLocation::unknown()),
        now,
    ));
    out.extend(announce(
        &mut core,
        H,
        announcement(
            &orphan,
            TaskStatus::running("orphan"),
            TaskLocation::unknown(),
        ),
        now,
    ));
    out.extend(core.cluster_event(RunnerEvent::WorkerInitialized(H.into()), now));
    assert!(
        out.is_empty(),
        "nothing is decided before the queue starts: {out:?}"
    );
    assert_eq!(core.runner.sizes(), (0, 2, 1));

    let stored = vec![
        (running.clone(), created),
        (done.clone(), created),
        (fresh.clone(), created),
    ];
    let (out, logs) = capture_logs(|| core.start(stored, Vec::new(), now));
    assert_eq!(out.len(), 3, "{out:?}");
    // Druid's line, for the task the queue holds and only for that one.
    assert!(logged_about(&logs, "running", ADOPTED), "{logs:#?}");
    assert!(!logged_about(&logs, "orphan", ADOPTED), "{logs:#?}");
    assert!(!logged_about(&logs, "done", ADOPTED), "{logs:#?}");
    assert!(out.contains(&IoEffect::PersistStatus(TaskStatus::success("done"))));
    assert!(out.contains(&IoEffect::ShutdownOnWorker {
        worker: worker(H, 4),
        task_id: "orphan".into()
    }));
    assert!(out.contains(&IoEffect::Assign {
        worker: worker(H, 4),
        task: fresh
    }));
    assert!(!out.iter().any(|e| matches!(e, IoEffect::Assign { task, .. } if task.id() == "running" || task.id() == "done")));

    let s = core.active_status("running").unwrap();
    assert_eq!(
        (s.status_code, s.runner_status_code, s.location.clone()),
        (TaskState::Running, RunnerTaskState::Running, loc)
    );
    assert_eq!(s.created_time, format_ts(created));
    assert_eq!(
        core.active_status("done").unwrap().status_code,
        TaskState::Success
    );

    // The completed one is cleaned up once persisted; the adopted one ends normally.
    assert_eq!(
        core.persisted("done", true, now),
        vec![IoEffect::RemoveStatus {
            worker: H.into(),
            task_id: "done".into()
        }]
    );
    let out = announce(
        &mut core,
        H,
        announcement(
            &running,
            TaskStatus::success("running"),
            TaskLocation::unknown(),
        ),
        now,
    );
    assert_eq!(
        out,
        vec![IoEffect::PersistStatus(
            TaskStatus::success("running").with_location(TaskLocation::new("mm-a", 8100))
        )]
    );
    // The orphan's end is only cleaned up.
    let out = announce(
        &mut core,
        H,
        announcement(
            &orphan,
            TaskStatus::failure("orphan", "stopped"),
            TaskLocation::unknown(),
        ),
        now,
    );
    assert_eq!(
        out,
        vec![IoEffect::RemoveStatus {
            worker: H.into(),
            task_id: "orphan".into()
        }]
    );
}

/// A core whose assignment timeout outlasts the cleanup timeout, so that a lost worker's
/// unacknowledged assignment is still waiting at its cleanup deadline.
fn patient_core() -> OverlordCore {
    let runner = RunnerConfig {
        task_assignment_timeout: std::time::Duration::from_secs(3600),
        ..RunnerConfig::default()
    };
    OverlordCore::new(QueueConfig::default(), runner)
}

const ADOPTED: &str = "adding to running tasks";

/// Worker `H` (2 slots) runs `t1` (acknowledged, at `loc`) and holds the assignment of `t2`
/// (unacknowledged); it vanishes at `now`, worker `other` (1 slot) appears, and at the cleanup
/// deadline `t1` ends FAILED while `t2` goes to `other`. Returns the cleanup's effects.
fn cleanup_of_a_lost_worker(
    core: &mut OverlordCore,
    h: &str,
    other: &str,
    loc: &TaskLocation,
    now: Timestamp,
) -> Vec<IoEffect> {
    core.start(Vec::new(), Vec::new(), now);
    add_worker(core, worker(h, 2), now);
    let (t1, t2) = (noop("t1"), noop("t2"));
    submit(core, &t1, now);
    submit(core, &t2, now);
    assert!(announce(
        core,
        h,
        announcement(&t1, TaskStatus::running("t1"), loc.clone()),
        now
    )
    .is_empty());
    assert!(core
        .cluster_event(RunnerEvent::WorkerRemoved(h.into()), now)
        .is_empty());
    assert!(add_worker(core, worker(other, 1), later(now, 10)).is_empty());
    assert!(core.tick(later(now, 899)).is_empty());
    core.tick(later(now, 900))
}

#[test]
fn cleanup_fails_the_started_task_and_runs_the_unstarted_one_elsewhere() {
    const H: &str = "mm-a:8091";
    const B: &str = "mm-b:8091";
    let now = t0();
    let mut core = patient_core();
    let loc = TaskLocation::new("mm-a", 8100);
    let out = cleanup_of_a_lost_worker(&mut core, H, B, &loc, now);
    let cleanup_end = TaskStatus::failure("t1", messages::WORKER_CLEANUP).with_location(loc);
    assert_eq!(
        out,
        vec![
            IoEffect::RemoveAssignment {
                worker: H.into(),
                task_id: "t1".into()
            },
            IoEffect::RemoveStatus {
                worker: H.into(),
                task_id: "t1".into()
            },
            IoEffect::RemoveAssignment {
                worker: H.into(),
                task_id: "t2".into()
            },
            IoEffect::Assign {
                worker: worker(B, 1),
                task: noop("t2")
            },
            IoEffect::PersistStatus(cleanup_end),
        ]
    );
    assert!(core.persisted("t1", true, later(now, 901)).is_empty());

    let at = later(now, 950);
    let done = announcement(
        &noop("t2"),
        TaskStatus::success("t2"),
        TaskLocation::unknown(),
    );
    assert_eq!(
        announce(&mut core, B, done, at),
        vec![IoEffect::PersistStatus(TaskStatus::success("t2"))]
    );
    assert_eq!(
        core.persisted("t2", true, at),
        vec![IoEffect::RemoveStatus {
            worker: B.into(),
            task_id: "t2".into()
        }]
    );
    assert!(core.queue.is_empty());
    assert_eq!(core.runner.sizes(), (0, 0, 0));
}

#[test]
fn worker_back_after_its_cleanup_cannot_revive_a_task_whose_end_is_recorded() {
    const H: &str = "mm-a:8091";
    const B: &str = "mm-b:8091";
    let now = t0();
    let mut core = patient_core();
    let loc = TaskLocation::new("mm-a", 8100);
    cleanup_of_a_lost_worker(&mut core, H, B, &loc, now);
    core.persisted("t1", true, later(now, 901));
    // An active task the queue never handed to the runner (not ready), to contrast with.
    let waits = noop_ready("waits", "NO");
    assert!(submit(&mut core, &waits, now).is_empty());

    let back = later(now, 1000);
    let t1 = noop("t1");
    let (out, logs) = capture_logs(|| {
        let mut out = core.cluster_event(RunnerEvent::WorkerAdded(worker(H, 2)), back);
        out.extend(announce(
            &mut core,
            H,
            announcement(&t1, TaskStatus::running("t1"), loc.clone()),
            back,
        ));
        out.extend(announce(
            &mut core,
            H,
            announcement(&waits, TaskStatus::running("waits"), loc.clone()),
            back,
        ));
        out.extend(core.cluster_event(RunnerEvent::WorkerInitialized(H.into()), back));
        out
    });
    assert_eq!(
        out,
        vec![IoEffect::ShutdownOnWorker {
            worker: worker(H, 2),
            task_id: "t1".into()
        }],
        "no second end is recorded"
    );
    assert!(!logged_about(&logs, "t1", ADOPTED), "{logs:#?}");
    assert!(
        logged_about(&logs, "t1", "its end is already recorded"),
        "{logs:#?}"
    );
    assert!(logged_about(&logs, "waits", ADOPTED), "{logs:#?}");
    assert_eq!(
        core.active_status("waits").unwrap().runner_status_code,
        RunnerTaskState::Running
    );

    // Its end there changes nothing recorded; its announcement is cleaned up.
    for end in [
        TaskStatus::failure("t1", "shut down"),
        TaskStatus::success("t1"),
    ] {
        let out = announce(&mut core, H, announcement(&t1, end, loc.clone()), back);
        let expected = vec![IoEffect::RemoveStatus {
            worker: H.into(),
            task_id: "t1".into(),
        }];
        assert_eq!(out, expected);
    }
    assert!(core.queue.entry("t1").is_none());
    assert_eq!(core.runner.task_view("t1"), None);
    assert_eq!(core.workers()[0].running_tasks, vec!["waits".to_string()]);
}

#[test]
fn worker_back_while_the_cleanup_end_is_being_recorded_has_the_task_shut_down_after() {
    const H: &str = "mm-a:8091";
    const B: &str = "mm-b:8091";
    let now = t0();
    let mut core = patient_core();
    let loc = TaskLocation::new("mm-a", 8100);
    cleanup_of_a_lost_worker(&mut core, H, B, &loc, now);

    let back = later(now, 901);
    let t1 = noop("t1");
    let (out, logs) = capture_logs(|| {
        let mut out = add_worker(&mut core, worker(H, 2), back);
        out.extend(announce(
            &mut core,
            H,
            announcement(&t1, TaskStatus::running("t1"), loc.clone()),
            back,
        ));
        out
    });
    assert!(out.is_empty(), "{out:?}");
    assert!(!logged_about(&logs, "t1", ADOPTED), "{logs:#?}");
    assert_eq!(
        core.completing_status("t1"),
        Some(TaskStatus::failure("t1", messages::WORKER_CLEANUP).with_location(loc.clone()))
    );

    assert_eq!(
        core.persisted("t1", true, back),
        vec![IoEffect::ShutdownOnWorker {
            worker: worker(H, 2),
            task_id: "t1".into()
        }]
    );
    let end = announcement(&t1, TaskStatus::success("t1"), loc);
    assert_eq!(
        announce(&mut core, H, end, back),
        vec![IoEffect::RemoveStatus {
            worker: H.into(),
            task_id: "t1".into()
        }]
    );
    assert_eq!(core.runner.task_view("t1"), None);
}

#[test]
fn reconcile_shuts_down_what_the_queue_no_longer_holds() {
    const H: &str = "mm-a:8091";
    let now = t0();
    let mut core = core();
    core.start(Vec::new(), Vec::new(), now);
    add_worker(&mut core, worker(H, 2), now);
    let t1 = noop("t1");
    submit(&mut core, &t1, now);
    assert!(core.reconcile(now).is_empty());
    // A stray task appears on the worker after start: the queue has it shut down right away.
    let stray = noop("stray");
    let out = announce(
        &mut core,
        H,
        announcement(
            &stray,
            TaskStatus::running("stray"),
            TaskLocation::unknown(),
        ),
        now,
    );
    assert_eq!(
        out,
        vec![IoEffect::ShutdownOnWorker {
            worker: worker(H, 2),
            task_id: "stray".into()
        }]
    );
    // The periodic safety net repeats the request while it runs.
    assert_eq!(
        core.reconcile(now),
        vec![IoEffect::ShutdownOnWorker {
            worker: worker(H, 2),
            task_id: "stray".into()
        }]
    );
}

#[test]
fn worker_config_change_assigns_waiting_tasks_as_io() {
    const H: &str = "mm-a:8091";
    let now = t0();
    let mut core = core();
    core.start(Vec::new(), Vec::new(), now);
    add_worker(&mut core, worker(H, 2), now);
    let limited = WorkerBehaviorConfig::parse(
        br#"{"selectStrategy":{"taskLimits":{"maxSlotCountByType":{"noop":0}}}}"#,
    )
    .unwrap()
    .config;
    assert!(core.set_worker_config(limited, now).is_empty());
    let t1 = noop("t1");
    assert!(
        submit(&mut core, &t1, now).is_empty(),
        "noop may hold no slot"
    );
    assert_eq!(
        core.active_status("t1").unwrap().runner_status_code,
        RunnerTaskState::Pending
    );
    assert_eq!(
        core.set_worker_config(WorkerBehaviorConfig::default(), now),
        vec![IoEffect::Assign {
            worker: worker(H, 2),
            task: t1
        }]
    );
}

// ----- readiness -------------------------------------------------------------------------------

/// Readiness that holds tasks back, as a lock another task holds would: a held task waits
/// whatever it would answer, the others answer for themselves. It records whom it was asked.
#[derive(Clone, Default)]
struct HeldBack {
    held: Arc<Mutex<HashSet<String>>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl HeldBack {
    fn hold(&self, ids: &[&str]) {
        let mut held = self.held.lock().unwrap();
        held.extend(ids.iter().map(|id| id.to_string()));
    }

    fn release_all(&self) {
        self.held.lock().unwrap().clear();
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Readiness for HeldBack {
    fn is_ready(&mut self, task: &Task) -> Result<bool, String> {
        self.asked.lock().unwrap().push(task.id().to_string());
        if self.held.lock().unwrap().contains(task.id()) {
            return Ok(false);
        }
        TaskReadiness.is_ready(task)
    }
}

fn started_core(readiness: &HeldBack, now: Timestamp) -> OverlordCore {
    let mut core = OverlordCore::with_readiness(
        QueueConfig::default(),
        RunnerConfig::default(),
        readiness.clone(),
    );
    assert!(core.start(Vec::new(), Vec::new(), now).is_empty());
    core
}

/// Runs `task` on `host` to SUCCESS and records its end; returns what the record caused.
fn run_to_end(core: &mut OverlordCore, host: &str, task: &Task, now: Timestamp) -> Vec<IoEffect> {
    let id = task.id();
    let done = TaskStatus::success(id);
    let out = announce(
        core,
        host,
        announcement(task, done.clone(), TaskLocation::unknown()),
        now,
    );
    assert_eq!(out, vec![IoEffect::PersistStatus(done)]);
    core.persisted(id, true, now)
}

#[test]
fn a_waiting_task_is_asked_again_when_another_task_ends() {
    const H: &str = "mm-a:8091";
    let now = t0();
    let readiness = HeldBack::default();
    let mut core = started_core(&readiness, now);
    add_worker(&mut core, worker(H, 2), now);
    assert!(submit(&mut core, &noop_ready("waits", "NO"), now).is_empty());
    let t1 = noop("t1");
    assert_eq!(
        submit(&mut core, &t1, now),
        vec![IoEffect::Assign {
            worker: worker(H, 2),
            task: t1.clone()
        }]
    );
    assert_eq!(readiness.asked(), ["waits", "t1"]);

    // Its end recorded, t1 has released what it held: the waiting task is asked again, says
    // no again, and keeps waiting; nothing but t1's cleanup comes of it.
    assert_eq!(
        run_to_end(&mut core, H, &t1, now),
        vec![IoEffect::RemoveStatus {
            worker: H.into(),
            task_id: "t1".into()
        }]
    );
    assert_eq!(readiness.asked(), ["waits", "t1", "waits"]);
    assert_eq!(
        core.queue().entry("waits").map(|e| &e.state),
        Some(&EntryState::Waiting)
    );
    assert_eq!(
        core.active_status("waits").unwrap().runner_status_code,
        RunnerTaskState::Waiting
    );
    assert!(!core.runner().knows("waits"));
}

#[test]
fn waiting_tasks_are_asked_again_by_priority_then_in_the_order_they_were_accepted() {
    const H: &str = "mm-a:8091";
    let now = t0();
    let readiness = HeldBack::default();
    let mut core = started_core(&readiness, now);
    add_worker(&mut core, worker(H, 8), now);
    let holder = noop("holder");
    submit(&mut core, &holder, now);
    let waiting = [
        noop_priority("low-1", 0),
        noop_priority("high-1", 75),
        noop_priority("low-2", 0),
        noop_priority("high-2", 75),
        noop_priority("lowest", -10),
    ];
    readiness.hold(&["low-1", "high-1", "low-2", "high-2", "lowest"]);
    for task in &waiting {
        assert!(submit(&mut core, task, now).is_empty());
    }
    readiness.release_all();
    let asked_before = readiness.asked().len();

    let [low_1, high_1, low_2, high_2, lowest] = waiting;
    let assign = |task: Task| IoEffect::Assign {
        worker: worker(H, 8),
        task,
    };
    assert_eq!(
        run_to_end(&mut core, H, &holder, now),
        vec![
            IoEffect::RemoveStatus {
                worker: H.into(),
                task_id: "holder".into()
            },
            assign(high_1),
            assign(high_2),
            assign(low_1),
            assign(low_2),
            assign(lowest),
        ]
    );
    assert_eq!(
        readiness.asked()[asked_before..],
        ["high-1", "high-2", "low-1", "low-2", "lowest"]
    );
}

#[test]
fn a_task_whose_readiness_throws_fails_with_druids_message() {
    let now = t0();
    let readiness = HeldBack::default();
    let mut core = started_core(&readiness, now);
    // Asked when stored.
    assert_eq!(
        submit(&mut core, &noop_ready("at-once", "EXCEPTION"), now),
        vec![IoEffect::PersistStatus(TaskStatus::failure(
            "at-once",
            messages::NOT_READY
        ))]
    );
    // Asked again when another task's end is recorded.
    readiness.hold(&["later"]);
    assert!(submit(&mut core, &noop_ready("later", "EXCEPTION"), now).is_empty());
    readiness.release_all();
    assert_eq!(
        core.persisted("at-once", true, now),
        vec![IoEffect::PersistStatus(TaskStatus::failure(
            "later",
            messages::NOT_READY
        ))]
    );
    assert_eq!(
        core.completing_status("later"),
        Some(TaskStatus::failure("later", messages::NOT_READY))
    );
    assert!(core.persisted("later", true, now).is_empty());
    assert!(core.queue().is_empty());
    assert_eq!(core.runner().sizes(), (0, 0, 0));
}

// ----- memory ----------------------------------------------------------------------------------

#[test]
fn ten_thousand_tasks_leave_nothing_behind() {
    const N: usize = 10_000;
    let now = t0();
    let started = std::time::Instant::now();
    let mut core = core();
    core.start(Vec::new(), Vec::new(), now);
    let hosts: Vec<String> = (0..4).map(|i| format!("mm-{i}:8091")).collect();
    for h in &hosts {
        assert!(add_worker(&mut core, worker(h, 8), now).is_empty());
    }
    let mut work: VecDeque<IoEffect> = VecDeque::new();
    for i in 0..N {
        let t = noop(&format!("task-{i}"));
        work.extend(submit(&mut core, &t, now));
    }
    assert_eq!(core.runner.sizes(), (N - 32, 32, 0));
    let mut persisted: HashMap<String, u32> = HashMap::new();
    let mut removed = 0;
    while let Some(effect) = work.pop_front() {
        match effect {
            IoEffect::Assign { worker, task } => {
                let id = task.id().to_string();
                let loc = TaskLocation::new(worker.ip.clone(), 8100);
                let running = announcement(&task, TaskStatus::running(&id), loc.clone());
                work.extend(announce(&mut core, &worker.host, running, now));
                let success = announcement(&task, TaskStatus::success(&id), loc);
                work.extend(announce(&mut core, &worker.host, success, now));
            }
            IoEffect::PersistStatus(s) => {
                assert_eq!(s.status, TaskState::Success);
                *persisted.entry(s.id.clone()).or_default() += 1;
                work.extend(core.persisted(&s.id, true, now));
            }
            IoEffect::RemoveStatus { worker, task_id } => {
                removed += 1;
                work.extend(
                    core.cluster_event(RunnerEvent::StatusRemoved { worker, task_id }, now),
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(persisted.len(), N);
    assert!(persisted.values().all(|&n| n == 1));
    assert_eq!(removed, N);
    assert_eq!(core.runner.sizes(), (0, 0, 0));
    assert!(core.runner.known_task_ids().is_empty());
    assert!(core.queue.is_empty());
    assert!(core.active_statuses().is_empty());
    assert_eq!(
        core.next_deadline(),
        None,
        "no assignment deadline left behind"
    );
    assert_eq!(core.runner.capacity(), (32, 0));
    for v in core.workers() {
        assert!(v.running_tasks.is_empty() && v.availability_groups.is_empty());
        assert!(v.curr_capacity_used_by_task_type.is_empty());
    }
    eprintln!("{N} tasks through the core in {:?}", started.elapsed());
}

// ----- a new leader ----------------------------------------------------------------------------

#[test]
fn a_new_leader_adopts_its_predecessors_pending_assignments() {
    let now = t0();
    let mut core = core();
    let h = "mm-a:8091";
    add_worker(&mut core, worker(h, 2), now);
    let (assigned, waiting) = (noop("assigned"), noop("waiting"));
    let stored = vec![(assigned.clone(), now), (waiting.clone(), now)];
    let found = vec![
        (h.to_string(), "assigned".to_string()),
        (h.to_string(), "stale".to_string()),
    ];
    let out = core.adopt_assignments(found, &stored, now);
    assert_eq!(
        out,
        vec![IoEffect::RemoveAssignment {
            worker: h.into(),
            task_id: "stale".into()
        }]
    );
    let out = core.start(stored, Vec::new(), now);
    assert_eq!(
        out,
        vec![IoEffect::Assign {
            worker: worker(h, 2),
            task: waiting
        }],
        "only the task nobody had assigned is assigned"
    );
}
