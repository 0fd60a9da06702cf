use super::*;

use serde_json::json;
use steward_model::DEFAULT_WORKER_CATEGORY;

// ----- helpers ---------------------------------------------------------------------------------

const PEON_HOST: &str = "mm-a";

fn t0() -> Timestamp {
    Timestamp::from_second(1_767_225_600).unwrap() // 2026-01-01T00:00:00Z
}

fn later(t: Timestamp, secs: u64) -> Timestamp {
    t.saturating_add(Duration::from_secs(secs)).unwrap()
}

fn worker() -> Worker {
    Worker {
        scheme: "http".into(),
        host: "mm-a:8091".into(),
        ip: "mm-a".into(),
        capacity: 2,
        version: "0".into(),
        category: DEFAULT_WORKER_CATEGORY.into(),
    }
}

fn disabled() -> Worker {
    Worker {
        version: String::new(),
        ..worker()
    }
}

fn task(id: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "dataSource": "wiki"})).unwrap()
}

/// Every port of `start..=end` free as far as the OS is concerned.
fn range(start: u16, end: u16) -> PortFinder {
    PortFinder::new(Vec::new(), start, end, |_| true)
}

fn at(port: u16) -> TaskLocation {
    TaskLocation::new(PEON_HOST, i32::from(port))
}

fn restart(ports: PortFinder, restored: Restored, held: Vec<TaskAnnouncement>) -> WorkerCore {
    WorkerCore::start(worker(), PEON_HOST, ports, restored, held).0
}

/// A first start: the worker is announced and nothing else happens.
fn core_with(ports: PortFinder) -> WorkerCore {
    let (core, out) = WorkerCore::start(worker(), PEON_HOST, ports, Restored::default(), vec![]);
    assert_eq!(out, vec![WorkerEffect::AnnounceWorker(worker())]);
    core
}

fn core() -> WorkerCore {
    core_with(range(8100, 8199))
}

fn assign(core: &mut WorkerCore, task: &Task) -> Vec<WorkerEffect> {
    let assigned = WorkerInput::Coordinator(WorkerEvent::Assigned(task.clone()));
    core.handle(assigned, t0())
}

/// Assigns `task`, already known here: only the assignment is removed.
fn assign_known(core: &mut WorkerCore, task: &Task) {
    assert_eq!(
        assign(core, task),
        vec![WorkerEffect::RemoveAssignment(task.id().into())]
    );
}

fn recorded(core: &mut WorkerCore, id: &str, now: Timestamp) -> Vec<WorkerEffect> {
    let removed = WorkerInput::Coordinator(WorkerEvent::StatusRemoved(id.into()));
    core.handle(removed, now)
}

fn started(core: &mut WorkerCore, id: &str, port: u16) -> Vec<WorkerEffect> {
    let input = WorkerInput::Started {
        id: id.into(),
        location: at(port),
    };
    core.handle(input, t0())
}

fn ended(core: &mut WorkerCore, end: &TaskAnnouncement, now: Timestamp) -> Vec<WorkerEffect> {
    core.handle(WorkerInput::Ended(end.clone()), now)
}

/// What a run reports at the end of `task`.
fn end_of(task: &Task, status: TaskStatus, location: TaskLocation) -> TaskAnnouncement {
    announcement(task, status, location)
}

/// Ends `task`, whose start was never announced: its assignment is removed before the end is
/// announced.
fn end_unstarted(core: &mut WorkerCore, task: &Task, status: TaskStatus) {
    let end = end_of(task, status, TaskLocation::unknown());
    assert_eq!(
        ended(core, &end, t0()),
        vec![
            WorkerEffect::RemoveAssignment(task.id().into()),
            WorkerEffect::AnnounceStatus(end)
        ]
    );
}

fn launch(task: &Task, port: u16) -> WorkerEffect {
    WorkerEffect::Run {
        task: task.clone(),
        plan: Plan::Launch { port },
    }
}

fn spawn_failed(task: &Task, error: &str) -> WorkerEffect {
    WorkerEffect::Run {
        task: task.clone(),
        plan: Plan::Finish {
            status: TaskStatus::failure(task.id(), error),
            attempt: None,
        },
    }
}

/// A core running task t1, whose start at port 8100 has been announced.
fn started_t1() -> (WorkerCore, Task) {
    let mut core = core();
    let t1 = task("t1");
    assign(&mut core, &t1);
    started(&mut core, "t1", 8100);
    (core, t1)
}

fn ids<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    ids.collect()
}

// ----- one task's life -------------------------------------------------------------------------

