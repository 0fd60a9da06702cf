//! The reader end to end: every source and format, `.gz`, CSV headers and list delimiters,
//! flattenSpec, Parquet, HTTP with basic authentication, and Druid's parse-error messages.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;

use base64::Engine as _;
use flate2::write::GzEncoder;
use serde_json::{json, Value as Json};

use super::*;
use crate::Value;

fn ms(iso: &str) -> i64 {
    iso.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn s(text: &str) -> Value {
    Value::String(text.into())
}

fn source(v: Json) -> InputSourceSpec {
    InputSourceSpec::from_json(&v, &InputSourceConfig::default()).unwrap()
}

fn format(v: Json) -> InputFormatSpec {
    InputFormatSpec::from_json(&v).unwrap()
}

fn timestamp(column: &str, format: &str) -> TimestampSpec {
    TimestampSpec::from_json(&json!({"column": column, "format": format})).unwrap()
}

fn read_all(
    source: &InputSourceSpec,
    format: &InputFormatSpec,
    ts: &TimestampSpec,
) -> (Vec<Result<InputRow, ReadError>>, u64) {
    let mut reader = open_reader(source, Some(format), ts, &ReaderOptions::default()).unwrap();
    let items: Vec<_> = reader.by_ref().collect();
    (items, reader.processed_bytes())
}

fn field<'a>(row: &'a InputRow, name: &str) -> &'a Value {
    row.get(name)
        .unwrap_or_else(|| panic!("no field {name} in {row:?}"))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

// Druid's IntermediateRowParsingReader: a bad row is reported with its place and reading goes
// on; the record number counts rows parsed so far.
#[test]
fn inline_json_reports_bad_rows_and_goes_on() {
    let data = "{\"timestamp\":\"2015-09-12T00:00:00Z\",\"page\":\"a\"}\r\nnot json\n{\"timestamp\":\"bad\",\"page\":\"b\"}\n\n{\"timestamp\":1442016000000,\"page\":\"c\"}\n";
    let (items, bytes) = read_all(
        &source(json!({"type": "inline", "data": data})),
        &format(json!({"type": "json"})),
        &TimestampSpec::default(),
    );
    assert_eq!(bytes, data.len() as u64);
    let rows: Vec<String> = items
        .iter()
        .map(|item| match item {
            Ok(row) => format!("{} {:?}", row.timestamp, field(row, "page")),
            Err(e) => e.to_string(),
        })
        .collect();
    assert_eq!(
        rows,
        [
            format!("{} String(\"a\")", ms("2015-09-12T00:00:00Z")),
            "Unable to parse row [not json] (Record: 2, Line: 2)".to_string(),
            "Timestamp[bad] is unparseable! Event: {timestamp=bad, page=b} (Record: 2, Line: 3)"
                .to_string(),
            "Unable to parse row [] (Record: 2, Line: 4)".to_string(),
            "1442016000000 String(\"c\")".to_string(),
        ]
    );
    assert!(matches!(items[1], Err(ReadError::Parse(_))));
}

#[test]
fn druids_wikiticker_file_reads_whole() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/druid/data");
    let name = "wikiticker-2015-09-12-sampled.json.gz";
    let mut unzipped = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(Path::new(dir).join(name)).unwrap())
        .read_to_end(&mut unzipped)
        .unwrap();
    let (items, bytes) = read_all(
        &source(json!({"type": "local", "baseDir": dir, "filter": "*.json.gz"})),
        &format(json!({"type": "json"})),
        &timestamp("time", "auto"),
    );
    // Druid's tutorial reports "processed": 39244 for this file.
    assert_eq!(items.len(), 39_244);
    assert_eq!(bytes, unzipped.len() as u64);
    let day = ms("2015-09-12T00:00:00Z")..ms("2015-09-13T00:00:00Z");
    for item in &items {
        let row = item.as_ref().unwrap();
        assert!(day.contains(&row.timestamp), "{row:?}");
    }
    let first = items[0].as_ref().unwrap();
    assert_eq!(first.timestamp, ms("2015-09-12T00:46:58.771Z"));
    assert_eq!(field(first, "channel"), &s("#en.wikipedia"));
    assert_eq!(field(first, "isRobot"), &s("false"));
    assert_eq!(field(first, "added"), &Value::Long(36));
}

