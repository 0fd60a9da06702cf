//! `ColumnDescriptor`: the JSON at the head of every column file (`SerializerUtils.writeString`:
//! int length, UTF-8) naming the value type and the parts (`ColumnPartSerde`) whose bytes follow.
//!
//! ```json
//! {"valueType":"LONG","hasMultipleValues":false,"parts":[{"type":"longV2","byteOrder":"LITTLE_ENDIAN","bitmapSerdeFactory":{"type":"roaring"}}]}
//! ```

use serde_json::{json, Value};

use crate::bitmap::BitmapSerdeFactory;
use crate::buffer::ByteOrder;
use crate::error::{Result, SegmentError};

/// One `ColumnPartSerde`, by its JSON `type`.
#[derive(Clone, Debug, PartialEq)]
pub enum PartSerde {
    StringDictionary {
        bitmaps: BitmapSerdeFactory,
        order: ByteOrder,
    },
    /// `longV2`/`floatV2`/`doubleV2`: values then an optional null-value bitmap.
    NumericV2 {
        kind: NumericKind,
        order: ByteOrder,
        bitmaps: BitmapSerdeFactory,
    },
    /// Legacy `long`/`float`/`double`: values only, never null.
    Numeric {
        kind: NumericKind,
        order: ByteOrder,
    },
    Complex {
        type_name: String,
    },
    /// `nestedCommonFormat` (auto/json columns), kept as raw bytes.
    NestedCommonFormat,
    /// A column that is null in every row (`NullColumnPartSerde`); it has no bytes.
    Null {
        num_rows: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumericKind {
    Long,
    Float,
    Double,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDescriptor {
    pub value_type: String,
    pub has_multiple_values: bool,
    pub parts: Vec<PartSerde>,
}

impl ColumnDescriptor {
    pub fn parse(json: &str) -> Result<Self> {
        let bad = |m: String| SegmentError::corrupt("column descriptor", m);
        let v: Value =
            serde_json::from_str(json).map_err(|e| bad(format!("not JSON ({e}): {json}")))?;
        let value_type = v
            .get("valueType")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("no valueType in {json}")))?
            .to_string();
        let has_multiple_values = v
            .get("hasMultipleValues")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let parts = v
            .get("parts")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("no parts in {json}")))?
            .iter()
            .map(parse_part)
            .collect::<Result<Vec<_>>>()?;
        if parts.is_empty() {
            return Err(bad(format!("no parts in {json}")));
        }
        Ok(ColumnDescriptor {
            value_type,
            has_multiple_values,
            parts,
        })
    }

    /// The JSON Druid writes, fields in Jackson's order for each class.
    pub fn to_json(&self) -> String {
        let parts: Vec<Value> = self.parts.iter().map(part_json).collect();
        json!({
            "valueType": self.value_type,
            "hasMultipleValues": self.has_multiple_values,
            "parts": parts,
        })
        .to_string()
    }
}

fn order(part: &Value) -> Result<ByteOrder> {
    match part.get("byteOrder").and_then(Value::as_str) {
        Some(o) => ByteOrder::from_json(o),
        None => Err(SegmentError::corrupt(
            "column descriptor",
            format!("no byteOrder in part {part}"),
        )),
    }
}

