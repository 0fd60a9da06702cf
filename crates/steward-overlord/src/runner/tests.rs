use super::*;
use crate::test_support::*;

use crate::worker_config::WorkerBehaviorConfig;

use serde_json::json;
use steward_model::{RunnerTaskState, TaskAnnouncement};

const A: &str = "mm-a:8091";
const B: &str = "mm-b:8091";
const C: &str = "mm-c:8091";

// ----- helpers ---------------------------------------------------------------------------------

fn worker_version(host: &str, capacity: u32, version: &str) -> Worker {
    Worker {
        version: version.into(),
        ..worker(host, capacity)
    }
}

fn noop_resource(id: &str, group: &str, required_capacity: u32) -> Task {
    Task::from_json(json!({
        "type": "noop",
        "id": id,
        "resource": {"availabilityGroup": group, "requiredCapacity": required_capacity}
    }))
    .unwrap()
}

fn location(host: &str) -> TaskLocation {
    TaskLocation::new(host, 8100)
}

fn announcement(task: &Task, status: TaskStatus, location: TaskLocation) -> TaskAnnouncement {
    TaskAnnouncement::of(task, status, location)
}

fn running(task: &Task) -> TaskAnnouncement {
    announcement(
        task,
        TaskStatus::running(task.id()),
        TaskLocation::unknown(),
    )
}

fn running_at(task: &Task, loc: TaskLocation) -> TaskAnnouncement {
    announcement(task, TaskStatus::running(task.id()), loc)
}

fn succeeded(task: &Task) -> TaskAnnouncement {
    announcement(
        task,
        TaskStatus::success(task.id()),
        TaskLocation::unknown(),
    )
}

fn failed(task: &Task) -> TaskAnnouncement {
    announcement(
        task,
        TaskStatus::failure(task.id(), "boom"),
        TaskLocation::unknown(),
    )
}

fn runner() -> TaskRunner {
    TaskRunner::new(RunnerConfig::default())
}

fn runner_with(f: impl FnOnce(&mut RunnerConfig)) -> TaskRunner {
    let mut config = RunnerConfig::default();
    f(&mut config);
    TaskRunner::new(config)
}

/// Adds and initializes a worker; returns what initialization caused.
fn add_worker(r: &mut TaskRunner, w: Worker, now: Timestamp) -> Vec<RunnerEffect> {
    let host = w.host.clone();
    r.worker_added(w, now);
    let mut out = Vec::new();
    r.worker_initialized(&host, now, &mut out);
    out
}

fn run(r: &mut TaskRunner, task: &Task, now: Timestamp) -> Vec<RunnerEffect> {
    let mut out = Vec::new();
    r.run(task.clone(), now, &mut out);
    out
}

fn announce(
    r: &mut TaskRunner,
    host: &str,
    a: TaskAnnouncement,
    now: Timestamp,
) -> Vec<RunnerEffect> {
    let mut out = Vec::new();
    r.status_announced(host, a, now, &mut out);
    out
}

fn remove_status(r: &mut TaskRunner, host: &str, id: &str, now: Timestamp) -> Vec<RunnerEffect> {
    let mut out = Vec::new();
    r.status_removed(host, id, now, &mut out);
    out
}

fn tick(r: &mut TaskRunner, now: Timestamp) -> Vec<RunnerEffect> {
    let mut out = Vec::new();
    r.tick(now, &mut out);
    out
}

fn shutdown(r: &mut TaskRunner, id: &str) -> Vec<RunnerEffect> {
    let mut out = Vec::new();
    r.shutdown(id, "test", &mut out);
    out
}

fn assign_failed(
    r: &mut TaskRunner,
    id: &str,
    host: &str,
    worker_gone: bool,
    now: Timestamp,
) -> Vec<RunnerEffect> {
    let mut out = Vec::new();
    r.assign_failed(id, host, worker_gone, now, &mut out);
    out
}

/// `(worker host, task id)` of every Assign effect.
fn assigns(out: &[RunnerEffect]) -> Vec<(String, String)> {
    out.iter()
        .filter_map(|e| match e {
            RunnerEffect::Assign { worker, task } => {
                Some((worker.host.clone(), task.id().to_string()))
            }
            _ => None,
        })
        .collect()
}

fn assign(host: &str, id: &str) -> (String, String) {
    (host.to_string(), id.to_string())
}

fn view(r: &TaskRunner, host: &str) -> WorkerView {
    r.workers()
        .into_iter()
        .find(|v| v.worker.host == host)
        .expect("worker view")
}

fn state(r: &TaskRunner, id: &str) -> Option<RunnerTaskState> {
    r.task_view(id).map(|v| v.state)
}

fn failures(r: &TaskRunner, host: &str) -> u32 {
    r.workers[host].continuously_failed_tasks
}

/// A worker ends a task the runner did not know: it is adopted and completed at once, which is
/// the shortest way to charge a failure (or a success) to a worker.
fn end_on(r: &mut TaskRunner, host: &str, id: &str, success: bool, now: Timestamp) {
    let task = noop(id);
    let a = if success {
        succeeded(&task)
    } else {
        failed(&task)
    };
    let out = announce(r, host, a, now);
    assert!(
        out.iter()
            .any(|e| matches!(e, RunnerEffect::StatusChanged { task_id, .. } if task_id == id)),
        "{out:?}"
    );
    // The queue would record the end and clean up; keep the maps small.
    shutdown(r, id);
}

fn blacklisted(r: &TaskRunner) -> Vec<String> {
    r.workers()
        .into_iter()
        .filter(|v| v.blacklisted_until.is_some())
        .map(|v| v.worker.host)
        .collect()
}

// ----- run and worker selection ----------------------------------------------------------------

#[test]
fn run_assigns_to_the_worker_with_most_free_capacity_ties_to_lowest_host() {
    let now = t0();
    let mut r = runner();
    assert!(add_worker(&mut r, worker(C, 3), now).is_empty());
    assert!(add_worker(&mut r, worker(A, 2), now).is_empty());
    assert!(add_worker(&mut r, worker(B, 3), now).is_empty());

    // b and c have 3 free: tie goes to the lowest host.
    let t1 = noop("t1");
    assert_eq!(
        run(&mut r, &t1, now),
        vec![RunnerEffect::Assign {
            worker: worker(B, 3),
            task: t1
        }]
    );
    // c now has the most free capacity (3 vs 2 and 2).
    assert_eq!(
        assigns(&run(&mut r, &noop("t2"), now)),
        vec![assign(C, "t2")]
    );
    // a, b, c all have 2 free: lowest host.
    assert_eq!(
        assigns(&run(&mut r, &noop("t3"), now)),
        vec![assign(A, "t3")]
    );
    assert_eq!(r.capacity(), (8, 3));
    assert_eq!(r.task_view("t1").unwrap().worker.as_deref(), Some(B));
}

#[test]
fn run_of_a_pending_or_running_task_again_emits_nothing() {
    let now = t0();
    let mut r = runner();
    let t1 = noop("t1");
    assert!(run(&mut r, &t1, now).is_empty());
    assert!(
        run(&mut r, &t1, later(now, 1)).is_empty(),
        "pending task run again"
    );
    assert_eq!(r.sizes(), (1, 0, 0));

    assert_eq!(
        assigns(&add_worker(&mut r, worker(A, 2), now)),
        vec![assign(A, "t1")]
    );
    assert!(
        run(&mut r, &t1, now).is_empty(),
        "unacknowledged running task run again"
    );
    assert!(announce(&mut r, A, running(&t1), now).is_empty());
    assert!(run(&mut r, &t1, now).is_empty(), "running task run again");
    assert_eq!(r.sizes(), (0, 1, 0));
    assert_eq!(view(&r, A).curr_capacity_used, 1);
}

#[test]
fn run_of_a_complete_task_reports_its_stored_status_again() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running_at(&t1, location("h1")), now);
    let out = announce(&mut r, A, succeeded(&t1), now);
    let expected = TaskStatus::success("t1").with_location(location("h1"));
    assert_eq!(
        out,
        vec![RunnerEffect::StatusChanged {
            task_id: "t1".into(),
            status: expected.clone()
        }]
    );

    let again = run(&mut r, &t1, later(now, 10));
    assert_eq!(
        again,
        vec![RunnerEffect::StatusChanged {
            task_id: "t1".into(),
            status: expected
        }]
    );
    assert_eq!(r.sizes(), (0, 0, 1));
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::None));
}

#[test]
fn task_stays_pending_without_workers_and_on_uninitialized_workers() {
    let now = t0();
    let mut r = runner();
    let t1 = noop("t1");
    assert!(run(&mut r, &t1, now).is_empty());
    let v = r.task_view("t1").unwrap();
    assert_eq!(
        (v.state, v.worker, v.queue_insertion_time),
        (RunnerTaskState::Pending, None, now)
    );

    // Announced but not initialized: no tasks yet.
    r.worker_added(worker(A, 2), now);
    assert!(run(&mut r, &noop("t2"), now).is_empty());
    assert_eq!(r.sizes(), (2, 0, 0));

    let mut out = Vec::new();
    r.worker_initialized(A, later(now, 5), &mut out);
    assert_eq!(assigns(&out), vec![assign(A, "t1"), assign(A, "t2")]);
    let v = r.task_view("t1").unwrap();
    // Still PENDING until the worker acknowledges; the insertion time is kept.
    assert_eq!(
        (v.state, v.worker.as_deref(), v.queue_insertion_time),
        (RunnerTaskState::Pending, Some(A), now)
    );
}

