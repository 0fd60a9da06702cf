//! Measures how fast the reader turns Druid's wikiticker JSON into rows.
//!
//! `cargo run --release -p steward-ingest --example read_throughput [repeats]`: the sample
//! (39,244 rows) is decompressed, repeated into one in-memory inline source and read with the
//! tutorial's timestamp spec; then the `.gz` file itself is read from disk.

use std::io::Read;
use std::time::Instant;

use serde_json::json;
use steward_ingest::input::{
    open_reader, InputFormatSpec, InputSourceConfig, InputSourceSpec, ReaderOptions,
};
use steward_ingest::timestamp::TimestampSpec;

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/druid/data");
const FILE: &str = "wikiticker-2015-09-12-sampled.json.gz";

fn measure(label: &str, source: &InputSourceSpec) {
    let format = InputFormatSpec::from_json(&json!({"type": "json"})).expect("format");
    let timestamp = TimestampSpec::from_json(&json!({"column": "time"})).expect("timestamp");
    let mut reader =
        open_reader(source, Some(&format), &timestamp, &ReaderOptions::default()).expect("reader");
    let start = Instant::now();
    let (mut rows, mut errors) = (0u64, 0u64);
    for item in reader.by_ref() {
        match item {
            Ok(_) => rows += 1,
            Err(_) => errors += 1,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let bytes = reader.processed_bytes();
    println!(
        "{label}: {rows} rows ({errors} errors), {:.1} MB in {seconds:.3} s: {:.0} rows/s, {:.1} MB/s",
        bytes as f64 / 1e6,
        rows as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
}

fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let path = format!("{DATA_DIR}/{FILE}");
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).expect("fixture"))
        .read_to_string(&mut text)
        .expect("gzip");
    let config = InputSourceConfig::default();
    let inline = InputSourceSpec::from_json(
        &json!({"type": "inline", "data": text.repeat(repeats)}),
        &config,
    )
    .expect("inline");
    measure(&format!("in memory x{repeats}"), &inline);
    let local = InputSourceSpec::from_json(
        &json!({"type": "local", "baseDir": DATA_DIR, "filter": FILE}),
        &config,
    )
    .expect("local");
    measure("gz file", &local);
}