#[test]
fn local_files_gz_members_and_the_path_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut two_members = gzip(b"{\"timestamp\":\"2015-09-12\",\"n\":1}\n");
    two_members.extend(gzip(b"{\"timestamp\":\"2015-09-13\",\"n\":2}\n"));
    std::fs::write(dir.path().join("a.json.gz"), two_members).unwrap();
    let plain = dir.path().join("b.json");
    std::fs::write(&plain, "{\"timestamp\":\"2015-09-14\",\"n\":3}\n{oops}\n").unwrap();
    let (items, _) = read_all(
        &source(json!({"type": "local", "files": [dir.path().join("a.json.gz"), plain]})),
        &format(json!({"type": "json"})),
        &TimestampSpec::default(),
    );
    let values: Vec<&Value> = items[..3]
        .iter()
        .map(|i| field(i.as_ref().unwrap(), "n"))
        .collect();
    assert_eq!(values, [&Value::Long(1), &Value::Long(2), &Value::Long(3)]);
    let err = items[3].as_ref().unwrap_err().to_string();
    let expected_path = format!("Path: file:{}", dir.path().join("b.json").display());
    assert!(err.contains(&expected_path), "{err}");
    assert!(err.ends_with("Record: 2, Line: 2)"), "{err}");

    let missing = source(json!({"type": "local", "files": ["/no/such/file.json"]}));
    let err = open_reader(
        &missing,
        Some(&format(json!({"type": "json"}))),
        &TimestampSpec::default(),
        &ReaderOptions::default(),
    )
    .err()
    .unwrap();
    assert!(err.message.contains("/no/such/file.json"), "{err}");
    let zipped = dir.path().join("c.json.bz2");
    std::fs::write(&zipped, "x").unwrap();
    let (items, _) = read_all(
        &source(json!({"type": "local", "files": [zipped]})),
        &format(json!({"type": "json"})),
        &TimestampSpec::default(),
    );
    assert!(
        matches!(&items[..], [Err(ReadError::Fatal(e))] if e.message.contains("not supported yet")),
        "{items:?}"
    );
}

// Druid's CsvReaderTest: skipped rows, the header, quoted cells and list delimiters.
#[test]
fn csv_with_header_skipped_rows_and_lists() {
    let data = "a line to skip\r\ntime,page,tags,,count\r\n2015-09-12T00:00:00Z,\"Main, Page\",a|b,x,5\r\n2015-09-12T01:00:00Z,Other,,y\r\n";
    let (items, _) = read_all(
        &source(json!({"type": "inline", "data": data})),
        &format(
            json!({"type": "csv", "findColumnsFromHeader": true, "skipHeaderRows": 1, "listDelimiter": "|"}),
        ),
        &timestamp("time", "iso"),
    );
    let rows: Vec<&InputRow> = items.iter().map(|i| i.as_ref().unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].timestamp, ms("2015-09-12T00:00:00Z"));
    assert_eq!(field(rows[0], "page"), &s("Main, Page"));
    assert_eq!(field(rows[0], "tags"), &Value::Array(vec![s("a"), s("b")]));
    assert_eq!(field(rows[0], "column_4"), &s("x"));
    assert_eq!(field(rows[0], "count"), &s("5"));
    assert_eq!(field(rows[1], "tags"), &Value::Null);
    assert_eq!(rows[1].get("count"), None);

    let bad_header = "a,b,a\n1,2,3\n";
    let (items, _) = read_all(
        &source(json!({"type": "inline", "data": bad_header})),
        &format(json!({"type": "csv", "findColumnsFromHeader": true})),
        &TimestampSpec::default(),
    );
    assert!(
        matches!(&items[..], [Err(ReadError::Fatal(e))] if e.message == "Duplicate column entries found : [a]"),
        "{items:?}"
    );
}

#[test]
fn tsv_with_columns_a_custom_delimiter_and_numbers() {
    let data = "2015-09-12T00:00:00Z|x|1\u{1}2|3.5\n2015-09-12T00:00:01Z||7|\"q\"\n";
    let (items, _) = read_all(
        &source(json!({"type": "inline", "data": data})),
        &format(
            json!({"type": "tsv", "delimiter": "|", "columns": ["ts", "dim", "multi", "num"], "tryParseNumbers": true}),
        ),
        &timestamp("ts", "auto"),
    );
    let rows: Vec<&InputRow> = items.iter().map(|i| i.as_ref().unwrap()).collect();
    assert_eq!(
        field(rows[0], "multi"),
        &Value::Array(vec![Value::Long(1), Value::Long(2)])
    );
    assert_eq!(field(rows[0], "num"), &Value::Double(3.5));
    assert_eq!(field(rows[1], "dim"), &Value::Null);
    // No quoting in TSV.
    assert_eq!(field(rows[1], "num"), &s("\"q\""));
}

