//! Druid's `StringComparators`, the orderings a `bound` filter compares strings with.
//!
//! `lexicographic` is Java's `String.compareTo` (UTF-16 order), `alphanumeric` sorts runs of
//! digits by value (`a2` before `a10`), `numeric` compares as exact decimals with every
//! non-number before every number, `strlen` compares lengths and then lexicographically.
//! `version` and `natural` are refused: nobody filters ingestion on them.

use std::cmp::Ordering;

use serde_json::Value as Json;

use super::numbers::{java_length, java_string_cmp, parse_long, Decimal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StringOrdering {
    Lexicographic,
    Alphanumeric,
    Numeric,
    Strlen,
}

impl StringOrdering {
    /// Reads `"numeric"` or `{"type": "numeric"}`, as Druid's `StringComparator` JSON.
    pub(crate) fn from_json(v: &Json) -> Result<StringOrdering, String> {
        let name = match v {
            Json::String(s) => s.as_str(),
            Json::Object(o) => o.get("type").and_then(Json::as_str).unwrap_or(""),
            other => return Err(format!("An ordering must be a string, not {other}")),
        };
        match name.to_ascii_lowercase().as_str() {
            "lexicographic" => Ok(StringOrdering::Lexicographic),
            "alphanumeric" => Ok(StringOrdering::Alphanumeric),
            "numeric" => Ok(StringOrdering::Numeric),
            "strlen" => Ok(StringOrdering::Strlen),
            "version" | "natural" => Err(format!(
                "Ordering [{name}] is not supported by Steward yet (supported: lexicographic, alphanumeric, numeric, strlen)"
            )),
            _ => Err(format!(
                "Unknown ordering [{name}]: expected lexicographic, alphanumeric, numeric or strlen"
            )),
        }
    }

    /// Compares two non-null strings.
    pub(crate) fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            StringOrdering::Lexicographic => java_string_cmp(a, b),
            StringOrdering::Alphanumeric => alphanumeric(a, b),
            StringOrdering::Numeric => numeric(a, b),
            StringOrdering::Strlen => java_length(a)
                .cmp(&java_length(b))
                .then_with(|| java_string_cmp(a, b)),
        }
    }
}

/// `StringComparators.NumericComparator`: numbers by value; non-numbers before numbers and
/// lexicographically among themselves.
fn numeric(a: &str, b: &str) -> Ordering {
    if let (Some(x), Some(y)) = (parse_long(a), parse_long(b)) {
        return x.cmp(&y);
    }
    match (Decimal::parse(a), Decimal::parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (None, None) => java_string_cmp(a, b),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
    }
}

/// The digits `AlphanumericComparator` knows: ASCII, Arabic-Indic, extended Arabic-Indic,
/// Devanagari and full-width.
fn digit_value(c: char) -> Option<u32> {
    let base = match c {
        '0'..='9' => '0',
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}',
        '\u{0966}'..='\u{096F}' => '\u{0966}',
        '\u{FF10}'..='\u{FF19}' => '\u{FF10}',
        _ => return None,
    };
    Some(c as u32 - base as u32)
}

