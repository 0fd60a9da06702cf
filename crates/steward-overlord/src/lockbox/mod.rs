//! The lockbox as plain state (Druid's `TaskLockbox`): which task groups hold which time
//! chunks of which datasources, with what version.
//!
//! A task may write segments of a time chunk only under a lock, and the lock's version is the
//! version of the segments it writes; the lockbox grants, shares, preempts and releases those
//! locks. Like the queue and the runner it does no I/O and reads no clock: the time comes in
//! as an argument (a new lock's version), and every change of a lock row leaves as a
//! [`LockPersist`] effect, appended in the order the driver must write them, so that the
//! `druid_tasklocks` rows always mirror what the lockbox holds.
//!
//! Druid's rules are kept exactly (reference §8 and `TaskLockbox.java`): a request of a task's
//! group joins a posse of its group with the same type whose interval covers it; otherwise a
//! new lock is granted beside the overlapping locks it is compatible with ([`compat`]), or
//! after revoking the incompatible ones if they all have a strictly lower priority, or beside
//! locks of its own group on exactly its interval (a lock type changing across an upgrade).
//! A revoked lock stays, revoked, until its holders release it: they learn of the revocation
//! when they next ask for it. Steward's addition is the critical section ([`critical`]):
//! Druid holds its giant lock while a task publishes, Steward pins the publishing task's locks
//! instead, so the store's transaction runs without anything held.
//!
//! One file per concept: [`posse`] (a lock and its tasks), [`index`] (a datasource's posses
//! by interval), [`compat`] (the compatibility table), [`critical`] (pinning while a task
//! publishes), [`restore`] (a new leader re-acquiring the stored locks), [`filters`] (the
//! lock queries of the API), [`invariants`]. This file holds the state, granting and
//! releasing.

mod compat;
mod critical;
mod filters;
mod index;
mod invariants;
mod posse;
mod restore;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};
use steward_model::time::format_ts;
use steward_model::{Interval, LockGranularity, Task, TaskLock, TaskLockType};
use tracing::info;

use index::{IntervalIndex, PosseId};
use posse::Posse;

/// A lock a task asks for (Druid's `TimeChunkLockRequest`; group, datasource and priority are
/// the task's).
#[derive(Debug, Clone, PartialEq)]
pub struct LockRequest {
    pub lock_type: TaskLockType,
    pub interval: Interval,
    /// The version the lock should have if it is created (a task re-locking what it locked
    /// before); otherwise the current time, or the epoch for APPEND.
    pub preferred_version: Option<String>,
}

/// The answer to a [`LockRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum LockResult {
    Acquired(TaskLock),
    /// The matching lock of the task's group was revoked by a higher-priority task.
    Revoked(TaskLock),
    /// Cannot be granted now: incompatible locks of the same or a higher priority (or pinned
    /// ones) are held.
    Unavailable,
}

/// A change of the lock rows (`druid_tasklocks`), to be written in the order given. A row is
/// identified by its task and its lock.
#[derive(Debug, Clone, PartialEq)]
pub enum LockPersist {
    Insert {
        task_id: String,
        lock: TaskLock,
    },
    /// The task's row holding `old` now holds `new` (a revocation, a restored lock rewritten).
    Replace {
        task_id: String,
        old: TaskLock,
        new: TaskLock,
    },
    Delete {
        task_id: String,
        lock: TaskLock,
    },
}

/// Druid's `LockFilterPolicy`: the locks of one datasource a caller cares about.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct LockFilter {
    #[serde(rename = "datasource")]
    pub data_source: String,
    /// Locks of a lower priority are left out.
    #[serde(default)]
    pub priority: i64,
    /// Only locks overlapping one of these (`activeLocks` only); all when absent.
    #[serde(default)]
    pub intervals: Option<Vec<Interval>>,
    /// The asking task's context (`useConcurrentLocks`, `taskLockType`).
    #[serde(default)]
    pub context: Map<String, Value>,
}

/// What the lockbox knows of an active task.
#[derive(Debug, Clone, PartialEq)]
struct TaskEntry {
    group_id: String,
    data_source: String,
    priority: i64,
    /// The posses the task is in.
    posses: BTreeSet<PosseId>,
    /// How many critical sections the task is in (they nest): while above zero, its locks
    /// are pinned.
    critical: u32,
    /// Posses the task let go of while pinned: released when the last critical section ends.
    deferred: BTreeSet<PosseId>,
    /// The task ended while pinned: no longer active, its locks are released and it is
    /// forgotten when the last critical section ends.
    ended: bool,
}

