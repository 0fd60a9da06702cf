//! The `flattenSpec` of nested formats (JSON, Parquet): named fields pulled out of nested data.
//!
//! Druid's `JSONPathSpec`: `useFieldDiscovery` (default true) keeps the document's root fields
//! as well, and each field is `root` (a root field, renamed), `path` (a JSONPath expression),
//! or `tree` (a list of keys to descend). Extracted fields come first and win over root fields
//! of the same name. The JSONPath subset is what Druid specs use: `$`, `.name`, `['name']`,
//! `[n]` (negative counts from the end), `[*]` and `.*`; as in Jayway JsonPath with exceptions
//! suppressed, a definite path that misses is null, and a path with a wildcard gives the list
//! of what it matched. `jq` fields and other JSONPath syntax (filters, functions, `..`) are
//! refused at submit.

use std::sync::Arc;

use serde_json::Value as Json;

use crate::row::Value;
use crate::spec::fields::{within, Obj};
use crate::SpecError;

#[derive(Debug, Clone, PartialEq)]
pub struct FlattenSpec {
    pub use_field_discovery: bool,
    pub fields: Vec<FlattenField>,
}

impl Default for FlattenSpec {
    fn default() -> Self {
        FlattenSpec {
            use_field_discovery: true,
            fields: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlattenField {
    pub name: Arc<str>,
    pub extractor: Extractor,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Extractor {
    /// A root field by name.
    Root(String),
    Path(JsonPath),
    /// Keys to descend, one per level.
    Tree(Vec<String>),
}

impl FlattenSpec {
    /// Reads a `flattenSpec`; error paths are relative to it.
    pub fn from_json(v: &Json) -> Result<FlattenSpec, SpecError> {
        let obj = Obj::new(v, "a flattenSpec")?;
        let use_field_discovery = obj.bool("useFieldDiscovery")?.unwrap_or(true);
        let mut fields: Vec<FlattenField> = Vec::new();
        if let Some(list) = obj.get("fields") {
            let items = list
                .as_array()
                .ok_or_else(|| SpecError::new("fields", "Expected a list of field specs"))?;
            for (i, item) in items.iter().enumerate() {
                let field = FlattenField::from_json(item)
                    .map_err(|e| within(e, &format!("fields[{i}]")))?;
                if fields.iter().any(|f| f.name == field.name) {
                    return Err(SpecError::new(
                        format!("fields[{i}].name"),
                        format!("Cannot have duplicate field definition: {}", field.name),
                    ));
                }
                fields.push(field);
            }
        }
        Ok(FlattenSpec {
            use_field_discovery,
            fields,
        })
    }

    /// Whether rows can be read without building a document tree: no field to extract.
    pub(crate) fn is_trivial(&self) -> bool {
        self.fields.is_empty() && self.use_field_discovery
    }

    /// The fields of `doc`: extracted ones, then (with discovery) the root fields not already
    /// extracted. `intern` hands out the shared name of a root field.
    pub(crate) fn flatten(
        &self,
        doc: &Json,
        keep_nulls: bool,
        intern: &mut dyn FnMut(&str) -> Arc<str>,
        out: &mut Vec<(Arc<str>, Value)>,
    ) {
        for field in &self.fields {
            let value = match &field.extractor {
                Extractor::Root(key) => doc.get(key).map_or(Value::Null, json_to_value),
                Extractor::Path(path) => path.read(doc),
                Extractor::Tree(keys) => keys
                    .iter()
                    .try_fold(doc, |node, key| node.get(key))
                    .map_or(Value::Null, json_to_value),
            };
            out.push((field.name.clone(), value));
        }
        if !self.use_field_discovery {
            return;
        }
        if let Json::Object(map) = doc {
            for (key, value) in map {
                if (keep_nulls || !value.is_null()) && !self.fields.iter().any(|f| *f.name == **key)
                {
                    out.push((intern(key), json_to_value(value)));
                }
            }
        }
    }
}

impl FlattenField {
    fn from_json(v: &Json) -> Result<FlattenField, SpecError> {
        let obj = Obj::new(v, "a flattenSpec field")?;
        let name = obj
            .string("name")?
            .ok_or_else(|| SpecError::new("name", "Missing 'name' in field spec"))?;
        let expr = obj.string("expr")?;
        let extractor = match obj.type_name(None)?.to_ascii_lowercase().as_str() {
            "root" => Extractor::Root(expr.unwrap_or(name).to_string()),
            "path" => {
                let expr = expr.ok_or_else(|| {
                    SpecError::new("expr", format!("Missing 'expr' for field[{name}]"))
                })?;
                Extractor::Path(JsonPath::compile(expr).map_err(|e| SpecError::new("expr", e))?)
            }
            "tree" => {
                let nodes: Vec<String> = obj.typed("nodes")?.unwrap_or_default();
                if nodes.is_empty() {
                    return Err(SpecError::new(
                        "nodes",
                        format!("Missing 'nodes' for field[{name}], was [{nodes:?}]"),
                    ));
                }
                Extractor::Tree(nodes)
            }
            "jq" => {
                return Err(SpecError::new(
                    "type",
                    "flattenSpec fields of type [jq] are not supported yet; use [path] with a JSONPath expression",
                ))
            }
            other => {
                return Err(SpecError::new(
                    "type",
                    format!("Unknown flattenSpec field type [{other}]: expected root, path, tree or jq"),
                ))
            }
        };
        Ok(FlattenField {
            name: Arc::from(name),
            extractor,
        })
    }
}

/// A compiled JSONPath expression of the supported subset.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
    Wildcard,
}

impl JsonPath {
    pub fn compile(expr: &str) -> Result<JsonPath, String> {
        let unsupported = |what: &str| {
            format!("JSONPath expression [{expr}]: {what} is not supported yet; use $.a.b, $['a'], $.a[0] or $.a[*].b")
        };
        let chars: Vec<char> = expr.trim().chars().collect();
        if chars.first() != Some(&'$') {
            return Err(format!("JSONPath expression [{expr}] must start with $"));
        }
        let mut steps = Vec::new();
        let mut i = 1;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    if chars.get(i) == Some(&'.') {
                        return Err(unsupported("deep scan (..)"));
                    }
                    if chars.get(i) == Some(&'*') {
                        steps.push(Step::Wildcard);
                        i += 1;
                        continue;
                    }
                    let start = i;
                    while i < chars.len() && !matches!(chars[i], '.' | '[') {
                        i += 1;
                    }
                    let key: String = chars[start..i].iter().collect();
                    if key.is_empty() {
                        return Err(format!("JSONPath expression [{expr}] has an empty key"));
                    }
                    if key.ends_with(')') {
                        return Err(unsupported("a function"));
                    }
                    steps.push(Step::Key(key));
                }
                '[' => {
                    let close = chars[i..]
                        .iter()
                        .position(|c| *c == ']')
                        .map(|p| i + p)
                        .ok_or_else(|| format!("JSONPath expression [{expr}] has an unclosed ["))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    let inner = inner.trim();
                    let quoted = |q: char| {
                        inner
                            .strip_prefix(q)
                            .and_then(|s| s.strip_suffix(q))
                            .filter(|s| !s.contains(q))
                    };
                    if inner == "*" {
                        steps.push(Step::Wildcard);
                    } else if let Some(key) = quoted('\'').or_else(|| quoted('"')) {
                        steps.push(Step::Key(key.to_string()));
                    } else if let Ok(index) = inner.parse::<i64>() {
                        steps.push(Step::Index(index));
                    } else {
                        return Err(unsupported(&format!("the selector [{inner}]")));
                    }
                    i = close + 1;
                }
                other => {
                    return Err(format!(
                        "JSONPath expression [{expr}] has an unexpected [{other}]"
                    ))
                }
            }
        }
        Ok(JsonPath { steps })
    }

