//! The transform spec: expression transforms that add or shadow fields, then a filter that
//! drops rows (Druid's `TransformSpec`, `ExpressionTransform` and `Transformer`).
//!
//! As in Druid, every transform reads the row as it came in, not the output of another
//! transform; a transform whose name is an input field shadows it for everything after the
//! transform spec (the filter, dimensions, metrics), and may read the field it shadows. A
//! transform named `__time` replaces the row's timestamp and must give a number. The filter
//! sees the transformed row, `__time` included.
//!
//! Druid evaluates transforms lazily, each time a column is read; Steward evaluates each once
//! per row, eagerly, so an expression that fails (a long division by zero) fails its row with
//! a parse error wherever it is, where Druid fails only if the column is read.
//!
//! - [`expr`]: the expression language. [`filter`]: filter JSON and compilation;
//!   [`matcher`]: matching a row. [`like`], [`ordering`], [`numbers`]: the pieces of Java and
//!   Druid behaviour filters and expressions share.

mod expr;
pub mod filter;
mod like;
mod matcher;
mod numbers;
mod ordering;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{InputRow, ParseError, SpecError, Value};

use self::expr::Expression;
pub use self::filter::DimFilter;
use self::matcher::Matcher;
use crate::row::TIME_COLUMN;

/// Druid's `transformSpec` JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransformSpec {
    #[serde(default)]
    pub filter: Option<DimFilter>,
    #[serde(default)]
    pub transforms: Vec<ExpressionTransform>,
}

/// `{"type": "expression", "name": …, "expression": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpressionTransform {
    /// Always `expression`, the only transform type Druid has built in.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub expression: String,
}

impl ExpressionTransform {
    pub fn new(name: impl Into<String>, expression: impl Into<String>) -> ExpressionTransform {
        ExpressionTransform {
            kind: "expression".into(),
            name: name.into(),
            expression: expression.into(),
        }
    }
}

impl TransformSpec {
    /// Checks the spec as Druid does at submit; paths relative to the transform spec, e.g.
    /// `transforms[1].expression`, `filter.fields[0].dimension`.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.compile().map(drop)
    }

    /// Parses every expression and filter once, for [`Transformer::transform`] on each row.
    pub fn compile(&self) -> Result<Transformer, SpecError> {
        let mut transforms: Vec<(Arc<str>, Expression)> = Vec::with_capacity(self.transforms.len());
        let mut time = None;
        let mut buffered = false;
        for (i, t) in self.transforms.iter().enumerate() {
            if t.kind != "expression" {
                return Err(SpecError::new(
                    format!("transforms[{i}].type"),
                    format!(
                        "Transform type [{}] is not supported (supported: expression)",
                        t.kind
                    ),
                ));
            }
            let seen = transforms.iter().any(|(name, _)| **name == *t.name)
                || (t.name == TIME_COLUMN && time.is_some());
            if seen {
                return Err(SpecError::new(
                    format!("transforms[{i}].name"),
                    format!("Transform name '{}' cannot be used twice", t.name),
                ));
            }
            let expression = Expression::compile(&t.expression)
                .map_err(|e| SpecError::new(format!("transforms[{i}].expression"), e))?;
            // A transform reading a field an earlier one writes must see the input value.
            buffered |= expression
                .fields()
                .iter()
                .any(|f| transforms.iter().any(|(name, _)| **name == **f));
            if t.name == TIME_COLUMN {
                time = Some(expression);
            } else {
                transforms.push((t.name.as_str().into(), expression));
            }
        }
        let filter = self
            .filter
            .as_ref()
            .map(|f| f.compile("filter"))
            .transpose()?;
        Ok(Transformer {
            transforms,
            time,
            filter,
            buffered,
        })
    }
}

/// A compiled transform spec.
#[derive(Debug, Clone)]
pub struct Transformer {
    transforms: Vec<(Arc<str>, Expression)>,
    /// The transform named `__time`.
    time: Option<Expression>,
    filter: Option<Matcher>,
    /// Whether transform outputs must wait until all are evaluated (see `compile`).
    buffered: bool,
}

fn failed(name: &str, reason: impl std::fmt::Display) -> ParseError {
    ParseError::new(format!(
        "Could not transform value for {name} reason: {reason}"
    ))
}

impl Transformer {
    /// Applies the transforms then the filter; Ok(None) = filtered out (Druid's thrownAway).
    pub fn transform(&self, mut row: InputRow) -> Result<Option<InputRow>, ParseError> {
        let timestamp = match &self.time {
            None => None,
            Some(expr) => Some(time_value(
                expr.eval(&row)
                    .map_err(|e| failed(TIME_COLUMN, e))?
                    .into_value(),
            )?),
        };
        if self.buffered {
            let values = self
                .transforms
                .iter()
                .map(|(name, expr)| {
                    expr.eval(&row)
                        .map(|v| v.into_value())
                        .map_err(|e| failed(name, e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for ((name, _), value) in self.transforms.iter().zip(values) {
                row.set(name.clone(), value);
            }
        } else {
            for (name, expr) in &self.transforms {
                let value = expr.eval(&row).map_err(|e| failed(name, e))?.into_value();
                row.set(name.clone(), value);
            }
        }
        if let Some(ts) = timestamp {
            row.timestamp = ts;
        }
        if let Some(filter) = &self.filter {
            let keep = filter
                .matches(&row, false)
                .map_err(|e| ParseError::new(format!("Could not evaluate the filter: {e}")))?;
            if !keep {
                return Ok(None);
            }
        }
        Ok(Some(row))
    }

    pub fn is_noop(&self) -> bool {
        self.transforms.is_empty() && self.time.is_none() && self.filter.is_none()
    }
}

/// The new timestamp from a `__time` transform (Druid's `Rows.objectToNumber`, then
/// `longValue`).
fn time_value(v: Value) -> Result<i64, ParseError> {
    match v {
        Value::Long(ms) => Ok(ms),
        Value::Double(d) => Ok(d as i64),
        Value::String(s) => expr::value::compute_number(&s)
            .map(expr::value::Number::as_long)
            .ok_or_else(|| {
                ParseError::new(format!(
                    "Unable to parse value[{s}] for field[{TIME_COLUMN}]"
                ))
            }),
        Value::Null => Err(ParseError::new("Could not transform value for __time.")),
        Value::Array(_) => Err(ParseError::new(
            "Could not transform value for __time: it is a multi-value field",
        )),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod time_function_tests;
