use super::*;
use crate::readiness::TaskReadiness;
use crate::test_support::noop_priority;

use serde_json::json;
use steward_model::TaskState;

// ----- helpers ---------------------------------------------------------------------------------

fn t0() -> Timestamp {
    Timestamp::from_second(1_767_225_600).unwrap() // 2026-01-01T00:00:00Z
}

fn noop(id: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id})).unwrap()
}

fn noop_in(id: &str, data_source: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "dataSource": data_source})).unwrap()
}

/// A noop task whose readiness check answers `result` (`YES`, `NO`, `EXCEPTION`).
fn noop_ready(id: &str, result: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "isReadyResult": result})).unwrap()
}

fn queue() -> TaskQueue {
    TaskQueue::new(QueueConfig::default())
}

fn started() -> TaskQueue {
    let mut q = queue();
    let mut out = Vec::new();
    q.start(Vec::new(), &mut TaskReadiness, &mut out);
    assert!(out.is_empty());
    q
}

/// Reserves and stores a task; returns what activating it caused.
fn submit(q: &mut TaskQueue, task: &Task) -> Vec<QueueEffect> {
    q.reserve(task, t0()).unwrap();
    let mut out = Vec::new();
    q.inserted(task.id(), &mut TaskReadiness, &mut out);
    out
}

fn runner_status(q: &mut TaskQueue, id: &str, status: TaskStatus) -> Vec<QueueEffect> {
    let mut out = Vec::new();
    q.runner_status(id, status, &mut out);
    out
}

fn persisted(q: &mut TaskQueue, id: &str) -> Vec<QueueEffect> {
    let mut out = Vec::new();
    q.persisted(id, true, &mut TaskReadiness, &mut out);
    out
}

fn shutdown(q: &mut TaskQueue, id: &str) -> (bool, Vec<QueueEffect>) {
    let mut out = Vec::new();
    let found = q.shutdown(id, SHUTDOWN_BY_USER, &mut out);
    (found, out)
}

fn state(q: &TaskQueue, id: &str) -> Option<EntryState> {
    q.entry(id).map(|e| e.state.clone())
}

fn not_in_queue(id: &str) -> QueueEffect {
    QueueEffect::RunnerShutdown {
        task_id: id.into(),
        reason: "Task is not present in queue anymore.".into(),
    }
}

// ----- submission ------------------------------------------------------------------------------

#[test]
fn reserve_before_start_is_refused() {
    let mut q = queue();
    assert!(!q.is_started());
    assert_eq!(q.reserve(&noop("t1"), t0()), Err(QueueError::NotStarted));
    assert!(q.is_empty());
}

#[test]
fn reserve_of_an_active_id_is_a_duplicate() {
    let mut q = started();
    let t1 = noop("t1");
    q.reserve(&t1, t0()).unwrap();
    assert_eq!(
        q.reserve(&t1, t0()),
        Err(QueueError::Duplicate("t1".into()))
    );
    let mut out = Vec::new();
    q.inserted("t1", &mut TaskReadiness, &mut out);
    assert_eq!(
        q.reserve(&t1, t0()),
        Err(QueueError::Duplicate("t1".into()))
    );
    assert_eq!(
        QueueError::Duplicate("t1".into()).to_string(),
        "Task [t1] already exists"
    );
    assert_eq!(q.len(), 1);
}

#[test]
fn reserve_beyond_max_size_is_refused() {
    let mut q = TaskQueue::new(QueueConfig {
        max_size: 2,
        ..QueueConfig::default()
    });
    q.start(Vec::new(), &mut TaskReadiness, &mut Vec::new());
    submit(&mut q, &noop("t1"));
    q.reserve(&noop("t2"), t0()).unwrap(); // reservations count too
    assert_eq!(q.reserve(&noop("t3"), t0()), Err(QueueError::Full(2)));
    // Once a task is released there is room again.
    runner_status(&mut q, "t1", TaskStatus::success("t1"));
    assert_eq!(
        q.reserve(&noop("t3"), t0()),
        Err(QueueError::Full(2)),
        "completing tasks still count"
    );
    persisted(&mut q, "t1");
    assert_eq!(q.reserve(&noop("t3"), t0()), Ok(()));
    assert_eq!(q.len(), 2);
}

