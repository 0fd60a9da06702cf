//! The task-action client against real HTTP servers standing in for Overlords: leader changes,
//! standby redirects, dead leaders, refusals and exhausted retries. The servers answer from
//! scripts indexed by how often they were called, so every test is deterministic; the only
//! waits are the client's own backoffs, a millisecond here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use steward_http::{basic_authorization, InternalClient};
use steward_model::peon::RetryPolicy;
use steward_model::{Task, TaskLock};
use steward_tasks::actions::{ActionError, OverlordLocator, TaskAction, TaskActionClient};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What a fake Overlord answers to its n-th call (0 first) of an endpoint.
#[derive(Clone)]
enum Reply {
    Json(u16, Value),
    Text(u16, String),
    Redirect(String),
    /// Answers, then the server stops: later connections are refused.
    JsonThenDie(u16, Value),
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

struct State_ {
    leader: Script,
    action: Script,
    leader_calls: AtomicUsize,
    /// Each action's body and `Authorization` header.
    actions: Mutex<Vec<(Value, Option<String>)>>,
    die: Mutex<Option<oneshot::Sender<()>>>,
}

struct FakeOverlord {
    state: Arc<State_>,
}

impl FakeOverlord {
    fn actions(&self) -> Vec<(Value, Option<String>)> {
        self.state.actions.lock().unwrap().clone()
    }

    fn leader_calls(&self) -> usize {
        self.state.leader_calls.load(Ordering::SeqCst)
    }
}

async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// A URL nothing listens on.
async fn dead_url() -> String {
    let (listener, url) = bind().await;
    drop(listener);
    url
}

fn answer(reply: Reply, state: &State_) -> Response {
    match reply {
        Reply::Json(status, body) => {
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
        }
        Reply::Text(status, body) => (StatusCode::from_u16(status).unwrap(), body).into_response(),
        Reply::Redirect(to) => {
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
        }
        Reply::JsonThenDie(status, body) => {
            if let Some(die) = state.die.lock().unwrap().take() {
                let _ = die.send(());
            }
            (
                StatusCode::from_u16(status).unwrap(),
                [(header::CONNECTION, "close")],
                axum::Json(body),
            )
                .into_response()
        }
    }
}

async fn leader(State(state): State<Arc<State_>>) -> Response {
    let n = state.leader_calls.fetch_add(1, Ordering::SeqCst);
    answer((state.leader)(n), &state)
}

async fn action(State(state): State<Arc<State_>>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_string());
    let n = {
        let mut actions = state.actions.lock().unwrap();
        actions.push((serde_json::from_slice(&body).unwrap(), auth));
        actions.len() - 1
    };
    answer((state.action)(n), &state)
}

fn serve(
    (listener, _): (TcpListener, String),
    leader_script: impl Fn(usize) -> Reply + Send + Sync + 'static,
    action_script: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> FakeOverlord {
    let (die, died) = oneshot::channel::<()>();
    let state = Arc::new(State_ {
        leader: Arc::new(leader_script),
        action: Arc::new(action_script),
        leader_calls: AtomicUsize::new(0),
        actions: Mutex::new(Vec::new()),
        die: Mutex::new(Some(die)),
    });
    let router = Router::new()
        .route("/druid/indexer/v1/leader", get(leader))
        .route("/druid/indexer/v1/action", post(action))
        .with_state(state.clone());
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = died.await;
            })
            .await
            .unwrap();
    });
    FakeOverlord { state }
}

fn task() -> Task {
    Task::from_json(json!({"type":"kill","id":"kill_1","dataSource":"wiki",
        "interval":"2024-01-01/2024-01-02"}))
    .unwrap()
}

fn quick(max_retry_count: u32) -> RetryPolicy {
    RetryPolicy {
        min_wait: Duration::from_millis(1),
        max_wait: Duration::from_millis(4),
        max_retry_count,
    }
}

fn client(candidates: &[&str], retry: RetryPolicy) -> TaskActionClient {
    let internal = InternalClient {
        ca: Vec::new(),
        authorization: basic_authorization("druid_system", "internal-secret"),
    };
    TaskActionClient::new(
        OverlordLocator::new(candidates).unwrap(),
        &task(),
        &internal,
        retry,
    )
    .unwrap()
}

