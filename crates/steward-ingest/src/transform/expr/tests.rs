//! Evaluation tables for the expression language, after Druid's `EvalTest` and `FunctionTest`.

use super::*;
use crate::Value;

/// The row Druid's `FunctionTest` binds: x = "foo", y = 2, z = 3.1, and a few more.
fn row() -> InputRow {
    InputRow::new(
        1_000,
        vec![
            ("x".into(), Value::String("foo".into())),
            ("y".into(), Value::Long(2)),
            ("z".into(), Value::Double(3.1)),
            ("n".into(), Value::Null),
            ("s5".into(), Value::String("5".into())),
            ("e".into(), Value::String("".into())),
            (
                "tags".into(),
                Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
            ),
            ("weird name".into(), Value::Long(7)),
        ],
    )
}

fn eval(text: &str) -> Value {
    let expr = Expression::compile(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let row = row();
    expr.eval(&row)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .into_value()
}

fn eval_err(text: &str) -> String {
    let expr = Expression::compile(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let row = row();
    expr.eval(&row).map(|v| v.into_value()).unwrap_err()
}

fn compile_err(text: &str) -> String {
    Expression::compile(text).unwrap_err()
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn table(cases: &[(&str, Value)]) {
    for (text, want) in cases {
        let got = eval(text);
        let same = match (&got, want) {
            (Value::Double(a), Value::Double(b)) => (a.is_nan() && b.is_nan()) || a == b,
            _ => got == *want,
        };
        assert!(same, "{text}: got {got:?}, want {want:?}");
    }
}

use Value::{Double as D, Long as L, Null};

// Mirrors Druid's EvalTest.testLongEval / testDoubleEval and the SQL-compatible null cases.
#[test]
fn arithmetic_keeps_longs_long_and_widens_to_double() {
    table(&[
        ("1 + 2", L(3)),
        ("7 / 2", L(3)),
        ("-7 / 2", L(-3)),
        ("7 % 3", L(1)),
        ("-7 % 3", L(-1)),
        ("2 ^ 10", L(1024)),
        ("2 ^ 3 ^ 2", L(512)),
        ("-2 ^ 2", L(4)),
        ("1 + 2 * 3", L(7)),
        ("7.0 / 2", D(3.5)),
        ("2.0 / 0.5", D(4.0)),
        ("1 + 2.5", D(3.5)),
        ("y * z", D(2.0 * 3.1)),
        ("2.0 ^ 0.5", D(2f64.sqrt())),
        ("7.5 % 2", D(1.5)),
        ("9223372036854775807 + 1", L(i64::MIN)),
        ("-9223372036854775808", L(i64::MIN)),
        ("--1", L(1)),
        ("-z", D(-3.1)),
        ("1e3 + 1", D(1001.0)),
    ]);
}

#[test]
fn division_by_zero_is_an_error_for_longs_and_ieee_for_doubles() {
    assert_eq!(eval_err("y / 0"), "/ by zero");
    assert_eq!(eval_err("y % 0"), "/ by zero");
    // Constant folding finds it at compile time, as Druid's Parser.flatten does.
    assert_eq!(compile_err("1 / 0"), "/ by zero");
    table(&[
        ("y / 0.0", D(f64::INFINITY)),
        ("-y / 0.0", D(f64::NEG_INFINITY)),
        ("0.0 / 0", D(f64::NAN)),
        ("y % 0.0", D(f64::NAN)),
    ]);
    assert!(eval_err("y ^ -1").contains("must be >= 0"));
}

#[test]
fn strings_concatenate_with_plus_and_read_as_numbers_against_numbers() {
    table(&[
        ("x + 'bar'", s("foobar")),
        ("'a' + 'b' + 'c'", s("abc")),
        ("s5 + 1", D(6.0)),
        ("s5 * y", D(10.0)),
        ("x + 1", Null),
        ("'true' + 1", D(2.0)),
    ]);
    assert!(eval_err("x - 'a'").contains("not supported on type STRING"));
}

// Druid's SQL-compatible null handling (EvalTest.testNullHandling...).
#[test]
fn nulls_propagate_through_operators() {
    table(&[
        ("n + 1", Null),
        ("missing * 2", Null),
        ("null + 'a'", Null),
        ("null == null", Null),
        ("n == 1", Null),
        ("n != 1", Null),
        ("-n", Null),
        ("!n", Null),
        ("n < 1", Null),
    ]);
}

// Druid's three-valued && and || (EvalTest.testBooleanReturn and the null truth tables).
#[test]
fn logical_operators_are_three_valued() {
    table(&[
        ("1 && 1", L(1)),
        ("1 && 0", L(0)),
        ("0 && n", L(0)),
        ("n && 0", L(0)),
        ("n && 1", Null),
        ("1 && n", Null),
        ("n && n", Null),
        ("1 || n", L(1)),
        ("n || 1", L(1)),
        ("0 || n", Null),
        ("n || 0", Null),
        ("0 || 0", L(0)),
        ("!0", L(1)),
        ("!2", L(0)),
        ("!-1", L(1)),
        ("'true' && 1", L(1)),
        ("'yes' && 1", L(0)),
        ("0.5 && 1", L(1)),
        ("!x", L(1)),
    ]);
}

#[test]
fn comparisons_compare_by_the_common_type() {
    table(&[
        ("1 < 2", L(1)),
        ("2 <= 2", L(1)),
        ("y > 1.5", L(1)),
        ("y == 2.0", L(1)),
        ("s5 == 5", L(1)),
        ("s5 == '5'", L(1)),
        ("'10' < '9'", L(1)),
        ("x == 'foo'", L(1)),
        ("x != 'foo'", L(0)),
        ("'B' < 'a'", L(1)),
        ("x < 1", Null),
        ("0.0 / 0 == 0.0 / 0", L(0)),
        ("0.0 / 0 > 1", L(1)),
        ("1 < 2 == 1", L(1)),
    ]);
}

#[test]
fn identifiers_read_the_row_and_the_time() {
    table(&[
        ("x", s("foo")),
        ("\"x\"", s("foo")),
        ("\"weird name\" + 1", L(8)),
        ("missing", Null),
        ("__time", L(1_000)),
        ("__time + 1", L(1_001)),
        ("tags", Value::Array(vec![s("a"), s("b")])),
    ]);
}

#[test]
fn multi_value_inputs_pass_through_but_are_refused_by_operators() {
    table(&[
        ("nvl(tags, 'x')", Value::Array(vec![s("a"), s("b")])),
        ("nvl(n, tags)", Value::Array(vec![s("a"), s("b")])),
        ("if(1, tags, x)", Value::Array(vec![s("a"), s("b")])),
        ("isnull(tags)", L(0)),
        ("notnull(tags)", L(1)),
    ]);
    for text in [
        "upper(tags)",
        "tags + 'x'",
        "concat(tags, 'x')",
        "-tags",
        "tags == 'a'",
    ] {
        let err = eval_err(text);
        assert!(
            err.contains("multi-value input [a, b]") && err.contains("implicit"),
            "{text}: {err}"
        );
    }
}

// Mirrors Druid's FunctionTest string functions.
#[test]
fn string_functions() {
    table(&[
        ("concat(x, y, z)", s("foo23.1")),
        ("concat(x, n)", Null),
        ("concat()", Null),
        ("concat(x)", s("foo")),
        ("lower('FOO')", s("foo")),
        ("upper(x)", s("FOO")),
        ("upper(n)", Null),
        ("upper(y)", s("2")),
        ("substring(x, 0, 2)", s("fo")),
        ("substring(x, 1, -1)", s("oo")),
        ("substring(x, 1, 10)", s("oo")),
        ("substring(x, 3, 1)", Null),
        ("substring(n, 0, 1)", Null),
        ("substring('héllo', 1, 2)", s("él")),
        ("strlen(x)", L(3)),
        ("strlen(e)", L(0)),
        ("strlen(n)", Null),
        ("strlen(z)", L(3)),
        ("strlen('😀')", L(2)),
        ("replace(x, 'o', 'a')", s("faa")),
        ("replace(n, 'o', 'a')", Null),
        ("strpos(x, 'o')", L(1)),
        ("strpos(x, 'o', 2)", L(2)),
        ("strpos(x, 'z')", L(-1)),
        ("strpos(n, 'z')", Null),
        ("trim('  a b  ')", s("a b")),
        ("ltrim('  a  ')", s("a  ")),
        ("rtrim('  a  ')", s("  a")),
        ("trim('xxaxx', 'x')", s("a")),
        ("trim('abcba', 'ab')", s("c")),
        ("trim(n)", Null),
        ("trim(y)", L(2)),
        ("contains_string(x, 'oo')", L(1)),
        ("contains_string(x, 'O')", L(0)),
        ("contains_string(n, 'o')", Null),
        ("like(x, 'f%')", L(1)),
        ("like(x, '_o')", L(0)),
        ("like(n, '%')", Null),
        ("like('a%', 'a!%', '!')", L(1)),
        ("LOWER('A')", s("a")),
    ]);
    assert!(eval_err("substring(x, -1, 2)").contains("out of bounds"));
}

// Mirrors Druid's FunctionTest null and conditional functions.
#[test]
fn null_and_conditional_functions() {
    table(&[
        ("nvl(n, 'x')", s("x")),
        ("nvl(x, 'y')", s("foo")),
        ("coalesce(n, missing, y)", L(2)),
        ("coalesce(n, missing)", Null),
        ("isnull(n)", L(1)),
        ("isnull(missing)", L(1)),
        ("isnull(e)", L(0)),
        ("notnull(x)", L(1)),
        ("if(y > 1, 'big', 'small')", s("big")),
        ("if(n, 'yes', 'no')", s("no")),
        ("if(x, 1, 0)", L(0)),
        (
            "case_searched(y == 1, 'one', y == 2, 'two', 'many')",
            s("two"),
        ),
        ("case_searched(y == 1, 'one', 'many')", s("many")),
        ("case_searched(y == 1, 'one')", Null),
        ("case_simple(y, 1, 'one', 2, 'two', 'many')", s("two")),
        ("case_simple(x, 'bar', 1, 'foo', 2)", L(2)),
        ("case_simple(n, 1, 'one', 'else')", s("else")),
        ("case_simple(y, 1, 'one')", Null),
    ]);
}

// Mirrors Druid's FunctionTest math functions (testRound*, testGreatest, testLeast).
#[test]
fn math_functions() {
    table(&[
        ("abs(-2)", L(2)),
        ("abs(-2.5)", D(2.5)),
        ("abs(n)", Null),
        ("abs(s5)", Null),
        ("floor(2.7)", D(2.0)),
        ("floor(y)", D(2.0)),
        ("ceil(2.1)", D(3.0)),
        ("ceil(-2.1)", D(-2.0)),
        ("round(3.5)", D(4.0)),
        ("round(-3.5)", D(-4.0)),
        ("round(2.71828, 2)", D(2.72)),
        ("round(y)", L(2)),
        ("round(1234, -2)", L(1200)),
        ("round(n)", Null),
        ("round(0.0 / 0)", D(0.0)),
        ("greatest(1, 2.5, 2)", D(2.5)),
        ("greatest(1, 3, 2)", L(3)),
        ("greatest(1, 'b', 'a')", s("b")),
        ("greatest(n, 1)", L(1)),
        ("greatest()", Null),
        ("least(3, 1, 2)", L(1)),
        ("least(n, missing)", Null),
        ("least(10, '9')", s("10")),
    ]);
    // A non-numeric string is a numeric null; a numeric one is the wrong type.
    table(&[("round(x)", Null)]);
    assert!(eval_err("round(s5)").contains("first argument should be a LONG or DOUBLE"));
    assert!(eval_err("round(z, 1.5)").contains("second argument should be a LONG"));
}

// Mirrors Druid's FunctionTest.testCast* (ExprEval casts).
#[test]
fn casts() {
    table(&[
        ("cast(s5, 'LONG')", L(5)),
        ("cast('5.7', 'long')", L(5)),
        ("cast(x, 'LONG')", Null),
        ("cast(y, 'DOUBLE')", D(2.0)),
        ("cast(z, 'STRING')", s("3.1")),
        ("cast(y, 'STRING') + 'x'", s("2x")),
        ("cast(n, 'STRING')", Null),
        ("cast(z, 'LONG')", L(3)),
        ("cast('true', 'LONG')", L(1)),
        ("cast(1e7, 'STRING')", s("1.0E7")),
    ]);
    assert!(compile_err("cast(y, 'FOO')").contains("Invalid type [FOO]"));
    assert!(compile_err("cast(y, 'ARRAY<LONG>')").contains("not supported by Steward yet"));
    assert!(compile_err("cast(y, x)").contains("must be a literal"));
}

#[test]
fn timestamp_floor_uses_periods_zones_and_origins() {
    // 2015-09-12T17:47:23.456Z
    let t = 1_442_080_043_456_i64;
    let floor = |args: &str| eval(&format!("timestamp_floor({t}, {args})"));
    assert_eq!(floor("'P1D'"), L(1_442_016_000_000));
    assert_eq!(floor("'PT1H'"), L(1_442_077_200_000));
    assert_eq!(floor("'PT1H', null, 'UTC'"), L(1_442_077_200_000));
    // Midnight in Los Angeles (UTC-7 in September).
    assert_eq!(
        floor("'P1D', null, 'America/Los_Angeles'"),
        L(1_442_041_200_000)
    );
    // Half past the hour, from an origin at half past.
    assert_eq!(
        floor("'PT1H', '2015-01-01T00:30:00Z'"),
        L(1_442_079_000_000)
    );
    assert_eq!(floor("'PT1H', 1800000"), L(1_442_079_000_000));
    table(&[
        ("timestamp_floor(n, 'P1D')", Null),
        ("timestamp_floor(__time, 'PT1S')", L(1_000)),
    ]);
    assert!(compile_err("timestamp_floor(y, 'P1X')").contains("Invalid period[P1X]"));
    assert!(compile_err("timestamp_floor(y, x)").contains("must be a literal"));
    assert!(
        compile_err("timestamp_floor(y, 'P1D', null, 'Mars/Olympus')")
            .contains("unknown time zone")
    );
    assert!(compile_err("timestamp_floor(y)").contains("requires 2 or 3 or 4 arguments"));
}

#[test]
fn timestamp_format_defaults_to_iso_in_utc() {
    table(&[
        (
            "timestamp_format(1442080043456)",
            s("2015-09-12T17:47:23.456Z"),
        ),
        (
            "timestamp_format(1442080043456, null, '+05:30')",
            s("2015-09-12T23:17:23.456+05:30"),
        ),
        ("timestamp_format(n)", Null),
        ("timestamp_format(x)", Null),
    ]);
}

#[test]
fn functions_are_checked_at_compile_time() {
    let err = compile_err("foo(x)");
    assert!(
        err.starts_with("Function[foo] is not supported by Steward yet (supported: abs, "),
        "{err}"
    );
    assert!(err.contains("timestamp_parse"));
    for (text, want) in [
        ("upper(x, y)", "Function[upper] requires 1 argument"),
        (
            "substring(x, 1)",
            "Function[substring] requires 3 arguments",
        ),
        ("strpos(x)", "Function[strpos] requires 2 or 3 arguments"),
        ("nvl(x)", "Function[nvl] requires 2 arguments"),
        (
            "coalesce()",
            "Function[coalesce] requires at least 1 argument",
        ),
        (
            "case_searched(x)",
            "Function[case_searched] requires at least 2 arguments",
        ),
        (
            "case_simple(x, y)",
            "Function[case_simple] requires at least 3 arguments",
        ),
        (
            "like(x, y)",
            "Function[like] pattern argument must be a literal",
        ),
        (
            "like(x, 'a', 'ab')",
            "Function[like] escape must be null or a single character",
        ),
        (
            "contains_string(x, y)",
            "Function[contains_string] substring must be a string literal",
        ),
        ("1 +", "Failed to parse expression [1 +]"),
        ("99999999999999999999", "out of the range of a long"),
    ] {
        let err = compile_err(text);
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn constants_are_folded_once() {
    let e = Expression::compile("concat('a', 'b') + upper('c')").unwrap();
    assert!(matches!(&e.root, Node::Const(Eval::Str(v)) if v == "abC"));
    let e = Expression::compile("x + (1 + 2)").unwrap();
    assert!(
        matches!(&e.root, Node::Binary(BinaryOp::Add, _, r) if matches!(**r, Node::Const(Eval::Long(3))))
    );
    assert_eq!(
        Expression::compile("x + y * __time + x").unwrap().fields(),
        ["x", "y", "x"]
    );
}
