//! Writing speed for a wikiticker-shaped row (10 string dimensions, 4 numeric metrics).
//! Run: `cargo test --release -p steward-segment --test throughput -- --ignored --nocapture`.

use std::time::Instant;

use serde_json::json;
use steward_segment::{
    ColumnSchema, ColumnType, ColumnValue, QueryableIndex, SegmentSchema, SegmentWriter,
};

#[test]
#[ignore = "measurement; run in release"]
fn wikiticker_shaped_rows_per_second() {
    let dims = [
        "channel",
        "cityName",
        "comment",
        "countryIsoCode",
        "countryName",
        "isAnonymous",
        "isMinor",
        "isNew",
        "isRobot",
        "page",
    ];
    let cards = [50usize, 800, 20_000, 100, 100, 2, 2, 2, 2, 30_000];
    let schema = SegmentSchema {
        dimensions: dims
            .iter()
            .map(|d| ColumnSchema {
                name: d.to_string(),
                kind: ColumnType::String { multi_value: false },
            })
            .collect(),
        metrics: ["added", "deleted", "delta", "count"]
            .iter()
            .map(|m| ColumnSchema {
                name: m.to_string(),
                kind: ColumnType::Long,
            })
            .collect(),
    };
    let values: Vec<Vec<String>> = cards
        .iter()
        .enumerate()
        .map(|(d, c)| (0..*c).map(|i| format!("{}-value-{i}", dims[d])).collect())
        .collect();
    let n = 2_000_000u64;
    let dir = tempfile::tempdir().unwrap();
    let mut w = SegmentWriter::new(dir.path(), schema).unwrap();
    let start = Instant::now();
    let mut row: Vec<ColumnValue<'_>> = Vec::with_capacity(14);
    for i in 0..n {
        row.clear();
        for (d, vals) in values.iter().enumerate() {
            let k = (i as usize).wrapping_mul(2_654_435_761 + d) % vals.len();
            row.push(if k % 17 == 3 {
                ColumnValue::Null
            } else {
                ColumnValue::String(&vals[k])
            });
        }
        row.extend([
            ColumnValue::Long(i as i64 % 500),
            ColumnValue::Long(3),
            ColumnValue::Long(-(i as i64 % 70)),
            ColumnValue::Long(1),
        ]);
        w.add_row(1_442_016_000_000 + (i / 25) as i64, &row)
            .unwrap();
    }
    let added = start.elapsed();
    let written = w
        .finish(
            &dir.path().join("out"),
            (1_442_016_000_000, 1_442_102_400_000),
            &json!({}),
        )
        .unwrap();
    let total = start.elapsed();
    eprintln!(
        "{n} rows: add_row {:.2}s, finish {:.2}s, {:.0} rows/s overall, {} bytes",
        added.as_secs_f64(),
        (total - added).as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        written.size_bytes
    );
    assert_eq!(
        QueryableIndex::open(&dir.path().join("out"))
            .unwrap()
            .num_rows,
        n as usize
    );
}