    fn is_definite(&self) -> bool {
        !self.steps.contains(&Step::Wildcard)
    }

    /// The value at this path: null if a definite path misses, the list of matches otherwise.
    pub fn read(&self, doc: &Json) -> Value {
        let mut matches = Vec::new();
        collect(doc, &self.steps, &mut matches);
        if self.is_definite() {
            matches.first().map_or(Value::Null, |v| json_to_value(v))
        } else {
            Value::Array(matches.into_iter().map(json_to_value).collect())
        }
    }
}

fn collect<'a>(node: &'a Json, steps: &[Step], out: &mut Vec<&'a Json>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(node);
        return;
    };
    match (step, node) {
        (Step::Key(key), Json::Object(map)) => {
            if let Some(child) = map.get(key) {
                collect(child, rest, out);
            }
        }
        (Step::Index(index), Json::Array(items)) => {
            let at = if *index < 0 {
                items.len() as i64 + index
            } else {
                *index
            };
            if let Some(child) = usize::try_from(at).ok().and_then(|at| items.get(at)) {
                collect(child, rest, out);
            }
        }
        (Step::Wildcard, Json::Array(items)) => {
            for child in items {
                collect(child, rest, out);
            }
        }
        (Step::Wildcard, Json::Object(map)) => {
            for child in map.values() {
                collect(child, rest, out);
            }
        }
        _ => {}
    }
}