#[test]
fn insert_failed_drops_the_reservation() {
    let mut q = started();
    let t1 = noop("t1");
    q.reserve(&t1, t0()).unwrap();
    assert_eq!(state(&q, "t1"), Some(EntryState::Inserting));
    q.insert_failed("t1");
    assert!(q.is_empty());
    assert_eq!(q.entry("t1"), None);
    // The id can be reserved again, and a stored task is not dropped by a stray failure.
    assert!(matches!(
        &submit(&mut q, &t1)[..],
        [QueueEffect::RunnerRun(_)]
    ));
    q.insert_failed("t1");
    assert_eq!(state(&q, "t1"), Some(EntryState::Submitted));
}

#[test]
fn inserted_ready_task_is_handed_to_the_runner() {
    let mut q = started();
    let t1 = noop("t1");
    q.reserve(&t1, t0()).unwrap();
    let mut out = Vec::new();
    q.inserted("t1", &mut TaskReadiness, &mut out);
    assert_eq!(out, vec![QueueEffect::RunnerRun(t1.clone())]);
    let e = q.entry("t1").unwrap();
    assert_eq!(
        (&e.task, e.created, &e.state),
        (&t1, t0(), &EntryState::Submitted)
    );
    // A repeated insert notification does not run it twice.
    let mut out = Vec::new();
    q.inserted("t1", &mut TaskReadiness, &mut out);
    assert!(out.is_empty());
}

#[test]
fn task_that_is_not_ready_waits() {
    let mut q = started();
    assert!(submit(&mut q, &noop_ready("t1", "NO")).is_empty());
    assert_eq!(state(&q, "t1"), Some(EntryState::Waiting));
    assert_eq!(q.len(), 1);
}

#[test]
fn exception_in_is_ready_fails_the_task() {
    let mut q = started();
    let out = submit(&mut q, &noop_ready("t1", "EXCEPTION"));
    let msg = crate::test_support::messages::NOT_READY;
    assert_eq!(
        out,
        vec![QueueEffect::PersistStatus(TaskStatus::failure("t1", msg))]
    );
    assert_eq!(
        state(&q, "t1"),
        Some(EntryState::Completing(TaskStatus::failure("t1", msg)))
    );
    // Once recorded it is released like any other end.
    assert_eq!(
        persisted(&mut q, "t1"),
        vec![QueueEffect::RunnerShutdown {
            task_id: "t1".into(),
            reason: msg.into()
        }]
    );
    assert!(q.is_empty());
}

// ----- completion ------------------------------------------------------------------------------

#[test]
fn runner_end_is_persisted_once() {
    let mut q = started();
    submit(&mut q, &noop("t1"));
    let status = TaskStatus::success("t1").with_duration(42);
    assert_eq!(
        runner_status(&mut q, "t1", status.clone()),
        vec![QueueEffect::PersistStatus(status.clone())]
    );
    assert_eq!(
        state(&q, "t1"),
        Some(EntryState::Completing(status.clone()))
    );
    assert!(
        runner_status(&mut q, "t1", status.clone()).is_empty(),
        "reported twice"
    );
    assert!(
        runner_status(&mut q, "t1", TaskStatus::failure("t1", "late")).is_empty(),
        "a different end later does not overwrite the first"
    );
    assert_eq!(state(&q, "t1"), Some(EntryState::Completing(status)));
}

#[test]
fn running_statuses_are_ignored() {
    let mut q = started();
    submit(&mut q, &noop("t1"));
    assert!(runner_status(&mut q, "t1", TaskStatus::running("t1")).is_empty());
    assert!(runner_status(&mut q, "unknown", TaskStatus::running("unknown")).is_empty());
    assert_eq!(state(&q, "t1"), Some(EntryState::Submitted));
}

#[test]
fn runner_statuses_before_start_are_ignored() {
    let mut q = queue();
    assert!(runner_status(&mut q, "t1", TaskStatus::success("t1")).is_empty());
    let mut out = Vec::new();
    q.discovered("t1", "mm-a:8091", &mut out);
    assert!(out.is_empty());
}

#[test]
fn runner_end_while_the_insert_is_pending_is_ignored() {
    let mut q = started();
    q.reserve(&noop("t1"), t0()).unwrap();
    assert!(runner_status(&mut q, "t1", TaskStatus::success("t1")).is_empty());
    assert_eq!(state(&q, "t1"), Some(EntryState::Inserting));
}

