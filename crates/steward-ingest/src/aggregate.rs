//! The metrics spec: Druid's aggregator factories.
//!
//! The numeric aggregators of Druid's `metricsSpec` with their JSON (`type`, `name`,
//! `fieldName`, and `timeColumn` for first/last): `count`, the sums, mins and maxes of longs,
//! floats and doubles, and the `first`/`last` of each, which keep the value of the row with the
//! earliest/latest timestamp. An `expression` instead of a `fieldName` is refused as not
//! supported yet; so is every other Druid aggregator type (sketches, `hyperUnique`, `filtered`,
//! string first/last...). Each factory also tells the column it makes and the JSON Druid keeps
//! in a segment's `metadata.drd`: the *combining* factory, which reads the column it wrote
//! (`count` combines as a `longSum`).
//!
//! How values are aggregated lives with the rollup index (`index::metrics`); this module is the
//! spec.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

use crate::row::TIME_COLUMN;
use crate::SpecError;

/// What an aggregator computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregatorKind {
    Count,
    LongSum,
    DoubleSum,
    FloatSum,
    LongMin,
    LongMax,
    DoubleMin,
    DoubleMax,
    FloatMin,
    FloatMax,
    LongFirst,
    LongLast,
    DoubleFirst,
    DoubleLast,
    FloatFirst,
    FloatLast,
}

const KINDS: [(AggregatorKind, &str); 16] = [
    (AggregatorKind::Count, "count"),
    (AggregatorKind::LongSum, "longSum"),
    (AggregatorKind::DoubleSum, "doubleSum"),
    (AggregatorKind::FloatSum, "floatSum"),
    (AggregatorKind::LongMin, "longMin"),
    (AggregatorKind::LongMax, "longMax"),
    (AggregatorKind::DoubleMin, "doubleMin"),
    (AggregatorKind::DoubleMax, "doubleMax"),
    (AggregatorKind::FloatMin, "floatMin"),
    (AggregatorKind::FloatMax, "floatMax"),
    (AggregatorKind::LongFirst, "longFirst"),
    (AggregatorKind::LongLast, "longLast"),
    (AggregatorKind::DoubleFirst, "doubleFirst"),
    (AggregatorKind::DoubleLast, "doubleLast"),
    (AggregatorKind::FloatFirst, "floatFirst"),
    (AggregatorKind::FloatLast, "floatLast"),
];

/// Druid aggregator types this implementation does not have yet.
const UNSUPPORTED: &[&str] = &[
    "javascript",
    "histogram",
    "hyperUnique",
    "cardinality",
    "filtered",
    "stringFirst",
    "stringFirstFold",
    "stringLast",
    "stringLastFold",
    "longAny",
    "floatAny",
    "doubleAny",
    "stringAny",
    "doubleMean",
    "grouping",
    "expression",
    "singleValue",
    "thetaSketch",
    "HLLSketchBuild",
    "HLLSketchMerge",
    "quantilesDoublesSketch",
    "approxHistogram",
    "approxHistogramFold",
    "fixedBucketsHistogram",
    "bloom",
];

/// The primitive a metric holds (for first/last: the value half of the pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumericType {
    Long,
    Float,
    Double,
}

/// The column a metric makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// A plain numeric column.
    Numeric(NumericType),
    /// A complex column of (timestamp, value) pairs: first/last.
    Pair(NumericType),
}

impl MetricType {
    /// Druid's column type name: `long`/`float`/`double`, or the complex type of the pair
    /// (`serializablePairLongLong`...).
    pub fn type_name(self) -> &'static str {
        match self {
            MetricType::Numeric(NumericType::Long) => "long",
            MetricType::Numeric(NumericType::Float) => "float",
            MetricType::Numeric(NumericType::Double) => "double",
            MetricType::Pair(NumericType::Long) => "serializablePairLongLong",
            MetricType::Pair(NumericType::Float) => "serializablePairLongFloat",
            MetricType::Pair(NumericType::Double) => "serializablePairLongDouble",
        }
    }
}