#[test]
fn a_task_runs_is_announced_in_order_and_is_forgotten_once_recorded() {
    let mut core = core();
    let t1 = task("t1");
    assert_eq!(assign(&mut core, &t1), vec![launch(&t1, 8100)]);
    assert_eq!(ids(core.running_ids()), ["t1"]);

    // RUNNING without location, then located: one effect, so they cannot be reordered.
    assert_eq!(
        started(&mut core, "t1", 8100),
        vec![WorkerEffect::AnnounceStarted {
            running: Box::new(TaskAnnouncement::of(
                &t1,
                TaskStatus::running("t1"),
                TaskLocation::unknown()
            )),
            located: Box::new(TaskAnnouncement::of(
                &t1,
                TaskStatus::running("t1").with_location(at(8100)),
                at(8100)
            )),
        }]
    );

    // The end: recorded, then announced; the assignment went with the start.
    let end = end_of(&t1, TaskStatus::success("t1"), at(8100));
    assert_eq!(
        ended(&mut core, &end, t0()),
        vec![WorkerEffect::AnnounceStatus(end.clone())]
    );
    assert_eq!(ids(core.running_ids()), Vec::<&str>::new());
    assert_eq!(ids(core.completed_ids()), ["t1"]);

    // Its port is free again.
    let t2 = task("t2");
    assert_eq!(assign(&mut core, &t2), vec![launch(&t2, 8100)]);

    // Assigned again before the Overlord recorded the end: known, so only the assignment goes.
    assign_known(&mut core, &t1);

    // Recorded: forgotten, once.
    assert_eq!(
        recorded(&mut core, "t1", t0()),
        vec![WorkerEffect::ForgetCompleted("t1".into())]
    );
    assert_eq!(recorded(&mut core, "t1", t0()), vec![]);
    assert_eq!(ids(core.completed_ids()), Vec::<&str>::new());

    // Forgotten, a new assignment runs it afresh (8100 is t2's now).
    assert_eq!(assign(&mut core, &t1), vec![launch(&t1, 8101)]);
}

#[test]
fn a_task_that_ends_before_its_start_is_announced_has_its_assignment_removed() {
    let mut core = core();
    let t1 = task("t1");
    assign(&mut core, &t1);
    end_unstarted(&mut core, &t1, TaskEnd::ShutdownBeforeStart.status("t1"));
}

/// Found by the whole-cluster simulation (seed 606): a new session delivers every assignment
/// again; removing the one of a task whose start is not announced yet left a new leader no
/// trace of the task, and it assigned the task to a second worker.
#[test]
fn a_second_assignment_is_kept_until_the_start_and_removed_after() {
    let mut core = core();
    let t1 = task("t1");
    assign(&mut core, &t1);
    assert_eq!(
        assign(&mut core, &t1),
        vec![],
        "not started: the assignment stays"
    );
    assert_eq!(ids(core.running_ids()), ["t1"]);
    started(&mut core, "t1", 8100);
    assign_known(&mut core, &t1);
    assert_eq!(ids(core.running_ids()), ["t1"]);
}

#[test]
fn reports_of_tasks_not_running_here_change_nothing() {
    let mut core = core();
    let ghost = task("ghost");
    assert_eq!(started(&mut core, "ghost", 8100), vec![]);
    let end = end_of(&ghost, TaskStatus::success("ghost"), at(8100));
    assert_eq!(ended(&mut core, &end, t0()), vec![]);
    let failed = WorkerInput::RunFailed {
        id: "ghost".into(),
        error: "boom".into(),
    };
    assert_eq!(core.handle(failed, t0()), vec![]);
    assert_eq!(ids(core.completed_ids()), Vec::<&str>::new());
}

// ----- tasks that cannot run -------------------------------------------------------------------

#[test]
fn a_reserved_id_ends_with_druids_spawn_failure() {
    let mut core = core();
    let reserved = task("completedTasks");
    assert_eq!(
        assign(&mut core, &reserved),
        vec![spawn_failed(
            &reserved,
            "Failed to run task with an exception: task id [completedTasks] is reserved by the \
             MiddleManager's directory layout"
        )]
    );
    // No port is held for it, and its end removes the assignment it never started from.
    let next = task("next");
    assert_eq!(assign(&mut core, &next), vec![launch(&next, 8100)]);
    let failed = TaskEnd::SpawnFailed { error: "reserved" }.status("completedTasks");
    end_unstarted(&mut core, &reserved, failed);
}

