//! Worker select strategies (Druid's `WorkerSelectStrategy` and `WorkerSelectUtils`): which
//! runnable worker gets a task.
//!
//! The runner decides which workers are *runnable* for a task (initialized, enabled, version,
//! not blacklisted, enough free capacity, no task of the same availability group) and hands them
//! to [`WorkerSelectStrategy::select`], which applies the rest of Druid's rules in Druid's order:
//! `taskLimits` (cluster-wide slots per task type), then `affinityConfig` or
//! `workerCategorySpec` (which workers may take the task), then the preference among those
//! (`equalDistribution`: most free capacity; `fillCapacity`: most capacity in use). Ties go to
//! the lowest host name, so the choice is deterministic and testable; Druid leaves them to a
//! hash map's order.
//!
//! The types deserialize from the JSON of Druid's dynamic worker config;
//! [`crate::worker_config`] reads the envelope and the strategy's `type`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// A runnable worker as a strategy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub host: &'a str,
    pub capacity: u32,
    pub used: u32,
    pub category: &'a str,
}

/// What a strategy looks at in a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDemand<'a> {
    pub task_type: &'a str,
    pub data_source: &'a str,
    pub required_capacity: u32,
}

/// Cluster-wide slots, for `taskLimits`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotUsage {
    /// Capacity of every worker.
    pub total_capacity: u32,
    /// Capacity in use by tasks of the task's type, over every worker.
    pub used_by_type: u32,
}

/// Which of the workers allowed to take a task gets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkerPreference {
    /// The worker with the most free capacity (`equalDistribution`, Druid's default).
    #[default]
    EqualDistribution,
    /// The worker with the most capacity in use, filling one worker before the next
    /// (`fillCapacity`).
    FillCapacity,
}

/// Which workers may take a task at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum WorkerRestriction {
    /// Every runnable worker.
    #[default]
    None,
    /// `affinityConfig` of the `equalDistribution` and `fillCapacity` families.
    Affinity(AffinityConfig),
    /// `workerCategorySpec` of the `...WithCategorySpec` strategies.
    Category(WorkerCategorySpec),
}

/// Druid's `selectStrategy`. The default is Druid's: `equalDistribution` without limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerSelectStrategy {
    pub preference: WorkerPreference,
    pub restriction: WorkerRestriction,
    pub task_limits: TaskLimits,
}

/// Druid's `AffinityConfig`: `{"affinity": {"<dataSource>": ["host:port", ...]}, "strong": false}`.
/// Listed workers are reserved for their datasources.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "RawAffinityConfig")]
pub struct AffinityConfig {
    affinity: BTreeMap<String, BTreeSet<String>>,
    strong: bool,
    /// Every listed worker, so that "is this worker reserved" costs one lookup per candidate.
    affinity_workers: BTreeSet<String>,
}

#[derive(Deserialize)]
struct RawAffinityConfig {
    #[serde(default)]
    affinity: BTreeMap<String, BTreeSet<String>>,
    #[serde(default)]
    strong: bool,
}

impl From<RawAffinityConfig> for AffinityConfig {
    fn from(raw: RawAffinityConfig) -> Self {
        AffinityConfig::new(raw.affinity, raw.strong)
    }
}

impl AffinityConfig {
    pub fn new(affinity: BTreeMap<String, BTreeSet<String>>, strong: bool) -> Self {
        let affinity_workers = affinity.values().flatten().cloned().collect();
        AffinityConfig {
            affinity,
            strong,
            affinity_workers,
        }
    }
}

/// Druid's `WorkerCategorySpec`: per task type, the worker category its tasks go to.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkerCategorySpec {
    /// Task type → its categories.
    pub category_map: BTreeMap<String, CategoryConfig>,
    /// When no worker of the preferred category can take a task: wait (`true`) or use any
    /// runnable worker (`false`).
    pub strong: bool,
}

/// Druid's `CategoryConfig` (its `supervisorIdCategoryAffinity` is for streaming tasks, which
/// Steward does not run, and is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CategoryConfig {
    pub default_category: Option<String>,
    /// Datasource → category, before `defaultCategory`.
    pub category_affinity: BTreeMap<String, String>,
}

impl WorkerCategorySpec {
    /// Druid's `getTaskCategory`: the datasource's category, else the type's default; `None`
    /// when the task type has no entry or neither is set.
    fn preferred_category<'s>(&'s self, task: &TaskDemand<'_>) -> Option<&'s str> {
        let config = self.category_map.get(task.task_type)?;
        config
            .category_affinity
            .get(task.data_source)
            .or(config.default_category.as_ref())
            .map(String::as_str)
    }
}

/// Druid's `TaskLimits`: cluster-wide caps on the slots one task type may hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(try_from = "RawTaskLimits")]
pub struct TaskLimits {
    pub max_slot_count_by_type: BTreeMap<String, u32>,
    pub max_slot_ratio_by_type: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTaskLimits {
    #[serde(default)]
    max_slot_count_by_type: BTreeMap<String, i64>,
    #[serde(default)]
    max_slot_ratio_by_type: BTreeMap<String, f64>,
}

impl TryFrom<RawTaskLimits> for TaskLimits {
    type Error = String;

