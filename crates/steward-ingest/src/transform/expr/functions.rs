//! The functions Steward evaluates, with Druid's names, arities and null handling
//! (`Function.java` and the macros in `query/expression/`).
//!
//! Arguments Druid requires to be literals (a `like` pattern, a `cast` type, the period, origin
//! and zone of `timestamp_floor`, the pattern and zone of `timestamp_parse` and
//! `timestamp_format`) are read once here. Any other function is refused by name.

use std::borrow::Cow;

use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;
use steward_model::granularity::{Granularity, Period};

use crate::joda::JodaFormat;
use crate::timestamp::parse_iso;
use crate::InputRow;

use super::super::like::LikeMatcher;
use super::super::numbers::{java_length, java_string_cmp};
use super::parse::BinaryOp;
use super::value::{Eval, Type};
use super::{binary, java_double_cmp, Node};

/// Every function name Steward evaluates, for the refusal message.
pub(crate) const SUPPORTED: &[&str] = &[
    "abs",
    "case_searched",
    "case_simple",
    "cast",
    "ceil",
    "coalesce",
    "concat",
    "contains_string",
    "floor",
    "greatest",
    "if",
    "isnull",
    "least",
    "like",
    "lower",
    "ltrim",
    "notnull",
    "nvl",
    "replace",
    "round",
    "rtrim",
    "strlen",
    "strpos",
    "substring",
    "timestamp_floor",
    "timestamp_format",
    "timestamp_parse",
    "trim",
    "upper",
];

#[derive(Debug, Clone)]
enum Func {
    Concat,
    Lower,
    Upper,
    Substring,
    Strlen,
    Replace,
    Strpos,
    Trim {
        left: bool,
        right: bool,
    },
    ContainsString(String),
    Like(LikeMatcher),
    Coalesce,
    IsNull,
    NotNull,
    If,
    CaseSearched,
    CaseSimple,
    Abs,
    Floor,
    Ceil,
    Round,
    Greatest,
    Least,
    Cast(Type),
    TimestampFloor(Granularity),
    TimestampParse {
        format: Option<JodaFormat>,
        zone: TimeZone,
    },
    TimestampFormat {
        format: Option<JodaFormat>,
        zone: TimeZone,
    },
}

/// A function applied to its arguments.
#[derive(Debug, Clone)]
pub(super) struct Call {
    name: &'static str,
    func: Func,
    pub(super) args: Vec<Node>,
}

/// Druid's `Function[name] message` errors.
fn fail(name: &str, message: impl std::fmt::Display) -> String {
    format!("Function[{name}] {message}")
}