#[test]
fn disabled_worker_gets_no_tasks_until_enabled() {
    let now = t0();
    let mut r = runner();
    assert!(add_worker(&mut r, worker_version(A, 2, ""), now).is_empty());
    assert!(run(&mut r, &noop("t1"), now).is_empty());
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::Pending));

    let mut out = Vec::new();
    r.worker_changed(worker_version(A, 2, "1"), now, &mut out);
    assert_eq!(assigns(&out), vec![assign(A, "t1")]);
}

#[test]
fn worker_below_min_worker_version_gets_no_tasks_until_upgraded() {
    let now = t0();
    let mut r = runner_with(|c| c.min_worker_version = "2".into());
    assert!(add_worker(&mut r, worker_version(A, 2, "1"), now).is_empty());
    assert!(run(&mut r, &noop("t1"), now).is_empty());
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::Pending));

    let mut out = Vec::new();
    r.worker_changed(worker_version(A, 2, "2"), now, &mut out);
    assert_eq!(assigns(&out), vec![assign(A, "t1")]);
}

#[test]
fn blacklisted_worker_gets_no_tasks_until_its_backoff_expires() {
    let now = t0();
    // One worker may be blacklisted (100%), after its first failure.
    let mut r = runner_with(|c| {
        c.max_percentage_blacklist_workers = 100;
        c.max_retries_before_blacklist = 0;
    });
    add_worker(&mut r, worker(A, 2), now);
    end_on(&mut r, A, "bad", false, now);
    assert_eq!(blacklisted(&r), vec![A.to_string()]);

    assert!(run(&mut r, &noop("t1"), now).is_empty());
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::Pending));
    // Periodic checks before the backoff (PT15M) keep it blacklisted.
    assert!(tick(&mut r, later(now, 300)).is_empty());
    assert!(tick(&mut r, later(now, 600)).is_empty());
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::Pending));
    assert_eq!(
        assigns(&tick(&mut r, later(now, 900))),
        vec![assign(A, "t1")]
    );
    assert!(blacklisted(&r).is_empty());
}

// ----- capacity accounting -----------------------------------------------------------------------

#[test]
fn required_capacity_1_3_2_on_a_3_slot_worker_runs_the_1_and_the_2() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 3), now);
    let one = noop_resource("one", "one", 1);
    let three = noop_resource("three", "three", 3);
    let two = noop_resource("two", "two", 2);
    assert_eq!(assigns(&run(&mut r, &one, now)), vec![assign(A, "one")]);
    assert!(
        run(&mut r, &three, now).is_empty(),
        "3 slots do not fit in the 2 left"
    );
    assert_eq!(assigns(&run(&mut r, &two, now)), vec![assign(A, "two")]);
    assert_eq!(r.sizes(), (1, 2, 0));
    assert_eq!(r.capacity(), (3, 3));
    assert_eq!(state(&r, "three"), Some(RunnerTaskState::Pending));
    assert_eq!(r.task_view("three").unwrap().worker, None);

    // Freeing 1 slot is not enough; freeing the other 2 is.
    announce(&mut r, A, running(&one), now);
    announce(&mut r, A, running(&two), now);
    assert!(assigns(&announce(&mut r, A, succeeded(&one), now)).is_empty());
    assert_eq!(r.capacity(), (3, 2));
    assert_eq!(
        assigns(&announce(&mut r, A, succeeded(&two), now)),
        vec![assign(A, "three")]
    );
    assert_eq!(r.capacity(), (3, 3));
}

#[test]
fn workers_view_reports_used_capacity_groups_tasks_and_types() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 4), now);
    add_worker(&mut r, worker(B, 1), now);
    let v = view(&r, A);
    assert_eq!(v.curr_capacity_used, 0);
    assert!(v.availability_groups.is_empty() && v.running_tasks.is_empty());
    assert!(v.curr_capacity_used_by_task_type.is_empty());
    assert_eq!(v.last_completed_task_time, now);
    assert_eq!(v.blacklisted_until, None);

    run(&mut r, &noop_resource("x", "gx", 2), now);
    run(&mut r, &noop_resource("y", "gy", 1), now);
    let v = view(&r, A);
    assert_eq!(v.curr_capacity_used, 3);
    assert_eq!(
        v.availability_groups,
        vec!["gx".to_string(), "gy".to_string()]
    );
    assert_eq!(v.running_tasks, vec!["x".to_string(), "y".to_string()]);
    assert_eq!(
        v.curr_capacity_used_by_task_type,
        BTreeMap::from([("noop".to_string(), 3)])
    );
    assert_eq!(view(&r, B).curr_capacity_used, 0);
    assert_eq!(r.capacity(), (5, 3));

    // A task announced with its own resource and type is counted as announced.
    let other = TaskAnnouncement {
        task_type: "index".into(),
        ..announcement(
            &noop("z"),
            TaskStatus::running("z"),
            TaskLocation::unknown(),
        )
    };
    announce(&mut r, B, other, now);
    let v = view(&r, B);
    assert_eq!(
        v.curr_capacity_used_by_task_type,
        BTreeMap::from([("index".to_string(), 1)])
    );
    assert_eq!(v.availability_groups, vec!["z".to_string()]);

    // Ends give everything back and leave no empty entries behind.
    announce(
        &mut r,
        A,
        succeeded(&noop_resource("x", "gx", 2)),
        later(now, 7),
    );
    announce(
        &mut r,
        A,
        succeeded(&noop_resource("y", "gy", 1)),
        later(now, 7),
    );
    let v = view(&r, A);
    assert_eq!(v.curr_capacity_used, 0);
    assert!(v.availability_groups.is_empty() && v.running_tasks.is_empty());
    assert!(v.curr_capacity_used_by_task_type.is_empty());
    assert_eq!(v.last_completed_task_time, later(now, 7));
    assert_eq!(r.capacity(), (5, 1));
}

#[test]
fn tasks_of_one_availability_group_never_share_a_worker() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 3), now);
    let g1 = noop_resource("g1", "g", 1);
    let g2 = noop_resource("g2", "g", 1);
    let g3 = noop_resource("g3", "g", 1);
    assert_eq!(assigns(&run(&mut r, &g1, now)), vec![assign(A, "g1")]);
    assert!(run(&mut r, &g2, now).is_empty(), "a has a task of group g");
    assert!(run(&mut r, &g3, now).is_empty());
    // Another group still fits on a.
    assert_eq!(
        assigns(&run(&mut r, &noop("other"), now)),
        vec![assign(A, "other")]
    );

    // A second worker takes one task of the group, not two.
    assert_eq!(
        assigns(&add_worker(&mut r, worker(B, 3), now)),
        vec![assign(B, "g2")]
    );
    assert_eq!(state(&r, "g3"), Some(RunnerTaskState::Pending));
    assert_eq!(r.task_view("g3").unwrap().worker, None);

    // Once g1 ends on a, the group's slot on a is free again.
    announce(&mut r, A, running(&g1), now);
    assert_eq!(
        assigns(&announce(&mut r, A, succeeded(&g1), now)),
        vec![assign(A, "g3")]
    );
}

#[test]
fn pending_tasks_are_assigned_by_priority_then_first_come_first_served() {
    let now = t0();
    let mut r = runner();
    let tasks = [
        noop_priority("low", 0),
        noop_priority("mid", 50),
        noop_priority("high", 100),
        noop_priority("mid2", 50),
        noop_priority("low2", 0),
    ];
    for (i, t) in tasks.iter().enumerate() {
        assert!(run(&mut r, t, later(now, i as u64)).is_empty());
    }
    let mut order = Vec::new();
    let mut out = add_worker(&mut r, worker(A, 1), now);
    loop {
        let a = assigns(&out);
        let Some((_, id)) = a.first().cloned() else {
            break;
        };
        assert_eq!(a.len(), 1, "a 1-slot worker gets one task at a time");
        order.push(id.clone());
        let task = tasks.iter().find(|t| t.id() == id).unwrap();
        announce(&mut r, A, running(task), now);
        out = announce(&mut r, A, succeeded(task), now);
    }
    assert_eq!(order, vec!["high", "mid", "mid2", "low", "low2"]);
    assert_eq!(r.sizes(), (0, 0, 5));
}

// ----- status announcements -------------------------------------------------------------------

#[test]
fn first_announcement_acknowledges_the_assignment() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::Pending));
    assert_eq!(r.next_deadline(), Some(later(now, 300)));

    assert!(announce(&mut r, A, running(&t1), later(now, 1)).is_empty());
    let v = r.task_view("t1").unwrap();
    assert_eq!(
        (v.state, v.worker.as_deref()),
        (RunnerTaskState::Running, Some(A))
    );
    assert!(v.location.is_unknown());
    assert_eq!(
        r.next_deadline(),
        None,
        "no assignment timeout once acknowledged"
    );
    assert!(tick(&mut r, later(now, 301)).is_empty());
    assert_eq!(r.worker_of("t1").map(|w| w.host.as_str()), Some(A));
}

#[test]
fn location_change_is_reported_once() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    let out = announce(&mut r, A, running_at(&t1, location("h1")), now);
    assert_eq!(
        out,
        vec![RunnerEffect::LocationChanged {
            task_id: "t1".into(),
            location: location("h1")
        }]
    );
    assert!(
        announce(&mut r, A, running_at(&t1, location("h1")), now).is_empty(),
        "same location"
    );
    assert!(
        announce(&mut r, A, running(&t1), now).is_empty(),
        "unknown location changes nothing"
    );
    assert_eq!(r.task_view("t1").unwrap().location, location("h1"));
    let out = announce(&mut r, A, running_at(&t1, location("h2")), now);
    assert_eq!(
        out,
        vec![RunnerEffect::LocationChanged {
            task_id: "t1".into(),
            location: location("h2")
        }]
    );
    assert_eq!(r.task_view("t1").unwrap().location, location("h2"));
}

