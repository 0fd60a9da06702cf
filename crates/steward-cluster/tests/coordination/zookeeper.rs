//! What only the ZooKeeper coordinator has: Druid's znodes, large tasks fetched over HTTP,
//! session expiry and server restarts.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steward_cluster::{
    CoordinatorError, OverlordCoordinator, RunnerEvent, WorkerCoordinator, WorkerEvent, ZkConfig,
    ZkCoordinator,
};
use steward_model::Task;
use steward_testkit::ZooKeeperServer;
use zookeeper_client as zk;

use crate::harness::*;

async fn connect(config: &ZkConfig) -> ZkCoordinator {
    ZkCoordinator::connect(config.clone()).await.unwrap()
}

fn json(data: &[u8]) -> serde_json::Value {
    serde_json::from_slice(data).unwrap()
}

#[tokio::test]
async fn the_znodes_follow_druids_layout() {
    let server = shared_server().await;
    let config = zk_config(server);
    let coordinator = connect(&config).await;
    let raw = zk::Client::connect(&server.connect_string()).await.unwrap();
    let paths = config.paths().unwrap();
    let w = worker("mm-a:8091");
    coordinator.announce(&w).await.unwrap();
    coordinator.assign(&w.host, &task("t1")).await.unwrap();
    coordinator
        .announce_status(&w.host, &running("t1"))
        .await
        .unwrap();

    let (data, stat) = raw
        .get_data(&format!("{}/mm-a:8091", paths.announcements))
        .await
        .unwrap();
    assert_eq!(json(&data), serde_json::to_value(&w).unwrap());
    assert_eq!(stat.ephemeral_owner, coordinator.session_id().0);
    for parent in [&paths.tasks, &paths.status] {
        let (data, stat) = raw.get_data(&format!("{parent}/mm-a:8091")).await.unwrap();
        assert!(json(&data)["created"].is_string(), "{parent}/<worker> data");
        assert_eq!(stat.ephemeral_owner, 0);
    }
    // Plain task JSON, as a Druid MiddleManager reads it; persistent, unlike Druid's.
    let (data, stat) = raw
        .get_data(&format!("{}/mm-a:8091/t1", paths.tasks))
        .await
        .unwrap();
    assert_eq!(data, task("t1").to_bytes());
    assert_eq!(stat.ephemeral_owner, 0);
    let (data, stat) = raw
        .get_data(&format!("{}/mm-a:8091/t1", paths.status))
        .await
        .unwrap();
    assert_eq!(json(&data), serde_json::to_value(running("t1")).unwrap());
    assert_eq!(stat.ephemeral_owner, 0);
}

#[tokio::test]
async fn gzip_announcements_written_by_druid_are_read() {
    let server = shared_server().await;
    let config = zk_config(server);
    let overlord = connect(&config).await;
    let raw = zk::Client::connect(&server.connect_string()).await.unwrap();
    let paths = config.paths().unwrap();
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let gzip = |value: serde_json::Value| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&serde_json::to_vec(&value).unwrap()).unwrap();
        gz.finish().unwrap()
    };
    let status_node = format!("{}/druid-mm:8091/t1", paths.status);

    let w = worker("druid-mm:8091");
    raw.mkdir(&format!("{}/druid-mm:8091", paths.status), &persistent)
        .await
        .unwrap();
    raw.create(
        &status_node,
        &gzip(serde_json::to_value(running("t1")).unwrap()),
        &persistent,
    )
    .await
    .unwrap();
    raw.mkdir(&paths.announcements, &persistent).await.unwrap();
    // Old Druid versions write no `scheme` or `category`.
    raw.create(
        &format!("{}/druid-mm:8091", paths.announcements),
        &gzip(serde_json::json!({
            "host": "druid-mm:8091", "ip": "127.0.0.1", "capacity": 2, "version": "0"
        })),
        &ephemeral,
    )
    .await
    .unwrap();
    let mut events = OverlordCoordinator::subscribe(&overlord).await.unwrap();
    assert_eq!(
        queued(&mut events),
        vec![
            RunnerEvent::WorkerAdded(w.clone()),
            status(&w.host, running("t1")),
            RunnerEvent::WorkerInitialized(w.host.clone()),
        ]
    );
    raw.set_data(
        &status_node,
        &gzip(serde_json::to_value(succeeded("t1")).unwrap()),
        None,
    )
    .await
    .unwrap();
    assert_eq!(next(&mut events).await, status(&w.host, succeeded("t1")));
}

