//! The task envelope: Druid's common task fields plus the type-specific spec, with the submitted
//! JSON kept intact.
//!
//! Druid deserialises a task into a typed class and re-serialises it, filling in defaults. Steward
//! keeps the submitted JSON object as the payload, writes the defaults Druid would show into it
//! (`id`, `groupId`, `dataSource`, `resource`, type fields), and leaves every other field exactly
//! as submitted, so fields Steward does not know survive a round trip through the store.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::granularity::Granularity;
use crate::ids::{validate_data_source, validate_id};
use crate::ingest::{context_flag, invalid_lock_type, BatchIngestSpec, IngestionMode};
use crate::interval::Interval;
use crate::lock::TaskLockType;
pub use crate::task_error::TaskError;
use crate::time::{format_ts, now_iso, parse_instant, Timestamp};

/// `availabilityGroup` and `requiredCapacity`: a worker never runs two tasks of one group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResource {
    pub availability_group: String,
    pub required_capacity: u32,
}

impl TaskResource {
    pub fn default_for(task_id: &str) -> Self {
        TaskResource {
            availability_group: task_id.to_string(),
            required_capacity: 1,
        }
    }
}

/// What a `noop` task's `isReady` answers (legacy Druid field, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyResult {
    Yes,
    No,
    Exception,
}

impl ReadyResult {
    fn as_str(self) -> &'static str {
        match self {
            ReadyResult::Yes => "YES",
            ReadyResult::No => "NO",
            ReadyResult::Exception => "EXCEPTION",
        }
    }
}

/// Druid's `NoopTask`: waits `runTime` ms, then succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoopSpec {
    pub run_time_ms: u64,
    pub is_ready_time_ms: u64,
    pub is_ready_result: ReadyResult,
}

/// Druid's `KillUnusedSegmentsTask`: deletes the unused segments of `dataSource` in `interval`
/// (their metadata rows, then their files in deep storage), `batch_size` at a time, at most
/// `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillSpec {
    pub interval: Interval,
    /// Only segments of these versions; every version when `None`.
    pub versions: Option<Vec<String>>,
    pub batch_size: u32,
    pub limit: Option<u32>,
    /// Only segments marked unused no later than this.
    pub max_used_status_last_updated_time: Option<Timestamp>,
}

impl KillSpec {
    /// The lock a kill task takes on its interval (Druid's `determineLockType`): REPLACE when
    /// the context sets `useConcurrentLocks`, else the context's `taskLockType`, else
    /// EXCLUSIVE. Read from the context as the Overlord holds it (submitted and enriched with
    /// `druid.indexer.task.default.context`), so an unreadable value can still arrive here.
    pub fn lock_type(context: &Map<String, Value>) -> Result<TaskLockType, String> {
        if context_flag(context, "useConcurrentLocks")? {
            return Ok(TaskLockType::Replace);
        }
        match context.get("taskLockType") {
            None | Some(Value::Null) => Ok(TaskLockType::Exclusive),
            Some(Value::String(s)) => TaskLockType::parse(s),
            Some(other) => Err(invalid_lock_type(other)),
        }
    }
}

/// The task types Steward runs, with their parsed specs.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    Noop(NoopSpec),
    Kill(KillSpec),
    /// `index`: a batch ingestion run in one peon.
    Index(BatchIngestSpec),
    /// `index_parallel`: a batch ingestion its supervisor task may split into sub-tasks.
    IndexParallel(BatchIngestSpec),
    /// `single_phase_sub_task`: one split of an `index_parallel` task, in its group.
    SinglePhaseSubTask(SubTaskSpec),
    /// `partial_index_generate`: the first phase of a hash-partitioned `index_parallel`
    /// task, one split read into partial segments per time chunk and hash bucket.
    PartialIndexGenerate(SubTaskSpec),
    /// `partial_index_generic_merge`: the second phase, the partial segments of some buckets
    /// merged into the final segments. Its `ioConfig` names partitions, not an input source.
    PartialIndexGenericMerge(SubTaskSpec),
    /// `compact`: re-ingests a datasource's segments in an interval with the schema they
    /// have (or one given), replacing them.
    Compact(CompactSpec),
}

/// Druid's `CompactionTask`, as far as the Overlord needs it: the interval it rewrites and
/// the ingestion facts that lock it. The peon reads the rest of the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactSpec {
    pub interval: Interval,
    /// Intervals `[interval]`; the given segment granularity, or none (the input segments'
    /// own intervals are kept); replacing, with `dropExisting`'s tombstones if set.
    pub ingest: BatchIngestSpec,
}

/// A sub-task of `index_parallel` (Druid's `SinglePhaseSubTask`, `PartialHashSegmentGenerateTask`
/// and `PartialGenericSegmentMergeTask`): its spec, and the supervisor it reports to.
#[derive(Debug, Clone, PartialEq)]
pub struct SubTaskSpec {
    pub ingest: BatchIngestSpec,
    pub supervisor_task_id: String,
    /// Zero-based: how many attempts of this split came before.
    pub num_attempts: u32,
}

