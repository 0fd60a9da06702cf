//! Druid's `Granularity`: how time is cut into buckets, for segments (`segmentGranularity`:
//! one time chunk per bucket, which is what a lock and a segment interval cover) and for rows
//! (`queryGranularity`: timestamps truncated before rollup).
//!
//! Druid accepts a simple name (`"DAY"`, `"fifteen_minute"`, `"all"`, `"none"`), or an object:
//! `{"type":"period","period":"P1D","timeZone":"America/Los_Angeles","origin":…}` or
//! `{"type":"duration","duration":3600000,"origin":…}`. Every simple name is a period in UTC.
//! Buckets follow Joda's `PeriodGranularity.truncate`: a single-unit period of one (`P1D`,
//! `PT1H`) floors to that calendar unit (weeks start on Monday); a multiple (`PT6H`, `P2D`) or
//! a period with an origin counts whole periods from the origin (by default 1970-01-01T00:00 in
//! the granularity's time zone); a compound period (`PT1H30M`) is cut in fixed lengths from the
//! origin where the zone has no daylight saving, by stepping otherwise.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ToSpan, Unit, ZonedDateTime, ZonedDateTimeDifference};
use serde_json::Value;

use crate::interval::Interval;
use crate::time::{format_ts, parse_instant};

/// An ISO-8601 period with every field Joda's `Period` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Period {
    pub years: i64,
    pub months: i64,
    pub weeks: i64,
    pub days: i64,
    pub hours: i64,
    pub minutes: i64,
    pub seconds: i64,
    pub millis: i64,
}

