//! The dimensions spec: which input fields become dimensions, and their types.
//!
//! Druid's `DimensionsSpec` and `DimensionSchema` with the same JSON. A dimension is listed as a
//! bare name (a string dimension) or as an object with `type` `string`, `long`, `float` or
//! `double`; the nested (`json`, `auto`) and `spatial` types are refused as not supported yet.
//! When no dimension is listed, or `includeAllDimensions` is set, dimensions are discovered from
//! the rows ("schemaless"), every discovered one a string dimension, as Druid does without
//! `useSchemaDiscovery`. [`DimensionsSpec::resolve`] computes what the rollup index needs: the
//! fixed list and, when discovering, the fields that never become dimensions (Druid's
//! `DataSchema.computeDimensionsSpec` adds the timestamp column, the aggregators' input fields and
//! their output names to the exclusions).

use std::collections::HashSet;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::aggregate::AggregatorFactory;
use crate::row::TIME_COLUMN;
use crate::SpecError;

/// The type of a dimension column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DimensionType {
    String,
    Long,
    Float,
    Double,
}

impl DimensionType {
    /// Druid's type name, as in the spec and in column descriptors.
    pub fn name(self) -> &'static str {
        match self {
            DimensionType::String => "string",
            DimensionType::Long => "long",
            DimensionType::Float => "float",
            DimensionType::Double => "double",
        }
    }
}

/// How a string dimension stores a multi-value field (Druid's `MultiValueHandling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MultiValueHandling {
    /// Sorted, duplicates kept (Druid's default).
    #[default]
    SortedArray,
    /// Sorted and de-duplicated.
    SortedSet,
    /// As given.
    Array,
}

impl MultiValueHandling {
    pub fn name(self) -> &'static str {
        match self {
            MultiValueHandling::SortedArray => "SORTED_ARRAY",
            MultiValueHandling::SortedSet => "SORTED_SET",
            MultiValueHandling::Array => "ARRAY",
        }
    }

    /// Reads a name in any case, as Druid's `MultiValueHandling.fromString` does.
    pub fn from_name(name: &str) -> Option<MultiValueHandling> {
        [
            MultiValueHandling::SortedArray,
            MultiValueHandling::SortedSet,
            MultiValueHandling::Array,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// One dimension: Druid's `DimensionSchema` (string, long, float or double).
#[derive(Debug, Clone, PartialEq)]
pub struct DimensionSchema {
    pub name: String,
    pub kind: DimensionType,
    /// Meaningful for string dimensions only; numeric ones keep Druid's default.
    pub multi_value_handling: MultiValueHandling,
    /// Whether the string column gets bitmap indexes; always false for numeric dimensions.
    pub create_bitmap_index: bool,
}

impl DimensionSchema {
    /// A string dimension with Druid's defaults, as a bare name in the spec means.
    pub fn string(name: impl Into<String>) -> DimensionSchema {
        DimensionSchema {
            name: name.into(),
            kind: DimensionType::String,
            multi_value_handling: MultiValueHandling::default(),
            create_bitmap_index: true,
        }
    }

    /// A numeric dimension (Druid's `LongDimensionSchema` and its kin: no bitmap index).
    pub fn numeric(name: impl Into<String>, kind: DimensionType) -> DimensionSchema {
        DimensionSchema {
            name: name.into(),
            kind,
            multi_value_handling: MultiValueHandling::default(),
            create_bitmap_index: kind == DimensionType::String,
        }
    }
}

/// The JSON object form of a dimension, before its type is checked.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DimensionObject {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    multi_value_handling: Option<String>,
    #[serde(default)]
    create_bitmap_index: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DimensionJson {
    Name(String),
    Object(DimensionObject),
}

impl<'de> Deserialize<'de> for DimensionSchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = match DimensionJson::deserialize(deserializer).map_err(|_| {
            D::Error::custom("a dimension must be a name or an object with \"type\" and \"name\"")
        })? {
            DimensionJson::Name(name) => return Ok(DimensionSchema::string(name)),
            DimensionJson::Object(object) => object,
        };
        let name = object.name.unwrap_or_default();
        let kind = match object.kind.as_deref().unwrap_or("string") {
            "string" => DimensionType::String,
            "long" => DimensionType::Long,
            "float" => DimensionType::Float,
            "double" => DimensionType::Double,
            unsupported @ ("json" | "auto" | "spatial") => {
                return Err(D::Error::custom(format!(
                    "dimension [{name}] has type [{unsupported}], which is not supported yet \
                     (supported: string, long, float, double)"
                )))
            }
            unknown => {
                return Err(D::Error::custom(format!(
                    "dimension [{name}] has unknown type [{unknown}] \
                     (known: string, long, float, double, json, auto, spatial)"
                )))
            }
        };
        let multi_value_handling = match object.multi_value_handling.as_deref() {
            None => MultiValueHandling::default(),
            Some(text) => MultiValueHandling::from_name(text).ok_or_else(|| {
                D::Error::custom(format!(
                    "dimension [{name}] has unknown multiValueHandling [{text}] \
                     (known: SORTED_ARRAY, SORTED_SET, ARRAY)"
                ))
            })?,
        };
        let create_bitmap_index =
            kind == DimensionType::String && object.create_bitmap_index.unwrap_or(true);
        Ok(DimensionSchema {
            name,
            kind,
            multi_value_handling,
            create_bitmap_index,
        })
    }
}

