//! The bookkeeping of a supervisor's sub-tasks (Druid's `TaskMonitor` with the scheduling of
//! `ParallelIndexPhaseRunner`), as plain state: which specs to start, which attempts run,
//! what each status change means, which reports count.
//!
//! At most `maxNumConcurrentSubTasks` attempts run at once; specs start in order. A failed
//! attempt is retried (attempt `n+1` of the same spec) while the spec has had fewer than
//! `maxRetry` attempts, as Druid counts them; a spec out of attempts fails the phase. A report
//! counts only from an attempt that is running when it arrives and then succeeds: a failed
//! attempt's segments are never published, even if it reported them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use steward_model::TaskState;

use super::report::SubTaskReport;
use super::sub_task_spec::SubTaskSpec;

/// An attempt to start: attempt `num_attempts` (zero-based) of spec `spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Submission {
    pub(crate) spec: usize,
    pub(crate) num_attempts: u32,
}

/// What a status change of a sub-task means for the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing: still running, or not one of the running attempts.
    None,
    /// The attempt succeeded its spec (named here).
    Succeeded { spec_id: String },
    /// The attempt failed; this retry is to be started.
    Retry(Submission),
    /// The attempt failed and its spec has no attempts left: the phase failed.
    Exhausted,
}

/// Where the phase is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Succeeded,
    Failed(String),
}

#[derive(Debug)]
struct SpecEntry {
    spec: SubTaskSpec,
    attempts: u32,
    succeeded_by: Option<String>,
}

#[derive(Debug)]
pub(crate) struct TaskMonitor {
    specs: Vec<SpecEntry>,
    next_spec: usize,
    max_concurrent: usize,
    max_retry: u32,
    /// Running attempt → index of its spec.
    running: BTreeMap<String, usize>,
    /// Reports of running attempts and of the attempts that succeeded.
    reports: HashMap<String, SubTaskReport>,
    /// Druid's name of the phase, in its failure message.
    phase_name: &'static str,
    succeeded: usize,
    failed_attempts: usize,
    failed: bool,
}

impl TaskMonitor {
    pub(crate) fn new(
        phase_name: &'static str,
        specs: Vec<SubTaskSpec>,
        max_concurrent: usize,
        max_retry: u32,
    ) -> Self {
        TaskMonitor {
            specs: specs
                .into_iter()
                .map(|spec| SpecEntry {
                    spec,
                    attempts: 0,
                    succeeded_by: None,
                })
                .collect(),
            next_spec: 0,
            max_concurrent: max_concurrent.max(1),
            max_retry,
            running: BTreeMap::new(),
            reports: HashMap::new(),
            phase_name,
            succeeded: 0,
            failed_attempts: 0,
            failed: false,
        }
    }

    /// The next spec to start, if a slot is free; its attempt must be recorded with
    /// [`TaskMonitor::started`] before asking again.
    pub(crate) fn next_submission(&mut self) -> Option<Submission> {
        if self.failed || self.running.len() >= self.max_concurrent {
            return None;
        }
        let spec = self.next_spec;
        (spec < self.specs.len()).then(|| {
            self.next_spec += 1;
            Submission {
                spec,
                num_attempts: 0,
            }
        })
    }

    pub(crate) fn spec(&self, submission: Submission) -> &SubTaskSpec {
        &self.specs[submission.spec].spec
    }

    /// `task_id` was submitted for `submission`.
    pub(crate) fn started(&mut self, submission: Submission, task_id: &str) {
        self.specs[submission.spec].attempts = submission.num_attempts + 1;
        self.running.insert(task_id.to_string(), submission.spec);
    }

    /// The Overlord says `task_id` is in `state`.
    pub(crate) fn status_changed(&mut self, task_id: &str, state: TaskState) -> Change {
        if state == TaskState::Running {
            return Change::None;
        }
        let Some(index) = self.running.remove(task_id) else {
            return Change::None;
        };
        // A sub-task reports before it ends; a success without a report cannot be published.
        if state == TaskState::Success && self.reports.contains_key(task_id) {
            self.succeeded += 1;
            let entry = &mut self.specs[index];
            entry.succeeded_by = Some(task_id.to_string());
            return Change::Succeeded {
                spec_id: entry.spec.id.clone(),
            };
        }
        self.reports.remove(task_id);
        self.failed_attempts += 1;
        let entry = &self.specs[index];
        if entry.attempts < self.max_retry {
            Change::Retry(Submission {
                spec: index,
                num_attempts: entry.attempts,
            })
        } else {
            self.failed = true;
            Change::Exhausted
        }
    }

