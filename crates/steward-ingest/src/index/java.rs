//! The bits of Java's value semantics the rollup index must reproduce to make Druid's rows.
//!
//! Druid sorts strings with `String.compareTo` (UTF-16 code units, which differs from UTF-8
//! byte order for characters above U+FFFF against U+E000..U+FFFF), turns numbers into dimension
//! strings with `Long.toString`/`Double.toString`, and reads numbers out of strings with Guava's
//! `tryParse`, `BigDecimal` and `Double.valueOf`, each with its own grammar. What a string
//! accepts decides whether a row is `processedWithError`, so the grammars are kept exactly;
//! hexadecimal floating-point literals, which Java accepts and real data never holds, are read as
//! unparseable.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use crate::row::Value;

/// Compares as Java's `String.compareTo`: by UTF-16 code units.
pub fn compare_utf16(a: &str, b: &str) -> Ordering {
    compare_utf16_bytes(a.as_bytes(), b.as_bytes())
}

/// [`compare_utf16`] on UTF-8 bytes, so that spilled values compare without being checked
/// again.
pub fn compare_utf16_bytes(x: &[u8], y: &[u8]) -> Ordering {
    let Some(i) = x.iter().zip(y).position(|(p, q)| p != q) else {
        return x.len().cmp(&y.len());
    };
    // Below 0xEE both bytes start or continue characters whose UTF-8 order is their UTF-16
    // order; only U+E000..U+FFFF against supplementary characters needs the characters.
    if x[i] < 0xEE && y[i] < 0xEE {
        return x[i].cmp(&y[i]);
    }
    // Equal up to `i`, so both characters start at the same place.
    let start = (0..=i).rev().find(|&j| x[j] & 0xC0 != 0x80).unwrap_or(0);
    utf16_rank(decode(&x[start..])).cmp(&utf16_rank(decode(&y[start..])))
}

/// The code point a UTF-8 sequence starts with (0 for a truncated one).
fn decode(bytes: &[u8]) -> u32 {
    let lead = u32::from(bytes[0]);
    let (len, bits) = match lead {
        0..=0x7F => return lead,
        0xC0..=0xDF => (2, lead & 0x1F),
        0xE0..=0xEF => (3, lead & 0x0F),
        _ => (4, lead & 0x07),
    };
    bytes.get(1..len).map_or(0, |rest| {
        rest.iter()
            .fold(bits, |c, b| (c << 6) | u32::from(b & 0x3F))
    })
}

/// A code point's place in UTF-16 order: supplementary characters (surrogates D800..DFFF in
/// UTF-16) sort between U+D7FF and U+E000.
fn utf16_rank(c: u32) -> u32 {
    if (0xE000..=0xFFFF).contains(&c) {
        c + 0x10_0000
    } else {
        c
    }
}

/// Java's `String.length()`: UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}

/// Java's `Double.toString` (shortest digits that read back, as Java 19+ prints).
pub struct JavaDouble(pub f64);

/// Java's `Float.toString`: the same form, with the shortest digits of the float.
pub struct JavaFloat(pub f32);

impl fmt::Display for JavaDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        java_decimal(f, self.0, self.0.abs(), self.0.is_sign_negative())
    }
}

impl fmt::Display for JavaFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        java_decimal(
            f,
            self.0,
            f64::from(self.0.abs()),
            self.0.is_sign_negative(),
        )
    }
}

/// Java's decimal form of a floating-point value `d` of magnitude `magnitude`: plain between
/// 10^-3 and 10^7, computerized scientific notation (`1.0E10`) outside.
fn java_decimal<F>(f: &mut fmt::Formatter<'_>, d: F, magnitude: f64, negative: bool) -> fmt::Result
where
    F: fmt::Display + fmt::LowerExp + Copy,
{
    if magnitude.is_nan() {
        return f.write_str("NaN");
    }
    if magnitude.is_infinite() {
        return f.write_str(if negative { "-Infinity" } else { "Infinity" });
    }
    if magnitude == 0.0 {
        return f.write_str(if negative { "-0.0" } else { "0.0" });
    }
    if (1e-3..1e7).contains(&magnitude) {
        let mut plain = String::with_capacity(24);
        write!(plain, "{d}")?;
        if !plain.contains('.') {
            plain.push_str(".0");
        }
        return f.write_str(&plain);
    }
    let mut sci = String::with_capacity(24);
    write!(sci, "{d:e}")?;
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    f.write_str(mantissa)?;
    if !mantissa.contains('.') {
        f.write_str(".0")?;
    }
    write!(f, "E{exponent}")
}

/// A value as Java's `toString` prints it (`null`, lists as `[a, b]`), for messages and for
/// values nested in a multi-value field.
pub struct JavaValue<'a>(pub &'a Value);

