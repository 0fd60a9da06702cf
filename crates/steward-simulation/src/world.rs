//! One run of the whole cluster: the leading Overlord's core, several MiddleManagers (each a
//! `WorkerCore` with its peons and its disk), the coordinator, the store and the users, driven
//! by one seeded generator through faults — worker sessions expiring, MiddleManagers crashing
//! and restarting, peons crashing, watch events coalesced and re-read in another order, writes
//! landing late or not at all, Overlord failovers — and checked after every step.
//!
//! What is checked, after every step: each core's own invariants; no two workers run a task
//! unless all but one copy are ones the Overlord withdrew (and will shut down when it sees
//! them); no end is recorded twice. When the Overlord assigns a task: it is stored and active,
//! the worker is one it sees announced, enabled and not blacklisted, the task fits the worker's
//! capacity and is the only one of its availability group there, and no other worker holds,
//! is being assigned or has an assignment of it unless that copy was withdrawn. When an end is
//! persisted: the queue holds it as completing. The locks: a kill is handed to the runner only
//! holding a lock on its interval, a publish in flight keeps its locks unrevoked, and once no
//! lock write is in flight the store's lock rows of each active task are exactly the locks the
//! leader holds; a new leader holds only locks it read from the store. A user's shutdown finds
//! exactly the tasks that are waiting or running, a resubmission is refused exactly while the
//! task is active.
//! After the run, once everything is let finish: every stored task ended exactly once, every
//! slot is free, no deadline or blacklisting is left, and every map of every core, every znode
//! and every peon is gone.
//!
//! It is one long file because the steps, the Overlord's driver and the checks work on the same
//! state and are read together when a seed fails; the worker side is in `mm`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use steward_model::coordination::RunnerEvent;
use steward_model::time::format_ts;
use steward_model::{Interval, LockGranularity, Task, TaskKind, TaskLock, TaskLockType};
use steward_overlord::{
    ActionRefused, Entry, EntryState, IoEffect, LockPersist, LockRequest, LockResult, PublishGate,
    QueueError, SegmentCoverage, WorkerView,
};

use crate::mm::Mm;
use crate::overlord::Leader;
use crate::rng::Rng;
use crate::store::Store;
use crate::trace;
use crate::zk::Tree;

/// What a run exercised: a run that never expires a session proves nothing about sessions.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub tasks: usize,
    pub assigns: usize,
    pub withdrawals: usize,
    pub worker_shutdowns: usize,
    pub ends_recorded: usize,
    pub session_expiries: usize,
    pub mm_crashes: usize,
    pub mm_stops: usize,
    pub peon_crashes: usize,
    pub failovers: usize,
    pub reconnects: usize,
    /// Tasks run on a second worker while a withdrawn copy still ran on the first.
    pub stale_copies: usize,
    /// Tasks held by a worker that was away when a new leader started (see `failover`).
    pub orphaned: usize,
    /// Locks a peon's `lockTryAcquire` was granted.
    pub locks_acquired: usize,
    /// Lock rows marked revoked (one per task holding the lock).
    pub revocations: usize,
    /// Publishes that passed their lock check and pinned their locks.
    pub publishes: usize,
    /// Kill tasks assigned to a worker, which the Overlord does only once they hold their lock.
    pub kills_run: usize,
    /// Task groups a new leader shut down because it could not take one of their stored locks
    /// again.
    pub groups_failed_at_restore: usize,
}

impl Stats {
    pub fn add(&mut self, other: &Stats) {
        self.tasks += other.tasks;
        self.assigns += other.assigns;
        self.withdrawals += other.withdrawals;
        self.worker_shutdowns += other.worker_shutdowns;
        self.ends_recorded += other.ends_recorded;
        self.session_expiries += other.session_expiries;
        self.mm_crashes += other.mm_crashes;
        self.mm_stops += other.mm_stops;
        self.peon_crashes += other.peon_crashes;
        self.failovers += other.failovers;
        self.reconnects += other.reconnects;
        self.stale_copies += other.stale_copies;
        self.orphaned += other.orphaned;
        self.locks_acquired += other.locks_acquired;
        self.revocations += other.revocations;
        self.publishes += other.publishes;
        self.kills_run += other.kills_run;
        self.groups_failed_at_restore += other.groups_failed_at_restore;
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} tasks, {} assignments, {} withdrawn, {} worker shutdowns, {} ends recorded, \
             {} session expiries, {} MiddleManager crashes, {} clean stops, {} peon crashes, \
             {} failovers, {} reconnects, {} stale copies, {} orphaned by a failover, \
             {} locks acquired, {} revocations, {} publishes, {} kills run, \
             {} groups failed at restore",
            self.tasks,
            self.assigns,
            self.withdrawals,
            self.worker_shutdowns,
            self.ends_recorded,
            self.session_expiries,
            self.mm_crashes,
            self.mm_stops,
            self.peon_crashes,
            self.failovers,
            self.reconnects,
            self.stale_copies,
            self.orphaned,
            self.locks_acquired,
            self.revocations,
            self.publishes,
            self.kills_run,
            self.groups_failed_at_restore
        )
    }
}

