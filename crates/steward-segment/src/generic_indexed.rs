//! `GenericIndexed`: Druid's list of variable-size values (dictionaries, column names, bitmaps,
//! compressed blocks).
//!
//! Version 1 (`GenericIndexed.VERSION_ONE`, all big-endian):
//!
//! ```text
//! byte    0x01
//! byte    1 if the values are sorted and unique (reverse lookup allowed), else 0
//! int     numBytesUsed = 4 + 4 * count + size of the values
//! int     count
//! int[]   end offset of each value, relative to the start of the values
//! values  each: int marker (-1 = null, 0 = present), then the value's bytes
//! ```
//!
//! Version 2 (multi-file, written by `GenericIndexedWriter` when a column passes 2 GiB) keeps the
//! header and values in separate smoosh files `<name>_header` (native-endian ints) and
//! `<name>_value_<n>`; it is read here, not written.

use std::cmp::Ordering;
use std::io::Write;
use std::path::Path;

use crate::buffer::Cursor;
use crate::error::{Result, SegmentError};
use crate::smoosh::SmooshedFiles;
use crate::spool::Spool;
use crate::string_order::compare_java_nulls_first;

const VERSION_ONE: u8 = 0x1;
const VERSION_TWO: u8 = 0x2;
const NULL_VALUE_SIZE_MARKER: i32 = -1;
/// `GenericIndexedWriter.MAX_FILE_SIZE`: past this Druid switches to version 2.
const MAX_FILE_SIZE: u64 = i32::MAX as u64 - 4096;

/// A read `GenericIndexed`, borrowing the segment's bytes.
pub struct GenericIndexed<'a> {
    len: usize,
    layout: Layout<'a>,
}

enum Layout<'a> {
    V1 {
        offsets: &'a [u8],
        values: &'a [u8],
    },
    V2 {
        header: &'a [u8],
        value_files: Vec<&'a [u8]>,
        log2_per_file: u32,
    },
}

impl<'a> GenericIndexed<'a> {
    /// Reads one `GenericIndexed` at the cursor and advances past it; `files` is needed only for
    /// version 2. Every offset is checked here, so `get` cannot fail later.
    pub fn read(cur: &mut Cursor<'a>, files: Option<&'a SmooshedFiles>) -> Result<Self> {
        let version = cur.u8()?;
        match version {
            VERSION_ONE => Self::read_v1(cur),
            VERSION_TWO => Self::read_v2(cur, files),
            v => Err(cur.error(format!("unknown GenericIndexed version [{v}]"))),
        }
    }

    fn read_v1(cur: &mut Cursor<'a>) -> Result<Self> {
        cur.u8()?; // the sorted flag: not needed to read
        let num_bytes = cur.count("GenericIndexed size")?;
        let body = cur.take(num_bytes)?;
        let mut body_cur = Cursor::new(body, cur.what());
        let len = body_cur.count("GenericIndexed count")?;
        let offsets = body_cur.take(
            len.checked_mul(4)
                .ok_or_else(|| cur.error("count overflows"))?,
        )?;
        let values = body_cur.rest();
        let indexed = GenericIndexed {
            len,
            layout: Layout::V1 { offsets, values },
        };
        indexed.validate(cur)?;
        Ok(indexed)
    }

    fn read_v2(cur: &mut Cursor<'a>, files: Option<&'a SmooshedFiles>) -> Result<Self> {
        let files =
            files.ok_or_else(|| cur.error("version 2 GenericIndexed needs the smoosh files"))?;
        cur.u8()?; // the sorted flag
        let log2 = cur.i32_be()?;
        if !(0..31).contains(&log2) {
            return Err(cur.error(format!("bad elements-per-file power [{log2}]")));
        }
        let len = cur.count("GenericIndexed count")?;
        let name = cur.string()?;
        let per_file = 1usize << log2;
        let num_files = len.div_ceil(per_file);
        let mut value_files = Vec::with_capacity(num_files);
        for i in 0..num_files {
            value_files.push(files.map_file(&format!("{name}_value_{i}"))?);
        }
        let header = files.map_file(&format!("{name}_header"))?;
        if header.len() != len * 4 {
            return Err(cur.error(format!(
                "header of [{name}] has {} bytes for {len} values",
                header.len()
            )));
        }
        let indexed = GenericIndexed {
            len,
            layout: Layout::V2 {
                header,
                value_files,
                log2_per_file: log2 as u32,
            },
        };
        indexed.validate(cur)?;
        Ok(indexed)
    }

