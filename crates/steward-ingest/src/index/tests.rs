//! Behaviour of the rollup index as a whole: Druid's conversions, order and rollup, and spilled
//! merges equal to the in-memory result.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use steward_model::granularity::Granularity;

use super::*;
use crate::aggregate::AggregatorKind;

const HOUR: i64 = 3_600_000;
/// 2015-09-12T00:00:00Z, wikiticker's day.
const T0: i64 = 1_442_016_000_000;

#[derive(Debug, Clone, PartialEq)]
enum Dim {
    Null,
    Str(String),
    Strs(Vec<Option<String>>),
    Long(i64),
    Float(f32),
    Double(f64),
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    time: i64,
    dims: Vec<Dim>,
    metrics: Vec<MetricValue>,
}

fn owned(value: DimValue<'_>) -> Dim {
    match value {
        DimValue::Null => Dim::Null,
        DimValue::String(s) => Dim::Str(s.to_string()),
        DimValue::Strings(m) => {
            assert!(m.len() >= 2, "a multi-value row has two or more elements");
            Dim::Strs(m.iter().map(|e| e.map(str::to_string)).collect())
        }
        DimValue::Long(n) => Dim::Long(n),
        DimValue::Float(f) => Dim::Float(f),
        DimValue::Double(d) => Dim::Double(d),
    }
}

fn collect(mut rows: MergedRows) -> Vec<Row> {
    let (dims, metrics) = (rows.dimensions().len(), rows.metrics().len());
    let mut out = Vec::new();
    while let Some(row) = rows.next_row().unwrap() {
        out.push(Row {
            time: row.time(),
            dims: (0..dims).map(|d| owned(row.dimension(d))).collect(),
            metrics: (0..metrics).map(|m| row.metric(m)).collect(),
        });
    }
    out
}

fn schema(dimensions: serde_json::Value, metrics: serde_json::Value) -> IndexSchema {
    IndexSchema {
        dimensions: serde_json::from_value(dimensions).unwrap(),
        metrics: serde_json::from_value(metrics).unwrap(),
        query_granularity: Granularity::from_name("HOUR").unwrap(),
        rollup: true,
        timestamp_column: "time".into(),
        min_timestamp: None,
    }
}