    /// Druid's validation and messages.
    fn try_from(raw: RawTaskLimits) -> Result<Self, String> {
        if raw.max_slot_count_by_type.values().any(|&n| n < 0) {
            return Err(format!(
                "Max task slot count limit for any type must be greater than zero. Found[{:?}].",
                raw.max_slot_count_by_type
            ));
        }
        if raw
            .max_slot_ratio_by_type
            .values()
            .any(|r| !(0.0..=1.0).contains(r))
        {
            return Err(format!(
                "Max task slot ratios should be in the interval of [0, 1]. Found[{:?}].",
                raw.max_slot_ratio_by_type
            ));
        }
        Ok(TaskLimits {
            max_slot_count_by_type: raw
                .max_slot_count_by_type
                .into_iter()
                .map(|(t, n)| (t, u32::try_from(n).unwrap_or(u32::MAX)))
                .collect(),
            max_slot_ratio_by_type: raw.max_slot_ratio_by_type,
        })
    }
}

impl TaskLimits {
    /// Whether limits exist for a task type; only then is the cluster's usage needed.
    pub fn limits(&self, task_type: &str) -> bool {
        self.max_slot_count_by_type.contains_key(task_type)
            || self.max_slot_ratio_by_type.contains_key(task_type)
    }

    /// The slots a task type may hold: the lower of its count and its ratio of the cluster's
    /// capacity, the ratio giving at least one slot (Druid's `getLimitForTask`).
    pub fn limit(&self, task_type: &str, total_capacity: u32) -> Option<u32> {
        let count = self.max_slot_count_by_type.get(task_type).copied();
        let ratio = self.max_slot_ratio_by_type.get(task_type).map(|r| {
            let slots = (r * f64::from(total_capacity)).floor() as u32;
            slots.min(total_capacity).max(1)
        });
        match (count, ratio) {
            (Some(c), Some(r)) => Some(c.min(r)),
            (c, r) => c.or(r),
        }
    }

    /// Whether a task may take its slots now. `usage` is only called for a limited type.
    pub fn allows(&self, task: &TaskDemand<'_>, usage: impl FnOnce() -> SlotUsage) -> bool {
        if !self.limits(task.task_type) {
            return true;
        }
        let usage = usage();
        let limit = self
            .limit(task.task_type, usage.total_capacity)
            .expect("the type is limited");
        i64::from(limit) - i64::from(usage.used_by_type) >= i64::from(task.required_capacity)
    }
}

/// The preferred worker among those offered so far.
struct Best<'a> {
    preference: WorkerPreference,
    best: Option<Candidate<'a>>,
}

impl<'a> Best<'a> {
    fn new(preference: WorkerPreference) -> Self {
        Best {
            preference,
            best: None,
        }
    }

    fn key(&self, c: &Candidate<'_>) -> u32 {
        match self.preference {
            WorkerPreference::EqualDistribution => c.capacity.saturating_sub(c.used),
            WorkerPreference::FillCapacity => c.used,
        }
    }

    fn offer(&mut self, c: Candidate<'a>) {
        let better = match &self.best {
            None => true,
            Some(b) => {
                let (kc, kb) = (self.key(&c), self.key(b));
                kc > kb || (kc == kb && c.host < b.host)
            }
        };
        if better {
            self.best = Some(c);
        }
    }

    fn host(&self) -> Option<&'a str> {
        self.best.map(|c| c.host)
    }
}

impl WorkerSelectStrategy {
    /// The worker that gets `task`, among the runnable ones, or `None` if the task has to wait.
    ///
    /// `usage` is called only when `taskLimits` limit the task's type: summing the cluster's
    /// usage costs a pass over every worker, which most tasks do not need.
    pub fn select<'a>(
        &self,
        task: &TaskDemand<'_>,
        usage: impl FnOnce() -> SlotUsage,
        runnable: impl IntoIterator<Item = Candidate<'a>>,
    ) -> Option<&'a str> {
        if !self.task_limits.allows(task, usage) {
            return None;
        }
        // One pass over the workers fills both the preferred pool and the fallback pool.
        let mut preferred = Best::new(self.preference);
        let mut fallback = Best::new(self.preference);
        match &self.restriction {
            WorkerRestriction::None => runnable.into_iter().for_each(|c| preferred.offer(c)),
            WorkerRestriction::Affinity(a) => {
                let reserved = |c: &Candidate<'_>| a.affinity_workers.contains(c.host);
                match a.affinity.get(task.data_source) {
                    // A datasource without affinity must leave reserved workers alone.
                    None => runnable
                        .into_iter()
                        .filter(|c| !reserved(c))
                        .for_each(|c| preferred.offer(c)),
                    Some(own) => {
                        for c in runnable {
                            if own.contains(c.host) {
                                preferred.offer(c);
                            } else if !a.strong && !reserved(&c) {
                                fallback.offer(c);
                            }
                        }
                    }
                }
            }
            WorkerRestriction::Category(spec) => match spec.preferred_category(task) {
                None => runnable.into_iter().for_each(|c| preferred.offer(c)),
                Some(category) => {
                    for c in runnable {
                        if c.category == category {
                            preferred.offer(c);
                        }
                        if !spec.strong {
                            fallback.offer(c);
                        }
                    }
                }
            },
        }
        preferred.host().or_else(|| fallback.host())
    }
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