#[test]
fn port_exhaustion_ends_with_druids_spawn_failure() {
    // Nothing can be bound in the range.
    let mut core = core_with(PortFinder::new(Vec::new(), 8100, 8101, |_| false));
    let t1 = task("t1");
    assert_eq!(
        assign(&mut core, &t1),
        vec![spawn_failed(
            &t1,
            "Failed to run task with an exception: No free port between [8100] and [8101] \
             (druid.indexer.runner.startPort/endPort)"
        )]
    );

    // The one listed port is held by a task here.
    let mut core = core_with(PortFinder::new(vec![8100], 1, 2, |_| true));
    let (t1, t2) = (task("t1"), task("t2"));
    assert_eq!(assign(&mut core, &t1), vec![launch(&t1, 8100)]);
    assert_eq!(
        assign(&mut core, &t2),
        vec![spawn_failed(
            &t2,
            "Failed to run task with an exception: No free port among [8100] \
             (druid.indexer.runner.ports)"
        )]
    );
    end_unstarted(
        &mut core,
        &t2,
        TaskEnd::SpawnFailed { error: "x" }.status("t2"),
    );
}

#[test]
fn a_run_that_fails_ends_its_task_with_a_worker_error() {
    let (mut core, t1) = started_t1();
    let failed = WorkerInput::RunFailed {
        id: "t1".into(),
        error: "task 12 panicked".into(),
    };
    let end = TaskAnnouncement::of(
        &t1,
        TaskStatus::failure(
            "t1",
            "MiddleManager error while running the task: task 12 panicked",
        ),
        TaskLocation::unknown(),
    );
    assert_eq!(
        core.handle(failed, t0()),
        vec![WorkerEffect::AnnounceStatus(end)]
    );
    assert_eq!(ids(core.completed_ids()), ["t1"]);
    let t2 = task("t2");
    assert_eq!(
        assign(&mut core, &t2),
        vec![launch(&t2, 8100)],
        "the port is released"
    );
}

// ----- requests --------------------------------------------------------------------------------

#[test]
fn a_shutdown_stops_the_peon_once() {
    let mut core = core();
    assign(&mut core, &task("t1"));
    let shutdown =
        |core: &mut WorkerCore, id: &str| core.handle(WorkerInput::Shutdown(id.into()), t0());
    assert_eq!(
        shutdown(&mut core, "t1"),
        vec![WorkerEffect::StopPeon("t1".into())]
    );
    assert_eq!(shutdown(&mut core, "t1"), vec![], "already asked");
    assert_eq!(shutdown(&mut core, "nope"), vec![], "not running here");
    assert_eq!(ids(core.running_ids()), ["t1"], "running until its end");
}

#[test]
fn disable_and_enable_reannounce_the_worker() {
    let mut core = core();
    assert_eq!(
        core.handle(WorkerInput::SetEnabled(false), t0()),
        vec![WorkerEffect::AnnounceWorker(disabled())]
    );
    assert_eq!(core.worker(), disabled());
    // A disabled worker still runs what it is assigned.
    let t1 = task("t1");
    assert_eq!(assign(&mut core, &t1), vec![launch(&t1, 8100)]);
    assert_eq!(
        core.handle(WorkerInput::SetEnabled(true), t0()),
        vec![WorkerEffect::AnnounceWorker(worker())]
    );
    assert_eq!(core.worker(), worker());
}

// ----- stopping --------------------------------------------------------------------------------

#[test]
fn a_stop_with_nothing_running_unannounces_at_once() {
    let mut core = core();
    assert_eq!(
        core.handle(WorkerInput::Stop, t0()),
        vec![
            WorkerEffect::AnnounceWorker(disabled()),
            WorkerEffect::Unannounce,
            WorkerEffect::Stopped
        ]
    );
    assert_eq!(core.next_deadline(), None);
    // A stopped core takes no more events.
    assert_eq!(assign(&mut core, &task("t1")), vec![]);
    assert_eq!(core.handle(WorkerInput::Stop, t0()), vec![]);
    assert_eq!(core.tick(later(t0(), 3600)), vec![]);
}