impl fmt::Display for JavaValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Null => f.write_str("null"),
            Value::Long(n) => write!(f, "{n}"),
            Value::Double(d) => write!(f, "{}", JavaDouble(*d)),
            Value::String(s) => f.write_str(s),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", JavaValue(item))?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Guava's `Longs.tryParse`: an optional `-` and decimal digits, within range.
fn guava_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Druid's `getExactLongFromDecimalString`: a long, or a `BigDecimal` with an exact long value
/// (`"1.0"`, `"1e3"`), else `None`.
pub fn exact_long(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    if let Some(n) = guava_long(s.strip_prefix('+').unwrap_or(s)) {
        return Some(n);
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], java_int(&body[i + 1..])?),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part) {
        return None;
    }
    // value = digits * 10^(exponent - frac_len); exact only if no non-zero digit is cut off.
    let digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else { return Some(0) };
    let digits = &digits[first..];
    let scale = i64::from(exponent) - frac_part.len() as i64;
    let kept = if scale < 0 {
        let cut = usize::try_from(-scale).ok()?;
        if cut > digits.len() {
            return None;
        }
        let (kept, dropped) = digits.split_at(digits.len() - cut);
        if dropped.iter().any(|&d| d != 0) {
            return None;
        }
        kept
    } else {
        digits
    };
    let mut value: i128 = 0;
    for &d in kept {
        value = value * 10 + i128::from(d);
        if value > i128::from(u64::MAX) {
            return None;
        }
    }
    for _ in 0..scale.max(0) {
        value *= 10;
        if value > i128::from(u64::MAX) {
            return None;
        }
    }
    i64::try_from(if negative { -value } else { value }).ok()
}

/// An exponent as `BigDecimal` reads it: optional sign, digits, within an int.
fn java_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The decimal literal Java and Guava accept (`[+-]`, `NaN`, `Infinity`, digits with an
/// optional point and exponent, an optional `fFdD` suffix), normalized for Rust's parser.
fn java_float_literal(s: &str) -> Option<&str> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body == "NaN" || body == "Infinity" {
        return Some(s);
    }
    let s = s.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(s);
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let d = e.strip_prefix(['+', '-']).unwrap_or(e);
        !d.is_empty() && all_digits(d)
    });
    (int_part.len() + frac_part.len() > 0
        && all_digits(int_part)
        && all_digits(frac_part)
        && exponent_ok)
        .then_some(s)
}

fn parse_literal<T: std::str::FromStr>(s: &str, nan: T, inf: T, neg_inf: T) -> Option<T> {
    let literal = java_float_literal(s)?;
    match literal {
        "NaN" | "+NaN" | "-NaN" => Some(nan),
        "Infinity" | "+Infinity" => Some(inf),
        "-Infinity" => Some(neg_inf),
        _ => literal.parse().ok(),
    }
}

/// Guava's `Doubles.tryParse` (no surrounding whitespace).
pub fn guava_double(s: &str) -> Option<f64> {
    parse_literal(s, f64::NAN, f64::INFINITY, f64::NEG_INFINITY)
}

/// Guava's `Floats.tryParse`: rounds the literal to a float directly, as Java does.
pub fn guava_float(s: &str) -> Option<f32> {
    parse_literal(s, f32::NAN, f32::INFINITY, f32::NEG_INFINITY)
}

/// Java's `String.trim`: drops characters up to U+0020 at both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// A number read from a row for an aggregator (Druid's `Rows.objectToNumber`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Long(i64),
    Double(f64),
}

impl Number {
    /// Java's `Number.longValue` (a double truncates and saturates, NaN is 0).
    pub fn to_long(self) -> i64 {
        match self {
            Number::Long(n) => n,
            Number::Double(d) => d as i64,
        }
    }

    pub fn to_float(self) -> f32 {
        match self {
            Number::Long(n) => n as f32,
            Number::Double(d) => d as f32,
        }
    }

    pub fn to_double(self) -> f64 {
        match self {
            Number::Long(n) => n as f64,
            Number::Double(d) => d,
        }
    }
}