impl Period {
    /// Parses `P1Y2M3W4DT5H6M7.5S` (fields optional, non-negative; fractions of seconds to
    /// milliseconds only).
    pub fn parse(s: &str) -> Result<Period, String> {
        let bad =
            || format!("Invalid period [{s}]: expected an ISO-8601 period such as P1D or PT1H");
        let rest = s.strip_prefix('P').ok_or_else(bad)?;
        let (date, time) = match rest.split_once('T') {
            Some((d, t)) if !t.is_empty() => (d, Some(t)),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        let mut p = Period::default();
        let mut any = false;
        for (part, is_time) in [(date, false), (time.unwrap_or(""), true)] {
            let mut num = String::new();
            for c in part.chars() {
                if c.is_ascii_digit() || c == '.' {
                    num.push(c);
                    continue;
                }
                if num.is_empty() {
                    return Err(bad());
                }
                any = true;
                if is_time && c == 'S' {
                    let (whole, frac) = num.split_once('.').unwrap_or((&num, ""));
                    p.seconds = whole.parse().map_err(|_| bad())?;
                    if frac.len() > 3 || !frac.chars().all(|c| c.is_ascii_digit()) {
                        return Err(bad());
                    }
                    p.millis = format!("{frac:0<3}").parse().map_err(|_| bad())?;
                } else {
                    let n: i64 = num.parse().map_err(|_| bad())?;
                    match (is_time, c) {
                        (false, 'Y') => p.years = n,
                        (false, 'M') => p.months = n,
                        (false, 'W') => p.weeks = n,
                        (false, 'D') => p.days = n,
                        (true, 'H') => p.hours = n,
                        (true, 'M') => p.minutes = n,
                        _ => return Err(bad()),
                    }
                }
                num.clear();
            }
            if !num.is_empty() {
                return Err(bad());
            }
        }
        if !any || p == Period::default() {
            return Err(format!(
                "Invalid period [{s}]: a zero period is not acceptable"
            ));
        }
        Ok(p)
    }

    fn fields(&self) -> [(i64, Unit); 8] {
        [
            (self.years, Unit::Year),
            (self.months, Unit::Month),
            (self.weeks, Unit::Week),
            (self.days, Unit::Day),
            (self.hours, Unit::Hour),
            (self.minutes, Unit::Minute),
            (self.seconds, Unit::Second),
            (self.millis, Unit::Millisecond),
        ]
    }

    /// The one non-zero field, or `None` for a compound period.
    fn single(&self) -> Option<(i64, Unit)> {
        let mut set = self.fields().into_iter().filter(|(n, _)| *n != 0);
        let first = set.next()?;
        set.next().is_none().then_some(first)
    }

    /// Its length if every field has a fixed length (days of 24 hours, as Joda's
    /// `toStandardDuration`): no years or months.
    fn standard_millis(&self) -> Option<i64> {
        (self.years == 0 && self.months == 0).then(|| {
            ((((self.weeks * 7 + self.days) * 24 + self.hours) * 60 + self.minutes) * 60
                + self.seconds)
                * 1000
                + self.millis
        })
    }

    fn span(&self, times: i64) -> Result<Span, String> {
        let mut span = Span::new();
        for (n, unit) in self.fields() {
            if n != 0 {
                let n = n.checked_mul(times).ok_or("period overflow")?;
                span = match unit {
                    Unit::Year => span.try_years(n),
                    Unit::Month => span.try_months(n),
                    Unit::Week => span.try_weeks(n),
                    Unit::Day => span.try_days(n),
                    Unit::Hour => span.try_hours(n),
                    Unit::Minute => span.try_minutes(n),
                    Unit::Second => span.try_seconds(n),
                    _ => span.try_milliseconds(n),
                }
                .map_err(|e| e.to_string())?;
            }
        }
        Ok(span)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P")?;
        for (n, c) in [
            (self.years, 'Y'),
            (self.months, 'M'),
            (self.weeks, 'W'),
            (self.days, 'D'),
        ] {
            if n != 0 {
                write!(f, "{n}{c}")?;
            }
        }
        if self.hours != 0 || self.minutes != 0 || self.seconds != 0 || self.millis != 0 {
            write!(f, "T")?;
            for (n, c) in [(self.hours, 'H'), (self.minutes, 'M')] {
                if n != 0 {
                    write!(f, "{n}{c}")?;
                }
            }
            match (self.seconds, self.millis) {
                (0, 0) => {}
                (s, 0) => write!(f, "{s}S")?,
                (s, ms) => write!(f, "{s}.{ms:03}S")?,
            }
        }
        Ok(())
    }
}

/// A way of cutting time into buckets.
#[derive(Debug, Clone, PartialEq)]
pub enum Granularity {
    /// One bucket for all time.
    All,
    /// A bucket per millisecond: timestamps are kept as they are.
    None,
    Period {
        period: Period,
        time_zone: TimeZone,
        /// Where counting starts; `None`: 1970-01-01T00:00 in `time_zone`.
        origin: Option<Timestamp>,
    },
    /// Fixed-length buckets counted from `origin` (default: the epoch).
    Duration { millis: i64, origin: Timestamp },
}

/// Druid's `GranularityType` names and their periods.
const SIMPLE: &[(&str, &str)] = &[
    ("SECOND", "PT1S"),
    ("MINUTE", "PT1M"),
    ("FIVE_MINUTE", "PT5M"),
    ("TEN_MINUTE", "PT10M"),
    ("FIFTEEN_MINUTE", "PT15M"),
    ("THIRTY_MINUTE", "PT30M"),
    ("HOUR", "PT1H"),
    ("SIX_HOUR", "PT6H"),
    ("EIGHT_HOUR", "PT8H"),
    ("DAY", "P1D"),
    ("WEEK", "P1W"),
    ("MONTH", "P1M"),
    ("QUARTER", "P3M"),
    ("YEAR", "P1Y"),
];

impl Granularity {
    /// A period in UTC with the default origin (every simple granularity).
    pub fn utc(period: Period) -> Granularity {
        Granularity::Period {
            period,
            time_zone: TimeZone::UTC,
            origin: None,
        }
    }

