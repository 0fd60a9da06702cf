//! The row every stage of the pipeline passes on, as Druid's `InputRow` is.
//!
//! An input format turns a record into named [`Value`]s; the timestamp spec picks the row's
//! time out of them. Field names are shared `Arc<str>`s so that a reader can hand out the same
//! name for every row instead of allocating it again; rows are small (tens of fields), so a
//! field is found by a linear scan, which beats hashing at that size.

use std::sync::Arc;

/// Druid's primary time column: every row's timestamp, in every segment.
pub const TIME_COLUMN: &str = "__time";

/// A value as read from input, before a dimension or an aggregator gives it a type.
///
/// JSON booleans arrive as the strings `"true"`/`"false"`, as Druid's dimensions see them;
/// a nested object that no `flattenSpec` field extracts arrives as its JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Long(i64),
    Double(f64),
    String(String),
    /// A multi-value field (a JSON array, or a CSV cell split at `listDelimiter`).
    Array(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// One input row: its time (milliseconds since the epoch, UTC) and its fields in input order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputRow {
    pub timestamp: i64,
    pub fields: Vec<(Arc<str>, Value)>,
}

impl InputRow {
    pub fn new(timestamp: i64, fields: Vec<(Arc<str>, Value)>) -> InputRow {
        InputRow { timestamp, fields }
    }

    /// The value of field `name`; a missing field is `None`, unlike a present null.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(field, _)| &**field == name)
            .map(|(_, value)| value)
    }

    /// Sets field `name`, replacing its value if present.
    pub fn set(&mut self, name: Arc<str>, value: Value) {
        match self.fields.iter_mut().find(|(field, _)| *field == name) {
            Some((_, slot)) => *slot = value,
            None => self.fields.push((name, value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_get_tells_missing_from_null() {
        let mut row = InputRow::new(0, vec![("a".into(), Value::Null)]);
        assert_eq!(row.get("a"), Some(&Value::Null));
        assert_eq!(row.get("b"), None);
        row.set("a".into(), Value::Long(1));
        row.set("b".into(), Value::String("x".into()));
        assert_eq!(row.get("a"), Some(&Value::Long(1)));
        assert_eq!(row.fields.len(), 2);
    }
}