impl Serialize for DimensionSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("type", self.kind.name())?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("multiValueHandling", self.multi_value_handling.name())?;
        map.serialize_entry("createBitmapIndex", &self.create_bitmap_index)?;
        map.end()
    }
}

/// Druid's `DimensionsSpec`, with its JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DimensionsSpec {
    #[serde(default)]
    pub dimensions: Vec<DimensionSchema>,
    #[serde(default)]
    pub dimension_exclusions: Vec<String>,
    /// Deprecated in Druid; kept only to refuse it clearly.
    #[serde(default, skip_serializing)]
    pub spatial_dimensions: Vec<serde_json::Value>,
    #[serde(default)]
    pub include_all_dimensions: bool,
    #[serde(default)]
    pub use_schema_discovery: bool,
    #[serde(
        default,
        rename = "forceSegmentSortByTime",
        skip_serializing_if = "Option::is_none"
    )]
    pub force_segment_sort_by_time: Option<bool>,
}

impl DimensionsSpec {
    /// The explicitly listed dimension names, in order.
    pub fn dimension_names(&self) -> Vec<String> {
        self.dimensions.iter().map(|d| d.name.clone()).collect()
    }

    /// Whether dimensions are discovered from the rows (none listed, or `includeAllDimensions`).
    pub fn discovers_dimensions(&self) -> bool {
        self.dimensions.is_empty() || self.include_all_dimensions
    }