/// A JSON value as a row holds it: booleans as `"true"`/`"false"`, whole numbers that fit as
/// longs, other numbers as doubles, arrays as multi-values, objects as their JSON text.
pub(crate) fn json_to_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::String(if *b { "true" } else { "false" }.to_string()),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Long(i),
            None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(json_to_value).collect()),
        Json::Object(_) => Value::String(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    #[test]
    fn jsonpath_subset_reads_as_jayway() {
        let doc = json!({"a": {"b": 1, "list": [{"x": "p"}, {"x": "q"}, {"y": 0}]},
                         "odd key": true, "arr": [10, 20, 30]});
        let read = |expr: &str| JsonPath::compile(expr).unwrap().read(&doc);
        assert_eq!(read("$.a.b"), Value::Long(1));
        assert_eq!(read("$['odd key']"), s("true"));
        assert_eq!(read("$[\"a\"]['b']"), Value::Long(1));
        assert_eq!(read("$.arr[1]"), Value::Long(20));
        assert_eq!(read("$.arr[-1]"), Value::Long(30));
        assert_eq!(read("$.a.list[*].x"), Value::Array(vec![s("p"), s("q")]));
        assert_eq!(read("$.a.missing"), Value::Null);
        assert_eq!(read("$.arr[7]"), Value::Null);
        assert_eq!(read("$.a.list[0]"), s("{\"x\":\"p\"}"));
        assert_eq!(
            read("$.arr.*"),
            Value::Array(vec![Value::Long(10), Value::Long(20), Value::Long(30)])
        );
        for bad in [
            "a.b",
            "$..b",
            "$.a.length()",
            "$.a[?(@.x)]",
            "$.a[",
            "$.a..b",
        ] {
            assert!(JsonPath::compile(bad).is_err(), "{bad}");
        }
    }

    // Druid's JSONPathSpec/ObjectFlatteners: extracted fields first, then discovered roots.
    #[test]
    fn flatten_extracts_then_discovers() {
        let spec = FlattenSpec::from_json(&json!({"fields": [
            {"type": "path", "name": "path_b", "expr": "$.a.b"},
            {"type": "root", "name": "renamed", "expr": "top"},
            {"type": "tree", "name": "tree_b", "nodes": ["a", "b"]},
            {"type": "root", "name": "top"}
        ]}))
        .unwrap();
        let doc = json!({"top": "t", "a": {"b": 2}, "n": null, "flag": false});
        let mut out = Vec::new();
        spec.flatten(&doc, false, &mut |k| Arc::from(k), &mut out);
        let names: Vec<&str> = out.iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, ["path_b", "renamed", "tree_b", "top", "a", "flag"]);
        assert_eq!(out[0].1, Value::Long(2));
        assert_eq!(out[4].1, s("{\"b\":2}"));
        assert_eq!(out[5].1, s("false"));
        let mut kept = Vec::new();
        spec.flatten(&doc, true, &mut |k| Arc::from(k), &mut kept);
        assert!(kept.iter().any(|(n, v)| &**n == "n" && v.is_null()));
        let closed = FlattenSpec::from_json(&json!({"useFieldDiscovery": false,
            "fields": [{"type": "path", "name": "b", "expr": "$.a.b"}]}))
        .unwrap();
        let mut only = Vec::new();
        closed.flatten(&doc, false, &mut |k| Arc::from(k), &mut only);
        assert_eq!(only, vec![(Arc::from("b"), Value::Long(2))]);
    }

    #[test]
    fn bad_field_specs_name_the_field() {
        for (spec, path, message) in [
            (
                json!({"fields": [{"type": "jq", "name": "x", "expr": ".a"}]}),
                "fields[0].type",
                "not supported yet",
            ),
            (
                json!({"fields": [{"type": "path", "name": "x"}]}),
                "fields[0].expr",
                "Missing 'expr' for field[x]",
            ),
            (
                json!({"fields": [{"type": "path", "name": "x", "expr": "$..a"}]}),
                "fields[0].expr",
                "deep scan",
            ),
            (
                json!({"fields": [{"type": "tree", "name": "x", "nodes": []}]}),
                "fields[0].nodes",
                "Missing 'nodes'",
            ),
            (
                json!({"fields": [{"type": "root"}]}),
                "fields[0].name",
                "Missing 'name'",
            ),
            (
                json!({"fields": [{"type": "root", "name": "a"}, {"type": "root", "name": "a"}]}),
                "fields[1].name",
                "Cannot have duplicate field definition: a",
            ),
            (
                json!({"useFieldDiscovery": "yes"}),
                "useFieldDiscovery",
                "invalid type",
            ),
        ] {
            let err = FlattenSpec::from_json(&spec).unwrap_err();
            assert_eq!(err.path, path, "{spec}");
            assert!(err.message.contains(message), "{spec}: {}", err.message);
        }
    }
}
