//! Joda-Time `DateTimeFormat` patterns, as Druid's timestamp specs and time functions use them.
//!
//! A timestamp spec's `format` that is not one of Druid's names (`auto`, `iso`, `millis`, ...)
//! is a Joda pattern such as `yyyy-MM-dd'T'HH:mm:ss.SSSZ` or `EEE MMM dd HH:mm:ss z yyyy`, and
//! the expression functions `timestamp_parse`/`timestamp_format` take the same patterns. This
//! module compiles a pattern once into tokens and then parses and prints with them, following
//! Joda's rules rather than strftime's: a numeric field parses up to its maximum width (`d`
//! reads `9` and `09`; a year followed by another number reads only as many digits as the
//! pattern has, so `yyyyMMdd` works), `S` is a fraction (`S` reads tenths, `SSS` thousandths),
//! text fields match English names ignoring case, `z` reads the short names Joda knows (`UTC`,
//! `GMT`, `PST`, `EDT`, ...), `Z` reads `-0800` or `-08:00`, and fields the text does not give
//! default to 1970-01-01T00:00 in the parse time zone. An offset in the text wins over a zone
//! name, which wins over the caller's zone.
//!
//! Refused with a clear error: eras (`G`), centuries (`C`), week-based years and weeks (`x`,
//! `w`) and day-of-week-in-month (`F`), which no Druid timestamp uses in practice.

use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

/// A compiled Joda pattern such as `yyyy-MM-dd'T'HH:mm:ss.SSSZ`.
#[derive(Debug, Clone)]
pub struct JodaFormat {
    pattern: String,
    tokens: Vec<Token>,
}

impl PartialEq for JodaFormat {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    Month,
    DayOfMonth,
    DayOfYear,
    DayOfWeek,
    /// `H`: 0-23.
    HourOfDay,
    /// `k`: 1-24.
    ClockHourOfDay,
    /// `K`: 0-11.
    HourOfHalfday,
    /// `h`: 1-12.
    ClockHourOfHalfday,
    Minute,
    Second,
}

