//! A new leader's lockbox (Druid's `syncFromStorage`): the locks stored for the active tasks
//! are taken again, in the order they were granted, so that each finds the others as they
//! were when it was granted.
//!
//! Versions order the grants: a lock's version is the time it was granted, unless the task
//! asked for one. Each stored lock is requested again with its stored type, version and
//! revoked flag, with the task's priority (a lock stored before priorities existed takes its
//! task's). A lock that no longer belongs to its task (another datasource, group or priority),
//! a segment lock (a Druid table's; Steward takes none) or a lock that cannot be granted again
//! fails its task's group: the caller fails every task of those groups, which releases
//! whatever else they re-acquired.
//!
//! Unlike Druid, the rows are made to mirror the lockbox again: a row that was not
//! re-acquired (its task unknown, its interval empty, refused) is deleted, and a row whose
//! lock came back different (a missing priority filled in, a group's wider lock joined) is
//! rewritten, so that the releases to come find their rows.

use std::collections::{BTreeMap, BTreeSet};

use steward_model::{LockGranularity, Task, TaskLock};
use tracing::{error, info, warn};

use super::{LockPersist, TaskLockbox, Want};

impl TaskLockbox {
    /// Replaces the whole state with `tasks` active and the `stored` lock rows (task id, lock)
    /// re-acquired, in order of (version, task id). Returns the groups some of whose locks
    /// could not be re-acquired, sorted.
    pub(crate) fn restore(
        &mut self,
        tasks: &[Task],
        mut stored: Vec<(String, TaskLock)>,
        out: &mut Vec<LockPersist>,
    ) -> Vec<String> {
        *self = TaskLockbox::new();
        for task in tasks {
            self.add(task);
        }
        let by_id: BTreeMap<&str, &Task> = tasks.iter().map(|t| (t.id(), t)).collect();
        // Stable: one task's locks of one version keep the store's order.
        stored.sort_by(|(a_task, a), (b_task, b)| {
            a.version.cmp(&b.version).then_with(|| a_task.cmp(b_task))
        });
        let mut failed_groups = BTreeSet::new();
        for (task_id, row) in stored {
            let Some(&task) = by_id.get(task_id.as_str()) else {
                warn!(
                    task = task_id,
                    "Dropping a stored lock of a task that is not active"
                );
                out.push(LockPersist::Delete { task_id, lock: row });
                continue;
            };
            if row.interval.is_empty() {
                warn!(
                    task = task_id,
                    "Dropping a stored lock with an empty interval"
                );
                out.push(LockPersist::Delete { task_id, lock: row });
                continue;
            }
            let priority = row.priority.unwrap_or(task.priority());
            let reacquired = if row.group_id != task.group_id()
                || row.data_source != task.data_source()
                || priority != task.priority()
                || row.granularity != LockGranularity::TimeChunk
            {
                Err(format!(
                    "the lock (group [{}], datasource [{}], priority {priority}, {:?}) does not \
                     match the task (group [{}], datasource [{}], priority {})",
                    row.group_id,
                    row.data_source,
                    row.granularity,
                    task.group_id(),
                    task.data_source(),
                    task.priority()
                ))
            } else {
                let want = Want {
                    lock_type: row.lock_type,
                    interval: row.interval,
                    version: row.version.clone(),
                    revoked: row.revoked,
                };
                match self.create_or_find(task, &want, false, out) {
                    Ok(Some(found)) => Ok(found),
                    Ok(None) => Err("conflicting locks hold its interval".into()),
                    Err(e) => Err(e),
                }
            };
            match reacquired {
                Ok((id, joined)) => {
                    let lock = &self.posses[&id].lock;
                    if lock.version != row.version {
                        info!(
                            task = task_id,
                            "Re-acquired lock on {} with version {} instead of {}",
                            lock.interval,
                            lock.version,
                            row.version
                        );
                    }
                    if !joined {
                        // The task already had this lock through an earlier row.
                        out.push(LockPersist::Delete { task_id, lock: row });
                    } else if *lock != row {
                        let new = lock.clone();
                        out.push(LockPersist::Replace {
                            task_id,
                            old: row,
                            new,
                        });
                    }
                }
                Err(why) => {
                    error!(
                        task = task_id,
                        group = task.group_id(),
                        "Could not re-acquire lock on {} version {}: {why}",
                        row.interval,
                        row.version
                    );
                    failed_groups.insert(task.group_id().to_string());
                    out.push(LockPersist::Delete { task_id, lock: row });
                }
            }
        }
        failed_groups.into_iter().collect()
    }
}