    fn validate(&self, cur: &Cursor<'_>) -> Result<()> {
        for i in 0..self.len {
            let (values, start, end) = self.bounds(i);
            if start < 4 || start > end || end > values.len() {
                return Err(cur.error(format!(
                    "value {i} spans [{start}, {end}) outside its {} bytes",
                    values.len()
                )));
            }
        }
        Ok(())
    }

    /// The value bytes a value occupies (without its marker): (buffer, start, end).
    fn bounds(&self, i: usize) -> (&'a [u8], usize, usize) {
        let at = |h: &[u8], k: usize| {
            u32::from_be_bytes(h[k * 4..k * 4 + 4].try_into().expect("4 bytes")) as i32 as i64
        };
        let to_usize = |v: i64| usize::try_from(v).unwrap_or(usize::MAX);
        match &self.layout {
            Layout::V1 { offsets, values } => {
                let end = at(offsets, i);
                let start = if i == 0 { 4 } else { at(offsets, i - 1) + 4 };
                (values, to_usize(start), to_usize(end))
            }
            Layout::V2 {
                header,
                value_files,
                log2_per_file,
            } => {
                let native = |k: usize| {
                    i32::from_le_bytes(header[k * 4..k * 4 + 4].try_into().expect("4 bytes")) as i64
                };
                let mask = (1usize << log2_per_file) - 1;
                let (start, end) = if i & mask == 0 {
                    (4, native(i))
                } else {
                    (native(i - 1) + 4, native(i))
                };
                (
                    value_files[i >> log2_per_file],
                    to_usize(start),
                    to_usize(end),
                )
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The bytes of value `i`, `None` for a null.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let (values, start, end) = self.bounds(i);
        let marker = i32::from_be_bytes(values[start - 4..start].try_into().expect("4 bytes"));
        if start == end && marker == NULL_VALUE_SIZE_MARKER {
            None
        } else {
            Some(&values[start..end])
        }
    }

    /// Value `i` as a string (`GenericIndexed.STRING_STRATEGY`), `None` for a null.
    pub fn get_str(&self, i: usize, what: &str) -> Result<Option<&'a str>> {
        self.get(i)
            .map(|b| {
                std::str::from_utf8(b)
                    .map_err(|_| SegmentError::corrupt(what, format!("value {i} is not UTF-8")))
            })
            .transpose()
    }

    /// All values as strings.
    pub fn strings(&self, what: &str) -> Result<Vec<Option<String>>> {
        (0..self.len)
            .map(|i| Ok(self.get_str(i, what)?.map(str::to_string)))
            .collect()
    }
}

/// Writes a version-1 `GenericIndexed` (`GenericIndexedWriter`), spooling values so the memory
/// used is 4 bytes per value plus a buffer.
pub struct GenericIndexedWriter {
    header: Vec<u8>,
    values: Spool,
    count: u32,
    /// `Some` while tracking whether string values arrive strictly increasing in Java order.
    order: Option<SortTracker>,
}

struct SortTracker {
    sorted: bool,
    prev: Option<String>,
}

impl GenericIndexedWriter {
    /// For values that are not compared (blocks, bitmaps): written as not sorted, as
    /// `GenericIndexedWriter.ofCompressedByteBuffers` and `setObjectsNotSorted` do.
    pub fn unsorted(values: Spool) -> Self {
        GenericIndexedWriter {
            header: Vec::new(),
            values,
            count: 0,
            order: None,
        }
    }

