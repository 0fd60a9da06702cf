//! Java's `String.compareTo` order on Rust strings.
//!
//! Druid sorts string dictionaries with `Comparators.naturalNullsFirst()` over `String`
//! (`GenericIndexed.STRING_STRATEGY`, `DictionaryMergingIterator.makePeekingComparator`,
//! `SortedDimensionDictionary`), and `FileSmoosher` keeps its `meta.smoosh` entries in a
//! `TreeMap<String, ..>`: all compare UTF-16 code units. That differs from Rust's byte (code point)
//! order only where a supplementary character (stored as a surrogate pair, 0xD800..0xDBFF first)
//! meets a BMP character at or above U+E000.

use std::cmp::Ordering;

/// Compares as `java.lang.String#compareTo` does: by UTF-16 code units.
pub fn compare_java(a: &str, b: &str) -> Ordering {
    // Equal prefixes are equal in both orders; decide on the first differing character.
    let mut ai = a.chars();
    let mut bi = b.chars();
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => return first_unit(x).cmp(&first_unit(y)).then(x.cmp(&y)),
        }
    }
}

/// Java's order with `null` first (`Comparators.naturalNullsFirst()`).
pub fn compare_java_nulls_first(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => compare_java(a, b),
    }
}

/// The first UTF-16 code unit of a character: itself in the BMP, else its high surrogate.
fn first_unit(c: char) -> u32 {
    let c = c as u32;
    if c < 0x10000 {
        c
    } else {
        0xD800 + ((c - 0x10000) >> 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn java_order(a: &str, b: &str) -> Ordering {
        a.encode_utf16().cmp(b.encode_utf16())
    }

    #[test]
    fn matches_utf16_order_where_code_point_order_differs() {
        // U+FF5E (BMP, above the surrogates) sorts after U+1F600 in code points, before it in UTF-16.
        let bmp_high = "\u{FF5E}";
        let supplementary = "\u{1F600}";
        assert_eq!(bmp_high.cmp(supplementary), Ordering::Less);
        assert_eq!(compare_java(bmp_high, supplementary), Ordering::Greater);
        let samples = [
            "",
            "a",
            "ab",
            "b",
            "Z",
            "\u{e9}",
            "\u{FFFF}",
            "\u{E000}",
            "\u{10000}",
            "\u{1F600}x",
            "\u{1F600}",
            "\u{D7FF}",
            "a\u{1F600}",
            "a\u{FF5E}",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(compare_java(a, b), java_order(a, b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn null_sorts_first() {
        assert_eq!(compare_java_nulls_first(None, Some("")), Ordering::Less);
        assert_eq!(compare_java_nulls_first(Some(""), None), Ordering::Greater);
        assert_eq!(compare_java_nulls_first(None, None), Ordering::Equal);
    }
}