fn row(time: i64, fields: &[(&str, Value)]) -> InputRow {
    InputRow::new(
        time,
        fields
            .iter()
            .map(|(n, v)| (Arc::<str>::from(*n), v.clone()))
            .collect(),
    )
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn list(items: &[Value]) -> Value {
    Value::Array(items.to_vec())
}

fn str_dim(v: &str) -> Dim {
    Dim::Str(v.into())
}

fn index(schema: IndexSchema, limits: MemoryLimits, dir: &Path) -> RollupIndex {
    RollupIndex::new(schema, limits, dir).unwrap()
}

#[test]
fn every_aggregator_with_nulls_and_parse_errors() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = json!([
        {"type": "count", "name": "count"},
        {"type": "longSum", "name": "longSum", "fieldName": "added"},
        {"type": "doubleSum", "name": "doubleSum", "fieldName": "price"},
        {"type": "floatSum", "name": "floatSum", "fieldName": "price"},
        {"type": "longMin", "name": "longMin", "fieldName": "added"},
        {"type": "longMax", "name": "longMax", "fieldName": "added"},
        {"type": "doubleMin", "name": "doubleMin", "fieldName": "price"},
        {"type": "doubleMax", "name": "doubleMax", "fieldName": "price"},
        {"type": "floatMin", "name": "floatMin", "fieldName": "price"},
        {"type": "floatMax", "name": "floatMax", "fieldName": "price"},
        {"type": "longFirst", "name": "longFirst", "fieldName": "added"},
        {"type": "longLast", "name": "longLast", "fieldName": "added"},
        {"type": "doubleFirst", "name": "doubleFirst", "fieldName": "price"},
        {"type": "doubleLast", "name": "doubleLast", "fieldName": "price"},
        {"type": "floatFirst", "name": "floatFirst", "fieldName": "price"},
        {"type": "floatLast", "name": "floatLast", "fieldName": "price"},
        {"type": "longSum", "name": "none", "fieldName": "absent"},
        {"type": "doubleMax", "name": "commas", "fieldName": "big"}
    ]);
    let mut ix = index(
        schema(json!({"dimensions": ["page"]}), metrics),
        MemoryLimits::default(),
        dir.path(),
    );
    let page = ("page", s("p"));
    let ok = ix
        .add(&row(
            T0 + 1,
            &[
                page.clone(),
                ("added", Value::Long(1)),
                ("price", s("2.5")),
                ("big", s(" 1,000.5 ")),
            ],
        ))
        .unwrap();
    assert_eq!(ok.parse_error, None);
    let bad = ix
        .add(&row(
            T0 + 2,
            &[
                page.clone(),
                ("added", s("x")),
                ("price", Value::Long(1)),
                ("big", list(&[s("1")])),
            ],
        ))
        .unwrap();
    let message = bad.parse_error.unwrap().message;
    assert!(message.starts_with("Found unparseable columns in row: [{page=p, added=x, price=1, big=[1]}], exceptions: ["), "{message}");
    assert!(
        message.contains("Unable to parse value[x] for field[added]"),
        "{message}"
    );
    assert!(
        message.contains("Unknown type[class java.util.ArrayList] for field[big]"),
        "{message}"
    );
    ix.add(&row(T0 + 3, &[page, ("price", Value::Null)]))
        .unwrap();
    let rows = collect(ix.finish().unwrap());
    assert_eq!(rows.len(), 1);
    use MetricValue::*;
    assert_eq!(
        rows[0].metrics,
        vec![
            Long(3),
            Long(1),
            Double(3.5),
            Float(3.5),
            Long(1),
            Long(1),
            Double(1.0),
            Double(2.5),
            Float(1.0),
            Float(2.5),
            LongPair(T0 + 1, Some(1)),
            // Row 2's unparseable value took the time and kept the value; row 3's null won last.
            LongPair(T0 + 3, None),
            DoublePair(T0 + 1, Some(2.5)),
            DoublePair(T0 + 3, None),
            FloatPair(T0 + 1, Some(2.5)),
            FloatPair(T0 + 3, None),
            Null,
            Double(1000.5),
        ]
    );
}

#[test]
fn dimensions_of_each_type_and_multi_value_handling() {
    let dir = tempfile::tempdir().unwrap();
    let dims = json!({"dimensions": [
        "s",
        {"type": "long", "name": "l"},
        {"type": "float", "name": "f"},
        {"type": "double", "name": "d"},
        {"name": "m1"},
        {"name": "m2", "multiValueHandling": "SORTED_SET"},
        {"name": "m3", "multiValueHandling": "ARRAY"}
    ]});
    let mut ix = index(
        schema(dims, json!([{"type": "count", "name": "count"}])),
        MemoryLimits::default(),
        dir.path(),
    );
    let bab = list(&[s("b"), s("a"), s("b")]);
    let first = ix
        .add(&row(
            T0,
            &[
                ("s", Value::Long(5)),
                ("l", s("1.0e1")),
                ("f", s("1.5")),
                ("d", Value::Long(2)),
                ("m1", bab.clone()),
                ("m2", bab.clone()),
                ("m3", bab),
            ],
        ))
        .unwrap();
    assert_eq!(first.parse_error, None);
    let second = ix
        .add(&row(
            T0 + HOUR,
            &[
                ("s", Value::Double(1e10)),
                ("l", s("x")),
                ("f", list(&[s("1"), s("2")])),
                ("d", s("abc")),
                ("m1", list(&[])),
                ("m2", list(&[s("z")])),
                ("m3", list(&[Value::Long(7), Value::Null])),
            ],
        ))
        .unwrap();
    let message = second.parse_error.unwrap().message;
    for part in [
        "Could not convert value [x] to long for dimension [l].",
        "Could not ingest value [[1, 2]] as float for dimension [f]. A float column cannot have multiple values in the same row.",
        "Could not convert value [abc] to double for dimension [d].",
    ] {
        assert!(message.contains(part), "{message}");
    }
    let merged = ix.finish().unwrap();
    assert!(merged.has_multiple_values(4) && merged.has_multiple_values(6));
    assert!(!merged.has_multiple_values(0));
    let rows = collect(merged);
    let strs = |v: &[Option<&str>]| Dim::Strs(v.iter().map(|e| e.map(str::to_string)).collect());
    assert_eq!(
        rows[0].dims,
        vec![
            str_dim("5"),
            Dim::Long(10),
            Dim::Float(1.5),
            Dim::Double(2.0),
            strs(&[Some("a"), Some("b"), Some("b")]),
            strs(&[Some("a"), Some("b")]),
            strs(&[Some("b"), Some("a"), Some("b")]),
        ]
    );
    // Unconvertible values are null; an empty list is null, a list of one its value.
    assert_eq!(
        rows[1].dims,
        vec![
            str_dim("1.0E10"),
            Dim::Null,
            Dim::Null,
            Dim::Null,
            Dim::Null,
            str_dim("z"),
            strs(&[Some("7"), None])
        ]
    );
}

