//! Druid's segment timeline, as much of it as the store's rules need: which segments a
//! higher version overshadows, and which versions are visible in an interval. Pure functions
//! over (interval, version) pairs, so publishing, marking and allocating share one definition.
//!
//! Versions compare as strings, as Druid compares them. Druid's timeline also requires a
//! version's partitions to be complete before it hides older ones, and lets a segment's minor
//! version overshadow within a version (segment locks); Steward writes complete sets in one
//! transaction and takes time-chunk locks only, so every version counts as complete here.

use jiff::Timestamp;
use steward_model::Interval;

/// Whether segments of versions higher than `version` cover all of `interval` between them
/// (Druid's `isOvershadowed`). `others` may hold anything; lower and equal versions and
/// segments elsewhere do not count.
pub(crate) fn is_overshadowed<'a>(
    interval: &Interval,
    version: &str,
    others: impl IntoIterator<Item = (&'a Interval, &'a str)>,
) -> bool {
    let mut higher: Vec<(Timestamp, Timestamp)> = others
        .into_iter()
        .filter(|(other, v)| *v > version && other.overlaps(interval))
        .map(|(other, _)| (other.start, other.end))
        .collect();
    if higher.is_empty() {
        return false;
    }
    higher.sort();
    let mut covered_to = interval.start;
    for (start, end) in higher {
        if start > covered_to {
            return false;
        }
        covered_to = covered_to.max(end);
        if covered_to >= interval.end {
            return true;
        }
    }
    false
}

/// A run of `interval` in which one (interval, version) of the segments is the visible one:
/// Druid's `TimelineObjectHolder` from `lookup`.
#[derive(Debug)]
pub(crate) struct Chunk<'a, T> {
    pub(crate) version: &'a str,
    /// Every segment with the visible interval and version; their whole interval, not only
    /// the part in the run.
    pub(crate) segments: Vec<&'a T>,
}

/// The visible chunks of `segments` within `interval`, in time order (Druid's
/// `SegmentTimeline.lookup`): at each instant the highest version among the segments
/// containing it is visible, and consecutive instants showing the same (interval, version) form
/// one chunk. Instants no segment covers belong to no chunk.
pub(crate) fn visible_chunks<'a, T>(
    segments: &'a [T],
    key: impl Fn(&'a T) -> (&'a Interval, &'a str),
    interval: &Interval,
) -> Vec<Chunk<'a, T>> {
    let overlapping: Vec<(&Interval, &str, &T)> = segments
        .iter()
        .map(|s| {
            let (i, v) = key(s);
            (i, v, s)
        })
        .filter(|(i, _, _)| i.overlaps(interval))
        .collect();
    let mut bounds: Vec<Timestamp> = vec![interval.start, interval.end];
    for (i, _, _) in &overlapping {
        bounds.extend(
            [i.start, i.end]
                .into_iter()
                .filter(|t| interval.contains_instant(*t)),
        );
    }
    bounds.sort();
    bounds.dedup();
    let mut chunks: Vec<Chunk<'a, T>> = Vec::new();
    let mut last: Option<(Interval, &str)> = None;
    for piece in bounds.windows(2) {
        let piece = Interval::new(piece[0], piece[1]);
        // The highest version wins; between equal versions of different intervals the order
        // is arbitrary in Druid, here the later interval, so that the result is deterministic.
        let visible = overlapping
            .iter()
            .filter(|(i, _, _)| i.contains(&piece))
            .map(|(i, v, _)| (*v, **i))
            .max();
        let Some((version, visible_interval)) = visible else {
            last = None;
            continue;
        };
        if last == Some((visible_interval, version)) {
            continue;
        }
        last = Some((visible_interval, version));
        chunks.push(Chunk {
            version,
            segments: overlapping
                .iter()
                .filter(|(i, v, _)| **i == visible_interval && *v == version)
                .map(|(_, _, s)| *s)
                .collect(),
        });
    }
    chunks
}

/// `intervals` merged where they overlap or touch, in time order: fewer conditions for a query
/// over many of them.
pub(crate) fn condense(intervals: impl IntoIterator<Item = Interval>) -> Vec<Interval> {
    let mut sorted: Vec<Interval> = intervals.into_iter().collect();
    sorted.sort();
    let mut merged: Vec<Interval> = Vec::with_capacity(sorted.len());
    for interval in sorted {
        match merged.last_mut() {
            Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
            _ => merged.push(interval),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    #[test]
    fn overshadowing_needs_higher_versions_covering_the_whole_interval() {
        let day = iv("2024-01-01/2024-01-02");
        let am = iv("2024-01-01T00:00Z/2024-01-01T12:00Z");
        let pm = iv("2024-01-01T12:00Z/2024-01-02T00:00Z");
        assert!(is_overshadowed(&day, "v1", [(&am, "v2"), (&pm, "v3")]));
        assert!(!is_overshadowed(&day, "v1", [(&am, "v2")]));
        assert!(!is_overshadowed(&day, "v2", [(&am, "v2"), (&pm, "v3")]));
        assert!(!is_overshadowed(&day, "v1", [(&day, "v1")]));
        assert!(is_overshadowed(&am, "v1", [(&day, "v2")]));
        // A gap between two covering segments.
        let late = iv("2024-01-01T13:00Z/2024-01-02T00:00Z");
        assert!(!is_overshadowed(&day, "v1", [(&am, "v2"), (&late, "v2")]));
        assert!(!is_overshadowed(&day, "v1", []));
    }

    #[test]
    fn visible_chunks_show_the_highest_version_at_each_instant() {
        let month = iv("2024-01-01/2024-02-01");
        let day = iv("2024-01-10/2024-01-11");
        let segments = [(month, "v1", 0), (month, "v1", 1), (day, "v2", 0)];
        fn key<'a>(s: &'a (Interval, &'static str, u32)) -> (&'a Interval, &'a str) {
            (&s.0, s.1)
        }

        let chunks = visible_chunks(&segments, key, &month);
        let seen: Vec<(Interval, &str, usize)> = chunks
            .iter()
            .map(|c| (c.segments[0].0, c.version, c.segments.len()))
            .collect();
        // The month shows before and after the day that hides it.
        assert_eq!(seen, [(month, "v1", 2), (day, "v2", 1), (month, "v1", 2)]);

        let inside = visible_chunks(&segments, key, &iv("2024-01-10T06:00Z/2024-01-10T07:00Z"));
        assert_eq!(inside.len(), 1);
        assert_eq!((inside[0].segments[0].0, inside[0].version), (day, "v2"));

        assert!(visible_chunks(&segments, key, &iv("2024-03-01/2024-03-02")).is_empty());
    }

    #[test]
    fn condense_merges_overlapping_and_touching_intervals() {
        assert_eq!(
            condense([
                iv("2024-01-03/2024-01-04"),
                iv("2024-01-01/2024-01-02"),
                iv("2024-01-02/2024-01-03"),
                iv("2024-01-10/2024-01-12"),
                iv("2024-01-11/2024-01-11T12:00Z"),
            ]),
            [iv("2024-01-01/2024-01-04"), iv("2024-01-10/2024-01-12")]
        );
    }
}