    /// Checks the spec as Druid does at submit; paths are relative to the dimensions spec.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !self.spatial_dimensions.is_empty() {
            return Err(SpecError::new(
                "spatialDimensions",
                "spatial dimensions are not supported yet",
            ));
        }
        if self.use_schema_discovery {
            return Err(SpecError::new(
                "useSchemaDiscovery",
                "type-aware schema discovery is not supported yet; leave it false to discover \
                 dimensions as strings",
            ));
        }
        if self.force_segment_sort_by_time == Some(false) {
            return Err(SpecError::new(
                "forceSegmentSortByTime",
                "segments not sorted by __time first are not supported yet",
            ));
        }
        for (i, dim) in self.dimensions.iter().enumerate() {
            let path = format!("dimensions[{i}]");
            if dim.name.is_empty() {
                return Err(SpecError::new(
                    path,
                    format!("Encountered dimension with null or empty name at position[{i}]"),
                ));
            }
            if dim.name == TIME_COLUMN {
                if i > 0 {
                    return Err(SpecError::new(
                        path,
                        format!(
                            "Encountered dimension[{TIME_COLUMN}] at position[{i}]. This is only \
                             supported when the dimensionsSpec parameter[forceSegmentSortByTime] \
                             is set to[false], which is not supported yet."
                        ),
                    ));
                }
                if dim.kind != DimensionType::Long {
                    return Err(SpecError::new(
                        path,
                        format!(
                            "Encountered dimension[{TIME_COLUMN}] with incorrect type[{}]. Type \
                             must be 'long'.",
                            dim.kind.name().to_ascii_uppercase()
                        ),
                    ));
                }
            }
        }
        if let Some(dups) = duplicates(self.dimensions.iter().map(|d| d.name.as_str())) {
            return Err(SpecError::new(
                "dimensions",
                format!("Duplicate column entries found : {dups}"),
            ));
        }
        if let Some(dups) = duplicates(self.dimension_exclusions.iter().map(String::as_str)) {
            return Err(SpecError::new(
                "dimensionExclusions",
                format!("Duplicate column entries found : {dups}"),
            ));
        }
        let names: HashSet<&str> = self.dimensions.iter().map(|d| d.name.as_str()).collect();
        if self
            .dimension_exclusions
            .iter()
            .any(|e| names.contains(e.as_str()))
        {
            return Err(SpecError::new(
                "dimensionExclusions",
                "dimensions and dimensions exclusions cannot overlap",
            ));
        }
        Ok(())
    }

    /// What the rollup index needs: the listed dimensions (without a leading `__time`, which is
    /// where time sorts anyway) and, when discovering, the fields never to turn into dimensions.
    pub fn resolve(
        &self,
        timestamp_column: &str,
        metrics: &[AggregatorFactory],
    ) -> ResolvedDimensions {
        let fixed: Vec<DimensionSchema> = self
            .dimensions
            .iter()
            .filter(|d| d.name != TIME_COLUMN)
            .cloned()
            .collect();
        let discovery = self.discovers_dimensions().then(|| {
            let mut excluded: HashSet<String> = self.dimension_exclusions.iter().cloned().collect();
            excluded.insert(timestamp_column.to_string());
            excluded.insert(TIME_COLUMN.to_string());
            for metric in metrics {
                excluded.insert(metric.name().to_string());
                excluded.extend(metric.required_fields().into_iter().map(str::to_string));
            }
            for dim in &fixed {
                excluded.remove(&dim.name);
            }
            Exclusions(excluded)
        });
        ResolvedDimensions { fixed, discovery }
    }
}

/// The dimensions an index starts with, and whether (and what not) to discover.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedDimensions {
    /// The listed dimensions, in order; discovered ones come after them.
    pub fixed: Vec<DimensionSchema>,
    /// `Some` when fields of the rows become string dimensions, except the excluded ones.
    pub discovery: Option<Exclusions>,
}

/// Field names that never become discovered dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Exclusions(HashSet<String>);

impl Exclusions {
    pub fn contains(&self, field: &str) -> bool {
        field.is_empty() || self.0.contains(field)
    }
}

/// The repeated names, formatted as Java prints a set (`[a, b]`), or `None`.
fn duplicates<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut seen = HashSet::new();
    let mut dups: Vec<&str> = Vec::new();
    for name in names {
        if !seen.insert(name) && !dups.contains(&name) {
            dups.push(name);
        }
    }
    (!dups.is_empty()).then(|| JavaList(&dups).to_string())
}