fn count(name: &str, args: &[Node], allowed: &[usize]) -> Result<(), String> {
    if allowed.contains(&args.len()) {
        return Ok(());
    }
    Err(fail(
        name,
        match allowed {
            [1] => "requires 1 argument".to_string(),
            [n] => format!("requires {n} arguments"),
            _ => format!(
                "requires {} arguments",
                allowed
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        },
    ))
}

fn at_least(name: &str, args: &[Node], min: usize) -> Result<(), String> {
    if args.len() >= min {
        Ok(())
    } else if min == 1 {
        Err(fail(name, "requires at least 1 argument"))
    } else {
        Err(fail(name, format!("requires at least {min} arguments")))
    }
}

/// The literal string at `args[i]`; `Ok(None)` for a null literal or a missing argument.
fn literal_string(
    name: &str,
    args: &[Node],
    i: usize,
    what: &str,
) -> Result<Option<String>, String> {
    match args.get(i).map(Node::literal) {
        None => Ok(None),
        Some(Some(Eval::Null(_))) => Ok(None),
        Some(Some(v @ Eval::Str(_))) => Ok(v.as_str().map(Cow::into_owned)),
        Some(Some(v)) => Err(fail(
            name,
            format!(
                "{what} argument must be a string literal, not a {}",
                v.type_of().name()
            ),
        )),
        Some(None) => Err(fail(
            name,
            format!("{what} argument must be a literal (Steward does not evaluate it per row)"),
        )),
    }
}

/// A time zone the way Druid's `DateTimes.inferTzFromString` reads it: a tz database name or
/// an offset such as `+05:30`. Druid quietly uses UTC for a name it does not know; Steward
/// refuses it.
fn zone(name: &str, text: Option<String>) -> Result<TimeZone, String> {
    let Some(text) = text else {
        return Ok(TimeZone::UTC);
    };
    if let Some(rest) = text.strip_prefix(['+', '-']) {
        let (h, m) = rest.split_once(':').unwrap_or(if rest.len() == 4 {
            rest.split_at(2)
        } else {
            (rest, "0")
        });
        if let (Ok(h), Ok(m)) = (h.parse::<i32>(), m.parse::<i32>()) {
            let seconds = (h * 3600 + m * 60) * if text.starts_with('-') { -1 } else { 1 };
            if let Ok(offset) = Offset::from_seconds(seconds) {
                return Ok(TimeZone::fixed(offset));
            }
        }
    }
    TimeZone::get(&text).map_err(|e| fail(name, format!("unknown time zone [{text}]: {e}")))
}

fn joda(name: &str, pattern: Option<String>) -> Result<Option<JodaFormat>, String> {
    pattern
        .map(|p| JodaFormat::compile(&p).map_err(|e| fail(name, e)))
        .transpose()
}

/// Reads an ISO date-time; one without an offset is read in `zone` (Joda parsers `withZone`).
fn iso_in_zone(text: &str, zone: &TimeZone) -> Option<i64> {
    let millis = parse_iso(text)?;
    if *zone == TimeZone::UTC || has_offset(text) {
        return Some(millis);
    }
    let civil = Timestamp::from_millisecond(millis)
        .ok()?
        .to_zoned_datetime(TimeZone::UTC)
        .datetime();
    civil
        .to_zoned_datetime(zone.clone())
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// Whether an ISO date-time names its offset (`Z`, `+01:00`, `-0800` after the time).
fn has_offset(text: &str) -> bool {
    let time = match text.find(['T', ' ']) {
        Some(i) => &text[i + 1..],
        None => return false,
    };
    time.contains(['Z', 'z', '+', '-'])
}

impl Call {
    pub(super) fn compile(name: &str, args: Vec<Node>) -> Result<Call, String> {
        let lower = name.to_ascii_lowercase();
        let Some(&name) = SUPPORTED.iter().find(|n| **n == lower) else {
            return Err(format!(
                "Function[{name}] is not supported by Steward yet (supported: {})",
                SUPPORTED.join(", ")
            ));
        };
        let func = match name {
            "concat" => Func::Concat,
            "lower" | "upper" | "strlen" => {
                count(name, &args, &[1])?;
                match name {
                    "lower" => Func::Lower,
                    "upper" => Func::Upper,
                    _ => Func::Strlen,
                }
            }
            "substring" | "replace" => {
                count(name, &args, &[3])?;
                if name == "substring" {
                    Func::Substring
                } else {
                    Func::Replace
                }
            }
            "strpos" => {
                count(name, &args, &[2, 3])?;
                Func::Strpos
            }
            "trim" | "ltrim" | "rtrim" => {
                count(name, &args, &[1, 2])?;
                Func::Trim {
                    left: name != "rtrim",
                    right: name != "ltrim",
                }
            }
            "contains_string" => {
                count(name, &args, &[2])?;
                match args[1].literal() {
                    Some(v @ Eval::Str(_)) => {
                        Func::ContainsString(v.as_str().unwrap_or_default().into_owned())
                    }
                    _ => return Err(fail(name, "substring must be a string literal")),
                }
            }
            "like" => {
                count(name, &args, &[2, 3])?;
                let pattern = literal_string(name, &args, 1, "pattern")?
                    .ok_or_else(|| fail(name, "pattern must not be null"))?;
                let escape = literal_string(name, &args, 2, "escape")?;
                let escape = match escape
                    .as_deref()
                    .map(|e| (e.chars().next(), e.chars().count()))
                {
                    None => None,
                    Some((c, 1)) => c,
                    Some(_) => return Err(fail(name, "escape must be null or a single character")),
                };
                Func::Like(LikeMatcher::new(&pattern, escape))
            }
            "nvl" | "coalesce" | "isnull" | "notnull" => {
                match name {
                    "nvl" => count(name, &args, &[2])?,
                    "coalesce" => at_least(name, &args, 1)?,
                    _ => count(name, &args, &[1])?,
                }
                match name {
                    "isnull" => Func::IsNull,
                    "notnull" => Func::NotNull,
                    _ => Func::Coalesce,
                }
            }
            "if" => {
                count(name, &args, &[3])?;
                Func::If
            }
            "case_searched" => {
                at_least(name, &args, 2)?;
                Func::CaseSearched
            }
            "case_simple" => {
                at_least(name, &args, 3)?;
                Func::CaseSimple
            }
            "abs" | "floor" | "ceil" => {
                count(name, &args, &[1])?;
                match name {
                    "abs" => Func::Abs,
                    "floor" => Func::Floor,
                    _ => Func::Ceil,
                }
            }
            "round" => {
                count(name, &args, &[1, 2])?;
                Func::Round
            }
            "greatest" => Func::Greatest,
            "least" => Func::Least,
            "cast" => {
                count(name, &args, &[2])?;
                let to = literal_string(name, &args, 1, "type")?
                    .ok_or_else(|| fail(name, "Invalid type [null]"))?
                    .to_ascii_uppercase();
                Func::Cast(match to.as_str() {
                    "LONG" => Type::Long,
                    "DOUBLE" => Type::Double,
                    "STRING" => Type::String,
                    t if t.starts_with("ARRAY<") => {
                        return Err(fail(name, format!("cast to [{t}] is not supported by Steward yet: Steward does not evaluate arrays")))
                    }
                    t => return Err(fail(name, format!("Invalid type [{t}]"))),
                })
            }
            "timestamp_floor" => {
                count(name, &args, &[2, 3, 4])?;
                let period = literal_string(name, &args, 1, "period")?
                    .ok_or_else(|| fail(name, "period must not be null"))?;
                let period = Period::parse(&period)
                    .map_err(|e| fail(name, format!("Invalid period[{period}]: {e}")))?;
                let time_zone = zone(name, literal_string(name, &args, 3, "time zone")?)?;
                let origin = match args.get(2).map(Node::literal) {
                    None | Some(Some(Eval::Null(_))) => None,
                    Some(Some(Eval::Long(ms))) => Some(
                        Timestamp::from_millisecond(*ms)
                            .map_err(|e| fail(name, format!("Invalid origin [{ms}]: {e}")))?,
                    ),
                    Some(Some(Eval::Str(text))) => {
                        let parsed = steward_model::time::parse_instant(text)
                            .ok()
                            .map(|t| t.as_millisecond())
                            .and_then(|ms| {
                                if has_offset(text) || time_zone == TimeZone::UTC {
                                    Some(ms)
                                } else {
                                    Timestamp::from_millisecond(ms)
                                        .ok()?
                                        .to_zoned_datetime(TimeZone::UTC)
                                        .datetime()
                                        .to_zoned_datetime(time_zone.clone())
                                        .ok()
                                        .map(|z| z.timestamp().as_millisecond())
                                }
                            })
                            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                            .ok_or_else(|| fail(name, format!("Invalid origin [{text}]")))?;
                        Some(parsed)
                    }
                    Some(Some(other)) => {
                        return Err(fail(
                            name,
                            format!("Invalid origin of type {}", other.type_of().name()),
                        ))
                    }
                    Some(None) => return Err(fail(
                        name,
                        "origin argument must be a literal (Steward does not evaluate it per row)",
                    )),
                };
                Func::TimestampFloor(Granularity::Period {
                    period,
                    time_zone,
                    origin,
                })
            }
            "timestamp_parse" | "timestamp_format" => {
                count(name, &args, &[1, 2, 3])?;
                let format = joda(name, literal_string(name, &args, 1, "format")?)?;
                let zone = zone(name, literal_string(name, &args, 2, "time zone")?)?;
                if name == "timestamp_parse" {
                    Func::TimestampParse { format, zone }
                } else {
                    Func::TimestampFormat { format, zone }
                }
            }
            other => unreachable!("{other} is in SUPPORTED but not compiled"),
        };
        Ok(Call { name, func, args })
    }

    fn arg<'a>(&'a self, i: usize, row: &'a InputRow) -> Result<Eval<'a>, String> {
        self.args[i].scalar(row, self.name)
    }

    pub(super) fn eval<'a>(&'a self, row: &'a InputRow) -> Result<Eval<'a>, String> {
        let name = self.name;
        let string_of = |i: usize| -> Result<Option<String>, String> {
            Ok(self.arg(i, row)?.as_str().map(Cow::into_owned))
        };
        Ok(match &self.func {
            Func::Concat => {
                let mut out = String::new();
                for i in 0..self.args.len() {
                    match self.arg(i, row)?.as_str() {
                        Some(s) => out.push_str(&s),
                        None => return Ok(Eval::Null(Type::String)),
                    }
                }
                if self.args.is_empty() {
                    Eval::Null(Type::String)
                } else {
                    Eval::Str(out.into())
                }
            }
            Func::Lower | Func::Upper => match self.arg(0, row)?.as_str() {
                None => Eval::Null(Type::String),
                Some(s) if matches!(self.func, Func::Lower) => Eval::Str(s.to_lowercase().into()),
                Some(s) => Eval::Str(s.to_uppercase().into()),
            },
            Func::Strlen => match self.arg(0, row)?.as_str() {
                None => Eval::Null(Type::Long),
                Some(s) => Eval::Long(java_length(&s) as i64),
            },
            Func::Substring => {
                let Some(s) = string_of(0)? else {
                    return Ok(Eval::Null(Type::String));
                };
                let index = self.arg(1, row)?.as_int();
                let length = self.arg(2, row)?.as_int();
                substring(name, &s, index, length)?
            }
            Func::Replace => {
                let Some(s) = string_of(0)? else {
                    return Ok(Eval::Null(Type::String));
                };
                let (Some(target), Some(replacement)) = (string_of(1)?, string_of(2)?) else {
                    return Err(fail(name, "pattern and replacement must not be null"));
                };
                Eval::Str(s.replace(&target, &replacement).into())
            }
            Func::Strpos => {
                let (Some(haystack), Some(needle)) = (string_of(0)?, string_of(1)?) else {
                    return Ok(Eval::Null(Type::Long));
                };
                let from = if self.args.len() > 2 {
                    self.arg(2, row)?.as_int()
                } else {
                    0
                };
                Eval::Long(index_of(&haystack, &needle, from))
            }
            Func::Trim { left, right } => {
                let value = self.arg(0, row)?;
                let chars = if self.args.len() > 1 {
                    self.arg(1, row)?
                        .as_str()
                        .map(Cow::into_owned)
                        .unwrap_or_default()
                } else {
                    " ".to_string()
                };
                let Some(s) = value.as_str() else {
                    return Ok(value);
                };
                if chars.is_empty() {
                    return Ok(value);
                }
                let trim = |c: char| chars.contains(c);
                let t = match (left, right) {
                    (true, true) => s.trim_matches(trim),
                    (true, false) => s.trim_start_matches(trim),
                    _ => s.trim_end_matches(trim),
                };
                if t.len() == s.len() {
                    return Ok(value);
                }
                Eval::Str(t.to_string().into())
            }
            Func::ContainsString(needle) => match self.arg(0, row)?.as_str() {
                None => Eval::Null(Type::Long),
                Some(s) => Eval::of_bool(s.contains(needle.as_str())),
            },
            Func::Like(matcher) => match self.arg(0, row)?.as_str() {
                None => Eval::Null(Type::Long),
                Some(s) => Eval::of_bool(matcher.matches(&s)),
            },
            Func::Coalesce => {
                for (i, arg) in self.args.iter().enumerate() {
                    let v = arg.eval(row)?;
                    if !v.is_null() || i == self.args.len() - 1 {
                        return Ok(v);
                    }
                }
                unreachable!("at least one argument")
            }
            Func::IsNull => Eval::of_bool(self.args[0].eval(row)?.is_null()),
            Func::NotNull => Eval::of_bool(!self.args[0].eval(row)?.is_null()),
            Func::If => {
                if self.arg(0, row)?.as_bool() {
                    self.args[1].eval(row)?
                } else {
                    self.args[2].eval(row)?
                }
            }
            Func::CaseSearched => {
                for pair in self.args.chunks(2) {
                    match pair {
                        [otherwise] => return otherwise.eval(row),
                        [when, then] => {
                            if when.scalar(row, name)?.as_bool() {
                                return then.eval(row);
                            }
                        }
                        _ => unreachable!("chunks of two"),
                    }
                }
                Eval::Null(Type::Long)
            }
            Func::CaseSimple => {
                let subject = self.arg(0, row)?;
                for pair in self.args[1..].chunks(2) {
                    match pair {
                        [otherwise] => return otherwise.eval(row),
                        [when, then] => {
                            let candidate = when.scalar(row, name)?;
                            if binary(BinaryOp::Eq, subject.clone(), candidate)?.as_bool() {
                                return then.eval(row);
                            }
                        }
                        _ => unreachable!("chunks of two"),
                    }
                }
                Eval::Null(Type::Long)
            }
            Func::Abs | Func::Floor | Func::Ceil => {
                let v = self.arg(0, row)?;
                match (&self.func, v) {
                    (Func::Abs, Eval::Long(x)) => Eval::Long(x.wrapping_abs()),
                    (Func::Abs, Eval::Double(d)) => Eval::Double(d.abs()),
                    (Func::Floor, Eval::Long(x)) => Eval::Double((x as f64).floor()),
                    (Func::Floor, Eval::Double(d)) => Eval::Double(d.floor()),
                    (Func::Ceil, Eval::Long(x)) => Eval::Double((x as f64).ceil()),
                    (Func::Ceil, Eval::Double(d)) => Eval::Double(d.ceil()),
                    // Druid's `UnivariateMathFunction`: null, and strings even numeric ones.
                    _ => Eval::Null(Type::Long),
                }
            }
            Func::Round => round(
                name,
                self.arg(0, row)?,
                self.args.get(1).map(|a| a.scalar(row, name)).transpose()?,
            )?,
            Func::Greatest | Func::Least => {
                let greatest = matches!(self.func, Func::Greatest);
                let mut output = Type::Long;
                let mut values = Vec::with_capacity(self.args.len());
                for i in 0..self.args.len() {
                    let v = self.arg(i, row)?;
                    output = match (output, v.type_of()) {
                        (Type::String, _) | (_, Type::String) => Type::String,
                        (Type::Long, Type::Long) => Type::Long,
                        _ => Type::Double,
                    };
                    if !v.is_null() {
                        values.push(v);
                    }
                }
                reduce(output, greatest, values)
            }
            Func::Cast(to) => self.arg(0, row)?.cast(*to),
            Func::TimestampFloor(granularity) => {
                let v = self.arg(0, row)?;
                if v.is_numeric_null() {
                    return Ok(Eval::Null(Type::Long));
                }
                let t = Timestamp::from_millisecond(v.as_long()).map_err(|e| fail(name, e))?;
                Eval::Long(granularity.bucket_start(t).as_millisecond())
            }
            Func::TimestampParse { format, zone } => {
                let Some(text) = string_of(0)? else {
                    return Ok(Eval::Null(Type::Long));
                };
                let millis = match format {
                    Some(f) => f.parse(&text, zone),
                    None => iso_in_zone(&text, zone),
                };
                // Druid's documentation: an unparseable timestamp is null.
                millis.map_or(Eval::Null(Type::Long), Eval::Long)
            }
            Func::TimestampFormat { format, zone } => {
                let v = self.arg(0, row)?;
                if v.is_numeric_null() {
                    return Ok(Eval::Null(Type::String));
                }
                let millis = v.as_long();
                Eval::Str(
                    match format {
                        Some(f) => f.format(millis, zone),
                        None => iso_format(name, millis, zone)?,
                    }
                    .into(),
                )
            }
        })
    }
}

/// Druid's `substring(expr, index, length)`: 0-based, in UTF-16 units, null past the end.
fn substring(name: &str, s: &str, index: i32, length: i32) -> Result<Eval<'static>, String> {
    let len = java_length(s);
    let Ok(start) = usize::try_from(index) else {
        return Err(fail(name, format!("index [{index}] is out of bounds")));
    };
    if start >= len {
        return Ok(Eval::Null(Type::String));
    }
    let end = usize::try_from(length).map_or(len, |l| len.min(start.saturating_add(l)));
    Ok(Eval::Str(
        if s.is_ascii() {
            s[start..end].to_string()
        } else {
            let units: Vec<u16> = s.encode_utf16().collect();
            String::from_utf16_lossy(&units[start..end])
        }
        .into(),
    ))
}

/// Java's `String.indexOf(needle, from)` in UTF-16 units.
fn index_of(haystack: &str, needle: &str, from: i32) -> i64 {
    let from = usize::try_from(from).unwrap_or(0);
    if haystack.is_ascii() {
        if from > haystack.len() {
            return if needle.is_empty() {
                haystack.len() as i64
            } else {
                -1
            };
        }
        return haystack[from..]
            .find(needle)
            .map_or(-1, |i| (from + i) as i64);
    }
    // Walk to the character at UTF-16 offset `from`, then count units up to the match.
    let mut units = 0;
    let mut start = haystack.len();
    for (i, c) in haystack.char_indices() {
        if units >= from {
            start = i;
            break;
        }
        units += c.len_utf16();
    }
    match haystack[start..].find(needle) {
        Some(i) => (units + java_length(&haystack[start..start + i])) as i64,
        None => -1,
    }
}

/// Druid's `round(x, [scale])`: `BigDecimal` rounding half up, of a long or a double.
fn round(name: &str, v: Eval<'_>, scale: Option<Eval<'_>>) -> Result<Eval<'static>, String> {
    if v.is_numeric_null() {
        return Ok(Eval::Null(Type::Long));
    }
    let scale = match scale {
        None => 0,
        Some(s @ Eval::Long(_)) => s.as_int(),
        Some(s) => {
            return Err(fail(
                name,
                format!(
                    "second argument should be a LONG but got {} instead",
                    s.type_of().name()
                ),
            ))
        }
    };
    match v {
        Eval::Long(x) => Ok(Eval::Long(round_long(x, scale))),
        Eval::Double(d) => Ok(Eval::Double(round_double(d, scale))),
        other => Err(fail(
            name,
            format!(
                "first argument should be a LONG or DOUBLE but got {} instead",
                other.type_of().name()
            ),
        )),
    }
}

