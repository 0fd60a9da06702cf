//! [`TimedStore`]: a [`MetadataStore`] that times every operation of the store it wraps, in
//! the Overlord's metrics (`metadata/request/time`, labelled with the backend and the
//! operation).
//!
//! One place for every operation, rather than a timer beside each statement in the SQL code:
//! what an operator needs is how long the Overlord waits for the store, per kind of request
//! (a transaction of several statements counts as the one request it is), and this cannot
//! miss an operation added later, because the trait will not compile without it here.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use jiff::Timestamp;
use steward_metrics::catalogue::METADATA_REQUEST_TIME;
use steward_metrics::Metrics;
use steward_model::{
    DataSegment, Interval, SegmentIdWithShardSpec, SegmentSchemaMapping, Task, TaskLock, TaskStatus,
};

use crate::{
    ActiveTasks, AllocateRequest, AuditEntry, AuditInfo, DataSourceStats, DataSourceSummary,
    MetadataStore, PublishOutcome, SegmentSelection, StoreError, TaskInfo, TaskPage, TaskPageQuery,
    TaskQuery, UnusedSegmentsQuery,
};

/// A store whose operations are timed.
pub struct TimedStore {
    inner: Arc<dyn MetadataStore>,
    /// `sqlite`, `postgresql` or `mysql`.
    backend: &'static str,
    metrics: Metrics,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn MetadataStore>, backend: &'static str, metrics: Metrics) -> Self {
        TimedStore {
            inner,
            backend,
            metrics,
        }
    }
}

/// Implements every operation as the inner store's, timed under the operation's name.
macro_rules! timed {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        #[async_trait]
        impl MetadataStore for TimedStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    let started = Instant::now();
                    let result = self.inner.$name($($arg),*).await;
                    let labels = [self.backend, stringify!($name)];
                    self.metrics
                        .observe(&METADATA_REQUEST_TIME, &labels, started.elapsed());
                    result
                }
            )*
        }
    };
}

timed! {
    fn insert_task(&self, task: &Task, created: Timestamp, status: &TaskStatus)
        -> Result<(), StoreError>;
    fn set_status(&self, status: &TaskStatus) -> Result<bool, StoreError>;
    fn get_task(&self, id: &str) -> Result<Option<Task>, StoreError>;
    fn get_info(&self, id: &str) -> Result<Option<TaskInfo>, StoreError>;
    fn get_infos(&self, ids: &[String]) -> Result<Vec<TaskInfo>, StoreError>;
    fn active_tasks(&self) -> Result<ActiveTasks, StoreError>;
    fn list(&self, query: &TaskQuery) -> Result<Vec<TaskInfo>, StoreError>;
    fn complete_task_page(&self, query: &TaskPageQuery) -> Result<TaskPage, StoreError>;
    fn complete_task_data_sources(&self) -> Result<Vec<String>, StoreError>;
    fn get_config(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn set_config_with_audit(
        &self,
        name: &str,
        payload: &[u8],
        audit: &AuditInfo,
        audit_time: Timestamp
    ) -> Result<(), StoreError>;
    fn compare_and_swap_config(&self, name: &str, expected: Option<&[u8]>, new: &[u8])
        -> Result<bool, StoreError>;
    fn audit_history(
        &self,
        key: &str,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        limit: Option<usize>
    ) -> Result<Vec<AuditEntry>, StoreError>;
    fn delete_complete_tasks_created_before(&self, before: Timestamp) -> Result<u64, StoreError>;
    fn insert_lock(&self, task_id: &str, lock: &TaskLock) -> Result<(), StoreError>;
    fn replace_lock(&self, task_id: &str, old: &TaskLock, new: &TaskLock)
        -> Result<(), StoreError>;
    fn delete_lock(&self, task_id: &str, lock: &TaskLock) -> Result<(), StoreError>;
    fn delete_task_locks(&self, task_id: &str) -> Result<(), StoreError>;
    fn active_task_locks(&self) -> Result<Vec<(String, TaskLock)>, StoreError>;
    fn publish_segments(
        &self,
        segments: &[DataSegment],
        schema: Option<&SegmentSchemaMapping>,
        now: Timestamp
    ) -> Result<PublishOutcome, StoreError>;
    fn used_segments(&self, data_source: &str, intervals: &[Interval])
        -> Result<Vec<DataSegment>, StoreError>;
    fn unused_segments(&self, query: &UnusedSegmentsQuery)
        -> Result<Vec<DataSegment>, StoreError>;
    fn segment(&self, data_source: &str, id: &str)
        -> Result<Option<(DataSegment, bool)>, StoreError>;
    fn mark_segments(
        &self,
        data_source: &str,
        selection: &SegmentSelection,
        used: bool,
        now: Timestamp
    ) -> Result<u64, StoreError>;
    fn delete_segments(&self, ids: &[String]) -> Result<u64, StoreError>;
    fn data_sources(&self, include_unused: bool) -> Result<Vec<DataSourceSummary>, StoreError>;
    fn data_source_stats(&self) -> Result<Vec<DataSourceStats>, StoreError>;
    fn used_segments_of(&self, data_sources: &[String]) -> Result<Vec<DataSegment>, StoreError>;
    fn allocate_pending_segment(&self, request: &AllocateRequest)
        -> Result<Option<SegmentIdWithShardSpec>, StoreError>;
    fn delete_pending_segments(&self, data_source: &str, created: Option<Interval>)
        -> Result<u64, StoreError>;
    fn delete_pending_segments_of_allocator(&self, task_allocator_id: &str)
        -> Result<u64, StoreError>;
}