#[test]
fn complete_announcement_reports_the_end_frees_capacity_and_runs_pending_tasks() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    let t2 = noop("t2");
    run(&mut r, &t1, now);
    assert!(run(&mut r, &t2, now).is_empty());
    announce(&mut r, A, running_at(&t1, location("h1")), now);

    let done = later(now, 60);
    let status = TaskStatus::success("t1").with_duration(1234);
    let out = announce(
        &mut r,
        A,
        announcement(&t1, status.clone(), TaskLocation::unknown()),
        done,
    );
    assert_eq!(
        out,
        vec![
            RunnerEffect::StatusChanged {
                task_id: "t1".into(),
                status: status.with_location(location("h1")),
            },
            RunnerEffect::Assign {
                worker: worker(A, 1),
                task: t2
            },
        ]
    );
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::None));
    assert_eq!(r.sizes(), (0, 1, 1));
    assert_eq!(view(&r, A).running_tasks, vec!["t2".to_string()]);
    assert_eq!(view(&r, A).last_completed_task_time, done);
}

#[test]
fn complete_announcement_keeps_the_announced_location() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running_at(&t1, location("h1")), now);
    let status = TaskStatus::failure("t1", "boom").with_location(location("elsewhere"));
    let out = announce(
        &mut r,
        A,
        announcement(&t1, status.clone(), location("h1")),
        now,
    );
    assert_eq!(
        out,
        vec![RunnerEffect::StatusChanged {
            task_id: "t1".into(),
            status
        }]
    );
}

#[test]
fn pending_to_complete_directly() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    let out = announce(&mut r, A, succeeded(&t1), now);
    assert_eq!(
        out,
        vec![RunnerEffect::StatusChanged {
            task_id: "t1".into(),
            status: TaskStatus::success("t1")
        }]
    );
    assert_eq!(r.next_deadline(), None);
    assert_eq!(r.sizes(), (0, 0, 1));
}

#[test]
fn unknown_task_announced_by_a_worker_is_adopted_as_running() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    let ghost = noop("ghost");
    let out = announce(&mut r, A, running_at(&ghost, location("h1")), later(now, 3));
    assert_eq!(
        out,
        vec![
            RunnerEffect::Discovered {
                task_id: "ghost".into(),
                worker: A.into()
            },
            RunnerEffect::LocationChanged {
                task_id: "ghost".into(),
                location: location("h1")
            },
        ]
    );
    let v = r.task_view("ghost").unwrap();
    assert_eq!(v.state, RunnerTaskState::Running);
    assert_eq!(v.worker.as_deref(), Some(A));
    assert_eq!(v.location, location("h1"));
    assert_eq!(v.queue_insertion_time, later(now, 3));
    assert_eq!(view(&r, A).running_tasks, vec!["ghost".to_string()]);
    assert_eq!(view(&r, A).curr_capacity_used, 1);
    assert_eq!(r.known_task_ids(), vec!["ghost".to_string()]);
    assert_eq!(
        r.next_deadline(),
        None,
        "an adopted task has no assignment to time out"
    );
}

#[test]
fn unknown_task_announced_already_complete_is_only_reported() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    let out = announce(&mut r, A, succeeded(&noop("done")), now);
    assert_eq!(
        out,
        vec![RunnerEffect::StatusChanged {
            task_id: "done".into(),
            status: TaskStatus::success("done")
        }],
        "the end is the queue's to judge; there is nothing running to adopt"
    );
    assert_eq!(r.sizes(), (0, 0, 1));
    assert_eq!(view(&r, A).curr_capacity_used, 0);
}

#[test]
fn pending_task_announced_by_a_worker_is_bound_to_it_without_assign() {
    let now = t0();
    let mut r = runner();
    r.worker_added(worker(A, 2), now);
    let t1 = noop("t1");
    assert!(run(&mut r, &t1, now).is_empty());
    let out = announce(&mut r, A, running(&t1), later(now, 5));
    assert!(out.is_empty(), "neither Assign nor Discovered: {out:?}");
    let v = r.task_view("t1").unwrap();
    assert_eq!(
        (v.state, v.worker.as_deref(), v.queue_insertion_time),
        (RunnerTaskState::Running, Some(A), now)
    );
    assert_eq!(r.sizes(), (0, 1, 0));

    let mut out = Vec::new();
    r.worker_initialized(A, now, &mut out);
    assert!(out.is_empty(), "t1 is not assigned a second time");
    assert_eq!(view(&r, A).curr_capacity_used, 1);
}

#[test]
fn running_announcement_from_a_worker_other_than_the_owner_is_shut_down_there() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    add_worker(&mut r, worker(B, 1), now);
    let t1 = noop("t1");
    assert_eq!(assigns(&run(&mut r, &t1, now)), vec![assign(A, "t1")]);

    let out = announce(&mut r, B, running(&t1), now);
    assert_eq!(
        out,
        vec![RunnerEffect::ShutdownOnWorker {
            worker: worker(B, 1),
            task_id: "t1".into()
        }]
    );
    let v = r.task_view("t1").unwrap();
    assert_eq!(
        (v.state, v.worker.as_deref()),
        (RunnerTaskState::Pending, Some(A)),
        "owner unchanged, still unacknowledged"
    );
    assert_eq!(view(&r, B).curr_capacity_used, 0);

    // A rogue end from the other worker does not count; only its announcement is cleaned up.
    assert_eq!(
        announce(&mut r, B, failed(&t1), now),
        vec![RunnerEffect::RemoveStatus {
            worker: B.into(),
            task_id: "t1".into()
        }]
    );
    assert_eq!(r.sizes(), (0, 1, 0));
}

#[test]
fn running_announcement_for_a_complete_task_is_shut_down() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    add_worker(&mut r, worker(B, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, succeeded(&t1), now);

    let out = announce(&mut r, A, running(&t1), now);
    assert_eq!(
        out,
        vec![RunnerEffect::ShutdownOnWorker {
            worker: worker(A, 1),
            task_id: "t1".into()
        }]
    );
    let out = announce(&mut r, B, running(&t1), now);
    assert_eq!(
        out,
        vec![RunnerEffect::ShutdownOnWorker {
            worker: worker(B, 1),
            task_id: "t1".into()
        }]
    );
    // A replayed end is ignored: the cleanup of the complete task removes it.
    assert!(announce(&mut r, A, succeeded(&t1), now).is_empty());
    // The end of the copy on B does not count and nothing else would clean it up.
    assert_eq!(
        announce(&mut r, B, failed(&t1), now),
        vec![RunnerEffect::RemoveStatus {
            worker: B.into(),
            task_id: "t1".into()
        }]
    );
    assert_eq!(r.sizes(), (0, 0, 1));
    assert_eq!(r.capacity(), (2, 0));
}

#[test]
fn status_from_an_unknown_worker_is_ignored() {
    let now = t0();
    let mut r = runner();
    assert!(announce(&mut r, A, running(&noop("t1")), now).is_empty());
    assert!(r.known_task_ids().is_empty());
}

#[test]
fn status_removed_for_a_running_task_fails_it_as_disappeared() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running_at(&t1, location("h1")), now);
    let out = remove_status(&mut r, A, "t1", now);
    assert_eq!(
        out,
        vec![RunnerEffect::StatusChanged {
            task_id: "t1".into(),
            status: TaskStatus::failure("t1", messages::DISAPPEARED).with_location(location("h1")),
        }]
    );
    assert_eq!(
        messages::DISAPPEARED,
        "The worker that this task was assigned disappeared. See overlord logs for more details."
    );
    assert_eq!(r.sizes(), (0, 0, 0));
    assert_eq!(view(&r, A).curr_capacity_used, 0);
}

#[test]
fn status_removed_for_a_task_not_running_on_that_worker_does_nothing() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    add_worker(&mut r, worker(B, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running(&t1), now);
    assert!(
        remove_status(&mut r, B, "t1", now).is_empty(),
        "not the owner"
    );
    assert!(remove_status(&mut r, A, "unknown", now).is_empty());
    announce(&mut r, A, succeeded(&t1), now);
    assert!(
        remove_status(&mut r, A, "t1", now).is_empty(),
        "complete: the cleanup of its status"
    );
    assert_eq!(r.sizes(), (0, 0, 1));
}

#[test]
fn status_removed_frees_the_slot_for_a_pending_task() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running(&t1), now);
    assert!(run(&mut r, &noop("t2"), now).is_empty());
    let out = remove_status(&mut r, A, "t1", now);
    assert_eq!(assigns(&out), vec![assign(A, "t2")], "{out:?}");
}

#[test]
fn status_removed_while_its_worker_is_away_frees_the_slot_when_it_returns() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running(&t1), now);
    r.worker_removed(A, now);
    let out = remove_status(&mut r, A, "t1", later(now, 10));
    assert!(
        matches!(&out[..], [RunnerEffect::StatusChanged { status, .. }] if status.error_msg.as_deref() == Some(messages::DISAPPEARED))
    );

    r.worker_added(worker(A, 1), later(now, 20));
    let v = view(&r, A);
    assert_eq!((v.curr_capacity_used, v.running_tasks.len()), (0, 0));
    let mut out = Vec::new();
    r.worker_initialized(A, later(now, 20), &mut out);
    assert!(out.is_empty());
    assert_eq!(
        assigns(&run(&mut r, &noop("t2"), later(now, 20))),
        vec![assign(A, "t2")]
    );
}

// ----- workers ---------------------------------------------------------------------------------