fn round_long(x: i64, scale: i32) -> i64 {
    if scale >= 0 {
        return x;
    }
    let Some(unit) = 10i128.checked_pow(scale.unsigned_abs()) else {
        return 0;
    };
    let v = i128::from(x);
    let (q, r) = (v / unit, v % unit);
    let q = if r.abs() * 2 >= unit {
        q + v.signum()
    } else {
        q
    };
    // `BigDecimal.longValue()` keeps the low 64 bits.
    (q * unit) as i64
}

/// `BigDecimal.valueOf(d).setScale(scale, HALF_UP).doubleValue()`: rounds the shortest decimal
/// form of `d`, as Java does.
fn round_double(d: f64, scale: i32) -> f64 {
    let d = if d.is_nan() {
        0.0
    } else if d.is_infinite() {
        f64::MAX.copysign(d)
    } else {
        d
    };
    if d == 0.0 {
        return 0.0;
    }
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // The value is 0.d1d2… × 10^(exp + 1); keep the digits before 10^-scale.
    let mut point = exp + 1;
    let keep = point + i64::from(scale);
    if keep >= digits.len() as i64 {
        return d;
    }
    if keep < 0 {
        return 0.0;
    }
    let keep = keep as usize;
    let up = digits[keep] >= 5;
    digits.truncate(keep);
    if up {
        let mut i = keep;
        loop {
            if i == 0 {
                digits.insert(0, 1);
                point += 1;
                break;
            }
            i -= 1;
            if digits[i] == 9 {
                digits[i] = 0;
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    if digits.is_empty() {
        return 0.0;
    }
    let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    let magnitude: f64 = format!("0.{text}e{point}").parse().unwrap_or(0.0);
    magnitude.copysign(d)
}

/// `greatest`/`least` over the non-null values, in the output type (Druid's `ReduceFunction`).
fn reduce(output: Type, greatest: bool, values: Vec<Eval<'_>>) -> Eval<'static> {
    if values.is_empty() {
        return Eval::Null(output);
    }
    match output {
        Type::Long => {
            let it = values.iter().map(Eval::as_long);
            Eval::Long(if greatest { it.max() } else { it.min() }.unwrap_or_default())
        }
        Type::String => {
            let strings = values.iter().filter_map(|v| v.as_str());
            let best = if greatest {
                strings.max_by(|a, b| java_string_cmp(a, b))
            } else {
                strings.min_by(|a, b| java_string_cmp(a, b))
            };
            best.map_or(Eval::Null(Type::String), |s| {
                Eval::Str(s.into_owned().into())
            })
        }
        _ => {
            // Java's Math.max/min: NaN wins.
            let mut best = values[0].as_double();
            for d in values[1..].iter().map(Eval::as_double) {
                if d.is_nan() || best.is_nan() {
                    best = f64::NAN;
                    continue;
                }
                let ord = java_double_cmp(d, best);
                if (greatest && ord.is_gt()) || (!greatest && ord.is_lt()) {
                    best = d;
                }
            }
            Eval::Double(best)
        }
    }
}

/// Joda's `ISODateTimeFormat.dateTime()`: `2015-09-12T17:47:23.456Z`, or `…+05:30` outside UTC.
fn iso_format(name: &str, millis: i64, zone: &TimeZone) -> Result<String, String> {
    let zoned = Timestamp::from_millisecond(millis)
        .map_err(|e| fail(name, e))?
        .to_zoned_datetime(zone.clone());
    let dt = zoned.datetime();
    let offset = zoned.offset().seconds();
    let suffix = if offset == 0 {
        "Z".to_string()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.abs();
        format!("{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
    };
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{suffix}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_rounds_half_up_on_the_shortest_decimal() {
        assert_eq!(round_double(2.5, 0), 3.0);
        assert_eq!(round_double(-2.5, 0), -3.0);
        assert_eq!(round_double(1.005, 2), 1.01);
        assert_eq!(round_double(0.15, 1), 0.2);
        assert_eq!(round_double(9.99, 1), 10.0);
        assert_eq!(round_double(123.456, -1), 120.0);
        assert_eq!(round_double(0.0004, 2), 0.0);
        assert_eq!(round_double(f64::NAN, 0), 0.0);
        assert_eq!(round_long(15, -1), 20);
        assert_eq!(round_long(-15, -1), -20);
        assert_eq!(round_long(14, -1), 10);
        assert_eq!(round_long(14, 2), 14);
    }

    #[test]
    fn index_of_counts_utf16_units() {
        assert_eq!(index_of("foofoo", "fo", 1), 3);
        assert_eq!(index_of("foo", "x", 0), -1);
        assert_eq!(index_of("foo", "", 5), 3);
        assert_eq!(index_of("😀ab", "b", 0), 3);
        assert_eq!(index_of("😀ab", "a", 2), 2);
    }

    #[test]
    fn zones_are_names_or_offsets() {
        assert_eq!(zone("f", None).unwrap(), TimeZone::UTC);
        assert_eq!(
            zone("f", Some("+05:30".into())).unwrap(),
            TimeZone::fixed(Offset::from_seconds(19800).unwrap())
        );
        assert_eq!(
            zone("f", Some("-0800".into())).unwrap(),
            TimeZone::fixed(Offset::from_seconds(-28800).unwrap())
        );
        assert!(zone("f", Some("America/Los_Angeles".into())).is_ok());
        assert!(zone("f", Some("Mars/Olympus".into()))
            .unwrap_err()
            .contains("unknown time zone"));
    }
}