#[test]
fn schemaless_discovery_keeps_first_seen_order_and_excludes_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = json!([{"type": "count", "name": "count"}, {"type": "longSum", "name": "added_sum", "fieldName": "added"}]);
    let rows = [
        row(
            T0,
            &[
                ("time", s("t")),
                ("page", s("P")),
                ("added", Value::Long(1)),
                ("user", s("U")),
                ("__time", s("x")),
            ],
        ),
        row(
            T0,
            &[
                ("time", s("t")),
                ("channel", s("C")),
                ("page", s("P")),
                ("count", Value::Long(9)),
                ("", s("e")),
            ],
        ),
    ];
    let mut ix = index(
        schema(json!({}), metrics.clone()),
        MemoryLimits::default(),
        dir.path(),
    );
    for r in &rows {
        ix.add(r).unwrap();
    }
    let merged = ix.finish().unwrap();
    let names: Vec<&str> = merged
        .dimensions()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["page", "user", "channel"]);
    assert!(merged
        .dimensions()
        .iter()
        .all(|d| d.kind == DimensionType::String));
    let out = collect(merged);
    assert_eq!(out[0].dims, vec![str_dim("P"), Dim::Null, str_dim("C")]);
    assert_eq!(out[1].dims, vec![str_dim("P"), str_dim("U"), Dim::Null]);

    // Listed dimensions first, then discovered ones.
    let spec =
        json!({"dimensions": [{"type": "long", "name": "added"}], "includeAllDimensions": true});
    let mut ix = index(schema(spec, metrics), MemoryLimits::default(), dir.path());
    for r in &rows {
        ix.add(r).unwrap();
    }
    let names: Vec<String> = ix
        .finish()
        .unwrap()
        .dimensions()
        .iter()
        .map(|d| d.name.clone())
        .collect();
    assert_eq!(names, ["added", "page", "user", "channel"]);
}

