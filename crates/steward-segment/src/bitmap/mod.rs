//! Bitmap indexes: which rows hold a value. A segment names its bitmap format once, as the
//! `bitmapSerdeFactory` JSON in `index.drd` and in each column part.

pub mod concise;
pub mod roaring;

use serde_json::{json, Value};

use crate::error::{Result, SegmentError};

/// Druid's `BitmapSerdeFactory` types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitmapSerdeFactory {
    Roaring,
    Concise,
}

impl BitmapSerdeFactory {
    /// Parses the factory JSON; an absent factory means Druid's legacy default, Concise
    /// (`BitmapSerde.LegacyBitmapSerdeFactory`).
    pub fn from_json(v: Option<&Value>) -> Result<Self> {
        let Some(v) = v else {
            return Ok(BitmapSerdeFactory::Concise);
        };
        match v.get("type").and_then(Value::as_str) {
            Some("roaring") => Ok(BitmapSerdeFactory::Roaring),
            Some("concise") => Ok(BitmapSerdeFactory::Concise),
            _ => Err(SegmentError::Unsupported(format!("bitmapSerdeFactory {v}"))),
        }
    }

    /// The JSON Druid writes today (`{"type":"roaring"}`, `{"type":"concise"}`).
    pub fn to_json(self) -> Value {
        match self {
            BitmapSerdeFactory::Roaring => json!({"type": "roaring"}),
            BitmapSerdeFactory::Concise => json!({"type": "concise"}),
        }
    }

    /// The rows a stored bitmap holds.
    pub fn deserialize(self, bytes: &[u8]) -> Result<Vec<u32>> {
        match self {
            BitmapSerdeFactory::Roaring => roaring::deserialize(bytes),
            BitmapSerdeFactory::Concise => concise::deserialize(bytes),
        }
    }
}
