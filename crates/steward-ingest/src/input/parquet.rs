//! Parquet rows (the Druid Parquet extension's `ParquetInputFormat`), through the `parquet`
//! crate's record reader.
//!
//! Values convert as Druid's `ParquetGroupConverter` does: dates become milliseconds since the
//! epoch, `TIMESTAMP_MICROS` milliseconds, decimals doubles, unannotated binary base64 text
//! (or UTF-8 with `binaryAsString`), lists multi-values, and nested groups and maps their JSON
//! text unless a `flattenSpec` reaches into them.

use std::fs::File;
use std::sync::Arc;

use base64::Engine as _;
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};
use serde_json::Value as Json;

use super::flatten::{json_to_value, FlattenSpec};
use super::names::Interner;
use super::InputError;
use crate::row::Value;

/// The rows of one Parquet file.
pub(crate) struct ParquetRows {
    rows: RowIter<'static>,
    flatten: Option<FlattenSpec>,
    binary_as_string: bool,
}

impl ParquetRows {
    pub(crate) fn open_file(
        file: File,
        flatten: Option<&FlattenSpec>,
        binary_as_string: bool,
    ) -> Result<ParquetRows, InputError> {
        ParquetRows::open(file, flatten, binary_as_string)
    }

    fn open<R: ChunkReader + 'static>(
        reader: R,
        flatten: Option<&FlattenSpec>,
        binary_as_string: bool,
    ) -> Result<ParquetRows, InputError> {
        let file = SerializedFileReader::new(reader)
            .map_err(|e| InputError::new(format!("Not a readable Parquet file: {e}")))?;
        let boxed: Box<dyn FileReader> = Box::new(file);
        Ok(ParquetRows {
            rows: RowIter::from_file_into(boxed),
            flatten: flatten.filter(|f| !f.is_trivial()).cloned(),
            binary_as_string,
        })
    }

    /// The next row's fields into `out` (cleared first), with the timestamp column's root value
    /// appended past the returned count of visible fields when a flattenSpec leaves it out;
    /// `None` at the end of the file.
    pub(crate) fn next_row(
        &mut self,
        names: &mut Interner,
        timestamp_column: &str,
        out: &mut Vec<(Arc<str>, Value)>,
    ) -> Option<Result<usize, InputError>> {
        let row = match self.rows.next()? {
            Ok(row) => row,
            Err(e) => {
                return Some(Err(InputError::new(format!(
                    "Failed to read Parquet row: {e}"
                ))))
            }
        };
        out.clear();
        match &self.flatten {
            None => {
                for (position, (name, field)) in row.get_column_iter().enumerate() {
                    out.push((names.at(position, name), self.value(field)));
                }
                Some(Ok(out.len()))
            }
            Some(flatten) => {
                let doc = self.row_json(&row);
                flatten.flatten(&doc, true, &mut |k| names.get(k), out);
                let visible = out.len();
                if !out.iter().any(|(n, _)| **n == *timestamp_column) {
                    if let Some(root) = doc.get(timestamp_column) {
                        out.push((names.get(timestamp_column), json_to_value(root)));
                    }
                }
                Some(Ok(visible))
            }
        }
    }

    fn value(&self, field: &Field) -> Value {
        match field {
            Field::Null => Value::Null,
            Field::Bool(b) => Value::String(b.to_string()),
            Field::Byte(n) => Value::Long(i64::from(*n)),
            Field::Short(n) => Value::Long(i64::from(*n)),
            Field::Int(n) => Value::Long(i64::from(*n)),
            Field::Long(n) => Value::Long(*n),
            Field::UByte(n) => Value::Long(i64::from(*n)),
            Field::UShort(n) => Value::Long(i64::from(*n)),
            Field::UInt(n) => Value::Long(i64::from(*n)),
            Field::ULong(n) => i64::try_from(*n).map_or(Value::Double(*n as f64), Value::Long),
            Field::Float16(f) => Value::Double(f.to_f64()),
            Field::Float(f) => Value::Double(f64::from(*f)),
            Field::Double(f) => Value::Double(*f),
            Field::Decimal(d) => Value::Double(decimal_to_f64(d.data(), d.scale())),
            Field::Str(s) => Value::String(s.clone()),
            Field::Bytes(b) => Value::String(self.binary(b.data())),
            Field::Date(days) => Value::Long(i64::from(*days) * 86_400_000),
            Field::TimeMillis(ms) => Value::Long(i64::from(*ms)),
            Field::TimeMicros(us) => Value::Long(*us),
            Field::TimestampMillis(ms) => Value::Long(*ms),
            Field::TimestampMicros(us) => Value::Long(us / 1000),
            Field::ListInternal(list) => {
                Value::Array(list.elements().iter().map(|f| self.value(f)).collect())
            }
            Field::Group(_) | Field::MapInternal(_) => Value::String(self.json(field).to_string()),
        }
    }

    fn binary(&self, bytes: &[u8]) -> String {
        if self.binary_as_string {
            String::from_utf8_lossy(bytes).into_owned()
        } else {
            base64::engine::general_purpose::STANDARD.encode(bytes)
        }
    }

    fn row_json(&self, row: &Row) -> Json {
        Json::Object(
            row.get_column_iter()
                .map(|(name, field)| (name.clone(), self.json(field)))
                .collect(),
        )
    }

    /// The JSON a flattenSpec walks; primitives convert as [`Self::value`] does.
    fn json(&self, field: &Field) -> Json {
        match field {
            Field::Group(row) => self.row_json(row),
            Field::ListInternal(list) => {
                Json::Array(list.elements().iter().map(|f| self.json(f)).collect())
            }
            Field::MapInternal(map) => Json::Object(
                map.entries()
                    .iter()
                    .map(|(k, v)| {
                        let key = match self.json(k) {
                            Json::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, self.json(v))
                    })
                    .collect(),
            ),
            Field::Bool(b) => Json::Bool(*b),
            primitive => match self.value(primitive) {
                Value::Long(n) => Json::from(n),
                Value::Double(d) => Json::from(d),
                Value::String(s) => Json::String(s),
                Value::Null | Value::Array(_) => Json::Null,
            },
        }
    }
}

/// A big-endian two's-complement unscaled value over ten to the scale.
fn decimal_to_f64(bytes: &[u8], scale: i32) -> f64 {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut unscaled: f64 = 0.0;
    for b in bytes {
        let byte = if negative { !b } else { *b };
        unscaled = unscaled * 256.0 + f64::from(byte);
    }
    if negative {
        unscaled = -(unscaled + 1.0);
    }
    unscaled / 10f64.powi(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_convert_from_twos_complement() {
        assert_eq!(decimal_to_f64(&[0x04, 0xD2], 2), 12.34);
        assert_eq!(decimal_to_f64(&[0xFB, 0x2E], 2), -12.34);
        assert_eq!(decimal_to_f64(&[0, 0, 0, 5], 0), 5.0);
    }
}