impl TaskKind {
    /// The priority of a task whose context sets none: Druid's default of its class (batch
    /// 50, "everything else", kill among them, 0).
    fn default_priority(&self) -> i64 {
        match self {
            TaskKind::Kill(_) => OTHER_PRIORITY,
            TaskKind::Compact(_) => MERGE_PRIORITY,
            TaskKind::Noop(_)
            | TaskKind::Index(_)
            | TaskKind::IndexParallel(_)
            | TaskKind::SinglePhaseSubTask(_)
            | TaskKind::PartialIndexGenerate(_)
            | TaskKind::PartialIndexGenericMerge(_) => BATCH_PRIORITY,
        }
    }

    /// The batch ingestion facts of a task whose `spec` is an ingestion spec with an input
    /// source.
    pub fn batch_ingest(&self) -> Option<&BatchIngestSpec> {
        match self {
            TaskKind::Index(spec) | TaskKind::IndexParallel(spec) => Some(spec),
            TaskKind::SinglePhaseSubTask(sub) | TaskKind::PartialIndexGenerate(sub) => {
                Some(&sub.ingest)
            }
            TaskKind::Noop(_)
            | TaskKind::Kill(_)
            | TaskKind::Compact(_)
            | TaskKind::PartialIndexGenericMerge(_) => None,
        }
    }

    /// The group of a task submitted without one: Druid's `index` tasks that append share
    /// `index_append_<dataSource>`, since they may run side by side; others are their own.
    fn default_group_id(&self, id: &str, data_source: &str) -> String {
        match self {
            TaskKind::Index(spec) if spec.mode == IngestionMode::Append => {
                format!("index_append_{data_source}")
            }
            _ => id.to_string(),
        }
    }

    /// Druid's generated id for a task submitted without one.
    fn default_id(&self, task_type: &str, data_source: &str) -> String {
        match self {
            TaskKind::Noop(_) => format!("{task_type}_{}_{}", now_iso(), uuid::Uuid::new_v4()),
            // `AbstractTask.getOrMakeId`: type, datasource, 8 random letters a..p, now.
            TaskKind::Index(_)
            | TaskKind::IndexParallel(_)
            | TaskKind::SinglePhaseSubTask(_)
            | TaskKind::PartialIndexGenerate(_)
            | TaskKind::PartialIndexGenericMerge(_)
            | TaskKind::Compact(_) => {
                format!(
                    "{task_type}_{data_source}_{}_{}",
                    random_letters(),
                    now_iso()
                )
            }
            // `IdUtils.newTaskId`: type, datasource, 8 random letters a..p, the interval's
            // ends, now.
            TaskKind::Kill(spec) => format!(
                "{task_type}_{data_source}_{}_{}_{}_{}",
                random_letters(),
                format_ts(spec.interval.start),
                format_ts(spec.interval.end),
                now_iso()
            ),
        }
    }

    /// Whether the submitted `groupId` is ignored: Druid's kill task is always a group of its
    /// own, and an `index` task's group follows from its ingestion mode.
    fn ignores_group_id(&self) -> bool {
        matches!(self, TaskKind::Kill(_) | TaskKind::Index(_))
    }

    /// Whether the submitted `resource` is ignored: Druid's fixed-interval tasks (kill) always
    /// form an availability group of their own.
    fn ignores_resource(&self) -> bool {
        matches!(self, TaskKind::Kill(_))
    }

    /// Whether the peon running the task calls the Overlord (task actions) or deep storage,
    /// and so needs the peon configuration the MiddleManager writes beside the task.
    pub fn uses_task_actions(&self) -> bool {
        !matches!(self, TaskKind::Noop(_))
    }
}

/// How each type Steward accepts is parsed: the one list of task types, in the order an error
/// message lists them. A parser sees the task's datasource (`None` if the JSON has none).
type ParseKind = fn(&mut Map<String, Value>, Option<&str>) -> Result<TaskKind, TaskError>;
const TASK_TYPES: &[(&str, ParseKind)] = &[
    ("noop", |obj, _| Ok(TaskKind::Noop(parse_noop(obj)?))),
    ("kill", |obj, ds| Ok(TaskKind::Kill(parse_kill(obj, ds)?))),
    ("index", |obj, _| {
        Ok(TaskKind::Index(BatchIngestSpec::parse(obj)?))
    }),
    ("index_parallel", |obj, _| {
        Ok(TaskKind::IndexParallel(BatchIngestSpec::parse(obj)?))
    }),
    ("single_phase_sub_task", |obj, _| {
        Ok(TaskKind::SinglePhaseSubTask(parse_sub_task(obj)?))
    }),
    ("partial_index_generate", |obj, _| {
        Ok(TaskKind::PartialIndexGenerate(parse_sub_task(obj)?))
    }),
    ("partial_index_generic_merge", |obj, _| {
        Ok(TaskKind::PartialIndexGenericMerge(parse_sub_task(obj)?))
    }),
    ("compact", |obj, ds| {
        Ok(TaskKind::Compact(parse_compact(obj, ds)?))
    }),
];

/// The type names Steward accepts.
pub fn known_types() -> impl Iterator<Item = &'static str> {
    TASK_TYPES.iter().map(|(name, _)| *name)
}

