//! `steward dump-segment` against Druid-written fixture segments.

use std::process::Command;

use serde_json::Value;

const STEWARD: &str = env!("CARGO_BIN_EXE_steward");

fn fixture(name: &str) -> String {
    format!(
        "{}/../../fixtures/druid/segments/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn run(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(STEWARD)
        .arg("dump-segment")
        .args(args)
        .output()
        .expect("run steward");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn dumps_rows_as_json_lines() {
    let (ok, out, err) = run(&[
        &fixture("v9-multivalue-dims"),
        "--column",
        "dim0",
        "--column",
        "__time",
        "--time-iso8601",
    ]);
    assert!(ok, "{err}");
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["dim0"], serde_json::json!(["dim00", "dim01"]));
    assert_eq!(rows[0]["__time"], "2014-01-01T00:00:00.000Z");
    assert_eq!(
        rows[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["dim0", "__time"]
    );
}

#[test]
fn dumps_metadata_and_bitmaps() {
    let (ok, out, err) = run(&[&fixture("nested-segment-v4-2023"), "--dump", "metadata"]);
    assert!(ok, "{err}");
    let meta: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(meta["numRows"], 1);
    assert_eq!(meta["columns"]["product"]["type"], "STRING");
    assert_eq!(meta["columns"]["__time"]["type"], "LONG");

    let (ok, out, err) = run(&[
        &fixture("nested-segment-v4-2023/index.zip"),
        "--dump",
        "bitmaps",
        "-c",
        "product",
    ]);
    assert!(ok, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["bitmapSerdeFactory"]["type"], "roaring");
    let bitmaps = doc["bitmaps"]["product"].as_object().unwrap();
    assert_eq!(bitmaps.len(), 1);
    assert!(bitmaps
        .values()
        .all(|b| b.as_str().is_some_and(|s| !s.is_empty())));
}

#[test]
fn refuses_a_damaged_segment_naming_the_column() {
    let (ok, _, err) = run(&[&fixture("v9-damaged-count-descriptor")]);
    assert!(!ok);
    assert!(err.contains("count"), "{err}");
}