#[test]
fn a_stop_ends_the_peons_and_waits_for_the_overlord_to_record_the_ends() {
    let (mut core, t1) = started_t1();
    let t2 = task("t2");
    assign(&mut core, &t2);
    assert_eq!(
        core.handle(WorkerInput::Shutdown("t2".into()), t0()),
        vec![WorkerEffect::StopPeon("t2".into())]
    );
    assert_eq!(
        core.handle(WorkerInput::Stop, t0()),
        vec![
            WorkerEffect::AnnounceWorker(disabled()),
            WorkerEffect::StopPeon("t1".into())
        ],
        "t2's peon was already asked to stop"
    );
    assert_eq!(
        core.handle(WorkerInput::Stop, t0()),
        vec![],
        "stopping already"
    );
    assert_eq!(
        core.handle(WorkerInput::SetEnabled(true), t0()),
        vec![WorkerEffect::Refuse("the MiddleManager is stopping".into())]
    );
    assert_eq!(
        core.handle(WorkerInput::SetEnabled(false), t0()),
        vec![WorkerEffect::AnnounceWorker(disabled())]
    );
    assert_eq!(
        assign(&mut core, &task("t3")),
        vec![],
        "ignored while stopping"
    );
    // Known: removed even while stopping.
    assign_known(&mut core, &t1);

    let now = later(t0(), 1);
    let end1 = end_of(&t1, TaskEnd::ExitCode(143).status("t1"), at(8100));
    assert_eq!(
        ended(&mut core, &end1, now),
        vec![WorkerEffect::AnnounceStatus(end1)]
    );
    assert_eq!(core.next_deadline(), None, "t2 still runs");
    let end2 = end_of(
        &t2,
        TaskEnd::ShutdownBeforeStart.status("t2"),
        TaskLocation::unknown(),
    );
    ended(&mut core, &end2, now);
    assert_eq!(core.next_deadline(), Some(later(now, 5)));

    assert_eq!(recorded(&mut core, "t1", later(now, 1)).len(), 1);
    assert_eq!(
        recorded(&mut core, "t2", later(now, 2)),
        vec![
            WorkerEffect::ForgetCompleted("t2".into()),
            WorkerEffect::Unannounce,
            WorkerEffect::Stopped
        ]
    );
    assert_eq!(core.next_deadline(), None);
}

#[test]
fn a_stop_leaves_once_the_wait_for_the_overlord_runs_out() {
    let (mut core, t1) = started_t1();
    core.handle(WorkerInput::Stop, t0());
    let end = end_of(&t1, TaskEnd::ExitCode(143).status("t1"), at(8100));
    ended(&mut core, &end, t0());
    let deadline = later(t0(), 5);
    assert_eq!(core.next_deadline(), Some(deadline));
    assert_eq!(core.tick(later(t0(), 4)), vec![]);
    assert_eq!(
        core.tick(deadline),
        vec![WorkerEffect::Unannounce, WorkerEffect::Stopped]
    );
    assert_eq!(
        ids(core.completed_ids()),
        ["t1"],
        "the end stays in completedTasks for the next start"
    );
    assert_eq!(core.next_deadline(), None);
    assert_eq!(recorded(&mut core, "t1", deadline), vec![]);
}

#[test]
fn a_stop_with_only_unrecorded_ends_waits_for_their_removal() {
    let done = task("done");
    let end = end_of(&done, TaskStatus::success("done"), at(8100));
    let restored = Restored {
        completed: BTreeMap::from([("done".to_string(), end)]),
        tasks: vec![],
    };
    let mut core = restart(range(8100, 8199), restored, vec![]);
    assert_eq!(
        core.handle(WorkerInput::Stop, t0()),
        vec![WorkerEffect::AnnounceWorker(disabled())]
    );
    assert_eq!(core.next_deadline(), Some(later(t0(), 5)));
}

// ----- restart ---------------------------------------------------------------------------------

