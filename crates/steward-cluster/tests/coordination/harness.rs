//! What the tests build on: a cluster of coordinators of either implementation, fixtures, and
//! bounded waits for events.

use std::sync::Arc;
use std::time::Duration;

use steward_cluster::{
    InProcessCoordinator, OverlordCoordinator, RunnerEvent, WorkerCoordinator, ZkConfig,
    ZkCoordinator,
};
use steward_model::{Task, TaskAnnouncement, TaskLocation, TaskResource, TaskStatus, Worker};
use steward_testkit::ZooKeeperServer;
use tokio::sync::{mpsc, OnceCell};

/// How long a test waits for an event that must come.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// The Overlord's and a worker's view of one coordination space.
pub struct Cluster {
    pub overlord: Arc<dyn OverlordCoordinator>,
    pub worker: Arc<dyn WorkerCoordinator>,
}

pub async fn in_process() -> Cluster {
    init_logs();
    let coordinator = Arc::new(InProcessCoordinator::new());
    Cluster {
        overlord: coordinator.clone(),
        worker: coordinator,
    }
}

/// Two coordinators, as an Overlord and a MiddleManager would hold, on the shared server and
/// under a base path of their own.
pub async fn zookeeper() -> Cluster {
    let config = zk_config(shared_server().await);
    Cluster {
        overlord: Arc::new(ZkCoordinator::connect(config.clone()).await.unwrap()),
        worker: Arc::new(ZkCoordinator::connect(config).await.unwrap()),
    }
}

/// One server for every test that does not stop it; tests keep apart by base path.
pub async fn shared_server() -> &'static ZooKeeperServer {
    static SERVER: OnceCell<ZooKeeperServer> = OnceCell::const_new();
    SERVER.get_or_init(ZooKeeperServer::start).await
}

/// A configuration under a fresh base path, with sessions short enough for failure tests.
pub fn zk_config(server: &ZooKeeperServer) -> ZkConfig {
    init_logs();
    ZkConfig {
        connect: server.connect_string(),
        session_timeout: Duration::from_secs(8),
        connection_timeout: Duration::from_secs(10),
        ..ZkConfig::with_base(format!("/steward-test-{}", uuid::Uuid::new_v4()))
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,zookeeper_client=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn worker(host: &str) -> Worker {
    Worker {
        scheme: "http".into(),
        host: host.into(),
        ip: "127.0.0.1".into(),
        capacity: 2,
        version: "0".into(),
        category: steward_model::DEFAULT_WORKER_CATEGORY.into(),
    }
}

pub fn disabled(worker: &Worker) -> Worker {
    Worker {
        version: String::new(),
        ..worker.clone()
    }
}

pub fn announcement(status: TaskStatus) -> TaskAnnouncement {
    let id = status.id.clone();
    TaskAnnouncement::new(
        "noop",
        "none",
        TaskResource::default_for(&id),
        status,
        TaskLocation::new("127.0.0.1", 8100),
    )
}

pub fn running(id: &str) -> TaskAnnouncement {
    announcement(TaskStatus::running(id))
}

pub fn succeeded(id: &str) -> TaskAnnouncement {
    announcement(TaskStatus::success(id))
}

/// The Overlord's event for a status announcement of `host`.
pub fn status(host: &str, announcement: TaskAnnouncement) -> RunnerEvent {
    RunnerEvent::StatusAnnounced {
        worker: host.to_string(),
        announcement,
    }
}

/// Subscribes the Overlord, then announces worker `mm-a:8091`, the start of most tests: the
/// Overlord's feed past the worker's `WorkerAdded` and `WorkerInitialized`, and the worker.
pub async fn announced(
    overlord: &dyn OverlordCoordinator,
    worker_side: &dyn WorkerCoordinator,
) -> (mpsc::UnboundedReceiver<RunnerEvent>, Worker) {
    let mut events = overlord.subscribe().await.unwrap();
    let w = worker("mm-a:8091");
    worker_side.announce(&w).await.unwrap();
    take(&mut events, 2).await;
    (events, w)
}

pub fn task(id: &str) -> Task {
    Task::from_json(serde_json::json!({"type": "noop", "id": id})).unwrap()
}

/// The next event; panics if none comes within [`EVENT_TIMEOUT`].
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    match tokio::time::timeout(EVENT_TIMEOUT, rx.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the event channel closed"),
        Err(_) => panic!("no event within {EVENT_TIMEOUT:?}"),
    }
}

/// The next `n` events.
pub async fn take<T>(rx: &mut mpsc::UnboundedReceiver<T>, n: usize) -> Vec<T> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next(rx).await);
    }
    events
}

/// The events already queued.
pub fn queued<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Vec<T> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}