#[test]
fn sort_order_is_time_then_dimensions_in_java_order_with_null_first() {
    let dir = tempfile::tempdir().unwrap();
    let dims = json!({"dimensions": ["s", {"type": "long", "name": "n"}]});
    for max_rows in [1_000_000, 1] {
        let mut ix = index(
            schema(dims.clone(), json!([{"type": "count", "name": "count"}])),
            MemoryLimits {
                max_rows_in_memory: max_rows,
                max_bytes_in_memory: 0,
            },
            dir.path(),
        );
        let inputs = [
            (T0 + HOUR, vec![("s", s("a"))]),
            (T0, vec![("s", s("\u{FFFD}"))]),
            (T0, vec![("s", s("\u{10000}"))]),
            (T0, vec![("n", Value::Long(3))]),
            (T0, vec![("s", s("a"))]),
            (T0, vec![("s", s(""))]),
            (T0, vec![("s", list(&[s("a"), s("b")]))]),
            (T0, vec![("s", s("b"))]),
            (T0, vec![("n", Value::Long(-5))]),
            (T0, vec![("s", list(&[s("b"), Value::Null]))]),
        ];
        for (time, fields) in &inputs {
            ix.add(&row(*time, fields)).unwrap();
        }
        let out: Vec<(i64, Vec<Dim>)> = collect(ix.finish().unwrap())
            .into_iter()
            .map(|r| (r.time, r.dims))
            .collect();
        let strs =
            |v: &[Option<&str>]| Dim::Strs(v.iter().map(|e| e.map(str::to_string)).collect());
        assert_eq!(
            out,
            vec![
                (T0, vec![Dim::Null, Dim::Long(-5)]),
                (T0, vec![Dim::Null, Dim::Long(3)]),
                (T0, vec![strs(&[None, Some("b")]), Dim::Null]),
                (T0, vec![str_dim(""), Dim::Null]),
                (T0, vec![str_dim("a"), Dim::Null]),
                (T0, vec![strs(&[Some("a"), Some("b")]), Dim::Null]),
                (T0, vec![str_dim("b"), Dim::Null]),
                // UTF-16 order: the supplementary character before U+FFFD (UTF-8 has it after).
                (T0, vec![str_dim("\u{10000}"), Dim::Null]),
                (T0, vec![str_dim("\u{FFFD}"), Dim::Null]),
                (T0 + HOUR, vec![str_dim("a"), Dim::Null]),
            ],
            "max_rows_in_memory {max_rows}"
        );
    }
}

#[test]
fn rollup_combines_equal_keys_and_without_rollup_keeps_rows_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = json!([{"type": "count", "name": "count"}, {"type": "longSum", "name": "v", "fieldName": "v"}]);
    for rollup in [true, false] {
        for max_rows in [1_000_000, 1] {
            let mut sch = schema(json!({"dimensions": ["d"]}), metrics.clone());
            sch.rollup = rollup;
            let mut ix = index(
                sch,
                MemoryLimits {
                    max_rows_in_memory: max_rows,
                    max_bytes_in_memory: 0,
                },
                dir.path(),
            );
            for (minute, v) in [(5, 1), (50, 2), (20, 3)] {
                ix.add(&row(
                    T0 + minute * 60_000,
                    &[("d", s("x")), ("v", Value::Long(v))],
                ))
                .unwrap();
            }
            ix.add(&row(T0, &[("d", s("a")), ("v", Value::Long(4))]))
                .unwrap();
            let out: Vec<Vec<MetricValue>> = collect(ix.finish().unwrap())
                .into_iter()
                .map(|r| r.metrics)
                .collect();
            use MetricValue::Long;
            let expected = if rollup {
                vec![vec![Long(1), Long(4)], vec![Long(3), Long(6)]]
            } else {
                vec![
                    vec![Long(1), Long(4)],
                    vec![Long(1), Long(1)],
                    vec![Long(1), Long(2)],
                    vec![Long(1), Long(3)],
                ]
            };
            assert_eq!(out, expected, "rollup {rollup}, max rows {max_rows}");
        }
    }
}

