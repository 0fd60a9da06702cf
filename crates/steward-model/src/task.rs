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

use crate::ids::validate_id;
use crate::time::now_iso;

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

/// Why a submitted task was refused; the text is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The JSON does not describe a task (Druid answers these as Jackson mapping errors).
    #[error("{0}")]
    Mapping(String),
    /// The task is well-formed but violates a rule (invalid id, ...).
    #[error("{0}")]
    Invalid(String),
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

/// The task types Steward runs, with their parsed specs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKind {
    Noop(NoopSpec),
}

/// How each type Steward accepts is parsed: the one list of task types, in the order an error
/// message lists them.
type ParseKind = fn(&mut Map<String, Value>) -> Result<TaskKind, TaskError>;
const TASK_TYPES: &[(&str, ParseKind)] = &[("noop", |obj| Ok(TaskKind::Noop(parse_noop(obj)?)))];

/// The type names Steward accepts.
pub fn known_types() -> impl Iterator<Item = &'static str> {
    TASK_TYPES.iter().map(|(name, _)| *name)
}

const NOOP_DEFAULT_RUN_TIME_MS: u64 = 2500;
const BATCH_PRIORITY: i64 = 50;

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
    kind: TaskKind,
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
                return Err(TaskError::Mapping(
                    "Task field [type] must be a string".into(),
                ))
            }
            None => {
                return Err(TaskError::Mapping(
                    "Could not resolve subtype of `Task`: missing type id property 'type'".into(),
                ))
            }
        };
        let Some(&(_, parse_kind)) = TASK_TYPES.iter().find(|(name, _)| *name == task_type) else {
            let known: Vec<&str> = known_types().collect();
            return Err(TaskError::Mapping(format!(
                "Could not resolve type id '{task_type}' as a subtype of `Task`: known type ids = {known:?}"
            )));
        };
        let id = match obj.get("id") {
            None | Some(Value::Null) => default_id(&task_type),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(TaskError::Mapping(
                    "Task field [id] must be a string".into(),
                ))
            }
        };
        validate_id("Task ID", &id).map_err(TaskError::Invalid)?;
        let data_source = optional_string(&obj, "dataSource")?.unwrap_or_else(|| "none".into());
        validate_id("dataSource", &data_source).map_err(TaskError::Invalid)?;
        let group_id = optional_string(&obj, "groupId")?.unwrap_or_else(|| id.clone());
        validate_id("Group ID", &group_id).map_err(TaskError::Invalid)?;
        let resource = match obj.get("resource") {
            None | Some(Value::Null) => TaskResource::default_for(&id),
            Some(v) => {
                let r: TaskResource = serde_json::from_value(v.clone()).map_err(|e| {
                    TaskError::Mapping(format!("Task field [resource] is invalid: {e}"))
                })?;
                if r.required_capacity == 0 {
                    return Err(TaskError::Invalid(
                        "resource.requiredCapacity must be greater than 0".into(),
                    ));
                }
                r
            }
        };
        let context = match obj.get("context") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(TaskError::Mapping(
                    "Task field [context] must be an object".into(),
                ))
            }
        };
        let priority = match context.get("priority") {
            None | Some(Value::Null) => BATCH_PRIORITY,
            Some(v) => v.as_i64().ok_or_else(|| {
                TaskError::Mapping("Task context [priority] must be an integer".into())
            })?,
        };
        let kind = parse_kind(&mut obj)?;
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
            kind,
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
        Some(_) => Err(TaskError::Mapping(format!(
            "Task field [{key}] must be a string"
        ))),
    }
}

fn optional_millis(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, TaskError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            TaskError::Mapping(format!("Task field [{key}] must be a non-negative integer"))
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
                return Err(TaskError::Mapping(format!(
                    "Task field [isReadyResult] must be one of [YES, NO, EXCEPTION], not [{s}]"
                )))
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

fn default_id(task_type: &str) -> String {
    format!("{task_type}_{}_{}", now_iso(), uuid::Uuid::new_v4())
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
        let TaskKind::Noop(spec) = t.kind();
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
        let TaskKind::Noop(spec) = t.kind();
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
        assert!(matches!(
            Task::from_json(json!({"type":"noop","id":"a/b"})),
            Err(TaskError::Invalid(_))
        ));
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
}