/// `StringComparators.AlphanumericComparator`.
fn alphanumeric(a: &str, b: &str) -> Ordering {
    if a.is_empty() || b.is_empty() {
        return (!a.is_empty()).cmp(&!b.is_empty());
    }
    let (mut x, mut y) = (a, b);
    while let (Some(cx), Some(cy)) = (x.chars().next(), y.chars().next()) {
        let result = match (digit_value(cx), digit_value(cy)) {
            (Some(_), Some(_)) => {
                let (rx, ry, ord) = compare_digit_runs(x, y);
                (x, y) = (rx, ry);
                ord
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => {
                let ((px, rx), (py, ry)) = (split_non_digits(x), split_non_digits(y));
                (x, y) = (rx, ry);
                case_insensitive(px, py)
            }
        };
        if result != Ordering::Equal {
            return result;
        }
    }
    // Java compares the lengths of the whole strings here.
    java_length(a).cmp(&java_length(b))
}

/// The run of non-digits at the start (at least one character) and what follows.
fn split_non_digits(s: &str) -> (&str, &str) {
    let end = s
        .char_indices()
        .skip(1)
        .find(|(_, c)| digit_value(*c).is_some())
        .map_or(s.len(), |(i, _)| i);
    s.split_at(end)
}

/// Compares the runs of digits at the start of both strings by value (leading zeros break
/// ties: fewer first); returns what follows each run.
fn compare_digit_runs<'a>(x: &'a str, y: &'a str) -> (&'a str, &'a str, Ordering) {
    let run = |s: &'a str| {
        let end = s
            .char_indices()
            .find(|(_, c)| digit_value(*c).is_none())
            .map_or(s.len(), |(i, _)| i);
        let (digits, rest) = s.split_at(end);
        let zeros = digits
            .chars()
            .take_while(|c| digit_value(*c) == Some(0))
            .count();
        let significant: Vec<u32> = digits.chars().skip(zeros).filter_map(digit_value).collect();
        (significant, zeros, rest)
    };
    let (dx, zx, rx) = run(x);
    let (dy, zy, ry) = run(y);
    let ord = dx
        .len()
        .cmp(&dy.len())
        .then_with(|| dx.cmp(&dy))
        .then_with(|| zx.cmp(&zy));
    (rx, ry, ord)
}

/// Java's `String.CASE_INSENSITIVE_ORDER`.
fn case_insensitive(a: &str, b: &str) -> Ordering {
    let fold = |c: char| {
        let up = single(c.to_uppercase()).unwrap_or(c);
        single(up.to_lowercase()).unwrap_or(up)
    };
    let mut ia = a.chars().map(fold);
    let mut ib = b.chars().map(fold);
    loop {
        match (ia.next(), ib.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => return x.cmp(&y),
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
        }
    }
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Mirrors Druid's StringComparatorsTest.
    #[test]
    fn orderings_sort_as_druids_string_comparators() {
        let lt = |o: StringOrdering, a: &str, b: &str| {
            assert_eq!(o.compare(a, b), Ordering::Less, "{o:?}: {a} < {b}");
            assert_eq!(o.compare(b, a), Ordering::Greater, "{o:?}: {b} > {a}");
        };
        lt(StringOrdering::Lexicographic, "10", "9");
        lt(StringOrdering::Lexicographic, "B", "a");
        lt(StringOrdering::Alphanumeric, "a2", "a10");
        lt(StringOrdering::Alphanumeric, "1", "a");
        lt(StringOrdering::Alphanumeric, "", "a");
        lt(StringOrdering::Alphanumeric, "a01", "a001");
        lt(StringOrdering::Alphanumeric, "abc1", "ABD1");
        lt(StringOrdering::Alphanumeric, "1.5", "1.50");
        lt(StringOrdering::Numeric, "9", "10");
        lt(StringOrdering::Numeric, "-1.5", "-1");
        lt(StringOrdering::Numeric, "abc", "-1000");
        lt(StringOrdering::Numeric, "abc", "abd");
        lt(StringOrdering::Numeric, "1e2", "1000");
        lt(StringOrdering::Strlen, "zz", "aaa");
        lt(StringOrdering::Strlen, "ab", "ac");
        assert_eq!(StringOrdering::Numeric.compare("1.0", "1"), Ordering::Equal);
    }

    #[test]
    fn orderings_read_both_json_forms() {
        assert_eq!(
            StringOrdering::from_json(&json!("Numeric")),
            Ok(StringOrdering::Numeric)
        );
        assert_eq!(
            StringOrdering::from_json(&json!({"type": "strlen"})),
            Ok(StringOrdering::Strlen)
        );
        assert!(StringOrdering::from_json(&json!("version"))
            .unwrap_err()
            .contains("not supported"));
        assert!(StringOrdering::from_json(&json!("sideways")).is_err());
    }
}