#[derive(Debug, Clone)]
enum Token {
    Literal(String),
    /// A number: `min` digits when printing, at most `max` when parsing.
    Number {
        field: Field,
        min: usize,
        max: usize,
    },
    /// `yy`: two digits around a pivot; `lenient` also reads a full year (Joda does when the
    /// next token is not a number).
    TwoDigitYear {
        lenient: bool,
    },
    /// `S...`: a fraction of a second with this many digits.
    Fraction(usize),
    MonthText {
        full: bool,
    },
    DayOfWeekText {
        full: bool,
    },
    HalfdayText,
    /// `z` (and `zzzz`): a short zone name when parsing.
    ZoneName {
        full: bool,
    },
    /// `Z` (`-0800`) or `ZZ` (`-08:00`).
    Offset {
        colon: bool,
    },
    /// `ZZZ`: a zone id such as `America/Los_Angeles`.
    ZoneId,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The zone names Joda parses by default (`DateTimeUtils.getDefaultTimeZoneNames`), longest
/// first so that `UTC` wins over `UT`.
const ZONE_NAMES: [(&str, &str); 11] = [
    ("UTC", "UTC"),
    ("GMT", "UTC"),
    ("EST", "America/New_York"),
    ("EDT", "America/New_York"),
    ("CST", "America/Chicago"),
    ("CDT", "America/Chicago"),
    ("MST", "America/Denver"),
    ("MDT", "America/Denver"),
    ("PST", "America/Los_Angeles"),
    ("PDT", "America/Los_Angeles"),
    ("UT", "UTC"),
];

impl JodaFormat {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub fn compile(pattern: &str) -> Result<JodaFormat, String> {
        let raw = split_tokens(pattern)?;
        let mut tokens = Vec::with_capacity(raw.len());
        for (i, (letter, count)) in raw.iter().enumerate() {
            let next_numeric = raw.get(i + 1).is_some_and(|(l, n)| is_numeric(l, *n));
            let n = *count;
            let number = |field, max: usize| Token::Number {
                field,
                min: n,
                max: max.max(n),
            };
            let token = match letter {
                RawLetter::Literal(text) => Token::Literal(text.clone()),
                RawLetter::Letter(c) => match c {
                    'y' | 'Y' if n == 2 => Token::TwoDigitYear {
                        lenient: !next_numeric,
                    },
                    'y' | 'Y' => Token::Number {
                        field: Field::Year,
                        min: n,
                        max: if next_numeric { n } else { 9 },
                    },
                    'M' if n >= 3 => Token::MonthText { full: n >= 4 },
                    'M' => number(Field::Month, 2),
                    'd' => number(Field::DayOfMonth, 2),
                    'D' => number(Field::DayOfYear, 3),
                    'e' => number(Field::DayOfWeek, 1),
                    'E' => Token::DayOfWeekText { full: n >= 4 },
                    'a' => Token::HalfdayText,
                    'H' => number(Field::HourOfDay, 2),
                    'k' => number(Field::ClockHourOfDay, 2),
                    'K' => number(Field::HourOfHalfday, 2),
                    'h' => number(Field::ClockHourOfHalfday, 2),
                    'm' => number(Field::Minute, 2),
                    's' => number(Field::Second, 2),
                    'S' => Token::Fraction(n),
                    'z' => Token::ZoneName { full: n >= 4 },
                    'Z' if n == 1 => Token::Offset { colon: false },
                    'Z' if n == 2 => Token::Offset { colon: true },
                    'Z' => Token::ZoneId,
                    'G' | 'C' | 'x' | 'w' | 'W' | 'F' => {
                        return Err(format!(
                            "Pattern component [{}] of [{pattern}] is not supported yet",
                            c.to_string().repeat(n)
                        ))
                    }
                    other => {
                        return Err(format!(
                            "Illegal pattern component: {} in [{pattern}]",
                            other.to_string().repeat(n)
                        ))
                    }
                },
            };
            tokens.push(token);
        }
        Ok(JodaFormat {
            pattern: pattern.to_string(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Parses `text` in full; a text without an offset is read in `tz`. Milliseconds UTC.
    pub fn parse(&self, text: &str, tz: &TimeZone) -> Option<i64> {
        let mut fields = Parsed::default();
        let mut rest = text;
        for token in &self.tokens {
            rest = parse_token(token, rest, &mut fields)?;
        }
        if !rest.is_empty() {
            return None;
        }
        fields.to_millis(tz)
    }

    /// Formats `millis` in `tz`.
    pub fn format(&self, millis: i64, tz: &TimeZone) -> String {
        let ts = Timestamp::from_millisecond(millis).unwrap_or(if millis < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        let zoned = ts.to_zoned_datetime(tz.clone());
        let dt = zoned.datetime();
        let mut out = String::with_capacity(self.pattern.len() + 8);
        for token in &self.tokens {
            match token {
                Token::Literal(text) => out.push_str(text),
                Token::Number { field, min, .. } => {
                    let value = match field {
                        Field::Year => i64::from(dt.year()),
                        Field::Month => i64::from(dt.month()),
                        Field::DayOfMonth => i64::from(dt.day()),
                        Field::DayOfYear => i64::from(dt.date().day_of_year()),
                        Field::DayOfWeek => i64::from(dt.weekday().to_monday_one_offset()),
                        Field::HourOfDay => i64::from(dt.hour()),
                        Field::ClockHourOfDay => match dt.hour() {
                            0 => 24,
                            h => i64::from(h),
                        },
                        Field::HourOfHalfday => i64::from(dt.hour() % 12),
                        Field::ClockHourOfHalfday => match dt.hour() % 12 {
                            0 => 12,
                            h => i64::from(h),
                        },
                        Field::Minute => i64::from(dt.minute()),
                        Field::Second => i64::from(dt.second()),
                    };
                    push_padded(&mut out, value, *min);
                }
                Token::TwoDigitYear { .. } => {
                    push_padded(&mut out, i64::from(dt.year()).rem_euclid(100), 2)
                }
                Token::Fraction(digits) => {
                    let millis = format!("{:03}", dt.millisecond());
                    let shown: String = millis
                        .chars()
                        .chain(std::iter::repeat('0'))
                        .take(*digits)
                        .collect();
                    out.push_str(&shown);
                }
                Token::MonthText { full } => {
                    let name = MONTHS[usize::from(dt.month() as u8) - 1];
                    out.push_str(if *full { name } else { &name[..3] });
                }
                Token::DayOfWeekText { full } => {
                    let name = WEEKDAYS[usize::from(dt.weekday().to_monday_zero_offset() as u8)];
                    out.push_str(if *full { name } else { &name[..3] });
                }
                Token::HalfdayText => out.push_str(if dt.hour() < 12 { "AM" } else { "PM" }),
                Token::ZoneName { full } => {
                    if *full {
                        out.push_str(tz.iana_name().unwrap_or("UTC"));
                    } else {
                        let info = tz.to_offset_info(ts);
                        out.push_str(info.abbreviation());
                    }
                }
                Token::Offset { colon } => {
                    let seconds = zoned.offset().seconds();
                    let sign = if seconds < 0 { '-' } else { '+' };
                    let (h, m) = (seconds.abs() / 3600, seconds.abs() % 3600 / 60);
                    out.push(sign);
                    push_padded(&mut out, i64::from(h), 2);
                    if *colon {
                        out.push(':');
                    }
                    push_padded(&mut out, i64::from(m), 2);
                }
                Token::ZoneId => out.push_str(tz.iana_name().unwrap_or("UTC")),
            }
        }
        out
    }
}

enum RawLetter {
    Letter(char),
    Literal(String),
}

/// Joda's `parseToken`: runs of one letter, quoted literals (`''` is a quote), and any other
/// character as a literal of its own.
fn split_tokens(pattern: &str) -> Result<Vec<(RawLetter, usize)>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i] == c {
                i += 1;
            }
            out.push((RawLetter::Letter(c), i - start));
        } else if c == '\'' {
            i += 1;
            let mut literal = String::new();
            let mut closed = false;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        literal.push('\'');
                        i += 2;
                        continue;
                    }
                    closed = true;
                    i += 1;
                    break;
                }
                literal.push(chars[i]);
                i += 1;
            }
            if !closed && !literal.is_empty() {
                return Err(format!("Unterminated quote in pattern [{pattern}]"));
            }
            if literal.is_empty() {
                literal.push('\'');
            }
            push_literal(&mut out, &literal);
        } else {
            push_literal(&mut out, &c.to_string());
            i += 1;
        }
    }
    if out.is_empty() {
        return Err("A Joda pattern must not be empty".to_string());
    }
    Ok(out)
}