#[test]
fn second_registration_of_a_worker_is_ignored() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    run(&mut r, &noop("t1"), now);
    r.worker_added(worker_version(A, 7, "9"), later(now, 1));
    let v = view(&r, A);
    assert_eq!(v.worker, worker(A, 2));
    assert_eq!(v.running_tasks, vec!["t1".to_string()]);
    assert_eq!(v.last_completed_task_time, now);
    assert_eq!(r.capacity(), (2, 1));
    assert_eq!(r.workers().len(), 1);
}

#[test]
fn worker_disabled_mid_task_still_completes_it() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running(&t1), now);
    let mut out = Vec::new();
    r.worker_changed(worker_version(A, 2, ""), now, &mut out);
    assert!(out.is_empty());
    assert!(!view(&r, A).worker.is_enabled());
    assert!(
        run(&mut r, &noop("t2"), now).is_empty(),
        "no new task on a disabled worker"
    );
    let out = announce(&mut r, A, succeeded(&t1), now);
    assert_eq!(
        out,
        vec![RunnerEffect::StatusChanged {
            task_id: "t1".into(),
            status: TaskStatus::success("t1")
        }]
    );
}

#[test]
fn worker_removed_keeps_its_tasks_running_and_leaves_the_capacity() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    add_worker(&mut r, worker(B, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running(&t1), now);
    assert_eq!(r.capacity(), (3, 1));

    r.worker_removed(A, now);
    assert_eq!(r.capacity(), (1, 0));
    assert_eq!(r.workers().len(), 1);
    let v = r.task_view("t1").unwrap();
    assert_eq!(
        (v.state, v.worker.as_deref()),
        (RunnerTaskState::Running, Some(A))
    );
    assert_eq!(r.sizes(), (0, 1, 0));
    assert_eq!(r.next_deadline(), Some(later(now, 900)));
    assert_eq!(r.worker_of("t1"), None, "no announced worker to talk to");
    // A new task goes to the remaining worker.
    assert_eq!(
        assigns(&run(&mut r, &noop("t2"), now)),
        vec![assign(B, "t2")]
    );
}

#[test]
fn worker_back_before_the_cleanup_timeout_keeps_its_tasks() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running_at(&t1, location("h1")), now);
    r.worker_removed(A, now);

    let back = later(now, 600);
    r.worker_added(worker(A, 2), back);
    assert!(announce(&mut r, A, running_at(&t1, location("h1")), back).is_empty());
    let mut out = Vec::new();
    r.worker_initialized(A, back, &mut out);
    assert!(out.is_empty());
    assert_eq!(r.next_deadline(), None, "cleanup cancelled");
    assert!(tick(&mut r, later(now, 900)).is_empty());
    assert!(tick(&mut r, later(now, 2000)).is_empty());
    assert_eq!(r.capacity(), (2, 1));
    assert_eq!(view(&r, A).running_tasks, vec!["t1".to_string()]);

    let out = announce(&mut r, A, succeeded(&t1), later(now, 2100));
    assert_eq!(
        out,
        vec![RunnerEffect::StatusChanged {
            task_id: "t1".into(),
            status: TaskStatus::success("t1").with_location(location("h1")),
        }]
    );
    assert_eq!(r.capacity(), (2, 0));
}

#[test]
fn worker_not_back_by_the_cleanup_timeout_has_its_tasks_failed() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running_at(&t1, location("h1")), now);
    r.worker_removed(A, now);

    assert!(tick(&mut r, later(now, 899)).is_empty());
    assert_eq!(r.sizes(), (0, 1, 0));
    let out = tick(&mut r, later(now, 900));
    assert_eq!(
        out,
        vec![
            RunnerEffect::RemoveAssignment {
                worker: A.into(),
                task_id: "t1".into()
            },
            RunnerEffect::RemoveStatus {
                worker: A.into(),
                task_id: "t1".into()
            },
            RunnerEffect::StatusChanged {
                task_id: "t1".into(),
                status: TaskStatus::failure("t1", messages::WORKER_CLEANUP)
                    .with_location(location("h1")),
            },
        ]
    );
    assert_eq!(
        messages::WORKER_CLEANUP,
        "Canceled for worker cleanup. See overlord logs for more details."
    );
    assert_eq!(r.sizes(), (0, 0, 0));
    assert_eq!(r.next_deadline(), None);

    // When it comes back after all, its leftover task is a stranger, for the queue to decide.
    r.worker_added(worker(A, 2), later(now, 1000));
    let out = announce(&mut r, A, running(&t1), later(now, 1000));
    assert_eq!(
        out,
        vec![RunnerEffect::Discovered {
            task_id: "t1".into(),
            worker: A.into()
        }]
    );
}

/// A runner whose assignment timeout outlasts the cleanup timeout, so that a lost worker's
/// unacknowledged assignment is still waiting at its cleanup deadline.
fn patient_runner() -> TaskRunner {
    runner_with(|c| c.task_assignment_timeout = Duration::from_secs(3600))
}

/// Worker A (2 slots) runs `t1` (acknowledged, at `location("h1")`) and holds the assignment
/// of `t2` (unacknowledged); then it vanishes at `now`.
fn lost_with_running_and_unacknowledged(r: &mut TaskRunner, now: Timestamp) -> (Task, Task) {
    add_worker(r, worker(A, 2), now);
    let (t1, t2) = (noop("t1"), noop("t2"));
    run(r, &t1, now);
    announce(r, A, running_at(&t1, location("h1")), now);
    run(r, &t2, now);
    assert_eq!(
        (state(r, "t1"), state(r, "t2")),
        (
            Some(RunnerTaskState::Running),
            Some(RunnerTaskState::Pending)
        )
    );
    r.worker_removed(A, now);
    (t1, t2)
}

#[test]
fn cleanup_fails_started_tasks_and_assigns_never_acknowledged_ones_again() {
    let now = t0();
    let mut r = patient_runner();
    let (_, t2) = lost_with_running_and_unacknowledged(&mut r, now);
    add_worker(&mut r, worker(B, 1), later(now, 10));

    let out = tick(&mut r, later(now, 900));
    assert_eq!(
        out,
        vec![
            RunnerEffect::RemoveAssignment {
                worker: A.into(),
                task_id: "t1".into()
            },
            RunnerEffect::RemoveStatus {
                worker: A.into(),
                task_id: "t1".into()
            },
            RunnerEffect::StatusChanged {
                task_id: "t1".into(),
                status: TaskStatus::failure("t1", messages::WORKER_CLEANUP)
                    .with_location(location("h1")),
            },
            // Nothing ran: the assignment is withdrawn and the task runs elsewhere.
            RunnerEffect::RemoveAssignment {
                worker: A.into(),
                task_id: "t2".into()
            },
            RunnerEffect::Assign {
                worker: worker(B, 1),
                task: t2.clone()
            },
        ]
    );
    let v = r.task_view("t2").unwrap();
    assert_eq!(
        (v.state, v.worker.as_deref(), v.queue_insertion_time),
        (RunnerTaskState::Pending, Some(B), now)
    );
    assert_eq!(r.next_deadline(), Some(later(now, 900 + 3600)));

    let out = announce(&mut r, B, succeeded(&t2), later(now, 950));
    assert_eq!(
        out,
        vec![RunnerEffect::StatusChanged {
            task_id: "t2".into(),
            status: TaskStatus::success("t2"),
        }]
    );
    assert_eq!(r.sizes(), (0, 0, 1));
}

#[test]
fn assignment_withdrawn_at_cleanup_that_the_worker_had_started_runs_there_if_still_pending() {
    let now = t0();
    let mut r = patient_runner();
    let (_, t2) = lost_with_running_and_unacknowledged(&mut r, now);
    tick(&mut r, later(now, 900));
    assert_eq!(state(&r, "t2"), Some(RunnerTaskState::Pending));
    assert_eq!(r.sizes(), (1, 0, 0));

    // It had picked the assignment up just before it vanished: that is the task's only run.
    let back = later(now, 1000);
    r.worker_added(worker(A, 2), back);
    let out = announce(&mut r, A, running_at(&t2, location("h2")), back);
    assert_eq!(
        out,
        vec![RunnerEffect::LocationChanged {
            task_id: "t2".into(),
            location: location("h2")
        }]
    );
    let mut out = Vec::new();
    r.worker_initialized(A, back, &mut out);
    assert!(out.is_empty(), "not assigned again: {out:?}");
    let v = r.task_view("t2").unwrap();
    assert_eq!(
        (v.state, v.worker.as_deref()),
        (RunnerTaskState::Running, Some(A))
    );
    assert_eq!(
        announce(&mut r, A, succeeded(&t2), back),
        vec![RunnerEffect::StatusChanged {
            task_id: "t2".into(),
            status: TaskStatus::success("t2").with_location(location("h2")),
        }]
    );
}

#[test]
fn assignment_withdrawn_at_cleanup_that_the_worker_had_started_is_shut_down_if_placed_elsewhere() {
    let now = t0();
    let mut r = patient_runner();
    let (_, t2) = lost_with_running_and_unacknowledged(&mut r, now);
    add_worker(&mut r, worker(B, 1), now);
    assert_eq!(
        assigns(&tick(&mut r, later(now, 900))),
        vec![assign(B, "t2")]
    );
    // The write of the first assignment fails late: it says nothing about the one on B.
    assert!(assign_failed(&mut r, "t2", A, true, later(now, 901)).is_empty());
    assert_eq!(r.task_view("t2").unwrap().worker.as_deref(), Some(B));

    let back = later(now, 1000);
    r.worker_added(worker(A, 2), back);
    assert_eq!(
        announce(&mut r, A, running(&t2), back),
        vec![RunnerEffect::ShutdownOnWorker {
            worker: worker(A, 2),
            task_id: "t2".into()
        }]
    );
    assert_eq!(
        announce(&mut r, A, failed(&t2), back),
        vec![RunnerEffect::RemoveStatus {
            worker: A.into(),
            task_id: "t2".into()
        }],
        "the copy's end does not count; its announcement is cleaned up"
    );
    let mut out = Vec::new();
    r.worker_initialized(A, back, &mut out);
    assert!(out.is_empty());
    assert_eq!(view(&r, A).curr_capacity_used, 0);

    // B's run is the one that counts.
    assert_eq!(
        announce(&mut r, B, succeeded(&t2), back),
        vec![RunnerEffect::StatusChanged {
            task_id: "t2".into(),
            status: TaskStatus::success("t2"),
        }]
    );
}