    /// For strings (`STRING_STRATEGY`): the sorted flag is set when each value is strictly greater
    /// than the one before it, a null first value being skipped as Druid skips it.
    pub fn strings(values: Spool) -> Self {
        GenericIndexedWriter {
            order: Some(SortTracker {
                sorted: true,
                prev: None,
            }),
            ..Self::unsorted(values)
        }
    }

    pub fn write_str(&mut self, value: Option<&str>) -> Result<()> {
        if let Some(t) = self.order.as_mut() {
            if t.sorted {
                if let Some(prev) = t.prev.as_deref() {
                    if compare_java_nulls_first(Some(prev), value) != Ordering::Less {
                        t.sorted = false;
                    }
                }
                t.prev = value.map(str::to_string);
            }
        }
        self.write_bytes(value.map(str::as_bytes))
    }

    pub fn write(&mut self, value: Option<&[u8]>) -> Result<()> {
        debug_assert!(self.order.is_none(), "string lists go through write_str");
        self.write_bytes(value)
    }

    fn write_bytes(&mut self, value: Option<&[u8]>) -> Result<()> {
        let marker = if value.is_some() {
            0
        } else {
            NULL_VALUE_SIZE_MARKER
        };
        self.values.write(&marker.to_be_bytes())?;
        if let Some(v) = value {
            self.values.write(v)?;
        }
        if self.serialized_size() > MAX_FILE_SIZE {
            return Err(SegmentError::Unsupported(
                "a GenericIndexed larger than 2 GiB (Druid's multi-file version 2)".into(),
            ));
        }
        let end = u32::try_from(self.values.len()).expect("bounded by MAX_FILE_SIZE");
        self.header.extend_from_slice(&end.to_be_bytes());
        self.count += 1;
        Ok(())
    }

    pub fn serialized_size(&self) -> u64 {
        2 + 4 + 4 + self.header.len() as u64 + self.values.len()
    }

    pub fn write_to(&mut self, out: &mut dyn Write, what: &Path) -> Result<()> {
        let sorted = self.order.as_ref().is_some_and(|t| t.sorted);
        let used = 4 + self.header.len() as u64 + self.values.len();
        let mut head = Vec::with_capacity(10);
        head.push(VERSION_ONE);
        head.push(u8::from(sorted));
        head.extend_from_slice(&(used as u32).to_be_bytes());
        head.extend_from_slice(&self.count.to_be_bytes());
        out.write_all(&head)
            .map_err(|e| SegmentError::io(what, e))?;
        out.write_all(&self.header)
            .map_err(|e| SegmentError::io(what, e))?;
        self.values.copy_to(out, what)
    }

    /// The whole serialized form in memory (for small lists such as `index.drd`'s).
    pub fn into_vec(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.serialized_size() as usize);
        self.write_to(&mut out, Path::new("(memory)"))?;
        Ok(out)
    }
}