const NOOP_DEFAULT_RUN_TIME_MS: u64 = 2500;
/// Druid's `Tasks.DEFAULT_BATCH_INDEX_TASK_PRIORITY`.
const BATCH_PRIORITY: i64 = 50;
/// Druid's `Tasks.DEFAULT_MERGE_TASK_PRIORITY`: compaction.
const MERGE_PRIORITY: i64 = 25;
/// Druid's `Tasks.DEFAULT_TASK_PRIORITY`: tasks of no other class.
const OTHER_PRIORITY: i64 = 0;
/// Druid's `KillUnusedSegmentsTask.DEFAULT_SEGMENT_NUKE_BATCH_SIZE`.
const KILL_DEFAULT_BATCH_SIZE: u32 = 100;
/// The class Druid names in the mapping errors of a kill task's required fields.
const KILL_CLASS: &str = "org.apache.druid.indexing.common.task.KillUnusedSegmentsTask";

/// A validated task. Cheap to clone: the payload is shared.
#[derive(Debug, Clone)]
pub struct Task {
    payload: Arc<Map<String, Value>>,
    id: String,
    group_id: String,
    data_source: String,
    task_type: String,
    resource: TaskResource,
    priority: i64,
    /// Shared like the payload: a task is cloned into every message that carries it.
    kind: Arc<TaskKind>,
}

impl PartialEq for Task {
    fn eq(&self, other: &Self) -> bool {
        self.payload == other.payload
    }
}

impl Task {
    /// Parses and validates a task as submitted, filling in Druid's defaults.
    pub fn from_json(value: Value) -> Result<Task, TaskError> {
        let Value::Object(mut obj) = value else {
            return Err(TaskError::Mapping(
                "Cannot construct instance of `Task`: expected a JSON object".into(),
            ));
        };
        let task_type = match obj.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(_) => {
                return Err(TaskError::mapping_at(
                    "type",
                    "Task field [type] must be a string",
                ))
            }
            None => {
                return Err(TaskError::mapping_at(
                    "type",
                    "Could not resolve subtype of `Task`: missing type id property 'type'",
                ))
            }
        };
        let Some(&(_, parse_kind)) = TASK_TYPES.iter().find(|(name, _)| *name == task_type) else {
            let known: Vec<&str> = known_types().collect();
            return Err(TaskError::mapping_at("type", format!(
                "Could not resolve type id '{task_type}' as a subtype of `Task`: known type ids = {known:?}"
            )));
        };
        let submitted_data_source = optional_string(&obj, "dataSource")?;
        let kind = parse_kind(&mut obj, submitted_data_source.as_deref())?;
        // An ingestion task's datasource is its spec's: Druid ignores a top-level one.
        let submitted_data_source = match kind.batch_ingest() {
            None => submitted_data_source,
            Some(_) => match obj
                .get("spec")
                .and_then(|s| s.pointer("/dataSchema/dataSource"))
            {
                Some(Value::String(ds)) => Some(ds.clone()),
                _ => {
                    return Err(TaskError::mapping_at(
                        "spec.dataSchema.dataSource",
                        "Task field [spec.dataSchema.dataSource] is required",
                    ))
                }
            },
        };
        let data_source = submitted_data_source.unwrap_or_else(|| "none".into());
        let data_source_field = match kind.batch_ingest() {
            None => "dataSource",
            Some(_) => "spec.dataSchema.dataSource",
        };
        validate_id("dataSource", &data_source)
            .and_then(|()| validate_data_source(&data_source))
            .map_err(|e| TaskError::invalid_at(data_source_field, e))?;
        let id = match obj.get("id") {
            None | Some(Value::Null) => kind.default_id(&task_type, &data_source),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(TaskError::mapping_at(
                    "id",
                    "Task field [id] must be a string",
                ))
            }
        };
        validate_id("Task ID", &id).map_err(|e| TaskError::invalid_at("id", e))?;
        let group_id = match kind.ignores_group_id() {
            true => kind.default_group_id(&id, &data_source),
            false => optional_string(&obj, "groupId")?
                .unwrap_or_else(|| kind.default_group_id(&id, &data_source)),
        };
        validate_id("Group ID", &group_id).map_err(|e| TaskError::invalid_at("groupId", e))?;
        let submitted_resource = obj.get("resource").filter(|_| !kind.ignores_resource());
        let resource = match submitted_resource {
            None | Some(Value::Null) => TaskResource::default_for(&id),
            Some(v) => {
                let r: TaskResource = serde_json::from_value(v.clone()).map_err(|e| {
                    TaskError::mapping_at(
                        "resource",
                        format!("Task field [resource] is invalid: {e}"),
                    )
                })?;
                if r.required_capacity == 0 {
                    return Err(TaskError::invalid_at(
                        "resource.requiredCapacity",
                        "resource.requiredCapacity must be greater than 0",
                    ));
                }
                r
            }
        };
        let context = match obj.get("context") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(TaskError::mapping_at(
                    "context",
                    "Task field [context] must be an object",
                ))
            }
        };
        let priority = match context.get("priority") {
            None | Some(Value::Null) => kind.default_priority(),
            Some(v) => v.as_i64().ok_or_else(|| {
                TaskError::mapping_at(
                    "context.priority",
                    "Task context [priority] must be an integer",
                )
            })?,
        };
        match &kind {
            TaskKind::Kill(_) => drop(KillSpec::lock_type(&context).map_err(TaskError::Invalid)?),
            other => {
                if let Some(ingest) = other.batch_ingest() {
                    ingest.lock_type(&context).map_err(TaskError::Invalid)?;
                }
            }
        }
        obj.insert("id".into(), Value::String(id.clone()));
        obj.insert("groupId".into(), Value::String(group_id.clone()));
        obj.insert("dataSource".into(), Value::String(data_source.clone()));
        obj.insert(
            "resource".into(),
            serde_json::to_value(&resource).expect("serialisable"),
        );
        obj.insert("context".into(), Value::Object(context));
        Ok(Task {
            payload: Arc::new(obj),
            id,
            group_id,
            data_source,
            task_type,
            resource,
            priority,
            kind: Arc::new(kind),
        })
    }

    /// Parses a payload read back from the store or from a task file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Task, TaskError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| TaskError::Mapping(format!("Task payload is not JSON: {e}")))?;
        Task::from_json(v)
    }

    /// Adds context keys the submitter did not set (Druid's context enrichment).
    pub fn with_context_defaults(mut self, defaults: &Map<String, Value>) -> Task {
        let payload = Arc::make_mut(&mut self.payload);
        if let Some(Value::Object(ctx)) = payload.get_mut("context") {
            for (k, v) in defaults {
                ctx.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub fn data_source(&self) -> &str {
        &self.data_source
    }
    pub fn task_type(&self) -> &str {
        &self.task_type
    }
    pub fn resource(&self) -> &TaskResource {
        &self.resource
    }
    pub fn priority(&self) -> i64 {
        self.priority
    }
    pub fn kind(&self) -> &TaskKind {
        &self.kind
    }
    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }
    /// The task's context (an object in every validated payload).
    pub fn context(&self) -> &Map<String, Value> {
        self.payload
            .get("context")
            .and_then(Value::as_object)
            .expect("a validated task has a context object")
    }
    pub fn to_json(&self) -> Value {
        Value::Object((*self.payload).clone())
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.payload).expect("a JSON map serialises")
    }
}