    /// A running attempt's report. The same report may arrive twice (an HTTP retry); a
    /// different second one is refused, as is one from an attempt that is not running.
    pub(crate) fn collect_report(&mut self, report: SubTaskReport) -> Result<(), String> {
        let task_id = report.task_id();
        if !self.running.contains_key(task_id) {
            return Err(format!(
                "Task[{task_id}] is not a running sub-task of this supervisor"
            ));
        }
        if let Some(previous) = self.reports.get(task_id) {
            if *previous != report {
                return Err(format!(
                    "task[{task_id}] sent two or more reports and previous report is different from the current one"
                ));
            }
        }
        self.reports.insert(task_id.to_string(), report);
        Ok(())
    }

    pub(crate) fn phase(&self) -> Phase {
        if self.failed {
            Phase::Failed(format!(
                "Failed in phase[{}]. See task logs for details.",
                self.phase_name
            ))
        } else if self.succeeded == self.specs.len() {
            Phase::Succeeded
        } else {
            Phase::Running
        }
    }

    /// Whether a running attempt has reported: it ends as soon as its peon exits.
    pub(crate) fn awaiting_end(&self) -> bool {
        self.running.keys().any(|id| self.reports.contains_key(id))
    }

    /// Druid's name of the phase (the supervisor's `/phase`).
    pub(crate) fn phase_name(&self) -> &'static str {
        self.phase_name
    }

    pub(crate) fn running_task_ids(&self) -> impl Iterator<Item = &str> {
        self.running.keys().map(String::as_str)
    }

    /// The reports of the attempts that succeeded their specs: what is published.
    pub(crate) fn succeeded_reports(&self) -> impl Iterator<Item = &SubTaskReport> {
        self.specs
            .iter()
            .filter_map(|e| e.succeeded_by.as_ref())
            .filter_map(|task_id| self.reports.get(task_id))
    }

    /// Every report held (running attempts' too): whose files go when the ingestion fails.
    pub(crate) fn all_reports(&self) -> impl Iterator<Item = &SubTaskReport> {
        self.reports.values()
    }

    /// Druid's `ParallelIndexingPhaseProgress`.
    pub(crate) fn progress(&self) -> Value {
        let (running, succeeded, failed) =
            (self.running.len(), self.succeeded, self.failed_attempts);
        json!({
            "running": running,
            "succeeded": succeeded,
            "failed": failed,
            "complete": succeeded + failed,
            "total": running + succeeded + failed,
            "estimatedExpectedSucceeded": self.specs.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHASE: &str = "segment generation";

    fn specs(n: usize) -> Vec<SubTaskSpec> {
        (0..n)
            .map(|i| SubTaskSpec {
                id: format!("sup_{i}"),
                task_type: "single_phase_sub_task",
                io_config: json!({"type": "index_parallel",
                    "inputSource": {"type": "local", "files": [format!("/data/{i}.json")]}}),
            })
            .collect()
    }

    fn report(task_id: &str, segments: usize) -> SubTaskReport {
        let segment = json!({"dataSource": "wiki", "interval": "2015-09-12/2015-09-13",
            "version": "v", "shardSpec": {"type": "building_numbered", "partitionId": 0},
            "size": 1});
        serde_json::from_value(json!({"type": "pushed_segments", "taskId": task_id,
            "segments": vec![segment; segments]}))
        .unwrap()
    }

    /// Starts every submission the monitor offers, naming attempts `<spec>#<n>`.
    fn start_all(m: &mut TaskMonitor) -> Vec<String> {
        let mut started = Vec::new();
        while let Some(s) = m.next_submission() {
            let id = format!("{}#{}", m.spec(s).id, s.num_attempts);
            m.started(s, &id);
            started.push(id);
        }
        started
    }

    // Druid's TaskMonitorTest.testBasic and ParallelIndexPhaseRunner's scheduling.
    #[test]
    fn runs_at_most_the_concurrency_and_succeeds_once_every_spec_has() {
        let mut m = TaskMonitor::new(PHASE, specs(3), 2, 3);
        assert_eq!(start_all(&mut m), ["sup_0#0", "sup_1#0"]);
        assert_eq!(
            m.status_changed("sup_0#0", TaskState::Running),
            Change::None
        );
        assert!(!m.awaiting_end());
        m.collect_report(report("sup_0#0", 2)).unwrap();
        assert!(m.awaiting_end());
        // The same report twice is an HTTP retry; a different one is refused.
        m.collect_report(report("sup_0#0", 2)).unwrap();
        assert!(m.collect_report(report("sup_0#0", 1)).is_err());
        assert_eq!(
            m.status_changed("sup_0#0", TaskState::Success),
            Change::Succeeded {
                spec_id: "sup_0".into()
            }
        );
        assert!(!m.awaiting_end());
        assert_eq!(start_all(&mut m), ["sup_2#0"]);
        for id in ["sup_1#0", "sup_2#0"] {
            assert_eq!(m.phase(), Phase::Running);
            m.collect_report(report(id, 1)).unwrap();
            m.status_changed(id, TaskState::Success);
        }
        assert_eq!(m.phase(), Phase::Succeeded);
        let published: usize = m
            .succeeded_reports()
            .map(|r| match r {
                SubTaskReport::Pushed(r) => r.segments.len(),
                SubTaskReport::Generated(_) => 0,
            })
            .sum();
        assert_eq!(published, 4);
        assert_eq!(
            m.progress(),
            json!({"running": 0, "succeeded": 3, "failed": 0, "complete": 3, "total": 3,
                "estimatedExpectedSucceeded": 3})
        );
    }

    // Druid's TaskMonitorTest.testRetry: maxRetry counts attempts.
    #[test]
    fn a_failed_attempt_is_retried_until_its_spec_has_had_max_retry_attempts() {
        let mut m = TaskMonitor::new(PHASE, specs(2), 2, 2);
        start_all(&mut m);
        // A failed attempt's report never counts.
        m.collect_report(report("sup_0#0", 3)).unwrap();
        let retry = m.status_changed("sup_0#0", TaskState::Failed);
        assert_eq!(
            retry,
            Change::Retry(Submission {
                spec: 0,
                num_attempts: 1
            })
        );
        assert!(m.all_reports().next().is_none());
        let Change::Retry(retry) = retry else {
            unreachable!()
        };
        m.started(retry, "sup_0#1");
        // No new spec while the retry holds the slot.
        assert_eq!(m.next_submission(), None);
        // An attempt that is no longer running cannot report.
        assert!(m.collect_report(report("sup_0#0", 3)).is_err());
        assert_eq!(
            m.status_changed("sup_0#1", TaskState::Failed),
            Change::Exhausted
        );
        assert_eq!(
            m.phase(),
            Phase::Failed("Failed in phase[segment generation]. See task logs for details.".into())
        );
        assert_eq!(m.next_submission(), None);
        assert_eq!(m.running_task_ids().collect::<Vec<_>>(), ["sup_1#0"]);
        assert_eq!(m.progress()["failed"], 2);
    }

    #[test]
    fn a_success_without_a_report_is_a_failed_attempt() {
        let mut m = TaskMonitor::new(PHASE, specs(1), 1, 3);
        start_all(&mut m);
        assert_eq!(
            m.status_changed("sup_0#0", TaskState::Success),
            Change::Retry(Submission {
                spec: 0,
                num_attempts: 1
            })
        );
        assert_eq!(m.status_changed("unknown", TaskState::Failed), Change::None);
    }

    #[test]
    fn no_split_succeeds_at_once() {
        let mut m = TaskMonitor::new(PHASE, Vec::new(), 2, 3);
        assert_eq!(m.next_submission(), None);
        assert_eq!(m.phase(), Phase::Succeeded);
    }
}
