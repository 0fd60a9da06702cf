//! The timestamp spec: which field holds a row's time, and how to read it.
//!
//! Druid's `TimestampSpec` (`column` default `timestamp`, `format` default `auto`,
//! `missingValue`) with the formats of its `TimestampParser`: `auto` (a string of digits is
//! milliseconds, any other string is ISO-8601 with a `T` or a space before the time and an
//! optional trailing zone name; a number is milliseconds), `iso`, `millis`, `posix`, `micro`,
//! `nano`, `ruby` (seconds with a fraction), and any other format is a Joda pattern
//! ([`crate::joda`]). Strings are trimmed and stripped of surrounding double quotes first, as
//! Druid does. A row whose time cannot be read is a [`ParseError`] with Druid's message
//! (`Timestamp[...] is unparseable! Event: {...}`).
//!
//! Every row goes through here, so the ISO reader is hand-written arithmetic over the bytes
//! (no allocation, no time zone database) and only zone names reach jiff.

use std::fmt::Write as _;
use std::sync::Arc;

use jiff::tz::TimeZone;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value as Json;

use crate::joda::{parse_offset, JodaFormat};
use crate::row::Value;
use crate::spec::fields::{kind, Obj};
use crate::{ParseError, SpecError};

/// How the timestamp column is read.
#[derive(Debug, Clone, PartialEq)]
pub enum TimestampFormat {
    Auto,
    Iso,
    Millis,
    Posix,
    Micro,
    Nano,
    Ruby,
    Joda(JodaFormat),
}

impl TimestampFormat {
    /// Reads a format name (any case) or compiles a Joda pattern.
    pub fn parse(format: &str) -> Result<TimestampFormat, String> {
        Ok(match format.to_ascii_lowercase().as_str() {
            "auto" => TimestampFormat::Auto,
            "iso" => TimestampFormat::Iso,
            "millis" => TimestampFormat::Millis,
            "posix" => TimestampFormat::Posix,
            "micro" => TimestampFormat::Micro,
            "nano" => TimestampFormat::Nano,
            "ruby" => TimestampFormat::Ruby,
            _ => {
                TimestampFormat::Joda(JodaFormat::compile(format).map_err(|e| {
                    format!("Unable to parse timestamps with format [{format}]: {e}")
                })?)
            }
        })
    }
}

/// Druid's `TimestampSpec`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimestampSpec {
    pub column: String,
    /// The format as written, for the spec Druid stores with each segment.
    pub format_name: String,
    pub format: TimestampFormat,
    /// The time of a row without one (Druid's data loader uses it; production specs do not).
    pub missing_value: Option<i64>,
}

impl Default for TimestampSpec {
    fn default() -> Self {
        TimestampSpec {
            column: "timestamp".into(),
            format_name: "auto".into(),
            format: TimestampFormat::Auto,
            missing_value: None,
        }
    }
}

impl Serialize for TimestampSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("column", &self.column)?;
        map.serialize_entry("format", &self.format_name)?;
        let missing = self.missing_value.map(|ms| {
            jiff::Timestamp::from_millisecond(ms)
                .map(steward_model::time::format_ts)
                .unwrap_or_else(|_| ms.to_string())
        });
        map.serialize_entry("missingValue", &missing)?;
        map.end()
    }
}