#[test]
fn json_flatten_spec_through_the_reader() {
    let data = r#"{"ts":"2015-09-12","user":{"name":"alice","langs":["en","fr"]},"n":null}"#;
    let (items, _) = read_all(
        &source(json!({"type": "inline", "data": data})),
        &format(json!({"type": "json", "flattenSpec": {"fields": [
            {"type": "path", "name": "userName", "expr": "$.user.name"},
            {"type": "path", "name": "firstLang", "expr": "$.user.langs[0]"}
        ]}})),
        &timestamp("ts", "auto"),
    );
    let row = items[0].as_ref().unwrap();
    let names: Vec<&str> = row.fields.iter().map(|(n, _)| &**n).collect();
    // Discovery keeps nulls by default when a flattenSpec is given, as Druid's keepNullColumns.
    assert_eq!(names, ["userName", "firstLang", "ts", "user", "n"]);
    assert_eq!(field(row, "userName"), &s("alice"));
    assert_eq!(field(row, "firstLang"), &s("en"));
    assert_eq!(field(row, "n"), &Value::Null);

    let (items, _) = read_all(
        &source(json!({"type": "inline", "data": data})),
        &format(
            json!({"type": "json", "flattenSpec": {"useFieldDiscovery": false,
            "fields": [{"type": "path", "name": "userName", "expr": "$.user.name"}]}}),
        ),
        &timestamp("ts", "auto"),
    );
    let row = items[0].as_ref().unwrap();
    assert_eq!(row.timestamp, ms("2015-09-12T00:00:00Z"));
    assert_eq!(row.fields, vec![("userName".into(), s("alice"))]);
}

/// Writes a small Parquet file: a timestamp, a string, an optional int, an optional group, a
/// LIST of strings and a DATE, compressed with zstd.
fn write_parquet(path: &Path) {
    use ::parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
    use ::parquet::file::properties::WriterProperties;
    use ::parquet::file::writer::SerializedFileWriter;
    let schema = ::parquet::schema::parser::parse_message_type(
        "message row {
            required int64 ts (TIMESTAMP(MILLIS,true));
            required binary page (UTF8);
            optional int32 added;
            optional group geo { required binary city (UTF8); }
            optional group tags (LIST) { repeated group list { optional binary element (UTF8); } }
            required int32 day (DATE);
        }",
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(::parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let bytes = |v: &[&str]| -> Vec<ByteArray> { v.iter().map(|s| ByteArray::from(*s)).collect() };
    let mut index = 0;
    while let Some(mut column) = group.next_column().unwrap() {
        match index {
            0 => {
                column
                    .typed::<Int64Type>()
                    .write_batch(&[1442016000000, 1442019600000], None, None)
                    .unwrap();
            }
            1 => {
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&bytes(&["A", "B"]), None, None)
                    .unwrap();
            }
            2 => {
                column
                    .typed::<Int32Type>()
                    .write_batch(&[5], Some(&[1, 0]), None)
                    .unwrap();
            }
            3 => {
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&bytes(&["Paris"]), Some(&[1, 0]), None)
                    .unwrap();
            }
            4 => {
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&bytes(&["x", "y", "z"]), Some(&[3, 3, 3]), Some(&[0, 1, 0]))
                    .unwrap();
            }
            _ => {
                column
                    .typed::<Int32Type>()
                    .write_batch(&[16690, 16690], None, None)
                    .unwrap();
            }
        }
        column.close().unwrap();
        index += 1;
    }
    group.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn parquet_rows_convert_as_druids_extension_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.parquet");
    write_parquet(&path);
    let file_size = std::fs::metadata(&path).unwrap().len();
    let local = source(json!({"type": "local", "files": [&path]}));
    let (items, bytes) = read_all(
        &local,
        &format(json!({"type": "parquet"})),
        &timestamp("ts", "millis"),
    );
    assert_eq!(bytes, file_size);
    let rows: Vec<&InputRow> = items.iter().map(|i| i.as_ref().unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].timestamp, 1442016000000);
    assert_eq!(field(rows[0], "page"), &s("A"));
    assert_eq!(field(rows[0], "added"), &Value::Long(5));
    assert_eq!(field(rows[0], "geo"), &s(r#"{"city":"Paris"}"#));
    assert_eq!(field(rows[0], "tags"), &Value::Array(vec![s("x"), s("y")]));
    assert_eq!(
        field(rows[0], "day"),
        &Value::Long(ms("2015-09-12T00:00:00Z"))
    );
    assert_eq!(field(rows[1], "added"), &Value::Null);
    assert_eq!(field(rows[1], "geo"), &Value::Null);
    assert_eq!(field(rows[1], "tags"), &Value::Array(vec![s("z")]));

    let (items, _) = read_all(
        &local,
        &format(json!({"type": "parquet", "flattenSpec": {"fields": [
            {"type": "path", "name": "city", "expr": "$.geo.city"},
            {"type": "path", "name": "firstTag", "expr": "$.tags[0]"}
        ]}})),
        &timestamp("ts", "auto"),
    );
    let row = items[0].as_ref().unwrap();
    assert_eq!(field(row, "city"), &s("Paris"));
    assert_eq!(field(row, "firstTag"), &s("x"));
    assert_eq!(row.timestamp, 1442016000000);

    let not_parquet = dir.path().join("bad.parquet");
    std::fs::write(&not_parquet, "hello").unwrap();
    let (items, _) = read_all(
        &source(json!({"type": "local", "files": [&not_parquet]})),
        &format(json!({"type": "parquet"})),
        &timestamp("ts", "auto"),
    );
    assert!(
        matches!(&items[..], [Err(ReadError::Fatal(e))] if e.message.contains("Not a readable Parquet file")),
        "{items:?}"
    );
}

/// A one-thread HTTP server for tests: `/data.json` and `/data.json.gz` need basic
/// authentication as `druid` with the value of `$PATH`, anything else is 404.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let body = "{\"timestamp\":\"2015-09-12\",\"page\":\"a\"}\n{\"timestamp\":\"2015-09-13\",\"page\":\"b\"}\n";
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("druid:{}", std::env::var("PATH").unwrap()))
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
            let mut authorized = false;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") && value.trim() == expected {
                        authorized = true;
                    }
                }
            }
            let (status, payload) = match (path.as_str(), authorized) {
                ("/data.json", true) => ("200 OK", body.as_bytes().to_vec()),
                ("/data.json.gz", true) => ("200 OK", gzip(body.as_bytes())),
                ("/data.json" | "/data.json.gz", false) => ("401 Unauthorized", Vec::new()),
                _ => ("404 Not Found", Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&payload);
        }
    });
    format!("http://{address}")
}