    /// Reads a simple name (any case).
    pub fn from_name(name: &str) -> Result<Granularity, String> {
        let upper = name.to_ascii_uppercase();
        match upper.as_str() {
            "ALL" => return Ok(Granularity::All),
            "NONE" => return Ok(Granularity::None),
            _ => {}
        }
        SIMPLE
            .iter()
            .find(|(n, _)| *n == upper)
            .map(|(_, p)| Granularity::utc(Period::parse(p).expect("a valid period")))
            .ok_or_else(|| {
                let names: Vec<&str> = ["ALL", "NONE"]
                    .into_iter()
                    .chain(SIMPLE.iter().map(|(n, _)| *n))
                    .collect();
                format!(
                    "Unknown granularity [{name}]: expected one of {names:?}, or an object with \"type\": \"period\" or \"duration\""
                )
            })
    }

    /// Reads Druid's JSON forms (a name, or a `period`/`duration`/`all`/`none` object).
    pub fn from_json(v: &Value) -> Result<Granularity, String> {
        let obj = match v {
            Value::String(s) => return Granularity::from_name(s),
            Value::Object(o) => o,
            other => {
                return Err(format!(
                    "A granularity must be a string or an object, not {other}"
                ))
            }
        };
        let field_str = |k: &str| -> Result<Option<&str>, String> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(format!("Granularity field [{k}] must be a string")),
            }
        };
        let origin = field_str("origin")?.map(parse_instant).transpose()?;
        match field_str("type")? {
            Some("period") => {
                let period =
                    field_str("period")?.ok_or("Granularity of type [period] needs a [period]")?;
                let time_zone = match field_str("timeZone")? {
                    None => TimeZone::UTC,
                    Some(tz) => {
                        TimeZone::get(tz).map_err(|e| format!("Unknown timeZone [{tz}]: {e}"))?
                    }
                };
                Ok(Granularity::Period {
                    period: Period::parse(period)?,
                    time_zone,
                    origin,
                })
            }
            Some("duration") => {
                let millis = obj
                    .get("duration")
                    .and_then(Value::as_i64)
                    .filter(|d| *d > 0)
                    .ok_or("Granularity of type [duration] needs a positive [duration] in milliseconds")?;
                Ok(Granularity::Duration {
                    millis,
                    origin: origin.unwrap_or(Timestamp::UNIX_EPOCH),
                })
            }
            Some(name) => Granularity::from_name(name),
            None => Err("A granularity object needs a [type]".to_string()),
        }
    }

    /// Druid's JSON of this granularity (as in a segment's `metadata.drd`): the name of a
    /// standard one (a simple period in UTC from the default origin), else an object.
    pub fn to_json(&self) -> Value {
        match self {
            Granularity::All => serde_json::json!({"type": "all"}),
            Granularity::None => serde_json::json!({"type": "none"}),
            Granularity::Period {
                period,
                time_zone,
                origin,
            } => {
                let text = period.to_string();
                let standard = SIMPLE
                    .iter()
                    .find(|(_, p)| *p == text)
                    .filter(|_| origin.is_none() && time_zone == &TimeZone::UTC);
                match standard {
                    Some((name, _)) => Value::String(name.to_string()),
                    None => serde_json::json!({
                        "type": "period",
                        "period": text,
                        "timeZone": time_zone.iana_name().unwrap_or("UTC"),
                        "origin": origin.map(format_ts),
                    }),
                }
            }
            Granularity::Duration { millis, origin } => serde_json::json!({
                "type": "duration",
                "duration": millis,
                "origin": format_ts(*origin),
            }),
        }
    }

    /// The start of the bucket holding `t`.
    pub fn bucket_start(&self, t: Timestamp) -> Timestamp {
        match self {
            Granularity::All => Timestamp::MIN,
            Granularity::None => t,
            Granularity::Duration { millis, origin } => floor_fixed(t, *origin, *millis),
            Granularity::Period {
                period,
                time_zone,
                origin,
            } => truncate(period, time_zone, *origin, t),
        }
    }

    /// The bucket holding `t`.
    pub fn bucket(&self, t: Timestamp) -> Interval {
        let start = self.bucket_start(t);
        Interval::new(start, self.increment(start))
    }

    /// The start of the next bucket after the one starting at `start`.
    pub fn increment(&self, start: Timestamp) -> Timestamp {
        match self {
            Granularity::All => Timestamp::MAX,
            Granularity::None => start.checked_add(1.millisecond()).unwrap_or(Timestamp::MAX),
            Granularity::Duration { millis, .. } => start
                .checked_add(Span::new().milliseconds(*millis))
                .unwrap_or(Timestamp::MAX),
            Granularity::Period {
                period, time_zone, ..
            } => period
                .span(1)
                .and_then(|s| {
                    start
                        .to_zoned_datetime(time_zone.clone())
                        .checked_add(s)
                        .map_err(|e| e.to_string())
                })
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::MAX),
        }
    }

    /// Whether the interval is exactly one bucket (Druid's `isAligned`).
    pub fn is_aligned(&self, interval: &Interval) -> bool {
        self.bucket(interval.start) == *interval
    }

    /// Druid's `granularitiesFinerThan`: the simple granularities (not ALL or NONE) whose
    /// bucket at the epoch is no longer than this one's, in this one's time zone and origin,
    /// longest first — what `segmentAllocate` tries when the preferred one does not fit.
    pub fn finer_than(&self) -> Vec<Granularity> {
        let (time_zone, origin) = match self {
            Granularity::Period {
                time_zone, origin, ..
            } => (time_zone.clone(), *origin),
            _ => (TimeZone::UTC, None),
        };
        let length = |g: &Granularity| {
            let b = g.bucket(Timestamp::UNIX_EPOCH);
            b.end
                .as_millisecond()
                .saturating_sub(b.start.as_millisecond())
        };
        let limit = length(self);
        let mut finer: Vec<Granularity> = SIMPLE
            .iter()
            .map(|(_, p)| Granularity::Period {
                period: Period::parse(p).expect("a valid period"),
                time_zone: time_zone.clone(),
                origin,
            })
            .filter(|g| length(g) <= limit)
            .collect();
        finer.sort_by_key(|g| std::cmp::Reverse(length(g)));
        finer
    }

    /// The buckets overlapping `interval`, in order (Druid's `getIterable`).
    pub fn buckets(&self, interval: &Interval) -> impl Iterator<Item = Interval> + '_ {
        let end = interval.end;
        let mut next = (!interval.is_empty()).then(|| self.bucket_start(interval.start));
        std::iter::from_fn(move || {
            let start = next.filter(|s| *s < end)?;
            let stop = self.increment(start);
            next = (stop > start).then_some(stop);
            Some(Interval::new(start, stop))
        })
    }
}