// ----- completion and blacklisting ------------------------------------------------------------

#[test]
fn completion_sets_last_completed_time_and_counts_consecutive_failures() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let mut at = now;
    for (i, success) in [false, false, true, false].into_iter().enumerate() {
        at = later(now, 10 * (i as u64 + 1));
        let t = noop(&format!("t{i}"));
        assert_eq!(assigns(&run(&mut r, &t, at)), vec![assign(A, t.id())]);
        announce(&mut r, A, running(&t), at);
        let a = if success { succeeded(&t) } else { failed(&t) };
        let out = announce(&mut r, A, a, at);
        assert!(matches!(&out[..], [RunnerEffect::StatusChanged { .. }]));
        assert_eq!(view(&r, A).last_completed_task_time, at);
        let expected = match i {
            0 => 1,
            1 => 2,
            2 => 0,
            _ => 1,
        };
        assert_eq!(failures(&r, A), expected, "after task {i}");
    }
    assert_eq!(state(&r, "t3"), Some(RunnerTaskState::None));
    assert_eq!(view(&r, A).last_completed_task_time, at);
}

#[test]
fn five_workers_blacklist_one_after_more_than_max_retries_failures() {
    let now = t0();
    let mut r = runner();
    for h in [A, B, C, "mm-d:8091", "mm-e:8091"] {
        add_worker(&mut r, worker(h, 1), now);
    }
    for i in 0..5 {
        end_on(&mut r, A, &format!("f{i}"), false, now);
    }
    assert_eq!(failures(&r, A), 5);
    assert!(
        blacklisted(&r).is_empty(),
        "5 failures are not more than maxRetriesBeforeBlacklist=5"
    );
    assert_eq!(r.next_deadline(), None);

    end_on(&mut r, A, "f5", false, now);
    assert_eq!(view(&r, A).blacklisted_until, Some(later(now, 900)));
    assert_eq!(blacklisted(&r), vec![A.to_string()]);
    assert_eq!(
        r.next_deadline(),
        Some(later(now, 300)),
        "the periodic check is scheduled"
    );

    // A blacklisted worker gets no task while others can take it.
    assert_eq!(assigns(&run(&mut r, &noop("t"), now)), vec![assign(B, "t")]);
    // A second worker cannot be blacklisted: 1 > 5 * 20% - 1.
    for i in 0..10 {
        end_on(&mut r, C, &format!("c{i}"), false, now);
    }
    assert_eq!(blacklisted(&r), vec![A.to_string()]);
}

#[test]
fn four_workers_never_blacklist_by_default() {
    let now = t0();
    let mut r = runner();
    for h in [A, B, C, "mm-d:8091"] {
        add_worker(&mut r, worker(h, 1), now);
    }
    for i in 0..20 {
        end_on(&mut r, A, &format!("a{i}"), false, now);
        end_on(&mut r, B, &format!("b{i}"), false, now);
    }
    assert_eq!(failures(&r, A), 20);
    assert!(blacklisted(&r).is_empty());
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn ten_workers_blacklist_at_most_two_by_default() {
    let now = t0();
    let mut r = runner();
    let hosts: Vec<String> = (0..10).map(|i| format!("mm-{i}:8091")).collect();
    for h in &hosts {
        add_worker(&mut r, worker(h, 1), now);
    }
    for h in &hosts {
        for i in 0..6 {
            end_on(&mut r, h, &format!("{h}-{i}"), false, now);
        }
    }
    assert_eq!(blacklisted(&r), vec![hosts[0].clone(), hosts[1].clone()]);
    assert_eq!(failures(&r, &hosts[9]), 6, "failures are still counted");
}

#[test]
fn fifty_percent_limit_follows_druids_formula() {
    let now = t0();
    // blacklisted <= workers * 50% - 1: with 2 workers at most 1, with 4 workers at most 2.
    for (n, max) in [(2usize, 1usize), (4, 2), (3, 1)] {
        let mut r = runner_with(|c| c.max_percentage_blacklist_workers = 50);
        let hosts: Vec<String> = (0..n).map(|i| format!("mm-{i}:8091")).collect();
        for h in &hosts {
            add_worker(&mut r, worker(h, 1), now);
        }
        for h in &hosts {
            for i in 0..6 {
                end_on(&mut r, h, &format!("{h}-{i}"), false, now);
            }
        }
        assert_eq!(blacklisted(&r).len(), max, "{n} workers");
    }
}

#[test]
fn success_removes_a_worker_from_the_blacklist() {
    let now = t0();
    let mut r = runner();
    for h in [A, B, C, "mm-d:8091", "mm-e:8091"] {
        add_worker(&mut r, worker(h, 1), now);
    }
    for i in 0..6 {
        end_on(&mut r, A, &format!("f{i}"), false, now);
    }
    assert_eq!(blacklisted(&r), vec![A.to_string()]);
    // A task assigned before the blacklisting still ends there.
    end_on(&mut r, A, "ok", true, later(now, 5));
    assert!(blacklisted(&r).is_empty());
    assert_eq!(failures(&r, A), 0);
    assert_eq!(view(&r, A).last_completed_task_time, later(now, 5));
}

#[test]
fn failed_end_of_a_task_shut_down_on_request_does_not_count() {
    let now = t0();
    let mut r = runner_with(|c| {
        c.max_percentage_blacklist_workers = 100;
        c.max_retries_before_blacklist = 0;
    });
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running(&t1), now);
    assert_eq!(
        shutdown(&mut r, "t1"),
        vec![RunnerEffect::ShutdownOnWorker {
            worker: worker(A, 1),
            task_id: "t1".into()
        }]
    );
    let out = announce(&mut r, A, failed(&t1), now);
    assert!(matches!(&out[..], [RunnerEffect::StatusChanged { .. }]));
    assert_eq!(failures(&r, A), 0);
    assert!(blacklisted(&r).is_empty());

    // The same end without a shutdown request counts (and blacklists, with these settings).
    let t2 = noop("t2");
    run(&mut r, &t2, now);
    announce(&mut r, A, failed(&t2), now);
    assert_eq!(failures(&r, A), 1);
    assert_eq!(blacklisted(&r), vec![A.to_string()]);
}

#[test]
fn periodic_check_lifts_the_blacklist_only_after_the_backoff() {
    let now = t0();
    let mut r = runner();
    for h in [A, B, C, "mm-d:8091", "mm-e:8091"] {
        add_worker(&mut r, worker(h, 1), now);
    }
    for i in 0..6 {
        end_on(&mut r, A, &format!("f{i}"), false, now);
    }
    assert_eq!(r.next_deadline(), Some(later(now, 300)));

    // Ticks before the check is due do nothing.
    tick(&mut r, later(now, 299));
    assert_eq!(r.next_deadline(), Some(later(now, 300)));
    // Checks before the backoff expired keep it and reschedule.
    tick(&mut r, later(now, 300));
    assert_eq!(blacklisted(&r), vec![A.to_string()]);
    assert_eq!(r.next_deadline(), Some(later(now, 600)));
    tick(&mut r, later(now, 600));
    assert_eq!(blacklisted(&r), vec![A.to_string()]);
    assert_eq!(failures(&r, A), 6);
    assert_eq!(r.next_deadline(), Some(later(now, 900)));
    // Backoff (PT15M) expired: lifted, counter reset, nothing left to check.
    tick(&mut r, later(now, 900));
    assert!(blacklisted(&r).is_empty());
    assert_eq!(failures(&r, A), 0);
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn periodic_check_trims_the_blacklist_when_workers_leave() {
    let now = t0();
    let mut r = runner();
    let hosts: Vec<String> = (0..10).map(|i| format!("mm-{i}:8091")).collect();
    for h in &hosts {
        add_worker(&mut r, worker(h, 1), now);
    }
    for h in &hosts[..2] {
        for i in 0..6 {
            end_on(&mut r, h, &format!("{h}-{i}"), false, now);
        }
    }
    assert_eq!(blacklisted(&r).len(), 2);
    for h in &hosts[5..] {
        r.worker_removed(h, now);
    }
    // 5 workers allow 1 blacklisted (20%): the check removes one before the backoff.
    tick(&mut r, later(now, 300));
    assert_eq!(blacklisted(&r), vec![hosts[1].clone()]);
    assert_eq!(failures(&r, &hosts[0]), 0);
}

// ----- assignment ------------------------------------------------------------------------------

#[test]
fn assignment_timeout_fails_only_the_unacknowledged_task() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 3), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    run(&mut r, &noop("t2"), later(now, 100));
    let t3 = noop("t3");
    run(&mut r, &t3, now);
    announce(&mut r, A, running(&t3), now);

    assert!(tick(&mut r, later(now, 299)).is_empty());
    let out = tick(&mut r, later(now, 300));
    let msg = "The worker that this task is assigned did not start it in timeout[PT5M]. See overlord logs for more details.";
    assert_eq!(messages::assignment_timeout("PT5M"), msg);
    assert_eq!(
        out,
        vec![
            RunnerEffect::RemoveAssignment {
                worker: A.into(),
                task_id: "t1".into()
            },
            RunnerEffect::StatusChanged {
                task_id: "t1".into(),
                status: TaskStatus::failure("t1", msg)
            },
        ]
    );
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::None));
    assert_eq!(r.task_view("t1").unwrap().worker.as_deref(), Some(A));
    assert_eq!(state(&r, "t2"), Some(RunnerTaskState::Pending));
    assert_eq!(state(&r, "t3"), Some(RunnerTaskState::Running));
    assert_eq!(
        view(&r, A).running_tasks,
        vec!["t2".to_string(), "t3".to_string()]
    );
    assert_eq!(r.next_deadline(), Some(later(now, 400)));
    // A late announcement of the timed-out task is told to stop.
    let out = announce(&mut r, A, running(&t1), later(now, 301));
    assert_eq!(
        out,
        vec![RunnerEffect::ShutdownOnWorker {
            worker: worker(A, 3),
            task_id: "t1".into()
        }]
    );
}

