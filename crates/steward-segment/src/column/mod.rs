//! Columns: one smoosh file each, a `ColumnDescriptor` followed by the bytes of its part.

pub mod descriptor;
pub mod numeric;
pub mod string;

use serde_json::Value;

use crate::buffer::Cursor;
use crate::error::{Result, SegmentError};
use crate::smoosh::SmooshedFiles;
use descriptor::{ColumnDescriptor, PartSerde};
use numeric::{NumericColumn, NumericValues};
use string::StringColumn;

/// What a column holds, decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnData {
    Numeric(NumericColumn),
    String(StringColumn),
    /// A complex column (hyperUnique, json, ..) kept as its type name and raw bytes.
    Complex {
        type_name: String,
        bytes: Vec<u8>,
    },
    /// Null in every row (`NullColumnPartSerde`).
    Null {
        num_rows: usize,
    },
}

/// One column of a segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub descriptor: ColumnDescriptor,
    pub data: ColumnData,
}

impl Column {
    /// Reads a column file, refusing anything malformed with an error naming the column.
    pub fn read(name: &str, bytes: &[u8], files: &SmooshedFiles) -> Result<Column> {
        Self::read_inner(name, bytes, files).map_err(|e| e.in_column(name))
    }

    fn read_inner(name: &str, bytes: &[u8], files: &SmooshedFiles) -> Result<Column> {
        let mut cur = Cursor::new(bytes, name);
        let descriptor = ColumnDescriptor::parse(cur.string()?)?;
        if descriptor.parts.len() != 1 {
            return Err(SegmentError::Unsupported(format!(
                "{} parts in one column",
                descriptor.parts.len()
            )));
        }
        let data = match &descriptor.parts[0] {
            PartSerde::StringDictionary { bitmaps, order } => {
                ColumnData::String(string::read(&mut cur, *order, *bitmaps, files)?)
            }
            PartSerde::NumericV2 {
                kind,
                order,
                bitmaps,
            } => ColumnData::Numeric(numeric::read_v2(&mut cur, *kind, *order, *bitmaps, files)?),
            PartSerde::Numeric { kind, order } => {
                ColumnData::Numeric(numeric::read_legacy(&mut cur, *kind, *order, files)?)
            }
            PartSerde::Complex { type_name } => ColumnData::Complex {
                type_name: type_name.clone(),
                bytes: cur.rest().to_vec(),
            },
            PartSerde::NestedCommonFormat => ColumnData::Complex {
                type_name: descriptor.value_type.to_lowercase(),
                bytes: cur.rest().to_vec(),
            },
            PartSerde::Null { num_rows } => ColumnData::Null {
                num_rows: *num_rows,
            },
        };
        Ok(Column {
            name: name.to_string(),
            descriptor,
            data,
        })
    }

    /// Rows, where the column says (complex columns do not).
    pub fn num_rows(&self) -> Option<usize> {
        match &self.data {
            ColumnData::Numeric(n) => Some(n.values.len()),
            ColumnData::String(s) => Some(s.rows.len()),
            ColumnData::Complex { .. } => None,
            ColumnData::Null { num_rows } => Some(*num_rows),
        }
    }

    /// The Druid type name (`LONG`, `STRING`, or the complex type's name).
    pub fn type_name(&self) -> String {
        match &self.data {
            ColumnData::Complex { type_name, .. } => type_name.clone(),
            _ => self.descriptor.value_type.clone(),
        }
    }

    /// A row's value as Druid's `DumpSegment` prints it: numbers, strings, arrays for
    /// multi-value rows, null; complex values are not decoded (null).
    pub fn value(&self, row: usize) -> Value {
        match &self.data {
            ColumnData::Numeric(n) => {
                if n.nulls.binary_search(&(row as u32)).is_ok() {
                    return Value::Null;
                }
                match &n.values {
                    NumericValues::Long(v) => Value::from(v[row]),
                    // Java prints a float by its shortest decimal form (0.1, not 0.100000001..).
                    NumericValues::Float(v) => v[row]
                        .to_string()
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map_or(Value::Null, Value::Number),
                    NumericValues::Double(v) => {
                        serde_json::Number::from_f64(v[row]).map_or(Value::Null, Value::Number)
                    }
                }
            }
            ColumnData::String(s) => {
                let name = |id: &u32| {
                    s.dictionary[*id as usize]
                        .clone()
                        .map_or(Value::Null, Value::String)
                };
                let ids = s.rows.row(row);
                match ids {
                    [] => Value::Null,
                    [one] => name(one),
                    many => Value::Array(many.iter().map(name).collect()),
                }
            }
            ColumnData::Complex { .. } | ColumnData::Null { .. } => Value::Null,
        }
    }
}
