//! Druid's `SubTaskSpec`s: one split of a supervisor's input (or, in a hash-partitioned
//! ingestion's second phase, some of the partitions the first phase wrote), and the sub-task
//! that ingests it.
//!
//! A spec is named `<supervisorId>_<n>` (Druid's `baseSubtaskSpecName` and the spec counter
//! of its phase) and keeps that name across retries: it is the
//! sequence under which its sub-tasks ask for segment ids, so a retry is given the ids its
//! failed attempt was given. Each attempt is a task of its own with a generated id, in the
//! supervisor's group (so the lockbox lets it share the group's locks), carrying the
//! supervisor's spec with the spec's own `ioConfig` and the supervisor's context.

use serde_json::{json, Value};
use steward_ingest::input::InputSourceSpec;
use steward_model::Task;

use super::partitions::PartitionLocation;

/// What one spec's attempts do, and its name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SubTaskSpec {
    pub(crate) id: String,
    /// The sub-tasks' type.
    pub(crate) task_type: &'static str,
    /// The sub-tasks' `ioConfig`.
    pub(crate) io_config: Value,
}

/// The specs of `supervisor`'s input splits (Druid's `subTaskSpecIterator`), each read by a
/// sub-task of `task_type`.
pub(crate) fn specs(
    supervisor: &Task,
    splits: &[InputSourceSpec],
    task_type: &'static str,
) -> Result<Vec<SubTaskSpec>, String> {
    let mut io_config = supervisor
        .payload()
        .get("spec")
        .and_then(|spec| spec.get("ioConfig"))
        .and_then(Value::as_object)
        .cloned()
        .ok_or("The supervisor's spec has no ioConfig object")?;
    io_config.insert("type".into(), json!("index_parallel"));
    splits
        .iter()
        .enumerate()
        .map(|(n, split)| {
            let split = serde_json::to_value(split)
                .map_err(|e| format!("Cannot write split [{n}]: {e}"))?;
            io_config.insert("inputSource".into(), split);
            Ok(SubTaskSpec {
                id: format!("{}_{n}", supervisor.id()),
                task_type,
                io_config: Value::Object(io_config.clone()),
            })
        })
        .collect()
}

/// The specs of a second phase: one `partial_index_generic_merge` per list of partitions
/// (Druid's `PartialGenericSegmentMergeIOConfig`).
pub(crate) fn merge_specs(
    supervisor: &Task,
    assignments: Vec<Vec<PartitionLocation>>,
) -> Vec<SubTaskSpec> {
    assignments
        .into_iter()
        .enumerate()
        .map(|(n, locations)| SubTaskSpec {
            id: format!("{}_{n}", supervisor.id()),
            task_type: MERGE_TYPE,
            io_config: json!({"type": MERGE_TYPE, "partitionLocations": locations}),
        })
        .collect()
}

/// The second phase's sub-task type, and its `ioConfig` type.
pub(crate) const MERGE_TYPE: &str = "partial_index_generic_merge";

impl SubTaskSpec {
    /// Attempt `num_attempts` (zero-based) of this spec: Druid's `newSubTask`.
    pub(crate) fn new_sub_task(
        &self,
        supervisor: &Task,
        num_attempts: u32,
    ) -> Result<Task, String> {
        let payload = supervisor.payload();
        let mut spec = payload.get("spec").cloned().unwrap_or_else(|| json!({}));
        spec.as_object_mut()
            .ok_or("The supervisor's spec is not an object")?
            .insert("ioConfig".into(), self.io_config.clone());
        let task = json!({
            "type": self.task_type,
            "groupId": supervisor.group_id(),
            "dataSource": supervisor.data_source(),
            "supervisorTaskId": supervisor.id(),
            "subtaskSpecId": self.id,
            "numAttempts": num_attempts,
            "spec": spec,
            "context": supervisor.context(),
        });
        Task::from_json(task).map_err(|e| format!("Cannot make a sub-task of [{}]: {e}", self.id))
    }
}

/// The spec a sub-task belongs to (`subtaskSpecId`); Druid's tasks of before 0.22 had none,
/// and their segment sequence was their own id.
pub(crate) fn spec_id_of(sub_task: &Task) -> &str {
    sub_task
        .payload()
        .get("subtaskSpecId")
        .and_then(Value::as_str)
        .unwrap_or_else(|| sub_task.id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_ingest::spec::SplitHintSpec;
    use steward_model::TaskKind;

    fn supervisor(input: Value) -> Task {
        Task::from_json(json!({
            "type": "index_parallel", "id": "index_parallel_wiki_x", "groupId": "g",
            "context": {"priority": 60, "k": "v"},
            "spec": {
                "dataSchema": {"dataSource": "wiki", "granularitySpec": {"intervals": ["2015-09-12/2015-09-13"]}},
                "ioConfig": {"type": "index_parallel", "inputSource": input, "inputFormat": {"type": "json"}},
                "tuningConfig": {"type": "index_parallel", "maxNumConcurrentSubTasks": 2}
            }
        }))
        .unwrap()
    }

    // Druid's SinglePhaseParallelIndexTaskRunner.newTaskSpec and SinglePhaseSubTaskSpec.newSubTask.
    #[test]
    fn each_split_becomes_a_named_spec_whose_attempts_are_sub_tasks_of_the_group() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.json", "b.json", "c.json"] {
            std::fs::write(dir.path().join(name), "{}\n").unwrap();
        }
        let input = json!({"type": "local", "baseDir": dir.path(), "filter": "*.json"});
        let supervisor = supervisor(input.clone());
        let source = InputSourceSpec::from_json(&input, &Default::default()).unwrap();
        let hint = SplitHintSpec::MaxSize {
            max_split_size: 1 << 30,
            max_num_files: 2,
        };
        let specs = specs(
            &supervisor,
            &source.splits(&hint).unwrap(),
            "single_phase_sub_task",
        )
        .unwrap();
        let ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["index_parallel_wiki_x_0", "index_parallel_wiki_x_1"]);
        assert_eq!(
            specs[1].io_config["inputSource"],
            json!({"type": "local", "files": [dir.path().join("c.json")]})
        );

        let task = specs[1].new_sub_task(&supervisor, 2).unwrap();
        assert_eq!(task.task_type(), "single_phase_sub_task");
        assert!(
            task.id().starts_with("single_phase_sub_task_wiki_"),
            "{}",
            task.id()
        );
        assert_eq!(task.group_id(), "g");
        assert_eq!(task.priority(), 60);
        assert_eq!(spec_id_of(&task), "index_parallel_wiki_x_1");
        let TaskKind::SinglePhaseSubTask(sub) = task.kind() else {
            panic!("a sub-task")
        };
        assert_eq!(sub.supervisor_task_id, "index_parallel_wiki_x");
        assert_eq!(sub.num_attempts, 2);
        let json = task.to_json();
        assert_eq!(json["spec"]["ioConfig"], specs[1].io_config);
        assert_eq!(
            json["spec"]["ioConfig"]["inputFormat"],
            json!({"type": "json"})
        );
        assert_eq!(json["spec"]["tuningConfig"]["maxNumConcurrentSubTasks"], 2);
        assert_eq!(json["context"]["k"], "v");
        // Every attempt is a new task.
        assert_ne!(
            specs[1].new_sub_task(&supervisor, 3).unwrap().id(),
            task.id()
        );
    }
}