#[test]
fn assignment_timeout_while_the_worker_is_away_assigns_the_task_again() {
    let now = t0();
    let mut r = runner();
    let (t1, t2) = lost_with_running_and_unacknowledged(&mut r, now);
    add_worker(&mut r, worker(B, 1), later(now, 10));
    assert_eq!(r.next_deadline(), Some(later(now, 300)));

    let out = tick(&mut r, later(now, 300));
    assert_eq!(
        out,
        vec![
            RunnerEffect::RemoveAssignment {
                worker: A.into(),
                task_id: "t2".into()
            },
            RunnerEffect::Assign {
                worker: worker(B, 1),
                task: t2
            },
        ],
        "not failed: the worker was not there to start it"
    );
    assert_eq!(r.next_deadline(), Some(later(now, 600)));

    // Back in time, the worker keeps its running task and is not counted as failing.
    r.worker_added(worker(A, 2), later(now, 400));
    announce(&mut r, A, running(&t1), later(now, 400));
    let mut out = Vec::new();
    r.worker_initialized(A, later(now, 400), &mut out);
    assert!(out.is_empty());
    assert_eq!(view(&r, A).running_tasks, vec!["t1".to_string()]);
    assert_eq!(failures(&r, A), 0);
}

#[test]
fn assign_failed_because_the_worker_is_gone_reassigns_to_another_worker() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    add_worker(&mut r, worker(B, 1), now);
    let t1 = noop("t1");
    assert_eq!(assigns(&run(&mut r, &t1, now)), vec![assign(A, "t1")]);
    r.worker_removed(A, now);

    let out = assign_failed(&mut r, "t1", A, true, later(now, 1));
    assert_eq!(
        out,
        vec![
            RunnerEffect::RemoveAssignment {
                worker: A.into(),
                task_id: "t1".into()
            },
            RunnerEffect::Assign {
                worker: worker(B, 1),
                task: t1
            }
        ]
    );
    let v = r.task_view("t1").unwrap();
    assert_eq!(
        (v.state, v.worker.as_deref(), v.queue_insertion_time),
        (RunnerTaskState::Pending, Some(B), now)
    );
    assert_eq!(
        r.next_deadline(),
        Some(later(now, 301)),
        "one assignment deadline, for the new one"
    );

    // The vanished worker no longer counts the task when it comes back.
    add_worker(&mut r, worker(A, 2), later(now, 2));
    assert_eq!(view(&r, A).curr_capacity_used, 0);
}

#[test]
fn assign_failed_because_the_worker_is_gone_waits_when_no_worker_is_left() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    run(&mut r, &noop("t1"), now);
    r.worker_removed(A, now);
    assert_eq!(
        assign_failed(&mut r, "t1", A, true, now),
        vec![RunnerEffect::RemoveAssignment {
            worker: A.into(),
            task_id: "t1".into()
        }]
    );
    let v = r.task_view("t1").unwrap();
    assert_eq!((v.state, v.worker), (RunnerTaskState::Pending, None));
    assert_eq!(r.sizes(), (1, 0, 0));
}

#[test]
fn assign_failed_for_another_reason_fails_the_task() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    run(&mut r, &noop("t1"), now);
    let out = assign_failed(&mut r, "t1", A, false, now);
    assert_eq!(
        out,
        vec![
            RunnerEffect::RemoveAssignment {
                worker: A.into(),
                task_id: "t1".into()
            },
            RunnerEffect::StatusChanged {
                task_id: "t1".into(),
                status: TaskStatus::failure("t1", messages::ASSIGN_FAILED),
            }
        ]
    );
    assert_eq!(
        messages::ASSIGN_FAILED,
        "Failed to assign this task. See overlord logs for more details."
    );
    assert_eq!(r.sizes(), (0, 0, 1));
    assert_eq!(view(&r, A).curr_capacity_used, 0);
    assert_eq!(r.next_deadline(), None);
    // Late or repeated failures change nothing.
    assert!(assign_failed(&mut r, "t1", A, false, now).is_empty());
}

#[test]
fn assign_failed_withdraws_the_assignment_a_later_write_to_the_same_worker_may_still_make() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    assert_eq!(assigns(&run(&mut r, &t1, now)), vec![assign(A, "t1")]);
    // The worker is away past the assignment timeout: withdrawn, then assigned to it again
    // when it is back, while the first write may still be on its way.
    r.worker_removed(A, now);
    let out = tick(&mut r, later(now, 300));
    assert_eq!(
        out,
        vec![RunnerEffect::RemoveAssignment {
            worker: A.into(),
            task_id: "t1".into()
        }]
    );
    let back = later(now, 301);
    r.worker_added(worker(A, 1), back);
    let mut out = Vec::new();
    r.worker_initialized(A, back, &mut out);
    assert_eq!(assigns(&out), vec![assign(A, "t1")]);

    // The first write fails: taken for the second's, the task goes back to pending, and the
    // second write, should it land, is withdrawn after it.
    let out = assign_failed(&mut r, "t1", A, true, back);
    assert_eq!(
        out,
        vec![
            RunnerEffect::RemoveAssignment {
                worker: A.into(),
                task_id: "t1".into()
            },
            RunnerEffect::Assign {
                worker: worker(A, 1),
                task: t1
            }
        ],
        "withdrawn, then assigned again, in that order"
    );
}

#[test]
fn assign_failed_for_an_acknowledged_task_is_ignored() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running(&t1), now);
    assert!(assign_failed(&mut r, "t1", A, false, now).is_empty());
    assert!(assign_failed(&mut r, "t1", A, true, now).is_empty());
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::Running));
}

#[test]
fn assign_failed_after_a_shutdown_request_does_not_run_the_task_again() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    add_worker(&mut r, worker(B, 1), now);
    run(&mut r, &noop("t1"), now);
    shutdown(&mut r, "t1");
    r.worker_removed(A, now);
    let out = assign_failed(&mut r, "t1", A, true, now);
    assert!(
        assigns(&out).is_empty(),
        "a task stopped on request is not assigned again: {out:?}"
    );
    assert!(!matches!(
        state(&r, "t1"),
        Some(RunnerTaskState::Pending | RunnerTaskState::Running)
    ));
    assert_eq!(view(&r, B).curr_capacity_used, 0);
}

// ----- shutdown --------------------------------------------------------------------------------

#[test]
fn shutdown_of_a_pending_task_drops_it() {
    let now = t0();
    let mut r = runner();
    run(&mut r, &noop("t1"), now);
    run(&mut r, &noop("t2"), now);
    assert!(shutdown(&mut r, "t1").is_empty());
    assert_eq!(r.sizes(), (1, 0, 0));
    assert_eq!(r.task_view("t1"), None);
    // The dropped task is not assigned later.
    assert_eq!(
        assigns(&add_worker(&mut r, worker(A, 2), now)),
        vec![assign(A, "t2")]
    );
}

#[test]
fn shutdown_of_a_complete_task_removes_its_status_announcement() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, succeeded(&t1), now);
    assert_eq!(
        shutdown(&mut r, "t1"),
        vec![RunnerEffect::RemoveStatus {
            worker: A.into(),
            task_id: "t1".into()
        }]
    );
    assert_eq!(r.sizes(), (0, 0, 0));
    assert_eq!(r.task_view("t1"), None);
    assert!(
        shutdown(&mut r, "t1").is_empty(),
        "second cleanup does nothing"
    );

    // A task that ended without a worker has no announcement to remove.
    run(&mut r, &noop("t2"), now);
    assign_failed(&mut r, "t2", A, false, now);
    assert!(shutdown(&mut r, "t2").is_empty());
    assert_eq!(r.sizes(), (0, 0, 0));
}

#[test]
fn shutdown_of_a_running_task_asks_its_worker() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    let t1 = noop("t1");
    run(&mut r, &t1, now);
    announce(&mut r, A, running(&t1), now);
    assert_eq!(
        shutdown(&mut r, "t1"),
        vec![RunnerEffect::ShutdownOnWorker {
            worker: worker(A, 2),
            task_id: "t1".into()
        }]
    );
    assert_eq!(
        state(&r, "t1"),
        Some(RunnerTaskState::Running),
        "running until the worker reports its end"
    );

    // Not acknowledged yet: the assignment is withdrawn too.
    run(&mut r, &noop("t2"), now);
    assert_eq!(
        shutdown(&mut r, "t2"),
        vec![
            RunnerEffect::RemoveAssignment {
                worker: A.into(),
                task_id: "t2".into()
            },
            RunnerEffect::ShutdownOnWorker {
                worker: worker(A, 2),
                task_id: "t2".into()
            },
        ]
    );
}