fn optional_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, TaskError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TaskError::mapping_at(
            key,
            format!("Task field [{key}] must be a string"),
        )),
    }
}

fn optional_millis(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, TaskError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            TaskError::mapping_at(
                key,
                format!("Task field [{key}] must be a non-negative integer"),
            )
        }),
    }
}

fn parse_noop(obj: &mut Map<String, Value>) -> Result<NoopSpec, TaskError> {
    let run_time_ms = match optional_millis(obj, "runTime")? {
        None | Some(0) => NOOP_DEFAULT_RUN_TIME_MS,
        Some(ms) => ms,
    };
    let is_ready_time_ms = optional_millis(obj, "isReadyTime")?.unwrap_or(0);
    let is_ready_result = match optional_string(obj, "isReadyResult")? {
        None => ReadyResult::Yes,
        Some(s) => match s.to_ascii_uppercase().as_str() {
            "YES" => ReadyResult::Yes,
            "NO" => ReadyResult::No,
            "EXCEPTION" => ReadyResult::Exception,
            _ => {
                return Err(TaskError::mapping_at(
                    "isReadyResult",
                    format!(
                        "Task field [isReadyResult] must be one of [YES, NO, EXCEPTION], not [{s}]"
                    ),
                ))
            }
        },
    };
    obj.insert("runTime".into(), run_time_ms.into());
    obj.insert("isReadyTime".into(), is_ready_time_ms.into());
    obj.insert("isReadyResult".into(), is_ready_result.as_str().into());
    Ok(NoopSpec {
        run_time_ms,
        is_ready_time_ms,
        is_ready_result,
    })
}

/// Druid's `CompactionTask`: `ioConfig.inputSpec` of type `interval` (or the deprecated
/// top-level `interval`), the segment granularity of `granularitySpec` (or the deprecated
/// top-level `segmentGranularity`), and `ioConfig.dropExisting`.
fn parse_compact(
    obj: &mut Map<String, Value>,
    data_source: Option<&str>,
) -> Result<CompactSpec, TaskError> {
    if data_source.is_none() {
        return Err(TaskError::mapping_at(
            "dataSource",
            "Task field [dataSource] is required",
        ));
    }
    let input_spec = obj.get("ioConfig").and_then(|io| io.get("inputSpec"));
    let (field, interval) = match input_spec.filter(|s| !s.is_null()) {
        Some(spec) => {
            match spec.get("type").and_then(Value::as_str) {
                Some("interval") => {}
                Some("segments") => {
                    return Err(TaskError::invalid_at(
                        "ioConfig.inputSpec.type",
                        "A compaction of listed [segments] is not supported by Steward yet; compact an [interval]",
                    ))
                }
                _ => {
                    return Err(TaskError::mapping_at(
                        "ioConfig.inputSpec.type",
                        "Task field [ioConfig.inputSpec.type] must be [interval] or [segments]",
                    ))
                }
            }
            ("ioConfig.inputSpec.interval", spec.get("interval"))
        }
        None => ("interval", obj.get("interval")),
    };
    let interval: Interval = match interval {
        Some(Value::String(s)) => s.parse().map_err(|e| {
            TaskError::mapping_at(field, format!("Task field [{field}] is invalid: {e}"))
        })?,
        _ => {
            return Err(TaskError::mapping_at(
                field,
                format!("Task field [{field}] is required"),
            ))
        }
    };
    if interval.is_empty() {
        return Err(TaskError::invalid_at(
            field,
            "The compaction interval is empty",
        ));
    }
    let granularity = obj
        .get("granularitySpec")
        .and_then(|g| g.get("segmentGranularity"))
        .or_else(|| obj.get("segmentGranularity"))
        .filter(|g| !g.is_null());
    let segment_granularity = granularity
        .map(|g| {
            Granularity::from_json(g).map_err(|e| {
                TaskError::mapping_at(
                    "granularitySpec.segmentGranularity",
                    format!("Task field [granularitySpec.segmentGranularity] is invalid: {e}"),
                )
            })
        })
        .transpose()?;
    // Druid's `NativeCompactionRunner` check: buckets reaching past the interval would be
    // rewritten from the part inside it, overshadowing the rest.
    if let Some(granularity) = &segment_granularity {
        let widened = Interval::condense(granularity.buckets(&interval).collect());
        if widened != [interval] {
            return Err(TaskError::invalid_at(
                field,
                format!(
                    "Interval[{interval}] to compact is not aligned with segmentGranularity[{}]",
                    granularity.to_json()
                ),
            ));
        }
    }
    let allow_non_aligned = obj
        .get("ioConfig")
        .and_then(|io| io.get("allowNonAlignedInterval"))
        .and_then(Value::as_bool);
    if allow_non_aligned == Some(true) {
        return Err(TaskError::invalid_at(
            "ioConfig.allowNonAlignedInterval",
            "allowNonAlignedInterval is not supported: it overshadows data outside the interval",
        ));
    }
    let drop_existing = match obj.get("ioConfig").and_then(|io| io.get("dropExisting")) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(TaskError::mapping_at(
                "ioConfig.dropExisting",
                "Task field [ioConfig.dropExisting] must be true or false",
            ))
        }
    };
    Ok(CompactSpec {
        interval,
        ingest: BatchIngestSpec {
            intervals: vec![interval],
            segment_granularity,
            mode: match drop_existing {
                true => IngestionMode::Replace,
                false => IngestionMode::ReplaceLegacy,
            },
        },
    })
}

