//! The task actions a peon asks the leader for, as methods of the [`Overlord`] handle: lock
//! actions go to the core as commands; segment reads go to the store; a publish or a nuke is
//! the core's check and pin, then the store's transaction, then the core's unpin.
//!
//! A publish's transaction runs on a task of its own, so it completes, and the pins are let
//! go, even when the peon that asked hangs up halfway: a transaction is never abandoned while
//! its locks are still pinned, and never left pinning them.

use std::time::Duration;

use jiff::Timestamp;
use steward_metadata::{AllocateRequest, StoreError, UnusedSegmentsQuery};
use steward_model::action::SegmentPublishResult;
use steward_model::segment::SegmentIdWithShardSpec;
use steward_model::{
    DataSegment, Granularity, Interval, PartialShardSpec, SegmentSchemaMapping, TaskLock,
    TaskLockType,
};
use tokio::sync::oneshot;

use super::command::Command;
use super::Overlord;
use crate::actions::{ActionRefused, PublishGate, SegmentCoverage, INVALID_LOCKS};
use crate::lockbox::{LockRequest, LockResult};

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Refused(#[from] ActionRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This Overlord no longer leads, or is stopping.
    #[error("the overlord is not running")]
    NotStarted,
}

/// Druid's `segmentAllocate` request, parsed.
#[derive(Debug, Clone)]
pub struct AllocateSegment {
    pub data_source: String,
    pub timestamp: Timestamp,
    pub query_granularity: Granularity,
    pub preferred_segment_granularity: Granularity,
    pub sequence_name: String,
    pub previous_segment_id: Option<String>,
    pub skip_segment_lineage_check: bool,
    pub partial_shard_spec: PartialShardSpec,
    pub lock_type: TaskLockType,
}

/// One of the three publish actions, parsed: Druid's `segmentTransactionalInsert` (no lock
/// type: the task's locks may be of any), `segmentTransactionalAppend` or
/// `segmentTransactionalReplace`.
#[derive(Debug, Clone)]
pub struct Publish {
    pub segments: Vec<DataSegment>,
    /// `segmentsToBeOverwritten`: checked against the task's locks like the segments.
    pub overwritten: Vec<DataSegment>,
    /// Row counts to store beside the segments.
    pub schema: Option<SegmentSchemaMapping>,
    pub lock_type: Option<TaskLockType>,
}

impl Publish {
    /// A publish that overwrites no segment by name.
    pub fn new(
        segments: Vec<DataSegment>,
        schema: Option<SegmentSchemaMapping>,
        lock_type: Option<TaskLockType>,
    ) -> Publish {
        Publish {
            segments,
            overwritten: Vec::new(),
            schema,
            lock_type,
        }
    }
}

/// Druid's `SegmentAllocateAction.MAX_ATTEMPTS`: tries when the used segments of the row's
/// interval changed under an allocation.
const ALLOCATE_ATTEMPTS: usize = 3;

fn coverage(segments: &[DataSegment]) -> Vec<SegmentCoverage> {
    segments
        .iter()
        .map(|s| SegmentCoverage {
            id: s.id().to_string(),
            data_source: s.data_source.clone(),
            interval: s.interval,
            version: s.version.clone(),
        })
        .collect()
}

impl Overlord {
    async fn ask_core<R>(
        &self,
        cmd: impl FnOnce(oneshot::Sender<R>) -> Command,
    ) -> Result<R, ActionError> {
        let (reply, rx) = oneshot::channel();
        self.send(cmd(reply)).map_err(|_| ActionError::NotStarted)?;
        rx.await.map_err(|_| ActionError::NotStarted)
    }

    /// `lockTryAcquire`: the lock, or `None` if it cannot be had now or was revoked.
    pub(crate) async fn lock_try_acquire(
        &self,
        task_id: &str,
        request: LockRequest,
    ) -> Result<Option<TaskLock>, ActionError> {
        let result = self
            .ask_core(|reply| Command::LockTryAcquire {
                task_id: task_id.to_string(),
                request,
                reply,
            })
            .await??;
        Ok(match result {
            LockResult::Acquired(lock) => Some(lock),
            LockResult::Revoked(_) | LockResult::Unavailable => None,
        })
    }