/// Floors `t` to a multiple of `millis` counted from `origin` (rounding down before it too).
fn floor_fixed(t: Timestamp, origin: Timestamp, millis: i64) -> Timestamp {
    let (t_ms, o_ms) = (t.as_millisecond(), origin.as_millisecond());
    let start = o_ms + (t_ms - o_ms).div_euclid(millis) * millis;
    Timestamp::from_millisecond(start).unwrap_or(t)
}

/// Joda's `PeriodGranularity.truncate` (see the module doc).
fn truncate(period: &Period, tz: &TimeZone, origin: Option<Timestamp>, t: Timestamp) -> Timestamp {
    let zoned = t.to_zoned_datetime(tz.clone());
    let origin_z = match origin {
        Some(o) => o.to_zoned_datetime(tz.clone()),
        // Druid's default origin: the epoch's fields, read in the granularity's zone.
        None => jiff::civil::date(1970, 1, 1)
            .at(0, 0, 0, 0)
            .to_zoned_datetime(tz.clone())
            .expect("1970-01-01 exists in every zone"),
    };
    let fixed_zone = tz.to_fixed_offset().is_ok();
    match period.single() {
        Some((1, unit)) if origin.is_none() => floor_to_unit(&zoned, unit).unwrap_or(t),
        Some((n, unit)) if unit >= Unit::Day || !fixed_zone => {
            count_from_origin(&zoned, &origin_z, n, unit).unwrap_or(t)
        }
        // Hours and finer in a zone without transitions, and compound periods there: whole
        // fixed lengths from the origin (Joda's `truncateMillisPeriod`).
        _ if fixed_zone => match period.standard_millis() {
            Some(ms) => floor_fixed(t, origin_z.timestamp(), ms),
            None => step_from_origin(period, &zoned, &origin_z).unwrap_or(t),
        },
        _ => step_from_origin(period, &zoned, &origin_z).unwrap_or(t),
    }
}

