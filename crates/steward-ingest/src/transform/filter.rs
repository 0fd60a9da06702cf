//! Druid's filters (`DimFilter`) as a transform spec carries them, and their compilation.
//!
//! The JSON is Druid's: `{"type": "selector", "dimension": …, "value": …}` and so on. Fields
//! Druid requires are optional here so that a missing one is a spec error naming its path
//! rather than a bare deserialisation failure; a filter type Steward does not evaluate (or an
//! object that is not a filter) is kept as it came and refused at validation, by path.
//! `extractionFn` is refused; `filterTuning` only steers query-time index use and is kept and
//! ignored.
//!
//! `regex` patterns are Java regular expressions, compiled by the `regex` crate: the common
//! syntax is the same, but look-around, back-references and possessive quantifiers are refused,
//! `\d`, `\w`, `\s` and `\b` are Unicode-aware (Java's are ASCII), and `.` stops only at `\n`
//! (Java's also at `\r`, `\u0085`, `\u2028`, `\u2029`).

use std::collections::HashSet;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

use crate::SpecError;

use super::expr::value::compute_number;
use super::expr::Expression;
use super::like::LikeMatcher;
use super::matcher::{
    double_bits, long_range, DoubleBound, DoubleRange, LongRange, Matcher, Predicate, StringBound,
    StringRange,
};
use super::numbers::{exact_long, java_double_string, parse_double, Decimal};
use super::ordering::StringOrdering;

/// A filter (Druid's `DimFilter` JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DimFilter {
    #[serde(rename = "selector")]
    Selector(SelectorDimFilter),
    #[serde(rename = "equals")]
    Equals(EqualityFilter),
    #[serde(rename = "in")]
    In(InDimFilter),
    #[serde(rename = "bound")]
    Bound(BoundDimFilter),
    #[serde(rename = "range")]
    Range(RangeFilter),
    #[serde(rename = "null")]
    Null(NullFilter),
    #[serde(rename = "like")]
    Like(LikeDimFilter),
    #[serde(rename = "regex")]
    Regex(RegexDimFilter),
    #[serde(rename = "and")]
    And(LogicalFilter),
    #[serde(rename = "or")]
    Or(LogicalFilter),
    #[serde(rename = "not")]
    Not(NotDimFilter),
    #[serde(rename = "expression")]
    Expression(ExpressionDimFilter),
    #[serde(rename = "true")]
    True,
    #[serde(rename = "false")]
    False,
    /// Any other filter type, kept as it came; validation refuses it.
    #[serde(untagged)]
    Unsupported(Json),
}

/// `{"type": "selector", "dimension", "value"}`: the value equals `value` (null: is null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectorDimFilter {
    pub dimension: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction_fn: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tuning: Option<Json>,
}

/// `{"type": "equals", "column", "matchValueType", "matchValue"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EqualityFilter {
    pub column: Option<String>,
    pub match_value_type: Option<String>,
    #[serde(default)]
    pub match_value: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tuning: Option<Json>,
}

/// `{"type": "in", "dimension", "values"}`: the value is one of `values` (which may hold null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InDimFilter {
    pub dimension: Option<String>,
    #[serde(default, deserialize_with = "lenient_strings")]
    pub values: Option<Vec<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction_fn: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tuning: Option<Json>,
}

/// `{"type": "bound", "dimension", "lower", "upper", "lowerStrict", "upperStrict", "ordering"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoundDimFilter {
    pub dimension: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub lower: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub upper: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_strict: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_strict: Option<bool>,
    /// Deprecated in Druid: `true` means the `alphanumeric` ordering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha_numeric: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction_fn: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tuning: Option<Json>,
}

/// `{"type": "range", "column", "matchValueType", "lower", "upper", "lowerOpen", "upperOpen"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeFilter {
    pub column: Option<String>,
    pub match_value_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_open: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_open: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tuning: Option<Json>,
}

/// `{"type": "null", "column"}`: the value is null or missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NullFilter {
    pub column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tuning: Option<Json>,
}

/// `{"type": "like", "dimension", "pattern", "escape"}`: SQL `LIKE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LikeDimFilter {
    pub dimension: Option<String>,
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escape: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction_fn: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tuning: Option<Json>,
}

/// `{"type": "regex", "dimension", "pattern"}`: the pattern is found in the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegexDimFilter {
    pub dimension: Option<String>,
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction_fn: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tuning: Option<Json>,
}