    /// `lockAcquire`: waits up to `timeout` for the lock (Druid's `TaskLockbox.lock`), trying
    /// again each time a lock is released; `None` on timeout or if the task's lock was revoked.
    pub(crate) async fn lock_acquire(
        &self,
        task_id: &str,
        request: LockRequest,
        timeout: Duration,
    ) -> Result<Option<TaskLock>, ActionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut releases = self.lock_releases.clone();
        loop {
            // Marked seen before trying, so a release between the try and the wait is not
            // missed.
            releases.borrow_and_update();
            let result = self
                .ask_core(|reply| Command::LockTryAcquire {
                    task_id: task_id.to_string(),
                    request: request.clone(),
                    reply,
                })
                .await??;
            match result {
                LockResult::Acquired(lock) => return Ok(Some(lock)),
                LockResult::Revoked(_) => return Ok(None),
                LockResult::Unavailable => {}
            }
            match tokio::time::timeout_at(deadline, releases.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ActionError::NotStarted),
                Err(_) => return Ok(None),
            }
        }
    }

    /// `lockRelease`.
    pub(crate) async fn lock_release(
        &self,
        task_id: &str,
        interval: Interval,
    ) -> Result<(), ActionError> {
        self.ask_core(|reply| Command::LockRelease {
            task_id: task_id.to_string(),
            interval,
            reply,
        })
        .await??;
        Ok(())
    }

    /// `lockList`.
    pub(crate) async fn lock_list(&self, task_id: &str) -> Result<Vec<TaskLock>, ActionError> {
        let id = task_id.to_string();
        Ok(self
            .query(move |core| core.task_locks(&id))
            .await
            .ok_or(ActionError::NotStarted)??)
    }

    /// Refuses an action of a task that is not active here.
    pub(crate) async fn check_acting(&self, task_id: &str) -> Result<(), ActionError> {
        let id = task_id.to_string();
        self.query(move |core| core.acting_task(&id).map(|_| ()))
            .await
            .ok_or(ActionError::NotStarted)??;
        Ok(())
    }

    /// Runs `work` inside the critical section of `segments` for the task: the locks are
    /// checked and pinned first, let go after, whatever happens to the caller. `None`: a lock
    /// was revoked and nothing ran.
    async fn in_critical_section<R: Send + 'static>(
        &self,
        task_id: &str,
        segments: &[DataSegment],
        lock_type: Option<TaskLockType>,
        work: impl std::future::Future<Output = Result<R, StoreError>> + Send + 'static,
    ) -> Result<Option<R>, ActionError> {
        let gate = self
            .ask_core(|reply| Command::BeginPublish {
                task_id: task_id.to_string(),
                segments: coverage(segments),
                lock_type,
                reply,
            })
            .await??;
        if gate == PublishGate::InvalidLocks {
            return Ok(None);
        }
        let tx = self.tx.clone();
        let id = task_id.to_string();
        let done = tokio::spawn(async move {
            let result = work.await;
            let _ = tx.send(Command::EndPublish(id));
            result
        });
        match done.await {
            Ok(result) => Ok(Some(result?)),
            Err(e) => Err(ActionError::Store(StoreError::Unavailable(format!(
                "the publish did not complete: {e}"
            )))),
        }
    }

    /// `segmentTransactionalInsert` (and its `Append`/`Replace` forms, which need the task's
    /// locks to be of that type): publishes every segment, or none, in one transaction that also
    /// marks what they overshadow unused. The segments to be overwritten need covering locks
    /// too, as in Druid; with time-chunk locks the overshadowing replaces them.
    pub(crate) async fn publish_segments(
        &self,
        task_id: &str,
        publish: Publish,
    ) -> Result<SegmentPublishResult, ActionError> {
        let Publish {
            segments,
            overwritten,
            schema,
            lock_type,
        } = publish;
        if segments.is_empty() {
            return Ok(SegmentPublishResult {
                segments: Vec::new(),
                success: true,
                error_msg: None,
                retryable: false,
            });
        }
        let store = self.store.clone();
        let to_publish = segments.clone();
        let mut checked = segments.clone();
        checked.extend(overwritten);
        let outcome = self
            .in_critical_section(task_id, &checked, lock_type, async move {
                store
                    .publish_segments(&to_publish, schema.as_ref(), Timestamp::now())
                    .await
            })
            .await?;
        Ok(match outcome {
            None => SegmentPublishResult {
                segments: Vec::new(),
                success: false,
                error_msg: Some(INVALID_LOCKS.to_string()),
                retryable: false,
            },
            Some(outcome) => {
                let inserted: std::collections::BTreeSet<String> = outcome
                    .inserted
                    .iter()
                    .map(|s| s.id().to_string())
                    .collect();
                SegmentPublishResult {
                    segments: segments
                        .into_iter()
                        .filter(|s| inserted.contains(&s.id().to_string()))
                        .collect(),
                    success: true,
                    error_msg: None,
                    retryable: false,
                }
            }
        })
    }

    /// `segmentNuke`: deletes the segments' rows, inside the task's locks.
    pub(crate) async fn nuke_segments(
        &self,
        task_id: &str,
        segments: Vec<DataSegment>,
    ) -> Result<(), ActionError> {
        let store = self.store.clone();
        let ids: Vec<String> = segments.iter().map(|s| s.id().to_string()).collect();
        let outcome = self
            .in_critical_section(task_id, &segments, None, async move {
                store.delete_segments(&ids).await
            })
            .await?;
        match outcome {
            Some(_) => Ok(()),
            None => Err(ActionRefused::Conflict(INVALID_LOCKS.to_string()).into()),
        }
    }

    /// `segmentAllocate` (Druid's `SegmentAllocateAction`): a new pending segment id for a row
    /// at `timestamp`. If used segments hold the row's query-granularity bucket, the new id
    /// joins their interval; otherwise the preferred segment granularity is tried, then finer
    /// ones, each under a lock of the task on that interval. `None`: no id can be had (a lock
    /// is held by another task, or segments of another granularity are in the way).
    pub(crate) async fn allocate_segment(
        &self,
        task_id: &str,
        req: AllocateSegment,
    ) -> Result<Option<SegmentIdWithShardSpec>, ActionError> {
        let id = task_id.to_string();
        let task = self
            .query(move |core| core.acting_task(&id))
            .await
            .ok_or(ActionError::NotStarted)??;
        if task.data_source() != req.data_source {
            return Err(ActionRefused::Invalid(format!(
                "Task dataSource must match action dataSource, [{}] != [{}].",
                task.data_source(),
                req.data_source
            ))
            .into());
        }
        let gate = {
            let mut gates = self.allocations.lock().expect("not poisoned");
            gates.entry(req.data_source.clone()).or_default().clone()
        };
        let _one_at_a_time = gate.lock().await;
        let row = req.query_granularity.bucket(req.timestamp);
        for _ in 0..ALLOCATE_ATTEMPTS {
            let used = self.store.used_segments(&req.data_source, &[row]).await?;
            let allocated = match used.first() {
                None => {
                    let mut found = None;
                    for g in req.preferred_segment_granularity.finer_than() {
                        let interval = g.bucket(req.timestamp);
                        if interval.contains(&row) {
                            found = self.try_allocate(&task, &req, interval).await?;
                            if found.is_some() {
                                break;
                            }
                        }
                    }
                    found
                }
                Some(existing) if existing.interval.contains(&row) => {
                    self.try_allocate(&task, &req, existing.interval).await?
                }
                Some(existing) => {
                    tracing::error!(
                        segment = %existing.id(),
                        row = %row,
                        "the interval of an existing segment does not contain the row's interval"
                    );
                    None
                }
            };
            if allocated.is_some() {
                return Ok(allocated);
            }
            // Someone may have published over the row meanwhile: try again only then.
            let again = self.store.used_segments(&req.data_source, &[row]).await?;
            let ids = |v: &[DataSegment]| -> Vec<String> {
                let mut ids: Vec<String> = v.iter().map(|s| s.id().to_string()).collect();
                ids.sort();
                ids
            };
            if ids(&again) == ids(&used) {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// One interval of `allocate_segment`: the lock, then the pending segment under its version.
    async fn try_allocate(
        &self,
        task: &steward_model::Task,
        req: &AllocateSegment,
        interval: Interval,
    ) -> Result<Option<SegmentIdWithShardSpec>, ActionError> {
        let request = LockRequest {
            lock_type: req.lock_type,
            interval,
            preferred_version: None,
        };
        let lock = match self
            .ask_core(|reply| Command::LockTryAcquire {
                task_id: task.id().to_string(),
                request,
                reply,
            })
            .await??
        {
            LockResult::Acquired(lock) => lock,
            LockResult::Revoked(_) => {
                return Err(ActionRefused::Conflict(format!(
                    "The lock for interval[{interval}] is preempted and no longer valid"
                ))
                .into())
            }
            LockResult::Unavailable => return Ok(None),
        };
        let allocate = AllocateRequest {
            data_source: req.data_source.clone(),
            interval,
            sequence_name: req.sequence_name.clone(),
            previous_segment_id: req.previous_segment_id.clone(),
            skip_segment_line_check: req.skip_segment_lineage_check,
            lock_version: lock.version,
            shard_spec: req.partial_shard_spec,
            task_allocator_id: Some(task.id().to_string()),
            now: Timestamp::now(),
        };
        Ok(self.store.allocate_pending_segment(&allocate).await?)
    }

    /// `retrieveUsedSegments`.
    pub(crate) async fn used_segments(
        &self,
        task_id: &str,
        data_source: &str,
        intervals: &[Interval],
    ) -> Result<Vec<DataSegment>, ActionError> {
        self.check_acting(task_id).await?;
        Ok(self.store.used_segments(data_source, intervals).await?)
    }

    /// `retrieveUnusedSegments`.
    pub(crate) async fn unused_segments(
        &self,
        task_id: &str,
        query: &UnusedSegmentsQuery,
    ) -> Result<Vec<DataSegment>, ActionError> {
        self.check_acting(task_id).await?;
        Ok(self.store.unused_segments(query).await?)
    }
}