fn parse_part(part: &Value) -> Result<PartSerde> {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
    let bitmaps = || BitmapSerdeFactory::from_json(part.get("bitmapSerdeFactory"));
    let numeric = |k: &str| match k {
        "long" | "longV2" => NumericKind::Long,
        "float" | "floatV2" => NumericKind::Float,
        _ => NumericKind::Double,
    };
    Ok(match kind {
        "stringDictionary" => PartSerde::StringDictionary {
            bitmaps: bitmaps()?,
            order: order(part)?,
        },
        "longV2" | "floatV2" | "doubleV2" => PartSerde::NumericV2 {
            kind: numeric(kind),
            order: order(part)?,
            bitmaps: bitmaps()?,
        },
        "long" | "float" | "double" => PartSerde::Numeric {
            kind: numeric(kind),
            order: order(part)?,
        },
        "complex" => PartSerde::Complex {
            type_name: part
                .get("typeName")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    SegmentError::corrupt(
                        "column descriptor",
                        format!("complex part without typeName: {part}"),
                    )
                })?
                .to_string(),
        },
        "nestedCommonFormat" => PartSerde::NestedCommonFormat,
        "null" => PartSerde::Null {
            num_rows: part.get("numRows").and_then(Value::as_u64).ok_or_else(|| {
                SegmentError::corrupt(
                    "column descriptor",
                    format!("null part without numRows: {part}"),
                )
            })? as usize,
        },
        other => {
            return Err(SegmentError::corrupt(
                "column descriptor",
                format!("unknown part type [{other}]"),
            ))
        }
    })
}

fn part_json(p: &PartSerde) -> Value {
    let kind_name = |k: NumericKind, v2: bool| {
        let base = match k {
            NumericKind::Long => "long",
            NumericKind::Float => "float",
            NumericKind::Double => "double",
        };
        if v2 {
            format!("{base}V2")
        } else {
            base.to_string()
        }
    };
    match p {
        PartSerde::StringDictionary { bitmaps, order } => json!({
            "type": "stringDictionary",
            "bitmapSerdeFactory": bitmaps.to_json(),
            "byteOrder": order.json_name(),
        }),
        PartSerde::NumericV2 {
            kind,
            order,
            bitmaps,
        } => json!({
            "type": kind_name(*kind, true),
            "byteOrder": order.json_name(),
            "bitmapSerdeFactory": bitmaps.to_json(),
        }),
        PartSerde::Numeric { kind, order } => {
            json!({"type": kind_name(*kind, false), "byteOrder": order.json_name()})
        }
        PartSerde::Complex { type_name } => json!({"type": "complex", "typeName": type_name}),
        PartSerde::NestedCommonFormat => json!({"type": "nestedCommonFormat"}),
        PartSerde::Null { num_rows } => json!({
            "type": "null",
            "numRows": num_rows,
            "bitmapSerdeFactory": BitmapSerdeFactory::Roaring.to_json(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The descriptors of the fixture segments, as Druid wrote them.
    #[test]
    fn parses_druid_descriptors_and_writes_them_back_in_druid_order() {
        let long_v2 = r#"{"valueType":"LONG","hasMultipleValues":false,"parts":[{"type":"longV2","byteOrder":"LITTLE_ENDIAN","bitmapSerdeFactory":{"type":"roaring"}}]}"#;
        let d = ColumnDescriptor::parse(long_v2).unwrap();
        assert_eq!(d.to_json(), long_v2);
        let string = r#"{"valueType":"STRING","hasMultipleValues":true,"parts":[{"type":"stringDictionary","bitmapSerdeFactory":{"type":"roaring"},"byteOrder":"LITTLE_ENDIAN"}]}"#;
        assert_eq!(ColumnDescriptor::parse(string).unwrap().to_json(), string);
        let null = r#"{"valueType":"STRING","hasMultipleValues":false,"parts":[{"type":"null","numRows":3,"bitmapSerdeFactory":{"type":"roaring"}}]}"#;
        assert_eq!(ColumnDescriptor::parse(null).unwrap().to_json(), null);
        let legacy = r#"{"valueType":"LONG","hasMultipleValues":false,"parts":[{"type":"long","byteOrder":"LITTLE_ENDIAN"}]}"#;
        assert_eq!(ColumnDescriptor::parse(legacy).unwrap().to_json(), legacy);
    }

    #[test]
    fn refuses_unknown_parts() {
        let err = ColumnDescriptor::parse(r#"{"valueType":"LONG","parts":[{"type":"llll"}]}"#)
            .unwrap_err();
        assert!(err.to_string().contains("llll"), "{err}");
        assert!(ColumnDescriptor::parse("{").is_err());
    }
}
