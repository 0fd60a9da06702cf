use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use steward_cluster::{
    CoordinatorError, FileTaskLogs, InProcessCoordinator, Leadership, OverlordCoordinator,
    RunnerEvent, WorkerCoordinator,
};
use steward_metadata::SqliteStore;
use steward_model::{Task, Worker, DEFAULT_WORKER_CATEGORY};
use steward_testkit::wait_for;
use tokio::sync::{mpsc, watch, Semaphore};

use super::io::{IoRunner, Lanes};
use super::*;
use crate::config::{QueueConfig, RunnerConfig};
use crate::core::IoEffect;
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
    };
    let t1 = Task::from_json(json!({"type": "noop", "id": "t1"})).unwrap();
    let remove = |id: &str| IoEffect::RemoveAssignment {
        worker: worker.host.clone(),
        task_id: id.to_string(),
    };
    // A withdrawal, the assignment again (held at the gate), and its withdrawal: the last must
    // wait for the assignment, the first must not be overtaken by it.
    io.run_all(vec![
        remove("t1"),
        IoEffect::Assign {
            worker: worker.clone(),
            task: t1,
        },
        remove("t1"),
        remove("t2"),
    ]);
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

#[tokio::test]
async fn a_lock_row_the_store_cannot_take_does_not_hold_up_the_later_ones() {
    use steward_metadata::MetadataStore;
    use steward_model::{TaskLock, TaskStatus};

    use crate::lockbox::LockPersist;

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"), "druid")
            .await
            .unwrap(),
    );
    let task = Task::from_json(json!({"type": "noop", "id": "t1", "dataSource": "wiki"})).unwrap();
    store
        .insert_task(&task, jiff::Timestamp::now(), &TaskStatus::running("t1"))
        .await
        .unwrap();
    let lock: TaskLock = serde_json::from_value(json!({"type": "EXCLUSIVE", "groupId": "t1",
        "dataSource": "wiki", "interval": "2024-01-01/2024-01-02", "version": "v1",
        "priority": 50}))
    .unwrap();
    let rows = super::io::lock_row_writer(store.clone(), Term::unending());
    // A revocation of a lock whose row is not there: the store refuses it for good.
    rows.send(vec![
        LockPersist::Replace {
            task_id: "t1".into(),
            old: lock.clone(),
            new: lock.revoked(),
        },
        LockPersist::Insert {
            task_id: "t1".into(),
            lock: lock.clone(),
        },
    ])
    .unwrap();
    wait_for("the later row to be written", DEADLINE, || async {
        let stored = store.active_task_locks().await.unwrap();
        (stored == vec![("t1".to_string(), lock.clone())]).then_some(())
    })
    .await;
}
