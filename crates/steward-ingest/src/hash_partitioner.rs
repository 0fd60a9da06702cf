//! Hash partitioning of a time chunk's rows into buckets, byte for byte as Druid does it
//! (`HashPartitioner`, `HashPartitionFunction`, `HashBasedNumberedShardSpec.serializeGroupKey`).
//!
//! A row's bucket is `abs(murmur3_32(key) % buckets)`, Java's signed remainder, of its group key
//! serialized by Jackson: with `partitionDimensions`, the list of each named dimension's values
//! (`[["a"],[]]`, a null value an empty list); without, Druid's `Rows.toGroupKey`: the
//! query-granularity time and a map of every non-null dimension, names and values in Java's
//! string order, values deduplicated (`[1442016000000,{"page":["X"]}]`). A Broker prunes
//! segments by hashing a filter's values the same way, so any byte of difference would make it
//! skip segments that hold matching rows.
//!
//! Druid hashes the input row; the key is built here from the rolled-up row, which holds the
//! same strings, so rows that roll up together never split across buckets. Two differences
//! remain, both where Druid's own pruning cannot apply: a multi-value row in a dimension that
//! sorts its values is hashed in sorted order (Druid hashes the input order), and a numeric
//! dimension's value is hashed as Java prints the stored number (Druid hashes the input text,
//! `"1.50"` rather than `"1.5"`).

use std::cmp::Ordering;
use std::fmt::Write as _;

use steward_model::HashPartitionFunction;

use crate::dimensions::DimensionSchema;
use crate::index::java::{compare_utf16, JavaDouble, JavaFloat};
use crate::index::{DimValue, MergedRow};

/// Guava's `Hashing.murmur3_32().hashBytes(data).asInt()`: MurmurHash3 x86 32-bit, seed 0.
pub fn murmur3_32(data: &[u8]) -> i32 {
    murmur3_32_seeded(data, 0) as i32
}

fn murmur3_32_seeded(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h = (h ^ mix(k))
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, &b| (k << 8) | u32::from(b));
        h ^= mix(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Druid's `HashPartitionFunction.hash`: the bucket of a serialized group key among
/// `num_buckets` (at least 1, at most `i32::MAX`).
pub fn hash_bucket(function: HashPartitionFunction, key: &[u8], num_buckets: u32) -> u32 {
    let buckets = i32::try_from(num_buckets.max(1)).unwrap_or(i32::MAX);
    match function {
        HashPartitionFunction::Murmur3_32Abs => (murmur3_32(key) % buckets).unsigned_abs(),
    }
}

/// What the group key is made of.
enum KeyShape {
    /// The named partition dimensions, by position in the rows (`None`: not a dimension of
    /// the rows, always an empty list).
    Dimensions(Vec<Option<usize>>),
    /// Every dimension, in Java's order of their names, each with its name already written
    /// as a JSON key (`"page":`).
    All(Vec<(usize, Vec<u8>)>),
}

/// Assigns rolled-up rows to hash buckets; keeps its buffers between rows.
pub struct HashPartitioner {
    function: HashPartitionFunction,
    shape: KeyShape,
    key: Vec<u8>,
}

impl HashPartitioner {
    /// A partitioner over rows of `dimensions` (the merged rows' own, in their order);
    /// `partition_dimensions` empty means all of them.
    pub fn new(
        function: HashPartitionFunction,
        partition_dimensions: &[String],
        dimensions: &[DimensionSchema],
    ) -> HashPartitioner {
        let position = |name: &str| dimensions.iter().position(|d| d.name == name);
        let shape = if partition_dimensions.is_empty() {
            let mut named: Vec<(usize, &str)> = dimensions
                .iter()
                .enumerate()
                .map(|(i, d)| (i, d.name.as_str()))
                .collect();
            named.sort_by(|a, b| compare_utf16(a.1, b.1));
            KeyShape::All(
                named
                    .into_iter()
                    .map(|(i, name)| {
                        let mut key = Vec::with_capacity(name.len() + 3);
                        write_json_string(&mut key, name);
                        key.push(b':');
                        (i, key)
                    })
                    .collect(),
            )
        } else {
            KeyShape::Dimensions(partition_dimensions.iter().map(|d| position(d)).collect())
        };
        HashPartitioner {
            function,
            shape,
            key: Vec::with_capacity(256),
        }
    }

    /// The bucket of `row` among `num_buckets`.
    pub fn bucket(&mut self, row: &MergedRow<'_>, num_buckets: u32) -> u32 {
        hash_bucket(self.function, self.group_key(row), num_buckets)
    }

    /// The row's group key as Druid's JSON mapper writes it, the bytes that are hashed.
    pub fn group_key(&mut self, row: &MergedRow<'_>) -> &[u8] {
        self.key.clear();
        let key = &mut self.key;
        match &self.shape {
            KeyShape::Dimensions(positions) => {
                key.push(b'[');
                for (n, position) in positions.iter().enumerate() {
                    if n > 0 {
                        key.push(b',');
                    }
                    let value = position.map_or(DimValue::Null, |p| row.dimension(p));
                    write_values(key, value, false);
                }
                key.push(b']');
            }
            KeyShape::All(dims) => {
                key.push(b'[');
                let _ = write!(Bytes(key), "{}", row.time());
                key.extend_from_slice(b",{");
                let mut first = true;
                for (position, name) in dims {
                    let value = row.dimension(*position);
                    if value == DimValue::Null {
                        continue;
                    }
                    if !first {
                        key.push(b',');
                    }
                    first = false;
                    key.extend_from_slice(name);
                    write_values(key, value, true);
                }
                key.extend_from_slice(b"}]");
            }
        }
        &self.key
    }
}

/// A dimension value as the JSON list of strings Druid's `InputRow.getDimension` gives (a
/// multi-value row's null elements as `"null"`); `as_set`: sorted and deduplicated, as
/// `Rows.toGroupKey` copies it into a sorted set.
fn write_values(key: &mut Vec<u8>, value: DimValue<'_>, as_set: bool) {
    key.push(b'[');
    match value {
        DimValue::Null => {}
        DimValue::String(s) => write_json_string(key, s),
        DimValue::Strings(elements) => {
            let mut values: Vec<&str> = elements.iter().map(|e| e.unwrap_or("null")).collect();
            if as_set {
                values.sort_by(|a, b| compare_utf16(a, b));
                values.dedup_by(|a, b| compare_utf16(a, b) == Ordering::Equal);
            }
            for (n, v) in values.iter().enumerate() {
                if n > 0 {
                    key.push(b',');
                }
                write_json_string(key, v);
            }
        }
        // Java's digits, signs, `.`, `E`, `NaN` and `Infinity` need no escaping.
        DimValue::Long(n) => {
            let _ = write!(Bytes(key), "\"{n}\"");
        }
        DimValue::Float(f) => {
            let _ = write!(Bytes(key), "\"{}\"", JavaFloat(f));
        }
        DimValue::Double(d) => {
            let _ = write!(Bytes(key), "\"{}\"", JavaDouble(d));
        }
    }
    key.push(b']');
}

/// A JSON string as Jackson writes it: `"` and `\` escaped, control characters as `\n`-style
/// escapes or `\u00XX` with upper-case hex digits, everything else as UTF-8.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x09 => b't',
            0x0A => b'n',
            0x0C => b'f',
            0x0D => b'r',
            0x00..=0x1F => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain_from..i]);
        plain_from = i + 1;
        if short != 0 {
            out.extend_from_slice(&[b'\\', short]);
        } else {
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]);
        }
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

/// `fmt::Write` into a byte buffer, for numbers.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
