//! Compiled filters, evaluated on one row as Druid's ingestion-time `ValueMatcher`s are.
//!
//! At ingestion Druid knows no column types, so each value is matched by what it is: a null or
//! missing field by the filter's string predicate given null, a long by its long predicate, a
//! double by its double predicate, a string by its string predicate, and a multi-value field by
//! the string predicate on each element, matching if any does (an empty one counts as null).
//! Matching is three-valued: a predicate may answer "unknown" for null (`selector` on a value,
//! `like`, ...), which `not` does not turn into a match (SQL-compatible null handling).
//!
//! One difference from Druid: a null element inside a multi-value field is matched as null,
//! where Druid's `Rows.objectToStrings` turns it into the string `"null"`.

use std::borrow::Cow;
use std::collections::HashSet;

use regex::Regex;

use crate::{InputRow, Value};

use super::expr::value::{array_string, Eval};
use super::expr::{java_double_cmp, Expression};
use super::like::LikeMatcher;
use super::numbers::{java_double_string, Decimal};
use super::ordering::StringOrdering;
use crate::row::TIME_COLUMN;

/// A predicate's answer (Druid's `DruidPredicateMatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    True,
    False,
    Unknown,
}

impl Match {
    pub(crate) fn of(b: bool) -> Match {
        if b {
            Match::True
        } else {
            Match::False
        }
    }

    fn matches(self, include_unknown: bool) -> bool {
        self == Match::True || (include_unknown && self == Match::Unknown)
    }
}

/// Java's `Double.doubleToLongBits`: every NaN is the same NaN.
pub(crate) fn double_bits(d: f64) -> u64 {
    if d.is_nan() {
        f64::NAN.to_bits()
    } else {
        d.to_bits()
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Always(bool),
    Column {
        column: Box<str>,
        predicate: Predicate,
    },
    Expression(Expression),
    And(Vec<Matcher>),
    Or(Vec<Matcher>),
    Not(Box<Matcher>),
}

impl Matcher {
    /// Whether the row matches; `include_unknown` counts "unknown" as a match (it flips under
    /// `not`). An expression that fails to evaluate fails the row.
    pub(crate) fn matches(&self, row: &InputRow, include_unknown: bool) -> Result<bool, String> {
        Ok(match self {
            Matcher::Always(b) => *b,
            Matcher::Column { column, predicate } => {
                if &**column == TIME_COLUMN {
                    predicate.on_long(row.timestamp).matches(include_unknown)
                } else {
                    predicate.on_value(row.get(column), include_unknown)
                }
            }
            Matcher::Expression(expr) => match expr.eval(row)? {
                v if v.is_null() => include_unknown,
                // Druid's `ExpressionFilter`: an array matches if any element is true.
                Eval::Array(items) => items.iter().any(|item| match item {
                    Value::Null => include_unknown,
                    other => Eval::of_value(Some(other)).as_bool(),
                }),
                v => v.as_bool(),
            },
            Matcher::And(children) => {
                for child in children {
                    if !child.matches(row, include_unknown)? {
                        return Ok(false);
                    }
                }
                true
            }
            Matcher::Or(children) => {
                for child in children {
                    if child.matches(row, include_unknown)? {
                        return Ok(true);
                    }
                }
                false
            }
            Matcher::Not(child) => !child.matches(row, !include_unknown)?,
        })
    }
}

/// Bounds of a numeric range over longs, as the smallest and largest matching long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LongRange {
    pub(crate) min: i128,
    pub(crate) max: i128,
}

impl LongRange {
    fn contains(&self, v: i64) -> bool {
        (self.min..=self.max).contains(&i128::from(v))
    }
}

/// A bound over doubles, compared with Java's `Double.compare`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DoubleBound {
    pub(crate) value: f64,
    pub(crate) open: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct DoubleRange {
    pub(crate) lower: Option<DoubleBound>,
    pub(crate) upper: Option<DoubleBound>,
}

impl DoubleRange {
    fn contains(&self, v: f64) -> bool {
        let lower_ok = self.lower.is_none_or(|b| {
            let ord = java_double_cmp(v, b.value);
            ord.is_gt() || (!b.open && ord.is_eq())
        });
        let upper_ok = self.upper.is_none_or(|b| {
            let ord = java_double_cmp(b.value, v);
            ord.is_gt() || (!b.open && ord.is_eq())
        });
        lower_ok && upper_ok
    }
}