fn push_literal(out: &mut Vec<(RawLetter, usize)>, text: &str) {
    if let Some((RawLetter::Literal(prev), _)) = out.last_mut() {
        prev.push_str(text);
    } else {
        out.push((RawLetter::Literal(text.to_string()), text.len()));
    }
}

/// Joda's `isNumericToken`: the next token decides how many digits a year may take.
fn is_numeric(letter: &RawLetter, count: usize) -> bool {
    match letter {
        RawLetter::Letter(c) => match c {
            'c' | 'C' | 'x' | 'y' | 'Y' | 'd' | 'h' | 'H' | 'm' | 's' | 'S' | 'e' | 'D' | 'F'
            | 'w' | 'W' | 'k' | 'K' => true,
            'M' => count <= 2,
            _ => false,
        },
        RawLetter::Literal(_) => false,
    }
}

fn push_padded(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    let digits = value.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// What the text said, field by field.
#[derive(Default)]
struct Parsed {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    day_of_week: Option<i64>,
    hour: Option<i64>,
    hour_of_halfday: Option<i64>,
    pm: Option<bool>,
    minute: Option<i64>,
    second: Option<i64>,
    millis: Option<i64>,
    offset_seconds: Option<i32>,
    zone: Option<TimeZone>,
}

impl Parsed {
    fn to_millis(&self, tz: &TimeZone) -> Option<i64> {
        let year = i16::try_from(self.year.unwrap_or(1970)).ok()?;
        let mut date = match self.day_of_year {
            Some(doy) => Date::new(year, 1, 1)
                .ok()?
                .with()
                .day_of_year(i16::try_from(doy).ok()?)
                .build()
                .ok()?,
            None => Date::new(
                year,
                i8::try_from(self.month.unwrap_or(1)).ok()?,
                i8::try_from(self.day.unwrap_or(1)).ok()?,
            )
            .ok()?,
        };
        if let Some(dow) = self.day_of_week {
            // Joda sets the day of the week last, moving within the same Monday-based week.
            if !(1..=7).contains(&dow) {
                return None;
            }
            let current = i64::from(date.weekday().to_monday_one_offset());
            date = date
                .checked_add(jiff::Span::new().days(dow - current))
                .ok()?;
        }
        let hour = match (self.hour, self.hour_of_halfday) {
            (Some(h), _) => h,
            (None, Some(h)) => h + if self.pm == Some(true) { 12 } else { 0 },
            (None, None) => {
                if self.pm == Some(true) {
                    12
                } else {
                    0
                }
            }
        };
        let nanos = i32::try_from(self.millis.unwrap_or(0) * 1_000_000).ok()?;
        let civil = DateTime::new(
            date.year(),
            date.month(),
            date.day(),
            i8::try_from(hour).ok()?,
            i8::try_from(self.minute.unwrap_or(0)).ok()?,
            i8::try_from(self.second.unwrap_or(0)).ok()?,
            nanos,
        )
        .ok()?;
        let ts = match (self.offset_seconds, &self.zone) {
            (Some(seconds), _) => Offset::from_seconds(seconds)
                .ok()?
                .to_timestamp(civil)
                .ok()?,
            (None, Some(zone)) => civil.to_zoned_datetime(zone.clone()).ok()?.timestamp(),
            (None, None) => civil.to_zoned_datetime(tz.clone()).ok()?.timestamp(),
        };
        Some(ts.as_millisecond())
    }
}

fn parse_token<'a>(token: &Token, text: &'a str, fields: &mut Parsed) -> Option<&'a str> {
    match token {
        Token::Literal(lit) => strip_prefix_ignore_case(text, lit),
        Token::Number { field, max, .. } => {
            let signed = *field == Field::Year;
            let (value, rest) = parse_number(text, *max, signed)?;
            let in_range = |lo: i64, hi: i64| (lo..=hi).contains(&value).then_some(value);
            match field {
                Field::Year => fields.year = Some(value),
                Field::Month => fields.month = Some(in_range(1, 12)?),
                Field::DayOfMonth => fields.day = Some(in_range(1, 31)?),
                Field::DayOfYear => fields.day_of_year = Some(in_range(1, 366)?),
                Field::DayOfWeek => fields.day_of_week = Some(in_range(1, 7)?),
                Field::HourOfDay => fields.hour = Some(in_range(0, 23)?),
                Field::ClockHourOfDay => fields.hour = Some(in_range(1, 24)? % 24),
                Field::HourOfHalfday => fields.hour_of_halfday = Some(in_range(0, 11)?),
                Field::ClockHourOfHalfday => fields.hour_of_halfday = Some(in_range(1, 12)? % 12),
                Field::Minute => fields.minute = Some(in_range(0, 59)?),
                Field::Second => fields.second = Some(in_range(0, 59)?),
            }
            Some(rest)
        }
        Token::TwoDigitYear { lenient } => {
            let digits = text.bytes().take_while(u8::is_ascii_digit).count();
            let signed = text.starts_with(['-', '+']);
            if *lenient && (signed || digits > 2) {
                let (value, rest) = parse_number(text, 9, true)?;
                fields.year = Some(value);
                return Some(rest);
            }
            if digits < 2 {
                return None;
            }
            let two: i64 = text[..2].parse().ok()?;
            fields.year = Some(pivot_two_digit_year(two));
            Some(&text[2..])
        }
        Token::Fraction(max) => {
            let digits = text
                .bytes()
                .take(*max)
                .take_while(u8::is_ascii_digit)
                .count();
            if digits == 0 {
                return None;
            }
            let mut millis = 0i64;
            for (i, b) in text.bytes().take(digits.min(3)).enumerate() {
                millis += i64::from(b - b'0') * [100, 10, 1][i];
            }
            fields.millis = Some(millis);
            Some(&text[digits..])
        }
        Token::MonthText { .. } => {
            let (index, rest) = match_name(text, &MONTHS)?;
            fields.month = Some(index as i64 + 1);
            Some(rest)
        }
        Token::DayOfWeekText { .. } => {
            let (index, rest) = match_name(text, &WEEKDAYS)?;
            fields.day_of_week = Some(index as i64 + 1);
            Some(rest)
        }
        Token::HalfdayText => {
            if let Some(rest) = strip_prefix_ignore_case(text, "AM") {
                fields.pm = Some(false);
                Some(rest)
            } else {
                let rest = strip_prefix_ignore_case(text, "PM")?;
                fields.pm = Some(true);
                Some(rest)
            }
        }
        Token::ZoneName { .. } => {
            let (name, zone) = ZONE_NAMES
                .iter()
                .find(|(name, _)| strip_prefix_ignore_case(text, name).is_some())?;
            fields.zone = Some(TimeZone::get(zone).ok()?);
            Some(&text[name.len()..])
        }
        Token::Offset { .. } => {
            let (seconds, rest) = parse_offset(text)?;
            fields.offset_seconds = Some(seconds);
            Some(rest)
        }
        Token::ZoneId => {
            let run = text
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(b))
                .count();
            // The longest prefix that names a zone, as Joda matches the longest id.
            (1..=run).rev().find_map(|len| {
                let zone = TimeZone::get(&text[..len]).ok()?;
                fields.zone = Some(zone);
                Some(&text[len..])
            })
        }
    }
}

