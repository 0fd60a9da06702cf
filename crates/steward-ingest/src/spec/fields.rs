//! Typed reading of a spec's JSON objects, with every error naming the field it is about.
//!
//! Druid's Jackson ignores unknown properties and treats `null` as absent; a value of the wrong
//! JSON type is an error that names the property. The spec is read object by object with
//! [`Obj`], and typed values (including the dimension, metric and transform specs other modules
//! define) go through `serde_path_to_error`, so a nested mistake still gets its full path
//! (`metricsSpec[2].fieldName`).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::SpecError;

/// Joins a parent path and a child path: `a` + `b.c` is `a.b.c`, `a` + `[0].b` is `a[0].b`.
pub(crate) fn join(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty()) {
        (true, _) => child.to_string(),
        (_, true) => parent.to_string(),
        _ if child.starts_with('[') => format!("{parent}{child}"),
        _ => format!("{parent}.{child}"),
    }
}

/// The same error seen from `parent`.
pub(crate) fn within(err: SpecError, parent: &str) -> SpecError {
    SpecError::new(join(parent, &err.path), err.message)
}

/// A JSON object whose fields are read with paths; `null` reads as an empty object.
pub(crate) struct Obj<'a> {
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Obj<'a> {
    /// `what` names the expected object in the error for a non-object.
    pub(crate) fn new(value: &'a Value, what: &str) -> Result<Obj<'a>, SpecError> {
        match value {
            Value::Null => Ok(Obj { map: None }),
            Value::Object(map) => Ok(Obj { map: Some(map) }),
            other => Err(SpecError::new(
                "",
                format!("Expected {what} as a JSON object, not {}", kind(other)),
            )),
        }
    }

    pub(crate) fn optional(value: Option<&'a Value>, what: &str) -> Result<Obj<'a>, SpecError> {
        match value {
            None => Ok(Obj { map: None }),
            Some(v) => Obj::new(v, what),
        }
    }

    /// The field, `None` if absent or `null`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map?.get(key).filter(|v| !v.is_null())
    }

    /// Reads the field as `T`; errors carry the field's path.
    pub(crate) fn typed<T: Deserialize<'a>>(&self, key: &str) -> Result<Option<T>, SpecError> {
        self.get(key)
            .map(|v| typed_value(v).map_err(|e| within(e, key)))
            .transpose()
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<&'a str>, SpecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(SpecError::new(
                key,
                format!("Expected a string, not {}", kind(other)),
            )),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, SpecError> {
        self.typed(key)
    }

    /// The `type` property of a polymorphic object, or `default` when it has none.
    pub(crate) fn type_name(&self, default: Option<&'a str>) -> Result<&'a str, SpecError> {
        self.string("type")?.or(default).ok_or_else(|| {
            SpecError::new("type", "Missing type id: the property 'type' is required")
        })
    }
}

/// Reads any JSON value as `T`, the error's path relative to the value.
pub(crate) fn typed_value<'a, T: Deserialize<'a>>(value: &'a Value) -> Result<T, SpecError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = String::new();
        for segment in e.path().iter() {
            let part = match segment {
                serde_path_to_error::Segment::Seq { index } => format!("[{index}]"),
                serde_path_to_error::Segment::Map { key } => key.clone(),
                serde_path_to_error::Segment::Enum { variant } => variant.clone(),
                serde_path_to_error::Segment::Unknown => "?".to_string(),
            };
            path = join(&path, &part);
        }
        SpecError::new(path, e.into_inner().to_string())
    })
}

/// The JSON type of a value, as an error message names it.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_join_fields_and_indexes() {
        assert_eq!(join("spec", "dataSchema.x"), "spec.dataSchema.x");
        assert_eq!(join("metricsSpec", "[2].name"), "metricsSpec[2].name");
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", ""), "a");
    }

    #[test]
    fn typed_fields_name_the_nested_path() {
        let v = json!({"xs": [{"n": 1}, {"n": "two"}], "s": 3, "skip": null});
        let obj = Obj::new(&v, "a test").unwrap();
        #[derive(Deserialize, Debug)]
        struct N {
            #[allow(dead_code)]
            n: i32,
        }
        let err = obj.typed::<Vec<N>>("xs").unwrap_err();
        assert_eq!(err.path, "xs[1].n");
        assert!(err.message.contains("invalid type"), "{}", err.message);
        assert_eq!(obj.string("s").unwrap_err().path, "s");
        assert_eq!(obj.string("skip").unwrap(), None);
        assert!(Obj::new(&json!([1]), "a test").is_err());
    }
}