/// Floors a zoned time to the start of its year, month, week (Monday), day, hour, minute,
/// second or millisecond.
fn floor_to_unit(z: &ZonedDateTime, unit: Unit) -> Result<Timestamp, String> {
    let dt = z.datetime();
    let d = dt.date();
    let civil = match unit {
        Unit::Year => jiff::civil::date(d.year(), 1, 1).at(0, 0, 0, 0),
        Unit::Month => jiff::civil::date(d.year(), d.month(), 1).at(0, 0, 0, 0),
        Unit::Week => {
            let back = i64::from(d.weekday().to_monday_zero_offset());
            d.checked_sub(back.days())
                .map_err(|e| e.to_string())?
                .at(0, 0, 0, 0)
        }
        Unit::Day => d.at(0, 0, 0, 0),
        Unit::Hour => d.at(dt.hour(), 0, 0, 0),
        Unit::Minute => d.at(dt.hour(), dt.minute(), 0, 0),
        Unit::Second => d.at(dt.hour(), dt.minute(), dt.second(), 0),
        _ => d.at(
            dt.hour(),
            dt.minute(),
            dt.second(),
            i32::from(dt.millisecond()) * 1_000_000,
        ),
    };
    civil
        .to_zoned_datetime(z.time_zone().clone())
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

/// Whole `n`-unit periods from the origin, rounding down before it too.
fn count_from_origin(
    z: &ZonedDateTime,
    origin: &ZonedDateTime,
    n: i64,
    unit: Unit,
) -> Result<Timestamp, String> {
    let diff = origin
        .until(ZonedDateTimeDifference::new(z).largest(unit).smallest(unit))
        .map_err(|e| e.to_string())?;
    let whole = match unit {
        Unit::Year => i64::from(diff.get_years()),
        Unit::Month => i64::from(diff.get_months()),
        Unit::Week => i64::from(diff.get_weeks()),
        Unit::Day => i64::from(diff.get_days()),
        Unit::Hour => i64::from(diff.get_hours()),
        Unit::Minute => diff.get_minutes(),
        Unit::Second => diff.get_seconds(),
        _ => diff.get_milliseconds(),
    };
    let mut unit_period = Period::default();
    match unit {
        Unit::Year => unit_period.years = 1,
        Unit::Month => unit_period.months = 1,
        Unit::Week => unit_period.weeks = 1,
        Unit::Day => unit_period.days = 1,
        Unit::Hour => unit_period.hours = 1,
        Unit::Minute => unit_period.minutes = 1,
        Unit::Second => unit_period.seconds = 1,
        _ => unit_period.millis = 1,
    }
    let mut k = whole.div_euclid(n) * n;
    let add = |k: i64| -> Result<Timestamp, String> {
        origin
            .checked_add(unit_period.span(k)?)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string())
    };
    let mut start = add(k)?;
    // The difference is truncated toward the origin; before it, the bucket starts a period
    // earlier.
    while start > z.timestamp() {
        k -= n;
        start = add(k)?;
    }
    Ok(start)
}