impl TimestampSpec {
    /// Reads a `timestampSpec` object; error paths are relative to it.
    pub fn from_json(v: &Json) -> Result<TimestampSpec, SpecError> {
        let obj = Obj::new(v, "a timestampSpec")?;
        let column = obj.string("column")?.unwrap_or("timestamp").to_string();
        let format_name = obj.string("format")?.unwrap_or("auto").to_string();
        let format =
            TimestampFormat::parse(&format_name).map_err(|e| SpecError::new("format", e))?;
        let missing_value = match obj.get("missingValue") {
            None => None,
            Some(Json::Number(n)) => Some(n.as_i64().ok_or_else(|| {
                SpecError::new("missingValue", format!("Expected milliseconds, not {n}"))
            })?),
            Some(Json::String(s)) => Some(parse_iso_with(s, IsoFlavor::Iso).ok_or_else(|| {
                SpecError::new(
                    "missingValue",
                    format!("Invalid format: \"{s}\" is not an ISO-8601 date-time"),
                )
            })?),
            Some(other) => {
                return Err(SpecError::new(
                    "missingValue",
                    format!("Expected an ISO-8601 date-time, not {}", kind(other)),
                ))
            }
        };
        Ok(TimestampSpec {
            column,
            format_name,
            format,
            missing_value,
        })
    }

    /// The row's time from its fields, or Druid's parse error naming the value and the event.
    pub fn extract(&self, fields: &[(Arc<str>, Value)]) -> Result<i64, ParseError> {
        let raw = fields
            .iter()
            .find(|(name, _)| **name == *self.column)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null());
        let parsed = match raw {
            Some(v) => self.parse_value(v),
            None => self.missing_value,
        };
        parsed.ok_or_else(|| {
            let shown = raw.map_or_else(|| "null".to_string(), java_text);
            ParseError::new(format!(
                "Timestamp[{shown}] is unparseable! Event: {}",
                event_text(fields)
            ))
        })
    }

    /// Reads one value in this spec's format.
    pub fn parse_value(&self, raw: &Value) -> Option<i64> {
        match raw {
            Value::Long(n) => self.parse_number(*n as f64, Some(*n)),
            Value::Double(d) => self.parse_number(*d, None),
            Value::String(s) => self.parse_str(s),
            Value::Null | Value::Array(_) => None,
        }
    }

    fn parse_number(&self, value: f64, exact: Option<i64>) -> Option<i64> {
        // Java's Number.longValue(): truncation toward zero.
        let whole = exact.unwrap_or(value as i64);
        match &self.format {
            TimestampFormat::Auto | TimestampFormat::Millis => Some(whole),
            TimestampFormat::Posix => whole.checked_mul(1000),
            TimestampFormat::Micro => Some(whole / 1000),
            TimestampFormat::Nano => Some(whole / 1_000_000),
            TimestampFormat::Ruby => Some((value * 1000.0) as i64),
            // A Joda pattern or `iso` reads the number's text, as Druid calls toString().
            TimestampFormat::Iso | TimestampFormat::Joda(_) => {
                let text = match exact {
                    Some(n) => n.to_string(),
                    None => java_double(value),
                };
                self.parse_str(&text)
            }
        }
    }

    fn parse_str(&self, raw: &str) -> Option<i64> {
        let text = strip_quotes(raw);
        if text.is_empty() {
            return None;
        }
        match &self.format {
            TimestampFormat::Auto => {
                if text.bytes().all(|b| b.is_ascii_digit()) {
                    text.parse().ok()
                } else {
                    parse_auto(text)
                }
            }
            TimestampFormat::Iso => parse_iso_with(text, IsoFlavor::Iso),
            TimestampFormat::Millis => text.parse().ok(),
            TimestampFormat::Posix => text.parse::<i64>().ok()?.checked_mul(1000),
            TimestampFormat::Micro => Some(text.parse::<i64>().ok()? / 1000),
            TimestampFormat::Nano => Some(text.parse::<i64>().ok()? / 1_000_000),
            TimestampFormat::Ruby => {
                let seconds: f64 = text.parse().ok()?;
                seconds.is_finite().then_some((seconds * 1000.0) as i64)
            }
            TimestampFormat::Joda(format) => format.parse(text, &TimeZone::UTC),
        }
    }
}

/// Druid's `ParserUtils.stripQuotes`: trims, then drops one pair of surrounding double quotes.
fn strip_quotes(text: &str) -> &str {
    let trimmed = text.trim();
    match trimmed
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
    {
        Some(inner) => inner.trim(),
        None => trimmed,
    }
}