/// A `GenericIndexed` of strings in memory, as `GenericIndexed.fromIterable(.., STRING_STRATEGY)`.
pub fn strings_to_vec<'s>(values: impl IntoIterator<Item = Option<&'s str>>) -> Result<Vec<u8>> {
    let mut w = GenericIndexedWriter::strings(Spool::memory());
    for v in values {
        w.write_str(v)?;
    }
    w.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout in GenericIndexed's javadoc, for ["a", null, ""]: a null makes the list unsorted
    /// only if it is not first; here "a" then null is not increasing.
    #[test]
    fn golden_bytes_with_null_and_empty() {
        let bytes = strings_to_vec([Some("a"), None, Some("")]).unwrap();
        #[rustfmt::skip]
        let expected = [
            1, 0,             // version, not sorted
            0, 0, 0, 29,      // numBytesUsed = 4 + 12 + 13
            0, 0, 0, 3,       // count
            0, 0, 0, 5,  0, 0, 0, 9,  0, 0, 0, 13,  // end offsets
            0, 0, 0, 0, b'a',
            0xFF, 0xFF, 0xFF, 0xFF,
            0, 0, 0, 0,
        ];
        assert_eq!(bytes, expected);
        let mut cur = Cursor::new(&bytes, "test");
        let gi = GenericIndexed::read(&mut cur, None).unwrap();
        assert!(!cur.has_remaining());
        assert_eq!(
            gi.strings("test").unwrap(),
            vec![Some("a".into()), None, Some("".into())]
        );
    }

    #[test]
    fn sorted_flag_follows_java_order_with_leading_null() {
        // In UTF-16 order a supplementary character (a surrogate pair) sorts before U+FF5E.
        let bytes = strings_to_vec([
            None,
            Some(""),
            Some("a"),
            Some("\u{1F600}"),
            Some("\u{FF5E}"),
        ])
        .unwrap();
        assert_eq!(bytes[1], 1);
        let bytes = strings_to_vec([Some("\u{FF5E}"), Some("\u{1F600}")]).unwrap();
        assert_eq!(bytes[1], 0);
        let bytes = strings_to_vec([Some("a"), Some("a")]).unwrap();
        assert_eq!(bytes[1], 0);
        let empty = strings_to_vec([]).unwrap();
        assert_eq!(empty, [1, 1, 0, 0, 0, 4, 0, 0, 0, 0]);
        let gi = GenericIndexed::read(&mut Cursor::new(&empty, "t"), None).unwrap();
        assert_eq!(gi.len(), 0);
    }

    #[test]
    fn refuses_offsets_outside_the_values() {
        let mut bytes = strings_to_vec([Some("abc")]).unwrap();
        bytes[13] = 99; // end offset of value 0
        let err = GenericIndexed::read(&mut Cursor::new(&bytes, "dim.dictionary"), None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("dim.dictionary"), "{err}");
        assert!(GenericIndexed::read(&mut Cursor::new(&[3u8, 0], "t"), None).is_err());
        assert!(GenericIndexed::read(&mut Cursor::new(&[1u8, 0, 0, 0, 0, 9], "t"), None).is_err());
    }

    #[test]
    fn reads_version_two_from_smoosh_files() {
        // Two values per file: ["ab", null, "c"] -> files x_value_0 = [ab, null], x_value_1 = [c].
        let mut v0 = Vec::new();
        v0.extend_from_slice(&0i32.to_be_bytes());
        v0.extend_from_slice(b"ab");
        v0.extend_from_slice(&(-1i32).to_be_bytes());
        let mut v1 = Vec::new();
        v1.extend_from_slice(&0i32.to_be_bytes());
        v1.extend_from_slice(b"c");
        let header: Vec<u8> = [6i32, 10, 5].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut chunk = Vec::new();
        let mut meta = String::from("v1,1000,1\n");
        for (name, bytes) in [
            ("x_header", &header),
            ("x_value_0", &v0),
            ("x_value_1", &v1),
        ] {
            meta.push_str(&format!(
                "{name},0,{},{}\n",
                chunk.len(),
                chunk.len() + bytes.len()
            ));
            chunk.extend_from_slice(bytes);
        }
        let files = SmooshedFiles::from_parts(&meta, vec![chunk]).unwrap();
        let mut meta_bytes = vec![2u8, 0];
        meta_bytes.extend_from_slice(&1i32.to_be_bytes());
        meta_bytes.extend_from_slice(&3i32.to_be_bytes());
        crate::buffer::put_string(&mut meta_bytes, "x");
        let gi = GenericIndexed::read(&mut Cursor::new(&meta_bytes, "t"), Some(&files)).unwrap();
        assert_eq!(
            gi.strings("t").unwrap(),
            vec![Some("ab".into()), None, Some("c".into())]
        );
    }
}
