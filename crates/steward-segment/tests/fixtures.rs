//! Every Druid-written segment under fixtures/druid/segments opens, with the values its README
//! describes; the damaged one is refused naming its column.

use std::path::PathBuf;

use serde_json::{json, Value};
use steward_segment::column::ColumnData;
use steward_segment::QueryableIndex;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/druid/segments"
    ))
    .join(name)
}

fn column_values(index: &QueryableIndex, name: &str) -> Vec<Value> {
    let c = index
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    (0..index.num_rows).map(|r| c.value(r)).collect()
}

#[test]
fn multivalue_dims_segment() {
    let index = QueryableIndex::open(&fixture("v9-multivalue-dims")).unwrap();
    assert_eq!(index.num_rows, 6);
    assert_eq!(index.dimensions, ["dim0", "dim1"]);
    let ColumnData::String(dim1) = &index.column("dim1").unwrap().data else {
        panic!("dim1 is a string column")
    };
    assert_eq!(
        dim1.dictionary,
        vec![Some(String::new()), Some("dim10".to_string())]
    );
    assert!(!dim1.multi_value);
    let ColumnData::String(dim0) = &index.column("dim0").unwrap().data else {
        panic!("dim0 is a string column")
    };
    assert!(dim0.multi_value);
    assert!(index.metadata.as_ref().unwrap()["rollup"]
        .as_bool()
        .unwrap());
    assert_eq!(column_values(&index, "count").len(), 6);
    assert!(column_values(&index, "count").iter().all(Value::is_i64));
}

#[test]
fn hadoop_2015_segment_from_zip() {
    let index = QueryableIndex::open(&fixture("hadoop-test-segment-2015/index.zip")).unwrap();
    assert_eq!(index.num_rows, 3);
    assert_eq!(index.dimensions, ["host"]);
    assert!(index.metadata.is_none());
    let unique = index.column("unique_hosts").unwrap();
    assert_eq!(unique.type_name(), "hyperUnique");
    assert_eq!(column_values(&index, "host").len(), 3);
    assert!(column_values(&index, "visited_sum")
        .iter()
        .all(Value::is_i64));
    // A directory holding index.zip opens too.
    assert_eq!(
        QueryableIndex::open(&fixture("hadoop-test-segment-2015"))
            .unwrap()
            .num_rows,
        3
    );
}

#[test]
fn nested_segments_surface_json_columns_as_complex() {
    let v3 = QueryableIndex::open(&fixture("nested-segment-v3-2022")).unwrap();
    assert_eq!(v3.num_rows, 5);
    assert_eq!(v3.column("shipTo").unwrap().type_name(), "json");
    assert_eq!(column_values(&v3, "product").len(), 5);
    let v4 = QueryableIndex::open(&fixture("nested-segment-v4-2023")).unwrap();
    assert_eq!(v4.num_rows, 1);
    assert_eq!(v4.column("details").unwrap().type_name(), "json");
    assert!(column_values(&v4, "product")[0].is_string());
    assert!(column_values(&v4, "department")[0].is_string());
}

#[test]
fn damaged_count_descriptor_is_refused_naming_the_column() {
    let err = QueryableIndex::open(&fixture("v9-damaged-count-descriptor")).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("[count]"), "{message}");
    assert!(message.contains("llll"), "{message}");
}

#[test]
fn multivalue_rows_as_druid_wrote_them() {
    let index = QueryableIndex::open(&fixture("v9-multivalue-dims")).unwrap();
    assert_eq!(index.times()[0], 1_388_534_400_000);
    assert_eq!(column_values(&index, "dim0")[0], json!(["dim00", "dim01"]));
    assert_eq!(column_values(&index, "dim1")[0], json!("dim10"));
    assert_eq!(column_values(&index, "dim0")[2], json!(["dim00", "dim01"]));
    assert_eq!(column_values(&index, "dim1")[2], json!(""));
    assert_eq!(
        &column_values(&index, "dim0")[3..],
        &[Value::Null, Value::Null, Value::Null]
    );
}

/// Druid's roaring bitmaps in the 2022/2023 segments re-serialize to the same bytes here.
#[test]
fn roaring_bitmaps_reserialize_byte_for_byte() {
    let mut checked = 0;
    for name in ["nested-segment-v3-2022", "nested-segment-v4-2023"] {
        let index = QueryableIndex::open(&fixture(name)).unwrap();
        for c in index.columns() {
            if let ColumnData::String(s) = &c.data {
                for b in s.bitmaps.as_ref().unwrap() {
                    let mut bytes = Vec::new();
                    steward_segment::bitmap::roaring::serialize_sorted(&b.rows, &mut bytes);
                    assert_eq!(bytes, b.bytes, "{name} {}", c.name);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 5);
}
