//! What Druid's `DumpSegment` tool prints (`druid tools dump-segment`): rows as JSON lines,
//! the segment-metadata analysis, or the bitmap indexes with their serde factory.

use std::io::Write;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::column::{Column, ColumnData};
use crate::error::{Result, SegmentError};
use crate::reader::{QueryableIndex, TIME_COLUMN};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpType {
    Rows,
    Metadata,
    Bitmaps,
}

impl std::str::FromStr for DumpType {
    type Err = SegmentError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rows" => Ok(DumpType::Rows),
            "metadata" => Ok(DumpType::Metadata),
            "bitmaps" => Ok(DumpType::Bitmaps),
            other => Err(SegmentError::Invalid(format!(
                "not a valid dump type: {other}"
            ))),
        }
    }
}

/// Options of `DumpSegment` this port supports.
#[derive(Clone, Debug, Default)]
pub struct DumpOptions {
    /// Columns to include; empty means `__time` and every column.
    pub columns: Vec<String>,
    /// Print `__time` as ISO-8601 (`--time-iso8601`).
    pub time_iso8601: bool,
    /// Print bitmaps as arrays of rows instead of base64 (`--decompress-bitmaps`).
    pub decompress_bitmaps: bool,
}

pub fn dump(
    index: &QueryableIndex,
    kind: DumpType,
    options: &DumpOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let columns = columns_to_include(index, &options.columns);
    let io = |e: std::io::Error| SegmentError::io("(output)", e);
    match kind {
        DumpType::Rows => {
            for row in 0..index.num_rows {
                let mut obj = Map::new();
                for c in &columns {
                    let value = if c.name == TIME_COLUMN && options.time_iso8601 {
                        json!(iso8601(index.times()[row])?)
                    } else {
                        c.value(row)
                    };
                    obj.insert(c.name.clone(), value);
                }
                serde_json::to_writer(&mut *out, &obj).map_err(|e| io(e.into()))?;
                out.write_all(b"\n").map_err(io)?;
            }
        }
        DumpType::Metadata => {
            serde_json::to_writer(&mut *out, &metadata(index, &columns)?)
                .map_err(|e| io(e.into()))?;
            out.write_all(b"\n").map_err(io)?;
        }
        DumpType::Bitmaps => {
            let mut bitmaps = Map::new();
            for c in &columns {
                bitmaps.insert(
                    c.name.clone(),
                    column_bitmaps(c, options.decompress_bitmaps),
                );
            }
            let doc =
                json!({"bitmapSerdeFactory": index.bitmap_serde.to_json(), "bitmaps": bitmaps});
            serde_json::to_writer(&mut *out, &doc).map_err(|e| io(e.into()))?;
            out.write_all(b"\n").map_err(io)?;
        }
    }
    Ok(())
}

/// `DumpSegment.getColumnsToInclude`: the named columns that exist, or `__time` and all.
fn columns_to_include<'a>(index: &'a QueryableIndex, named: &[String]) -> Vec<&'a Column> {
    let names: Vec<&str> = if named.is_empty() {
        std::iter::once(TIME_COLUMN)
            .chain(index.column_names_dimensions_first())
            .collect()
    } else {
        let mut seen = Vec::new();
        for n in named {
            if !seen.contains(&n.as_str()) && index.column(n).is_some() {
                seen.push(n.as_str());
            }
        }
        seen
    };
    names.into_iter().filter_map(|n| index.column(n)).collect()
}

fn column_bitmaps(c: &Column, decompress: bool) -> Value {
    let ColumnData::String(s) = &c.data else {
        return Value::Null;
    };
    let Some(bitmaps) = &s.bitmaps else {
        return Value::Null;
    };
    let mut obj = Map::new();
    for (value, b) in s.dictionary.iter().zip(bitmaps) {
        let key = value.clone().unwrap_or_else(|| "null".to_string());
        let v = if decompress {
            json!(b.rows)
        } else {
            json!(base64::engine::general_purpose::STANDARD.encode(&b.bytes))
        };
        obj.insert(key, v);
    }
    Value::Object(obj)
}

/// Joda's `DateTime.toString()` in UTC: `2015-09-12T00:00:00.000Z`.
fn iso8601(millis: i64) -> Result<String> {
    let ts = jiff::Timestamp::from_millisecond(millis)
        .map_err(|e| SegmentError::Invalid(format!("time {millis} out of range: {e}")))?;
    Ok(ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// The `SegmentAnalysis` a segment-metadata query over all analysis types returns. Sizes are
/// not estimated here (0), as Druid reports them only when asked for `size`.
fn metadata(index: &QueryableIndex, columns: &[&Column]) -> Result<Value> {
    let interval = format!(
        "{}/{}",
        iso8601(index.interval.0)?,
        iso8601(index.interval.1)?
    );
    let mut analysis = Map::new();
    for c in columns {
        analysis.insert(c.name.clone(), column_analysis(c));
    }
    let meta = index.metadata.clone().unwrap_or(Value::Null);
    let aggregators = meta
        .get("aggregators")
        .and_then(Value::as_array)
        .map(|aggs| {
            aggs.iter()
                .filter_map(|a| Some((a.get("name")?.as_str()?.to_string(), a.clone())))
                .collect::<Map<String, Value>>()
        });
    Ok(json!({
        "id": format!("dataSource_{}_{}_0", iso8601(index.interval.0)?, iso8601(index.interval.1)?),
        "intervals": [interval],
        "columns": analysis,
        "size": 0,
        "numRows": index.num_rows,
        "aggregators": aggregators,
        "timestampSpec": meta.get("timestampSpec").cloned().unwrap_or(Value::Null),
        "queryGranularity": meta.get("queryGranularity").cloned().unwrap_or(Value::Null),
        "rollup": meta.get("rollup").cloned().unwrap_or(Value::Null),
    }))
}

fn column_analysis(c: &Column) -> Value {
    let type_name = c.type_name();
    let (signature, multi, nulls, cardinality, min, max) = match &c.data {
        ColumnData::String(s) => {
            let non_null: Vec<&String> = s.dictionary.iter().flatten().collect();
            (
                "STRING".to_string(),
                s.multi_value,
                s.dictionary.first() == Some(&None),
                json!(s.dictionary.len()),
                json!(non_null.first()),
                json!(non_null.last()),
            )
        }
        ColumnData::Numeric(n) => (
            type_name.clone(),
            false,
            !n.nulls.is_empty(),
            Value::Null,
            Value::Null,
            Value::Null,
        ),
        ColumnData::Null { .. } => (
            "STRING".to_string(),
            false,
            true,
            json!(1),
            Value::Null,
            Value::Null,
        ),
        ColumnData::Complex { type_name, .. } => (
            format!("COMPLEX<{type_name}>"),
            false,
            false,
            Value::Null,
            Value::Null,
            Value::Null,
        ),
    };
    json!({
        "typeSignature": signature,
        "type": type_name,
        "hasMultipleValues": multi,
        "hasNulls": nulls,
        "size": 0,
        "cardinality": cardinality,
        "minValue": min,
        "maxValue": max,
        "errorMessage": null,
    })
}
