//! The lockbox inside the core: readiness, lock actions, the publish's critical section and a
//! new leader's restore, driven through the core's own entry points.

use super::*;
use crate::lockbox::LockPersist;
use crate::test_support::*;
use crate::{QueueConfig, RunnerConfig};
use serde_json::json;
use steward_model::coordination::RunnerEvent;
use steward_model::{TaskAnnouncement, TaskLocation, TaskStatus};

const H: &str = "mm-a:8091";
const MONTH: &str = "2024-01-01/2024-02-01";
const DAY: &str = "2024-01-01/2024-01-02";

fn iv(s: &str) -> Interval {
    s.parse().unwrap()
}

fn kill(id: &str, interval: &str) -> Task {
    Task::from_json(json!({"type": "kill", "id": id, "dataSource": "wiki", "interval": interval}))
        .unwrap()
}

fn writer(id: &str, priority: i64) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "dataSource": "wiki",
                           "context": {"priority": priority}}))
    .unwrap()
}

fn exclusive(interval: &str) -> LockRequest {
    LockRequest {
        lock_type: TaskLockType::Exclusive,
        interval: iv(interval),
        preferred_version: None,
    }
}

/// A started core with one worker of `capacity` slots.
fn core_with_worker(capacity: u32, now: Timestamp) -> OverlordCore {
    let mut core = OverlordCore::new(QueueConfig::default(), RunnerConfig::default());
    core.start(Vec::new(), Vec::new(), now);
    core.cluster_event(RunnerEvent::WorkerAdded(worker(H, capacity)), now);
    core.cluster_event(RunnerEvent::WorkerInitialized(H.into()), now);
    core
}

fn submit(core: &mut OverlordCore, task: &Task, now: Timestamp) -> Vec<IoEffect> {
    core.reserve(task, now).unwrap();
    core.inserted(task.id(), now)
}

fn assigned(effects: &[IoEffect], id: &str) -> bool {
    effects
        .iter()
        .any(|e| matches!(e, IoEffect::Assign { task, .. } if task.id() == id))
}

