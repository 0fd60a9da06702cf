//! One datasource's lock posses ordered by interval, so that finding the posses overlapping a
//! requested interval does not scan the datasource's every lock (Druid's lockbox does).
//!
//! Posses are kept ordered by interval start (then end, then posse id: creation order). An
//! interval overlapping `[s, e)` starts before `e`, and ends after `s`, so it starts after
//! `s - longest`, where `longest` is the longest indexed interval: the search reads only the
//! posses starting in `(s - longest, e)`. The lengths are counted so the longest is known
//! after removals too. With locks of similar lengths (the usual case: one segment
//! granularity per datasource) that window holds little more than the overlapping posses.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use steward_model::Interval;

/// A posse's identity: allocated in increasing order, so ids order posses by creation.
pub(super) type PosseId = u64;

/// The posses of one datasource, by interval.
#[derive(Debug, Default)]
pub(super) struct IntervalIndex {
    by_start: BTreeSet<(Interval, PosseId)>,
    /// Lengths of the indexed intervals in nanoseconds, each with how many have it.
    lengths: BTreeMap<i128, usize>,
}

fn length(interval: &Interval) -> i128 {
    interval.end.as_nanosecond() - interval.start.as_nanosecond()
}

impl IntervalIndex {
    pub(super) fn insert(&mut self, interval: Interval, id: PosseId) {
        assert!(
            self.by_start.insert((interval, id)),
            "posse {id} indexed twice"
        );
        *self.lengths.entry(length(&interval)).or_default() += 1;
    }

    pub(super) fn remove(&mut self, interval: Interval, id: PosseId) {
        assert!(
            self.by_start.remove(&(interval, id)),
            "posse {id} not indexed"
        );
        let len = length(&interval);
        let count = self.lengths.get_mut(&len).expect("length counted");
        *count -= 1;
        if *count == 0 {
            self.lengths.remove(&len);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_start.is_empty()
    }

    /// Every posse, by interval then creation.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Interval, PosseId)> + '_ {
        self.by_start.iter().map(|(interval, id)| (interval, *id))
    }

    /// The posses whose interval overlaps `interval`, by interval then creation.
    pub(super) fn overlapping<'a>(
        &'a self,
        interval: &'a Interval,
    ) -> impl Iterator<Item = PosseId> + 'a {
        let longest = self.lengths.last_key_value().map_or(0, |(len, _)| *len);
        let earliest = Timestamp::from_nanosecond(interval.start.as_nanosecond() - longest)
            .unwrap_or(Timestamp::MIN);
        // Search keys only: `end: MIN` sorts before every interval with the same start.
        let from = Interval {
            start: earliest,
            end: Timestamp::MIN,
        };
        let to = Interval {
            start: interval.end,
            end: Timestamp::MIN,
        };
        self.by_start
            .range((from, 0)..(to, 0))
            .filter(move |(held, _)| held.overlaps(interval))
            .map(|(_, id)| *id)
    }

    /// Checks the length counts against the indexed intervals (for the invariants).
    pub(super) fn check(&self) {
        let mut lengths = BTreeMap::new();
        for (interval, _) in &self.by_start {
            *lengths.entry(length(interval)).or_insert(0usize) += 1;
        }
        assert_eq!(lengths, self.lengths, "interval lengths miscounted");
    }
}
