//! SegmentWriter round trips: every segment written is re-read by QueryableIndex and compared
//! value by value and bitmap by bitmap.

use serde_json::{json, Value};
use steward_segment::column::ColumnData;
use steward_segment::{
    ColumnSchema, ColumnType, ColumnValue, QueryableIndex, SegmentSchema, SegmentWriter,
};

fn col(name: &str, kind: ColumnType) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        kind,
    }
}

/// What a row should read back as: the JSON DumpSegment would print.
fn expected(v: &ColumnValue<'_>) -> Value {
    match v {
        ColumnValue::Null => Value::Null,
        ColumnValue::String(s) => json!(s),
        ColumnValue::Strings([]) => Value::Null,
        ColumnValue::Strings([one]) => json!(one),
        ColumnValue::Strings(many) => json!(many),
        ColumnValue::Long(l) => json!(l),
        ColumnValue::Float(f) => json!(f.to_string().parse::<f64>().unwrap()),
        ColumnValue::Double(d) => json!(d),
    }
}

fn write_and_read(
    schema: SegmentSchema,
    rows: &[(i64, Vec<ColumnValue<'_>>)],
) -> (QueryableIndex, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut w = SegmentWriter::new(&dir.path().join("work"), schema.clone()).unwrap();
    for (t, values) in rows {
        w.add_row(*t, values).unwrap();
    }
    let metadata = json!({"container": {}, "aggregators": [], "timestampSpec": null, "queryGranularity": {"type": "none"}, "rollup": false});
    let out = dir.path().join("segment");
    let written = w.finish(&out, (0, 86_400_000), &metadata).unwrap();
    assert_eq!(written.num_rows, rows.len() as u64);
    let index = QueryableIndex::open(&out).unwrap();
    assert_eq!(index.metadata.as_ref(), Some(&metadata));
    assert_eq!(index.num_rows, rows.len());
    assert_eq!(index.interval, (0, 86_400_000));
    let dims: Vec<String> = schema.dimensions.iter().map(|c| c.name.clone()).collect();
    assert_eq!(index.dimensions, dims);
    assert_eq!(written.dimensions, dims);
    let names: Vec<&ColumnSchema> = schema.dimensions.iter().chain(&schema.metrics).collect();
    for (r, (t, values)) in rows.iter().enumerate() {
        assert_eq!(index.times()[r], *t);
        for (c, v) in names.iter().zip(values) {
            assert_eq!(
                index.column(&c.name).unwrap().value(r),
                expected(v),
                "row {r} column {}",
                c.name
            );
        }
    }
    assert!(
        std::fs::read_dir(dir.path().join("work"))
            .unwrap()
            .next()
            .is_none(),
        "work files removed"
    );
    (index, dir)
}

fn string_dictionary(index: &QueryableIndex, name: &str) -> Vec<Option<String>> {
    match &index.column(name).unwrap().data {
        ColumnData::String(s) => s.dictionary.clone(),
        other => panic!("{name} is {other:?}"),
    }
}

#[test]
fn every_column_type_and_null_pattern_round_trips() {
    let schema = SegmentSchema {
        dimensions: vec![
            col("no_null", ColumnType::String { multi_value: false }),
            col("mixed", ColumnType::String { multi_value: false }),
            col("all_null", ColumnType::String { multi_value: false }),
            col("tags", ColumnType::String { multi_value: true }),
            col("single_in_multi", ColumnType::String { multi_value: true }),
            col("dim_long", ColumnType::Long),
        ],
        metrics: vec![
            col("sum_double", ColumnType::Double),
            col("count", ColumnType::Long),
            col("avg_float", ColumnType::Float),
        ],
    };
    let ab: &[Option<&str>] = &[Some("a"), None, Some("b")];
    let emoji: &[Option<&str>] = &[Some("\u{1F600}"), Some("\u{FF5E}"), Some("")];
    let none: &[Option<&str>] = &[];
    let one: &[Option<&str>] = &[Some("x")];
    use ColumnValue::*;
    let rows = vec![
        (
            1000,
            vec![
                String("b"),
                String(""),
                Null,
                Strings(ab),
                Strings(one),
                Long(5),
                Double(1.5),
                Long(1),
                Float(0.1),
            ],
        ),
        (
            1000,
            vec![
                String("a"),
                Null,
                Null,
                Strings(none),
                Strings(none),
                Null,
                Null,
                Long(2),
                Null,
            ],
        ),
        (
            2000,
            vec![
                String("\u{FF5E}"),
                String("z"),
                Null,
                Null,
                Null,
                Long(-7),
                Double(-0.25),
                Null,
                Float(3.0),
            ],
        ),
        (
            3000,
            vec![
                String("\u{1F600}"),
                String(""),
                Null,
                Strings(emoji),
                String("y"),
                Long(i64::MAX),
                Double(f64::MAX),
                Long(i64::MIN),
                Float(-1.0),
            ],
        ),
    ];
    let (index, _dir) = write_and_read(schema, &rows);
    // Java's UTF-16 order: the surrogate pair of U+1F600 sorts before U+FF5E.
    assert_eq!(
        string_dictionary(&index, "no_null"),
        ["a", "b", "\u{1F600}", "\u{FF5E}"].map(|s| Some(s.to_string()))
    );
    assert_eq!(
        string_dictionary(&index, "mixed"),
        vec![None, Some("".into()), Some("z".into())]
    );
    assert!(matches!(
        index.column("all_null").unwrap().data,
        ColumnData::Null { num_rows: 4 }
    ));
    assert_eq!(
        string_dictionary(&index, "tags"),
        vec![
            None,
            Some("".into()),
            Some("a".into()),
            Some("b".into()),
            Some("\u{1F600}".into()),
            Some("\u{FF5E}".into())
        ]
    );
    let ColumnData::String(tags) = &index.column("tags").unwrap().data else {
        unreachable!()
    };
    assert!(tags.multi_value);
    // null's bitmap holds the row with a null element (0), the empty row (1) and the null
    // row (2).
    assert_eq!(tags.bitmaps.as_ref().unwrap()[0].rows, vec![0, 1, 2]);
    let ColumnData::String(single) = &index.column("single_in_multi").unwrap().data else {
        unreachable!()
    };
    assert!(
        !single.multi_value,
        "no row had two values, so Druid writes a single-value column"
    );
    assert_eq!(single.bitmaps.as_ref().unwrap()[0].rows, vec![1, 2]);
    // Metrics are ordered by name, then dimensions.
    assert_eq!(
        index.column_names,
        [
            "avg_float",
            "count",
            "sum_double",
            "no_null",
            "mixed",
            "all_null",
            "tags",
            "single_in_multi",
            "dim_long"
        ]
    );
    let ColumnData::Numeric(count) = &index.column("count").unwrap().data else {
        unreachable!()
    };
    assert_eq!(count.nulls, vec![2]);
    let ColumnData::Numeric(dim_long) = &index.column("dim_long").unwrap().data else {
        unreachable!()
    };
    assert_eq!(dim_long.nulls, vec![1]);
}

#[test]
fn many_rows_span_many_blocks_and_bitmaps_match_the_rows() {
    let schema = SegmentSchema {
        dimensions: vec![
            col("high_card", ColumnType::String { multi_value: false }),
            col("low_card", ColumnType::String { multi_value: true }),
        ],
        metrics: vec![
            col("value", ColumnType::Long),
            col("ratio", ColumnType::Double),
        ],
    };
    let n = 150_000i64;
    let names: Vec<String> = (0..70_000).map(|i| format!("user-{i}")).collect();
    let tags = ["t0", "t1", "t2", "t3"];
    let pairs: Vec<[Option<&str>; 2]> = (0..4)
        .map(|i| [Some(tags[i]), Some(tags[(i + 1) % 4])])
        .collect();
    let rows: Vec<(i64, Vec<ColumnValue<'_>>)> = (0..n)
        .map(|i| {
            let tag = if i % 3 == 0 {
                ColumnValue::Strings(&pairs[(i % 4) as usize])
            } else {
                ColumnValue::String(tags[(i % 4) as usize])
            };
            let value = if i % 1000 == 7 {
                ColumnValue::Null
            } else {
                ColumnValue::Long(i * 31)
            };
            (
                i / 10,
                vec![
                    ColumnValue::String(&names[(i * 7919 % 70_000) as usize]),
                    tag,
                    value,
                    ColumnValue::Double(i as f64 / 3.0),
                ],
            )
        })
        .collect();
    let (index, _dir) = write_and_read(schema, &rows);
    for c in index.columns() {
        if let ColumnData::String(s) = &c.data {
            let bitmaps = s.bitmaps.as_ref().unwrap();
            assert_eq!(bitmaps.len(), s.dictionary.len());
            let total: usize = bitmaps.iter().map(|b| b.rows.len()).sum();
            assert!(total >= n as usize, "{}", c.name);
        }
    }
    assert_eq!(string_dictionary(&index, "high_card").len(), 70_000);
}

#[test]
fn refuses_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let schema = SegmentSchema {
        dimensions: vec![col("d", ColumnType::String { multi_value: false })],
        metrics: vec![col("m", ColumnType::Long)],
    };
    let mut w = SegmentWriter::new(dir.path(), schema.clone()).unwrap();
    assert!(
        w.add_row(0, &[ColumnValue::Null]).is_err(),
        "too few values"
    );
    assert!(
        w.add_row(
            0,
            &[
                ColumnValue::Strings(&[Some("a"), Some("b")]),
                ColumnValue::Long(1)
            ]
        )
        .is_err(),
        "single-valued"
    );
    assert!(
        w.add_row(0, &[ColumnValue::String("a"), ColumnValue::String("x")])
            .is_err(),
        "string metric"
    );
    w.add_row(10, &[ColumnValue::String("a"), ColumnValue::Long(1)])
        .unwrap();
    assert!(
        w.add_row(5, &[ColumnValue::String("a"), ColumnValue::Long(1)])
            .is_err(),
        "time goes back"
    );
    let empty = SegmentWriter::new(dir.path(), schema).unwrap();
    assert!(empty
        .finish(&dir.path().join("out"), (0, 1), &json!({}))
        .is_err());
    let dup = SegmentSchema {
        dimensions: vec![col("d", ColumnType::Long)],
        metrics: vec![col("d", ColumnType::Long)],
    };
    assert!(SegmentWriter::new(dir.path(), dup).is_err());
}

/// The column file of a one-row string dimension, byte for byte as Druid's layouts give it:
/// ColumnDescriptor JSON, DictionaryEncodedColumnPartSerde (version 2, flags 0), the dictionary
/// GenericIndexed, CompressedVSizeColumnarInts (1 byte per id, 65536 per block, LZ4) and the
/// bitmap GenericIndexed holding RoaringBitmap's serialization of {0}.
#[test]
fn golden_bytes_of_a_tiny_segment() {
    let dir = tempfile::tempdir().unwrap();
    let schema = SegmentSchema {
        dimensions: vec![col("dim", ColumnType::String { multi_value: false })],
        metrics: vec![col("count", ColumnType::Long)],
    };
    let mut w = SegmentWriter::new(dir.path(), schema).unwrap();
    w.add_row(0, &[ColumnValue::String("a"), ColumnValue::Long(1)])
        .unwrap();
    let out = dir.path().join("seg");
    w.finish(&out, (0, 1), &json!({})).unwrap();
    assert_eq!(
        std::fs::read(out.join("version.bin")).unwrap(),
        [0, 0, 0, 9]
    );
    assert_eq!(
        std::fs::read_to_string(out.join("factory.json")).unwrap(),
        r#"{"type":"mMapSegmentFactory"}"#
    );
    let meta = std::fs::read_to_string(out.join("meta.smoosh")).unwrap();
    let names: Vec<&str> = meta
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["__time", "count", "dim", "index.drd", "metadata.drd"]
    );
    assert!(meta.starts_with("v1,2147483647,1\n"));
    let line = meta.lines().find(|l| l.starts_with("dim,")).unwrap();
    let f: Vec<usize> = line
        .split(',')
        .skip(2)
        .map(|x| x.parse().unwrap())
        .collect();
    let chunk = std::fs::read(out.join("00000.smoosh")).unwrap();
    let file = &chunk[f[0]..f[1]];
    let desc = r#"{"valueType":"STRING","hasMultipleValues":false,"parts":[{"type":"stringDictionary","bitmapSerdeFactory":{"type":"roaring"},"byteOrder":"LITTLE_ENDIAN"}]}"#;
    let mut expected = (desc.len() as u32).to_be_bytes().to_vec();
    expected.extend_from_slice(desc.as_bytes());
    #[rustfmt::skip]
    expected.extend_from_slice(&[
        2, 0, 0, 0, 0,                                    // COMPRESSED, flags 0
        1, 1, 0, 0, 0, 13, 0, 0, 0, 1, 0, 0, 0, 5,        // dictionary: sorted, 4 + 4 + 5 bytes, 1 value
        0, 0, 0, 0, b'a',
        2, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1,                  // ids: 1 byte each, 1 row, 65536 per block, LZ4
        1, 0, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 6,        // blocks GenericIndexed, not sorted
        0, 0, 0, 0, 0x10, 0x00,                           // LZ4 block: 1 literal byte, id 0
        1, 0, 0, 0, 0, 30, 0, 0, 0, 1, 0, 0, 0, 22,       // bitmaps GenericIndexed
        0, 0, 0, 0,
        0x3A, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0,  // roaring {0}
    ]);
    assert_eq!(file, expected.as_slice());
}
