//! `index.drd`: the segment's column and dimension names, data interval and bitmap format
//! (`IndexMergerV9.makeIndexBinary`, read by `IndexIO.V9IndexLoader`):
//!
//! ```text
//! GenericIndexed<String>  columns with a value somewhere (metrics first, then dimensions)
//! GenericIndexed<String>  dimensions with a value somewhere
//! long, long              interval start and end (millis)
//! string                  bitmapSerdeFactory JSON (absent in very old segments: concise)
//! GenericIndexed<String>  all columns, a null where the first list supplies the name
//! GenericIndexed<String>  all dimensions, likewise (both absent before Druid 0.23)
//! ```
//!
//! The last two lists keep the place of columns that are null in every row, which the first two
//! leave out.

use serde_json::Value;

use crate::bitmap::BitmapSerdeFactory;
use crate::buffer::{put_string, Cursor};
use crate::error::{Result, SegmentError};
use crate::generic_indexed::{strings_to_vec, GenericIndexed};
use crate::smoosh::SmooshedFiles;

#[derive(Clone, Debug, PartialEq)]
pub struct IndexDrd {
    /// Every column but `__time`, in Druid's order (metrics, then dimensions).
    pub columns: Vec<String>,
    pub dimensions: Vec<String>,
    pub interval: (i64, i64),
    pub bitmap_serde: BitmapSerdeFactory,
}

impl IndexDrd {
    pub fn read(bytes: &[u8], files: &SmooshedFiles) -> Result<Self> {
        let mut cur = Cursor::new(bytes, "index.drd");
        let non_null_cols = names(&mut cur, files)?;
        let non_null_dims = names(&mut cur, files)?;
        let interval = (cur.i64_be()?, cur.i64_be()?);
        let mut bitmap_serde = BitmapSerdeFactory::Concise;
        let mut columns = non_null_cols.clone();
        let mut dimensions = non_null_dims.clone();
        if cur.has_remaining() {
            let json = cur.string()?;
            let v: Value = serde_json::from_str(json).map_err(|e| {
                SegmentError::corrupt(
                    "index.drd",
                    format!("bitmapSerdeFactory is not JSON ({e}): {json}"),
                )
            })?;
            bitmap_serde = BitmapSerdeFactory::from_json(Some(&v))?;
            if cur.has_remaining() {
                columns = restore(
                    &non_null_cols,
                    &GenericIndexed::read(&mut cur, Some(files))?.strings("index.drd")?,
                )?;
                dimensions = restore(
                    &non_null_dims,
                    &GenericIndexed::read(&mut cur, Some(files))?.strings("index.drd")?,
                )?;
            }
        }
        if cur.has_remaining() {
            return Err(cur.error(format!("{} unexpected bytes at the end", cur.remaining())));
        }
        if let Some(d) = dimensions.iter().find(|d| !columns.contains(d)) {
            return Err(cur.error(format!("dimension [{d}] is not among the columns")));
        }
        Ok(IndexDrd {
            columns,
            dimensions,
            interval,
            bitmap_serde,
        })
    }

    /// Serializes as `IndexMergerV9.makeIndexBinary`; `null_only` names the columns (all
    /// dimensions) that are null in every row.
    pub fn write(&self, null_only: &[String]) -> Result<Vec<u8>> {
        let is_null = |c: &String| null_only.contains(c);
        let non_null_cols = strings_to_vec(
            self.columns
                .iter()
                .filter(|c| !is_null(c))
                .map(|c| Some(c.as_str())),
        )?;
        let non_null_dims = strings_to_vec(
            self.dimensions
                .iter()
                .filter(|c| !is_null(c))
                .map(|c| Some(c.as_str())),
        )?;
        let all = |names: &[String]| {
            strings_to_vec(names.iter().map(|c| is_null(c).then_some(c.as_str())))
        };
        let mut out = non_null_cols;
        out.extend_from_slice(&non_null_dims);
        out.extend_from_slice(&self.interval.0.to_be_bytes());
        out.extend_from_slice(&self.interval.1.to_be_bytes());
        put_string(&mut out, &self.bitmap_serde.to_json().to_string());
        out.extend_from_slice(&all(&self.columns)?);
        out.extend_from_slice(&all(&self.dimensions)?);
        Ok(out)
    }
}

fn names<'a>(cur: &mut Cursor<'a>, files: &'a SmooshedFiles) -> Result<Vec<String>> {
    let list = GenericIndexed::read(cur, Some(files))?.strings("index.drd")?;
    list.into_iter()
        .map(|n| n.ok_or_else(|| SegmentError::corrupt("index.drd", "a null column name")))
        .collect()
}

/// `V9IndexLoader.restoreColumns`: fill each null slot of `all` from `non_null`, in order.
fn restore(non_null: &[String], all: &[Option<String>]) -> Result<Vec<String>> {
    let mut next = non_null.iter();
    let restored: Vec<String> = all
        .iter()
        .map(|slot| match slot {
            Some(name) => Ok(name.clone()),
            None => next.next().cloned().ok_or_else(|| {
                SegmentError::corrupt("index.drd", "more null slots than columns with values")
            }),
        })
        .collect::<Result<_>>()?;
    if next.next().is_some() {
        return Err(SegmentError::corrupt(
            "index.drd",
            "columns with values left over after the null slots",
        ));
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_null_only_columns_in_place() {
        let drd = IndexDrd {
            columns: vec!["count".into(), "a".into(), "empty".into(), "b".into()],
            dimensions: vec!["a".into(), "empty".into(), "b".into()],
            interval: (1_442_016_000_000, 1_442_102_400_000),
            bitmap_serde: BitmapSerdeFactory::Roaring,
        };
        let bytes = drd.write(&["empty".to_string()]).unwrap();
        let files = SmooshedFiles::from_parts("v1,1,0\n", vec![]).unwrap();
        assert_eq!(IndexDrd::read(&bytes, &files).unwrap(), drd);
        // The first list leaves "empty" out: GenericIndexed ["count", "a", "b"].
        let first = GenericIndexed::read(&mut Cursor::new(&bytes, "t"), None).unwrap();
        assert_eq!(
            first.strings("t").unwrap(),
            vec![Some("count".into()), Some("a".into()), Some("b".into())]
        );
    }

    #[test]
    fn refuses_trailing_bytes_and_mismatched_lists() {
        assert!(restore(&["a".into()], &[None, None]).is_err());
        assert!(restore(&["a".into(), "b".into()], &[None]).is_err());
    }
}