/// Joda's two-digit years with SimpleDateFormat's pivot: the century that puts the year within
/// 50 years either side of thirty years ago.
fn pivot_two_digit_year(two: i64) -> i64 {
    let pivot = i64::from(jiff::ZonedDateTime::now().year()) - 30;
    let low = pivot - 50;
    let t = low.rem_euclid(100);
    two + low + if two < t { 100 } else { 0 } - t
}

/// Up to `max` digits (at least one), with a sign if `signed`.
fn parse_number(text: &str, max: usize, signed: bool) -> Option<(i64, &str)> {
    let bytes = text.as_bytes();
    let (negative, start) = match bytes.first() {
        Some(b'-') if signed => (true, 1),
        Some(b'+') if signed => (false, 1),
        _ => (false, 0),
    };
    let digits = bytes[start..]
        .iter()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    let end = start + digits;
    let value: i64 = text[start..end].parse().ok()?;
    Some((if negative { -value } else { value }, &text[end..]))
}

/// `Z`, or a sign, two digits of hours and optionally two of minutes with or without a colon.
pub(crate) fn parse_offset(text: &str) -> Option<(i32, &str)> {
    if let Some(rest) = strip_prefix_ignore_case(text, "Z") {
        return Some((0, rest));
    }
    let bytes = text.as_bytes();
    let sign = match bytes.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |at: usize| -> Option<i32> {
        let pair = bytes.get(at..at + 2)?;
        pair.iter()
            .all(u8::is_ascii_digit)
            .then(|| i32::from(pair[0] - b'0') * 10 + i32::from(pair[1] - b'0'))
    };
    let hours = two(1).filter(|h| *h <= 23)?;
    let mut at = 3;
    let mut minutes = 0;
    let colon = bytes.get(at) == Some(&b':');
    let minutes_at = if colon { at + 1 } else { at };
    if let Some(m) = two(minutes_at) {
        if m > 59 {
            return None;
        }
        minutes = m;
        at = minutes_at + 2;
    }
    Some((sign * (hours * 3600 + minutes * 60), &text[at..]))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The longest English name or three-letter abbreviation at the start of `text`.
fn match_name<'a>(text: &'a str, names: &[&str]) -> Option<(usize, &'a str)> {
    names
        .iter()
        .enumerate()
        .find_map(|(i, name)| strip_prefix_ignore_case(text, name).map(|rest| (i, rest)))
        .or_else(|| {
            names.iter().enumerate().find_map(|(i, name)| {
                strip_prefix_ignore_case(text, &name[..3]).map(|rest| (i, rest))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(iso: &str) -> i64 {
        iso.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn parse(pattern: &str, text: &str) -> Option<i64> {
        JodaFormat::compile(pattern)
            .unwrap()
            .parse(text, &TimeZone::UTC)
    }

    #[test]
    fn parses_the_iso_like_patterns_druid_users_write() {
        assert_eq!(
            parse("yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2015-09-12T00:46:58.771-0700"),
            Some(millis("2015-09-12T07:46:58.771Z"))
        );
        assert_eq!(
            parse("yyyy-MM-dd HH:mm:ss", "2015-09-12 00:46:58"),
            Some(millis("2015-09-12T00:46:58Z"))
        );
        assert_eq!(
            parse("yyyy-MM-dd", "2014-03-01"),
            Some(millis("2014-03-01T00:00Z"))
        );
        assert_eq!(parse("yyyy-MM-dd", "2014-03-01x"), None);
        assert_eq!(parse("yyyy-MM-dd", "2014-13-01"), None);
        assert_eq!(parse("yyyy-MM-dd", "2014-02-30"), None);
    }

    // Druid's TimestampParserTest.testFormatsForNumberBasedTimestamp: adjacent numbers read
    // fixed widths.
    #[test]
    fn adjacent_numeric_fields_take_their_own_widths() {
        assert_eq!(
            parse("yyyyMMdd", "20200514"),
            Some(millis("2020-05-14T00:00Z"))
        );
        assert_eq!(parse("yyyyMM", "202010"), Some(millis("2020-10-01T00:00Z")));
        assert_eq!(parse("yyyy", "2020"), Some(millis("2020-01-01T00:00Z")));
        assert_eq!(
            parse("yyyyMMddHHmmss", "20200514102030"),
            Some(millis("2020-05-14T10:20:30Z"))
        );
    }

    // Druid's TimestampParserTest: testTimeStampParserWithShortTimeZone, ...WithLongTimeZone,
    // testTimeZoneAtExtremeLocations, testJodaSymbolInsideLiteral.
    #[test]
    fn zone_names_offsets_and_literals_as_in_druids_tests() {
        let pst = millis("1994-11-09T04:00:00-08:00");
        let cst = millis("1994-11-09T04:00:00-06:00");
        assert_eq!(
            parse("EEE MMM dd HH:mm:ss z yyyy", "Wed Nov 9 04:00:00 PST 1994"),
            Some(pst)
        );
        let p = "EEE MMM dd HH:mm:ss zZ z yyyy";
        assert_eq!(parse(p, "Wed Nov 9 04:00:00 GMT-0800 PST 1994"), Some(pst));
        assert_eq!(parse(p, "Wed Nov 9 04:00:00 GMT-0600 CST 1994"), Some(cst));
        assert_eq!(parse(p, "Wed Nov 9 04:00:00 UTC-0800 PST 1994"), Some(pst));
        let p = "EEE MMM dd HH:mm:ss zZ yyyy";
        assert_eq!(parse(p, "Wed Nov 9 04:00:00 UTC-0600 1994"), Some(cst));
        let cst_2005 = millis("2005-01-22T13:00:00-06:00");
        assert_eq!(
            parse(
                "EEE MMM dd yy HH:mm:ss zZ z",
                "Sat Jan 22 05 13:00:00 GMT-0600 CST"
            ),
            Some(cst_2005)
        );
        assert_eq!(
            parse(
                "zZ z EEE MMM dd yy HH:mm:ss",
                "GMT-0600 CST Sat Jan 22 05 13:00:00"
            ),
            Some(cst_2005)
        );
        assert_eq!(
            parse(
                "EEE MMM dd HH:mm:ss 'helloz' z yyyy 'hello'",
                "Wed Nov 9 04:00:00 helloz PST 1994 hello"
            ),
            Some(pst)
        );
    }

    #[test]
    fn text_fields_halfdays_fractions_and_zone_ids() {
        assert_eq!(
            parse("dd MMMM yyyy hh:mm a", "09 november 1994 04:05 pm"),
            Some(millis("1994-11-09T16:05Z"))
        );
        assert_eq!(
            parse("dd MMM yyyy hh a", "09 Nov 1994 12 AM"),
            Some(millis("1994-11-09T00:00Z"))
        );
        // S is a fraction: one digit is tenths.
        assert_eq!(
            parse("HH:mm:ss.S", "10:00:00.5"),
            Some(millis("1970-01-01T10:00:00.500Z"))
        );
        assert_eq!(
            parse(
                "yyyy-MM-dd HH:mm ZZZ",
                "2015-07-01 10:00 America/Los_Angeles"
            ),
            Some(millis("2015-07-01T17:00Z"))
        );
        assert_eq!(
            parse("yyyy-MM-dd HH:mm ZZ", "2015-07-01 10:00 +05:30"),
            Some(millis("2015-07-01T04:30Z"))
        );
        assert_eq!(
            parse("yyyy-DDD", "2015-255"),
            Some(millis("2015-09-12T00:00Z"))
        );
    }

    #[test]
    fn a_text_without_offset_is_read_in_the_given_zone() {
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        let f = JodaFormat::compile("yyyy-MM-dd HH:mm").unwrap();
        assert_eq!(
            f.parse("2015-01-01 00:00", &la),
            Some(millis("2015-01-01T08:00Z"))
        );
    }

    #[test]
    fn formats_as_joda_prints() {
        let t = millis("2015-09-12T07:46:58.771Z");
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        let f = |p: &str, tz: &TimeZone| JodaFormat::compile(p).unwrap().format(t, tz);
        assert_eq!(
            f("yyyy-MM-dd'T'HH:mm:ss.SSSZ", &TimeZone::UTC),
            "2015-09-12T07:46:58.771+0000"
        );
        assert_eq!(
            f("yyyy-MM-dd HH:mm:ss ZZ", &la),
            "2015-09-12 00:46:58 -07:00"
        );
        assert_eq!(
            f("EEE, MMM d, yy h:mm a z", &la),
            "Sat, Sep 12, 15 12:46 AM PDT"
        );
        assert_eq!(
            f("EEEE MMMM dd ZZZ", &la),
            "Saturday September 12 America/Los_Angeles"
        );
        assert_eq!(
            f("'quoted '' text' D S SSSS", &TimeZone::UTC),
            "quoted ' text 255 7 7710"
        );
    }

    #[test]
    fn bad_patterns_are_refused_with_the_component() {
        assert!(JodaFormat::compile("yyyy-MM-dd qq")
            .unwrap_err()
            .contains("Illegal pattern component: qq"));
        assert!(JodaFormat::compile("xxxx-'W'ww")
            .unwrap_err()
            .contains("not supported yet"));
        assert!(JodaFormat::compile("yyyy 'open").is_err());
        assert!(JodaFormat::compile("").is_err());
    }
}