/// Reads an ISO-8601 date or date-time the way Druid's `auto` format reads strings
/// (`2015-09-12`, `2015-09-12T00:46:58.771Z`, offsets, a space for `T`). Milliseconds UTC.
pub fn parse_iso(text: &str) -> Option<i64> {
    parse_iso_with(text, IsoFlavor::Auto)
}

/// `auto` with a trailing zone name (`2009-02-13 23:31:30 PST`): Druid strips a known zone id
/// after the last space and reads the rest in UTC, so the name does not move the instant.
fn parse_auto(text: &str) -> Option<i64> {
    if let Some(space) = text.rfind(' ').filter(|i| *i > 0) {
        let zone = &text[space + 1..];
        if is_zone_id(zone) {
            return parse_iso_with(&text[..space], IsoFlavor::Auto);
        }
    }
    parse_iso_with(text, IsoFlavor::Auto)
}

/// Java's `TimeZone.getAvailableIDs` holds the tz database's ids and these old three-letter
/// ones too.
fn is_zone_id(name: &str) -> bool {
    const JAVA_SHORT_IDS: [&str; 28] = [
        "ACT", "AET", "AGT", "ART", "AST", "BET", "BST", "CAT", "CNT", "CST", "CTT", "EAT", "ECT",
        "IET", "IST", "JST", "MIT", "NET", "NST", "PLT", "PNT", "PRT", "PST", "SST", "VST", "EST",
        "MST", "HST",
    ];
    !name.is_empty()
        && (JAVA_SHORT_IDS.contains(&name)
            || name == "UTC"
            || name == "GMT"
            || (name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
                && TimeZone::get(name).is_ok()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum IsoFlavor {
    /// Druid's auto parser: a date, then optionally `T` or a space, a time and an offset.
    Auto,
    /// Joda's `dateTimeParser`: `T` only, and a time without a date is allowed.
    Iso,
}

/// A cursor over ASCII bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek().is_some_and(|c| c.eq_ignore_ascii_case(&b));
        self.at += usize::from(hit);
        hit
    }

    /// Up to `max` digits, at least `min`.
    fn number(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.at;
        let mut value: i64 = 0;
        while self.at - start < max {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    value = value * 10 + i64::from(b - b'0');
                    self.at += 1;
                }
                _ => break,
            }
        }
        (self.at - start >= min).then_some(value)
    }

    /// A fraction after `.` or `,` as a share of `unit_millis`, to the millisecond.
    fn fraction(&mut self, unit_millis: i64) -> Option<Option<i64>> {
        if !(self.eat(b'.') || self.eat(b',')) {
            return Some(None);
        }
        let start = self.at;
        let mut scaled: i128 = 0;
        let mut denominator: i128 = 1;
        while self.at - start < 9 {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    scaled = scaled * 10 + i128::from(b - b'0');
                    denominator *= 10;
                    self.at += 1;
                }
                _ => break,
            }
        }
        if self.at == start {
            return None;
        }
        Some(Some(
            (scaled * i128::from(unit_millis) / denominator) as i64,
        ))
    }
}

/// Joda's ISO grammar: `yyyy[-MM[-dd]]`, `yyyy-DDD` or `yyyy-Www[-e]`, then a time
/// `HH[:mm[:ss[.fff]]]` (a fraction may end any of them) and an offset `Z`/`±HH[:mm]`.
fn parse_iso_with(text: &str, flavor: IsoFlavor) -> Option<i64> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let days =
        if flavor == IsoFlavor::Iso && c.peek().is_some_and(|b| b.eq_ignore_ascii_case(&b'T')) {
            0
        } else {
            date_element(&mut c)?
        };
    let mut millis_of_day = 0;
    let mut offset_seconds = 0;
    let separator = c.eat(b'T') || (flavor == IsoFlavor::Auto && c.eat(b' '));
    if separator {
        if c.peek().is_some_and(|b| b.is_ascii_digit()) {
            millis_of_day = time_element(&mut c)?;
        }
        if c.at < c.bytes.len() {
            let (seconds, rest) = parse_offset(&text[c.at..])?;
            offset_seconds = seconds;
            c.at = text.len() - rest.len();
        }
    }
    if c.at != c.bytes.len() {
        return None;
    }
    days.checked_mul(86_400_000)?
        .checked_add(millis_of_day)?
        .checked_sub(i64::from(offset_seconds) * 1000)
}

