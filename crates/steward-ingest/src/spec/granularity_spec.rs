//! The granularity spec: how rows fall into segments, how their timestamps are truncated, and
//! which time ranges the task covers.
//!
//! Druid's `UniformGranularitySpec` (`type: uniform`, the default: `segmentGranularity` DAY,
//! `queryGranularity` NONE, `rollup` true, `intervals` optional) and `ArbitraryGranularitySpec`
//! (`type: arbitrary`: the intervals themselves are the segments and must not overlap). Without
//! intervals the task finds them from the data; a row is kept only if its bucket is one the
//! spec covers ([`GranularitySpec::bucket_interval`], Druid's `bucketInterval`).

use jiff::Timestamp;
use steward_model::granularity::Granularity;
use steward_model::interval::Interval;

use super::fields::{within, Obj};
use crate::SpecError;

#[derive(Debug, Clone, PartialEq)]
pub struct GranularitySpec {
    /// `None` for an arbitrary spec, whose intervals are the segments.
    pub segment_granularity: Option<Granularity>,
    pub query_granularity: Granularity,
    pub rollup: bool,
    /// The input intervals as given; empty when the task determines them from the data.
    pub intervals: Vec<Interval>,
}

impl Default for GranularitySpec {
    fn default() -> Self {
        GranularitySpec {
            segment_granularity: Some(day()),
            query_granularity: Granularity::None,
            rollup: true,
            intervals: Vec::new(),
        }
    }
}

fn day() -> Granularity {
    Granularity::from_name("DAY").expect("DAY is a granularity")
}

