//! Golden values: Guava's published murmur3_32 vectors, and group keys hashed by Guava 31.1's
//! `Hashing.murmur3_32().hashBytes(key).asInt()` with `Math.abs(hash % buckets)`, exactly as
//! Druid's `HashPartitionFunction.MURMUR3_32_ABS` computes them.

use std::sync::Arc;

use serde_json::json;
use steward_model::Granularity;

use super::*;
use crate::index::{IndexSchema, MemoryLimits, RollupIndex};
use crate::row::{InputRow, Value};

// Guava's Murmur3Hash32Test.testKnownEncodedStringInputs (hashBytes of UTF-8) and
// testKnownIntegerInputs (hashInt: four little-endian bytes).
#[test]
fn murmur3_32_matches_guavas_known_inputs() {
    for (expected, input) in [
        (0u32, ""),
        (0xcfbd_a5d1, "k"),
        (0xa167_dbf3, "hell"),
        (0x248b_fa47, "hello"),
        (0x3d41_b97c, "http://www.google.com/"),
        (0x2e4f_f723, "The quick brown fox jumps over the lazy dog"),
        (0xb5a4_be05, "ABCDefGHI\u{0799}"),
        (0xfc5b_a834, "毎月１日,毎週月曜日"),
        (0x8a5c_3699, "surrogate pair: \u{1F4B0}"),
    ] {
        assert_eq!(murmur3_32(input.as_bytes()), expected as i32, "{input}");
    }
    for (expected, input) in [
        (593_689_054, 0),
        (-189_366_624, -42),
        (-1_134_849_565, 42),
        (-1_718_298_732, i32::MIN),
        (-1_653_689_534, i32::MAX),
    ] {
        assert_eq!(murmur3_32(&input.to_le_bytes()), expected, "{input}");
    }
}

// Guava's testParanoidHashBytes: SMHasher's verification value of MurmurHash3_x86_32.
#[test]
fn murmur3_32_passes_smhashers_verification() {
    let key: Vec<u8> = (0..=255u8).collect();
    let mut hashes = Vec::with_capacity(256 * 4);
    for i in 0..256usize {
        let h = murmur3_32_seeded(&key[..i], 256 - i as u32);
        hashes.extend_from_slice(&h.to_le_bytes());
    }
    assert_eq!(murmur3_32_seeded(&hashes, 0), 0xB0F5_7EE3);
}

