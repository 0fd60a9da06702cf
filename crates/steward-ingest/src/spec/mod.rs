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
    /// A sub-task of `index_parallel` that reads a split (`single_phase_sub_task`, `index_sub`
    /// before Druid 0.17, and `partial_index_generate`): the same spec shape.
    SinglePhaseSubTask,
}

impl IngestionTaskType {
    pub fn from_name(name: &str) -> Option<IngestionTaskType> {
        match name {
            "index" => Some(IngestionTaskType::Index),
            "index_parallel" => Some(IngestionTaskType::IndexParallel),
            // A hash-partitioned ingestion's first phase reads its split with the same spec.
            "single_phase_sub_task" | "index_sub" | "partial_index_generate" => {
                Some(IngestionTaskType::SinglePhaseSubTask)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IngestionSpec {
    pub task_type: IngestionTaskType,
    pub data_schema: DataSchema,
    pub io_config: IoConfig,
    pub tuning_config: TuningConfig,
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
        let (append, drop) = (
            parsed.io_config.append_to_existing,
            parsed.io_config.drop_existing,
        );
        if append && drop {
            return Err(SpecError::new(
                "spec.ioConfig.dropExisting",
                "Cannot simultaneously replace and append to existing segments. Either dropExisting or appendToExisting should be set to false",
            ));
        }
        if drop && parsed.data_schema.granularity_spec.intervals.is_empty() {
            return Err(SpecError::new(
                "spec.dataSchema.granularitySpec.intervals",
                "GranularitySpec's intervals cannot be empty for replace.",
            ));
        }
        if append && parsed.tuning_config.force_guaranteed_rollup {
            return Err(SpecError::new(
                "spec.tuningConfig.forceGuaranteedRollup",
                "Perfect rollup cannot be guaranteed when appending to existing dataSources",
            ));
        }
        if parsed.is_parallel_mode() {
            // Druid finds the bucket count of each chunk in a `partial_dimension_cardinality`
            // phase, and a parallel replace publishes tombstones: neither is implemented, so
            // they are refused rather than run into segments that differ from Druid's.
            if let PartitionsSpec::Hashed(HashedPartitionsSpec {
                num_shards: None, ..
            }) = &parsed.tuning_config.partitions_spec
            {
                return Err(SpecError::new(
                    "spec.tuningConfig.partitionsSpec.numShards",
                    "Hashed partitioning with maxNumConcurrentSubTasks above 1 needs numShards in Steward (Druid would count the rows in a partial_dimension_cardinality phase, which Steward does not run yet): set numShards, or maxNumConcurrentSubTasks to 1",
                ));
            }
            if drop {
                return Err(SpecError::new(
                    "spec.ioConfig.dropExisting",
                    "dropExisting with maxNumConcurrentSubTasks above 1 is not supported by Steward yet: set maxNumConcurrentSubTasks to 1",
                ));
            }
        }
        Ok(parsed)
    }

    /// Whether an `index_parallel` task runs sub-tasks (Druid's `isParallelMode` for
    /// best-effort rollup): more than one sub-task at a time and an input that splits;
    /// otherwise it ingests in its own peon, as an `index` task would.
    pub fn is_parallel_mode(&self) -> bool {
        self.task_type == IngestionTaskType::IndexParallel
            && self.tuning_config.max_num_concurrent_sub_tasks > 1
            && self.io_config.input_source.is_splittable()
    }
}

#[cfg(test)]
mod tests;
