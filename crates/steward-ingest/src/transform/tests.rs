//! The transform spec end to end: filters on rows of every shape, transforms, validation
//! paths and Druid's JSON.

use serde_json::json;

use super::*;

fn row(fields: Vec<(&str, Value)>) -> InputRow {
    InputRow::new(
        1_000,
        fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
    )
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn spec(v: serde_json::Value) -> TransformSpec {
    serde_json::from_value(v).unwrap()
}

fn filter(f: serde_json::Value) -> Transformer {
    spec(json!({ "filter": f })).compile().unwrap()
}

/// Whether the filter keeps a row whose field `dim` is `value` (`None`: missing).
fn keeps(t: &Transformer, value: Option<Value>) -> bool {
    let fields = value.map(|v| vec![("dim", v)]).unwrap_or_default();
    t.transform(row(fields)).unwrap().is_some()
}

/// Asserts which of `values` the filter keeps, as (value, kept) pairs.
fn check(f: serde_json::Value, cases: &[(Option<Value>, bool)]) {
    let t = filter(f.clone());
    for (value, want) in cases {
        assert_eq!(keeps(&t, value.clone()), *want, "{f} on {value:?}");
        // `not` keeps the rows the filter drops, except where the match is unknown (null).
    }
}

fn not(f: serde_json::Value) -> serde_json::Value {
    json!({"type": "not", "field": f})
}

const MISSING: Option<Value> = None;

// Mirrors Druid's SelectorFilterTest and TransformerTest's selector cases.
#[test]
fn selector_matches_strings_numbers_nulls_and_any_of_a_multi_value() {
    let sel = json!({"type": "selector", "dimension": "dim", "value": "5"});
    check(
        sel.clone(),
        &[
            (Some(s("5")), true),
            (Some(s("05")), false),
            (Some(Value::Long(5)), true),
            (Some(Value::Double(5.0)), true),
            (Some(Value::Double(5.5)), false),
            (Some(Value::Array(vec![s("1"), s("5")])), true),
            (Some(Value::Array(vec![Value::Long(5)])), true),
            (Some(Value::Array(vec![s("1")])), false),
            (Some(Value::Null), false),
            (MISSING, false),
        ],
    );
    // Null is unknown, so `not` does not keep it either (SQL-compatible null handling).
    check(
        not(sel),
        &[
            (Some(s("4")), true),
            (Some(s("5")), false),
            (MISSING, false),
        ],
    );
    let null_sel = json!({"type": "selector", "dimension": "dim", "value": null});
    check(
        null_sel.clone(),
        &[
            (MISSING, true),
            (Some(Value::Null), true),
            (Some(Value::Array(vec![])), true),
            (Some(s("")), false),
            (Some(Value::Long(0)), false),
        ],
    );
    check(not(null_sel), &[(MISSING, false), (Some(s("a")), true)]);
    // TransformerTest.testTransformWithSelectorFilterWithStringBooleanValueOnStringColumn.
    check(
        json!({"type": "selector", "dimension": "dim", "value": false}),
        &[(Some(s("false")), true), (Some(s("true")), false)],
    );
}

// Mirrors Druid's EqualityFilterTests.
#[test]
fn equals_compares_in_the_match_value_type() {
    let long =
        json!({"type": "equals", "column": "dim", "matchValueType": "LONG", "matchValue": 5});
    check(
        long,
        &[
            (Some(Value::Long(5)), true),
            (Some(Value::Double(5.0)), true),
            (Some(s("5")), true),
            (Some(s("5.0")), true),
            (Some(s("5.5")), false),
            (Some(s("abc")), false),
            (MISSING, false),
        ],
    );
    let double =
        json!({"type": "equals", "column": "dim", "matchValueType": "DOUBLE", "matchValue": 5.5});
    check(
        double,
        &[
            (Some(Value::Double(5.5)), true),
            (Some(s("5.50")), true),
            (Some(Value::Long(5)), false),
        ],
    );
    let string =
        json!({"type": "equals", "column": "dim", "matchValueType": "STRING", "matchValue": "5"});
    check(
        string.clone(),
        &[
            (Some(s("5")), true),
            (Some(Value::Long(5)), true),
            (Some(Value::Double(5.0)), true),
            (Some(s("5.0")), false),
            (Some(Value::Array(vec![s("x"), s("5")])), true),
        ],
    );
    check(not(string), &[(MISSING, false), (Some(s("6")), true)]);
    let fractional =
        json!({"type": "equals", "column": "dim", "matchValueType": "STRING", "matchValue": "5.5"});
    check(
        fractional,
        &[
            (Some(Value::Long(5)), false),
            (Some(Value::Double(5.5)), true),
        ],
    );
}

// Mirrors Druid's InFilterTest, null in the values included.
#[test]
fn in_matches_any_listed_value_and_null_when_listed() {
    check(
        json!({"type": "in", "dimension": "dim", "values": ["a", "b", 7]}),
        &[
            (Some(s("a")), true),
            (Some(s("c")), false),
            (Some(Value::Long(7)), true),
            (Some(Value::Double(7.0)), true),
            (Some(Value::Array(vec![s("c"), s("b")])), true),
            (MISSING, false),
        ],
    );
    check(
        json!({"type": "in", "dimension": "dim", "values": ["a", null]}),
        &[
            (MISSING, true),
            (Some(Value::Null), true),
            (Some(s("b")), false),
        ],
    );
    check(
        not(json!({"type": "in", "dimension": "dim", "values": ["a"]})),
        &[
            (MISSING, false),
            (Some(s("b")), true),
            (Some(s("a")), false),
        ],
    );
    check(
        not(json!({"type": "in", "dimension": "dim", "values": ["a", null]})),
        &[(MISSING, false), (Some(s("b")), true)],
    );
}

// Mirrors Druid's BoundFilterTest.
#[test]
fn bound_compares_in_its_ordering() {
    let lex = json!({"type": "bound", "dimension": "dim", "lower": "b", "upper": "d", "upperStrict": true});
    check(
        lex,
        &[
            (Some(s("b")), true),
            (Some(s("c")), true),
            (Some(s("d")), false),
            (Some(s("a")), false),
            (Some(s("B")), false),
            (MISSING, false),
        ],
    );
    // Lexicographic: "10" < "9"; numbers compare as their strings.
    check(
        json!({"type": "bound", "dimension": "dim", "lower": "10", "upper": "9"}),
        &[
            (Some(s("100")), true),
            (Some(s("2")), true),
            (Some(Value::Long(95)), false),
        ],
    );
    let numeric = json!({"type": "bound", "dimension": "dim", "lower": "2", "upper": "10", "lowerStrict": true, "ordering": "numeric"});
    check(
        numeric,
        &[
            (Some(s("10")), true),
            (Some(s("2")), false),
            (Some(s("2.5")), true),
            (Some(s("abc")), false),
            (Some(Value::Long(3)), true),
            (Some(Value::Long(2)), false),
            (Some(Value::Long(11)), false),
            (Some(Value::Double(2.0001)), true),
            (Some(Value::Double(10.5)), false),
        ],
    );
    check(
        json!({"type": "bound", "dimension": "dim", "lower": "1.5", "upper": "3.5", "ordering": {"type": "numeric"}}),
        &[
            (Some(Value::Long(1)), false),
            (Some(Value::Long(2)), true),
            (Some(Value::Long(3)), true),
            (Some(Value::Long(4)), false),
        ],
    );
    // An upper bound that is not a number lets no number through.
    check(
        json!({"type": "bound", "dimension": "dim", "upper": "abc", "ordering": "numeric"}),
        &[(Some(Value::Long(1)), false), (Some(s("abb")), true)],
    );
    check(
        json!({"type": "bound", "dimension": "dim", "lower": "a2", "upper": "a10", "ordering": "alphanumeric"}),
        &[(Some(s("a5")), true), (Some(s("a11")), false)],
    );
    check(
        json!({"type": "bound", "dimension": "dim", "lower": "a", "alphaNumeric": true}),
        &[(Some(s("b")), true)],
    );
    check(
        json!({"type": "bound", "dimension": "dim", "upper": "abc", "ordering": "strlen"}),
        &[(Some(s("zz")), true), (Some(s("abcd")), false)],
    );
    // Druid's backwards-compatible quirk: with no lower bound, null matches.
    check(
        json!({"type": "bound", "dimension": "dim", "upper": "b"}),
        &[(MISSING, true), (Some(s("a")), true), (Some(s("c")), false)],
    );
    check(
        json!({"type": "bound", "dimension": "dim", "lower": "a"}),
        &[(MISSING, false)],
    );
    check(
        not(json!({"type": "bound", "dimension": "dim", "lower": "a"})),
        &[(MISSING, true)],
    );
}

// Mirrors Druid's RangeFilterTests.
#[test]
fn range_compares_in_the_match_value_type() {
    let long = json!({"type": "range", "column": "dim", "matchValueType": "LONG", "lower": 2, "upper": 10, "upperOpen": true});
    check(
        long,
        &[
            (Some(Value::Long(2)), true),
            (Some(Value::Long(10)), false),
            (Some(Value::Double(9.5)), true),
            (Some(s("3")), true),
            (Some(s("10.0")), false),
            (Some(s("abc")), false),
            (MISSING, false),
        ],
    );
    check(
        json!({"type": "range", "column": "dim", "matchValueType": "DOUBLE", "lower": 1.5, "lowerOpen": true}),
        &[
            (Some(Value::Long(1)), false),
            (Some(Value::Long(2)), true),
            (Some(Value::Double(1.5)), false),
        ],
    );
    check(
        json!({"type": "range", "column": "dim", "matchValueType": "STRING", "lower": "b", "upper": "d"}),
        &[
            (Some(s("c")), true),
            (Some(s("d")), true),
            (Some(s("e")), false),
            (Some(Value::Long(5)), false),
        ],
    );
    check(
        not(json!({"type": "range", "column": "dim", "matchValueType": "STRING", "lower": "b"})),
        &[(MISSING, false), (Some(s("a")), true)],
    );
    check(
        json!({"type": "range", "column": "__time", "matchValueType": "LONG", "lower": 1000, "upper": 2000}),
        &[(MISSING, true)],
    );
}

// Mirrors Druid's NullFilterTests.
#[test]
fn null_matches_null_missing_and_empty_multi_values() {
    check(
        json!({"type": "null", "column": "dim"}),
        &[
            (MISSING, true),
            (Some(Value::Null), true),
            (Some(Value::Array(vec![])), true),
            (Some(Value::Array(vec![s("a"), Value::Null])), true),
            (Some(s("")), false),
            (Some(Value::Long(0)), false),
            (Some(Value::Double(f64::NAN)), false),
        ],
    );
    check(
        not(json!({"type": "null", "column": "dim"})),
        &[(MISSING, false), (Some(s("")), true)],
    );
}

// Mirrors Druid's LikeFilterTest and RegexFilterTest.
#[test]
fn like_and_regex_match_strings_and_numbers_as_strings() {
    check(
        json!({"type": "like", "dimension": "dim", "pattern": "a%"}),
        &[
            (Some(s("abc")), true),
            (Some(s("bac")), false),
            (Some(Value::Array(vec![s("x"), s("ay")])), true),
            (MISSING, false),
        ],
    );
    check(
        json!({"type": "like", "dimension": "dim", "pattern": "1_"}),
        &[
            (Some(Value::Long(12)), true),
            (Some(Value::Long(123)), false),
            (Some(Value::Double(1.0)), false),
        ],
    );
    check(
        json!({"type": "like", "dimension": "dim", "pattern": "50\\%", "escape": "\\"}),
        &[(Some(s("50%")), true), (Some(s("500")), false)],
    );
    check(
        not(json!({"type": "like", "dimension": "dim", "pattern": "a%"})),
        &[(MISSING, false), (Some(s("b")), true)],
    );
    check(
        json!({"type": "regex", "dimension": "dim", "pattern": "^[a-c]+\\d"}),
        &[
            (Some(s("abc1")), true),
            (Some(s("xabc1")), false),
            (MISSING, false),
        ],
    );
    check(
        json!({"type": "regex", "dimension": "dim", "pattern": "\\.5"}),
        &[
            (Some(Value::Double(2.5)), true),
            (Some(Value::Long(25)), false),
        ],
    );
}

// Mirrors Druid's AndFilterTest, OrFilterTest, NotFilterTest and ExpressionFilterTest.
#[test]
fn logical_filters_expressions_and_constants() {
    let t = filter(json!({"type": "and", "fields": [
        {"type": "selector", "dimension": "a", "value": "1"},
        {"type": "or", "fields": [
            {"type": "selector", "dimension": "b", "value": "x"},
            {"type": "not", "field": {"type": "selector", "dimension": "c", "value": "y"}}
        ]}
    ]}));
    let r = |a: &str, b: &str, c: Option<&str>| {
        let mut fields = vec![("a", s(a)), ("b", s(b))];
        fields.extend(c.map(|c| ("c", s(c))));
        t.transform(row(fields)).unwrap().is_some()
    };
    assert!(r("1", "x", Some("y")));
    assert!(r("1", "z", Some("q")));
    assert!(!r("1", "z", Some("y")));
    assert!(!r("1", "z", None));
    assert!(!r("2", "x", None));
    check(
        json!({"type": "expression", "expression": "strlen(dim) > 2"}),
        &[
            (Some(s("abc")), true),
            (Some(s("ab")), false),
            (MISSING, false),
        ],
    );
    check(
        not(json!({"type": "expression", "expression": "strlen(dim) > 2"})),
        &[(Some(s("ab")), true), (MISSING, false)],
    );
    check(
        json!({"type": "expression", "expression": "dim"}),
        &[
            (Some(Value::Array(vec![s("false"), s("true")])), true),
            (Some(Value::Array(vec![s("x")])), false),
        ],
    );
    check(json!({"type": "true"}), &[(MISSING, true)]);
    check(json!({"type": "false"}), &[(MISSING, false)]);
    check(not(json!({"type": "false"})), &[(MISSING, true)]);
    let err = filter(json!({"type": "expression", "expression": "1 / (dim - dim)"}))
        .transform(row(vec![("dim", Value::Long(1))]))
        .unwrap_err();
    assert!(err.message.contains("/ by zero"), "{err}");
}

// Mirrors Druid's TransformerTest.
#[test]
fn transforms_read_the_input_row_and_shadow_its_fields() {
    let t = spec(json!({
        "transforms": [
            {"type": "expression", "name": "dim", "expression": "upper(dim)"},
            {"type": "expression", "name": "len", "expression": "strlen(dim)"},
            {"type": "expression", "name": "both", "expression": "concat(dim, '-', len)"}
        ],
        "filter": {"type": "selector", "dimension": "dim", "value": "ABC"}
    }))
    .compile()
    .unwrap();
    let out = t
        .transform(row(vec![("dim", s("abc")), ("len", Value::Long(99))]))
        .unwrap()
        .unwrap();
    // Each transform reads the input: `len` sees "abc", `both` sees the input `len`.
    assert_eq!(out.get("dim"), Some(&s("ABC")));
    assert_eq!(out.get("len"), Some(&Value::Long(3)));
    assert_eq!(out.get("both"), Some(&s("abc-99")));
    assert_eq!(out.timestamp, 1_000);
    // The filter sees the transformed value.
    assert!(t.transform(row(vec![("dim", s("xyz"))])).unwrap().is_none());
    assert!(!t.is_noop());
    assert!(TransformSpec::default().compile().unwrap().is_noop());

    // TransformerTest.testTransformWithTransformAndFilterTransformFirst.
    let t = spec(json!({
        "transforms": [{"type": "expression", "name": "dim", "expression": "strlen(dim) == 10"}],
        "filter": {"type": "selector", "dimension": "dim", "value": "0"}
    }))
    .compile()
    .unwrap();
    let out = t
        .transform(row(vec![("dim", s("short"))]))
        .unwrap()
        .unwrap();
    assert_eq!(out.get("dim"), Some(&Value::Long(0)));

    // TransformerTest.testTransformWithStringTransformOn{Long,Double}ColumnTransformAfterCasting.
    let t = spec(
        json!({"transforms": [{"type": "expression", "name": "dim", "expression": "strlen(dim)"}]}),
    )
    .compile()
    .unwrap();
    let len = |v: Value| {
        t.transform(row(vec![("dim", v)]))
            .unwrap()
            .unwrap()
            .get("dim")
            .cloned()
    };
    assert_eq!(len(Value::Long(10)), Some(Value::Long(2)));
    assert_eq!(len(Value::Double(200.5)), Some(Value::Long(5)));
    // TransformerTest.testTransformWithArrayStringInputs: a multi-value field passes through.
    let t =
        spec(json!({"transforms": [{"type": "expression", "name": "copy", "expression": "dim"}]}))
            .compile()
            .unwrap();
    let tags = Value::Array(vec![s("a"), s("b"), s("c")]);
    let out = t
        .transform(row(vec![("dim", tags.clone())]))
        .unwrap()
        .unwrap();
    assert_eq!(out.get("copy"), Some(&tags));
    // A transform of a missing field is a present null.
    let out = t.transform(row(vec![])).unwrap().unwrap();
    assert_eq!(out.get("copy"), Some(&Value::Null));
}

// Mirrors Druid's TransformerTest.testTransformTimeColumn*.
#[test]
fn a_time_transform_replaces_the_timestamp() {
    let t = spec(json!({
        "transforms": [
            {"type": "expression", "name": "__time", "expression": "__time + offset"},
            {"type": "expression", "name": "was", "expression": "__time"}
        ],
        "filter": {"type": "range", "column": "__time", "matchValueType": "LONG", "lower": 1500}
    }))
    .compile()
    .unwrap();
    let out = t
        .transform(row(vec![("offset", Value::Long(1_000))]))
        .unwrap()
        .unwrap();
    assert_eq!(out.timestamp, 2_000);
    // Other transforms read the input's time; the filter reads the new one.
    assert_eq!(out.get("was"), Some(&Value::Long(1_000)));
    assert_eq!(out.get("__time"), None);
    assert!(t
        .transform(row(vec![("offset", Value::Long(100))]))
        .unwrap()
        .is_none());
    let err = t.transform(row(vec![])).unwrap_err();
    assert_eq!(err.message, "Could not transform value for __time.");
    let err = t.transform(row(vec![("offset", s("x"))])).unwrap_err();
    assert_eq!(err.message, "Could not transform value for __time.");

    // TransformerTest.testTransformTimeColumnWithInvalidTimeValue: an unparseable time is null.
    let t = spec(json!({"transforms": [{"type": "expression", "name": "__time", "expression": "timestamp_parse(ts, null, 'UTC')"}]}))
        .compile()
        .unwrap();
    let err = t
        .transform(row(vec![("ts", s("not_a_timestamp"))]))
        .unwrap_err();
    assert_eq!(err.message, "Could not transform value for __time.");

    let t =
        spec(json!({"transforms": [{"type": "expression", "name": "__time", "expression": "t"}]}))
            .compile()
            .unwrap();
    let at = |v: Value| {
        t.transform(row(vec![("t", v)]))
            .map(|r| r.unwrap().timestamp)
    };
    assert_eq!(at(Value::Double(5.9)), Ok(5));
    assert_eq!(at(s("42")), Ok(42));
    assert_eq!(
        at(s("noon")).unwrap_err().message,
        "Unable to parse value[noon] for field[__time]"
    );
    let err =
        spec(json!({"transforms": [{"type": "expression", "name": "x", "expression": "y / 0"}]}))
            .compile()
            .unwrap()
            .transform(row(vec![("y", Value::Long(1))]))
            .unwrap_err();
    assert_eq!(
        err.message,
        "Could not transform value for x reason: / by zero"
    );
}

#[test]
fn validation_names_the_path() {
    let err = |v: serde_json::Value| spec(v).validate().unwrap_err();
    let e = err(json!({"transforms": [
        {"type": "expression", "name": "a", "expression": "x"},
        {"type": "expression", "name": "b", "expression": "foo(x)"}
    ]}));
    assert_eq!(e.path, "transforms[1].expression");
    assert!(e
        .message
        .starts_with("Function[foo] is not supported by Steward yet (supported: "));
    let e = err(json!({"transforms": [
        {"type": "expression", "name": "a", "expression": "x"},
        {"type": "expression", "name": "a", "expression": "y"}
    ]}));
    assert_eq!(
        (e.path.as_str(), e.message.as_str()),
        (
            "transforms[1].name",
            "Transform name 'a' cannot be used twice"
        )
    );
    let e = err(json!({"transforms": [{"type": "javascript", "name": "a", "expression": "x"}]}));
    assert_eq!(e.path, "transforms[0].type");
    let e = err(json!({"transforms": [{"type": "expression", "name": "a", "expression": "(x"}]}));
    assert!(
        e.message.starts_with("Failed to parse expression [(x]"),
        "{e}"
    );
    for (f, path, fragment) in [
        (
            json!({"type": "and", "fields": [{"type": "selector", "value": "x"}]}),
            "filter.fields[0].dimension",
            "dimension must not be null",
        ),
        (
            json!({"type": "or", "fields": []}),
            "filter.fields",
            "OR operator requires at least one field",
        ),
        (
            json!({"type": "not"}),
            "filter.field",
            "NOT operator requires at least one field",
        ),
        (
            json!({"type": "not", "field": {"type": "search", "dimension": "d"}}),
            "filter.field.type",
            "Filter type [search] is not supported by Steward yet",
        ),
        (
            json!({"type": "selector", "dimension": "d", "value": "x", "extractionFn": {"type": "upper"}}),
            "filter.extractionFn",
            "extractionFn is not supported",
        ),
        (
            json!({"type": "equals", "column": "d", "matchValueType": "LONG"}),
            "filter.matchValue",
            "matchValue cannot be null",
        ),
        (
            json!({"type": "equals", "column": "d", "matchValueType": "ARRAY<LONG>", "matchValue": [1]}),
            "filter.matchValueType",
            "not supported by Steward yet",
        ),
        (
            json!({"type": "range", "column": "d", "matchValueType": "LONG", "lower": "abc"}),
            "filter.lower",
            "cannot be parsed as specified match value type [LONG]",
        ),
        (
            json!({"type": "range", "column": "d", "matchValueType": "LONG"}),
            "filter",
            "lower and upper cannot be null at the same time",
        ),
        (
            json!({"type": "bound", "dimension": "d"}),
            "filter",
            "lower and upper can not be null",
        ),
        (
            json!({"type": "bound", "dimension": "d", "lower": "a", "ordering": "version"}),
            "filter.ordering",
            "not supported by Steward yet",
        ),
        (
            json!({"type": "bound", "dimension": "d", "lower": "a", "ordering": "numeric", "alphaNumeric": true}),
            "filter.alphaNumeric",
            "mismatch",
        ),
        (
            json!({"type": "in", "dimension": "d"}),
            "filter.values",
            "values cannot be null",
        ),
        (
            json!({"type": "like", "dimension": "d", "pattern": "a", "escape": "ab"}),
            "filter.escape",
            "single character",
        ),
        (
            json!({"type": "regex", "dimension": "d", "pattern": "(?<=a)b"}),
            "filter.pattern",
            "look-around",
        ),
        (
            json!({"type": "expression", "expression": "bar()"}),
            "filter.expression",
            "Function[bar]",
        ),
        (
            json!({"type": "selector", "dimension": "d", "value": {"x": 1}}),
            "filter",
            "Invalid [selector] filter",
        ),
        (
            json!({"dimension": "d"}),
            "filter.type",
            "must be an object with a \"type\"",
        ),
    ] {
        let e = err(json!({"filter": f}));
        assert_eq!(e.path, path, "{f}: {e}");
        assert!(e.message.contains(fragment), "{f}: {e}");
    }
}

#[test]
fn druids_json_round_trips() {
    // The example in Druid's ingestion-spec.md#transformspec.
    let doc = json!({
        "transforms": [
            { "type": "expression", "name": "countryUpper", "expression": "upper(country)" }
        ],
        "filter": {
            "type": "selector",
            "dimension": "country",
            "value": "San Serriffe"
        }
    });
    let s1 = spec(doc.clone());
    assert_eq!(
        s1.transforms,
        vec![ExpressionTransform::new("countryUpper", "upper(country)")]
    );
    assert_eq!(serde_json::to_value(&s1).unwrap(), doc);
    let t = s1.compile().unwrap();
    let out = t
        .transform(row(vec![("country", s("San Serriffe"))]))
        .unwrap()
        .unwrap();
    assert_eq!(out.get("countryUpper"), Some(&s("SAN SERRIFFE")));

    // Filters from Druid's filters.md, and an unsupported one kept as it came.
    for f in [
        json!({"type": "equals", "column": "someColumn", "matchValueType": "STRING", "matchValue": "hello"}),
        json!({"type": "null", "column": "someColumn"}),
        json!({"type": "in", "dimension": "outlaw", "values": ["Good", "Bad", null]}),
        json!({"type": "bound", "dimension": "age", "lower": "21", "upper": "31", "upperStrict": true, "ordering": "numeric"}),
        json!({"type": "range", "column": "age", "matchValueType": "LONG", "lower": 21, "upper": 31, "upperOpen": true}),
        json!({"type": "like", "dimension": "last_name", "pattern": "D%"}),
        json!({"type": "regex", "dimension": "someColumn", "pattern": "^50.*"}),
        json!({"type": "and", "fields": [{"type": "true"}, {"type": "not", "field": {"type": "false"}}]}),
        json!({"type": "expression", "expression": "((product_type == 42) && (!is_deleted))"}),
        json!({"type": "selector", "dimension": "d", "value": "x", "filterTuning": {"useBitmapIndex": false}}),
        json!({"type": "search", "dimension": "product", "query": {"type": "insensitive_contains", "value": "foo"}}),
    ] {
        let parsed: DimFilter = serde_json::from_value(f.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), f);
    }
    let parsed: DimFilter =
        serde_json::from_value(json!({"type": "search", "dimension": "d"})).unwrap();
    assert!(matches!(parsed, DimFilter::Unsupported(_)));
    let empty = spec(json!({}));
    assert_eq!(empty, TransformSpec::default());
    assert_eq!(
        serde_json::to_value(&empty).unwrap(),
        json!({"filter": null, "transforms": []})
    );
}