/// Java's `List.toString` of names.
struct JavaList<'a>(&'a [&'a str]);

impl fmt::Display for JavaList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> DimensionsSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reads_names_and_typed_objects_like_druid() {
        let s = spec(json!({
            "dimensions": [
                "page",
                {"type": "long", "name": "added"},
                {"type": "float", "name": "f"},
                {"type": "double", "name": "d", "createBitmapIndex": true},
                {"name": "tags", "multiValueHandling": "sorted_set", "createBitmapIndex": false},
                {"type": "string", "name": "raw", "multiValueHandling": "ARRAY"}
            ],
            "dimensionExclusions": ["x"]
        }));
        assert_eq!(
            s.dimension_names(),
            ["page", "added", "f", "d", "tags", "raw"]
        );
        assert_eq!(s.dimensions[0], DimensionSchema::string("page"));
        assert_eq!(s.dimensions[1].kind, DimensionType::Long);
        assert!(
            !s.dimensions[3].create_bitmap_index,
            "numeric dims never get bitmaps"
        );
        assert_eq!(
            s.dimensions[4].multi_value_handling,
            MultiValueHandling::SortedSet
        );
        assert!(!s.dimensions[4].create_bitmap_index);
        assert_eq!(
            s.dimensions[5].multi_value_handling,
            MultiValueHandling::Array
        );
        s.validate().unwrap();
        // Written back the way Druid serializes it.
        let out = serde_json::to_value(&s).unwrap();
        assert_eq!(
            out["dimensions"][0],
            json!({"type":"string","name":"page","multiValueHandling":"SORTED_ARRAY","createBitmapIndex":true})
        );
        assert_eq!(out["includeAllDimensions"], json!(false));
        assert_eq!(out["useSchemaDiscovery"], json!(false));
        assert!(out.get("forceSegmentSortByTime").is_none());
        assert_eq!(spec(out), s);
    }

    #[test]
    fn refuses_unsupported_and_unknown_types_clearly() {
        for (t, word) in [
            ("json", "not supported yet"),
            ("auto", "not supported yet"),
            ("bogus", "unknown type"),
        ] {
            let err = serde_json::from_value::<DimensionsSpec>(
                json!({"dimensions": [{"type": t, "name": "n"}]}),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(word) && err.contains(t), "{err}");
        }
        let err = serde_json::from_value::<DimensionsSpec>(
            json!({"dimensions": [{"name": "n", "multiValueHandling": "shuffled"}]}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("multiValueHandling [shuffled]"), "{err}");
    }

    #[test]
    fn validate_checks_what_druid_checks() {
        let err = |v| spec(v).validate().unwrap_err();
        let e = err(json!({"dimensions": ["a", "b", "a"]}));
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("dimensions", "Duplicate column entries found : [a]")
        );
        let e = err(json!({"dimensions": ["a", ""]}));
        assert_eq!(e.path, "dimensions[1]");
        assert!(e.message.contains("null or empty name at position[1]"));
        let e = err(json!({"dimensions": ["a"], "dimensionExclusions": ["a"]}));
        assert_eq!(
            e.message,
            "dimensions and dimensions exclusions cannot overlap"
        );
        let e = err(json!({"dimensions": ["a", {"type": "long", "name": "__time"}]}));
        assert!(e.message.contains("at position[1]"), "{}", e.message);
        let e = err(json!({"dimensions": ["__time"]}));
        assert!(e.message.contains("Type must be 'long'"), "{}", e.message);
        assert!(err(json!({"useSchemaDiscovery": true}))
            .message
            .contains("not supported yet"));
        assert!(
            err(json!({"spatialDimensions": [{"dimName": "c", "dims": ["x", "y"]}]}))
                .message
                .contains("not supported yet")
        );
        assert!(err(json!({"forceSegmentSortByTime": false}))
            .message
            .contains("not supported yet"));
        // A long __time first is what Druid allows, and is where time sorts anyway.
        let s = spec(json!({"dimensions": [{"type": "long", "name": "__time"}, "a"]}));
        s.validate().unwrap();
        assert_eq!(
            s.resolve("ts", &[]).fixed,
            vec![DimensionSchema::string("a")]
        );
    }

    #[test]
    fn resolve_excludes_timestamp_metric_inputs_and_outputs_when_discovering() {
        let metrics: Vec<AggregatorFactory> = serde_json::from_value(json!([
            {"type": "count", "name": "count"},
            {"type": "longSum", "name": "sum_added", "fieldName": "added"},
            {"type": "longFirst", "name": "first_delta", "fieldName": "delta", "timeColumn": "t2"}
        ]))
        .unwrap();
        let s = spec(json!({"dimensionExclusions": ["comment"]}));
        let r = s.resolve("time", &metrics);
        assert!(r.fixed.is_empty());
        let ex = r.discovery.unwrap();
        for excluded in [
            "time",
            "__time",
            "comment",
            "count",
            "sum_added",
            "added",
            "first_delta",
            "delta",
            "t2",
            "",
        ] {
            assert!(ex.contains(excluded), "{excluded}");
        }
        assert!(!ex.contains("page"));
        // A listed dimension is never excluded, even when an aggregator reads it too.
        let s = spec(json!({"dimensions": ["added"], "includeAllDimensions": true}));
        let r = s.resolve("time", &metrics);
        assert!(!r.discovery.unwrap().contains("added"));
        assert!(spec(json!({"dimensions": ["a"]}))
            .resolve("time", &metrics)
            .discovery
            .is_none());
    }
}