#[test]
fn shutdown_of_an_unknown_task_does_nothing() {
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), t0());
    assert!(shutdown(&mut r, "nope").is_empty());
    assert_eq!(r.sizes(), (0, 0, 0));
}

#[test]
fn blacklisted_worker_that_returns_is_still_lifted_after_its_backoff() {
    let now = t0();
    let mut r = runner();
    for h in [A, B, C, "mm-d:8091", "mm-e:8091"] {
        add_worker(&mut r, worker(h, 1), now);
    }
    for i in 0..6 {
        end_on(&mut r, A, &format!("f{i}"), false, now);
    }
    r.worker_removed(A, now);
    // The check runs while a is away: no announced worker is blacklisted.
    tick(&mut r, later(now, 300));
    let back = later(now, 400);
    r.worker_added(worker(A, 1), back);
    let mut out = Vec::new();
    r.worker_initialized(A, back, &mut out);
    assert_eq!(
        blacklisted(&r),
        vec![A.to_string()],
        "still within its backoff"
    );
    assert_eq!(
        r.next_deadline(),
        Some(later(back, 300)),
        "a check is scheduled again"
    );
    tick(&mut r, later(back, 300));
    assert_eq!(blacklisted(&r), vec![A.to_string()]);
    tick(&mut r, later(back, 600));
    assert!(
        blacklisted(&r).is_empty(),
        "lifted once the backoff (PT15M from the blacklisting) expired"
    );
    assert_eq!(failures(&r, A), 0);
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn shutdown_of_an_unacknowledged_task_frees_its_slot_at_once() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 1), now);
    run(&mut r, &noop("t1"), now);
    let waiting = noop("t2");
    assert!(run(&mut r, &waiting, now).is_empty(), "no free slot yet");
    let out = shutdown(&mut r, "t1");
    assert!(out.contains(&RunnerEffect::RemoveAssignment {
        worker: A.into(),
        task_id: "t1".into()
    }));
    assert_eq!(
        state(&r, "t1"),
        None,
        "the runner forgets a task its worker never confirmed"
    );
    assert_eq!(r.capacity(), (1, 0));
    // The freed slot goes to the next pending task on the next assignment pass.
    assert!(tick(&mut r, now).contains(&RunnerEffect::Assign {
        worker: worker(A, 1),
        task: waiting
    }));
}

#[test]
fn assignment_timeouts_count_toward_blacklisting() {
    let now = t0();
    let mut r = runner_with(|c| c.max_retries_before_blacklist = 1);
    for host in [A, B, C, "mm-d:8091", "mm-e:8091"] {
        add_worker(&mut r, worker(host, 1), now);
    }
    // Two assignments to A time out: more than maxRetriesBeforeBlacklist = 1.
    for (i, at) in [0u64, 400].into_iter().enumerate() {
        let t = noop(&format!("stuck{i}"));
        let out = run(&mut r, &t, later(now, at));
        assert!(
            matches!(&out[..], [RunnerEffect::Assign { worker, .. }] if worker.host == A),
            "{out:?}"
        );
        for host in [B, C, "mm-d:8091", "mm-e:8091"] {
            // Keep the other workers busy so the next task goes to A again.
            let filler = noop(&format!("fill{i}{host}"));
            let out = run(&mut r, &filler, later(now, at));
            if let [RunnerEffect::Assign { worker, .. }] = &out[..] {
                announce(
                    &mut r,
                    &worker.host.clone(),
                    running(&filler),
                    later(now, at),
                );
            }
        }
        tick(&mut r, later(now, at + 300));
    }
    assert!(
        view(&r, A).blacklisted_until.is_some(),
        "A sat on its assignments twice"
    );
}

#[test]
fn returning_worker_that_lost_a_task_fails_it_as_disappeared() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    let (kept, lost) = (noop("kept"), noop("lost"));
    run(&mut r, &kept, now);
    run(&mut r, &lost, now);
    announce(&mut r, A, running(&kept), now);
    announce(&mut r, A, running(&lost), now);
    r.worker_removed(A, now);

    let back = later(now, 60);
    r.worker_added(worker(A, 2), back);
    assert!(announce(&mut r, A, running(&kept), back).is_empty());
    let mut out = Vec::new();
    r.worker_initialized(A, back, &mut out);
    assert_eq!(
        out,
        vec![RunnerEffect::StatusChanged {
            task_id: "lost".into(),
            status: TaskStatus::failure("lost", messages::DISAPPEARED),
        }]
    );
    assert_eq!(state(&r, "kept"), Some(RunnerTaskState::Running));
    assert_eq!(r.capacity(), (2, 1));
}

// ----- dynamic worker config ---------------------------------------------------------------------

fn noop_in(id: &str, data_source: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "dataSource": data_source})).unwrap()
}

fn worker_in(host: &str, capacity: u32, category: &str) -> Worker {
    Worker {
        category: category.into(),
        ..worker(host, capacity)
    }
}

/// Applies a worker config as posted to the API; returns what it caused.
fn configure(r: &mut TaskRunner, config: serde_json::Value, now: Timestamp) -> Vec<RunnerEffect> {
    let parsed = WorkerBehaviorConfig::parse(config.to_string().as_bytes()).unwrap();
    let mut out = Vec::new();
    r.set_strategy(parsed.config.select_strategy, now, &mut out);
    out
}

fn strategy(select_strategy: serde_json::Value) -> serde_json::Value {
    json!({"type": "default", "selectStrategy": select_strategy, "autoScaler": null})
}

#[test]
fn config_change_applies_to_pending_tasks_at_once() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    // wiki is tied to a worker that is not there.
    let strong = strategy(json!({
        "type": "equalDistribution",
        "affinityConfig": {"affinity": {"wiki": [C]}, "strong": true}
    }));
    assert!(configure(&mut r, strong, now).is_empty());
    assert!(run(&mut r, &noop_in("w1", "wiki"), now).is_empty());
    assert!(run(&mut r, &noop_in("w2", "wiki"), now).is_empty());
    assert_eq!(
        assigns(&run(&mut r, &noop_in("o1", "other"), now)),
        vec![assign(A, "o1")],
        "other datasources still run"
    );
    assert_eq!(state(&r, "w1"), Some(RunnerTaskState::Pending));

    // Weak affinity lets wiki use the unreserved worker: the pending tasks go at once.
    let weak = strategy(json!({
        "type": "equalDistributionWithAffinity",
        "affinityConfig": {"affinity": {"wiki": [C]}, "strong": false}
    }));
    assert_eq!(
        assigns(&configure(&mut r, weak, now)),
        vec![assign(A, "w1")]
    );
    assert_eq!(state(&r, "w2"), Some(RunnerTaskState::Pending), "a is full");

    // The config applies to later assignments too: the returning reserved worker takes w2.
    assert_eq!(
        assigns(&add_worker(&mut r, worker(C, 2), now)),
        vec![assign(C, "w2")]
    );
}

#[test]
fn fill_capacity_packs_one_worker_before_the_next() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    add_worker(&mut r, worker(B, 3), now);
    configure(&mut r, strategy(json!({"type": "fillCapacity"})), now);
    // All idle: the tie goes to the lowest host, which is then the busiest.
    for (id, host) in [("t1", A), ("t2", A), ("t3", B), ("t4", B), ("t5", B)] {
        assert_eq!(
            assigns(&run(&mut r, &noop(id), now)),
            vec![assign(host, id)]
        );
    }
    assert!(run(&mut r, &noop("t6"), now).is_empty());
}

#[test]
fn category_spec_places_tasks_on_announced_worker_categories() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker_in(A, 2, "hot"), now);
    add_worker(&mut r, worker_in(B, 4, "cold"), now);
    add_worker(&mut r, worker(C, 8), now);
    let spec = |strong: bool| {
        strategy(json!({
            "type": "equalDistributionWithCategorySpec",
            "workerCategorySpec": {
                "categoryMap": {"noop": {"defaultCategory": "cold", "categoryAffinity": {"wiki": "hot"}}},
                "strong": strong
            }
        }))
    };
    configure(&mut r, spec(true), now);
    assert_eq!(
        assigns(&run(&mut r, &noop_in("w1", "wiki"), now)),
        vec![assign(A, "w1")]
    );
    assert_eq!(
        assigns(&run(&mut r, &noop_in("o1", "other"), now)),
        vec![assign(B, "o1")],
        "the default category, though c has more room"
    );
    assert_eq!(
        assigns(&run(&mut r, &noop_in("w2", "wiki"), now)),
        vec![assign(A, "w2")]
    );
    assert!(
        run(&mut r, &noop_in("w3", "wiki"), now).is_empty(),
        "strong: the hot worker is full"
    );
    assert_eq!(
        assigns(&configure(&mut r, spec(false), now)),
        vec![assign(C, "w3")],
        "weak: any runnable worker"
    );
}