/// The steps, with their base weights; each run multiplies each weight by 1, 1, 3 or 6 so runs
/// differ in mix (slow feeds, heavy churn, many failovers, ...).
#[derive(Clone, Copy, Debug)]
enum Step {
    Submit,
    FinishInsert,
    OverlordIo,
    OverlordFeed,
    WorkerFeed,
    WorkerRun,
    Peon,
    PeonAction,
    PeonCrash,
    Session,
    MmCrash,
    MmStop,
    SetEnabled,
    UserShutdown,
    DataSourceShutdown,
    Resubmit,
    Time,
    NextDeadline,
    OverlordReconnect,
    Failover,
    Reconcile,
}

const STEPS: [(Step, u64); 21] = [
    (Step::Submit, 16),
    (Step::FinishInsert, 4),
    (Step::OverlordIo, 24),
    (Step::OverlordFeed, 24),
    (Step::WorkerFeed, 16),
    (Step::WorkerRun, 16),
    (Step::Peon, 20),
    (Step::PeonAction, 30),
    (Step::PeonCrash, 1),
    (Step::Session, 2),
    (Step::MmCrash, 1),
    (Step::MmStop, 1),
    (Step::SetEnabled, 2),
    (Step::UserShutdown, 3),
    (Step::DataSourceShutdown, 1),
    (Step::Resubmit, 2),
    (Step::Time, 8),
    (Step::NextDeadline, 2),
    (Step::OverlordReconnect, 1),
    (Step::Failover, 1),
    (Step::Reconcile, 1),
];

const SHUTDOWN_BY_USER: &str = "Shutdown request from user";

/// Druid's reason for shutting down a task whose stored lock a new leader could not take again.
const LOCK_NOT_REACQUIRED: &str =
    "Shutting down forcefully as task failed to reacquire lock while becoming leader";

/// The intervals tasks lock and kill, few and overlapping so that they contend: two days, both
/// together, and one straddling them.
const INTERVALS: [&str; 4] = [
    "2024-01-01/2024-01-02",
    "2024-01-02/2024-01-03",
    "2024-01-01/2024-01-03",
    "2024-01-01T12:00:00Z/2024-01-02T12:00:00Z",
];

/// Whether a user's shutdown stops the task: it waits or runs, its end not yet decided.
fn stoppable(entry: &Entry) -> bool {
    matches!(entry.state, EntryState::Waiting | EntryState::Submitted)
}

pub struct World {
    rng: Rng,
    now: Timestamp,
    tree: Tree,
    store: Store,
    leader: Leader,
    mms: BTreeMap<String, Mm>,
    /// Tasks reserved in the core whose store insert is under way.
    inserting: Vec<Task>,
    /// (worker, task) copies the Overlord withdrew: one still running there is stale.
    withdrawn: BTreeSet<(String, String)>,
    weights: Vec<u64>,
    next_id: u64,
    stats: Stats,
}