#[test]
fn http_sources_authenticate_decompress_and_fail_clearly() {
    let base = serve();
    let with_password = |password: Json, path: &str| {
        source(json!({"type": "http", "uris": [format!("{base}{path}")],
            "httpAuthenticationUsername": "druid", "httpAuthenticationPassword": password}))
    };
    let json_format = format(json!({"type": "json"}));
    let env_password = json!({"type": "environment", "variable": "PATH"});
    let both = source(json!({"type": "http",
        "uris": [format!("{base}/data.json"), format!("{base}/data.json.gz")],
        "httpAuthenticationUsername": "druid", "httpAuthenticationPassword": env_password}));
    let (items, _) = read_all(&both, &json_format, &TimestampSpec::default());
    let pages: Vec<&Value> = items
        .iter()
        .map(|i| field(i.as_ref().unwrap(), "page"))
        .collect();
    assert_eq!(pages, [&s("a"), &s("b"), &s("a"), &s("b")]);
    // A plain-string password is Druid's default provider.
    let plain = with_password(json!(std::env::var("PATH").unwrap()), "/data.json");
    assert_eq!(
        read_all(&plain, &json_format, &TimestampSpec::default())
            .0
            .len(),
        2
    );

    let wrong = with_password(json!({"type": "default", "password": "nope"}), "/data.json");
    let (items, _) = read_all(&wrong, &json_format, &TimestampSpec::default());
    assert!(
        matches!(&items[..], [Err(ReadError::Fatal(e))] if e.message.contains("401")),
        "{items:?}"
    );
    let missing = with_password(json!("x"), "/missing.json");
    let (items, _) = read_all(&missing, &json_format, &TimestampSpec::default());
    assert!(
        matches!(&items[..], [Err(ReadError::Fatal(e))] if e.message.contains("404") && e.message.contains("/missing.json")),
        "{items:?}"
    );
}

#[test]
fn a_reader_can_move_to_a_blocking_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<InputRowReader>();
}