/// Steps whole periods from the origin (Joda's `truncateCompoundPeriod`), for compound
/// periods whose length varies with the calendar.
fn step_from_origin(
    period: &Period,
    z: &ZonedDateTime,
    origin: &ZonedDateTime,
) -> Result<Timestamp, String> {
    let t = z.timestamp();
    let step = period.span(1)?;
    let mut current = origin.clone();
    if t >= origin.timestamp() {
        loop {
            let next = current.checked_add(step).map_err(|e| e.to_string())?;
            if t < next.timestamp() {
                return Ok(current.timestamp());
            }
            current = next;
        }
    }
    while t < current.timestamp() {
        current = current.checked_sub(step).map_err(|e| e.to_string())?;
    }
    Ok(current.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        parse_instant(s).unwrap()
    }

    fn bucket(g: &Granularity, t: &str) -> String {
        g.bucket(ts(t)).to_string()
    }

    #[test]
    fn periods_parse_and_print_as_iso() {
        let p = Period::parse("P1Y2M3W4DT5H6M7.5S").unwrap();
        assert_eq!((p.years, p.weeks, p.seconds, p.millis), (1, 3, 7, 500));
        assert_eq!(p.to_string(), "P1Y2M3W4DT5H6M7.500S");
        for bad in ["", "P", "1D", "PT", "P1H", "PT1D", "P0D", "PTS", "P1.5D"] {
            assert!(Period::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn druids_json_of_a_granularity_reads_back() {
        for text in [
            json!("HOUR"),
            json!({"type": "none"}),
            json!({"type": "all"}),
            json!({"type": "period", "period": "PT2H", "timeZone": "America/Los_Angeles",
                   "origin": null}),
            json!({"type": "period", "period": "P1D", "timeZone": "UTC",
                   "origin": "2015-01-01T06:00:00.000Z"}),
            json!({"type": "duration", "duration": 5000, "origin": "1970-01-01T00:00:00.000Z"}),
        ] {
            let g = Granularity::from_json(&text).unwrap();
            assert_eq!(g.to_json(), text);
        }
        assert_eq!(
            Granularity::from_name("fifteen_minute").unwrap().to_json(),
            json!("FIFTEEN_MINUTE")
        );
    }

    #[test]
    fn simple_names_floor_to_their_unit_in_utc() {
        let t = "2015-09-12T17:47:23.456Z";
        for (name, want) in [
            (
                "second",
                "2015-09-12T17:47:23.000Z/2015-09-12T17:47:24.000Z",
            ),
            (
                "MINUTE",
                "2015-09-12T17:47:00.000Z/2015-09-12T17:48:00.000Z",
            ),
            (
                "fifteen_minute",
                "2015-09-12T17:45:00.000Z/2015-09-12T18:00:00.000Z",
            ),
            ("HOUR", "2015-09-12T17:00:00.000Z/2015-09-12T18:00:00.000Z"),
            (
                "SIX_HOUR",
                "2015-09-12T12:00:00.000Z/2015-09-12T18:00:00.000Z",
            ),
            (
                "EIGHT_HOUR",
                "2015-09-12T16:00:00.000Z/2015-09-13T00:00:00.000Z",
            ),
            ("DAY", "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"),
            // 2015-09-12 is a Saturday; weeks start on Monday.
            ("WEEK", "2015-09-07T00:00:00.000Z/2015-09-14T00:00:00.000Z"),
            ("MONTH", "2015-09-01T00:00:00.000Z/2015-10-01T00:00:00.000Z"),
            (
                "QUARTER",
                "2015-07-01T00:00:00.000Z/2015-10-01T00:00:00.000Z",
            ),
            ("YEAR", "2015-01-01T00:00:00.000Z/2016-01-01T00:00:00.000Z"),
        ] {
            let g = Granularity::from_json(&json!(name)).unwrap();
            assert_eq!(bucket(&g, t), want, "{name}");
        }
        assert!(Granularity::from_name("fortnight")
            .unwrap_err()
            .contains("FIFTEEN_MINUTE"));
    }

    #[test]
    fn all_and_none() {
        let t = ts("2015-09-12T17:47:23.456Z");
        assert_eq!(Granularity::None.bucket_start(t), t);
        assert_eq!(
            Granularity::None.bucket(t).end,
            ts("2015-09-12T17:47:23.457Z")
        );
        assert_eq!(Granularity::All.bucket(t), Interval::eternity());
    }

    #[test]
    fn multiples_count_from_the_origin() {
        let g = Granularity::from_json(&json!({"type":"period","period":"P2D"})).unwrap();
        // 2015-09-12 is day 16,690 after 1970-01-01: even, so a bucket starts there.
        assert_eq!(
            bucket(&g, "2015-09-13T10:00Z"),
            "2015-09-12T00:00:00.000Z/2015-09-14T00:00:00.000Z"
        );
        let g = Granularity::from_json(
            &json!({"type":"period","period":"PT1H","origin":"2015-01-01T00:30:00Z"}),
        )
        .unwrap();
        assert_eq!(
            bucket(&g, "2015-09-12T10:10Z"),
            "2015-09-12T09:30:00.000Z/2015-09-12T10:30:00.000Z"
        );
        let g = Granularity::from_json(&json!({"type":"duration","duration":5400000})).unwrap();
        assert_eq!(
            bucket(&g, "1970-01-01T02:00Z"),
            "1970-01-01T01:30:00.000Z/1970-01-01T03:00:00.000Z"
        );
        // Before the origin, buckets still round down.
        assert_eq!(
            bucket(&g, "1969-12-31T23:00Z"),
            "1969-12-31T22:30:00.000Z/1970-01-01T00:00:00.000Z"
        );
        let g = Granularity::from_json(&json!({"type":"period","period":"P3M"})).unwrap();
        assert_eq!(
            bucket(&g, "1969-11-15T00:00Z"),
            "1969-10-01T00:00:00.000Z/1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn compound_periods_are_cut_in_fixed_lengths() {
        let g = Granularity::from_json(&json!({"type":"period","period":"PT1H30M"})).unwrap();
        assert_eq!(
            bucket(&g, "1970-01-01T02:00Z"),
            "1970-01-01T01:30:00.000Z/1970-01-01T03:00:00.000Z"
        );
    }

    #[test]
    fn days_in_a_zone_follow_its_midnights_across_daylight_saving() {
        let g = Granularity::from_json(
            &json!({"type":"period","period":"P1D","timeZone":"America/Los_Angeles"}),
        )
        .unwrap();
        // 2015-03-08 is 23 hours long in Los Angeles.
        assert_eq!(
            bucket(&g, "2015-03-08T12:00Z"),
            "2015-03-08T08:00:00.000Z/2015-03-09T07:00:00.000Z"
        );
        assert!(Granularity::from_json(
            &json!({"type":"period","period":"P1D","timeZone":"Mars/Olympus"})
        )
        .is_err());
    }

    #[test]
    fn finer_granularities_are_listed_longest_first() {
        let names = |g: &Granularity| -> Vec<String> {
            g.finer_than()
                .iter()
                .map(|g| match g {
                    Granularity::Period { period, .. } => period.to_string(),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(
            names(&Granularity::from_name("HOUR").unwrap()),
            ["PT1H", "PT30M", "PT15M", "PT10M", "PT5M", "PT1M", "PT1S"]
        );
        // A period that is not a simple granularity is not in its own list.
        let two_days = Granularity::from_json(&json!({"type":"period","period":"P2D"})).unwrap();
        assert_eq!(names(&two_days)[0], "P1D");
        assert_eq!(names(&Granularity::All)[0], "P1Y");
    }

    #[test]
    fn buckets_cover_an_interval_in_order() {
        let g = Granularity::from_name("DAY").unwrap();
        let iv: Interval = "2015-09-12T12:00Z/2015-09-14T01:00Z".parse().unwrap();
        let days: Vec<String> = g.buckets(&iv).map(|b| b.to_string()).collect();
        assert_eq!(
            days,
            [
                "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z",
                "2015-09-13T00:00:00.000Z/2015-09-14T00:00:00.000Z",
                "2015-09-14T00:00:00.000Z/2015-09-15T00:00:00.000Z"
            ]
        );
        assert!(g.is_aligned(&"2015-09-12/2015-09-13".parse().unwrap()));
        assert!(!g.is_aligned(&iv));
        assert_eq!(Granularity::All.buckets(&iv).count(), 1);
    }
}
