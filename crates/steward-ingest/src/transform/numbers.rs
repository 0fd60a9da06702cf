//! Numbers read and written the way Java (and so Druid) reads and writes them.
//!
//! Filters and expressions turn strings into numbers and numbers into strings all the time, and
//! where Rust and Java disagree the row would match differently: Java prints `1.0E7` where Rust
//! prints `10000000`, Guava's `Doubles.tryParse` takes `1d` but not `inf`, and `BigDecimal` (the
//! numeric string ordering and exact-long checks) compares decimals exactly.

use std::cmp::Ordering;

/// Java's `Double.toString`: `1.0`, `0.001`, `1.0E7`, `1.0E-4`, `NaN`, `-Infinity`.
pub(crate) fn java_double_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` gives the shortest digits that read back to `d`, as Java (since JDK 19) does.
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if d < 0.0 {
        out.push('-');
    }
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() > int_len {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// Druid's `GuavaUtils.tryParseLong`: an optional `+` or `-`, then decimal digits, in range.
pub(crate) fn parse_long(s: &str) -> Option<i64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    if t.starts_with('+') {
        return None;
    }
    t.parse().ok()
}

/// Guava's `Doubles.tryParse`: Java's decimal double syntax (`1`, `-1.5e3`, `.5`, `2.`, `1d`,
/// `NaN`, `Infinity`), nothing around it. Hexadecimal floats are not read.
pub(crate) fn parse_double(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let value = match body {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let body = body.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(body);
            if !is_decimal(body, true) {
                return None;
            }
            body.parse().ok()?
        }
    };
    Some(if neg { -value } else { value })
}

/// `digits[.digits][e[+-]digits]` with at least one mantissa digit (`.5` and `5.` included).
fn is_decimal(s: &str, allow_exponent: bool) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) if allow_exponent => (&s[..i], Some(&s[i + 1..])),
        Some(_) => return false,
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || int.len() + frac.len() == 0 {
        return false;
    }
    match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
    }
}

/// An exact decimal as Java's `BigDecimal` reads it: `-12.5e3`. Normalised so that two
/// decimals compare by sign, then exponent, then digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decimal {
    negative: bool,
    /// Significant digits, no leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    /// The value is `0.d1d2d3… × 10^exponent`.
    exponent: i64,
}

impl Decimal {
    pub(crate) fn parse(s: &str) -> Option<Decimal> {
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if !is_decimal(body, true) {
            return None;
        }
        let (mantissa, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], body[i + 1..].parse::<i64>().ok()?),
            None => (body, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        let lead = all.iter().take_while(|d| **d == 0).count();
        let trail = all.iter().rev().take_while(|d| **d == 0).count();
        if lead == all.len() {
            return Some(Decimal::zero());
        }
        let digits = all[lead..all.len() - trail].to_vec();
        let exponent = int.len() as i64 - lead as i64 + exp;
        Some(Decimal {
            negative,
            digits,
            exponent,
        })
    }

    fn zero() -> Decimal {
        Decimal {
            negative: false,
            digits: Vec::new(),
            exponent: 0,
        }
    }

    /// The value as a long if it is a whole number in range (`BigDecimal.longValueExact`).
    pub(crate) fn to_exact_long(&self) -> Option<i64> {
        let scale = self.exponent - self.digits.len() as i64;
        if scale < 0 || self.exponent > 19 {
            return None;
        }
        let mut v: i128 = 0;
        for d in &self.digits {
            v = v * 10 + i128::from(*d);
        }
        for _ in 0..scale {
            v *= 10;
        }
        if self.negative {
            v = -v;
        }
        i64::try_from(v).ok()
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The floor and ceiling as integers, saturated far beyond the range of a long.
    pub(crate) fn floor_ceil(&self) -> (i128, i128) {
        const LIMIT: i128 = 10i128.pow(30);
        if self.is_zero() {
            return (0, 0);
        }
        let (int_part, fraction) = if self.exponent <= 0 {
            (0, true)
        } else if self.exponent > 30 {
            (LIMIT, false)
        } else {
            let n = self.exponent as usize;
            let mut v: i128 = 0;
            for i in 0..n {
                v = v * 10 + i128::from(self.digits.get(i).copied().unwrap_or(0));
            }
            (v, self.digits.len() > n)
        };
        let fraction = i128::from(fraction);
        if self.negative {
            (-int_part - fraction, -int_part)
        } else {
            (int_part, int_part + fraction)
        }
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let sign = |d: &Decimal| {
            if d.is_zero() {
                0
            } else if d.negative {
                -1
            } else {
                1
            }
        };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let magnitude = self
            .exponent
            .cmp(&other.exponent)
            .then_with(|| self.digits.cmp(&other.digits));
        if a < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Druid's `DimensionHandlerUtils.getExactLongFromDecimalString`: `5`, `+5`, `5.0`, `5e2`.
pub(crate) fn exact_long(s: &str) -> Option<i64> {
    parse_long(s).or_else(|| Decimal::parse(s)?.to_exact_long())
}

/// Java's `String.compareTo`: UTF-16 code unit order (differs from `str` order only past the
/// Basic Multilingual Plane).
pub(crate) fn java_string_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java's `String.length()`: UTF-16 code units.
pub(crate) fn java_length(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_prints_them() {
        for (d, want) in [
            (1.0, "1.0"),
            (-1.5, "-1.5"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1234567.0, "1234567.0"),
            (12345678.0, "1.2345678E7"),
            (1e7, "1.0E7"),
            (100.0, "100.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (2.0 / 3.0, "0.6666666666666666"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (-0.0, "-0.0"),
            (1.5e300, "1.5E300"),
        ] {
            assert_eq!(java_double_string(d), want, "{d}");
        }
    }

    #[test]
    fn strings_parse_as_guava_parses_them() {
        assert_eq!(parse_long("+5"), Some(5));
        assert_eq!(parse_long("-5"), Some(-5));
        assert_eq!(parse_long("++5"), None);
        assert_eq!(parse_long("5.0"), None);
        assert_eq!(parse_long("9223372036854775808"), None);
        for (s, want) in [
            ("1", Some(1.0)),
            ("-1.5e3", Some(-1500.0)),
            (".5", Some(0.5)),
            ("2.", Some(2.0)),
            ("1d", Some(1.0)),
            ("Infinity", Some(f64::INFINITY)),
            ("inf", None),
            (" 1", None),
            ("1e", None),
            ("", None),
            ("abc", None),
        ] {
            assert_eq!(parse_double(s), want, "{s}");
        }
        assert!(parse_double("NaN").unwrap().is_nan());
    }

    #[test]
    fn decimals_compare_exactly() {
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert!(d("1.5") < d("2"));
        assert!(d("-2") < d("-1.5"));
        assert!(d("10") > d("9.999"));
        assert_eq!(d("1.50").cmp(&d("1.5")), Ordering::Equal);
        assert_eq!(d("0").cmp(&d("-0.0")), Ordering::Equal);
        assert!(d("9223372036854775808") > d("9223372036854775807"));
        assert!(Decimal::parse("1.2.3").is_none());
        assert_eq!(exact_long("5.0"), Some(5));
        assert_eq!(exact_long("5e2"), Some(500));
        assert_eq!(exact_long("5.5"), None);
        assert_eq!(exact_long("1e30"), None);
        assert_eq!(d("1.5").floor_ceil(), (1, 2));
        assert_eq!(d("-1.5").floor_ceil(), (-2, -1));
        assert_eq!(d("-0.5").floor_ceil(), (-1, 0));
        assert_eq!(d("7").floor_ceil(), (7, 7));
        assert_eq!(d("1e40").floor_ceil().0, 10i128.pow(30));
    }

    #[test]
    fn java_string_order_is_utf16_order() {
        // U+FF61 sorts after U+1F600 by code point, before it in UTF-16.
        assert_eq!(java_string_cmp("\u{FF61}", "\u{1F600}"), Ordering::Greater);
        assert_eq!(java_string_cmp("a", "b"), Ordering::Less);
        assert_eq!(java_length("a\u{1F600}"), 3);
    }
}
