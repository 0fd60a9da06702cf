//! Newline-delimited JSON rows (Druid's `JsonLineReader`).
//!
//! The hot path: each line is parsed by a serde visitor straight into the row's
//! `(name, value)` list, with names interned, and no JSON tree. The list is the previous row's,
//! overwritten in place: a string value goes into the buffer of the string that stood there (or
//! one kept spare), so a reader handed its rows back allocates nothing per row. Only a
//! `flattenSpec` with fields to extract needs the document as a tree. JSON booleans become `"true"`/`"false"`,
//! nested objects their JSON text, arrays multi-values; null fields are dropped unless
//! `keepNullColumns` (Druid does not discover them either). A key given twice keeps its last
//! value, as Jackson's tree does.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::flatten::{json_to_value, FlattenSpec};
use super::names::Interner;
use crate::row::Value;

/// Spare string buffers kept between rows: enough for a row's worth of fields.
const MAX_SPARE_STRINGS: usize = 64;

/// Reads one JSON object per line.
#[derive(Debug, Clone)]
pub(crate) struct JsonLines {
    /// `None` when no field is extracted (the fast path).
    flatten: Option<FlattenSpec>,
    keep_nulls: bool,
    /// String buffers of fields the previous rows no longer had, for the next rows' strings.
    spare: Vec<String>,
}

/// A line that is not a JSON object; Druid says `Unable to parse row [...]`.
pub(crate) struct NotJson;

impl JsonLines {
    pub(crate) fn new(flatten: Option<&FlattenSpec>, keep_nulls: bool) -> JsonLines {
        JsonLines {
            flatten: flatten.filter(|f| !f.is_trivial()).cloned(),
            keep_nulls,
            spare: Vec::new(),
        }
    }

    /// Parses `line` into `out`, whose fields (a previous row's) are overwritten. With a
    /// flattenSpec that leaves the timestamp column out, `timestamp_column`'s root value is
    /// appended after the returned count of visible fields, so the timestamp spec can still
    /// read it.
    pub(crate) fn parse(
        &mut self,
        line: &[u8],
        names: &mut Interner,
        timestamp_column: &str,
        out: &mut Vec<(Arc<str>, Value)>,
    ) -> Result<usize, NotJson> {
        match &self.flatten {
            None => {
                // One UTF-8 check of the whole line (SIMD) is cheaper than one per string.
                let text = simdutf8::basic::from_utf8(line).map_err(|_| NotJson)?;
                let mut de = serde_json::Deserializer::from_str(text);
                let parsed = RowSeed {
                    names,
                    keep_nulls: self.keep_nulls,
                    out: &mut *out,
                    spare: &mut self.spare,
                }
                .deserialize(&mut de)
                .and_then(|()| de.end());
                if parsed.is_err() {
                    // What the failed line left behind is no row.
                    out.clear();
                    return Err(NotJson);
                }
                Ok(out.len())
            }
            Some(flatten) => {
                out.clear();
                let doc: Json = serde_json::from_slice(line).map_err(|_| NotJson)?;
                if !doc.is_object() {
                    return Err(NotJson);
                }
                flatten.flatten(&doc, self.keep_nulls, &mut |k| names.get(k), out);
                let visible = out.len();
                if !out.iter().any(|(n, _)| **n == *timestamp_column) {
                    if let Some(root) = doc.get(timestamp_column) {
                        out.push((names.get(timestamp_column), json_to_value(root)));
                    }
                }
                Ok(visible)
            }
        }
    }
}