impl AggregatorKind {
    /// Druid's JSON `type`.
    pub fn type_name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .expect("every kind is listed")
            .1
    }

    fn from_type_name(name: &str) -> Option<AggregatorKind> {
        KINDS.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    pub fn metric_type(self) -> MetricType {
        use AggregatorKind::*;
        match self {
            Count | LongSum | LongMin | LongMax => MetricType::Numeric(NumericType::Long),
            DoubleSum | DoubleMin | DoubleMax => MetricType::Numeric(NumericType::Double),
            FloatSum | FloatMin | FloatMax => MetricType::Numeric(NumericType::Float),
            LongFirst | LongLast => MetricType::Pair(NumericType::Long),
            DoubleFirst | DoubleLast => MetricType::Pair(NumericType::Double),
            FloatFirst | FloatLast => MetricType::Pair(NumericType::Float),
        }
    }

    /// Whether the aggregator keeps a (time, value) pair.
    pub fn is_first_last(self) -> bool {
        matches!(self.metric_type(), MetricType::Pair(_))
    }

    /// Druid's estimate of one aggregator's heap footprint (`getMaxIntermediateSizeWithNulls`),
    /// which `maxBytesInMemory` counts.
    pub(crate) fn estimated_size(self) -> u64 {
        use AggregatorKind::*;
        match self {
            Count => 8,
            LongSum | LongMin | LongMax | DoubleSum | DoubleMin | DoubleMax => 8 + 1,
            FloatSum | FloatMin | FloatMax => 4 + 1,
            LongFirst | LongLast | DoubleFirst | DoubleLast => 8 + 1 + 8,
            FloatFirst | FloatLast => 8 + 1 + 4,
        }
    }
}

/// One entry of the metrics spec: Druid's `AggregatorFactory`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatorFactory {
    pub kind: AggregatorKind,
    pub name: String,
    /// The input field; `count` has none.
    pub field_name: Option<String>,
    /// Druid's expression input; refused by [`AggregatorFactory::validate`] (not supported yet).
    pub expression: Option<String>,
    /// The first/last aggregators' time input; `None` reads the row's timestamp (`__time`).
    pub time_column: Option<String>,
}

impl AggregatorFactory {
    /// An aggregator reading `field_name` (ignored for `count`).
    pub fn new(kind: AggregatorKind, name: &str, field_name: &str) -> AggregatorFactory {
        AggregatorFactory {
            kind,
            name: name.to_string(),
            field_name: (kind != AggregatorKind::Count).then(|| field_name.to_string()),
            expression: None,
            time_column: None,
        }
    }

    /// The output column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column this aggregator makes.
    pub fn metric_type(&self) -> MetricType {
        self.kind.metric_type()
    }

    /// The first/last time input (`__time` unless `timeColumn` says otherwise).
    pub fn time_column(&self) -> &str {
        self.time_column.as_deref().unwrap_or(TIME_COLUMN)
    }

    /// The input fields, as Druid's `requiredFields`: these never become discovered dimensions.
    pub fn required_fields(&self) -> Vec<&str> {
        let mut fields = Vec::new();
        if self.kind.is_first_last() {
            fields.push(self.time_column());
        }
        fields.extend(self.field_name.as_deref());
        fields
    }

    /// Checks the aggregator as Druid does at submit; paths are relative to the aggregator.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.name.is_empty() {
            return Err(SpecError::new(
                "name",
                "Must have a valid, non-null aggregator name",
            ));
        }
        if self.expression.is_some() {
            return Err(SpecError::new(
                "expression",
                format!(
                    "aggregator [{}]: an expression input is not supported yet; use fieldName",
                    self.name
                ),
            ));
        }
        if self.kind != AggregatorKind::Count
            && self.field_name.as_deref().is_none_or(str::is_empty)
        {
            return Err(SpecError::new(
                "fieldName",
                format!(
                    "aggregator [{}]: Must have a valid, non-null fieldName",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    /// The JSON Druid stores for this metric in `metadata.drd`: its combining factory, which
    /// reads the column by the metric's own name.
    pub fn combining_json(&self) -> serde_json::Value {
        if self.kind == AggregatorKind::Count {
            return json!({"type": "longSum", "name": self.name, "fieldName": self.name});
        }
        let combining = AggregatorFactory {
            field_name: Some(self.name.clone()),
            expression: None,
            ..self.clone()
        };
        serde_json::to_value(&combining).expect("an aggregator serializes")
    }
}

/// The JSON of an aggregator, before its type is checked.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AggregatorJson {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    field_name: Option<String>,
    #[serde(default)]
    expression: Option<String>,
    #[serde(default)]
    time_column: Option<String>,
}

impl<'de> Deserialize<'de> for AggregatorFactory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = AggregatorJson::deserialize(deserializer)?;
        let name = raw.name.unwrap_or_default();
        let type_name = raw
            .kind
            .ok_or_else(|| D::Error::custom(format!("aggregator [{name}] has no \"type\"")))?;
        let kind = AggregatorKind::from_type_name(&type_name).ok_or_else(|| {
            let known: Vec<&str> = KINDS.iter().map(|(_, n)| *n).collect();
            if UNSUPPORTED.contains(&type_name.as_str()) {
                D::Error::custom(format!(
                    "aggregator [{name}] has type [{type_name}], which is not supported yet \
                     (supported: {})",
                    known.join(", ")
                ))
            } else {
                D::Error::custom(format!(
                    "aggregator [{name}] has unknown type [{type_name}] (supported: {})",
                    known.join(", ")
                ))
            }
        })?;
        let count = kind == AggregatorKind::Count;
        Ok(AggregatorFactory {
            kind,
            name,
            // Druid's count reads no field and ignores one if given.
            field_name: if count { None } else { raw.field_name },
            expression: if count { None } else { raw.expression },
            time_column: if kind.is_first_last() {
                raw.time_column
            } else {
                None
            },
        })
    }
}