/// Druid's `Rows.objectToNumber` for a string: trimmed, commas dropped, a `+` before a digit
/// dropped, then a long if it is one, else Java's `Double.valueOf`.
pub fn string_to_number(s: &str) -> Option<Number> {
    let trimmed = java_trim(s);
    let cleaned;
    let mut text = trimmed;
    if text.contains(',') {
        cleaned = text.replace(',', "");
        text = &cleaned;
    }
    if text.len() > 1 && text.starts_with('+') && text.as_bytes()[1].is_ascii_digit() {
        text = &text[1..];
    }
    if let Some(n) = guava_long(text) {
        return Some(Number::Long(n));
    }
    guava_double(java_trim(text)).map(Number::Double)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_order_differs_from_utf8_only_where_java_does() {
        // U+10000 (a surrogate pair in UTF-16) sorts before U+FFFD in Java, after it in UTF-8.
        let supplementary = "\u{10000}";
        let replacement = "\u{FFFD}";
        assert_eq!(supplementary.cmp(replacement), Ordering::Greater);
        assert_eq!(compare_utf16(supplementary, replacement), Ordering::Less);
        assert_eq!(compare_utf16("a\u{1F600}", "a\u{E000}"), Ordering::Less);
        // Against characters below U+D800 both orders agree.
        assert_eq!(compare_utf16("\u{10000}", "\u{D7FF}"), Ordering::Greater);
        assert_eq!(compare_utf16("abc", "abd"), Ordering::Less);
        assert_eq!(compare_utf16("ab", "abc"), Ordering::Less);
        assert_eq!(compare_utf16("é", "e"), Ordering::Greater);
        assert_eq!(compare_utf16("\u{1F600}", "\u{1F601}"), Ordering::Less);
        assert_eq!(compare_utf16("x", "x"), Ordering::Equal);
        assert_eq!(utf16_len("a\u{1F600}é"), 4);
    }

    #[test]
    fn doubles_print_as_java_does() {
        for (d, s) in [
            (1.0, "1.0"),
            (-1.5, "-1.5"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1e7, "1.0E7"),
            (1234567.0, "1234567.0"),
            (1.5e10, "1.5E10"),
            (123456789.123, "1.23456789123E8"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(JavaDouble(d).to_string(), s);
        }
        for (d, s) in [
            (0.1f32, "0.1"),
            (1.1, "1.1"),
            (-2.0, "-2.0"),
            (1e10, "1.0E10"),
            (f32::MAX, "3.4028235E38"),
            (0.0001, "1.0E-4"),
        ] {
            assert_eq!(JavaFloat(d).to_string(), s);
        }
        let list = Value::Array(vec![
            Value::String("a".into()),
            Value::Null,
            Value::Double(2.0),
        ]);
        assert_eq!(JavaValue(&list).to_string(), "[a, null, 2.0]");
    }

    #[test]
    fn exact_long_reads_what_big_decimal_makes_exact() {
        for (s, v) in [
            ("12", Some(12)),
            ("+12", Some(12)),
            ("-12", Some(-12)),
            ("1.0", Some(1)),
            ("1.50", None),
            ("1e3", Some(1000)),
            ("1000e-3", Some(1)),
            ("1500e-3", None),
            ("1501e-3", None),
            ("0e999999", Some(0)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775808.000", Some(i64::MIN)),
            ("1e30", None),
            ("", None),
            (" 1", None),
            ("abc", None),
            (".5", None),
            ("5.", Some(5)),
            ("1e", None),
        ] {
            assert_eq!(exact_long(s), v, "{s}");
        }
    }

    #[test]
    fn floats_follow_guava_and_java_grammars() {
        assert_eq!(guava_double("1.5"), Some(1.5));
        assert_eq!(guava_double("-2e3"), Some(-2000.0));
        assert_eq!(guava_double("1.5f"), Some(1.5));
        assert_eq!(guava_double(".5"), Some(0.5));
        assert!(guava_double("NaN").unwrap().is_nan());
        assert_eq!(guava_double("-Infinity"), Some(f64::NEG_INFINITY));
        for bad in ["", " 1", "inf", "nan", "1e", ".", "1,5", "0x10"] {
            assert_eq!(guava_double(bad), None, "{bad}");
        }
        assert_eq!(guava_float("0.1"), Some(0.1f32));
        assert_eq!(string_to_number(" 1,000 "), Some(Number::Long(1000)));
        assert_eq!(string_to_number("+7"), Some(Number::Long(7)));
        assert_eq!(string_to_number("2.5"), Some(Number::Double(2.5)));
        assert_eq!(string_to_number("1e2"), Some(Number::Double(100.0)));
        assert_eq!(string_to_number(""), None);
        assert_eq!(string_to_number("abc"), None);
        assert_eq!(Number::Double(-2.7).to_long(), -2);
        assert_eq!(Number::Double(f64::NAN).to_long(), 0);
        assert_eq!(Number::Double(1e30).to_long(), i64::MAX);
    }
}