fn lock_json(version: &str) -> Value {
    json!({"granularity":"timeChunk","type":"EXCLUSIVE","groupId":"kill_1","dataSource":"wiki",
        "interval":"2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z","version":version,
        "priority":0,"revoked":false})
}

fn leader_is(url: &str) -> impl Fn(usize) -> Reply + Send + Sync + 'static {
    let url = url.to_string();
    move |_| Reply::Text(200, url.clone())
}

fn action_url(base: &str) -> String {
    format!("{base}/druid/indexer/v1/action")
}

#[tokio::test]
async fn a_leader_that_dies_mid_task_is_replaced_by_the_next_one() {
    let (a_port, b_port) = (bind().await, bind().await);
    let (a_url, b_url) = (a_port.1.clone(), b_port.1.clone());
    let a = serve(a_port, leader_is(&a_url), |_| {
        Reply::JsonThenDie(503, json!({"error":"leadership lost"}))
    });
    let b = serve(b_port, leader_is(&b_url), |_| {
        Reply::Json(200, json!({"result":[lock_json("v1")]}))
    });
    let client = client(&[&a_url, &b_url], quick(13));

    let locks: Vec<TaskLock> = client.submit(&TaskAction::LockList).await.unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].version, "v1");
    assert_eq!(a.actions().len(), 1, "the dying leader was asked once");
    let sent = b.actions();
    assert_eq!(sent.len(), 1);
    let (body, auth) = &sent[0];
    assert_eq!(body["action"], json!({"type":"lockList"}));
    assert_eq!(body["task"], task().to_json());
    assert_eq!(
        auth.as_deref(),
        Some("Basic ZHJ1aWRfc3lzdGVtOmludGVybmFsLXNlY3JldA==")
    );

    // The new leader is kept: the next action goes straight to it.
    let _: Vec<TaskLock> = client.submit(&TaskAction::LockList).await.unwrap();
    assert_eq!(b.actions().len(), 2);
    assert_eq!(b.leader_calls(), 1);
}

#[tokio::test]
async fn a_standby_redirect_is_followed_with_credentials_and_its_target_kept() {
    let (s_port, l_port) = (bind().await, bind().await);
    let (s_url, l_url) = (s_port.1.clone(), l_port.1.clone());
    let to_leader = action_url(&l_url);
    let standby = serve(s_port, leader_is(&s_url), move |_| {
        Reply::Redirect(to_leader.clone())
    });
    let leader = serve(l_port, leader_is(&l_url), |_| Reply::Json(200, json!({})));
    let client = client(&[&s_url], quick(13));
    let release = TaskAction::LockRelease {
        interval: "2024-01-01/2024-01-02".parse().unwrap(),
    };

    let () = client.submit(&release).await.unwrap();
    let () = client.submit(&release).await.unwrap();
    assert_eq!(standby.actions().len(), 1, "redirected once, then skipped");
    let sent = leader.actions();
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|(body, auth)| { body["action"]["type"] == "lockRelease" && auth.is_some() }));
    assert_eq!(leader.leader_calls(), 0);
}

#[tokio::test]
async fn a_redirect_to_a_dead_leader_is_retried_where_the_standby_then_points() {
    let (s_port, l_port) = (bind().await, bind().await);
    let (s_url, l_url) = (s_port.1.clone(), l_port.1.clone());
    let dead = action_url(&dead_url().await);
    let (s_self, l_named) = (s_url.clone(), l_url.clone());
    // The standby first believes itself in charge and redirects to a leader that has died;
    // asked again, it names the new leader.
    let standby = serve(
        s_port,
        move |n| {
            Reply::Text(
                200,
                if n == 0 {
                    s_self.clone()
                } else {
                    l_named.clone()
                },
            )
        },
        move |_| Reply::Redirect(dead.clone()),
    );
    let leader = serve(l_port, leader_is(&l_url), |_| {
        Reply::Json(200, json!({"result":lock_json("v2")}))
    });
    let client = client(&[&s_url], quick(13));
    let lock: Option<TaskLock> = client
        .submit(&TaskAction::LockTryAcquire {
            lock_type: steward_model::TaskLockType::Exclusive,
            interval: "2024-01-01/2024-01-02".parse().unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(lock.unwrap().version, "v2");
    assert_eq!(standby.leader_calls(), 2, "located again after the failure");
    assert_eq!(standby.actions().len(), 1);
    assert_eq!(leader.actions().len(), 1);
}

#[tokio::test]
async fn a_refusal_is_returned_at_once_with_druids_message() {
    let port = bind().await;
    let url = port.1.clone();
    let o = serve(port, leader_is(&url), |n| match n {
        0 => Reply::Json(400, json!({"error":"Unknown task action type [lockWeird]"})),
        _ => Reply::Json(
            409,
            json!({"error":"druidException","errorCode":"invalidInput","persona":"USER",
                "category":"INVALID_INPUT","errorMessage":"Segments are not locked","context":{}}),
        ),
    });
    let client = client(&[&url], quick(13));
    let err = client
        .submit::<()>(&TaskAction::LockList)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ActionError::Refused {
            status: 400,
            message: "Unknown task action type [lockWeird]".into()
        }
    );
    let err = client
        .submit::<()>(&TaskAction::LockList)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Overlord refused the action with status [409]: Segments are not locked"
    );
    assert_eq!(o.actions().len(), 2, "one call each, no retry");
}