/// Days since the epoch of the date at the cursor.
fn date_element(c: &mut Cursor) -> Option<i64> {
    let negative = c.eat(b'-') || {
        c.eat(b'+');
        false
    };
    let year = c.number(1, 9)? * if negative { -1 } else { 1 };
    if !c.eat(b'-') {
        return Some(days_from_civil(year, 1, 1));
    }
    if c.eat(b'W') {
        let week = c.number(1, 2).filter(|w| (1..=53).contains(w))?;
        let weekday = if c.eat(b'-') {
            c.number(1, 1).filter(|d| (1..=7).contains(d))?
        } else {
            1
        };
        // ISO week 1 holds January 4th; weeks start on Monday.
        let jan4 = days_from_civil(year, 1, 4);
        let week1_monday = jan4 - (jan4 + 3).rem_euclid(7);
        return Some(week1_monday + (week - 1) * 7 + weekday - 1);
    }
    let start = c.at;
    let first = c.number(1, 3)?;
    if c.at - start == 3 {
        let length = if is_leap(year) { 366 } else { 365 };
        return (1..=length)
            .contains(&first)
            .then(|| days_from_civil(year, 1, 1) + first - 1);
    }
    let month = first;
    if !(1..=12).contains(&month) {
        return None;
    }
    let day = if c.eat(b'-') { c.number(1, 2)? } else { 1 };
    (1..=days_in_month(year, month))
        .contains(&day)
        .then(|| days_from_civil(year, month, day))
}

