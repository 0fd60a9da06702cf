//! Expression values and their conversions, as Druid's `ExprEval` has them.
//!
//! A value is a long, a double or a string, or a typed null (Druid's `null` literal and a
//! missing field are long-typed nulls), or a multi-value input passed through whole. Strings
//! borrow from the row or the expression where they can, so that reading a field allocates
//! nothing. Conversions follow Druid: a string reads as a number if it is one (`"true"` and
//! `"false"` read as 1.0 and 0.0), a boolean is a long greater than zero or the string `true`.

use std::borrow::Cow;

use crate::Value;

use super::super::numbers::{java_double_string, parse_double, parse_long};

/// A value's type (Druid's `ExpressionType` for the types Steward evaluates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Long,
    Double,
    String,
    /// A multi-value input (Druid's `ARRAY<…>`).
    Array,
}

impl Type {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Type::Long => "LONG",
            Type::Double => "DOUBLE",
            Type::String => "STRING",
            Type::Array => "ARRAY",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Eval<'a> {
    Null(Type),
    Long(i64),
    Double(f64),
    Str(Cow<'a, str>),
    /// Multi-value input, only passed through (see the module doc of `expr`).
    Array(&'a [Value]),
}

/// A number read from a string: Druid keeps whether it was a long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Long(i64),
    Double(f64),
}

impl Number {
    pub(crate) fn as_long(self) -> i64 {
        match self {
            Number::Long(v) => v,
            // Java's (long) cast: truncation, saturation, NaN to 0, as Rust's `as`.
            Number::Double(d) => d as i64,
        }
    }

    pub(crate) fn as_double(self) -> f64 {
        match self {
            Number::Long(v) => v as f64,
            Number::Double(d) => d,
        }
    }
}

/// Druid's `ExprEval.computeNumber`: booleans, then longs, then doubles.
pub(crate) fn compute_number(s: &str) -> Option<Number> {
    if s.eq_ignore_ascii_case("true") {
        return Some(Number::Double(1.0));
    }
    if s.eq_ignore_ascii_case("false") {
        return Some(Number::Double(0.0));
    }
    parse_long(s)
        .map(Number::Long)
        .or_else(|| parse_double(s).map(Number::Double))
}

impl<'a> Eval<'a> {
    /// A row's field as an expression reads it (Druid's `ExprEval.bestEffortOf`).
    pub(crate) fn of_value(v: Option<&'a Value>) -> Eval<'a> {
        match v {
            None | Some(Value::Null) => Eval::Null(Type::Long),
            Some(Value::Long(x)) => Eval::Long(*x),
            Some(Value::Double(x)) => Eval::Double(*x),
            Some(Value::String(s)) => Eval::Str(Cow::Borrowed(s)),
            Some(Value::Array(items)) => Eval::Array(items),
        }
    }

    pub(crate) fn of_bool(b: bool) -> Eval<'a> {
        Eval::Long(i64::from(b))
    }

    pub(crate) fn type_of(&self) -> Type {
        match self {
            Eval::Null(t) => *t,
            Eval::Long(_) => Type::Long,
            Eval::Double(_) => Type::Double,
            Eval::Str(_) => Type::String,
            Eval::Array(_) => Type::Array,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Eval::Null(_))
    }

    /// The value as a number, `None` for null and for strings that are not numbers.
    pub(crate) fn number(&self) -> Option<Number> {
        match self {
            Eval::Long(v) => Some(Number::Long(*v)),
            Eval::Double(d) => Some(Number::Double(*d)),
            Eval::Str(s) => compute_number(s),
            Eval::Null(_) | Eval::Array(_) => None,
        }
    }

    /// Druid's `isNumericNull`.
    pub(crate) fn is_numeric_null(&self) -> bool {
        self.number().is_none()
    }

    /// Druid's `asLong`: 0 where there is no number.
    pub(crate) fn as_long(&self) -> i64 {
        self.number().map_or(0, Number::as_long)
    }

    pub(crate) fn as_double(&self) -> f64 {
        self.number().map_or(0.0, Number::as_double)
    }

    /// Druid's `asInt`: Java's `Number.intValue()` of the long (low 32 bits) or the double
    /// (truncated, saturated).
    pub(crate) fn as_int(&self) -> i32 {
        match self.number() {
            None => 0,
            Some(Number::Long(v)) => v as i32,
            Some(Number::Double(d)) => d as i32,
        }
    }

    /// Druid's `asBoolean`: a number greater than zero, or a string equal to `true` in any case.
    pub(crate) fn as_bool(&self) -> bool {
        match self {
            Eval::Long(v) => *v > 0,
            Eval::Double(d) => *d > 0.0,
            Eval::Str(s) => s.eq_ignore_ascii_case("true"),
            Eval::Null(_) | Eval::Array(_) => false,
        }
    }