/// A lock wanted by a task: a request with its version decided, or a stored lock re-acquired.
struct Want {
    lock_type: TaskLockType,
    interval: Interval,
    version: String,
    revoked: bool,
}

/// Where a request is served.
enum Choice {
    Join(PosseId),
    Create,
}

/// The task locks of every datasource, and the tasks that may hold them.
#[derive(Debug, Default)]
pub(crate) struct TaskLockbox {
    tasks: BTreeMap<String, TaskEntry>,
    posses: BTreeMap<PosseId, Posse>,
    by_data_source: BTreeMap<String, IntervalIndex>,
    next_posse: PosseId,
}

/// Druid's version of a new lock without a preferred one: APPEND locks all share the epoch
/// (their segments are upgraded to the REPLACE version that covers them), others are stamped
/// with the current time, which orders them after the versions granted before.
fn default_version(lock_type: TaskLockType, now: Timestamp) -> String {
    match lock_type {
        TaskLockType::Append => format_ts(Timestamp::UNIX_EPOCH),
        _ => format_ts(now),
    }
}

impl TaskLockbox {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The task becomes active: it may be granted locks (Druid adds a task when the queue
    /// accepts it). Adding it again while it ended inside a critical section makes it active
    /// again; what it let go of stays released at the end of the section.
    pub(crate) fn add(&mut self, task: &Task) {
        let entry = self
            .tasks
            .entry(task.id().to_string())
            .or_insert_with(|| TaskEntry {
                group_id: task.group_id().to_string(),
                data_source: task.data_source().to_string(),
                priority: task.priority(),
                posses: BTreeSet::new(),
                critical: 0,
                deferred: BTreeSet::new(),
                ended: false,
            });
        if entry.ended {
            entry.ended = false;
            let held = entry.posses.clone();
            entry.deferred.extend(held);
        }
    }

    pub(crate) fn is_active(&self, task_id: &str) -> bool {
        self.tasks.get(task_id).is_some_and(|e| !e.ended)
    }

    /// Druid's `tryLock` for a time-chunk request: the lock serving it, `Revoked` if that lock
    /// (the group's) was revoked, or `Unavailable`. `Err` (with Druid's messages, nothing
    /// changed) when the task is not active, the interval is empty, the group holds two locks
    /// that could serve the request, or the serving lock has another priority than the task.
    pub(crate) fn try_lock(
        &mut self,
        task: &Task,
        req: &LockRequest,
        now: Timestamp,
        out: &mut Vec<LockPersist>,
    ) -> Result<LockResult, String> {
        if !self.is_active(task.id()) {
            return Err(format!(
                "Unable to grant lock to inactive Task [{}]",
                task.id()
            ));
        }
        if req.interval.is_empty() {
            return Err("interval empty".into());
        }
        let want = Want {
            lock_type: req.lock_type,
            interval: req.interval,
            version: req
                .preferred_version
                .clone()
                .unwrap_or_else(|| default_version(req.lock_type, now)),
            revoked: false,
        };
        let Some((id, _)) = self.create_or_find(task, &want, true, out)? else {
            return Ok(LockResult::Unavailable);
        };
        let lock = self.posses[&id].lock.clone();
        Ok(if lock.revoked {
            LockResult::Revoked(lock)
        } else {
            LockResult::Acquired(lock)
        })
    }

    /// Druid's `lockRelease`: the task lets go of its locks on exactly `interval`. True if
    /// something was released now (a pinned task's release waits for its critical section
    /// to end).
    pub(crate) fn unlock(
        &mut self,
        task: &Task,
        interval: &Interval,
        out: &mut Vec<LockPersist>,
    ) -> bool {
        let Some(entry) = self.tasks.get(task.id()) else {
            return false;
        };
        let on_interval: Vec<PosseId> = entry
            .posses
            .iter()
            .copied()
            .filter(|id| self.posses[id].lock.interval == *interval)
            .collect();
        let mut released = false;
        for id in on_interval {
            released |= self.release_or_defer(task.id(), id, out);
        }
        released
    }

    /// Druid's `unlockAll`, for a task found not ready: it lets go of every lock and stays
    /// active. True if something was released now.
    pub(crate) fn unlock_all(&mut self, task: &Task, out: &mut Vec<LockPersist>) -> bool {
        let Some(entry) = self.tasks.get(task.id()) else {
            return false;
        };
        let mut released = false;
        for id in entry.posses.clone() {
            released |= self.release_or_defer(task.id(), id, out);
        }
        released
    }

    /// The task ended: it lets go of every lock and is forgotten. Inside a critical section
    /// it stops being active at once, and the release waits for the section's end. True if
    /// something was released now.
    pub(crate) fn remove(&mut self, task: &Task, out: &mut Vec<LockPersist>) -> bool {
        let Some(entry) = self.tasks.get_mut(task.id()) else {
            return false;
        };
        if entry.ended {
            return false;
        }
        if entry.critical > 0 {
            info!(
                task = task.id(),
                "Task ended in a critical section: locks released at its end"
            );
            entry.ended = true;
            return false;
        }
        let released = self.unlock_all(task, out);
        self.tasks.remove(task.id());
        released
    }

    /// The locks the task holds (revoked ones included), by interval.
    pub(crate) fn find_locks(&self, task_id: &str) -> Vec<TaskLock> {
        let Some(entry) = self.tasks.get(task_id) else {
            return Vec::new();
        };
        let mut held: Vec<(&Interval, PosseId)> = entry
            .posses
            .iter()
            .map(|id| (&self.posses[id].lock.interval, *id))
            .collect();
        held.sort();
        held.into_iter()
            .map(|(_, id)| self.posses[&id].lock.clone())
            .collect()
    }

    /// Druid's `createOrFindLockPosse`: the posse serving `want` for `task`, joined or created
    /// (revoking what it must), with the task in it; `None` when it cannot be granted now.
    /// Also says whether the task joined it now. `persist` is false when a new leader
    /// re-acquires stored locks: their rows exist already.
    fn create_or_find(
        &mut self,
        task: &Task,
        want: &Want,
        persist: bool,
        out: &mut Vec<LockPersist>,
    ) -> Result<Option<(PosseId, bool)>, String> {
        let overlapping: Vec<PosseId> = self
            .by_data_source
            .get(task.data_source())
            .map(|index| index.overlapping(&want.interval).collect())
            .unwrap_or_default();
        let choice = if overlapping.is_empty() {
            Choice::Create
        } else {
            let reusable: Vec<PosseId> = overlapping
                .iter()
                .copied()
                .filter(|id| {
                    self.posses[id].reusable_for(want.lock_type, task.group_id(), &want.interval)
                })
                .collect();
            match reusable[..] {
                [] => match self.make_room(task, want, &overlapping, out) {
                    Some(()) => Choice::Create,
                    None => {
                        info!(
                            task = task.id(),
                            "Cannot lock {} {} of [{}]: overlapping locks have the same or a \
                             higher priority",
                            want.lock_type.as_str(),
                            want.interval,
                            task.data_source()
                        );
                        return Ok(None);
                    }
                },
                [id] => Choice::Join(id),
                _ => {
                    return Err(format!(
                        "Task group[{}] has multiple locks for the same interval[{}]?",
                        task.group_id(),
                        want.interval
                    ))
                }
            }
        };
        let id = match choice {
            Choice::Join(id) => {
                let priority = self.posses[&id]
                    .lock
                    .priority
                    .expect("a held lock has a priority");
                if priority != task.priority() {
                    return Err(format!(
                        "priority[{}] of task[{}] is different from the existing lockPosse's \
                         priority[{priority}]",
                        task.priority(),
                        task.id(),
                    ));
                }
                id
            }
            Choice::Create => self.create_posse(task, want),
        };
        let joined = self
            .posses
            .get_mut(&id)
            .expect("chosen posse")
            .tasks
            .insert(task.id().into());
        if joined {
            self.tasks
                .get_mut(task.id())
                .expect("active task")
                .posses
                .insert(id);
            info!(
                task = task.id(),
                "Added task to lock {}",
                describe(&self.posses[&id].lock)
            );
            // The task lets go of the locks the new one supersedes. Druid releases each by
            // interval, which would also drop another lock of the task on exactly that
            // interval (a revoked one, say, hiding the revocation): only the superseded
            // lock goes here.
            for other in overlapping {
                if other != id
                    && self.posses[&other].tasks.contains(task.id())
                    && self.posses[&id].supersedes(&self.posses[&other])
                {
                    self.release_or_defer(task.id(), other, out);
                }
            }
            if persist {
                out.push(LockPersist::Insert {
                    task_id: task.id().into(),
                    lock: self.posses[&id].lock.clone(),
                });
            }
        }
        Ok(Some((id, joined)))
    }

    /// When no posse serves the request: whether a new lock may be created beside the
    /// `overlapping` posses (always for a revoked lock being restored; else Druid's three
    /// ways: compatible with them; compatible once the
    /// incompatible ones, all of strictly lower priority and none pinned, are revoked, which
    /// this does; or all of them are the task group's locks on exactly this interval).
    fn make_room(
        &mut self,
        task: &Task,
        want: &Want,
        overlapping: &[PosseId],
        out: &mut Vec<LockPersist>,
    ) -> Option<()> {
        // A revoked lock covers nothing and conflicts with nothing (the invariants skip it):
        // a new leader restores a stored revoked lock beside whatever holds its interval now.
        // Restoring it in order of version is not enough: two grants in one millisecond have
        // one version, so the lock that revoked it may come back first.
        if want.revoked {
            return Some(());
        }
        let held = overlapping.iter().map(|id| &self.posses[id].lock);
        if compat::can_coexist(want.lock_type, &want.interval, held) {
            return Some(());
        }
        let mut to_revoke = Vec::new();
        let mut revocable = true;
        for &id in overlapping {
            let lock = &self.posses[&id].lock;
            if lock.revoked || !compat::incompatible(want.lock_type, &want.interval, lock) {
                continue;
            }
            let priority = lock.priority.expect("a held lock has a priority");
            if priority >= task.priority() || self.is_pinned(id) {
                revocable = false;
                break;
            }
            to_revoke.push(id);
        }
        if revocable {
            for id in to_revoke {
                self.revoke(id, task, out);
            }
            return Some(());
        }
        // A lock type or granularity changing within a group (an upgrade, a supervisor's
        // new settings): the group's tasks take the new lock beside their old one.
        let same_group_and_interval = overlapping.iter().all(|id| {
            let lock = &self.posses[id].lock;
            lock.group_id == task.group_id() && lock.interval == want.interval
        });
        same_group_and_interval.then_some(())
    }

    fn create_posse(&mut self, task: &Task, want: &Want) -> PosseId {
        let id = self.next_posse;
        self.next_posse += 1;
        let lock = TaskLock {
            granularity: LockGranularity::TimeChunk,
            lock_type: want.lock_type,
            group_id: task.group_id().into(),
            data_source: task.data_source().into(),
            interval: want.interval,
            version: want.version.clone(),
            priority: Some(task.priority()),
            revoked: want.revoked,
        };
        self.by_data_source
            .entry(lock.data_source.clone())
            .or_default()
            .insert(lock.interval, id);
        self.posses.insert(id, Posse::new(lock));
        id
    }

    /// Marks the posse's lock revoked, for each of its tasks (Druid's `revokeLock`): the
    /// lock stays until they release it.
    fn revoke(&mut self, id: PosseId, by: &Task, out: &mut Vec<LockPersist>) {
        let posse = self.posses.get_mut(&id).expect("posse to revoke");
        let old = posse.lock.clone();
        posse.lock.revoked = true;
        info!(
            task = by.id(),
            "Revoking lock {} of tasks {:?}",
            describe(&old),
            posse.tasks
        );
        for task_id in &posse.tasks {
            out.push(LockPersist::Replace {
                task_id: task_id.clone(),
                old: old.clone(),
                new: posse.lock.clone(),
            });
        }
    }

    /// The task lets go of the posse, now or, if its locks are pinned, when its last
    /// critical section ends. True if released now.
    fn release_or_defer(&mut self, task_id: &str, id: PosseId, out: &mut Vec<LockPersist>) -> bool {
        let entry = self
            .tasks
            .get_mut(task_id)
            .expect("task in a posse is known");
        if entry.critical > 0 {
            entry.deferred.insert(id);
            return false;
        }
        self.release(task_id, id, out);
        true
    }

    /// The task leaves the posse; the posse goes when no task is left in it.
    fn release(&mut self, task_id: &str, id: PosseId, out: &mut Vec<LockPersist>) {
        let posse = self.posses.get_mut(&id).expect("posse to release");
        assert!(
            posse.tasks.remove(task_id),
            "task {task_id} not in posse {id}"
        );
        let lock = posse.lock.clone();
        if posse.tasks.is_empty() {
            self.posses.remove(&id);
            let index = self
                .by_data_source
                .get_mut(&lock.data_source)
                .expect("datasource indexed");
            index.remove(lock.interval, id);
            if index.is_empty() {
                self.by_data_source.remove(&lock.data_source);
            }
        }
        if let Some(entry) = self.tasks.get_mut(task_id) {
            entry.posses.remove(&id);
            entry.deferred.remove(&id);
        }
        info!(task = task_id, "Released lock {}", describe(&lock));
        out.push(LockPersist::Delete {
            task_id: task_id.into(),
            lock,
        });
    }
}

/// A lock in the log: type, datasource, interval, version, revoked or not.
fn describe(lock: &TaskLock) -> String {
    format!(
        "{} [{}] {} version {}{}",
        lock.lock_type.as_str(),
        lock.data_source,
        lock.interval,
        lock.version,
        if lock.revoked { " (revoked)" } else { "" }
    )
}

#[cfg(test)]
mod tests;
