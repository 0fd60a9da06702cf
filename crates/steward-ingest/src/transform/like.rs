//! SQL `LIKE` patterns, for the `like` filter and the `like()` function (Druid's
//! `LikeDimFilter.LikeMatcher`).
//!
//! `%` matches any run of characters, `_` exactly one, the escape character makes the next
//! character literal. Druid compiles the pattern into regular expressions; here it is cut at
//! each `%` into segments that are matched in order, leftmost first, which finds a match
//! whenever there is one without backtracking. One difference: `_` matches one Unicode
//! character where Java matches one UTF-16 unit (they differ only past the Basic
//! Multilingual Plane).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyOne,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LikeMatcher {
    /// The pattern cut at each unescaped `%`; one segment means there is no `%`.
    segments: Vec<Vec<Token>>,
}

impl LikeMatcher {
    pub(crate) fn new(pattern: &str, escape: Option<char>) -> LikeMatcher {
        let mut segments = vec![Vec::new()];
        let mut escaping = false;
        for c in pattern.chars() {
            let current = segments.last_mut().expect("never empty");
            if escape == Some(c) && !escaping {
                escaping = true;
            } else if c == '%' && !escaping {
                segments.push(Vec::new());
            } else if c == '_' && !escaping {
                current.push(Token::AnyOne);
            } else {
                current.push(Token::Char(c));
                escaping = false;
            }
        }
        LikeMatcher { segments }
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        let (first, rest) = self.segments.split_first().expect("never empty");
        let Some(mut pos) = match_at(first, s, 0) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return pos == s.len();
        };
        // The last segment is anchored at the end: it starts `last.len()` characters back.
        let Some(last_start) = nth_char_from_end(s, last.len()) else {
            return false;
        };
        if last_start < pos || match_at(last, s, last_start).is_none() {
            return false;
        }
        for segment in middle {
            let found = s[pos..last_start]
                .char_indices()
                .map(|(i, _)| pos + i)
                .chain(std::iter::once(last_start))
                .find_map(|start| match_at(segment, s, start).filter(|end| *end <= last_start));
            match found {
                Some(end) => pos = end,
                None => return false,
            }
        }
        true
    }
}

/// Matches `tokens` at byte `start`; the byte where the match ends.
fn match_at(tokens: &[Token], s: &str, start: usize) -> Option<usize> {
    let mut chars = s[start..].char_indices();
    for token in tokens {
        let (_, c) = chars.next()?;
        if let Token::Char(want) = token {
            if *want != c {
                return None;
            }
        }
    }
    Some(chars.next().map_or(s.len(), |(i, _)| start + i))
}

/// The byte index `n` characters before the end.
fn nth_char_from_end(s: &str, n: usize) -> Option<usize> {
    if n == 0 {
        return Some(s.len());
    }
    s.char_indices().rev().nth(n - 1).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Mirrors Druid's LikeDimFilterTest / LikeFilterTest cases.
    #[test]
    fn like_patterns_match_as_sql_like() {
        let yes = |p: &str, s: &str| assert!(LikeMatcher::new(p, None).matches(s), "{p} ~ {s}");
        let no = |p: &str, s: &str| assert!(!LikeMatcher::new(p, None).matches(s), "{p} !~ {s}");
        yes("", "");
        no("", "a");
        yes("abc", "abc");
        no("abc", "abcd");
        yes("a%", "abc");
        yes("a%", "a");
        no("a%", "ba");
        yes("%c", "abc");
        no("%c", "cb");
        yes("%b%", "abc");
        yes("%", "");
        yes("%%", "x");
        yes("a_c", "abc");
        no("a_c", "ac");
        yes("_", "é");
        yes("%a%b%c", "xxaxxbxxc");
        no("%a%b%c", "xxbxxaxxc");
        yes("a%b%a", "aba");
        no("a%a", "a");
        yes("%ab%ab", "abab");
        yes("a\nb%", "a\nbc");
        yes("%_b", "ab");
        no("%_b", "b");
    }

    #[test]
    fn the_escape_character_makes_wildcards_literal() {
        let m = LikeMatcher::new("100\\%", Some('\\'));
        assert!(m.matches("100%"));
        assert!(!m.matches("1000"));
        let m = LikeMatcher::new("a!_b%", Some('!'));
        assert!(m.matches("a_bcd"));
        assert!(!m.matches("axb"));
        let m = LikeMatcher::new("a!!%", Some('!'));
        assert!(m.matches("a!xyz"));
    }
}