#[test]
fn a_restart_reannounces_what_it_found_and_repairs_what_nobody_explains() {
    let (done, adopted, finished) = (task("done"), task("adopted"), task("finished"));
    let done_end = end_of(&done, TaskStatus::success("done"), at(8102));
    let record = PeonRecord {
        pid: 4242,
        attempt: 2,
        port: 8100,
        start_time: t0(),
    };
    let finished_status = TaskStatus::success("finished").with_location(at(8101));
    let restored = Restored {
        completed: BTreeMap::from([("done".to_string(), done_end.clone())]),
        tasks: vec![
            (adopted.clone(), Plan::Adopt(record.clone())),
            (
                finished.clone(),
                Plan::Finish {
                    status: finished_status.clone(),
                    attempt: Some(1),
                },
            ),
        ],
    };
    let elsewhere = TaskLocation::new("mm-old", 8105);
    let ghost = TaskAnnouncement::of(
        &task("ghost"),
        TaskStatus::running("ghost").with_location(elsewhere.clone()),
        elsewhere.clone(),
    );
    let lost = TaskAnnouncement::of(
        &task("lost"),
        TaskStatus::failure("lost", "its own end"),
        TaskLocation::unknown(),
    );
    let held = vec![
        ghost.clone(),
        lost,
        done_end.clone(),
        TaskAnnouncement::of(&adopted, TaskStatus::running("adopted"), at(8100)),
        TaskAnnouncement::of(&finished, TaskStatus::running("finished"), at(8101)),
    ];
    let (mut core, out) = WorkerCore::start(worker(), PEON_HOST, range(8100, 8199), restored, held);

    let ghost_failed = TaskAnnouncement {
        status: TaskState::Failed,
        task_status: TaskStatus::failure(
            "ghost",
            "Canceled as unknown task after MiddleManager restart",
        )
        .with_location(elsewhere),
        ..ghost
    };
    assert_eq!(
        out,
        vec![
            WorkerEffect::AnnounceStatus(done_end),
            WorkerEffect::AnnounceStatus(TaskAnnouncement::of(
                &adopted,
                TaskStatus::running("adopted").with_location(at(8100)),
                at(8100)
            )),
            WorkerEffect::AnnounceStatus(ghost_failed),
            WorkerEffect::AnnounceWorker(worker()),
            WorkerEffect::Run {
                task: adopted.clone(),
                plan: Plan::Adopt(record)
            },
            WorkerEffect::Run {
                task: finished.clone(),
                plan: Plan::Finish {
                    status: finished_status.clone(),
                    attempt: Some(1)
                }
            },
        ]
    );
    assert_eq!(ids(core.running_ids()), ["adopted", "finished"]);
    assert_eq!(ids(core.completed_ids()), ["done"]);

    // The adopted peon holds its port; a stale assignment of a restored task is not run again:
    // kept until the task's end is announced, which removes it, as for any unstarted task.
    let fresh = task("fresh");
    assert_eq!(assign(&mut core, &fresh), vec![launch(&fresh, 8101)]);
    assert_eq!(assign(&mut core, &finished), vec![]);
    assign_known(&mut core, &adopted);

    // An adopted task's start was announced long ago: its end only announces.
    let end = end_of(&adopted, TaskStatus::success("adopted"), at(8100));
    assert_eq!(
        ended(&mut core, &end, t0()),
        vec![WorkerEffect::AnnounceStatus(end)]
    );
    // The finished one's assignment was never removed by a start: its end removes it.
    let end = end_of(&finished, finished_status, at(8101));
    assert_eq!(
        ended(&mut core, &end, t0()),
        vec![
            WorkerEffect::RemoveAssignment("finished".into()),
            WorkerEffect::AnnounceStatus(end)
        ]
    );
}

// ----- invariants ------------------------------------------------------------------------------

/// A core stopping while task t1 still runs.
fn stopping_with_t1() -> WorkerCore {
    let mut core = core();
    assign(&mut core, &task("t1"));
    core.handle(WorkerInput::Stop, t0());
    core
}

#[test]
#[should_panic(expected = "task t1 is both running and completed")]
fn a_task_both_running_and_completed_is_caught() {
    let mut core = core();
    let t1 = task("t1");
    assign(&mut core, &t1);
    let end = end_of(&t1, TaskStatus::success("t1"), TaskLocation::unknown());
    core.completed.insert("t1".into(), end);
    core.check_invariants();
}

#[test]
#[should_panic(expected = "the ports marked used are not those the running tasks hold")]
fn a_port_released_behind_a_running_task_is_caught() {
    let mut core = core();
    assign(&mut core, &task("t1"));
    core.ports.release(8100);
    core.check_invariants();
}

#[test]
#[should_panic(expected = "port 8100 is held by two tasks")]
fn two_tasks_on_one_port_are_caught() {
    let record = |pid| PeonRecord {
        pid,
        attempt: 1,
        port: 8100,
        start_time: t0(),
    };
    let restored = Restored {
        completed: BTreeMap::new(),
        tasks: vec![
            (task("a"), Plan::Adopt(record(1))),
            (task("b"), Plan::Adopt(record(2))),
        ],
    };
    restart(range(8100, 8199), restored, vec![]).check_invariants();
}

#[test]
#[should_panic(expected = "task t1 runs on while stopping")]
fn a_peon_left_running_by_a_stop_is_caught() {
    let mut core = stopping_with_t1();
    core.running.get_mut("t1").unwrap().stop_requested = false;
    core.check_invariants();
}

#[test]
#[should_panic(expected = "the wait for removals is set with peons running")]
fn a_removal_wait_begun_too_early_is_caught() {
    let mut core = stopping_with_t1();
    core.phase = Phase::Stopping {
        removal_deadline: Some(t0()),
    };
    core.check_invariants();
}

/// Debug builds check after every event, so a corruption shows at the next one.
#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "a stopping worker is announced enabled")]
fn debug_builds_check_the_invariants_after_every_event() {
    let mut core = stopping_with_t1();
    core.enabled = true;
    assign(&mut core, &task("t2"));
}