#[test]
fn query_granularity_truncates_time_and_min_timestamp_bounds_it() {
    let dir = tempfile::tempdir().unwrap();
    let times = [
        T0 + 15 * 60_000,
        T0 + 45 * 60_000,
        T0 + HOUR + 1,
        T0 + 25 * HOUR,
    ];
    let cases = [
        ("NONE", None, vec![times[0], times[1], times[2], times[3]]),
        ("HOUR", None, vec![T0, T0 + HOUR, T0 + 25 * HOUR]),
        ("DAY", None, vec![T0, T0 + 24 * HOUR]),
        ("ALL", Some(T0), vec![T0]),
    ];
    for (granularity, min, expected) in cases {
        let mut sch = schema(
            json!({"dimensions": ["d"]}),
            json!([{"type": "count", "name": "count"}]),
        );
        sch.query_granularity = Granularity::from_name(granularity).unwrap();
        sch.min_timestamp = min;
        let mut ix = index(sch, MemoryLimits::default(), dir.path());
        for t in times {
            ix.add(&row(t, &[("d", s("x"))])).unwrap();
        }
        let got: Vec<i64> = collect(ix.finish().unwrap())
            .iter()
            .map(|r| r.time)
            .collect();
        assert_eq!(got, expected, "{granularity}");
    }
    // Times before the epoch sort before it (the spill sort compares time words unsigned).
    let mut sch = schema(json!({"dimensions": ["d"]}), json!([]));
    sch.query_granularity = Granularity::None;
    let mut ix = index(
        sch,
        MemoryLimits {
            max_rows_in_memory: 2,
            max_bytes_in_memory: 0,
        },
        dir.path(),
    );
    for t in [5, -HOUR, 0, -1, i64::MIN / 4] {
        ix.add(&row(t, &[("d", s("x"))])).unwrap();
    }
    let got: Vec<i64> = collect(ix.finish().unwrap())
        .iter()
        .map(|r| r.time)
        .collect();
    assert_eq!(got, [i64::MIN / 4, -HOUR, -1, 0, 5]);

    let mut sch = schema(json!({}), json!([]));
    sch.min_timestamp = Some(T0);
    let mut ix = index(sch, MemoryLimits::default(), dir.path());
    assert!(matches!(
        ix.add(&row(T0 - 1, &[])),
        Err(IndexError::BeforeMinTimestamp { .. })
    ));
}

#[test]
fn rows_and_bytes_in_memory_stay_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let sch = schema(
        json!({"dimensions": ["a", "b"]}),
        json!([{"type": "count", "name": "count"}]),
    );
    let limits = MemoryLimits {
        max_rows_in_memory: 100,
        max_bytes_in_memory: 20_000,
    };
    let mut ix = index(sch, limits, dir.path());
    for i in 0..5_000 {
        ix.add(&row(
            T0 + i,
            &[
                ("a", s(&format!("a{}", i % 377))),
                ("b", s(&format!("b{i}"))),
            ],
        ))
        .unwrap();
        assert!(ix.rows_in_memory() <= 100);
        assert!(ix.bytes_in_memory() < 20_000);
    }
    let stats = ix.stats().clone();
    assert!(stats.rows_in_memory_peak <= 100);
    assert!(stats.spills >= 50, "{stats:?}");
    let merged = ix.finish().unwrap();
    assert!(merged.stats().merge_passes >= 1, "{:?}", merged.stats());
    assert_eq!(collect(merged).len(), 5_000);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "run files are removed"
    );
}

/// A deterministic generator (splitmix64), so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: [&str; 7] = ["a", "b", "", "\u{FFFD}", "\u{10000}", "é", "zz"];

/// Rows of random values; `multi` puts lists in `d2` (which takes the index's slower sort path).
fn random_rows(rng: &mut Rng, n: usize, multi: bool) -> Vec<InputRow> {
    let word = |rng: &mut Rng| WORDS[rng.below(WORDS.len() as u64) as usize];
    (0..n)
        .map(|i| {
            // Unique input times (first/last never tie), in random order.
            let time = T0 + ((i as i64 * 7919) % n as i64) * 997;
            let mut fields = vec![("time", s("ignored"))];
            if rng.below(5) > 0 {
                fields.push(("d0", s(word(rng))));
            }
            fields.push(("d1", s(&format!("v{}", rng.below(40)))));
            if multi {
                let elements: Vec<Value> = (0..rng.below(4))
                    .map(|_| {
                        if rng.below(6) == 0 {
                            Value::Null
                        } else {
                            s(word(rng))
                        }
                    })
                    .collect();
                fields.push(("d2", Value::Array(elements)));
            } else if rng.below(2) == 0 {
                fields.push(("d2", s(word(rng))));
            }
            match rng.below(6) {
                0 => {}
                1 => fields.push(("d3", s("not a number"))),
                k => fields.push(("d3", Value::Long(k as i64 - 3))),
            }
            match rng.below(5) {
                0 => fields.push(("v", Value::Null)),
                1 => fields.push(("v", s("bad"))),
                k => fields.push(("v", Value::Long(k as i64 * 10 - 25))),
            }
            fields.push(("w", Value::Double(rng.below(8) as f64 * 0.5)));
            // First/last read a field without parse errors: Druid's handling of one depends on
            // the state of the spill it lands in.
            if rng.below(4) == 0 {
                fields.push(("f", Value::Null));
            } else {
                fields.push(("f", Value::Long(rng.below(100) as i64)));
            }
            if i > n / 2 && rng.below(3) == 0 {
                fields.push(("late", s(word(rng))));
            }
            row(time, &fields)
        })
        .collect()
}