#[test]
fn group_keys_hash_to_druids_buckets() {
    for (key, hash, of_3, of_7) in [
        (r#"[["a"]]"#, -1_145_225_031, 0, 6),
        (r#"[["visitor_1"],[]]"#, -818_515_032, 0, 6),
        (r#"[["a","b"]]"#, -1_490_448_085, 1, 0),
        (
            r##"[1442016000000,{"channel":["#en.wikipedia"],"page":["Peremptory norm"],"user":["60.225.66.142"]}]"##,
            -1_622_213_787,
            0,
            5,
        ),
        (
            r##"[1442016000000,{"channel":["#ca.wikipedia"],"page":["Israel Brodsky"],"user":["Jaumellecha"]}]"##,
            223_300_067,
            2,
            4,
        ),
        (r#"[["毎月１日"],["5"],["1.5"]]"#, 273_771_913, 1, 2),
        (r#"[["a\"b\\c\n\u0001"]]"#, -318_418_820, 2, 6),
        (r#"[1442016000000,{}]"#, -204_869_153, 2, 6),
    ] {
        let f = HashPartitionFunction::Murmur3_32Abs;
        assert_eq!(murmur3_32(key.as_bytes()), hash, "{key}");
        assert_eq!(hash_bucket(f, key.as_bytes(), 3), of_3, "{key}");
        assert_eq!(hash_bucket(f, key.as_bytes(), 7), of_7, "{key}");
        assert_eq!(hash_bucket(f, key.as_bytes(), 1), 0);
    }
}

/// The group keys of `rows` rolled up by an index of `dimensions`, with `partition_dimensions`.
fn keys(
    dimensions: serde_json::Value,
    partition_dimensions: &[&str],
    rows: &[(i64, Vec<(&str, Value)>)],
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let schema = IndexSchema {
        dimensions: serde_json::from_value(dimensions).unwrap(),
        metrics: serde_json::from_value(json!([{"type": "count", "name": "count"}])).unwrap(),
        query_granularity: Granularity::from_name("HOUR").unwrap(),
        rollup: true,
        timestamp_column: "time".into(),
        min_timestamp: None,
    };
    let mut index = RollupIndex::new(schema, MemoryLimits::default(), dir.path()).unwrap();
    for (time, fields) in rows {
        let fields = fields
            .iter()
            .map(|(n, v)| (Arc::<str>::from(*n), v.clone()))
            .collect();
        index.add(&InputRow::new(*time, fields)).unwrap();
    }
    let mut merged = index.finish().unwrap();
    let partition_dimensions: Vec<String> =
        partition_dimensions.iter().map(|d| d.to_string()).collect();
    let mut partitioner = HashPartitioner::new(
        HashPartitionFunction::Murmur3_32Abs,
        &partition_dimensions,
        merged.dimensions(),
    );
    let mut out = Vec::new();
    while let Some(row) = merged.next_row().unwrap() {
        out.push(String::from_utf8(partitioner.group_key(&row).to_vec()).unwrap());
    }
    out
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// 2015-09-12T00:00:00Z.
const T0: i64 = 1_442_016_000_000;

// Druid's Rows.toGroupKey: the truncated time, then non-null dimensions by name, values as a
// sorted set.
#[test]
fn without_partition_dimensions_the_key_is_time_and_every_dimension() {
    let dims = json!({"dimensions": ["user", "page", "channel",
        {"type": "long", "name": "n"}, {"type": "double", "name": "d"},
        {"type": "float", "name": "f"}, "tags"]});
    let got = keys(
        dims,
        &[],
        &[
            (
                T0 + 1234,
                vec![
                    ("channel", s("#en.wikipedia")),
                    ("page", s("Peremptory norm")),
                    ("user", s("60.225.66.142")),
                ],
            ),
            (
                T0 + 7_200_000,
                vec![
                    ("page", s("a\"b\\c\n\u{1}")),
                    ("n", Value::Long(-5)),
                    ("d", Value::Double(1.5)),
                    ("f", Value::Double(0.1)),
                    (
                        "tags",
                        Value::Array(vec![s("z"), Value::Null, s("a"), s("z")]),
                    ),
                ],
            ),
        ],
    );
    assert_eq!(
        got,
        [
            r##"[1442016000000,{"channel":["#en.wikipedia"],"page":["Peremptory norm"],"user":["60.225.66.142"]}]"##,
            r#"[1442023200000,{"d":["1.5"],"f":["0.1"],"n":["-5"],"page":["a\"b\\c\n\u0001"],"tags":["a","null","z"]}]"#,
        ]
    );
}

// Druid's HashPartitioner.extractKeys with partition dimensions: each one's values as the
// input row lists them, a missing one as an empty list.
#[test]
fn with_partition_dimensions_the_key_is_their_values_in_order() {
    let dims = json!({"dimensions": ["channel", "page",
        {"type": "string", "name": "tags", "multiValueHandling": "ARRAY"}]});
    let got = keys(
        dims,
        &["page", "absent", "tags"],
        &[
            (
                T0,
                vec![
                    ("page", s("毎月１日")),
                    ("tags", Value::Array(vec![s("b"), s("a")])),
                ],
            ),
            (T0 + 1, vec![("channel", s("#fr"))]),
        ],
    );
    assert_eq!(got, [r#"[["毎月１日"],[],["b","a"]]"#, r#"[[],[],[]]"#]);
}

#[test]
fn buckets_of_rows_are_the_buckets_of_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let schema = IndexSchema {
        dimensions: serde_json::from_value(json!({"dimensions": ["page"]})).unwrap(),
        metrics: Vec::new(),
        query_granularity: Granularity::None,
        rollup: true,
        timestamp_column: "time".into(),
        min_timestamp: None,
    };
    let mut index = RollupIndex::new(schema, MemoryLimits::default(), dir.path()).unwrap();
    index
        .add(&InputRow::new(
            T0,
            vec![(Arc::from("page"), s("visitor_1"))],
        ))
        .unwrap();
    let mut merged = index.finish().unwrap();
    let mut partitioner = HashPartitioner::new(
        HashPartitionFunction::Murmur3_32Abs,
        &["page".to_string(), "user".to_string()],
        merged.dimensions(),
    );
    let row = merged.next_row().unwrap().unwrap();
    // [["visitor_1"],[]] above: bucket 0 of 3, 6 of 7.
    assert_eq!(partitioner.bucket(&row, 3), 0);
    assert_eq!(partitioner.bucket(&row, 7), 6);
}