fn lock_rows(effects: &[IoEffect]) -> Vec<LockPersist> {
    effects
        .iter()
        .filter_map(|e| match e {
            IoEffect::PersistLocks(rows) => Some(rows.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn take(core: &mut OverlordCore, id: &str, interval: &str, now: Timestamp) -> TaskLock {
    match core.lock_try_acquire(id, &exclusive(interval), now) {
        (Ok(LockResult::Acquired(lock)), effects) => {
            assert_eq!(
                lock_rows(&effects),
                vec![LockPersist::Insert {
                    task_id: id.into(),
                    lock: lock.clone()
                }]
            );
            lock
        }
        (other, _) => panic!("{id} did not get {interval}: {other:?}"),
    }
}

/// Records the end the runner reported; returns what recording it caused.
fn record_end(core: &mut OverlordCore, effects: Vec<IoEffect>, now: Timestamp) -> Vec<IoEffect> {
    let status = effects
        .iter()
        .find_map(|e| match e {
            IoEffect::PersistStatus(s) => Some(s.clone()),
            _ => None,
        })
        .expect("an end to record");
    core.persisted(&status.id, true, now)
}

#[derive(Debug, Clone, Copy)]
enum End {
    Success,
    Failure,
    UserShutdown,
    WorkerLost,
}

#[test]
fn a_kill_waits_for_a_held_interval_and_runs_once_the_holder_ends_however_it_ends() {
    for end in [
        End::Success,
        End::Failure,
        End::UserShutdown,
        End::WorkerLost,
    ] {
        let now = t0();
        let mut core = core_with_worker(2, now);
        let holder = writer("holder", 50);
        assert!(assigned(&submit(&mut core, &holder, now), "holder"));
        core.cluster_event(
            RunnerEvent::StatusAnnounced {
                worker: H.into(),
                announcement: TaskAnnouncement::of(
                    &holder,
                    TaskStatus::running("holder"),
                    TaskLocation::unknown(),
                ),
            },
            now,
        );
        let lock = take(&mut core, "holder", MONTH, now);

        // The kill (priority 0) cannot revoke a priority-50 lock: it waits, holding nothing.
        let k = kill("k", DAY);
        let effects = submit(&mut core, &k, now);
        assert!(!assigned(&effects, "k"), "{end:?}: {effects:?}");
        assert!(
            lock_rows(&effects).is_empty(),
            "{end:?}: gave back what it took"
        );
        assert!(core.lockbox.find_locks("k").is_empty());

        let ended = match end {
            End::Success | End::Failure => {
                let status = match end {
                    End::Success => TaskStatus::success("holder"),
                    _ => TaskStatus::failure("holder", "boom"),
                };
                core.cluster_event(
                    RunnerEvent::StatusAnnounced {
                        worker: H.into(),
                        announcement: TaskAnnouncement::of(
                            &holder,
                            status,
                            TaskLocation::unknown(),
                        ),
                    },
                    now,
                )
            }
            End::UserShutdown => core.shutdown("holder", "user", now).1,
            End::WorkerLost => {
                core.cluster_event(RunnerEvent::WorkerRemoved(H.into()), now);
                core.cluster_event(RunnerEvent::WorkerAdded(worker("mm-b:8091", 1)), now);
                core.cluster_event(RunnerEvent::WorkerInitialized("mm-b:8091".into()), now);
                core.tick(later(now, 3600))
            }
        };
        // Until the end is recorded the holder keeps its lock.
        assert_eq!(core.lockbox.find_locks("holder"), vec![lock.clone()]);
        let recorded = record_end(&mut core, ended, later(now, 3600));
        let rows = lock_rows(&recorded);
        assert_eq!(
            rows[0],
            LockPersist::Delete {
                task_id: "holder".into(),
                lock
            },
            "{end:?}: released first"
        );
        assert!(
            matches!(&rows[1], LockPersist::Insert { task_id, lock } if task_id == "k" && lock.interval == iv(DAY)),
            "{end:?}: then the kill takes the day: {rows:?}"
        );
        assert!(assigned(&recorded, "k"), "{end:?}: {recorded:?}");
        core.check_invariants();
    }
}

#[test]
fn a_publish_pins_its_locks_against_revocation_until_it_ends() {
    let now = t0();
    let mut core = core_with_worker(2, now);
    submit(&mut core, &writer("low", 10), now);
    submit(&mut core, &writer("high", 80), now);
    let lock = take(&mut core, "low", DAY, now);
    let segment = SegmentCoverage {
        id: "s".into(),
        data_source: "wiki".into(),
        interval: iv(DAY),
        version: lock.version.clone(),
    };
    assert_eq!(
        core.begin_publish("low", std::slice::from_ref(&segment), None),
        Ok(PublishGate::Go)
    );
    // While the publish is under way the higher priority cannot revoke the lock.
    let (result, effects) = core.lock_try_acquire("high", &exclusive(DAY), now);
    assert_eq!(result, Ok(LockResult::Unavailable));
    assert!(effects.is_empty());
    core.end_publish("low", now);
    let (result, effects) = core.lock_try_acquire("high", &exclusive(DAY), now);
    assert!(matches!(result, Ok(LockResult::Acquired(_))), "{result:?}");
    assert!(lock_rows(&effects).contains(&LockPersist::Replace {
        task_id: "low".into(),
        old: lock.clone(),
        new: lock.revoked()
    }));
    // The revoked lock covers nothing any more.
    assert!(matches!(
        core.begin_publish("low", &[segment], None),
        Err(ActionRefused::Conflict(m)) if m.contains("not covered")
    ));
    core.check_invariants();
}

#[test]
fn a_task_ending_during_its_publish_keeps_its_locks_until_the_publish_ends() {
    let now = t0();
    let mut core = core_with_worker(2, now);
    submit(&mut core, &writer("w", 50), now);
    let lock = take(&mut core, "w", MONTH, now);
    let gate = core.begin_publish(
        "w",
        &[SegmentCoverage {
            id: "s".into(),
            data_source: "wiki".into(),
            interval: iv(DAY),
            version: lock.version.clone(),
        }],
        None,
    );
    assert_eq!(gate, Ok(PublishGate::Go));
    let k = kill("k", DAY);
    submit(&mut core, &k, now);
    let (found, ended) = core.shutdown("w", "user", now);
    assert!(found);
    let recorded = record_end(&mut core, ended, now);
    assert!(
        lock_rows(&recorded).is_empty(),
        "the release waits: {recorded:?}"
    );
    assert!(!assigned(&recorded, "k"));
    let after = core.end_publish("w", now);
    assert_eq!(
        lock_rows(&after)[0],
        LockPersist::Delete {
            task_id: "w".into(),
            lock
        }
    );
    assert!(assigned(&after, "k"), "{after:?}");
    assert!(core.lock_releases() > 0);
    core.check_invariants();
}

#[test]
fn actions_of_a_task_that_is_not_active_here_are_refused() {
    let now = t0();
    let mut core = core_with_worker(1, now);
    let (result, effects) = core.lock_try_acquire("ghost", &exclusive(DAY), now);
    assert_eq!(result, Err(ActionRefused::NotActive("ghost".into())));
    assert!(effects.is_empty());
    assert!(core.task_locks("ghost").is_err());
    assert!(core.lock_release("ghost", &iv(DAY), now).0.is_err());
    submit(&mut core, &writer("w", 50), now);
    let (found, _) = core.shutdown("w", "user", now);
    assert!(found);
    // Its end is being recorded: it can no longer act.
    assert_eq!(
        core.lock_try_acquire("w", &exclusive(DAY), now).0,
        Err(ActionRefused::NotActive("w".into()))
    );
}

#[test]
fn a_new_leader_takes_the_stored_locks_again_and_shuts_down_a_group_it_cannot() {
    let now = t0();
    let (a, b) = (writer("a", 50), writer("b", 50));
    let lock = |group: &str, version: &str| TaskLock {
        granularity: steward_model::LockGranularity::TimeChunk,
        lock_type: TaskLockType::Exclusive,
        group_id: group.into(),
        data_source: "wiki".into(),
        interval: iv(DAY),
        version: version.into(),
        priority: Some(50),
        revoked: false,
    };
    // Two exclusive locks on one day cannot both be held: the older version is taken first.
    let stored = vec![
        ("b".to_string(), lock("b", "2024-06-02T00:00:00.000Z")),
        ("a".to_string(), lock("a", "2024-06-01T00:00:00.000Z")),
    ];
    let mut core = OverlordCore::new(QueueConfig::default(), RunnerConfig::default());
    let effects = core.start(vec![(a, now), (b, now)], stored, now);
    assert_eq!(
        core.lockbox.find_locks("a"),
        vec![lock("a", "2024-06-01T00:00:00.000Z")]
    );
    let ended: Vec<&TaskStatus> = effects
        .iter()
        .filter_map(|e| match e {
            IoEffect::PersistStatus(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(ended.len(), 1, "{effects:?}");
    assert_eq!(ended[0].id, "b");
    assert_eq!(
        ended[0].error_msg.as_deref(),
        Some("Shutting down forcefully as task failed to reacquire lock while becoming leader")
    );
    core.check_invariants();
}

#[test]
fn an_appending_task_leaves_its_pending_segments_to_be_deleted_when_its_end_is_recorded() {
    let now = t0();
    let mut core = core_with_worker(2, now);
    submit(&mut core, &writer("appender", 50), now);
    submit(&mut core, &writer("plain", 50), now);
    let append = LockRequest {
        lock_type: TaskLockType::Append,
        interval: iv(DAY),
        preferred_version: None,
    };
    let (result, _) = core.lock_try_acquire("appender", &append, now);
    assert!(matches!(result, Ok(LockResult::Acquired(_))));
    take(&mut core, "plain", "2024-02-01/2024-02-02", now);
    let cleanup = |effects: &[IoEffect]| {
        effects
            .iter()
            .filter(|e| matches!(e, IoEffect::DeletePendingSegments { .. }))
            .cloned()
            .collect::<Vec<_>>()
    };
    let ended = core.shutdown("appender", "user", now).1;
    let recorded = record_end(&mut core, ended, now);
    assert_eq!(
        cleanup(&recorded),
        vec![IoEffect::DeletePendingSegments {
            task_allocator_id: "appender".into()
        }]
    );
    let ended = core.shutdown("plain", "user", now).1;
    let recorded = record_end(&mut core, ended, now);
    assert!(cleanup(&recorded).is_empty());
}