#[test]
fn task_limits_count_slots_of_the_type_on_every_worker() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 3), now);
    add_worker(&mut r, worker(B, 3), now);
    configure(
        &mut r,
        strategy(json!({"taskLimits": {"maxSlotCountByType": {"noop": 3}}})),
        now,
    );
    // Slots of other types do not count toward noop's limit.
    let index = TaskAnnouncement {
        task_type: "index".into(),
        ..running(&noop("i1"))
    };
    assert!(assigns(&announce(&mut r, A, index, now)).is_empty());
    let tasks: Vec<Task> = (1..=4).map(|i| noop(&format!("t{i}"))).collect();
    let mut placed = Vec::new();
    for t in &tasks {
        placed.extend(assigns(&run(&mut r, t, now)));
    }
    assert_eq!(
        placed,
        vec![assign(B, "t1"), assign(A, "t2"), assign(B, "t3")],
        "three noop slots over both workers; the fourth waits"
    );
    assert_eq!(state(&r, "t4"), Some(RunnerTaskState::Pending));
    assert_eq!(r.capacity(), (6, 4), "capacity is left, the limit holds t4");

    // An end frees a slot of the type: t4 goes.
    announce(&mut r, A, running(&tasks[1]), now);
    assert_eq!(
        assigns(&announce(&mut r, A, succeeded(&tasks[1]), now)),
        vec![assign(A, "t4")]
    );

    // A ratio of the cluster: floor(0.34 * 6) = 2 < 3 slots in use; a count of 0 forbids all.
    configure(
        &mut r,
        strategy(json!({"taskLimits": {"maxSlotRatioByType": {"noop": 0.34}}})),
        now,
    );
    assert!(run(&mut r, &noop("t5"), now).is_empty());
    configure(
        &mut r,
        strategy(json!({"taskLimits": {"maxSlotRatioByType": {"noop": 1.0}}})),
        now,
    );
    assert_eq!(r.sizes().0, 0, "t5 placed once the limit is lifted");
}

/// An `index_parallel` supervisor, or one of its sub-tasks (each its own availability group).
fn parallel(kind: &str, id: &str) -> Task {
    let spec = json!({"dataSchema": {"dataSource": "wiki",
        "granularitySpec": {"intervals": ["2015-09-12/2015-09-13"]}}, "ioConfig": {}});
    let mut task = json!({"type": kind, "id": id, "groupId": "g", "spec": spec});
    if kind == "single_phase_sub_task" {
        task["supervisorTaskId"] = json!("p");
    }
    Task::from_json(task).unwrap()
}

#[test]
fn parallel_index_supervisors_hold_at_most_their_share_of_a_workers_slots() {
    let now = t0();
    // floor(0.5 * 4) = 2 supervisor slots on A; floor(0.5 * 1) = 0, raised to 1, on B.
    let mut r = runner_with(|c| c.parallel_index_task_slot_ratio = 0.5);
    add_worker(&mut r, worker(A, 4), now);
    add_worker(&mut r, worker(B, 1), now);
    let supervisors: Vec<Task> = (1..=4)
        .map(|i| parallel("index_parallel", &format!("p{i}")))
        .collect();
    let mut placed = Vec::new();
    for t in &supervisors {
        placed.extend(assigns(&run(&mut r, t, now)));
    }
    assert_eq!(
        placed,
        vec![assign(A, "p1"), assign(A, "p2"), assign(B, "p3")],
        "two supervisors on A, one on B; the fourth waits with A's two slots free"
    );
    assert_eq!(state(&r, "p4"), Some(RunnerTaskState::Pending));
    assert_eq!(view(&r, A).curr_parallel_index_capacity_used, 2);
    assert_eq!(view(&r, B).curr_parallel_index_capacity_used, 1);

    // The slots kept free go to the supervisors' sub-tasks, not to the waiting supervisor.
    let subs: Vec<Task> = (1..=2)
        .map(|i| parallel("single_phase_sub_task", &format!("s{i}")))
        .collect();
    let mut placed = Vec::new();
    for t in &subs {
        placed.extend(assigns(&run(&mut r, t, now)));
    }
    assert_eq!(placed, vec![assign(A, "s1"), assign(A, "s2")]);
    assert_eq!(state(&r, "p4"), Some(RunnerTaskState::Pending));
    assert_eq!(view(&r, A).curr_capacity_used, 4);
    assert_eq!(view(&r, A).curr_parallel_index_capacity_used, 2);

    // A supervisor's end frees a supervisor slot, and only then does p4 go.
    announce(&mut r, A, running(&subs[0]), now);
    announce(&mut r, A, running(&supervisors[0]), now);
    assert!(assigns(&announce(&mut r, A, succeeded(&subs[0]), now)).is_empty());
    assert_eq!(
        assigns(&announce(&mut r, A, succeeded(&supervisors[0]), now)),
        vec![assign(A, "p4")]
    );
}

#[test]
fn the_default_ratio_lets_supervisors_take_every_slot_as_in_druid() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    for id in ["p1", "p2"] {
        assert_eq!(
            assigns(&run(&mut r, &parallel("index_parallel", id), now)),
            vec![assign(A, id)]
        );
    }
    assert_eq!(RunnerConfig::default().parallel_index_capacity(2), 2);
    let zero = RunnerConfig {
        parallel_index_task_slot_ratio: 0.0,
        ..RunnerConfig::default()
    };
    assert_eq!(zero.parallel_index_capacity(8), 1, "at least one slot");
}

#[test]
fn a_task_held_back_only_by_its_availability_group_does_not_hold_back_its_peers() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 3), now);
    let g1 = noop_resource("g1", "g", 1);
    let g2 = noop_resource("g2", "g", 1);
    let h1 = noop_resource("h1", "h", 1);
    assert_eq!(assigns(&run(&mut r, &g1, now)), vec![assign(A, "g1")]);
    assert!(run(&mut r, &g2, now).is_empty());
    // Same type, datasource and capacity as g2, behind it in the walk this run starts.
    assert_eq!(assigns(&run(&mut r, &h1, now)), vec![assign(A, "h1")]);
    assert_eq!(state(&r, "g2"), Some(RunnerTaskState::Pending));
}

#[test]
fn tasks_that_find_no_worker_do_not_hold_back_other_demands() {
    let now = t0();
    let mut r = runner();
    configure(
        &mut r,
        strategy(json!({"affinityConfig": {"affinity": {"wiki": [C]}, "strong": true}})),
        now,
    );
    // Many wiki tasks wait for c; the others behind them go to a as it gets workers.
    let mut tasks: Vec<Task> = (0..50)
        .map(|i| noop_in(&format!("w{i:02}"), "wiki"))
        .collect();
    tasks.push(noop_in("o1", "other"));
    tasks.push(noop_resource("big", "big", 2));
    for t in &tasks {
        assert!(run(&mut r, t, now).is_empty());
    }
    assert_eq!(
        assigns(&add_worker(&mut r, worker(A, 3), now)),
        vec![assign(A, "o1"), assign(A, "big")]
    );
    assert_eq!(r.sizes().0, 50);
    // The reserved worker takes wiki tasks in order.
    assert_eq!(
        assigns(&add_worker(&mut r, worker(C, 2), now)),
        vec![assign(C, "w00"), assign(C, "w01")]
    );
}

#[test]
fn assignments_written_before_start_are_adopted_not_repeated() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    let (t1, stale) = (noop("t1"), noop("gone-worker"));
    let mut out = Vec::new();
    r.adopt_assignment(A, t1.clone(), now, &mut out);
    assert!(out.is_empty());
    assert_eq!(
        state(&r, "t1"),
        Some(RunnerTaskState::Pending),
        "waits for the worker's acknowledgement"
    );
    assert_eq!(r.capacity(), (2, 1));
    assert!(
        run(&mut r, &t1, now).is_empty(),
        "not assigned a second time"
    );
    // Adopting again, or a task the runner already knows, changes nothing.
    r.adopt_assignment(A, t1.clone(), now, &mut out);
    assert!(out.is_empty());
    // An assignment to a worker that is not announced is withdrawn.
    r.adopt_assignment(B, stale, now, &mut out);
    assert_eq!(
        out,
        vec![RunnerEffect::RemoveAssignment {
            worker: B.into(),
            task_id: "gone-worker".into()
        }]
    );
    // The worker picks it up: acknowledged as usual.
    announce(&mut r, A, running(&t1), later(now, 1));
    assert_eq!(state(&r, "t1"), Some(RunnerTaskState::Running));
}

#[test]
fn an_adopted_assignment_never_picked_up_times_out() {
    let now = t0();
    let mut r = runner();
    add_worker(&mut r, worker(A, 2), now);
    let mut out = Vec::new();
    r.adopt_assignment(A, noop("t1"), now, &mut out);
    let out = tick(&mut r, later(now, 300));
    assert!(out.contains(&RunnerEffect::RemoveAssignment {
        worker: A.into(),
        task_id: "t1".into()
    }));
    assert!(out.iter().any(|e| matches!(e, RunnerEffect::StatusChanged { task_id, status } if task_id == "t1" && status.is_complete())));
}

/// The invariant checks catch what they claim to: each corruption below fails its check.
#[test]
fn the_invariant_checks_catch_corrupted_accounting() {
    fn corrupted(corrupt: impl FnOnce(&mut TaskRunner)) -> String {
        let now = t0();
        let mut r = runner();
        add_worker(&mut r, worker(A, 2), now);
        r.worker_initialized(A, now, &mut Vec::new());
        run(&mut r, &noop("t1"), now);
        run(&mut r, &noop("t2"), now);
        announce(&mut r, A, running(&noop("t1")), now);
        run(&mut r, &noop("t3"), now);
        r.check_invariants();
        corrupt(&mut r);
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.check_invariants()))
            .expect_err("the corruption went unnoticed");
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }
    let used = corrupted(|r| r.workers.get_mut(A).unwrap().used += 1);
    assert!(used.contains("used capacity"), "{used}");
    let twice = corrupted(|r| {
        let status = TaskStatus::success("t1");
        r.complete.insert(
            "t1".into(),
            CompleteItem {
                worker: None,
                status,
            },
        );
    });
    assert!(twice.contains("running and complete"), "{twice}");
    let deadline = corrupted(|r| {
        r.ack_deadlines.clear();
    });
    assert!(deadline.contains("acknowledgement deadlines"), "{deadline}");
    let pending = corrupted(|r| {
        r.pending_order.clear();
    });
    assert!(pending.contains("pending order"), "{pending}");
}