    /// Druid's `asString`: Java's formatting of numbers; `None` for null.
    pub(crate) fn as_str(&self) -> Option<Cow<'_, str>> {
        match self {
            Eval::Null(_) => None,
            Eval::Long(v) => Some(Cow::Owned(v.to_string())),
            Eval::Double(d) => Some(Cow::Owned(java_double_string(*d))),
            Eval::Str(s) => Some(Cow::Borrowed(s)),
            Eval::Array(items) => Some(Cow::Owned(array_string(items))),
        }
    }

    /// Druid's `castTo` for the scalar types.
    pub(crate) fn cast(self, to: Type) -> Eval<'a> {
        match (to, self) {
            (_, Eval::Null(_)) => Eval::Null(to),
            (Type::Long, Eval::Double(d)) => Eval::Long(d as i64),
            (Type::Double, Eval::Long(v)) => Eval::Double(v as f64),
            (Type::Long, Eval::Str(s)) => {
                compute_number(&s).map_or(Eval::Null(Type::Long), |n| Eval::Long(n.as_long()))
            }
            (Type::Double, Eval::Str(s)) => {
                compute_number(&s).map_or(Eval::Null(Type::Double), |n| Eval::Double(n.as_double()))
            }
            (Type::String, v @ (Eval::Long(_) | Eval::Double(_))) => Eval::Str(Cow::Owned(
                v.as_str().map(Cow::into_owned).unwrap_or_default(),
            )),
            (_, v) => v,
        }
    }

    /// The value a transform writes into the row.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Eval::Null(_) => Value::Null,
            Eval::Long(v) => Value::Long(v),
            Eval::Double(d) => Value::Double(d),
            Eval::Str(s) => Value::String(s.into_owned()),
            Eval::Array(items) => Value::Array(items.to_vec()),
        }
    }

    /// An owned copy, for constants folded at compile time.
    pub(crate) fn into_owned(self) -> Eval<'static> {
        match self {
            Eval::Null(t) => Eval::Null(t),
            Eval::Long(v) => Eval::Long(v),
            Eval::Double(d) => Eval::Double(d),
            Eval::Str(s) => Eval::Str(Cow::Owned(s.into_owned())),
            // Constants are never arrays: there are no array literals.
            Eval::Array(_) => Eval::Null(Type::Array),
        }
    }

    /// The same value borrowed from `self`, for evaluating a folded constant.
    pub(crate) fn borrowed(&self) -> Eval<'_> {
        match self {
            Eval::Str(s) => Eval::Str(Cow::Borrowed(s)),
            Eval::Null(t) => Eval::Null(*t),
            Eval::Long(v) => Eval::Long(*v),
            Eval::Double(d) => Eval::Double(*d),
            Eval::Array(items) => Eval::Array(items),
        }
    }
}

/// Java's `Arrays.toString` of a multi-value field, for error messages and `asString`.
pub(crate) fn array_string(items: &[Value]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|v| match v {
            Value::Null => "null".to_string(),
            Value::Long(x) => x.to_string(),
            Value::Double(d) => java_double_string(*d),
            Value::String(s) => s.clone(),
            Value::Array(inner) => array_string(inner),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Mirrors Druid's ExprEvalTest conversions.
    #[test]
    fn conversions_follow_druids_expr_eval() {
        let s = |t: &'static str| Eval::Str(Cow::Borrowed(t));
        assert_eq!(s("12").as_long(), 12);
        assert_eq!(s("1.9").as_long(), 1);
        assert_eq!(s("true").as_double(), 1.0);
        assert_eq!(s("FALSE").as_long(), 0);
        assert_eq!(s("abc").as_long(), 0);
        assert!(s("abc").is_numeric_null());
        assert!(s("TRUE").as_bool());
        assert!(!s("1").as_bool());
        assert!(Eval::Long(1).as_bool());
        assert!(!Eval::Long(-1).as_bool());
        assert!(Eval::Double(0.5).as_bool());
        assert_eq!(Eval::Double(1e10).as_int(), i32::MAX);
        assert_eq!(Eval::Long(1 << 32).as_int(), 0);
        assert_eq!(Eval::Double(2.0).as_str().unwrap(), "2.0");
        assert_eq!(s("3.7").cast(Type::Long), Eval::Long(3));
        assert_eq!(s("x").cast(Type::Long), Eval::Null(Type::Long));
        assert_eq!(Eval::Long(3).cast(Type::Double), Eval::Double(3.0));
        assert_eq!(Eval::Double(-3.7).cast(Type::Long), Eval::Long(-3));
        assert_eq!(Eval::Long(3).cast(Type::String), s("3"));
        assert_eq!(
            Eval::Null(Type::Long).cast(Type::String),
            Eval::Null(Type::String)
        );
        assert_eq!(
            array_string(&[Value::String("a".into()), Value::Null, Value::Long(1)]),
            "[a, null, 1]"
        );
    }
}