/// A test double of the Overlord's `GET /druid/indexer/v1/task/{id}`, only as much of it as a
/// worker uses: it redirects once (as a non-leader Overlord would) and then serves the one task
/// it knows, counting the requests.
async fn serve_task(task: Task) -> (String, Arc<AtomicUsize>) {
    use axum::extract::{Path, State};
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;

    type Served = (Task, Arc<AtomicUsize>);
    async fn redirect(Path(id): Path<String>) -> Redirect {
        Redirect::temporary(&format!("/leader/druid/indexer/v1/task/{id}"))
    }
    async fn payload(
        State((task, hits)): State<Served>,
        Path(id): Path<String>,
    ) -> axum::response::Response {
        hits.fetch_add(1, Ordering::SeqCst);
        if id != task.id() {
            return axum::http::StatusCode::NOT_FOUND.into_response();
        }
        axum::Json(serde_json::json!({ "task": id, "payload": task.to_json() })).into_response()
    }

    let hits = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/druid/indexer/v1/task/{id}", get(redirect))
        .route("/leader/druid/indexer/v1/task/{id}", get(payload))
        .with_state((task, hits.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

#[tokio::test]
async fn a_task_larger_than_a_znode_reaches_the_worker_through_the_overlord_api() {
    let server = shared_server().await;
    let big = Task::from_json(serde_json::json!({
        "type": "noop", "id": "big", "padding": "x".repeat(5 * 1024 * 1024)
    }))
    .unwrap();
    let (url, hits) = serve_task(big.clone()).await;
    let config = ZkConfig {
        payload_url: Some(url.clone()),
        ..zk_config(server)
    };
    let overlord = connect(&config).await;
    let worker_side = connect(&config).await;
    let w = worker("mm-a:8091");
    worker_side.announce(&w).await.unwrap();
    let mut mm = WorkerCoordinator::subscribe(&worker_side, &w.host)
        .await
        .unwrap();

    overlord.assign(&w.host, &big).await.unwrap();
    let raw = zk::Client::connect(&server.connect_string()).await.unwrap();
    let (data, _) = raw
        .get_data(&format!("{}/mm-a:8091/big", config.paths().unwrap().tasks))
        .await
        .unwrap();
    assert_eq!(
        json(&data),
        serde_json::json!({"stewardPayloadRef": {
            "taskId": "big",
            "url": format!("{url}/druid/indexer/v1/task/big"),
            "bytes": big.to_bytes().len(),
        }})
    );
    match next(&mut mm).await {
        WorkerEvent::Assigned(task) => assert!(task == big, "the payload arrived altered"),
        other => panic!("expected the big task, got {other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// A runtime on a thread of its own that a test can freeze, as a stop-the-world pause would
/// freeze a MiddleManager: a client whose session task runs here stops answering ZooKeeper.
pub struct Freezable {
    pub handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Freezable {
    pub fn start() -> Freezable {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            handle_tx.send(runtime.handle().clone()).unwrap();
            let _ = runtime.block_on(stopped);
        });
        Freezable {
            handle: handle_rx.recv().unwrap(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Blocks the runtime's thread until the returned sender is used or dropped.
    pub fn freeze(&self) -> std::sync::mpsc::Sender<()> {
        let (thaw, frozen) = std::sync::mpsc::channel::<()>();
        self.handle.spawn(async move {
            let _ = frozen.recv();
        });
        thaw
    }
}

impl Drop for Freezable {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[tokio::test]
async fn a_worker_whose_session_expires_comes_back_with_its_statuses() {
    let server = shared_server().await;
    let config = zk_config(server);
    let overlord = connect(&config).await;
    // The worker's client lives on a runtime the test can freeze; its session is short so that
    // ZooKeeper expires it soon.
    let worker_runtime = Freezable::start();
    let worker_config = ZkConfig {
        session_timeout: Duration::from_secs(2),
        ..config.clone()
    };
    let worker_side = worker_runtime
        .handle
        .spawn(async move { ZkCoordinator::connect(worker_config).await })
        .await
        .unwrap()
        .unwrap();
    let (mut events, w) = announced(&overlord, &worker_side).await;
    worker_side
        .announce_status(&w.host, &running("t1"))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, status(&w.host, running("t1")));
    let mut mm = WorkerCoordinator::subscribe(&worker_side, &w.host)
        .await
        .unwrap();
    overlord.assign(&w.host, &task("t2")).await.unwrap();
    assert_eq!(next(&mut mm).await, WorkerEvent::Assigned(task("t2")));
    let expired = worker_side.session_id();

    let thaw = worker_runtime.freeze();
    assert_eq!(
        next(&mut events).await,
        RunnerEvent::WorkerRemoved(w.host.clone()),
        "ZooKeeper expires the silent session"
    );
    drop(thaw);

    assert_eq!(
        take(&mut events, 3).await,
        vec![
            RunnerEvent::WorkerAdded(w.clone()),
            status(&w.host, running("t1")),
            RunnerEvent::WorkerInitialized(w.host.clone()),
        ]
    );
    // The assignment is delivered again; the MiddleManager ignores tasks it knows.
    assert_eq!(next(&mut mm).await, WorkerEvent::Assigned(task("t2")));
    assert_ne!(worker_side.session_id(), expired);
    worker_side
        .announce_status(&w.host, &succeeded("t1"))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, status(&w.host, succeeded("t1")));
    overlord.remove_status(&w.host, "t1").await.unwrap();
    assert_eq!(next(&mut mm).await, WorkerEvent::StatusRemoved("t1".into()));
}

#[tokio::test]
async fn both_sides_recover_from_a_zookeeper_restart() {
    let mut server = ZooKeeperServer::start().await;
    let config = zk_config(&server);
    let overlord = connect(&config).await;
    let worker_side = connect(&config).await;
    let impatient = connect(&ZkConfig {
        connection_timeout: Duration::from_secs(1),
        ..config.clone()
    })
    .await;
    let (mut events, w) = announced(&overlord, &worker_side).await;
    let mut mm = WorkerCoordinator::subscribe(&worker_side, &w.host)
        .await
        .unwrap();

    server.stop().await;
    assert!(matches!(
        impatient.statuses(&w.host).await,
        Err(CoordinatorError::Unavailable(_))
    ));
    // Failed, but held: it is published once the connection is back.
    assert!(matches!(
        impatient.announce_status(&w.host, &running("t0")).await,
        Err(CoordinatorError::Unavailable(_))
    ));
    server.start_again().await;

    // The sessions outlive the restart: no worker churn, only what happens afterwards.
    worker_side
        .announce_status(&w.host, &running("t1"))
        .await
        .unwrap();
    let mut statuses = take(&mut events, 2).await;
    statuses.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        statuses,
        vec![
            status(&w.host, running("t0")),
            status(&w.host, running("t1"))
        ]
    );
    overlord.assign(&w.host, &task("t1")).await.unwrap();
    assert_eq!(next(&mut mm).await, WorkerEvent::Assigned(task("t1")));
}

#[tokio::test]
async fn dropping_a_worker_coordinator_closes_its_session_at_once() {
    let server = shared_server().await;
    let config = zk_config(server);
    let overlord = connect(&config).await;
    let worker_side = connect(&config).await;
    let (mut events, w) = announced(&overlord, &worker_side).await;
    let mut mm = WorkerCoordinator::subscribe(&worker_side, &w.host)
        .await
        .unwrap();

    drop(worker_side);
    // Before the session timeout would remove the announcement.
    let before_expiry = config.session_timeout - Duration::from_secs(1);
    let gone = tokio::time::timeout(before_expiry, events.recv()).await;
    assert_eq!(gone, Ok(Some(RunnerEvent::WorkerRemoved(w.host.clone()))));
    assert_eq!(
        tokio::time::timeout(EVENT_TIMEOUT, mm.recv()).await,
        Ok(None),
        "the worker's feed ends with its coordinator"
    );
}

#[tokio::test]
async fn connecting_to_no_server_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = ZkConfig {
        connect: format!("127.0.0.1:{port}"),
        connection_timeout: Duration::from_secs(1),
        ..ZkConfig::default()
    };
    assert!(matches!(
        ZkCoordinator::connect(config).await,
        Err(CoordinatorError::Unavailable(_))
    ));
}

/// A path ZooKeeper refuses is the request's fault: the coordinator says so, instead of
/// reporting an outage that the Overlord would retry until the assignment timeout.
#[tokio::test]
async fn a_path_zookeeper_refuses_is_refused_not_unavailable() {
    let server = shared_server().await;
    let coordinator = connect(&zk_config(server)).await;
    let w = worker("mm-refuse:8091");
    coordinator.announce(&w).await.unwrap();
    for bad in ["ctl\u{1}", "nul\u{0}", "private\u{F8FF}"] {
        let refused = OverlordCoordinator::remove_status(&coordinator, &w.host, bad).await;
        assert!(
            matches!(refused, Err(CoordinatorError::Refused(_))),
            "{bad:?}: {refused:?}"
        );
    }
    // The coordinator still works afterwards.
    coordinator.assign(&w.host, &task("fine")).await.unwrap();
}

/// An Overlord and a worker on one server, the worker announced and running task t1 as the
/// Overlord has seen, with a plain client to spoil their znodes.
struct RunningT1 {
    _overlord: ZkCoordinator,
    worker_side: ZkCoordinator,
    events: tokio::sync::mpsc::UnboundedReceiver<RunnerEvent>,
    w: steward_model::Worker,
    raw: zk::Client,
    status_node: String,
    announcement: String,
}

async fn running_t1(server: &ZooKeeperServer) -> RunningT1 {
    let config = zk_config(server);
    let overlord = connect(&config).await;
    let worker_side = connect(&config).await;
    let (mut events, w) = announced(&overlord, &worker_side).await;
    worker_side
        .announce_status(&w.host, &running("t1"))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, status(&w.host, running("t1")));
    let paths = config.paths().unwrap();
    RunningT1 {
        status_node: format!("{}/{}/t1", paths.status, w.host),
        announcement: format!("{}/{}", paths.announcements, w.host),
        raw: zk::Client::connect(&server.connect_string()).await.unwrap(),
        _overlord: overlord,
        worker_side,
        events,
        w,
    }
}

#[tokio::test]
async fn an_unreadable_status_or_announcement_changes_nothing() {
    let mut c = running_t1(shared_server().await).await;
    let w = c.w.clone();

    // Empty data (Druid's "null-data" event) and half a JSON document: no event, the task is
    // not taken for gone, the worker stays.
    c.raw.set_data(&c.status_node, b"", None).await.unwrap();
    c.raw
        .set_data(&c.status_node, b"{\"id\": \"t1\", ", None)
        .await
        .unwrap();
    c.raw.set_data(&c.announcement, b"{", None).await.unwrap();
    // The next readable value is the next event.
    c.worker_side
        .announce_status(&w.host, &succeeded("t1"))
        .await
        .unwrap();
    assert_eq!(next(&mut c.events).await, status(&w.host, succeeded("t1")));
    c.worker_side.announce(&disabled(&w)).await.unwrap();
    assert_eq!(
        next(&mut c.events).await,
        RunnerEvent::WorkerChanged(disabled(&w))
    );
}

#[tokio::test]
async fn an_unreadable_status_survives_the_overlords_reread_after_a_restart() {
    let mut server = ZooKeeperServer::start().await;
    let mut c = running_t1(&server).await;
    let w = c.w.clone();
    c.raw.set_data(&c.status_node, b"", None).await.unwrap();

    // A restart makes the Overlord read every znode again; the unreadable one is not taken
    // for gone there either. The Overlord hears of t2 only once it watches again, that is
    // after it has re-read the tree with t1 still unreadable.
    server.stop().await;
    server.start_again().await;
    c.worker_side
        .announce_status(&w.host, &running("t2"))
        .await
        .unwrap();
    nothing_gone_until(&mut c.events, status(&w.host, running("t2"))).await;
    c.worker_side
        .announce_status(&w.host, &succeeded("t1"))
        .await
        .unwrap();
    nothing_gone_until(&mut c.events, status(&w.host, succeeded("t1"))).await;
}

/// Takes events up to `wanted`, none of them a removal.
async fn nothing_gone_until(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<RunnerEvent>,
    wanted: RunnerEvent,
) {
    loop {
        let event = next(events).await;
        assert!(
            !matches!(
                event,
                RunnerEvent::StatusRemoved { .. } | RunnerEvent::WorkerRemoved(_)
            ),
            "{event:?}"
        );
        if event == wanted {
            return;
        }
    }
}

/// A status znode deleted and created again with the same data, as when the Overlord removes
/// an ended task's status and the restarting worker announces the same end again: both watch
/// events come in one batch, and the Overlord must hear of the removal and the new
/// announcement, or it never removes the new one.
#[tokio::test]
async fn a_status_deleted_and_created_again_with_the_same_data_is_removed_then_announced() {
    let mut c = running_t1(shared_server().await).await;
    let w = c.w.clone();
    let (data, _) = c.raw.get_data(&c.status_node).await.unwrap();

    // One transaction: ZooKeeper applies both changes at once and sends both events together.
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let mut multi = c.raw.new_multi_writer();
    multi.add_delete(&c.status_node, None).unwrap();
    multi
        .add_create(&c.status_node, &data, &persistent)
        .unwrap();
    multi.commit().await.unwrap();

    assert_eq!(
        take(&mut c.events, 2).await,
        vec![
            RunnerEvent::StatusRemoved {
                worker: w.host.clone(),
                task_id: "t1".into(),
            },
            status(&w.host, running("t1")),
        ]
    );
}

/// After a new session the Overlord's feed reads the trees again and emits only what differs
/// from what it delivered. A status znode deleted and created again with the same data while
/// the Overlord had no session (so no watch saw it) differs only in its creation zxid: it must
/// still be removed, then announced, or the Overlord would never remove the new znode (as when
/// it removed an ended task's status and the restarting worker announced the same end again).
/// A status left alone, and the worker, are not announced again.
#[tokio::test]
async fn after_a_new_session_a_status_created_anew_with_the_same_data_is_removed_then_announced() {
    let server = shared_server().await;
    let config = zk_config(server);
    let worker_side = connect(&config).await;
    // The Overlord's client lives on a runtime the test can freeze; its session is short so
    // that ZooKeeper expires it soon.
    let overlord_runtime = Freezable::start();
    let overlord_config = ZkConfig {
        session_timeout: Duration::from_secs(2),
        ..config.clone()
    };
    let (overlord, mut events) = overlord_runtime
        .handle
        .spawn(async move {
            let overlord = ZkCoordinator::connect(overlord_config).await.unwrap();
            let events = OverlordCoordinator::subscribe(&overlord).await.unwrap();
            (overlord, events)
        })
        .await
        .unwrap();
    let w = worker("mm-a:8091");
    worker_side.announce(&w).await.unwrap();
    take(&mut events, 2).await;
    for id in ["t1", "t2"] {
        worker_side
            .announce_status(&w.host, &running(id))
            .await
            .unwrap();
        assert_eq!(next(&mut events).await, status(&w.host, running(id)));
    }
    let expired = overlord.session_id();

    let thaw = overlord_runtime.freeze();
    // Changed only once the session, and its watch, are gone: no watch event may tell.
    steward_testkit::wait_for(
        "ZooKeeper to expire the Overlord's silent session",
        EVENT_TIMEOUT,
        || async { (!server.has_connection_of(expired.0).await).then_some(()) },
    )
    .await;
    let raw = zk::Client::connect(&server.connect_string()).await.unwrap();
    let node = format!("{}/{}/t1", config.paths().unwrap().status, w.host);
    let (data, _) = raw.get_data(&node).await.unwrap();
    raw.delete(&node, None).await.unwrap();
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    raw.create(&node, &data, &persistent).await.unwrap();
    drop(thaw);

    assert_eq!(
        take(&mut events, 2).await,
        vec![
            RunnerEvent::StatusRemoved {
                worker: w.host.clone(),
                task_id: "t1".into(),
            },
            status(&w.host, running("t1")),
        ]
    );
    // Nothing else was announced again: the next event is the next change.
    worker_side
        .announce_status(&w.host, &succeeded("t2"))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, status(&w.host, succeeded("t2")));
    assert_ne!(overlord.session_id(), expired, "a new session");
}