#[test]
fn persisted_end_shuts_the_task_down_in_the_runner_and_releases_it() {
    let mut q = started();
    submit(&mut q, &noop("ok"));
    submit(&mut q, &noop("bad"));
    submit(&mut q, &noop("other"));
    runner_status(&mut q, "ok", TaskStatus::success("ok"));
    runner_status(&mut q, "bad", TaskStatus::failure("bad", "it broke"));
    assert_eq!(q.len(), 3);

    assert_eq!(
        persisted(&mut q, "ok"),
        vec![QueueEffect::RunnerShutdown {
            task_id: "ok".into(),
            reason: "Task completed".into()
        }]
    );
    assert_eq!(q.len(), 2);
    let mut out = Vec::new();
    q.persisted("bad", false, &mut TaskReadiness, &mut out);
    assert_eq!(
        out,
        vec![QueueEffect::RunnerShutdown {
            task_id: "bad".into(),
            reason: "it broke".into()
        }]
    );
    assert_eq!(q.len(), 1);
    assert_eq!(q.entry("ok"), None);
    assert!(persisted(&mut q, "ok").is_empty(), "already released");
    // After its release, a late end from the runner is a task to shut down.
    assert_eq!(
        runner_status(&mut q, "ok", TaskStatus::success("ok")),
        vec![not_in_queue("ok")]
    );
}

#[test]
fn runner_end_of_an_unknown_task_shuts_it_down() {
    let mut q = started();
    assert_eq!(
        runner_status(&mut q, "ghost", TaskStatus::failure("ghost", "x")),
        vec![not_in_queue("ghost")]
    );
    assert!(q.is_empty());
}

#[test]
fn discovered_tasks_are_adopted_if_active_and_shut_down_otherwise() {
    let mut q = started();
    let waiting = noop_ready("waiting", "NO");
    let submitted = noop("submitted");
    submit(&mut q, &waiting);
    submit(&mut q, &submitted);
    submit(&mut q, &noop("ending"));
    runner_status(&mut q, "ending", TaskStatus::success("ending"));
    let mut out = Vec::new();
    q.discovered("waiting", "mm-a:8091", &mut out);
    q.discovered("submitted", "mm-a:8091", &mut out);
    // Handing an active task to the runner is what adopts it there.
    assert_eq!(
        out,
        vec![
            QueueEffect::RunnerRun(waiting),
            QueueEffect::RunnerRun(submitted)
        ]
    );
    assert_eq!(state(&q, "waiting"), Some(EntryState::Submitted));
    assert_eq!(state(&q, "submitted"), Some(EntryState::Submitted));
    // An end being recorded is shut down once it is (by `persisted`).
    out.clear();
    q.discovered("ending", "mm-a:8091", &mut out);
    assert!(out.is_empty());
    q.discovered("ghost", "mm-a:8091", &mut out);
    assert_eq!(out, vec![not_in_queue("ghost")]);
}

// ----- shutdown --------------------------------------------------------------------------------

#[test]
fn shutdown_of_a_waiting_or_submitted_task_persists_a_failure() {
    let mut q = started();
    submit(&mut q, &noop_ready("waiting", "NO"));
    submit(&mut q, &noop("submitted"));
    assert_eq!(SHUTDOWN_BY_USER, "Shutdown request from user");
    for id in ["waiting", "submitted"] {
        let expected = TaskStatus::failure(id, SHUTDOWN_BY_USER);
        assert_eq!(
            shutdown(&mut q, id),
            (true, vec![QueueEffect::PersistStatus(expected.clone())])
        );
        assert_eq!(state(&q, id), Some(EntryState::Completing(expected)));
        assert_eq!(
            persisted(&mut q, id),
            vec![QueueEffect::RunnerShutdown {
                task_id: id.into(),
                reason: SHUTDOWN_BY_USER.into()
            }]
        );
    }
    assert!(q.is_empty());
}

#[test]
fn shutdown_of_an_unknown_inserting_or_completing_task_is_refused() {
    let mut q = started();
    assert_eq!(shutdown(&mut q, "unknown"), (false, vec![]));
    q.reserve(&noop("inserting"), t0()).unwrap();
    assert_eq!(shutdown(&mut q, "inserting"), (false, vec![]));
    submit(&mut q, &noop("done"));
    runner_status(&mut q, "done", TaskStatus::success("done"));
    assert_eq!(shutdown(&mut q, "done"), (false, vec![]));
    assert_eq!(
        state(&q, "done"),
        Some(EntryState::Completing(TaskStatus::success("done")))
    );
    // A task shut down once is not shut down twice.
    submit(&mut q, &noop("t"));
    assert!(shutdown(&mut q, "t").0);
    assert_eq!(shutdown(&mut q, "t"), (false, vec![]));
}

