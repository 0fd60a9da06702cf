//! Opening a segment (`IndexIO.loadIndex` / `V9IndexLoader`): `version.bin`, `meta.smoosh`,
//! `index.drd`, the optional `metadata.drd`, and every column, all decoded and cross-checked
//! (lengths, offsets, dictionary ids, bitmaps, equal row counts) so a damaged segment is refused
//! with an error naming what is wrong.

use std::path::Path;

use serde_json::Value;

use crate::bitmap::BitmapSerdeFactory;
use crate::column::numeric::NumericValues;
use crate::column::{Column, ColumnData};
use crate::error::{Result, SegmentError};
use crate::index_drd::IndexDrd;
use crate::smoosh::SmooshedFiles;

/// `IndexIO.V9_VERSION`.
pub const V9_VERSION: i32 = 9;
pub const TIME_COLUMN: &str = "__time";

/// A segment read whole into memory (named after Druid's `QueryableIndex`).
#[derive(Debug)]
pub struct QueryableIndex {
    pub interval: (i64, i64),
    /// Dimensions in the segment's order.
    pub dimensions: Vec<String>,
    /// Every column but `__time`, in `index.drd`'s order (metrics, then dimensions).
    pub column_names: Vec<String>,
    pub bitmap_serde: BitmapSerdeFactory,
    /// `metadata.drd` (Druid's `Metadata` JSON), when present.
    pub metadata: Option<Value>,
    pub num_rows: usize,
    /// Bytes of the smoosh chunks.
    pub size_bytes: u64,
    columns: Vec<Column>,
}

impl QueryableIndex {
    /// Opens a segment directory (loose files, or one holding `index.zip`) or an `index.zip`.
    pub fn open(path: &Path) -> Result<Self> {
        let (version, files) = if path.is_dir()
            && !path.join("version.bin").exists()
            && path.join("index.zip").is_file()
        {
            load_zip(&path.join("index.zip"))?
        } else if path.is_dir() {
            let v = path.join("version.bin");
            (
                std::fs::read(&v).map_err(|e| SegmentError::io(&v, e))?,
                SmooshedFiles::load(path)?,
            )
        } else {
            load_zip(path)?
        };
        let version = <[u8; 4]>::try_from(version.as_slice())
            .map(i32::from_be_bytes)
            .map_err(|_| {
                SegmentError::corrupt(
                    "version.bin",
                    format!("{} bytes, expected 4", version.len()),
                )
            })?;
        if version != V9_VERSION {
            return Err(SegmentError::Unsupported(format!(
                "segment version [{version}], only 9 is read"
            )));
        }
        Self::from_files(&files)
    }

    fn from_files(files: &SmooshedFiles) -> Result<Self> {
        let drd = IndexDrd::read(files.map_file("index.drd")?, files)?;
        let metadata = if files.contains("metadata.drd") {
            let bytes = files.map_file("metadata.drd")?;
            Some(
                serde_json::from_slice(bytes)
                    .map_err(|e| SegmentError::corrupt("metadata.drd", format!("not JSON: {e}")))?,
            )
        } else {
            None
        };
        let mut columns = Vec::with_capacity(drd.columns.len() + 1);
        for name in std::iter::once(TIME_COLUMN).chain(drd.columns.iter().map(String::as_str)) {
            let bytes = files.map_file(name).map_err(|e| e.in_column(name))?;
            columns.push(Column::read(name, bytes, files)?);
        }
        let time = &columns[0];
        let num_rows = match &time.data {
            ColumnData::Numeric(n)
                if matches!(n.values, NumericValues::Long(_)) && n.nulls.is_empty() =>
            {
                n.values.len()
            }
            _ => {
                return Err(SegmentError::corrupt(
                    TIME_COLUMN,
                    "is not a long column without nulls",
                )
                .in_column(TIME_COLUMN))
            }
        };
        for c in &columns {
            if let Some(n) = c.num_rows().filter(|n| *n != num_rows) {
                return Err(SegmentError::corrupt(
                    c.name.clone(),
                    format!("has {n} rows, __time has {num_rows}"),
                )
                .in_column(&c.name));
            }
        }
        let size_bytes = files
            .names()
            .map(|n| files.map_file(n).map_or(0, |b| b.len() as u64))
            .sum();
        Ok(QueryableIndex {
            interval: drd.interval,
            dimensions: drd.dimensions,
            column_names: drd.columns,
            bitmap_serde: drd.bitmap_serde,
            metadata,
            num_rows,
            size_bytes,
            columns,
        })
    }

    /// `__time`, then the columns in `index.drd`'s order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Row timestamps (millis).
    pub fn times(&self) -> &[i64] {
        match &self.columns[0].data {
            ColumnData::Numeric(n) => match &n.values {
                NumericValues::Long(v) => v,
                _ => unreachable!("checked at open"),
            },
            _ => unreachable!("checked at open"),
        }
    }

    /// Column names as `SimpleQueryableIndex.getColumnNames`: dimensions first, then the rest.
    pub fn column_names_dimensions_first(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.dimensions.iter().map(String::as_str).collect();
        for c in &self.column_names {
            if !names.contains(&c.as_str()) {
                names.push(c);
            }
        }
        names
    }
}

fn load_zip(path: &Path) -> Result<(Vec<u8>, SmooshedFiles)> {
    let mut entries = crate::zip::read_entries(path)?;
    let mut take = |name: &str| {
        entries
            .iter()
            .position(|(n, _)| n.rsplit('/').next() == Some(name))
            .map(|i| entries.swap_remove(i).1)
            .ok_or_else(|| {
                SegmentError::corrupt(
                    path.display().to_string(),
                    format!("no {name} in the archive"),
                )
            })
    };
    let version = take("version.bin")?;
    let meta = String::from_utf8(take("meta.smoosh")?)
        .map_err(|_| SegmentError::corrupt("meta.smoosh", "not UTF-8"))?;
    let num_chunks = meta
        .lines()
        .next()
        .and_then(|l| l.split(',').nth(2))
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| SegmentError::corrupt("meta.smoosh", "bad first line"))?;
    let chunks = (0..num_chunks)
        .map(|i| take(&format!("{i:05}.smoosh")))
        .collect::<Result<Vec<_>>>()?;
    Ok((version, SmooshedFiles::from_parts(&meta, chunks)?))
}
