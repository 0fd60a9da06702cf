//! Druid's `SinglePhaseSubTaskSpec`: one split of a supervisor's input, and the sub-task that
//! ingests it.
//!
//! A spec is named `<supervisorId>_<n>` (Druid's `baseSubtaskSpecName` and spec counter) and
//! keeps that name across retries: it is the sequence under which its sub-tasks ask for
//! segment ids, so a retry is given the ids its failed attempt was given. Each attempt is a
//! task of its own, `single_phase_sub_task` with a generated id, in the supervisor's group (so
//! the lockbox lets it share the group's locks), carrying the supervisor's spec with the split
//! as its input source and the supervisor's context.

use serde_json::{json, Value};
use steward_ingest::input::InputSourceSpec;
use steward_model::Task;

/// One split and its name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SubTaskSpec {
    pub(crate) id: String,
    /// The split, as Druid's input source JSON.
    pub(crate) input_source: Value,
}

/// The specs of `supervisor`'s input splits (Druid's `subTaskSpecIterator`).
pub(crate) fn specs(
    supervisor: &Task,
    splits: &[InputSourceSpec],
) -> Result<Vec<SubTaskSpec>, String> {
    splits
        .iter()
        .enumerate()
        .map(|(n, split)| {
            Ok(SubTaskSpec {
                id: format!("{}_{n}", supervisor.id()),
                input_source: serde_json::to_value(split)
                    .map_err(|e| format!("Cannot write split [{n}]: {e}"))?,
            })
        })
        .collect()
}

impl SubTaskSpec {
    /// Attempt `num_attempts` (zero-based) of this spec: Druid's `newSubTask`.
    pub(crate) fn new_sub_task(
        &self,
        supervisor: &Task,
        num_attempts: u32,
    ) -> Result<Task, String> {
        let payload = supervisor.payload();
        let mut spec = payload.get("spec").cloned().unwrap_or_else(|| json!({}));
        let io_config = spec
            .as_object_mut()
            .ok_or("The supervisor's spec is not an object")?
            .entry("ioConfig")
            .or_insert_with(|| json!({}));
        let io_config = io_config
            .as_object_mut()
            .ok_or("The supervisor's ioConfig is not an object")?;
        io_config.insert("type".into(), json!("index_parallel"));
        io_config.insert("inputSource".into(), self.input_source.clone());
        let task = json!({
            "type": "single_phase_sub_task",
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
        let specs = specs(&supervisor, &source.splits(&hint).unwrap()).unwrap();
        let ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["index_parallel_wiki_x_0", "index_parallel_wiki_x_1"]);
        assert_eq!(
            specs[1].input_source,
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
        assert_eq!(
            json["spec"]["ioConfig"]["inputSource"],
            specs[1].input_source
        );
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
