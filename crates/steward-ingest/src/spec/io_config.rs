//! The IO config: where the input is, how it is formatted, and whether the task appends to or
//! replaces what the datasource holds (Druid's `IndexIOConfig` / `ParallelIndexIOConfig`).

use super::fields::{within, Obj};
use super::IngestionTaskType;
use crate::input::{InputFormatSpec, InputSourceConfig, InputSourceSpec};
use crate::SpecError;

#[derive(Debug, Clone, PartialEq)]
pub struct IoConfig {
    pub input_source: InputSourceSpec,
    /// Absent only for the druid input source, which reads segments, not formatted text.
    pub input_format: Option<InputFormatSpec>,
    /// Adds segments next to the existing ones instead of overshadowing them.
    pub append_to_existing: bool,
    /// Marks existing segments in the intervals unused when publishing (needs intervals).
    pub drop_existing: bool,
}

impl IoConfig {
    /// Reads an `ioConfig` for a task of `task_type`; error paths are relative to it.
    pub fn from_json(
        v: Option<&serde_json::Value>,
        task_type: IngestionTaskType,
        config: &InputSourceConfig,
    ) -> Result<IoConfig, SpecError> {
        let obj = Obj::optional(v, "an ioConfig")?;
        match (obj.string("type")?, task_type) {
            (None | Some("index_parallel"), _) | (Some("index"), IngestionTaskType::Index) => {}
            (Some(other), _) => {
                let class = match task_type {
                    IngestionTaskType::Index => "IndexIOConfig",
                    _ => "ParallelIndexIOConfig",
                };
                return Err(SpecError::new(
                    "type",
                    format!("Could not resolve type id '{other}' as a subtype of `{class}`"),
                ));
            }
        }
        if obj.get("firehose").is_some() {
            return Err(SpecError::new(
                "firehose",
                "Firehoses are not supported; use [inputSource] and [inputFormat] instead",
            ));
        }
        let input_source = obj
            .get("inputSource")
            .ok_or_else(|| SpecError::new("inputSource", "Missing [inputSource]"))
            .and_then(|s| {
                InputSourceSpec::from_json(s, config).map_err(|e| within(e, "inputSource"))
            })?;
        // Druid's `InputSource.needsFormat`: the druid source ignores any format.
        let input_format = match (&input_source, obj.get("inputFormat")) {
            (InputSourceSpec::Druid(_), _) => None,
            (_, None) => {
                return Err(SpecError::new(
                    "inputFormat",
                    "At least one of [parser] or [inputFormat] must be present",
                ))
            }
            (_, Some(f)) => {
                Some(InputFormatSpec::from_json(f).map_err(|e| within(e, "inputFormat"))?)
            }
        };
        Ok(IoConfig {
            input_source,
            input_format,
            append_to_existing: obj.bool("appendToExisting")?.unwrap_or(false),
            drop_existing: obj.bool("dropExisting")?.unwrap_or(false),
        })
    }
}