/// A bound over strings in some ordering.
#[derive(Debug, Clone)]
pub(crate) struct StringBound {
    pub(crate) value: String,
    pub(crate) open: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct StringRange {
    pub(crate) ordering: StringOrdering,
    pub(crate) lower: Option<StringBound>,
    pub(crate) upper: Option<StringBound>,
}

impl StringRange {
    fn contains(&self, s: &str) -> bool {
        let lower_ok = self.lower.as_ref().is_none_or(|b| {
            let ord = self.ordering.compare(s, &b.value);
            ord.is_gt() || (!b.open && ord.is_eq())
        });
        let upper_ok = self.upper.as_ref().is_none_or(|b| {
            let ord = self.ordering.compare(&b.value, s);
            ord.is_gt() || (!b.open && ord.is_eq())
        });
        lower_ok && upper_ok
    }
}

/// What a filter asks of one value, per type (Druid's `DruidPredicateFactory`).
#[derive(Debug, Clone)]
pub(crate) enum Predicate {
    /// `selector` (and `equals` of a string): the value, and the value read as a long and as
    /// a double for numeric inputs.
    Selector {
        value: Option<String>,
        long: Option<i64>,
        double: Option<f64>,
    },
    /// `equals` of a number: strings are read as numbers to compare.
    NumericEquality {
        long: Option<i64>,
        double: Option<f64>,
        is_long: bool,
    },
    In {
        strings: HashSet<String>,
        match_null: bool,
        longs: HashSet<i64>,
        doubles: HashSet<u64>,
    },
    /// `bound` and `range`: the string range, and the numeric ranges when the ordering is
    /// numeric (`None`: numbers are compared as strings). `null_matches` is the bound filter's
    /// answer for null (it has no "unknown").
    Range {
        strings: StringRange,
        numbers: Option<(Option<LongRange>, Option<DoubleRange>)>,
        null_matches: Option<bool>,
    },
    IsNull,
    Like(LikeMatcher),
    Regex(Regex),
}

impl Predicate {
    fn on_value(&self, value: Option<&Value>, include_unknown: bool) -> bool {
        match value {
            None | Some(Value::Null) => self.on_string(None).matches(include_unknown),
            Some(Value::Long(v)) => self.on_long(*v).matches(include_unknown),
            Some(Value::Double(d)) => self.on_double(*d).matches(include_unknown),
            Some(Value::String(s)) => self.on_string(Some(s)).matches(include_unknown),
            Some(Value::Array(items)) if items.is_empty() => {
                self.on_string(None).matches(include_unknown)
            }
            Some(Value::Array(items)) => items.iter().any(|item| {
                let s: Option<Cow<'_, str>> = match item {
                    Value::Null => None,
                    Value::Long(v) => Some(v.to_string().into()),
                    Value::Double(d) => Some(java_double_string(*d).into()),
                    Value::String(s) => Some(s.as_str().into()),
                    Value::Array(inner) => Some(array_string(inner).into()),
                };
                self.on_string(s.as_deref()).matches(include_unknown)
            }),
        }
    }

    pub(crate) fn on_string(&self, s: Option<&str>) -> Match {
        match self {
            Predicate::Selector { value, .. } => match (value, s) {
                (None, s) => Match::of(s.is_none()),
                (Some(_), None) => Match::Unknown,
                (Some(v), Some(s)) => Match::of(v == s),
            },
            Predicate::NumericEquality {
                long,
                double,
                is_long,
            } => {
                let Some(s) = s else {
                    return Match::Unknown;
                };
                if *is_long {
                    let read = super::numbers::exact_long(s);
                    Match::of(read.is_some() && read == *long)
                } else {
                    let read = super::numbers::parse_double(s);
                    #[allow(clippy::float_cmp)]
                    let equal = matches!((read, double), (Some(a), Some(b)) if a == *b);
                    Match::of(equal)
                }
            }
            Predicate::In {
                strings,
                match_null,
                ..
            } => match s {
                None if *match_null => Match::True,
                None => Match::Unknown,
                Some(s) => Match::of(strings.contains(s)),
            },
            Predicate::Range {
                strings,
                null_matches,
                ..
            } => match s {
                None => null_matches.map_or(Match::Unknown, Match::of),
                Some(s) => Match::of(strings.contains(s)),
            },
            Predicate::IsNull => Match::of(s.is_none()),
            Predicate::Like(m) => s.map_or(Match::Unknown, |s| Match::of(m.matches(s))),
            Predicate::Regex(r) => s.map_or(Match::Unknown, |s| Match::of(r.is_match(s))),
        }
    }

    pub(crate) fn on_long(&self, v: i64) -> Match {
        match self {
            Predicate::Selector { long, .. } | Predicate::NumericEquality { long, .. } => {
                Match::of(*long == Some(v))
            }
            Predicate::In { longs, .. } => Match::of(longs.contains(&v)),
            Predicate::Range {
                numbers: Some((longs, _)),
                ..
            } => Match::of(longs.is_some_and(|r| r.contains(v))),
            Predicate::IsNull => Match::False,
            Predicate::Range { .. } | Predicate::Like(_) | Predicate::Regex(_) => {
                self.on_string(Some(&v.to_string()))
            }
        }
    }

    pub(crate) fn on_double(&self, d: f64) -> Match {
        match self {
            Predicate::Selector { double, .. } | Predicate::NumericEquality { double, .. } => {
                Match::of(double.is_some_and(|x| double_bits(x) == double_bits(d)))
            }
            Predicate::In { doubles, .. } => Match::of(doubles.contains(&double_bits(d))),
            Predicate::Range {
                numbers: Some((_, doubles)),
                ..
            } => Match::of(doubles.as_ref().is_some_and(|r| r.contains(d))),
            Predicate::IsNull => Match::False,
            Predicate::Range { .. } | Predicate::Like(_) | Predicate::Regex(_) => {
                self.on_string(Some(&java_double_string(d)))
            }
        }
    }
}

/// The longs `x` with `lower < x` (or `<=`) and `x < upper` (or `<=`), for decimal bounds
/// (exact, as Druid's `BigDecimal` bounds); `None` if no long can match.
pub(crate) fn long_range(
    lower: Option<(&Decimal, bool)>,
    upper: Option<(&Decimal, bool)>,
) -> Option<LongRange> {
    let min = match lower {
        None => i128::from(i64::MIN),
        Some((d, open)) => {
            let (floor, ceil) = d.floor_ceil();
            if open {
                floor + 1
            } else {
                ceil
            }
        }
    };
    let max = match upper {
        None => i128::from(i64::MAX),
        Some((d, open)) => {
            let (floor, ceil) = d.floor_ceil();
            if open {
                ceil - 1
            } else {
                floor
            }
        }
    };
    (min <= max).then_some(LongRange { min, max })
}