/// Milliseconds into the day of the time at the cursor.
fn time_element(c: &mut Cursor) -> Option<i64> {
    let hour = c.number(1, 2).filter(|h| *h <= 23)?;
    let mut millis = hour * 3_600_000;
    if c.eat(b':') {
        let minute = c.number(1, 2).filter(|m| *m <= 59)?;
        millis += minute * 60_000;
        if c.eat(b':') {
            let second = c.number(1, 2).filter(|s| *s <= 59)?;
            millis += second * 1000 + c.fraction(1000)?.unwrap_or(0);
        } else {
            millis += c.fraction(60_000)?.unwrap_or(0);
        }
    } else {
        millis += c.fraction(3_600_000)?.unwrap_or(0);
    }
    Some(millis)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A value as Java's `toString` shows it in Druid's messages.
fn java_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Long(n) => n.to_string(),
        Value::Double(d) => java_double(*d),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(java_text).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// Java's `Double.toString` for the values a row holds: `1.0`, `0.5`, `1.0E10`.
fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let magnitude = d.abs();
    if magnitude != 0.0 && !(1e-3..1e7).contains(&magnitude) {
        let text = format!("{d:E}");
        let (mantissa, exponent) = text.split_once('E').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        return format!("{mantissa}E{exponent}");
    }
    let text = d.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// The event as Druid prints a row's map in a parse error, cut at 100 characters.
fn event_text(fields: &[(Arc<str>, Value)]) -> String {
    let mut text = String::from("{");
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{name}={}", java_text(value));
        if text.len() > 100 {
            break;
        }
    }
    text.push('}');
    if text.len() < 100 {
        return text;
    }
    let cut = (0..=100)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}...", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ms(iso: &str) -> i64 {
        iso.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn spec(format: &str) -> TimestampSpec {
        TimestampSpec::from_json(&json!({"column": "t", "format": format})).unwrap()
    }

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    // Druid's TimestampParserTest.testAuto.
    #[test]
    fn auto_reads_millis_iso_spaces_quotes_and_zone_names() {
        let auto = spec("auto");
        let t = ms("2009-02-13T23:31:30Z");
        for text in [
            "1234567890000",
            "2009-02-13T23:31:30Z",
            "2009-02-13 23:31:30Z",
            "2009-02-13 23:31:30",
            "2009-02-13 23:31:30 UTC",
            // Druid strips the zone name and reads the rest in UTC.
            "2009-02-13 23:31:30 PST",
            "\"2009-02-13 23:31:30 PST\"",
        ] {
            assert_eq!(auto.parse_value(&s(text)), Some(t), "{text}");
        }
        let minus8 = ms("2009-02-13T23:31:30-08:00");
        assert_eq!(
            auto.parse_value(&s("2009-02-13T23:31:30-08:00")),
            Some(minus8)
        );
        assert_eq!(
            auto.parse_value(&s("2009-02-13 23:31:30-08:00")),
            Some(minus8)
        );
        assert_eq!(
            auto.parse_value(&s("\"2009-02-13\"")),
            Some(ms("2009-02-13T00:00Z"))
        );
        assert_eq!(auto.parse_value(&Value::Long(1234567890000)), Some(t));
        assert_eq!(auto.parse_value(&s("asdf")), None);
        assert_eq!(auto.parse_value(&s("")), None);
    }

    #[test]
    fn iso_grammar_is_as_lenient_as_jodas() {
        for (text, want) in [
            ("2015-09-12T00:46:58.771Z", "2015-09-12T00:46:58.771Z"),
            ("2015-3-28T01:06:34.977Z", "2015-03-28T01:06:34.977Z"),
            ("2015-09-12T10", "2015-09-12T10:00Z"),
            ("2015-09-12T10.5", "2015-09-12T10:30Z"),
            ("2015-09-12T10:15,5", "2015-09-12T10:15:30Z"),
            (
                "2015-09-12T10:15:00.123456789+05:30",
                "2015-09-12T04:45:00.123Z",
            ),
            ("2015-09-12T10:15+0530", "2015-09-12T04:45Z"),
            ("2015-09-12T10:15-03", "2015-09-12T13:15Z"),
            ("2015-09", "2015-09-01T00:00Z"),
            ("2015", "2015-01-01T00:00Z"),
            ("2015-255", "2015-09-12T00:00Z"),
            ("2015-W37-6", "2015-09-12T00:00Z"),
            ("2015-09-12t10:00z", "2015-09-12T10:00Z"),
            ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(parse_iso(text), Some(ms(want)), "{text}");
        }
        for bad in [
            "2015-13-01",
            "2015-02-29",
            "2015-09-12T24:00",
            "2015-09-12X",
            "2015-09-12T10:00Zjunk",
            "2015-09-12Z",
            "",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
        let iso = spec("iso");
        assert_eq!(iso.parse_value(&s("T10:00")), Some(ms("1970-01-01T10:00Z")));
        assert_eq!(iso.parse_value(&s("2015-09-12 10:00")), None);
    }

    // Druid's TimestampParserTest.testRuby, testNano and testFormatsForNumberBasedTimestamp.
    #[test]
    fn numeric_formats() {
        let t = ms("2013-01-16T14:41:47.435Z");
        assert_eq!(spec("ruby").parse_value(&s("1358347307.435447")), Some(t));
        assert_eq!(
            spec("ruby").parse_value(&Value::Double(1358347307.435447)),
            Some(t)
        );
        let nano = spec("nano");
        assert_eq!(
            nano.parse_value(&s("1427504794977098494")),
            Some(ms("2015-03-28T01:06:34.977Z"))
        );
        for zero in [s("999999"), s("0"), s("0000"), Value::Long(999999)] {
            assert_eq!(nano.parse_value(&zero), Some(0));
        }
        let t = ms("2020-05-15T20:20:40Z");
        assert_eq!(
            spec("millis").parse_value(&Value::Long(1589574040000)),
            Some(t)
        );
        assert_eq!(
            spec("auto").parse_value(&Value::Long(1589574040000)),
            Some(t)
        );
        assert_eq!(spec("posix").parse_value(&Value::Long(1589574040)), Some(t));
        assert_eq!(spec("posix").parse_value(&s("1589574040")), Some(t));
        assert_eq!(
            spec("micro").parse_value(&Value::Long(1589574040000000)),
            Some(t)
        );
        assert_eq!(
            spec("yyyyMMdd").parse_value(&Value::Long(20200514)),
            Some(ms("2020-05-14T00:00Z"))
        );
        assert_eq!(spec("posix").parse_value(&s("1.5")), None);
    }

    // Druid's TimestampSpecTest.
    #[test]
    fn extracts_from_the_column_or_the_missing_value() {
        let spec =
            TimestampSpec::from_json(&json!({"column": "TIMEstamp", "format": "yyyy-MM-dd"}))
                .unwrap();
        let row = vec![("TIMEstamp".into(), s("2014-03-01"))];
        assert_eq!(spec.extract(&row), Ok(ms("2014-03-01T00:00Z")));
        let with_missing =
            TimestampSpec::from_json(&json!({"missingValue": "1970-01-01T00:00:00Z"})).unwrap();
        assert_eq!(with_missing.extract(&[("dim".into(), s("foo"))]), Ok(0));
        let spec = TimestampSpec::from_json(&json!({"format": "yyyy-MM-dd'T'HH:mm:ss"})).unwrap();
        assert_eq!(
            spec.extract(&[("timestamp".into(), s("2000-01-01T05:00:01"))]),
            Ok(ms("2000-01-01T05:00:01Z"))
        );
    }

    #[test]
    fn unparseable_and_null_timestamps_give_druids_message() {
        let spec = TimestampSpec::default();
        let row: Vec<(Arc<str>, Value)> = vec![
            ("timestamp".into(), s("asdf")),
            ("x".into(), Value::Double(1.0)),
            ("tags".into(), Value::Array(vec![s("a"), s("b")])),
        ];
        assert_eq!(
            spec.extract(&row).unwrap_err().message,
            "Timestamp[asdf] is unparseable! Event: {timestamp=asdf, x=1.0, tags=[a, b]}"
        );
        let row: Vec<(Arc<str>, Value)> = vec![("timestamp".into(), Value::Null)];
        assert_eq!(
            spec.extract(&row).unwrap_err().message,
            "Timestamp[null] is unparseable! Event: {timestamp=null}"
        );
        let long: Vec<(Arc<str>, Value)> = (0..30)
            .map(|i| (Arc::from(format!("field{i}")), Value::Long(i)))
            .collect();
        let message = spec.extract(&long).unwrap_err().message;
        assert!(message.ends_with("field8=8, field9=9,..."), "{message}");
    }

    #[test]
    fn spec_json_defaults_errors_and_serialization() {
        let defaults = TimestampSpec::from_json(&json!({})).unwrap();
        assert_eq!(defaults, TimestampSpec::default());
        let err = TimestampSpec::from_json(&json!({"format": "yyyy-qq"})).unwrap_err();
        assert_eq!(err.path, "format");
        assert!(err
            .message
            .starts_with("Unable to parse timestamps with format [yyyy-qq]"));
        assert_eq!(
            TimestampSpec::from_json(&json!({"column": 3}))
                .unwrap_err()
                .path,
            "column"
        );
        assert_eq!(
            serde_json::to_value(spec("posix")).unwrap(),
            json!({"column": "t", "format": "posix", "missingValue": null})
        );
        assert_eq!(java_double(1.0e10), "1.0E10");
        assert_eq!(java_double(0.5), "0.5");
    }
}