/// The model's key of one dimension: strings as UTF-16 lists (so `Ord` is Druid's order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ModelDim {
    Strings(Vec<Option<Vec<u16>>>),
    Long(Option<i64>),
}

fn model_string(value: Option<&Value>) -> ModelDim {
    let utf16 = |v: &Value| match v {
        Value::String(s) => Some(s.encode_utf16().collect::<Vec<u16>>()),
        _ => None,
    };
    let mut elements: Vec<Option<Vec<u16>>> = match value {
        Some(Value::Array(items)) => items.iter().map(utf16).collect(),
        Some(v) => vec![utf16(v)],
        None => vec![None],
    };
    elements.sort();
    if elements.is_empty() {
        elements.push(None);
    }
    ModelDim::Strings(elements)
}

fn model_dim_value(key: &ModelDim) -> Dim {
    match key {
        ModelDim::Long(n) => n.map_or(Dim::Null, Dim::Long),
        ModelDim::Strings(elements) => {
            let text: Vec<Option<String>> = elements
                .iter()
                .map(|e| e.as_ref().map(|u| String::from_utf16(u).unwrap()))
                .collect();
            match text.as_slice() {
                [None] => Dim::Null,
                [Some(one)] => Dim::Str(one.clone()),
                _ => Dim::Strs(text),
            }
        }
    }
}

#[derive(Default, Clone)]
struct ModelMetrics {
    count: i64,
    sum: Option<i64>,
    max: Option<i64>,
    dsum: Option<f64>,
    first: Option<(i64, Option<i64>)>,
    last: Option<(i64, Option<i64>)>,
}

impl ModelMetrics {
    fn add(&mut self, row: &InputRow) {
        self.count += 1;
        let v = match row.get("v") {
            Some(Value::Long(n)) => Some(*n),
            _ => None,
        };
        if let Some(v) = v {
            self.sum = Some(self.sum.unwrap_or(0) + v);
            self.max = Some(self.max.map_or(v, |m| m.max(v)));
        }
        if let Some(Value::Double(w)) = row.get("w") {
            self.dsum = Some(self.dsum.unwrap_or(0.0) + w);
        }
        let t = row.timestamp;
        let f = match row.get("f") {
            Some(Value::Long(n)) => Some(*n),
            _ => None,
        };
        if self.first.is_none_or(|(ft, _)| t < ft) {
            self.first = Some((t, f));
        }
        if self.last.is_none_or(|(lt, _)| t >= lt) {
            self.last = Some((t, f));
        }
    }

    fn values(&self) -> Vec<MetricValue> {
        use MetricValue::*;
        vec![
            Long(self.count),
            self.sum.map_or(Null, Long),
            self.max.map_or(Null, Long),
            self.dsum.map_or(Null, Double),
            self.first
                .map_or(LongPair(i64::MAX, None), |(t, v)| LongPair(t, v)),
            self.last
                .map_or(LongPair(i64::MIN, None), |(t, v)| LongPair(t, v)),
        ]
    }
}