impl Serialize for AggregatorFactory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.kind.type_name())?;
        map.serialize_entry("name", &self.name)?;
        if let Some(field) = &self.field_name {
            map.serialize_entry("fieldName", field)?;
        }
        if let Some(expression) = &self.expression {
            map.serialize_entry("expression", expression)?;
        }
        if self.kind.is_first_last() {
            // Druid always writes the resolved time column of first/last.
            map.serialize_entry("timeColumn", self.time_column())?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(v: serde_json::Value) -> AggregatorFactory {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reads_every_supported_type_and_writes_it_back() {
        for (kind, type_name) in KINDS {
            let a = agg(json!({"type": type_name, "name": "m", "fieldName": "f"}));
            assert_eq!(a.kind, kind);
            assert_eq!(a.name(), "m");
            a.validate().unwrap();
            let back: AggregatorFactory =
                serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
            assert_eq!(back.kind, a.kind);
            assert_eq!(back.required_fields(), a.required_fields());
        }
    }

    #[test]
    fn types_and_metadata_json_follow_druid_combining_factories() {
        let count = agg(json!({"type": "count", "name": "count"}));
        assert_eq!(count.metric_type().type_name(), "long");
        assert_eq!(
            count.combining_json(),
            json!({"type": "longSum", "name": "count", "fieldName": "count"})
        );
        let sum = agg(json!({"type": "doubleSum", "name": "s", "fieldName": "added"}));
        assert_eq!(sum.metric_type().type_name(), "double");
        assert_eq!(
            sum.combining_json(),
            json!({"type": "doubleSum", "name": "s", "fieldName": "s"})
        );
        let first = agg(json!({"type": "longFirst", "name": "f", "fieldName": "delta"}));
        assert_eq!(first.metric_type().type_name(), "serializablePairLongLong");
        assert_eq!(
            first.combining_json(),
            json!({"type": "longFirst", "name": "f", "fieldName": "f", "timeColumn": "__time"})
        );
        assert_eq!(first.required_fields(), ["__time", "delta"]);
        assert_eq!(
            agg(json!({"type": "floatLast", "name": "l", "fieldName": "x"}))
                .metric_type()
                .type_name(),
            "serializablePairLongFloat"
        );
    }

    #[test]
    fn refuses_what_is_not_supported_clearly() {
        let e = serde_json::from_value::<AggregatorFactory>(
            json!({"type": "hyperUnique", "name": "u", "fieldName": "x"}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[hyperUnique]") && e.contains("not supported yet"),
            "{e}"
        );
        let e =
            serde_json::from_value::<AggregatorFactory>(json!({"type": "longSumm", "name": "u"}))
                .unwrap_err()
                .to_string();
        assert!(e.contains("unknown type [longSumm]"), "{e}");
        let e = agg(json!({"type": "longSum", "name": "s", "expression": "x + 1"}))
            .validate()
            .unwrap_err();
        assert_eq!(e.path, "expression");
        assert!(e.message.contains("not supported yet"));
        let e = agg(json!({"type": "longSum", "name": "s"}))
            .validate()
            .unwrap_err();
        assert_eq!(e.path, "fieldName");
        let e = agg(json!({"type": "count"})).validate().unwrap_err();
        assert_eq!(e.path, "name");
        // Druid's count ignores a fieldName.
        assert!(agg(json!({"type": "count", "name": "c", "fieldName": "x"}))
            .required_fields()
            .is_empty());
    }
}
