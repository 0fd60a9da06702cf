//! The native batch ingestion spec: what an `index`, `index_parallel` or
//! `single_phase_sub_task` task ingests, read from the task JSON with Druid's defaults and
//! checked as Druid checks it at submit.
//!
//! Every error names its place as a dotted path from the task's root
//! (`spec.tuningConfig.partitionsSpec.maxRowsPerSegment`) with a message close to Druid's;
//! unknown properties are ignored, as Jackson does in Druid. [`IngestionSpec::facts`] gives
//! what the Overlord needs without reading further: datasource, intervals, append or replace,
//! segment granularity, perfect rollup.
//!
//! - [`data_schema`], [`granularity_spec`]: what a row becomes.
//! - [`io_config`]: input source and format, append/replace.
//! - [`tuning`]: memory, partitioning, parse-error limits, sub-tasks.
//! - `fields`: reading JSON with paths.

pub mod data_schema;
pub(crate) mod fields;
pub mod granularity_spec;
pub mod io_config;
pub mod tuning;

use steward_model::granularity::Granularity;
use steward_model::interval::Interval;

pub use data_schema::DataSchema;
pub use granularity_spec::GranularitySpec;
pub use io_config::IoConfig;
pub use tuning::{HashedPartitionsSpec, PartitionsSpec, SplitHintSpec, TuningConfig};

use self::fields::{within, Obj};
use crate::input::InputSourceConfig;
use crate::SpecError;

/// The task types whose `spec` is an ingestion spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestionTaskType {
    Index,
    IndexParallel,
    /// A sub-task of `index_parallel` (`index_sub` before Druid 0.17): the same spec shape.
    SinglePhaseSubTask,
}

impl IngestionTaskType {
    pub fn from_name(name: &str) -> Option<IngestionTaskType> {
        match name {
            "index" => Some(IngestionTaskType::Index),
            "index_parallel" => Some(IngestionTaskType::IndexParallel),
            "single_phase_sub_task" | "index_sub" => Some(IngestionTaskType::SinglePhaseSubTask),
            _ => None,
        }
    }
}

/// Druid's `IngestionMode`, from `appendToExisting` and `dropExisting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestionMode {
    /// `appendToExisting`: new segments beside the existing ones.
    Append,
    /// `dropExisting`: the intervals hold only the new segments afterwards.
    Replace,
    /// Neither: the new segments overshadow the old ones where they overlap.
    ReplaceLegacy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IngestionSpec {
    pub task_type: IngestionTaskType,
    pub data_schema: DataSchema,
    pub io_config: IoConfig,
    pub tuning_config: TuningConfig,
}

/// What the Overlord needs to know about a batch ingestion task.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTaskFacts {
    pub data_source: String,
    /// The input intervals, `None` when the task finds them in the data.
    pub intervals: Option<Vec<Interval>>,
    /// The intervals to lock: the input intervals widened to segment buckets and condensed.
    pub lock_intervals: Vec<Interval>,
    pub append_to_existing: bool,
    pub drop_existing: bool,
    /// `None` for an arbitrary granularity spec.
    pub segment_granularity: Option<Granularity>,
    /// `forceGuaranteedRollup` with hashed partitions.
    pub perfect_rollup: bool,
}

impl IngestionSpec {
    /// Reads the whole task JSON with Druid's default HTTP input source settings.
    pub fn from_task_json(task: &serde_json::Value) -> Result<IngestionSpec, SpecError> {
        IngestionSpec::from_task_json_with(task, &InputSourceConfig::default())
    }

    /// Reads the whole task JSON (`type`, `dataSource`, `spec`), applying Druid's defaults
    /// and submit-time checks; `config` holds the operator's HTTP input source settings.
    pub fn from_task_json_with(
        task: &serde_json::Value,
        config: &InputSourceConfig,
    ) -> Result<IngestionSpec, SpecError> {
        let root = Obj::new(task, "a task")?;
        let type_name = root.type_name(None)?;
        let task_type = IngestionTaskType::from_name(type_name).ok_or_else(|| {
            SpecError::new(
                "type",
                format!("Task type [{type_name}] has no ingestion spec; expected index, index_parallel or single_phase_sub_task"),
            )
        })?;
        let spec_json = root
            .get("spec")
            .ok_or_else(|| SpecError::new("spec", "Missing [spec]"))?;
        let spec = Obj::new(spec_json, "an ingestion spec").map_err(|e| within(e, "spec"))?;
        let in_spec = |e: SpecError| within(e, "spec");

        let data_schema = DataSchema::from_json(
            spec.get("dataSchema")
                .ok_or_else(|| in_spec(SpecError::new("dataSchema", "Missing [dataSchema]")))?,
        )
        .map_err(|e| in_spec(within(e, "dataSchema")))?;
        if let Some(task_data_source) = root.string("dataSource")? {
            if task_data_source != data_schema.data_source {
                return Err(SpecError::new(
                    "spec.dataSchema.dataSource",
                    format!(
                        "dataSource [{}] does not match the task's dataSource [{task_data_source}]",
                        data_schema.data_source
                    ),
                ));
            }
        }
        let io_config = IoConfig::from_json(spec.get("ioConfig"), task_type, config)
            .map_err(|e| in_spec(within(e, "ioConfig")))?;
        let tuning_config = TuningConfig::from_json(spec.get("tuningConfig"), task_type)
            .map_err(|e| in_spec(within(e, "tuningConfig")))?;

        let parsed = IngestionSpec {
            task_type,
            data_schema,
            io_config,
            tuning_config,
        };
        let mode = parsed.ingestion_mode().ok_or_else(|| {
            SpecError::new(
                "spec.ioConfig.dropExisting",
                "Cannot simultaneously replace and append to existing segments. Either dropExisting or appendToExisting should be set to false",
            )
        })?;
        if mode == IngestionMode::Replace
            && parsed.data_schema.granularity_spec.intervals.is_empty()
        {
            return Err(SpecError::new(
                "spec.dataSchema.granularitySpec.intervals",
                "GranularitySpec's intervals cannot be empty for replace.",
            ));
        }
        if mode == IngestionMode::Append && parsed.tuning_config.force_guaranteed_rollup {
            return Err(SpecError::new(
                "spec.tuningConfig.forceGuaranteedRollup",
                "Perfect rollup cannot be guaranteed when appending to existing dataSources",
            ));
        }
        Ok(parsed)
    }

    /// `None` when both `appendToExisting` and `dropExisting` are set, which Druid refuses.
    pub fn ingestion_mode(&self) -> Option<IngestionMode> {
        match (
            self.io_config.append_to_existing,
            self.io_config.drop_existing,
        ) {
            (true, true) => None,
            (true, false) => Some(IngestionMode::Append),
            (false, true) => Some(IngestionMode::Replace),
            (false, false) => Some(IngestionMode::ReplaceLegacy),
        }
    }

    pub fn facts(&self) -> BatchTaskFacts {
        let granularity = &self.data_schema.granularity_spec;
        BatchTaskFacts {
            data_source: self.data_schema.data_source.clone(),
            intervals: (!granularity.intervals.is_empty()).then(|| granularity.intervals.clone()),
            lock_intervals: granularity.lock_intervals(),
            append_to_existing: self.io_config.append_to_existing,
            drop_existing: self.io_config.drop_existing,
            segment_granularity: granularity.segment_granularity.clone(),
            perfect_rollup: self.tuning_config.force_guaranteed_rollup
                && matches!(
                    self.tuning_config.partitions_spec,
                    PartitionsSpec::Hashed(_)
                ),
        }
    }
}

#[cfg(test)]
mod tests;
