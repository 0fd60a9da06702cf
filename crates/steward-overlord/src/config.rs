//! The Overlord's settings, with Druid's property names and defaults.

use std::time::Duration;

use steward_ingest::input::InputSourceConfig;

/// `druid.indexer.runner.*` settings the task runner honours.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerConfig {
    /// `taskAssignmentTimeout`: a worker that does not pick up an assignment in this time fails it
    /// (a vanished worker's assignment goes to another worker instead).
    pub task_assignment_timeout: Duration,
    /// `taskCleanupTimeout`: how long a vanished worker may come back before its tasks fail
    /// (those it never picked up go to another worker instead).
    pub task_cleanup_timeout: Duration,
    /// `maxRetriesBeforeBlacklist`: consecutive failures a worker may have before blacklisting.
    pub max_retries_before_blacklist: u32,
    /// `workerBlackListBackoffTime`: how long a worker stays blacklisted.
    pub worker_blacklist_backoff_time: Duration,
    /// `workerBlackListCleanupPeriod`: how often blacklisted workers are reconsidered.
    pub worker_blacklist_cleanup_period: Duration,
    /// `maxPercentageBlacklistWorkers`: share of workers that may be blacklisted at once.
    pub max_percentage_blacklist_workers: u32,
    /// `minWorkerVersion`: workers announcing a lower version (string order) get no tasks.
    pub min_worker_version: String,
    /// `parallelIndexTaskSlotRatio` (in [0, 1]): the share of each worker's slots that
    /// `index_parallel` supervisors may hold (at least one, at most all), so that supervisors
    /// cannot take every slot and leave none for the sub-tasks they wait for.
    pub parallel_index_task_slot_ratio: f64,
}

impl RunnerConfig {
    /// The slots of a worker of `capacity` that `index_parallel` supervisors may hold
    /// (Druid's `ImmutableWorkerInfo.getWorkerParallelIndexCapacity`).
    pub fn parallel_index_capacity(&self, capacity: u32) -> u32 {
        let share = (self.parallel_index_task_slot_ratio * f64::from(capacity)).floor() as u32;
        share.clamp(1, capacity.max(1))
    }
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            task_assignment_timeout: Duration::from_secs(300),
            task_cleanup_timeout: Duration::from_secs(900),
            max_retries_before_blacklist: 5,
            worker_blacklist_backoff_time: Duration::from_secs(900),
            worker_blacklist_cleanup_period: Duration::from_secs(300),
            max_percentage_blacklist_workers: 20,
            min_worker_version: "0".to_string(),
            parallel_index_task_slot_ratio: 1.0,
        }
    }
}

/// `druid.indexer.queue.*` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// `maxSize`: active tasks beyond this are refused with 429.
    pub max_size: usize,
    /// `maxTaskPayloadSize`: submitted payloads larger than this (bytes) are refused with 400.
    pub max_task_payload_size: usize,
    /// `druid.indexer.task.default.context`: keys added to every task's context when absent.
    pub default_context: serde_json::Map<String, serde_json::Value>,
    /// `druid.ingestion.http.*`: what a submitted `http` input source may use.
    pub input_sources: InputSourceConfig,
}

impl Default for QueueConfig {
    fn default() -> Self {
        let mut default_context = serde_json::Map::new();
        // Druid injects these two into every task it accepts.
        default_context.insert("forceTimeChunkLock".into(), true.into());
        default_context.insert("useLineageBasedSegmentAllocation".into(), true.into());
        QueueConfig {
            max_size: usize::MAX,
            max_task_payload_size: 64 * 1024 * 1024,
            default_context,
            input_sources: InputSourceConfig::default(),
        }
    }
}
