use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::json;
use steward_cluster::{
    CoordinatorError, FileTaskLogs, InProcessCoordinator, Leadership, OverlordCoordinator,
    RunnerEvent, WorkerCoordinator,
};
use steward_metadata::{
    ActiveTasks, AllocateRequest, AuditEntry, AuditInfo, DataSourceStats, DataSourceSummary,
    MetadataStore, PublishOutcome, SegmentSelection, SqliteStore, StoreError, TaskInfo, TaskPage,
    TaskPageQuery, TaskQuery, UnusedSegmentsQuery,
};
use steward_model::{
    DataSegment, Interval, LockGranularity, SegmentIdWithShardSpec, SegmentSchemaMapping, Task,
    TaskLock, TaskLockType, TaskStatus, Worker, DEFAULT_WORKER_CATEGORY,
};
use steward_testkit::wait_for;
use tokio::sync::{mpsc, watch, Semaphore};

use super::io::{IoRunner, Lanes, LockRowWork};
use super::*;
use crate::config::{QueueConfig, RunnerConfig};
use crate::core::{IoEffect, OverlordCore};
use crate::lockbox::{LockPersist, LockRequest};
use crate::term::Term;

const DEADLINE: Duration = Duration::from_secs(10);

/// Counts an assignment dropped before its gate opened, unless it went through.
struct Abandoned {
    count: Arc<AtomicUsize>,
    passed: bool,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if !self.passed {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The in-process coordinator with assignments held at a gate the test opens.
struct Gated {
    inner: Arc<InProcessCoordinator>,
    gate: Semaphore,
    waiting: AtomicUsize,
    abandoned: Arc<AtomicUsize>,
    written: AtomicUsize,
    /// The assignment writes and removals, in the order they reached the coordinator.
    log: Mutex<Vec<String>>,
}

#[async_trait]
impl OverlordCoordinator for Gated {
    async fn subscribe(&self) -> Result<mpsc::UnboundedReceiver<RunnerEvent>, CoordinatorError> {
        OverlordCoordinator::subscribe(&*self.inner).await
    }

    async fn assign(&self, worker: &str, task: &Task) -> Result<(), CoordinatorError> {
        let mut abandoned = Abandoned {
            count: self.abandoned.clone(),
            passed: false,
        };
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _open = self.gate.acquire().await.expect("gate open");
        abandoned.passed = true;
        self.written.fetch_add(1, Ordering::SeqCst);
        let written = self.inner.assign(worker, task).await;
        self.log
            .lock()
            .unwrap()
            .push(format!("assign {}", task.id()));
        written
    }

    async fn remove_assignment(&self, worker: &str, task_id: &str) -> Result<(), CoordinatorError> {
        let removed = OverlordCoordinator::remove_assignment(&*self.inner, worker, task_id).await;
        self.log.lock().unwrap().push(format!("remove {task_id}"));
        removed
    }

    async fn remove_status(&self, worker: &str, task_id: &str) -> Result<(), CoordinatorError> {
        self.inner.remove_status(worker, task_id).await
    }

    async fn assignments(&self) -> Result<Vec<(String, String)>, CoordinatorError> {
        self.inner.assignments().await
    }
}

fn worker_a() -> Worker {
    Worker {
        scheme: "http".into(),
        host: "mm-a:8091".into(),
        ip: "mm-a".into(),
        capacity: 1,
        version: "0".into(),
        category: DEFAULT_WORKER_CATEGORY.into(),
    }
}

/// An in-process coordinator with `worker` announced, behind a closed gate.
async fn gated(worker: &Worker) -> Arc<Gated> {
    let inner = Arc::new(InProcessCoordinator::new());
    inner.announce(worker).await.unwrap();
    Arc::new(Gated {
        inner,
        gate: Semaphore::new(0),
        waiting: AtomicUsize::new(0),
        abandoned: Arc::new(AtomicUsize::new(0)),
        written: AtomicUsize::new(0),
        log: Mutex::new(Vec::new()),
    })
}

#[tokio::test]
async fn effects_on_one_task_and_worker_land_in_the_order_emitted_and_others_do_not_wait() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("meta.db"), "druid")
        .await
        .unwrap();
    let worker = worker_a();
    let gated = gated(&worker).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let store: Arc<dyn steward_metadata::MetadataStore> = Arc::new(store);
    let io = IoRunner {
        tx,
        assignment_timeout: DEADLINE,
        lock_rows: super::io::lock_row_writer(store.clone(), Term::unending()),
        store,
        coordinator: gated.clone(),
        http: steward_http::InternalClient::default()
            .builder()
            .build()
            .unwrap(),
        term: Term::unending(),
        lanes: Lanes::default(),
        metrics: Default::default(),
    };
    let t1 = Task::from_json(json!({"type": "noop", "id": "t1"})).unwrap();
    let remove = |id: &str| IoEffect::RemoveAssignment {
        worker: worker.host.clone(),
        task_id: id.to_string(),
    };
    // A withdrawal, the assignment again (held at the gate), and its withdrawal: the last must
    // wait for the assignment, the first must not be overtaken by it.
    let core = OverlordCore::new(QueueConfig::default(), RunnerConfig::default());
    io.run_all(
        &core,
        vec![
            remove("t1"),
            IoEffect::Assign {
                worker: worker.clone(),
                task: t1,
            },
            remove("t1"),
            remove("t2"),
        ],
    );
    wait_for("the assignment to be under way", DEADLINE, || async {
        (gated.waiting.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    wait_for("the removal of t2 to land", DEADLINE, || async {
        gated
            .log
            .lock()
            .unwrap()
            .contains(&"remove t2".to_string())
            .then_some(())
    })
    .await;
    assert_eq!(
        gated
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| *l == "remove t1")
            .count(),
        1,
        "the second removal of t1 overtook its assignment"
    );
    gated.gate.add_permits(1);
    wait_for("every effect to land", DEADLINE, || async {
        (gated.log.lock().unwrap().len() == 4).then_some(())
    })
    .await;
    let log = gated.log.lock().unwrap().clone();
    let t1: Vec<&String> = log.iter().filter(|l| l.ends_with("t1")).collect();
    assert_eq!(t1, ["remove t1", "assign t1", "remove t1"]);
    assert!(gated.inner.assignments().await.unwrap().is_empty());
    wait_for("every lane to close", DEADLINE, || async {
        io.lanes.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_term_that_ends_abandons_its_writes_in_flight_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("meta.db"), "druid")
        .await
        .unwrap();
    let gated = gated(&worker_a()).await;
    let parts = OverlordParts {
        queue: QueueConfig::default(),
        runner: RunnerConfig::default(),
        store: Arc::new(store),
        coordinator: gated.clone(),
        task_logs: FileTaskLogs::new(dir.path().join("logs")),
        internal_client: Default::default(),
        metrics: Default::default(),
    };
    let (elect, elected) = watch::channel(Leadership {
        term: Some(1),
        leader: Some("http://self:8090".into()),
    });
    let overlord = Overlord::start_term(parts, Term::new(1, elected))
        .await
        .unwrap();
    let task = Task::from_json(json!({"type": "noop", "id": "t1"})).unwrap();
    overlord.submit(task).await.unwrap();
    wait_for("the assignment to be under way", DEADLINE, || async {
        (gated.waiting.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;

    elect.send_replace(Leadership::default());
    wait_for("the assignment to be abandoned", DEADLINE, || async {
        (gated.abandoned.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    gated.gate.add_permits(1);
    wait_for("the event loop to stop", DEADLINE, || async {
        overlord
            .query(|c| c.queue().len())
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(gated.written.load(Ordering::SeqCst), 0);
    assert!(!overlord.term().is_current());
}

/// A SQLite store whose lock row writes wait at a gate the test opens.
struct GatedLockRows {
    inner: SqliteStore,
    gate: Semaphore,
    /// Lock row writes that have reached the gate.
    waiting: AtomicUsize,
}

impl GatedLockRows {
    async fn pass(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.gate.acquire().await.expect("gate open").forget();
    }
}

#[async_trait]
impl MetadataStore for GatedLockRows {
    async fn insert_task(
        &self,
        task: &Task,
        created: Timestamp,
        status: &TaskStatus,
    ) -> Result<(), StoreError> {
        self.inner.insert_task(task, created, status).await
    }
    async fn set_status(&self, status: &TaskStatus) -> Result<bool, StoreError> {
        self.inner.set_status(status).await
    }
    async fn get_task(&self, id: &str) -> Result<Option<Task>, StoreError> {
        self.inner.get_task(id).await
    }
    async fn get_info(&self, id: &str) -> Result<Option<TaskInfo>, StoreError> {
        self.inner.get_info(id).await
    }
    async fn get_infos(&self, ids: &[String]) -> Result<Vec<TaskInfo>, StoreError> {
        self.inner.get_infos(ids).await
    }
    async fn active_tasks(&self) -> Result<ActiveTasks, StoreError> {
        self.inner.active_tasks().await
    }
    async fn list(&self, query: &TaskQuery) -> Result<Vec<TaskInfo>, StoreError> {
        self.inner.list(query).await
    }
    async fn complete_task_page(&self, query: &TaskPageQuery) -> Result<TaskPage, StoreError> {
        self.inner.complete_task_page(query).await
    }
    async fn complete_task_data_sources(&self) -> Result<Vec<String>, StoreError> {
        self.inner.complete_task_data_sources().await
    }
    async fn get_config(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_config(name).await
    }
    async fn set_config_with_audit(
        &self,
        name: &str,
        payload: &[u8],
        audit: &AuditInfo,
        audit_time: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner
            .set_config_with_audit(name, payload, audit, audit_time)
            .await
    }
    async fn compare_and_swap_config(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner
            .compare_and_swap_config(name, expected, new)
            .await
    }
    async fn audit_history(
        &self,
        key: &str,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        limit: Option<usize>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner
            .audit_history(key, created_after, created_before, limit)
            .await
    }
    async fn delete_complete_tasks_created_before(
        &self,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        self.inner
            .delete_complete_tasks_created_before(before)
            .await
    }
    async fn insert_lock(&self, task_id: &str, lock: &TaskLock) -> Result<(), StoreError> {
        self.pass().await;
        self.inner.insert_lock(task_id, lock).await
    }
    async fn replace_lock(
        &self,
        task_id: &str,
        old: &TaskLock,
        new: &TaskLock,
    ) -> Result<(), StoreError> {
        self.pass().await;
        self.inner.replace_lock(task_id, old, new).await
    }
    async fn delete_lock(&self, task_id: &str, lock: &TaskLock) -> Result<(), StoreError> {
        self.pass().await;
        self.inner.delete_lock(task_id, lock).await
    }
    async fn delete_task_locks(&self, task_id: &str) -> Result<(), StoreError> {
        self.inner.delete_task_locks(task_id).await
    }
    async fn active_task_locks(&self) -> Result<Vec<(String, TaskLock)>, StoreError> {
        self.inner.active_task_locks().await
    }
    async fn publish_segments(
        &self,
        segments: &[DataSegment],
        schema: Option<&SegmentSchemaMapping>,
        now: Timestamp,
    ) -> Result<PublishOutcome, StoreError> {
        self.inner.publish_segments(segments, schema, now).await
    }
    async fn used_segments(
        &self,
        data_source: &str,
        intervals: &[Interval],
    ) -> Result<Vec<DataSegment>, StoreError> {
        self.inner.used_segments(data_source, intervals).await
    }
    async fn unused_segments(
        &self,
        query: &UnusedSegmentsQuery,
    ) -> Result<Vec<DataSegment>, StoreError> {
        self.inner.unused_segments(query).await
    }
    async fn segment(
        &self,
        data_source: &str,
        id: &str,
    ) -> Result<Option<(DataSegment, bool)>, StoreError> {
        self.inner.segment(data_source, id).await
    }
    async fn mark_segments(
        &self,
        data_source: &str,
        selection: &SegmentSelection,
        used: bool,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        self.inner
            .mark_segments(data_source, selection, used, now)
            .await
    }
    async fn delete_segments(&self, ids: &[String]) -> Result<u64, StoreError> {
        self.inner.delete_segments(ids).await
    }
    async fn data_sources(
        &self,
        include_unused: bool,
    ) -> Result<Vec<DataSourceSummary>, StoreError> {
        self.inner.data_sources(include_unused).await
    }
    async fn data_source_stats(&self) -> Result<Vec<DataSourceStats>, StoreError> {
        self.inner.data_source_stats().await
    }
    async fn used_segments_of(
        &self,
        data_sources: &[String],
    ) -> Result<Vec<DataSegment>, StoreError> {
        self.inner.used_segments_of(data_sources).await
    }
    async fn allocate_pending_segment(
        &self,
        request: &AllocateRequest,
    ) -> Result<Option<SegmentIdWithShardSpec>, StoreError> {
        self.inner.allocate_pending_segment(request).await
    }
    async fn delete_pending_segments(
        &self,
        data_source: &str,
        created: Option<Interval>,
    ) -> Result<u64, StoreError> {
        self.inner
            .delete_pending_segments(data_source, created)
            .await
    }
    async fn delete_pending_segments_of_allocator(
        &self,
        task_allocator_id: &str,
    ) -> Result<u64, StoreError> {
        self.inner
            .delete_pending_segments_of_allocator(task_allocator_id)
            .await
    }
}

/// An Overlord leading for good on a [`GatedLockRows`] store, with the coordinator `gated`.
async fn overlord_on_gated_lock_rows(
    dir: &std::path::Path,
    coordinator: Arc<Gated>,
) -> (Overlord, Arc<GatedLockRows>) {
    let store = Arc::new(GatedLockRows {
        inner: SqliteStore::open(&dir.join("meta.db"), "druid")
            .await
            .unwrap(),
        gate: Semaphore::new(0),
        waiting: AtomicUsize::new(0),
    });
    let parts = OverlordParts {
        queue: QueueConfig::default(),
        runner: RunnerConfig::default(),
        store: store.clone(),
        coordinator,
        task_logs: FileTaskLogs::new(dir.join("logs")),
        internal_client: Default::default(),
        metrics: Default::default(),
    };
    (Overlord::start(parts).await.unwrap(), store)
}

fn day() -> Interval {
    "2024-01-01/2024-01-02".parse().unwrap()
}

#[tokio::test]
async fn a_lock_action_is_answered_once_its_row_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    // Its assignment waits at the closed gate of the coordinator; it may act meanwhile.
    let (overlord, store) = overlord_on_gated_lock_rows(dir.path(), gated(&worker_a()).await).await;
    let task = Task::from_json(json!({"type": "noop", "id": "t1", "dataSource": "wiki"})).unwrap();
    overlord.submit(task).await.unwrap();
    wait_for("the task to be able to act", DEADLINE, || async {
        let acting = overlord.query(|c| c.acting_task("t1").is_ok()).await;
        acting.unwrap().then_some(())
    })
    .await;

    let acquire = tokio::spawn({
        let overlord = overlord.clone();
        async move {
            let request = LockRequest {
                lock_type: TaskLockType::Exclusive,
                interval: day(),
                preferred_version: None,
            };
            let lock = overlord.lock_try_acquire("t1", request).await;
            (lock, overlord.store().active_task_locks().await.unwrap())
        }
    });
    wait_for("the lock row's write to be under way", DEADLINE, || async {
        (store.waiting.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    store.gate.add_permits(1);
    let (lock, stored_when_answered) = acquire.await.unwrap();
    let lock = lock.unwrap().expect("granted");
    assert_eq!(
        stored_when_answered,
        vec![("t1".to_string(), lock)],
        "the peon was told of a lock a new leader would not find"
    );

    let release = tokio::spawn({
        let overlord = overlord.clone();
        async move {
            overlord.lock_release("t1", day()).await.unwrap();
            overlord.store().active_task_locks().await.unwrap()
        }
    });
    wait_for(
        "the lock row's delete to be under way",
        DEADLINE,
        || async { (store.waiting.load(Ordering::SeqCst) == 2).then_some(()) },
    )
    .await;
    store.gate.add_permits(1);
    assert_eq!(
        release.await.unwrap(),
        Vec::new(),
        "the peon was told of a release a new leader would undo"
    );
}

#[tokio::test]
async fn a_task_ready_with_a_lock_is_assigned_once_the_lock_row_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = gated(&worker_a()).await;
    coordinator.gate.add_permits(1);
    let (overlord, store) = overlord_on_gated_lock_rows(dir.path(), coordinator.clone()).await;
    let kill = Task::from_json(json!({"type": "kill", "id": "k1", "dataSource": "wiki",
                                      "interval": "2024-01-01/2024-01-02"}))
    .unwrap();
    overlord.submit(kill).await.unwrap();
    wait_for("the lock row's write to be under way", DEADLINE, || async {
        (store.waiting.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // The task was found ready with its lock and handed to the runner, which placed it.
    let placed = overlord
        .query(|c| c.runner().task_view("k1").map(|v| v.state))
        .await
        .unwrap();
    assert!(placed.is_some(), "the runner holds the task");
    assert_eq!(
        coordinator.waiting.load(Ordering::SeqCst),
        0,
        "the assignment was written before the lock's row"
    );
    store.gate.add_permits(1);
    wait_for("the assignment to be written", DEADLINE, || async {
        (coordinator.written.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    assert_eq!(overlord.store().active_task_locks().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_lock_row_the_store_refuses_holds_back_none_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"), "druid")
            .await
            .unwrap(),
    );
    let task = Task::from_json(json!({"type": "noop", "id": "t1", "dataSource": "wiki"})).unwrap();
    store
        .insert_task(&task, Timestamp::now(), &TaskStatus::running("t1"))
        .await
        .unwrap();
    let lock = TaskLock {
        granularity: LockGranularity::TimeChunk,
        lock_type: TaskLockType::Exclusive,
        group_id: "t1".into(),
        data_source: "wiki".into(),
        interval: day(),
        version: "2024-06-01T00:00:00.000Z".into(),
        priority: Some(0),
        revoked: false,
    };
    let writer = super::io::lock_row_writer(store.clone(), Term::unending());
    // A revocation of a row that is not there: refused for good (Conflict).
    writer
        .send(LockRowWork::Write(vec![
            LockPersist::Replace {
                task_id: "t1".into(),
                old: lock.clone(),
                new: lock.revoked(),
            },
            LockPersist::Insert {
                task_id: "t1".into(),
                lock: lock.clone(),
            },
        ]))
        .unwrap();
    let (done, written) = tokio::sync::oneshot::channel();
    writer
        .send(LockRowWork::Then(Box::new(move || {
            let _ = done.send(());
        })))
        .unwrap();
    tokio::time::timeout(DEADLINE, written)
        .await
        .expect("the writer is stuck on the refused row")
        .unwrap();
    assert_eq!(
        store.active_task_locks().await.unwrap(),
        vec![("t1".to_string(), lock)]
    );
}