/// Fills the row from a JSON object, over the fields already in `out`.
struct RowSeed<'a> {
    names: &'a mut Interner,
    keep_nulls: bool,
    out: &'a mut Vec<(Arc<str>, Value)>,
    spare: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (out, spare) = (self.out, self.spare);
        // Fields of this row so far: the front of `out`; the rest is the previous row's.
        let mut kept = 0;
        let mut position = 0;
        while let Some(name) = map.next_key_seed(KeySeed {
            names: self.names,
            position,
        })? {
            position += 1;
            // Interned names are equal exactly when they are the same allocation.
            if let Some(slot) = out[..kept].iter_mut().find(|(n, _)| Arc::ptr_eq(n, &name)) {
                slot.1 = map.next_value_seed(ValueSeed)?;
                continue;
            }
            if kept == out.len() {
                let buffer = spare.pop().map_or(Value::Null, Value::String);
                out.push((name, buffer));
            } else if !Arc::ptr_eq(&out[kept].0, &name) {
                out[kept].0 = name;
            }
            let slot = &mut out[kept].1;
            match map.next_value_seed(InPlace { slot, spare })? {
                Filled::Value => kept += 1,
                // The slot keeps its buffer for the next field.
                Filled::Null if self.keep_nulls => {
                    out[kept].1 = Value::Null;
                    kept += 1;
                }
                Filled::Null => {}
            }
        }
        for (_, value) in out.drain(kept..) {
            if let Value::String(buffer) = value {
                if spare.len() < MAX_SPARE_STRINGS {
                    spare.push(buffer);
                }
            }
        }
        if !self.keep_nulls {
            // A duplicate key may have set a kept field to null.
            out.retain(|(_, v)| !v.is_null());
        }
        Ok(())
    }
}

/// A field name, interned.
struct KeySeed<'a> {
    names: &'a mut Interner,
    position: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Arc<str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Arc<str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Arc<str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Arc<str>, E> {
        Ok(self.names.at(self.position, name))
    }
}

/// Whether a value was written into its slot or was null (the slot left as it was).
enum Filled {
    Value,
    Null,
}

/// A field value written over the slot's previous value, reusing its string buffer (or a
/// spare one) for a string.
struct InPlace<'a> {
    slot: &'a mut Value,
    spare: &'a mut Vec<String>,
}

impl InPlace<'_> {
    fn set(self, value: Value) -> Filled {
        if let Value::String(old) = std::mem::replace(self.slot, value) {
            if self.spare.len() < MAX_SPARE_STRINGS {
                self.spare.push(old);
            }
        }
        Filled::Value
    }

    fn set_str(self, text: &str) -> Filled {
        if let Value::String(buffer) = self.slot {
            buffer.clear();
            buffer.push_str(text);
            return Filled::Value;
        }
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        buffer.push_str(text);
        *self.slot = Value::String(buffer);
        Filled::Value
    }
}

