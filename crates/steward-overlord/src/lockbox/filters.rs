//! The lock queries of the Overlord's API: `POST /druid/indexer/v1/activeLocks` and
//! `POST /druid/indexer/v1/lockedIntervals/v2`, with Druid's `LockFilterPolicy`.
//!
//! The Coordinator asks them before scheduling compaction, to leave alone the intervals that
//! ingestion holds: locks of at least the filter's priority count, revoked ones do not. A
//! filter's context says what kind of task is asking, and a task that will take REPLACE
//! locks, or concurrent locks, does not wait for APPEND locks (it coexists with them). The
//! two endpoints read that context differently, exactly as Druid does: `lockedIntervals`
//! ignores APPEND locks when `useConcurrentLocks` is the boolean `true` or `taskLockType` is
//! exactly `"REPLACE"`, and ignores the filter's intervals; `activeLocks` reads
//! `useConcurrentLocks` as a boolean or a string and, when it is absent, ignores APPEND locks
//! if `taskLockType` is APPEND (any case), and keeps only locks overlapping the intervals.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use steward_model::{Interval, TaskLock, TaskLockType};

use super::{LockFilter, TaskLockbox};

const USE_CONCURRENT_LOCKS: &str = "useConcurrentLocks";
const TASK_LOCK_TYPE: &str = "taskLockType";

impl LockFilter {
    /// `lockedIntervals`' reading: Druid compares the raw values (`Boolean.TRUE.equals`,
    /// `"REPLACE".equals`).
    fn locked_intervals_ignore_append(&self) -> bool {
        self.context.get(USE_CONCURRENT_LOCKS) == Some(&Value::Bool(true))
            || self.context.get(TASK_LOCK_TYPE) == Some(&Value::String("REPLACE".into()))
    }

    /// `activeLocks`' reading, through Druid's `QueryContexts` conversions. A value Druid
    /// would refuse as a bad context counts as absent.
    fn active_locks_ignore_append(&self) -> bool {
        let concurrent = match self.context.get(USE_CONCURRENT_LOCKS) {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => Some(s.eq_ignore_ascii_case("true")),
            _ => None,
        };
        concurrent.unwrap_or_else(|| {
            let lock_type = match self.context.get(TASK_LOCK_TYPE) {
                Some(Value::String(s)) => TaskLockType::parse(s).ok(),
                _ => None,
            };
            lock_type == Some(TaskLockType::Append)
        })
    }

    /// Whether a held lock counts for this filter, before intervals.
    fn admits(&self, lock: &TaskLock, ignore_append: bool) -> bool {
        let ignored = lock.revoked || (ignore_append && lock.lock_type == TaskLockType::Append);
        !ignored && lock.priority.is_some_and(|p| p >= self.priority)
    }
}

impl TaskLockbox {
    /// The live locks each filter admits, by datasource, filter after filter in the order
    /// given (a lock admitted by two filters is listed twice, as Druid does); datasources
    /// without any are left out.
    pub(crate) fn active_locks(&self, filters: &[LockFilter]) -> BTreeMap<String, Vec<TaskLock>> {
        let mut found: BTreeMap<String, Vec<TaskLock>> = BTreeMap::new();
        for filter in filters {
            let Some(index) = self.by_data_source.get(&filter.data_source) else {
                continue;
            };
            let ignore_append = filter.active_locks_ignore_append();
            let eternity = [Interval::eternity()];
            let intervals = filter.intervals.as_deref().unwrap_or(&eternity);
            let admitted = index
                .iter()
                .map(|(_, id)| &self.posses[&id].lock)
                .filter(|lock| filter.admits(lock, ignore_append))
                .filter(|lock| intervals.iter().any(|i| i.overlaps(&lock.interval)))
                .cloned();
            found
                .entry(filter.data_source.clone())
                .or_default()
                .extend(admitted);
        }
        found.retain(|_, locks| !locks.is_empty());
        found
    }

    /// The intervals of the live locks the filters admit, by datasource, each interval once
    /// and in order; datasources without any are left out.
    pub(crate) fn locked_intervals(
        &self,
        filters: &[LockFilter],
    ) -> BTreeMap<String, Vec<Interval>> {
        let mut found: BTreeMap<String, BTreeSet<Interval>> = BTreeMap::new();
        for filter in filters {
            let Some(index) = self.by_data_source.get(&filter.data_source) else {
                continue;
            };
            let ignore_append = filter.locked_intervals_ignore_append();
            let admitted = index
                .iter()
                .filter(|(_, id)| filter.admits(&self.posses[id].lock, ignore_append))
                .map(|(interval, _)| *interval);
            found
                .entry(filter.data_source.clone())
                .or_default()
                .extend(admitted);
        }
        found
            .into_iter()
            .filter(|(_, intervals)| !intervals.is_empty())
            .map(|(ds, intervals)| (ds, intervals.into_iter().collect()))
            .collect()
    }
}