#[tokio::test]
async fn exhausted_retries_report_the_last_error() {
    let port = bind().await;
    let url = port.1.clone();
    let o = serve(port, leader_is(&url), |n| {
        Reply::Json(500, json!({"error": format!("store down #{n}")}))
    });
    // Druid makes maxRetryCount - 1 attempts.
    let err = client(&[&url], quick(4))
        .submit::<()>(&TaskAction::LockList)
        .await
        .unwrap_err();
    let ActionError::Unavailable {
        attempts,
        last_error,
    } = err
    else {
        panic!("not exhausted: {err:?}");
    };
    assert_eq!(attempts, 3);
    assert!(
        last_error.contains("[500 Internal Server Error]: store down #2"),
        "{last_error}"
    );
    assert_eq!(o.actions().len(), 3);
    assert_eq!(o.leader_calls(), 3, "each attempt locates the leader again");
}

#[tokio::test]
async fn no_reachable_overlord_is_unavailable_and_names_each_candidate() {
    let (first, second) = (dead_url().await, dead_url().await);
    let port = bind().await;
    let url = port.1.clone();
    let no_leader = serve(
        port,
        |_| Reply::Json(503, json!({"error":"no leader"})),
        |_| Reply::Json(200, json!({})),
    );
    let err = client(&[&first, &url, &second], quick(2))
        .submit::<()>(&TaskAction::LockList)
        .await
        .unwrap_err();
    let ActionError::Unavailable {
        attempts,
        last_error,
    } = err
    else {
        panic!("not unavailable: {err:?}");
    };
    assert_eq!(attempts, 1);
    assert!(
        last_error.starts_with("no Overlord named its leader"),
        "{last_error}"
    );
    assert!(last_error.contains(&first) && last_error.contains(&second));
    assert!(last_error.contains("no leader"), "{last_error}");
    assert!(no_leader.actions().is_empty());
}

#[tokio::test]
async fn an_answer_of_the_wrong_shape_is_a_bad_response() {
    let port = bind().await;
    let url = port.1.clone();
    let _o = serve(port, leader_is(&url), |n| match n {
        0 => Reply::Json(200, json!({"result":"not a list"})),
        _ => Reply::Text(200, "<html>".into()),
    });
    let client = client(&[&url], quick(13));
    let err = client
        .submit::<Vec<TaskLock>>(&TaskAction::LockList)
        .await
        .unwrap_err();
    assert!(matches!(err, ActionError::BadResponse(_)), "{err:?}");
    let err = client
        .submit::<Vec<TaskLock>>(&TaskAction::LockList)
        .await
        .unwrap_err();
    assert!(matches!(err, ActionError::BadResponse(_)), "{err:?}");
}

#[test]
fn a_locator_needs_http_urls() {
    let none: [&str; 0] = [];
    assert!(matches!(
        OverlordLocator::new(none),
        Err(ActionError::Config(_))
    ));
    assert!(OverlordLocator::new(["ftp://overlord:8090"]).is_err());
    assert!(OverlordLocator::new(["not a url"]).is_err());
    assert!(OverlordLocator::new(["https://overlord:8290/ignored/path"]).is_ok());
}