fn model_key(row: &InputRow) -> (i64, Vec<ModelDim>) {
    let long = match row.get("d3") {
        Some(Value::Long(n)) => Some(*n),
        _ => None,
    };
    let time = T0 + (row.timestamp - T0).div_euclid(HOUR) * HOUR;
    (
        time,
        vec![
            model_string(row.get("d0")),
            model_string(row.get("d1")),
            model_string(row.get("d2")),
            ModelDim::Long(long),
            model_string(row.get("late")),
        ],
    )
}

fn model(rows: &[InputRow], rollup: bool) -> Vec<Row> {
    let to_row = |(time, dims): &(i64, Vec<ModelDim>), m: &ModelMetrics| Row {
        time: *time,
        dims: dims.iter().map(model_dim_value).collect(),
        metrics: m.values(),
    };
    if rollup {
        let mut groups: BTreeMap<(i64, Vec<ModelDim>), ModelMetrics> = BTreeMap::new();
        for r in rows {
            groups.entry(model_key(r)).or_default().add(r);
        }
        groups.iter().map(|(k, m)| to_row(k, m)).collect()
    } else {
        let mut keyed: Vec<_> = rows
            .iter()
            .map(|r| {
                let mut m = ModelMetrics::default();
                m.add(r);
                (model_key(r), m)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.iter().map(|(k, m)| to_row(k, m)).collect()
    }
}

/// Spilling (many times, with merge passes) gives exactly what a naive sorted map gives, and
/// what the index gives without spilling, also when read again after a rewind.
#[test]
fn spilled_merges_equal_the_in_memory_result_and_a_naive_model() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = json!([
        {"type": "count", "name": "count"},
        {"type": "longSum", "name": "sum", "fieldName": "v"},
        {"type": "longMax", "name": "max", "fieldName": "v"},
        {"type": "doubleSum", "name": "dsum", "fieldName": "w"},
        {"type": "longFirst", "name": "first", "fieldName": "f"},
        {"type": "longLast", "name": "last", "fieldName": "f"}
    ]);
    let dims = json!({
        "dimensions": ["d0", "d1", "d2", {"type": "long", "name": "d3"}],
        "includeAllDimensions": true
    });
    let mut rng = Rng(0x5EED);
    for round in 0..6 {
        let rollup = round % 2 == 0;
        let rows = random_rows(&mut rng, 2_000 + 700 * round, round % 3 != 2);
        let expected = model(&rows, rollup);
        let limits = [
            MemoryLimits::default(),
            MemoryLimits {
                max_rows_in_memory: 3 + round,
                max_bytes_in_memory: 0,
            },
            MemoryLimits {
                max_rows_in_memory: 1_000_000,
                max_bytes_in_memory: 3_000,
            },
        ];
        for limit in limits {
            let mut sch = schema(dims.clone(), metrics.clone());
            sch.rollup = rollup;
            let mut ix = index(sch, limit, dir.path());
            for r in &rows {
                ix.add(r).unwrap();
            }
            let mut merged = ix.finish().unwrap();
            // Reading part of the stream and rewinding gives the whole stream again.
            for _ in 0..100 {
                merged.next_row().unwrap().unwrap();
            }
            merged.rewind().unwrap();
            let stats = merged.stats().clone();
            let names: Vec<&str> = merged
                .dimensions()
                .iter()
                .map(|d| d.name.as_str())
                .collect();
            assert_eq!(names, ["d0", "d1", "d2", "d3", "late"]);
            let got = collect(merged);
            assert_eq!(
                got.len(),
                expected.len(),
                "round {round} {limit:?} {stats:?}"
            );
            for (g, e) in got.iter().zip(&expected) {
                assert_eq!(g, e, "round {round} {limit:?} {stats:?}");
            }
            if limit.max_rows_in_memory < 10 {
                assert!(stats.merge_passes >= 1, "{stats:?}");
            }
        }
    }
}

#[test]
fn count_is_never_null_and_metadata_names_the_combining_factories() {
    let metrics: Vec<AggregatorFactory> = serde_json::from_value(
        json!([{"type": "count", "name": "c"}, {"type": "longSum", "name": "s", "fieldName": "x"}]),
    )
    .unwrap();
    assert_eq!(metrics[0].kind, AggregatorKind::Count);
    let dir = tempfile::tempdir().unwrap();
    let mut sch = schema(json!({}), json!([]));
    sch.metrics = metrics;
    let mut ix = index(sch, MemoryLimits::default(), dir.path());
    ix.add(&row(T0, &[])).unwrap();
    let merged = ix.finish().unwrap();
    assert_eq!(merged.metrics()[0].combining_json()["type"], "longSum");
    assert_eq!(
        collect(merged)[0].metrics,
        vec![MetricValue::Long(1), MetricValue::Null]
    );
}

/// Release-build throughput: ~5 M wikiticker-shaped rows (10 string dimensions of mixed
/// cardinality, count and 3 long sums, HOUR granularity) with the default limits.
/// `cargo test --release -p steward-ingest -- --ignored --nocapture rollup_index_throughput`
#[test]
#[ignore]
fn rollup_index_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let dims: Vec<(&str, u64)> = vec![
        ("channel", 50),
        ("namespace", 20),
        ("countryName", 120),
        ("isRobot", 2),
        ("isNew", 2),
        ("isMinor", 2),
        ("cityName", 5_000),
        ("regionName", 1_500),
        ("user", 200_000),
        ("page", 1_000_000),
    ];
    let names: Vec<Arc<str>> = ["time", "added", "deleted", "delta"]
        .iter()
        .copied()
        .chain(dims.iter().map(|(n, _)| *n))
        .map(Arc::from)
        .collect();
    let spec = json!({"dimensions": dims.iter().map(|(n, _)| *n).collect::<Vec<_>>()});
    let metrics = json!([
        {"type": "count", "name": "count"},
        {"type": "longSum", "name": "added", "fieldName": "added"},
        {"type": "longSum", "name": "deleted", "fieldName": "deleted"},
        {"type": "longSum", "name": "delta", "fieldName": "delta"}
    ]);
    let mut ix = index(schema(spec, metrics), MemoryLimits::default(), dir.path());
    let mut rng = Rng(42);
    let total = 5_000_000u64;
    let mut adding = std::time::Duration::ZERO;
    let start = std::time::Instant::now();
    for i in 0..total {
        let time = T0 + (i * 24 * HOUR as u64 / total) as i64;
        let mut fields = Vec::with_capacity(names.len());
        fields.push((names[0].clone(), s("2015-09-12T00:00:00Z")));
        for (k, name) in names[1..4].iter().enumerate() {
            fields.push((
                name.clone(),
                Value::Long(rng.below(100 * (k as u64 + 1)) as i64),
            ));
        }
        for ((dim, cardinality), name) in dims.iter().zip(&names[4..]) {
            // Skewed: most rows take a small share of the values.
            let r = rng.below(*cardinality);
            let v = if rng.below(4) > 0 { r / 16 } else { r };
            fields.push((name.clone(), Value::String(format!("{dim}-{v}"))));
        }
        let input = InputRow::new(time, fields);
        let t = std::time::Instant::now();
        ix.add(&input).unwrap();
        adding += t.elapsed();
    }
    let t = std::time::Instant::now();
    let mut merged = ix.finish().unwrap();
    let mut out = 0u64;
    while let Some(row) = merged.next_row().unwrap() {
        std::hint::black_box(row.dimension(9));
        out += 1;
    }
    let merging = t.elapsed();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    println!(
        "{total} rows in {:.1?} ({:.0} rows/s overall; add {:.1?} = {:.0} rows/s; finish+read {:.1?}); \
         {out} rows out; {:?}; peak {peak}",
        start.elapsed(),
        total as f64 / start.elapsed().as_secs_f64(),
        adding,
        total as f64 / adding.as_secs_f64(),
        merging,
        merged.stats(),
    );
}
