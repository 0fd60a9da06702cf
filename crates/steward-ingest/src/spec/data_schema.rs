//! The data schema: the datasource and what a row becomes (Druid's `DataSchema`).
//!
//! Besides reading its parts, the schema enforces Druid's rule that an output column is named
//! once: a dimension and a metric, or two metrics, with the same name are refused with Druid's
//! message (`Cannot specify a column more than once: [x] seen in dimensions list, metricsSpec
//! list`), and `__time` belongs to the primary timestamp.

use std::collections::BTreeMap;

use steward_model::ids::validate_id;

use super::fields::{within, Obj};
use super::granularity_spec::GranularitySpec;
use crate::aggregate::{AggregatorFactory, MetricType};
use crate::dimensions::DimensionsSpec;
use crate::row::TIME_COLUMN;
use crate::timestamp::TimestampSpec;
use crate::transform::TransformSpec;
use crate::SpecError;

#[derive(Debug, Clone, PartialEq)]
pub struct DataSchema {
    pub data_source: String,
    pub timestamp_spec: TimestampSpec,
    pub dimensions_spec: DimensionsSpec,
    pub metrics_spec: Vec<AggregatorFactory>,
    pub granularity_spec: GranularitySpec,
    pub transform_spec: TransformSpec,
}

impl DataSchema {
    /// Reads a `dataSchema` object; error paths are relative to it.
    pub fn from_json(v: &serde_json::Value) -> Result<DataSchema, SpecError> {
        let obj = Obj::new(v, "a dataSchema")?;
        if obj.get("parser").is_some() {
            return Err(SpecError::new(
                "parser",
                "The legacy [parser] is not supported; use ioConfig.inputFormat and dataSchema.timestampSpec/dimensionsSpec instead",
            ));
        }
        let data_source = obj.string("dataSource")?.unwrap_or_default().to_string();
        validate_id("dataSource", &data_source).map_err(|e| SpecError::new("dataSource", e))?;
        let timestamp_spec = obj
            .get("timestampSpec")
            .map_or(Ok(TimestampSpec::default()), TimestampSpec::from_json)
            .map_err(|e| within(e, "timestampSpec"))?;
        let dimensions_spec: DimensionsSpec = obj.typed("dimensionsSpec")?.unwrap_or_default();
        dimensions_spec
            .validate()
            .map_err(|e| within(e, "dimensionsSpec"))?;
        let metrics_spec: Vec<AggregatorFactory> = obj.typed("metricsSpec")?.unwrap_or_default();
        for (i, metric) in metrics_spec.iter().enumerate() {
            metric
                .validate()
                .map_err(|e| within(e, &format!("metricsSpec[{i}]")))?;
            // The rollup index keeps first/last pairs, but the segment writer has no
            // `serializablePair*` column yet.
            if let column @ MetricType::Pair(_) = metric.metric_type() {
                return Err(SpecError::new(
                    format!("metricsSpec[{i}].type"),
                    format!(
                        "Aggregator [{}] of type [{}] is not supported by Steward yet: its \
                         column type [{}] cannot be written to segments",
                        metric.name(),
                        metric.kind.type_name(),
                        column.type_name()
                    ),
                ));
            }
        }
        let granularity_spec = obj
            .get("granularitySpec")
            .map_or(Ok(GranularitySpec::default()), GranularitySpec::from_json)
            .map_err(|e| within(e, "granularitySpec"))?;
        let transform_spec: TransformSpec = obj.typed("transformSpec")?.unwrap_or_default();
        transform_spec
            .validate()
            .map_err(|e| within(e, "transformSpec"))?;
        validate_output_names(&dimensions_spec, &metrics_spec)?;
        Ok(DataSchema {
            data_source,
            timestamp_spec,
            dimensions_spec,
            metrics_spec,
            granularity_spec,
            transform_spec,
        })
    }
}

/// Druid's `computeAndValidateOutputFieldNames`: every output column named once.
fn validate_output_names(
    dimensions: &DimensionsSpec,
    metrics: &[AggregatorFactory],
) -> Result<(), SpecError> {
    // Name -> where it was seen, each place with its count, sorted as Druid's TreeMap and
    // TreeMultiset sort them.
    let mut seen: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    let primary =
        "primary timestamp (__time cannot appear elsewhere except as long-typed dimension)";
    *seen
        .entry(TIME_COLUMN.to_string())
        .or_default()
        .entry(primary)
        .or_default() += 1;
    let mut time_dimension_seen = false;
    for (i, name) in dimensions.dimension_names().into_iter().enumerate() {
        if name.is_empty() {
            return Err(SpecError::new(
                format!("dimensionsSpec.dimensions[{i}]"),
                format!("Encountered dimension with null or empty name at position[{i}]"),
            ));
        }
        // A long-typed `__time` dimension is allowed once; its type is the dimensions spec's
        // to check.
        if name == TIME_COLUMN && !time_dimension_seen {
            time_dimension_seen = true;
            continue;
        }
        *seen
            .entry(name)
            .or_default()
            .entry("dimensions list")
            .or_default() += 1;
    }
    for (i, metric) in metrics.iter().enumerate() {
        let name = metric.name();
        if name.is_empty() {
            return Err(SpecError::new(
                format!("metricsSpec[{i}].name"),
                format!("Encountered metric with null or empty name at position {i}"),
            ));
        }
        *seen
            .entry(name.to_string())
            .or_default()
            .entry("metricsSpec list")
            .or_default() += 1;
    }
    let errors: Vec<String> = seen
        .iter()
        .filter(|(_, places)| places.values().sum::<usize>() > 1)
        .map(|(name, places)| {
            let places: Vec<String> = places
                .iter()
                .map(|(place, count)| match count {
                    1 => place.to_string(),
                    n => format!("{place} ({n} occurrences)"),
                })
                .collect();
            format!("[{name}] seen in {}", places.join(", "))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SpecError::new(
            "",
            format!(
                "Cannot specify a column more than once: {}",
                errors.join("; ")
            ),
        ))
    }
}