fn parse_kill(
    obj: &mut Map<String, Value>,
    data_source: Option<&str>,
) -> Result<KillSpec, TaskError> {
    // Druid's null checks surface as Jackson's "problem" with the constructor.
    let problem = |what: &str| {
        TaskError::Mapping(format!(
            "Cannot construct instance of `{KILL_CLASS}`, problem: {what}"
        ))
    };
    if data_source.is_none() {
        return Err(problem("dataSource"));
    }
    let interval: Interval = match optional_string(obj, "interval")? {
        None => return Err(problem("interval")),
        Some(s) => s.parse().map_err(|e| {
            TaskError::mapping_at("interval", format!("Task field [interval] is invalid: {e}"))
        })?,
    };
    if interval.is_empty() {
        return Err(problem("interval empty"));
    }
    let versions = match obj.get("versions") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<Vec<String>>(v.clone()).map_err(|_| {
                TaskError::mapping_at(
                    "versions",
                    "Task field [versions] must be a list of strings",
                )
            })?,
        ),
    };
    let batch_size = match optional_int(obj, "batchSize")? {
        None => KILL_DEFAULT_BATCH_SIZE,
        Some(n) => positive(n).ok_or_else(|| {
            TaskError::invalid_at(
                "batchSize",
                format!("batchSize[{n}] must be a positive integer."),
            )
        })?,
    };
    let limit = match optional_int(obj, "limit")? {
        None => None,
        Some(n) => Some(positive(n).ok_or_else(|| {
            TaskError::invalid_at("limit", format!("limit[{n}] must be a positive integer."))
        })?),
    };
    let max_used_status_last_updated_time = optional_string(obj, "maxUsedStatusLastUpdatedTime")?
        .map(|s| {
            parse_instant(&s).map_err(|e| {
                TaskError::mapping_at(
                    "maxUsedStatusLastUpdatedTime",
                    format!("Task field [maxUsedStatusLastUpdatedTime] is invalid: {e}"),
                )
            })
        })
        .transpose()?;
    // Written back as Druid shows the task: the interval and instant in its format, the
    // default batch size filled in.
    obj.insert("interval".into(), interval.to_string().into());
    obj.insert("batchSize".into(), batch_size.into());
    if let Some(t) = max_used_status_last_updated_time {
        obj.insert("maxUsedStatusLastUpdatedTime".into(), format_ts(t).into());
    }
    Ok(KillSpec {
        interval,
        versions,
        batch_size,
        limit,
        max_used_status_last_updated_time,
    })
}

fn parse_sub_task(obj: &mut Map<String, Value>) -> Result<SubTaskSpec, TaskError> {
    let ingest = BatchIngestSpec::parse(obj)?;
    let supervisor_task_id = optional_string(obj, "supervisorTaskId")?.ok_or_else(|| {
        TaskError::mapping_at(
            "supervisorTaskId",
            "Task field [supervisorTaskId] is required",
        )
    })?;
    let num_attempts = optional_int(obj, "numAttempts")?.unwrap_or(0);
    let num_attempts = u32::try_from(num_attempts).map_err(|_| {
        TaskError::mapping_at(
            "numAttempts",
            "Task field [numAttempts] must not be negative",
        )
    })?;
    Ok(SubTaskSpec {
        ingest,
        supervisor_task_id,
        num_attempts,
    })
}

/// An integer field as Jackson reads an `Integer`: any JSON integer in `i32`'s range.
fn optional_int(obj: &Map<String, Value>, key: &str) -> Result<Option<i64>, TaskError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|n| i32::try_from(*n).is_ok())
            .map(Some)
            .ok_or_else(|| {
                TaskError::mapping_at(key, format!("Task field [{key}] must be an integer"))
            }),
    }
}