#[test]
fn shutdown_of_a_data_source_counts_only_its_active_tasks() {
    let mut q = started();
    submit(&mut q, &noop_in("a", "wiki"));
    q.reserve(&noop_ready("b", "NO"), t0()).unwrap();
    q.inserted("b", &mut TaskReadiness, &mut Vec::new()); // waiting, in "none"
    submit(&mut q, &noop_in("c", "wiki"));
    submit(&mut q, &noop_in("d", "wiki"));
    runner_status(&mut q, "d", TaskStatus::success("d")); // already ending
    submit(&mut q, &noop_in("e", "other"));
    q.reserve(&noop_in("f", "wiki"), t0()).unwrap(); // not stored yet

    let mut out = Vec::new();
    assert_eq!(
        q.shutdown_data_source("wiki", SHUTDOWN_BY_USER, &mut out),
        2
    );
    let mut ids: Vec<String> = out
        .iter()
        .map(|e| match e {
            QueueEffect::PersistStatus(s) => {
                assert_eq!(
                    (s.status, s.error_msg.as_deref()),
                    (TaskState::Failed, Some(SHUTDOWN_BY_USER))
                );
                s.id.clone()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["a", "c"]);
    assert_eq!(state(&q, "e"), Some(EntryState::Submitted));
    assert_eq!(state(&q, "b"), Some(EntryState::Waiting));
    assert_eq!(
        state(&q, "d"),
        Some(EntryState::Completing(TaskStatus::success("d")))
    );
    assert_eq!(
        q.shutdown_data_source("nothing", SHUTDOWN_BY_USER, &mut out),
        0
    );
}

// ----- reconciliation and start ----------------------------------------------------------------

#[test]
fn reconcile_shuts_down_what_only_the_runner_knows() {
    let mut q = started();
    submit(&mut q, &noop("known"));
    let mut out = Vec::new();
    q.reconcile(
        &["x".to_string(), "known".to_string(), "y".to_string()],
        &mut out,
    );
    assert_eq!(out, vec![not_in_queue("x"), not_in_queue("y")]);
    assert_eq!(state(&q, "known"), Some(EntryState::Submitted));
}

#[test]
fn reconcile_does_nothing_before_start() {
    let q = queue();
    let mut out = Vec::new();
    q.reconcile(&["x".to_string()], &mut out);
    assert!(out.is_empty());
}

#[test]
fn start_hands_every_ready_stored_task_to_the_runner() {
    let mut q = queue();
    let ready = noop("ready");
    let ready2 = noop("ready2");
    let created = Timestamp::from_second(1_700_000_000).unwrap();
    let mut out = Vec::new();
    q.start(
        vec![
            (ready.clone(), created),
            (noop_ready("waits", "NO"), created),
            (noop_ready("broken", "EXCEPTION"), created),
            (ready2.clone(), created),
        ],
        &mut TaskReadiness,
        &mut out,
    );
    assert!(q.is_started());
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0], QueueEffect::RunnerRun(ready));
    assert!(
        matches!(&out[1], QueueEffect::PersistStatus(s) if s.id == "broken" && s.status == TaskState::Failed)
    );
    assert_eq!(out[2], QueueEffect::RunnerRun(ready2));
    assert_eq!(q.len(), 4);
    assert_eq!(state(&q, "waits"), Some(EntryState::Waiting));
    assert_eq!(q.entry("ready").unwrap().created, created);
    assert_eq!(q.entries().count(), 4);
}

#[test]
fn start_asks_the_stored_tasks_by_priority_then_in_the_order_they_were_stored() {
    let (low, high, low2) = (
        noop_priority("low", 0),
        noop_priority("high", 50),
        noop_priority("low2", 0),
    );
    let mut q = queue();
    let mut out = Vec::new();
    q.start(
        vec![
            (low.clone(), t0()),
            (high.clone(), t0()),
            (low2.clone(), t0()),
        ],
        &mut TaskReadiness,
        &mut out,
    );
    assert_eq!(
        out,
        vec![
            QueueEffect::RunnerRun(high),
            QueueEffect::RunnerRun(low),
            QueueEffect::RunnerRun(low2)
        ]
    );
}

/// The invariant check catches a waiting line out of step with the waiting tasks.
#[test]
fn the_invariant_check_catches_a_waiting_line_out_of_step() {
    let mut q = started();
    submit(&mut q, &noop_ready("waits", "NO"));
    submit(&mut q, &noop("runs"));
    q.check_invariants();
    q.waiting.clear();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.check_invariants()))
        .expect_err("the corruption went unnoticed");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("waiting line"), "{message}");
}