/// The operands of `and` and `or`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogicalFilter {
    #[serde(default)]
    pub fields: Vec<DimFilter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotDimFilter {
    #[serde(default)]
    pub field: Option<Box<DimFilter>>,
}

/// `{"type": "expression", "expression"}`: the expression is true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpressionDimFilter {
    pub expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tuning: Option<Json>,
}

/// Jackson reads a number or boolean into a string field as its text.
fn scalar_text(v: Json) -> Result<Option<String>, String> {
    match v {
        Json::Null => Ok(None),
        Json::String(s) => Ok(Some(s)),
        Json::Number(n) => Ok(Some(n.to_string())),
        Json::Bool(b) => Ok(Some(b.to_string())),
        other => Err(format!("expected a string, not {other}")),
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar_text(Json::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn lenient_strings<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Option<String>>>, D::Error> {
    Option::<Vec<Json>>::deserialize(d)?
        .map(|values| values.into_iter().map(scalar_text).collect())
        .transpose()
        .map_err(serde::de::Error::custom)
}

const SUPPORTED: &str =
    "selector, equals, in, bound, range, null, like, regex, and, or, not, expression, true, false";

fn field<'a>(value: &'a Option<String>, path: &str, name: &str) -> Result<&'a str, SpecError> {
    value
        .as_deref()
        .ok_or_else(|| SpecError::new(format!("{path}.{name}"), format!("{name} must not be null")))
}

fn no_extraction_fn(extraction_fn: &Option<Json>, path: &str) -> Result<(), SpecError> {
    match extraction_fn {
        None | Some(Json::Null) => Ok(()),
        Some(_) => Err(SpecError::new(
            format!("{path}.extractionFn"),
            "extractionFn is not supported by Steward yet",
        )),
    }
}

/// A typed match value (Druid's `ExprEval.ofType(matchValueType, value)`), `None` for null.
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Long(i64),
    Double(f64),
    String(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchType {
    Long,
    Double,
    String,
}

fn match_type(t: &Option<String>, path: &str) -> Result<MatchType, SpecError> {
    let t = field(t, path, "matchValueType")?;
    match t.to_ascii_uppercase().as_str() {
        "LONG" => Ok(MatchType::Long),
        // Steward has no float columns: a float match is a double match, as in expressions.
        "DOUBLE" | "FLOAT" => Ok(MatchType::Double),
        "STRING" => Ok(MatchType::String),
        other => Err(SpecError::new(
            format!("{path}.matchValueType"),
            format!("matchValueType [{other}] is not supported by Steward yet (supported: STRING, LONG, DOUBLE, FLOAT)"),
        )),
    }
}

fn typed(value: &Option<Json>, t: MatchType) -> Result<Option<Typed>, String> {
    let number = |v: &Json| -> Option<super::expr::value::Number> {
        use super::expr::value::Number;
        match v {
            Json::Number(n) => n
                .as_i64()
                .map(Number::Long)
                .or_else(|| n.as_f64().map(Number::Double)),
            Json::Bool(b) => Some(Number::Long(i64::from(*b))),
            Json::String(s) => compute_number(s),
            _ => None,
        }
    };
    Ok(match (value, t) {
        (None | Some(Json::Null), _) => None,
        (Some(v @ (Json::Array(_) | Json::Object(_))), _) => {
            return Err(format!(
                "match value {v} is not a scalar; Steward matches scalars only"
            ))
        }
        (Some(v), MatchType::Long) => number(v).map(|n| Typed::Long(n.as_long())),
        (Some(v), MatchType::Double) => number(v).map(|n| Typed::Double(n.as_double())),
        (Some(Json::String(s)), MatchType::String) => Some(Typed::String(s.clone())),
        (Some(Json::Number(n)), MatchType::String) => Some(Typed::String(match n.as_i64() {
            Some(v) => v.to_string(),
            None => java_double_string(n.as_f64().unwrap_or_default()),
        })),
        (Some(v), MatchType::String) => Some(Typed::String(v.to_string())),
    })
}

impl Typed {
    fn as_string(&self) -> String {
        match self {
            Typed::Long(v) => v.to_string(),
            Typed::Double(d) => java_double_string(*d),
            Typed::String(s) => s.clone(),
        }
    }
}

impl DimFilter {
    /// Checks the filter and compiles it; errors name the path below `path`.
    pub(crate) fn compile(&self, path: &str) -> Result<Matcher, SpecError> {
        Ok(match self {
            DimFilter::True => Matcher::Always(true),
            DimFilter::False => Matcher::Always(false),
            DimFilter::And(f) | DimFilter::Or(f) => {
                let is_and = matches!(self, DimFilter::And(_));
                if f.fields.is_empty() {
                    return Err(SpecError::new(
                        format!("{path}.fields"),
                        format!(
                            "{} operator requires at least one field",
                            if is_and { "AND" } else { "OR" }
                        ),
                    ));
                }
                let children = f
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(i, child)| child.compile(&format!("{path}.fields[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                if is_and {
                    Matcher::And(children)
                } else {
                    Matcher::Or(children)
                }
            }
            DimFilter::Not(f) => {
                let child = f.field.as_ref().ok_or_else(|| {
                    SpecError::new(
                        format!("{path}.field"),
                        "NOT operator requires at least one field",
                    )
                })?;
                Matcher::Not(Box::new(child.compile(&format!("{path}.field"))?))
            }
            DimFilter::Expression(f) => {
                let text = field(&f.expression, path, "expression")?;
                Matcher::Expression(
                    Expression::compile(text)
                        .map_err(|e| SpecError::new(format!("{path}.expression"), e))?,
                )
            }
            DimFilter::Selector(f) => {
                no_extraction_fn(&f.extraction_fn, path)?;
                column(
                    field(&f.dimension, path, "dimension")?,
                    selector(f.value.clone()),
                )
            }
            DimFilter::Equals(f) => {
                let name = field(&f.column, path, "column")?;
                let t = match_type(&f.match_value_type, path)?;
                let value = typed(&f.match_value, t)
                    .map_err(|e| SpecError::new(format!("{path}.matchValue"), e))?
                    .ok_or_else(|| {
                        SpecError::new(
                            format!("{path}.matchValue"),
                            format!("Invalid equality filter on column [{name}], matchValue cannot be null"),
                        )
                    })?;
                column(name, equality(value))
            }
            DimFilter::In(f) => {
                no_extraction_fn(&f.extraction_fn, path)?;
                let name = field(&f.dimension, path, "dimension")?;
                let values = f.values.as_ref().ok_or_else(|| {
                    SpecError::new(format!("{path}.values"), "values cannot be null")
                })?;
                let strings: HashSet<String> = values.iter().flatten().cloned().collect();
                column(
                    name,
                    Predicate::In {
                        longs: strings.iter().filter_map(|s| exact_long(s)).collect(),
                        doubles: strings
                            .iter()
                            .filter_map(|s| parse_double(s).map(double_bits))
                            .collect(),
                        match_null: values.iter().any(Option::is_none),
                        strings,
                    },
                )
            }
            DimFilter::Bound(f) => {
                no_extraction_fn(&f.extraction_fn, path)?;
                column(field(&f.dimension, path, "dimension")?, bound(f, path)?)
            }
            DimFilter::Range(f) => column(field(&f.column, path, "column")?, range(f, path)?),
            DimFilter::Null(f) => column(field(&f.column, path, "column")?, Predicate::IsNull),
            DimFilter::Like(f) => {
                no_extraction_fn(&f.extraction_fn, path)?;
                let name = field(&f.dimension, path, "dimension")?;
                let pattern = field(&f.pattern, path, "pattern")?;
                let escape = match f.escape.as_deref() {
                    None => None,
                    Some(e) if e.chars().count() == 1 => e.chars().next(),
                    Some(_) => {
                        return Err(SpecError::new(
                            format!("{path}.escape"),
                            "Escape must be null or a single character",
                        ))
                    }
                };
                column(name, Predicate::Like(LikeMatcher::new(pattern, escape)))
            }
            DimFilter::Regex(f) => {
                no_extraction_fn(&f.extraction_fn, path)?;
                let name = field(&f.dimension, path, "dimension")?;
                let pattern = field(&f.pattern, path, "pattern")?;
                let regex = regex::Regex::new(pattern).map_err(|e| {
                    SpecError::new(
                        format!("{path}.pattern"),
                        format!("Steward cannot compile the regular expression [{pattern}] (Java regular expressions are read by the regex crate: no look-around or back-references): {e}"),
                    )
                })?;
                column(name, Predicate::Regex(regex))
            }
            DimFilter::Unsupported(raw) => return Err(unsupported(raw, path)),
        })
    }
}

fn column(name: &str, predicate: Predicate) -> Matcher {
    Matcher::Column {
        column: name.into(),
        predicate,
    }
}

fn selector(value: Option<String>) -> Predicate {
    Predicate::Selector {
        long: value.as_deref().and_then(exact_long),
        double: value.as_deref().and_then(parse_double),
        value,
    }
}

/// Druid's `EqualityPredicateFactory`, with `castForEqualityComparison` done once.
fn equality(value: Typed) -> Predicate {
    let (long, double) = match &value {
        Typed::Long(v) => (Some(*v), Some(*v as f64)),
        Typed::Double(d) => (
            (d.trunc() == *d && d.is_finite()).then_some(*d as i64),
            Some(*d),
        ),
        Typed::String(s) => match compute_number(s) {
            None => (None, None),
            Some(n) => {
                let d = n.as_double();
                // A string only matches a long column if it reads as that long exactly.
                (Some(n.as_long()).filter(|l| *l as f64 == d), Some(d))
            }
        },
    };
    match value {
        Typed::String(s) => Predicate::Selector {
            value: Some(s),
            long,
            double,
        },
        Typed::Long(_) => Predicate::NumericEquality {
            long,
            double,
            is_long: true,
        },
        Typed::Double(_) => Predicate::NumericEquality {
            long,
            double,
            is_long: false,
        },
    }
}

/// Druid's `BoundFilter` predicates.
fn bound(f: &BoundDimFilter, path: &str) -> Result<Predicate, SpecError> {
    if f.lower.is_none() && f.upper.is_none() {
        return Err(SpecError::new(
            path,
            "lower and upper can not be null at the same time",
        ));
    }
    let ordering = match (&f.ordering, f.alpha_numeric) {
        (None | Some(Json::Null), Some(true)) => StringOrdering::Alphanumeric,
        (None | Some(Json::Null), _) => StringOrdering::Lexicographic,
        (Some(o), alpha) => {
            let ordering = StringOrdering::from_json(o)
                .map_err(|e| SpecError::new(format!("{path}.ordering"), e))?;
            if alpha.is_some_and(|a| a != (ordering == StringOrdering::Alphanumeric)) {
                return Err(SpecError::new(
                    format!("{path}.alphaNumeric"),
                    "mismatch between alphanumeric and ordering property",
                ));
            }
            ordering
        }
    };
    let (lower_open, upper_open) = (f.lower_strict == Some(true), f.upper_strict == Some(true));
    let strings = StringRange {
        ordering,
        lower: f.lower.clone().map(|value| StringBound {
            value,
            open: lower_open,
        }),
        upper: f.upper.clone().map(|value| StringBound {
            value,
            open: upper_open,
        }),
    };
    let numbers = (ordering == StringOrdering::Numeric).then(|| {
        // An unparseable lower bound sorts before every number (no bound); an unparseable
        // upper bound lets no number through.
        let lower = f.lower.as_deref().map(Decimal::parse);
        let upper = f.upper.as_deref().map(Decimal::parse);
        let longs = if matches!(upper, Some(None)) {
            None
        } else {
            long_range(
                lower
                    .as_ref()
                    .and_then(|l| l.as_ref())
                    .map(|d| (d, lower_open)),
                upper
                    .as_ref()
                    .and_then(|u| u.as_ref())
                    .map(|d| (d, upper_open)),
            )
        };
        let double_bound = |text: &Option<String>, open: bool| {
            text.as_deref()
                .map(|t| parse_double(t).map(|value| DoubleBound { value, open }))
        };
        let (lower_d, upper_d) = (
            double_bound(&f.lower, lower_open),
            double_bound(&f.upper, upper_open),
        );
        let doubles = (!matches!(upper_d, Some(None))).then(|| DoubleRange {
            lower: lower_d.flatten(),
            upper: upper_d.flatten(),
        });
        (longs, doubles)
    });
    Ok(Predicate::Range {
        strings,
        numbers,
        // Druid's "sad backwards compatible behavior": null matches when there is no lower bound.
        null_matches: Some(f.lower.is_none()),
    })
}

/// Druid's `RangeFilter` predicates.
fn range(f: &RangeFilter, path: &str) -> Result<Predicate, SpecError> {
    let name = f.column.as_deref().unwrap_or_default();
    let t = match_type(&f.match_value_type, path)?;
    let read = |v: &Option<Json>, which: &str| -> Result<Option<Typed>, SpecError> {
        let typed = typed(v, t).map_err(|e| SpecError::new(format!("{path}.{which}"), e))?;
        let present = !matches!(v, None | Some(Json::Null));
        if present && typed.is_none() {
            return Err(SpecError::new(
                format!("{path}.{which}"),
                format!(
                    "Invalid range filter on column [{name}], {which} bound [{}] cannot be parsed as specified match value type [{}]",
                    v.as_ref().map(Json::to_string).unwrap_or_default(),
                    f.match_value_type.as_deref().unwrap_or_default()
                ),
            ));
        }
        Ok(typed)
    };
    let (lower, upper) = (read(&f.lower, "lower")?, read(&f.upper, "upper")?);
    if lower.is_none() && upper.is_none() {
        return Err(SpecError::new(
            path,
            format!("Invalid range filter on column [{name}], lower and upper cannot be null at the same time"),
        ));
    }
    let (lower_open, upper_open) = (f.lower_open == Some(true), f.upper_open == Some(true));
    let numeric = t != MatchType::String;
    let strings = StringRange {
        ordering: if numeric {
            StringOrdering::Numeric
        } else {
            StringOrdering::Lexicographic
        },
        lower: lower.as_ref().map(|v| StringBound {
            value: v.as_string(),
            open: lower_open,
        }),
        upper: upper.as_ref().map(|v| StringBound {
            value: v.as_string(),
            open: upper_open,
        }),
    };
    let as_double = |v: &Typed| match v {
        Typed::Long(x) => *x as f64,
        Typed::Double(d) => *d,
        Typed::String(_) => f64::NAN,
    };
    let numbers = numeric.then(|| {
        // Druid rounds double bounds to longs: floor for an open lower bound, ceiling for a
        // closed one, and the other way round for the upper bound (Java's saturating casts).
        let min = lower.as_ref().map_or(i128::from(i64::MIN), |v| {
            let d = as_double(v);
            if lower_open {
                i128::from(d.floor() as i64) + 1
            } else {
                i128::from(d.ceil() as i64)
            }
        });
        let max = upper.as_ref().map_or(i128::from(i64::MAX), |v| {
            let d = as_double(v);
            if upper_open {
                i128::from(d.ceil() as i64) - 1
            } else {
                i128::from(d.floor() as i64)
            }
        });
        let doubles = DoubleRange {
            lower: lower.as_ref().map(|v| DoubleBound {
                value: as_double(v),
                open: lower_open,
            }),
            upper: upper.as_ref().map(|v| DoubleBound {
                value: as_double(v),
                open: upper_open,
            }),
        };
        (
            Some(LongRange { min, max }).filter(|r| r.min <= r.max),
            Some(doubles),
        )
    });
    Ok(Predicate::Range {
        strings,
        numbers,
        null_matches: None,
    })
}

fn unsupported(raw: &Json, path: &str) -> SpecError {
    let Some(kind) = raw.get("type").and_then(Json::as_str) else {
        return SpecError::new(
            format!("{path}.type"),
            format!("A filter must be an object with a \"type\" (supported: {SUPPORTED})"),
        );
    };
    // A supported type lands here when its fields do not deserialise: say why.
    let problem = match kind {
        "selector" => serde_json::from_value::<SelectorDimFilter>(raw.clone()).err(),
        "equals" => serde_json::from_value::<EqualityFilter>(raw.clone()).err(),
        "in" => serde_json::from_value::<InDimFilter>(raw.clone()).err(),
        "bound" => serde_json::from_value::<BoundDimFilter>(raw.clone()).err(),
        "range" => serde_json::from_value::<RangeFilter>(raw.clone()).err(),
        "null" => serde_json::from_value::<NullFilter>(raw.clone()).err(),
        "like" => serde_json::from_value::<LikeDimFilter>(raw.clone()).err(),
        "regex" => serde_json::from_value::<RegexDimFilter>(raw.clone()).err(),
        "and" | "or" => serde_json::from_value::<LogicalFilter>(raw.clone()).err(),
        "not" => serde_json::from_value::<NotDimFilter>(raw.clone()).err(),
        "expression" => serde_json::from_value::<ExpressionDimFilter>(raw.clone()).err(),
        _ => {
            return SpecError::new(
                format!("{path}.type"),
                format!(
                    "Filter type [{kind}] is not supported by Steward yet (supported: {SUPPORTED})"
                ),
            )
        }
    };
    SpecError::new(
        path,
        match problem {
            Some(e) => format!("Invalid [{kind}] filter: {e}"),
            None => format!("Invalid [{kind}] filter"),
        },
    )
}
