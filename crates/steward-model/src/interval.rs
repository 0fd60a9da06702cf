//! Druid's `Interval`: a half-open span of time `[start, end)`, written as
//! `2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z` in every JSON body, lock and segment id.
//!
//! Locks and segments are compared by interval (overlap, containment) all the time; one typed
//! value with those operations keeps the string parsing at the edges.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{format_ts, parse_interval};

/// A half-open interval `[start, end)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Interval {
    /// `start` must not be after `end`.
    pub fn new(start: Timestamp, end: Timestamp) -> Interval {
        assert!(start <= end, "interval ends before it starts");
        Interval { start, end }
    }

    /// Druid's `ETERNITY` is wider than any instant jiff represents; the widest span it can.
    pub fn eternity() -> Interval {
        Interval::new(Timestamp::MIN, Timestamp::MAX)
    }

    /// Druid's `JodaUtils.condenseIntervals`: sorted, with overlapping or adjacent intervals
    /// merged into one.
    pub fn condense(mut intervals: Vec<Interval>) -> Vec<Interval> {
        intervals.sort();
        let mut out: Vec<Interval> = Vec::with_capacity(intervals.len());
        for interval in intervals {
            match out.last_mut() {
                Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
                _ => out.push(interval),
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether the two share an instant (Joda's `overlaps`: an empty interval overlaps nothing).
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The instants both share (Joda's `overlap`), if any.
    pub fn overlap(&self, other: &Interval) -> Option<Interval> {
        self.overlaps(other)
            .then(|| Interval::new(self.start.max(other.start), self.end.min(other.end)))
    }

    /// Whether `other` lies within this interval.
    pub fn contains(&self, other: &Interval) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether the instant lies within `[start, end)`.
    pub fn contains_instant(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", format_ts(self.start), format_ts(self.end))
    }
}

impl FromStr for Interval {
    type Err = String;
    fn from_str(s: &str) -> Result<Interval, String> {
        let (start, end) = parse_interval(s)?;
        Ok(Interval { start, end })
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Interval, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    #[test]
    fn prints_as_druid_and_round_trips_through_json() {
        let i = iv("2015-09-12/2015-09-13");
        assert_eq!(
            i.to_string(),
            "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"
        );
        let json = serde_json::to_string(&i).unwrap();
        assert_eq!(
            json,
            "\"2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z\""
        );
        assert_eq!(serde_json::from_str::<Interval>(&json).unwrap(), i);
        assert!(serde_json::from_str::<Interval>("\"2015-09-13/2015-09-12\"").is_err());
    }

    #[test]
    fn overlap_and_containment_are_half_open() {
        let day = iv("2015-09-12/2015-09-13");
        assert!(!day.overlaps(&iv("2015-09-13/2015-09-14")));
        assert!(day.overlaps(&iv("2015-09-12T23:00Z/2015-09-14")));
        assert!(day.contains(&iv("2015-09-12T01:00Z/2015-09-12T02:00Z")));
        assert!(day.contains(&day));
        assert!(!day.contains(&iv("2015-09-12/2015-09-14")));
        assert!(!iv("2015-09-12/2015-09-12").overlaps(&day));
        assert!(day.contains_instant(day.start) && !day.contains_instant(day.end));
        assert_eq!(
            day.overlap(&iv("2015-09-12T12:00Z/2015-09-14")),
            Some(iv("2015-09-12T12:00Z/2015-09-13"))
        );
        assert_eq!(day.overlap(&iv("2015-09-13/2015-09-14")), None);
    }
}