impl GranularitySpec {
    /// Reads a `granularitySpec` object; error paths are relative to it.
    pub fn from_json(v: &serde_json::Value) -> Result<GranularitySpec, SpecError> {
        let obj = Obj::new(v, "a granularitySpec")?;
        let granularity = |key: &str, default: Granularity| -> Result<Granularity, SpecError> {
            obj.get(key).map_or(Ok(default), |g| {
                Granularity::from_json(g).map_err(|e| SpecError::new(key, e))
            })
        };
        let query_granularity = granularity("queryGranularity", Granularity::None)?;
        let rollup = obj.bool("rollup")?.unwrap_or(true);
        let texts: Vec<String> = obj.typed("intervals")?.unwrap_or_default();
        let mut intervals = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let interval: Interval = text
                .parse()
                .map_err(|e: String| within(SpecError::new(format!("[{i}]"), e), "intervals"))?;
            intervals.push(interval);
        }
        let spec = match obj.type_name(Some("uniform"))? {
            "uniform" => GranularitySpec {
                segment_granularity: Some(granularity("segmentGranularity", day())?),
                query_granularity,
                rollup,
                intervals,
            },
            "arbitrary" => {
                if intervals.is_empty() {
                    return Err(SpecError::new(
                        "intervals",
                        "An arbitrary granularitySpec needs [intervals]: they are its segments",
                    ));
                }
                let mut sorted = intervals.clone();
                sorted.sort();
                if let Some(pair) = sorted.windows(2).find(|w| w[0].overlaps(&w[1])) {
                    return Err(SpecError::new(
                        "intervals",
                        format!("Overlapping intervals: {}, {}", pair[0], pair[1]),
                    ));
                }
                GranularitySpec {
                    segment_granularity: None,
                    query_granularity,
                    rollup,
                    intervals: sorted,
                }
            }
            other => {
                return Err(SpecError::new(
                "type",
                format!(
                    "Could not resolve type id '{other}' as a subtype of `GranularitySpec`: known type ids = [arbitrary, uniform]"
                ),
            ));
            }
        };
        spec.query_nests_in_segments()?;
        Ok(spec)
    }

    /// Steward cuts rows into segments by their time truncated to the query granularity, so
    /// every segment boundary must also be a query-granularity boundary: a coarser (or
    /// misaligned) query granularity would move rows into another segment than Druid's. The
    /// boundaries checked are those of the spec's intervals, or of a year of segment buckets
    /// (2000, a leap year) when it names none.
    fn query_nests_in_segments(&self) -> Result<(), SpecError> {
        const CHECKED_BUCKETS: usize = 10_000;
        let boundaries: Vec<Timestamp> = match &self.segment_granularity {
            Some(Granularity::All) => return Ok(()),
            None => self
                .intervals
                .iter()
                .flat_map(|i| [i.start, i.end])
                .collect(),
            Some(granularity) => {
                let sample = [Interval::new(
                    Timestamp::from_second(946_684_800).expect("2000-01-01"),
                    Timestamp::from_second(978_307_200).expect("2001-01-01"),
                )];
                let spans = match self.intervals.is_empty() {
                    true => &sample[..],
                    false => &self.intervals[..],
                };
                spans
                    .iter()
                    .flat_map(|i| granularity.buckets(i))
                    .take(CHECKED_BUCKETS)
                    .flat_map(|b| [b.start, b.end])
                    .collect()
            }
        };
        let misplaced = boundaries
            .into_iter()
            .find(|b| self.query_granularity.bucket_start(*b) != *b);
        match misplaced {
            None => Ok(()),
            Some(at) => Err(SpecError::new(
                "queryGranularity",
                format!(
                    "queryGranularity {} does not fit in the segments' time chunks (its bucket holding [{}] starts before it): Steward needs a query granularity no coarser than, and aligned with, the segment granularity or intervals",
                    self.query_granularity.to_json(),
                    steward_model::time::format_ts(at)
                ),
            )),
        }
    }

    /// The segment interval of a row at `millis`, or `None` if the spec's intervals leave it
    /// out (Druid's `bucketInterval`: a uniform spec keeps a row whose bucket overlaps an input
    /// interval, an arbitrary one a row inside one).
    pub fn bucket_interval(&self, millis: i64) -> Option<Interval> {
        let t = Timestamp::from_millisecond(millis).ok()?;
        match &self.segment_granularity {
            Some(granularity) => {
                let bucket = granularity.bucket(t);
                (self.intervals.is_empty() || self.intervals.iter().any(|i| i.overlaps(&bucket)))
                    .then_some(bucket)
            }
            None => self
                .intervals
                .iter()
                .find(|i| i.contains_instant(t))
                .copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    fn ms(s: &str) -> i64 {
        steward_model::time::parse_instant(s)
            .unwrap()
            .as_millisecond()
    }

    #[test]
    fn defaults_are_uniform_day_none_rollup() {
        let spec = GranularitySpec::from_json(&json!({})).unwrap();
        assert_eq!(spec, GranularitySpec::default());
        assert_eq!(
            GranularitySpec::from_json(&serde_json::Value::Null).unwrap(),
            spec
        );
    }

    #[test]
    fn uniform_buckets_keep_rows_whose_bucket_touches_an_interval() {
        let spec = GranularitySpec::from_json(&json!({
            "segmentGranularity": "day", "intervals": ["2015-09-12T00:00Z/2015-09-12T12:00Z"]
        }))
        .unwrap();
        // Druid keeps a row in the bucket even past the interval's end.
        assert_eq!(
            spec.bucket_interval(ms("2015-09-12T23:00Z")),
            Some(iv("2015-09-12/2015-09-13"))
        );
        assert_eq!(spec.bucket_interval(ms("2015-09-13T01:00Z")), None);
    }

    // Rows are cut by their truncated time: a query granularity that crosses segment chunks
    // would put them in other segments, so it is refused naming the field.
    #[test]
    fn a_query_granularity_must_fit_in_the_segment_chunks() {
        for fits in [
            json!({}),
            json!({"segmentGranularity": "MONTH", "queryGranularity": "DAY"}),
            json!({"segmentGranularity": "DAY", "queryGranularity": "DAY"}),
            json!({"segmentGranularity": "ALL", "queryGranularity": "WEEK"}),
            json!({"segmentGranularity": "HOUR", "queryGranularity": "FIFTEEN_MINUTE",
                   "intervals": ["2015-09-12/2015-09-13"]}),
            json!({"type": "arbitrary", "queryGranularity": "HOUR",
                   "intervals": ["2015-09-12T06:00Z/2015-09-13"]}),
        ] {
            assert!(GranularitySpec::from_json(&fits).is_ok(), "{fits}");
        }
        for crosses in [
            json!({"segmentGranularity": "HOUR", "queryGranularity": "DAY"}),
            json!({"segmentGranularity": "MONTH", "queryGranularity": "WEEK"}),
            json!({"segmentGranularity": "DAY", "queryGranularity": "ALL"}),
            json!({"type": "arbitrary", "queryGranularity": "DAY",
                   "intervals": ["2015-09-12T06:00Z/2015-09-13"]}),
            json!({"segmentGranularity": "DAY",
                   "queryGranularity": {"type": "period", "period": "PT1H",
                                        "timeZone": "Asia/Kolkata"}}),
        ] {
            let e = GranularitySpec::from_json(&crosses).unwrap_err();
            assert_eq!(e.path, "queryGranularity", "{crosses}");
            assert!(
                e.message
                    .contains("does not fit in the segments' time chunks"),
                "{e}"
            );
        }
    }

    #[test]
    fn arbitrary_intervals_are_the_segments_and_must_not_overlap() {
        let spec = GranularitySpec::from_json(&json!({
            "type": "arbitrary", "intervals": ["2015-09-12T06:00Z/2015-09-13", "2015-09-12/2015-09-12T06:00Z"]
        }))
        .unwrap();
        assert_eq!(spec.segment_granularity, None);
        assert_eq!(
            spec.bucket_interval(ms("2015-09-12T07:00Z")),
            Some(iv("2015-09-12T06:00Z/2015-09-13"))
        );
        let err = GranularitySpec::from_json(&json!({
            "type": "arbitrary", "intervals": ["2015-09-12/2015-09-14", "2015-09-13/2015-09-15"]
        }))
        .unwrap_err();
        assert_eq!(err.path, "intervals");
        assert!(err
            .message
            .starts_with("Overlapping intervals: 2015-09-12T00:00:00.000Z/2015-09-14"));
    }

    #[test]
    fn errors_name_the_field() {
        for (spec, path) in [
            (
                json!({"segmentGranularity": "fortnight"}),
                "segmentGranularity",
            ),
            (json!({"queryGranularity": 5}), "queryGranularity"),
            (json!({"rollup": "yes"}), "rollup"),
            (
                json!({"intervals": ["2015-09-12/2015-09-13", "nope"]}),
                "intervals[1]",
            ),
            (json!({"intervals": "2015-09-12/2015-09-13"}), "intervals"),
            (json!({"type": "magic"}), "type"),
        ] {
            assert_eq!(
                GranularitySpec::from_json(&spec).unwrap_err().path,
                path,
                "{spec}"
            );
        }
    }
}
