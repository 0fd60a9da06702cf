//! `timestamp_parse` and `timestamp_format` with Joda patterns and ISO text: these read and
//! write times through `joda::JodaFormat` and `timestamp::parse_iso`, so they pass only with
//! those implemented (after Druid's TimestampParseExprMacroTest / TimestampFormatExprMacroTest
//! and TransformerTest.testTransformTimeColumn).

use serde_json::json;

use super::*;

fn transformed(expression: &str, fields: Vec<(&str, Value)>) -> Result<InputRow, ParseError> {
    let spec: TransformSpec = serde_json::from_value(json!({
        "transforms": [{"type": "expression", "name": "out", "expression": expression}]
    }))
    .unwrap();
    let row = InputRow::new(0, fields.into_iter().map(|(k, v)| (k.into(), v)).collect());
    spec.compile().unwrap().transform(row).map(|r| r.unwrap())
}

fn out(expression: &str, fields: Vec<(&str, Value)>) -> Value {
    transformed(expression, fields)
        .unwrap()
        .get("out")
        .cloned()
        .unwrap()
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

#[test]
fn timestamp_parse_reads_iso_text_by_default() {
    let ts = |text: &str| out("timestamp_parse(t)", vec![("t", s(text))]);
    assert_eq!(
        ts("2015-09-12T17:47:23.456Z"),
        Value::Long(1_442_080_043_456)
    );
    assert_eq!(ts("2015-09-12"), Value::Long(1_442_016_000_000));
    assert_eq!(ts("2015-09-12 17:47:23Z"), Value::Long(1_442_080_043_000));
    assert_eq!(
        ts("2015-09-12T19:47:23+02:00"),
        Value::Long(1_442_080_043_000)
    );
    assert_eq!(ts("not a time"), Value::Null);
    // Without an offset the text is read in the given zone.
    assert_eq!(
        out(
            "timestamp_parse(t, null, 'America/Los_Angeles')",
            vec![("t", s("2015-09-12T10:47:23"))]
        ),
        Value::Long(1_442_080_043_000)
    );
}

#[test]
fn timestamp_parse_and_format_use_joda_patterns() {
    assert_eq!(
        out(
            "timestamp_parse(t, 'yyyy-MM-dd HH:mm')",
            vec![("t", s("2015-09-12 17:47"))]
        ),
        Value::Long(1_442_080_020_000)
    );
    assert_eq!(
        out(
            "timestamp_parse(t, 'dd/MM/yyyy', '+02:00')",
            vec![("t", s("12/09/2015"))]
        ),
        Value::Long(1_442_008_800_000)
    );
    assert_eq!(
        out(
            "timestamp_format(t, 'yyyy-MM-dd')",
            vec![("t", Value::Long(1_442_080_043_456))]
        ),
        s("2015-09-12")
    );
    assert_eq!(
        out(
            "timestamp_format(t, 'HH:mm', 'Asia/Kolkata')",
            vec![("t", Value::Long(1_442_080_043_456))]
        ),
        s("23:17")
    );
}

#[test]
fn a_time_transform_can_parse_the_row_time() {
    let spec: TransformSpec = serde_json::from_value(json!({
        "transforms": [{"type": "expression", "name": "__time", "expression": "timestamp_parse(ts, 'yyyyMMdd')"}]
    }))
    .unwrap();
    let row = InputRow::new(0, vec![("ts".into(), s("20150912"))]);
    let out = spec.compile().unwrap().transform(row).unwrap().unwrap();
    assert_eq!(out.timestamp, 1_442_016_000_000);
}