impl World {
    pub fn new(seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let weights = STEPS
            .iter()
            .map(|(_, w)| w * [1, 1, 3, 6][rng.below(4)])
            .collect();
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let mut tree = Tree::default();
        let mut mms = BTreeMap::new();
        for (i, capacity) in [3, 1, 2, 1, 2].into_iter().enumerate() {
            let mut mm = Mm::new(&format!("mm-{i}"), capacity);
            mm.start(&mut tree, now);
            mms.insert(mm.host().to_string(), mm);
        }
        let store = Store::default();
        let (leader, effects) = Leader::elect(1, &mut tree, &store, now);
        let mut world = World {
            rng,
            now,
            tree,
            store,
            leader,
            mms,
            inserting: Vec::new(),
            withdrawn: BTreeSet::new(),
            weights,
            next_id: 0,
            stats: Stats::default(),
        };
        world.take(effects);
        world
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    // ----- the Overlord's driver ------------------------------------------------------------

    /// Takes the effects of one call to the core into the driver, in the order emitted,
    /// checking what an assignment promises against the core's state right after the call
    /// (within one call nothing takes back what an assignment was decided on).
    fn take(&mut self, effects: Vec<IoEffect>) {
        let mut views = None;
        for effect in effects {
            trace::line(|| format!("  overlord: {effect:?}"));
            match &effect {
                IoEffect::Assign { worker, task } => {
                    let views = views.get_or_insert_with(|| self.leader.core.workers());
                    self.check_assignment(&worker.host, task, views);
                    // A copy withdrawn from that worker is the Overlord's again only once the
                    // assignment lands (see `overlord_io`): until then a new leader would not
                    // find it there.
                    self.stats.assigns += 1;
                    if matches!(task.kind(), TaskKind::Kill(_)) {
                        self.stats.kills_run += 1;
                    }
                }
                IoEffect::PersistLocks(changes) => {
                    self.stats.revocations += changes
                        .iter()
                        .filter(|c| {
                            matches!(c, LockPersist::Replace { old, new, .. }
                                if new.revoked && !old.revoked)
                        })
                        .count();
                }
                IoEffect::RemoveAssignment { worker, task_id } => {
                    self.stats.withdrawals += 1;
                    self.withdrawn.insert((worker.clone(), task_id.clone()));
                }
                IoEffect::ShutdownOnWorker { worker, task_id } => {
                    self.stats.worker_shutdowns += 1;
                    self.withdrawn
                        .insert((worker.host.clone(), task_id.clone()));
                }
                IoEffect::RemoveStatus { .. }
                | IoEffect::PersistStatus(_)
                | IoEffect::DeletePendingSegments { .. } => {}
            }
            self.leader.io.push(effect);
        }
    }

    /// What the Overlord promises when it assigns `task` to `host` (`views`: its workers right
    /// after the call that assigned it).
    fn check_assignment(&self, host: &str, task: &Task, views: &[WorkerView]) {
        let id = task.id();
        assert!(
            self.store.is_active(id),
            "{id} assigned but not stored or already ended"
        );
        let view = views
            .iter()
            .find(|v| v.worker.host == host)
            .unwrap_or_else(|| panic!("{id} assigned to {host}, which is not announced"));
        assert!(
            view.worker.is_enabled() && view.blacklisted_until.is_none(),
            "{id} assigned to {host}, which is disabled or blacklisted: {view:?}"
        );
        assert!(
            view.curr_capacity_used <= view.worker.capacity,
            "{id} assigned to {host} beyond its capacity: {view:?}"
        );
        assert!(
            view.running_tasks.iter().any(|t| t == id),
            "{id} assigned to {host}, which does not count it: {view:?}"
        );
        let group = &task.resource().availability_group;
        let same_group = view
            .running_tasks
            .iter()
            .filter(|t| self.store.task(t).map(|t| &t.resource().availability_group) == Some(group))
            .count();
        assert_eq!(same_group, 1, "two tasks of group {group} on {host}");
        // Anywhere else, only a copy the Overlord withdrew may be on its way or held.
        let current =
            |h: &str| h != host && !self.withdrawn.contains(&(h.to_string(), id.to_string()));
        for pending in &self.leader.io {
            if let IoEffect::Assign { worker, task } = pending {
                assert!(
                    task.id() != id || !current(&worker.host),
                    "{id} assigned to {host} while its assignment to {} is under way",
                    worker.host
                );
            }
        }
        for (h, t) in self.tree.assignments() {
            assert!(
                t != id || !current(h),
                "{id} assigned to {host} while assigned to {h}"
            );
        }
        for mm in self.mms.values() {
            assert!(
                !current(mm.host()) || !mm.holds(id),
                "{id} assigned to {host} while {} holds it",
                mm.host()
            );
        }
    }

    /// Carries out one of the leader's pending effects: any of them, as the driver runs each
    /// on its own task, except one behind an earlier effect with the same target, which the
    /// driver's lane holds back until that one is done, and lock rows behind earlier lock
    /// rows, which the driver's one writer writes in order.
    fn overlord_io(&mut self) {
        let io = &self.leader.io;
        let ready: Vec<usize> = (0..io.len())
            .filter(|&i| match &io[i] {
                IoEffect::PersistLocks(_) => !io[..i]
                    .iter()
                    .any(|e| matches!(e, IoEffect::PersistLocks(_))),
                effect => {
                    let target = effect.target();
                    target.is_none() || io[..i].iter().all(|e| e.target() != target)
                }
            })
            .collect();
        if ready.is_empty() {
            return;
        }
        let at = ready[self.rng.below(ready.len())];
        let effect = self.leader.io.remove(at);
        trace::line(|| format!("  overlord carries out {effect:?}"));
        let now = self.now;
        let effects = match effect {
            // Now and then the write fails for another reason than a vanished worker (the
            // coordinator out for longer than an assignment may wait): the task ends FAILED.
            IoEffect::Assign { worker, task } if self.rng.chance(2) => self
                .leader
                .core
                .assign_failed(task.id(), &worker.host, false, now),
            IoEffect::Assign { worker, task } => {
                let term = self.leader.term;
                match self.tree.assign(term, term, &worker.host, &task) {
                    Ok(()) => {
                        // The copy there is current again, unless the Overlord has withdrawn
                        // it once more since it emitted this assignment. A withdrawal emitted
                        // before is not looked at: landing after the assignment, it would
                        // leave the worker a copy the Overlord believes current, which is the
                        // bug the lanes prevent and this check must catch.
                        let key = (worker.host.clone(), task.id().to_string());
                        let withdrawn_again = self.leader.io[at..].iter().any(|e| {
                            e.target() == Some((&key.0, &key.1))
                                && matches!(
                                    e,
                                    IoEffect::RemoveAssignment { .. }
                                        | IoEffect::ShutdownOnWorker { .. }
                                )
                        });
                        if !withdrawn_again {
                            self.withdrawn.remove(&key);
                        }
                        Vec::new()
                    }
                    Err(gone) => self
                        .leader
                        .core
                        .assign_failed(task.id(), &worker.host, gone, now),
                }
            }
            IoEffect::RemoveAssignment { worker, task_id } => {
                self.tree.remove_assignment(&worker, &task_id);
                Vec::new()
            }
            IoEffect::RemoveStatus { worker, task_id } => {
                self.tree.remove_status(&worker, &task_id);
                Vec::new()
            }
            IoEffect::ShutdownOnWorker { worker, task_id } => {
                let mm = self.mms.get_mut(&worker.host).expect("a known worker");
                mm.shutdown(&task_id, &mut self.tree, now);
                Vec::new()
            }
            IoEffect::PersistStatus(status) => {
                assert!(
                    self.leader.core.completing_status(&status.id).is_some(),
                    "{} persisted but not completing",
                    status.id
                );
                let changed = self.store.set_status(&status);
                if changed {
                    self.stats.ends_recorded += 1;
                }
                self.leader.core.persisted(&status.id, changed, now)
            }
            // The writer writes a batch change by change; a whole batch in one step differs
            // only at a failover, where `failover` cuts it anywhere.
            IoEffect::PersistLocks(changes) => {
                for change in &changes {
                    self.store.write_lock(change);
                }
                Vec::new()
            }
            // No pending segments are modelled (no task here allocates any).
            IoEffect::DeletePendingSegments { .. } => Vec::new(),
        };
        self.take(effects);
    }

    fn overlord_feed(&mut self) {
        let events = self.leader.feed.next(&mut self.tree);
        self.deliver(events);
    }

    /// Feeds the coordinator's events to the core, taking each one's effects on their own.
    fn deliver(&mut self, events: Vec<RunnerEvent>) {
        for event in events {
            trace::line(|| format!("  overlord <- {event:?}"));
            let effects = self.leader.core.cluster_event(event, self.now);
            self.take(effects);
        }
    }

    /// The leader loses its session: a new term starts. Of the old leader's effects under way,
    /// some landed before the end of its term: its assignments did not (they are fenced), any
    /// other effect may have, unless one before it in its lane did not (the driver drops what
    /// waits in a lane once the term is over); of the lock rows, those its writer wrote before
    /// it stopped, a prefix in the order emitted. The publishes in flight end with the term:
    /// their pins were the old leader's.
    fn failover(&mut self) {
        self.stats.failovers += 1;
        let mut stopped: BTreeSet<(String, String)> = BTreeSet::new();
        let mut writer_stopped = false;
        for effect in std::mem::take(&mut self.leader.io) {
            if let IoEffect::PersistLocks(changes) = &effect {
                for change in changes {
                    writer_stopped = writer_stopped || !self.rng.chance(75);
                    if writer_stopped {
                        break;
                    }
                    self.store.write_lock(change);
                }
                continue;
            }
            let target = effect
                .target()
                .map(|(worker, task)| (worker.to_string(), task.to_string()));
            if target.as_ref().is_some_and(|t| stopped.contains(t)) {
                continue;
            }
            let landed = !matches!(effect, IoEffect::Assign { .. }) && self.rng.chance(50);
            if !landed {
                stopped.extend(target);
                continue;
            }
            match effect {
                IoEffect::PersistStatus(status) => {
                    if self.store.set_status(&status) {
                        self.stats.ends_recorded += 1;
                    }
                }
                IoEffect::RemoveStatus { worker, task_id } => {
                    self.tree.remove_status(&worker, &task_id)
                }
                IoEffect::RemoveAssignment { worker, task_id } => {
                    self.tree.remove_assignment(&worker, &task_id)
                }
                IoEffect::ShutdownOnWorker { worker, task_id } => {
                    let mm = self.mms.get_mut(&worker.host).expect("a known worker");
                    mm.shutdown(&task_id, &mut self.tree, self.now);
                }
                IoEffect::Assign { .. } => unreachable!("fenced: never landed"),
                IoEffect::PersistLocks(_) => unreachable!("written above"),
                IoEffect::DeletePendingSegments { .. } => {}
            }
        }
        // Inserts under way with the old leader either landed (the new leader reads the task
        // from the store) or failed (the user was told).
        for task in std::mem::take(&mut self.inserting) {
            if self.rng.chance(50) {
                self.stats.tasks += 1;
                assert!(self.store.insert(task, self.now));
            }
        }
        // A task held by a worker that is away (session or process down) is out of the new
        // leader's sight: the feed keeps such a worker's statuses until it announces itself,
        // and its assignments are withdrawn (`adopt_assignments`), so the leader may run the
        // task elsewhere, and settles this copy once the worker is back (shuts it down, or
        // adopts it if the task is still pending). Druid's runner does the same. It counts as
        // withdrawn: a known gap, not a bug of this simulation's making.
        for mm in self.mms.values() {
            if !self.tree.is_announced(mm.host()) {
                for id in mm.held() {
                    if self
                        .withdrawn
                        .insert((mm.host().to_string(), id.to_string()))
                    {
                        self.stats.orphaned += 1;
                    }
                }
            }
        }
        if self.rng.chance(10) {
            self.store_a_segment_lock();
        }
        let term = self.leader.term + 1;
        let stored = self.store.active_task_locks();
        let (leader, effects) = Leader::elect(term, &mut self.tree, &self.store, self.now);
        self.leader = leader;
        self.check_restored(&stored, &effects);
        self.take(effects);
    }

    /// A lock row Steward cannot take again: a segment lock of an active task, as a Druid
    /// Overlord that ran the cluster before Steward leaves (Steward takes time-chunk locks
    /// only). The new leader must shut the task's group down and delete the row.
    fn store_a_segment_lock(&mut self) {
        let active: Vec<Task> = self.store.active().into_iter().map(|(t, _)| t).collect();
        if active.is_empty() {
            return;
        }
        let task = &active[self.rng.below(active.len())];
        let lock = TaskLock {
            granularity: LockGranularity::Segment,
            lock_type: TaskLockType::Exclusive,
            group_id: task.group_id().to_string(),
            data_source: task.data_source().to_string(),
            interval: self.random_interval(),
            version: format_ts(self.now),
            priority: Some(task.priority()),
            revoked: false,
        };
        trace::line(|| format!("  a segment lock of {} is stored: {lock:?}", task.id()));
        self.store.write_lock(&LockPersist::Insert {
            task_id: task.id().to_string(),
            lock,
        });
    }

    /// What a new leader holds right after its start: only locks it read from the store (as
    /// stored, or revoked since, with a missing priority filled in), and the lock a kill takes
    /// at start when its own was not stored; never a lock that was not stored. Counts the
    /// groups it shut down for a lock it could not take again.
    fn check_restored(&mut self, stored: &[(String, TaskLock)], effects: &[IoEffect]) {
        let fresh = format_ts(self.now);
        for (task, _) in self.store.active() {
            for lock in self.leader.core.held_locks(task.id()) {
                let was_stored = stored.iter().any(|(_, row)| {
                    let row = TaskLock {
                        priority: row.priority.or(lock.priority),
                        ..row.clone()
                    };
                    row == lock || row.revoked() == lock
                });
                let kill_at_start = matches!(task.kind(), TaskKind::Kill(spec)
                    if spec.interval == lock.interval && lock.version == fresh);
                assert!(
                    was_stored || kill_at_start,
                    "{}: the new leader holds {lock:?}, which was not stored",
                    task.id()
                );
            }
        }
        let failed: BTreeSet<&str> = effects
            .iter()
            .filter_map(|e| match e {
                IoEffect::PersistStatus(s)
                    if s.error_msg.as_deref() == Some(LOCK_NOT_REACQUIRED) =>
                {
                    self.store.task(&s.id).map(Task::group_id)
                }
                _ => None,
            })
            .collect();
        self.stats.groups_failed_at_restore += failed.len();
    }

    // ----- users ------------------------------------------------------------------------------

    fn submit(&mut self) {
        self.next_id += 1;
        let id = format!("t{}", self.next_id);
        if self.rng.chance(20) {
            // Druid's kill: priority 0, an EXCLUSIVE lock on its interval before it runs.
            let task = Task::from_json(json!({
                "type": "kill",
                "id": id,
                "dataSource": format!("ds{}", self.rng.below(2)),
                "interval": INTERVALS[self.rng.below(INTERVALS.len())],
            }))
            .expect("a valid kill task");
            return self.submit_task(task);
        }
        let group = if self.rng.chance(15) {
            format!("g{}", self.rng.below(3))
        } else {
            id.clone()
        };
        let required = if self.rng.chance(15) { 2 } else { 1 };
        let priority = [0, 50, 100][self.rng.below(3)];
        let ready = match self.rng.below(100) {
            0..=3 => "NO",
            4..=11 => "EXCEPTION",
            _ => "YES",
        };
        let task = Task::from_json(json!({
            "type": "noop",
            "id": id,
            "dataSource": format!("ds{}", self.rng.below(2)),
            "isReadyResult": ready,
            "resource": {"availabilityGroup": group, "requiredCapacity": required},
            "context": {"priority": priority},
        }))
        .expect("a valid noop task");
        self.submit_task(task);
    }

    /// A user's submission: the core reserves its place, then the store's insert fails, is
    /// under way or lands.
    fn submit_task(&mut self, task: Task) {
        self.leader
            .core
            .reserve(&task, self.now)
            .expect("a fresh id is accepted");
        match self.rng.below(10) {
            0 => self.leader.core.insert_failed(task.id()),
            1 | 2 => self.inserting.push(task),
            _ => self.insert(task),
        }
    }

    fn insert(&mut self, task: Task) {
        let id = task.id().to_string();
        assert!(self.store.insert(task, self.now), "{id} stored twice");
        self.stats.tasks += 1;
        let effects = self.leader.core.inserted(&id, self.now);
        self.take(effects);
    }

    fn pick_task(&mut self) -> Option<String> {
        let ids = self.store.ids();
        (!ids.is_empty()).then(|| ids[self.rng.below(ids.len())].clone())
    }

    fn user_shutdown(&mut self, id: &str) {
        let expected = self.leader.core.queue().entry(id).is_some_and(stoppable);
        let (found, effects) = self.leader.core.shutdown(id, SHUTDOWN_BY_USER, self.now);
        assert_eq!(found, expected, "the shutdown of {id}");
        self.take(effects);
    }

    /// A user submits a stored task again: refused while it is active, accepted otherwise,
    /// and then refused by the store, which holds its id.
    fn resubmit(&mut self) {
        let Some(id) = self.pick_task() else { return };
        let task = self.store.task(&id).expect("stored").clone();
        let active = self.leader.core.queue().entry(&id).is_some();
        match self.leader.core.reserve(&task, self.now) {
            Err(QueueError::Duplicate(_)) => assert!(active, "{id} refused but not active"),
            Ok(()) => {
                assert!(!active, "{id} accepted twice");
                assert!(!self.store.insert(task, self.now), "{id} stored twice");
                self.leader.core.insert_failed(&id);
            }
            Err(e) => panic!("the resubmission of {id}: {e}"),
        }
    }

    // ----- peons calling the Overlord -----------------------------------------------------------

    /// A running peon calls the leader as a task that writes data does: it takes a lock
    /// (EXCLUSIVE or SHARED on one of a few overlapping intervals of its datasource), lets one
    /// go, or publishes under the locks it holds; or a publish in flight ends (its transaction
    /// is done). Only `noop` peons act: a kill waits for its lock before it runs. A task that
    /// is not acting on this leader is refused, and nothing changes.
    fn peon_action(&mut self) {
        if self.rng.chance(20) {
            return self.end_a_publish();
        }
        let mut peons: Vec<Task> = self
            .mms
            .values()
            .flat_map(Mm::running_peons)
            .filter(|t| matches!(t.kind(), TaskKind::Noop(_)))
            .cloned()
            .collect();
        let Some(task) = self.rng.take(&mut peons) else {
            return;
        };
        match self.rng.below(10) {
            0..=4 => self.acquire(&task),
            5..=7 => self.release(&task),
            _ => self.begin_publish(&task),
        }
    }

    fn random_interval(&mut self) -> Interval {
        INTERVALS[self.rng.below(INTERVALS.len())]
            .parse()
            .expect("a valid interval")
    }

    fn acquire(&mut self, task: &Task) {
        let request = LockRequest {
            lock_type: if self.rng.chance(50) {
                TaskLockType::Exclusive
            } else {
                TaskLockType::Shared
            },
            interval: self.random_interval(),
            preferred_version: None,
        };
        let id = task.id();
        let (result, effects) = self.leader.core.lock_try_acquire(id, &request, self.now);
        trace::line(|| format!("  peon {id} lockTryAcquire {request:?}: {result:?}"));
        if let Ok(LockResult::Acquired(lock)) = &result {
            assert!(
                lock.lock_type == request.lock_type && lock.interval.contains(&request.interval),
                "{id} asked for {request:?} and was granted {lock:?}"
            );
            self.stats.locks_acquired += 1;
        }
        self.take(effects);
    }

    /// Lets go of one of the task's locks, or of an interval it may not hold.
    fn release(&mut self, task: &Task) {
        let id = task.id();
        let held = self.leader.core.task_locks(id).unwrap_or_default();
        let interval = if held.is_empty() || self.rng.chance(10) {
            self.random_interval()
        } else {
            held[self.rng.below(held.len())].interval
        };
        let (result, effects) = self.leader.core.lock_release(id, &interval, self.now);
        trace::line(|| format!("  peon {id} lockRelease {interval}: {result:?}"));
        self.take(effects);
    }

    /// Publishes a segment in each of some of the task's locks, with the lock's version (a
    /// revoked one among them is refused). On success the locks are pinned until the publish
    /// ends (`end_a_publish`).
    fn begin_publish(&mut self, task: &Task) {
        let id = task.id();
        let Ok(held) = self.leader.core.task_locks(id) else {
            return;
        };
        let mut segments: Vec<SegmentCoverage> = Vec::new();
        for lock in &held {
            if segments.is_empty() || self.rng.chance(50) {
                segments.push(SegmentCoverage {
                    id: format!("{}_{}_{}", lock.data_source, lock.interval, lock.version),
                    data_source: lock.data_source.clone(),
                    interval: lock.interval,
                    version: lock.version.clone(),
                });
            }
        }
        if segments.is_empty() {
            return;
        }
        let gate = self.leader.core.begin_publish(id, &segments, None);
        trace::line(|| format!("  peon {id} publishes {segments:?}: {gate:?}"));
        match gate {
            Ok(PublishGate::Go) => {
                self.stats.publishes += 1;
                self.leader.publishing.push((id.to_string(), segments));
            }
            Ok(PublishGate::InvalidLocks) | Err(ActionRefused::Conflict(_)) => {}
            Err(e) => panic!("{id} publishing under the locks it holds: {e}"),
        }
    }

    /// A publish in flight ends: its pins go, and what they held back is released.
    fn end_a_publish(&mut self) {
        if let Some((id, _)) = self.rng.take(&mut self.leader.publishing) {
            trace::line(|| format!("  publish of {id} ends"));
            let effects = self.leader.core.end_publish(&id, self.now);
            self.take(effects);
        }
    }

    fn tick(&mut self) {
        let effects = self.leader.core.tick(self.now);
        self.take(effects);
        for mm in self.mms.values_mut() {
            mm.tick(&mut self.tree, self.now);
        }
    }

    fn later(&mut self, millis: u64) {
        self.now = self
            .now
            .checked_add(SignedDuration::from_millis(millis as i64))
            .unwrap();
    }

    fn random_mm(&mut self) -> &mut Mm {
        let i = self.rng.below(self.mms.len());
        self.mms.values_mut().nth(i).expect("i < len")
    }

    // ----- one step -----------------------------------------------------------------------------

    pub fn step(&mut self) {
        let step = STEPS[self.rng.weighted(&self.weights)].0;
        let now = self.now;
        trace::line(|| format!("step {step:?}"));
        match step {
            Step::Submit => self.submit(),
            Step::FinishInsert => {
                if let Some(task) = self.rng.take(&mut self.inserting) {
                    self.insert(task);
                }
            }
            Step::OverlordIo => self.overlord_io(),
            Step::OverlordFeed => self.overlord_feed(),
            Step::WorkerFeed => {
                let mm = self.random_mm_of();
                self.mms
                    .get_mut(&mm)
                    .unwrap()
                    .feed_next(&mut self.tree, now);
            }
            Step::WorkerRun => {
                let mm = self.random_mm_of();
                self.mms
                    .get_mut(&mm)
                    .unwrap()
                    .run_next(&mut self.rng, &mut self.tree, now);
            }
            Step::Peon => {
                let mm = self.random_mm_of();
                let success = self.rng.chance(75);
                self.mms
                    .get_mut(&mm)
                    .unwrap()
                    .advance_peon(&mut self.rng, success);
            }
            Step::PeonAction => self.peon_action(),
            Step::PeonCrash => {
                let mm = self.random_mm_of();
                if self.mms.get_mut(&mm).unwrap().crash_peon(&mut self.rng) {
                    self.stats.peon_crashes += 1;
                }
            }
            Step::Session => {
                let mm = self.random_mm_of();
                let mm = self.mms.get_mut(&mm).unwrap();
                if mm.session_alive() {
                    self.stats.session_expiries += 1;
                    mm.expire_session(&mut self.tree, now);
                } else {
                    mm.renew_session(&mut self.tree, now);
                }
            }
            Step::MmCrash => {
                let mm = self.random_mm_of();
                let mm = self.mms.get_mut(&mm).unwrap();
                if mm.is_up() {
                    self.stats.mm_crashes += 1;
                    mm.crash(&mut self.tree, &mut self.rng);
                } else {
                    mm.start(&mut self.tree, now);
                }
            }
            Step::MmStop => {
                let mm = self.random_mm_of();
                let mm = self.mms.get_mut(&mm).unwrap();
                if mm.is_up() {
                    self.stats.mm_stops += 1;
                    mm.stop(&mut self.tree, now);
                }
            }
            Step::SetEnabled => {
                let mm = self.random_mm_of();
                let mm = self.mms.get_mut(&mm).unwrap();
                let enabled = !mm.is_enabled();
                mm.set_enabled(enabled, &mut self.tree, now);
            }
            Step::UserShutdown => {
                if let Some(id) = self.pick_task() {
                    self.user_shutdown(&id);
                }
            }
            Step::DataSourceShutdown => {
                let ds = format!("ds{}", self.rng.below(2));
                let expected = self
                    .leader
                    .core
                    .queue()
                    .entries()
                    .filter(|e| e.task.data_source() == ds && stoppable(e))
                    .count();
                let (n, effects) =
                    self.leader
                        .core
                        .shutdown_data_source(&ds, SHUTDOWN_BY_USER, self.now);
                assert_eq!(n, expected, "the shutdown of datasource {ds}");
                self.take(effects);
            }
            Step::Resubmit => self.resubmit(),
            Step::Time => {
                let millis = 1 + self.rng.below(3000) as u64;
                self.later(millis);
                self.tick();
            }
            Step::NextDeadline => {
                let next = [self.leader.core.next_deadline()]
                    .into_iter()
                    .chain(self.mms.values().map(Mm::next_deadline))
                    .flatten()
                    .min();
                if let Some(deadline) = next {
                    self.now = self.now.max(deadline);
                    self.tick();
                }
            }
            Step::OverlordReconnect => {
                self.stats.reconnects += 1;
                let events = self.leader.feed.reconnect(&mut self.tree);
                self.deliver(events);
            }
            Step::Failover => self.failover(),
            Step::Reconcile => {
                let effects = self.leader.core.reconcile(self.now);
                self.take(effects);
            }
        }
        self.check();
    }

    fn random_mm_of(&mut self) -> String {
        self.random_mm().host().to_string()
    }

    /// Copies a live peon the Overlord counts on onto another MiddleManager, which neither the
    /// Overlord nor that MiddleManager asked for (see `Mm::copy_peon`); false if there is no
    /// such peon yet.
    #[cfg(test)]
    pub fn start_a_stray_copy(&mut self) -> bool {
        let current = |host: &str, id: &str| !self.withdrawn.contains(&(host.into(), id.into()));
        let stray = self.mms.values().find_map(|mm| {
            let id = mm.live_peons().find(|id| current(mm.host(), id))?;
            let to = self
                .mms
                .keys()
                .find(|to| *to != mm.host() && current(to, id) && !self.mms[*to].holds(id))?;
            Some((mm.host().to_string(), id.to_string(), to.clone()))
        });
        let Some((from, id, to)) = stray else {
            return false;
        };
        let source = self.mms.remove(&from).expect("a known worker");
        self.mms
            .get_mut(&to)
            .expect("known")
            .copy_peon(&source, &id);
        self.mms.insert(from, source);
        true
    }

    /// The invariants that hold after every step.
    pub fn check(&mut self) {
        self.leader.core.check_invariants();
        let mut copies: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for mm in self.mms.values() {
            mm.check_invariants();
            for id in mm.live_peons() {
                copies.entry(id).or_default().push(mm.host());
            }
        }
        for (id, hosts) in copies {
            let current: Vec<&&str> = hosts
                .iter()
                .filter(|h| !self.withdrawn.contains(&(h.to_string(), id.to_string())))
                .collect();
            assert!(
                current.len() <= 1,
                "{id} runs on {current:?}, none of them withdrawn by the Overlord"
            );
            if hosts.len() > 1 {
                self.stats.stale_copies += 1;
            }
        }
        self.check_locks();
    }

    /// The locks: a kill handed to the runner holds a lock on its interval; a publish in flight
    /// keeps the locks it was checked against, unrevoked; and once every lock row the leader
    /// asked for has landed (until then they legitimately lag behind), the stored rows of each
    /// active task are exactly the locks the leader's lockbox holds for it.
    fn check_locks(&self) {
        let core = &self.leader.core;
        for entry in core.queue().entries() {
            if let TaskKind::Kill(spec) = entry.task.kind() {
                let id = entry.task.id();
                assert!(
                    entry.state != EntryState::Submitted
                        || core
                            .held_locks(id)
                            .iter()
                            .any(|l| l.interval == spec.interval),
                    "kill {id} runs without a lock on {}",
                    spec.interval
                );
            }
        }
        for (id, segments) in &self.leader.publishing {
            let held = core.held_locks(id);
            for segment in segments {
                assert!(
                    held.iter().any(|l| !l.revoked
                        && l.interval.contains(&segment.interval)
                        && l.version >= segment.version),
                    "{id} lost the lock of {} while publishing it: {held:?}",
                    segment.id
                );
            }
        }
        if self
            .leader
            .io
            .iter()
            .any(|e| matches!(e, IoEffect::PersistLocks(_)))
        {
            return;
        }
        let mut rows: BTreeMap<&str, Vec<&TaskLock>> = BTreeMap::new();
        for (id, lock) in self.store.active_lock_rows() {
            rows.entry(id).or_default().push(lock);
        }
        for (id, row) in self.store.rows() {
            if row.end.is_some() {
                continue;
            }
            let stored = rows.remove(id.as_str()).unwrap_or_default();
            let held = core.held_locks(id);
            let mut unmatched = stored.clone();
            let mirrored = held.len() == stored.len()
                && held.iter().all(|lock| {
                    let found = unmatched.iter().position(|s| *s == lock);
                    found.map(|at| unmatched.swap_remove(at)).is_some()
                });
            assert!(
                mirrored,
                "{id}: the lock rows {stored:?} differ from the locks held {held:?}"
            );
        }
    }

    // ----- the end of a run ---------------------------------------------------------------------

    fn quiet(&self) -> bool {
        self.leader.core.queue().is_empty()
            && self.leader.core.runner().sizes() == (0, 0, 0)
            && self.leader.io.is_empty()
            && self.leader.publishing.is_empty()
            && self.tree.pending_overlord_changes() == 0
            && self.tree.is_empty()
            && self.inserting.is_empty()
            && self.mms.values().all(|mm| mm.is_idle(&self.tree))
    }

    /// Lets everything finish: every publish ended, every MiddleManager and session back,
    /// every worker enabled, every watch event handled, every peon ended, every write landed,
    /// time past every timeout. Tasks still waiting (never ready) are shut down, as an
    /// operator would.
    fn drain(&mut self) {
        for _round in 0..60 {
            while !self.leader.publishing.is_empty() {
                self.end_a_publish();
            }
            let now = self.now;
            for mm in self.mms.values_mut() {
                if !mm.is_up() {
                    mm.start(&mut self.tree, now);
                }
                if !mm.session_alive() {
                    mm.renew_session(&mut self.tree, now);
                }
                if !mm.is_enabled() {
                    mm.set_enabled(true, &mut self.tree, now);
                }
            }
            while let Some(task) = self.inserting.pop() {
                self.insert(task);
            }
            let mut waiting: Vec<String> = self
                .leader
                .core
                .queue()
                .entries()
                .filter(|e| e.state == EntryState::Waiting)
                .map(|e| e.task.id().to_string())
                .collect();
            // The queue's entries come in hash order; the shutdowns' effects must not.
            waiting.sort_unstable();
            for id in waiting {
                self.user_shutdown(&id);
            }
            for _ in 0..200 {
                let busy = !self.leader.io.is_empty()
                    || self.tree.pending_overlord_changes() > 0
                    || self.mms.values().any(|mm| mm.has_pending(&self.tree));
                if !busy {
                    break;
                }
                while !self.leader.io.is_empty() {
                    self.overlord_io();
                }
                while self.tree.pending_overlord_changes() > 0 {
                    self.overlord_feed();
                }
                let now = self.now;
                for mm in self.mms.values_mut() {
                    mm.settle(&mut self.rng, &mut self.tree, now);
                }
                self.check();
            }
            self.later(5_000);
            self.tick();
            self.check();
            if self.quiet() {
                return;
            }
        }
        panic!(
            "the cluster did not drain: queue {}, runner {:?}, I/O {:?}, znodes {:?}, workers {:?}",
            self.leader.core.queue().len(),
            self.leader.core.runner().sizes(),
            self.leader.io,
            self.tree.assignments().collect::<Vec<_>>(),
            self.mms
                .values()
                .map(|mm| mm.describe(&self.tree))
                .collect::<Vec<_>>()
        );
    }

    /// Lets every deadline left pass: a blacklisting is lifted by a check a cleanup period
    /// after the last, and only once its backoff is over.
    fn run_out_deadlines(&mut self) {
        for _ in 0..20 {
            let Some(deadline) = self.leader.core.next_deadline() else {
                return;
            };
            self.now = self.now.max(deadline);
            self.tick();
            self.check();
        }
    }

    /// The end state: every stored task ended exactly once and nothing is left anywhere.
    fn check_end(&self) {
        for (id, row) in self.store.rows() {
            assert_eq!(
                row.ends_recorded, 1,
                "{id} ended {} times",
                row.ends_recorded
            );
        }
        assert!(self.leader.core.runner().known_task_ids().is_empty());
        for id in self.store.ids() {
            let held = self.leader.core.held_locks(&id);
            assert!(held.is_empty(), "{id} ended holding {held:?}");
        }
        assert_eq!(self.leader.core.next_deadline(), None, "a deadline left");
        for view in self.leader.core.workers() {
            assert_eq!(view.curr_capacity_used, 0, "slots leaked: {view:?}");
            assert!(view.running_tasks.is_empty() && view.availability_groups.is_empty());
            assert_eq!(view.blacklisted_until, None, "still blacklisted: {view:?}");
        }
        assert!(self.tree.is_empty(), "znodes left");
        for mm in self.mms.values() {
            assert!(mm.is_idle(&self.tree), "{}", mm.describe(&self.tree));
        }
    }

    pub fn finish(&mut self) {
        self.drain();
        self.run_out_deadlines();
        self.check_end();
    }
}