impl<'de> DeserializeSeed<'de> for InPlace<'_> {
    type Value = Filled;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Filled, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for InPlace<'_> {
    type Value = Filled;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Filled, E> {
        Ok(self.set_str(if b { "true" } else { "false" }))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Filled, E> {
        Ok(self.set(Value::Long(n)))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Filled, E> {
        Ok(self.set(unsigned(n)))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Filled, E> {
        Ok(self.set(Value::Double(n)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Filled, E> {
        Ok(self.set_str(s))
    }

    fn visit_unit<E>(self) -> Result<Filled, E> {
        Ok(Filled::Null)
    }

    fn visit_none<E>(self) -> Result<Filled, E> {
        Ok(Filled::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Filled, A::Error> {
        Ok(self.set(ValueVisitor.visit_seq(seq)?))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Filled, A::Error> {
        Ok(self.set(ValueVisitor.visit_map(map)?))
    }
}

/// An unsigned JSON number: a long when it fits, else a double.
fn unsigned(n: u64) -> Value {
    i64::try_from(n).map_or(Value::Double(n as f64), Value::Long)
}

/// A field value as a row holds it.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::String(if b { "true" } else { "false" }.to_string()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Long(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(unsigned(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Double(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element_seed(ValueSeed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let object: Json =
            serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Value::String(object.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(lines: &mut JsonLines, line: &str) -> Option<Vec<(Arc<str>, Value)>> {
        let mut out = Vec::new();
        let mut names = Interner::default();
        let visible = lines
            .parse(line.as_bytes(), &mut names, "timestamp", &mut out)
            .ok()?;
        out.truncate(visible);
        Some(out)
    }

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    #[test]
    fn values_become_row_values() {
        let mut fast = JsonLines::new(None, false);
        let row = parse(
            &mut fast,
            r#"{"s":"x\"y","i":-3,"big":18446744073709551615,"d":1.5,"t":true,"n":null,
                "arr":[1,"a",[2],{"k":1}],"obj":{"a": [1, 2]},"s":"again"}"#,
        )
        .unwrap();
        assert_eq!(
            row,
            vec![
                ("s".into(), s("again")),
                ("i".into(), Value::Long(-3)),
                ("big".into(), Value::Double(18446744073709551615.0)),
                ("d".into(), Value::Double(1.5)),
                ("t".into(), s("true")),
                (
                    "arr".into(),
                    Value::Array(vec![
                        Value::Long(1),
                        s("a"),
                        Value::Array(vec![Value::Long(2)]),
                        s(r#"{"k":1}"#)
                    ])
                ),
                ("obj".into(), s(r#"{"a":[1,2]}"#)),
            ]
        );
        let mut keep = JsonLines::new(None, true);
        assert_eq!(
            parse(&mut keep, r#"{"n":null}"#).unwrap(),
            vec![("n".into(), Value::Null)]
        );
    }

    #[test]
    fn a_row_parsed_over_the_previous_one_reuses_its_string_buffers() {
        let mut lines = JsonLines::new(None, false);
        let mut names = Interner::default();
        let mut out = Vec::new();
        let mut parse = |lines: &mut JsonLines, out: &mut Vec<_>, line: &str| {
            let n = lines.parse(line.as_bytes(), &mut names, "t", out).ok()?;
            out.truncate(n);
            Some(out.clone())
        };
        let first = parse(
            &mut lines,
            &mut out,
            r#"{"a":"long enough text","b":"x","c":1}"#,
        );
        assert_eq!(
            first.unwrap(),
            vec![
                ("a".into(), s("long enough text")),
                ("b".into(), s("x")),
                ("c".into(), Value::Long(1))
            ]
        );
        let Value::String(a) = &out[0].1 else {
            panic!()
        };
        let buffer = a.as_ptr();
        // A null field leaves no trace, a string lands where a number stood, the last field
        // goes: the row is exactly this line's.
        let second = parse(
            &mut lines,
            &mut out,
            r#"{"a":"short","n":null,"c":"now text"}"#,
        );
        assert_eq!(
            second.unwrap(),
            vec![("a".into(), s("short")), ("c".into(), s("now text"))]
        );
        let Value::String(a) = &out[0].1 else {
            panic!()
        };
        assert_eq!(a.as_ptr(), buffer, "the first field's buffer is reused");
        // A failed line leaves no row behind; the next one parses cleanly.
        assert!(parse(&mut lines, &mut out, r#"{"a":"x","b":"#).is_none());
        assert!(out.is_empty());
        let dup = parse(&mut lines, &mut out, r#"{"a":"1","b":2,"a":null,"c":[1]}"#);
        assert_eq!(
            dup.unwrap(),
            vec![
                ("b".into(), Value::Long(2)),
                ("c".into(), Value::Array(vec![Value::Long(1)]))
            ]
        );
        let mut keep = JsonLines::new(None, true);
        let mut out = vec![("x".into(), s("stale"))];
        let n = keep
            .parse(
                br#"{"a":null,"b":"y"}"#,
                &mut Interner::default(),
                "t",
                &mut out,
            )
            .ok()
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(out, vec![("a".into(), Value::Null), ("b".into(), s("y"))]);
    }

    #[test]
    fn bad_lines_are_syntax_errors() {
        let mut fast = JsonLines::new(None, false);
        for bad in ["", "   ", "{", "[1,2]", "5", r#"{"a":1} x"#, r#"{"a":tru}"#] {
            assert!(parse(&mut fast, bad).is_none(), "{bad}");
        }
        let flat = FlattenSpec::from_json(
            &json!({"fields": [{"type": "path", "name": "x", "expr": "$.a"}]}),
        )
        .unwrap();
        assert!(parse(&mut JsonLines::new(Some(&flat), true), "[1]").is_none());
    }

    #[test]
    fn a_flatten_spec_without_discovery_still_lets_the_timestamp_be_read() {
        let flat = FlattenSpec::from_json(&json!({"useFieldDiscovery": false,
            "fields": [{"type": "path", "name": "x", "expr": "$.a.b"}]}))
        .unwrap();
        let mut lines = JsonLines::new(Some(&flat), false);
        let mut out = Vec::new();
        let visible = lines
            .parse(
                br#"{"timestamp":"2015-09-12","a":{"b":"c"},"other":1}"#,
                &mut Interner::default(),
                "timestamp",
                &mut out,
            )
            .ok()
            .unwrap();
        assert_eq!(visible, 1);
        assert_eq!(out[0], ("x".into(), s("c")));
        assert_eq!(out[1], ("timestamp".into(), s("2015-09-12")));
    }
}
