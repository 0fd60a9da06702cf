//! The timestamp spec: which field holds a row's time, and how to read it.
//!
//! Placeholder with the public surface the expression functions rely on; the spec work
//! replaces it.

/// Reads an ISO-8601 date or date-time the way Druid's `auto` format reads strings
/// (`2015-09-12`, `2015-09-12T00:46:58.771Z`, offsets, a space for `T`). Milliseconds UTC.
pub fn parse_iso(text: &str) -> Option<i64> {
    let _ = text;
    None
}