fn positive(n: i64) -> Option<u32> {
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// Druid's `IdUtils.getRandomId`: 8 letters from `a` to `p` (4 random bits each).
fn random_letters() -> String {
    uuid::Uuid::new_v4().as_bytes()[..4]
        .iter()
        .flat_map(|b| [b >> 4, b & 0x0F])
        .map(|nibble| char::from(b'a' + nibble))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn noop_gets_druid_defaults() {
        let t = Task::from_json(json!({"type":"noop"})).unwrap();
        assert!(t.id().starts_with("noop_"));
        assert_eq!(t.group_id(), t.id());
        assert_eq!(t.data_source(), "none");
        assert_eq!(t.priority(), 50);
        assert_eq!(t.resource(), &TaskResource::default_for(t.id()));
        let TaskKind::Noop(spec) = t.kind() else {
            panic!("a noop")
        };
        assert_eq!(spec.run_time_ms, 2500);
        assert_eq!(spec.is_ready_result, ReadyResult::Yes);
        assert_eq!(t.payload()["runTime"], 2500);
    }

    #[test]
    fn unknown_fields_are_kept_as_submitted() {
        let t = Task::from_json(json!({"type":"noop","id":"x","myField":{"a":[1,2]},
            "isReadyResult":"exception","context":{"priority":7,"k":"v"}}))
        .unwrap();
        assert_eq!(t.payload()["myField"], json!({"a":[1,2]}));
        assert_eq!(t.priority(), 7);
        let TaskKind::Noop(spec) = t.kind() else {
            panic!("a noop")
        };
        assert_eq!(spec.is_ready_result, ReadyResult::Exception);
        let again = Task::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(again, t);
    }

    #[test]
    fn bad_tasks_are_refused_with_a_message() {
        let unknown = Task::from_json(json!({"type":"nope"})).unwrap_err();
        assert!(unknown
            .to_string()
            .contains("Could not resolve type id 'nope'"));
        assert!(Task::from_json(json!({"id":"x"})).is_err());
        assert!(Task::from_json(json!([1])).is_err());
        let bad_id = Task::from_json(json!({"type":"noop","id":"a/b"})).unwrap_err();
        assert_eq!(bad_id.field(), Some("id"));
        assert!(matches!(bad_id.without_field(), TaskError::Invalid(_)));
        assert!(Task::from_json(json!({"type":"noop","runTime":"soon"})).is_err());
        assert!(Task::from_json(json!({"type":"noop","isReadyResult":"maybe"})).is_err());
        assert!(Task::from_json(
            json!({"type":"noop","resource":{"availabilityGroup":"g","requiredCapacity":0}})
        )
        .is_err());
    }

    #[test]
    fn context_defaults_only_fill_absent_keys() {
        let mut d = Map::new();
        d.insert("forceTimeChunkLock".into(), true.into());
        d.insert("k".into(), "default".into());
        let t = Task::from_json(json!({"type":"noop","context":{"k":"mine"}}))
            .unwrap()
            .with_context_defaults(&d);
        assert_eq!(
            t.payload()["context"],
            json!({"k":"mine","forceTimeChunkLock":true})
        );
    }

    fn kill(extra: Value) -> Result<Task, TaskError> {
        let mut t = json!({"type":"kill","dataSource":"wiki","interval":"2024-01-01/2024-02-01"});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        Task::from_json(t)
    }

    fn kill_spec(t: &Task) -> &KillSpec {
        match t.kind() {
            TaskKind::Kill(spec) => spec,
            other => panic!("not a kill: {other:?}"),
        }
    }

    #[test]
    fn kill_gets_druid_defaults_and_id() {
        let t = kill(json!({})).unwrap();
        let spec = kill_spec(&t);
        assert_eq!(spec.interval, "2024-01-01/2024-02-01".parse().unwrap());
        assert_eq!(
            (spec.batch_size, spec.limit, &spec.versions),
            (100, None, &None)
        );
        assert_eq!(spec.max_used_status_last_updated_time, None);
        assert_eq!(t.priority(), 0);
        assert_eq!(t.data_source(), "wiki");
        // kill_<ds>_<8 letters a..p>_<start>_<end>_<now>
        let rest = t.id().strip_prefix("kill_wiki_").unwrap();
        let (letters, rest) = rest.split_at(8);
        assert!(
            letters.chars().all(|c| ('a'..='p').contains(&c)),
            "{letters}"
        );
        let rest = rest
            .strip_prefix("_2024-01-01T00:00:00.000Z_2024-02-01T00:00:00.000Z_")
            .unwrap();
        assert!(crate::time::parse_instant(rest).is_ok(), "{rest}");
        assert_eq!(
            t.payload()["interval"],
            "2024-01-01T00:00:00.000Z/2024-02-01T00:00:00.000Z"
        );
        assert_eq!(t.payload()["batchSize"], 100);
        assert!(t.kind().uses_task_actions());
        assert!(!Task::from_json(json!({"type":"noop"}))
            .unwrap()
            .kind()
            .uses_task_actions());
    }

    #[test]
    fn kill_reads_every_field() {
        let t = kill(
            json!({"id":"k1","versions":["v1","v2"],"batchSize":7,"limit":20,
            "maxUsedStatusLastUpdatedTime":"2024-03-01T10:00:00Z","context":{"priority":25}}),
        )
        .unwrap();
        let spec = kill_spec(&t);
        assert_eq!(
            spec.versions,
            Some(vec!["v1".to_string(), "v2".to_string()])
        );
        assert_eq!((spec.batch_size, spec.limit), (7, Some(20)));
        assert_eq!(
            spec.max_used_status_last_updated_time,
            Some(crate::time::parse_instant("2024-03-01T10:00:00Z").unwrap())
        );
        assert_eq!(
            t.payload()["maxUsedStatusLastUpdatedTime"],
            "2024-03-01T10:00:00.000Z"
        );
        assert_eq!(t.priority(), 25);
        assert_eq!(Task::from_bytes(&t.to_bytes()).unwrap(), t);
    }

    #[test]
    fn kill_forms_a_group_of_its_own() {
        let t = kill(json!({"id":"k1","groupId":"shared",
            "resource":{"availabilityGroup":"g","requiredCapacity":3}}))
        .unwrap();
        assert_eq!(t.group_id(), "k1");
        assert_eq!(t.resource(), &TaskResource::default_for("k1"));
        assert_eq!(t.payload()["groupId"], "k1");
    }

    #[test]
    fn kill_is_refused_with_druids_messages() {
        let class = "Cannot construct instance of \
            `org.apache.druid.indexing.common.task.KillUnusedSegmentsTask`, problem: ";
        let cases = [
            (json!({"dataSource":null}), format!("{class}dataSource")),
            (json!({"interval":null}), format!("{class}interval")),
            (
                json!({"interval":"2024-01-01/2024-01-01"}),
                format!("{class}interval empty"),
            ),
            (
                json!({"interval":"2024-02-01/2024-01-01"}),
                "Task field [interval] is invalid: Invalid interval [2024-02-01/2024-01-01]: \
                 the end is before the start"
                    .to_string(),
            ),
            (
                json!({"interval":5}),
                "Task field [interval] must be a string".to_string(),
            ),
            (
                json!({"batchSize":0}),
                "batchSize[0] must be a positive integer.".to_string(),
            ),
            (
                json!({"batchSize":-3}),
                "batchSize[-3] must be a positive integer.".to_string(),
            ),
            (
                json!({"batchSize":"many"}),
                "Task field [batchSize] must be an integer".to_string(),
            ),
            (
                json!({"batchSize":3_000_000_000u64}),
                "Task field [batchSize] must be an integer".to_string(),
            ),
            (
                json!({"limit":0}),
                "limit[0] must be a positive integer.".to_string(),
            ),
            (
                json!({"versions":"v1"}),
                "Task field [versions] must be a list of strings".to_string(),
            ),
            (
                json!({"maxUsedStatusLastUpdatedTime":"yesterday"}),
                "Task field [maxUsedStatusLastUpdatedTime] is invalid: Invalid format: \
                 \"yesterday\" is not an ISO-8601 instant"
                    .to_string(),
            ),
            (
                json!({"context":{"taskLockType":"weird"}}),
                "Invalid taskLockType [weird]: must be one of [EXCLUSIVE, SHARED, REPLACE, APPEND]"
                    .to_string(),
            ),
            (
                json!({"context":{"useConcurrentLocks":"maybe"}}),
                "Task context [useConcurrentLocks] must be true or false, not [\"maybe\"]"
                    .to_string(),
            ),
        ];
        for (extra, message) in cases {
            let err = kill(extra.clone()).unwrap_err();
            assert_eq!(err.to_string(), message, "{extra}");
        }
        let batch_size = kill(json!({"batchSize":0})).unwrap_err();
        assert_eq!(batch_size.field(), Some("batchSize"));
        assert!(matches!(batch_size.without_field(), TaskError::Invalid(_)));
        assert!(matches!(
            kill(json!({"interval":null})),
            Err(TaskError::Mapping(_))
        ));
    }

    #[test]
    fn kill_lock_type_follows_the_context() {
        let lock = |context: Value| KillSpec::lock_type(context.as_object().unwrap());
        assert_eq!(lock(json!({})), Ok(TaskLockType::Exclusive));
        assert_eq!(
            lock(json!({"useConcurrentLocks":true})),
            Ok(TaskLockType::Replace)
        );
        assert_eq!(
            lock(json!({"useConcurrentLocks":"TRUE","taskLockType":"SHARED"})),
            Ok(TaskLockType::Replace)
        );
        assert_eq!(
            lock(json!({"useConcurrentLocks":false,"taskLockType":"append"})),
            Ok(TaskLockType::Append)
        );
        assert!(lock(json!({"taskLockType":7})).is_err());
    }

    // Druid's CompactionTask: ioConfig.inputSpec (or the deprecated interval), priority 25.
    #[test]
    fn compaction_tasks_read_their_interval_and_granularity() {
        let t = Task::from_json(json!({"type": "compact", "dataSource": "wiki",
            "ioConfig": {"type": "compact", "inputSpec": {"type": "interval",
                "interval": "2024-01-01/2024-02-01"}, "dropExisting": true},
            "granularitySpec": {"segmentGranularity": "MONTH"}}))
        .unwrap();
        assert!(t.id().starts_with("compact_wiki_"), "{}", t.id());
        assert_eq!((t.priority(), t.group_id()), (25, t.id()));
        let TaskKind::Compact(spec) = t.kind() else {
            panic!("a compaction")
        };
        assert_eq!(spec.interval, "2024-01-01/2024-02-01".parse().unwrap());
        assert_eq!(spec.ingest.mode, IngestionMode::Replace);
        assert_eq!(
            spec.ingest.lock_intervals(),
            ["2024-01-01/2024-02-01".parse::<Interval>().unwrap()]
        );
        let legacy = Task::from_json(json!({"type": "compact", "dataSource": "wiki",
            "interval": "2024-01-01/2024-01-02"}))
        .unwrap();
        let TaskKind::Compact(spec) = legacy.kind() else {
            panic!("a compaction")
        };
        assert_eq!(spec.ingest.segment_granularity, None);
        assert_eq!(spec.ingest.lock_intervals(), [spec.interval]);
        assert_eq!(spec.ingest.mode, IngestionMode::ReplaceLegacy);
        for (task, field) in [
            (json!({"type": "compact", "dataSource": "wiki"}), "interval"),
            (
                json!({"type": "compact", "interval": "2024-01-01/2024-01-02"}),
                "dataSource",
            ),
            (
                json!({"type": "compact", "dataSource": "wiki", "ioConfig": {"inputSpec":
                    {"type": "segments", "segments": []}}}),
                "ioConfig.inputSpec.type",
            ),
            (
                json!({"type": "compact", "dataSource": "wiki", "ioConfig": {"inputSpec":
                    {"type": "interval", "interval": "2024-01-01/2024-01-01"}}}),
                "ioConfig.inputSpec.interval",
            ),
            (
                json!({"type": "compact", "dataSource": "wiki", "ioConfig": {"inputSpec":
                    {"type": "interval", "interval": "2024-01-01/2024-01-03"}},
                    "granularitySpec": {"segmentGranularity": "MONTH"}}),
                "ioConfig.inputSpec.interval",
            ),
            (
                json!({"type": "compact", "dataSource": "wiki", "ioConfig": {"inputSpec":
                    {"type": "interval", "interval": "2024-01-01/2024-02-01"},
                    "allowNonAlignedInterval": true}}),
                "ioConfig.allowNonAlignedInterval",
            ),
        ] {
            let e = Task::from_json(task.clone()).unwrap_err();
            assert_eq!(e.field(), Some(field), "{task}: {e}");
        }
    }

    #[test]
    fn index_tasks_take_datasource_group_and_id_from_their_spec() {
        let spec = |io: Value| {
            json!({"dataSchema": {"dataSource": "wiki", "granularitySpec":
                {"intervals": ["2015-09-12/2015-09-13"]}}, "ioConfig": io})
        };
        let t = Task::from_json(json!({"type": "index", "dataSource": "ignored",
            "groupId": "ignored", "spec": spec(json!({}))}))
        .unwrap();
        assert_eq!(t.data_source(), "wiki");
        assert!(t.id().starts_with("index_wiki_"), "{}", t.id());
        assert_eq!(t.group_id(), t.id());
        assert_eq!(t.priority(), 50);
        assert!(t.kind().uses_task_actions());
        let append = Task::from_json(json!({"type": "index", "id": "a",
            "spec": spec(json!({"appendToExisting": true}))}))
        .unwrap();
        assert_eq!(append.group_id(), "index_append_wiki");
        let parallel = Task::from_json(json!({"type": "index_parallel", "groupId": "g",
            "spec": spec(json!({"appendToExisting": true}))}))
        .unwrap();
        assert_eq!(parallel.group_id(), "g");
        assert!(parallel.id().starts_with("index_parallel_wiki_"));
        let sub = Task::from_json(json!({"type": "single_phase_sub_task", "id": "s",
            "groupId": "g", "supervisorTaskId": "p", "numAttempts": 2, "spec": spec(json!({}))}))
        .unwrap();
        let TaskKind::SinglePhaseSubTask(sub_spec) = sub.kind() else {
            panic!("a sub-task")
        };
        assert_eq!(
            (sub_spec.supervisor_task_id.as_str(), sub_spec.num_attempts),
            ("p", 2)
        );
        assert_eq!(sub.group_id(), "g");
    }

    #[test]
    fn index_tasks_without_a_spec_datasource_or_readable_lock_type_are_refused() {
        let err = |v: Value| Task::from_json(v).unwrap_err().to_string();
        for reserved in ["shuffle-data", "intermediate_pushes"] {
            let refused = Task::from_json(json!({"type": "index",
                "spec": {"dataSchema": {"dataSource": reserved}}}))
            .unwrap_err();
            assert_eq!(refused.field(), Some("spec.dataSchema.dataSource"));
            assert!(refused.to_string().contains("is reserved"), "{refused}");
        }
        assert_eq!(
            err(json!({"type": "index", "dataSource": "wiki", "spec": {"dataSchema": {}}})),
            "Task field [spec.dataSchema.dataSource] is required"
        );
        assert_eq!(
            err(json!({"type": "index"})),
            "Task field [spec] is required"
        );
        assert_eq!(
            err(json!({"type": "single_phase_sub_task",
                "spec": {"dataSchema": {"dataSource": "w"}}})),
            "Task field [supervisorTaskId] is required"
        );
        assert!(
            err(json!({"type": "index", "context": {"taskLockType": "nope"},
            "spec": {"dataSchema": {"dataSource": "w"}}}))
            .contains("nope")
        );
    }
}
