use super::*;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use steward_metadata::AuditInfo;
use steward_model::time::{format_ts, parse_instant};
use steward_model::{Task, TaskState, TaskStatus};

use serde_json::json;
use steward_cluster::{FileTaskLogs, InProcessCoordinator, Leadership, WorkerCoordinator};
use steward_metadata::{MetadataStore, SqliteStore};
use steward_model::{RunnerTaskState, Worker, DEFAULT_WORKER_CATEGORY};
use tempfile::TempDir;

use crate::config::{QueueConfig, RunnerConfig};
use crate::driver::{OverlordParts, SubmitError};
use crate::queue::QueueError;
use crate::worker_config::{WorkerBehaviorConfig, CONFIG_KEY};

mod console;
mod segments;
mod submit;

const A: &str = "mm-a:8091";

fn at(instant: &str) -> Timestamp {
    parse_instant(instant).unwrap()
}

fn worker(host: &str) -> Worker {
    Worker {
        scheme: "http".into(),
        host: host.into(),
        ip: "mm-a".into(),
        capacity: 2,
        version: "1".into(),
        category: DEFAULT_WORKER_CATEGORY.into(),
    }
}

fn wiki_task(id: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "dataSource": "wiki"})).unwrap()
}

/// wiki tasks only run on a worker that does not exist.
fn strong_affinity() -> String {
    json!({
        "type": "default",
        "selectStrategy": {
            "type": "fillCapacityWithAffinity",
            "affinityConfig": {"affinity": {"wiki": ["elsewhere:8091"]}, "strong": true}
        },
        "autoScaler": null
    })
    .to_string()
}

struct Fixture {
    _dir: TempDir,
    store: SqliteStore,
    coordinator: Arc<InProcessCoordinator>,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(&dir.path().join("meta.db"), "druid")
            .await
            .unwrap();
        Fixture {
            _dir: dir,
            store,
            coordinator: Arc::new(InProcessCoordinator::new()),
        }
    }

    fn parts(&self) -> OverlordParts {
        OverlordParts {
            queue: QueueConfig::default(),
            runner: RunnerConfig::default(),
            store: Arc::new(self.store.clone()),
            coordinator: self.coordinator.clone(),
            task_logs: FileTaskLogs::new(self._dir.path().join("logs")),
            internal_client: Default::default(),
            metrics: Default::default(),
        }
    }

    async fn start(&self) -> Overlord {
        Overlord::start(self.parts()).await.unwrap()
    }
}

/// Serves the API on a local port with connect info, as Druid records the peer's address.
async fn serve(overlord: Overlord) -> String {
    serve_with(overlord, None).await
}

/// [`serve`] with Druid's basic security on, or off (`None`).
async fn serve_with(overlord: Overlord, security: Option<steward_security::Security>) -> String {
    serve_router(security, |config| router(overlord, config)).await
}

/// Serves the API of an Overlord taking part in an election.
async fn serve_master(master: TaskMaster) -> String {
    serve_router(None, |config| router_with_master(master, config)).await
}

/// Serves the router `app` makes from the HTTP settings on a local port; answers its URL.
async fn serve_router(
    security: Option<steward_security::Security>,
    app: impl FnOnce(ApiConfig) -> Router,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = ApiConfig {
        self_url: url.clone(),
        recently_finished_threshold: Duration::from_secs(86_400),
        security,
        metrics: Default::default(),
    };
    let app = app(config).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn runner_state(overlord: &Overlord, id: &str) -> (Option<RunnerTaskState>, Option<String>) {
    let id = id.to_string();
    overlord
        .query(move |c| {
            let view = c.runner().task_view(&id);
            (view.as_ref().map(|v| v.state), view.and_then(|v| v.worker))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn worker_config_api_stores_answers_and_audits_what_was_posted() {
    let fx = Fixture::new().await;
    let url = serve(fx.start().await).await;
    let http = steward_http::client_builder().build().unwrap();
    let config_url = format!("{url}/druid/indexer/v1/worker");
    let history_url = format!("{url}/druid/indexer/v1/worker/history");

    // Never set: 200 with an empty body, as Druid answers.
    let r = http.get(&config_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    assert_eq!(
        http.get(&history_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "[]"
    );

    // Refused configs change nothing.
    for (body, needle) in [
        ("{not json", "Malformed worker config JSON"),
        (
            r#"{"selectStrategy":{"type":"javascript","function":"function(c,w,t){return null;}"}}"#,
            "[javascript] is not supported",
        ),
        (
            r#"{"selectStrategy":{"type":"roundRobin"}}"#,
            "Unknown selectStrategy type [roundRobin]",
        ),
    ] {
        let r = http.post(&config_url).body(body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let error: Value = r.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(needle), "{error}");
    }
    assert_eq!(
        http.get(&config_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        ""
    );

    let first = strong_affinity();
    let r = http
        .post(&config_url)
        .header("Content-Type", "application/json")
        .header("X-Druid-Author", "alice")
        .header("X-Druid-Comment", "pin wiki")
        .body(first.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    let r = http.get(&config_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), first);

    // Without audit headers the author and comment are empty, as in Druid.
    let second =
        r#"{"type":"default","selectStrategy":{"type":"equalDistribution"},"autoScaler":null}"#;
    let r = http.post(&config_url).body(second).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        http.get(&config_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        second
    );

    let history: Value = http
        .get(&history_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[0]["auditInfo"],
        json!({"author": "", "comment": "", "ip": "127.0.0.1"})
    );
    assert_eq!(history[0]["payload"], second);
    let oldest = &history[1];
    assert_eq!(oldest["key"], CONFIG_KEY);
    assert_eq!(oldest["type"], CONFIG_KEY);
    assert_eq!(
        oldest["auditInfo"],
        json!({"author": "alice", "comment": "pin wiki", "ip": "127.0.0.1"})
    );
    assert_eq!(oldest["payload"], first);
    let audit_time = at(oldest["auditTime"].as_str().unwrap());
    assert_eq!(
        oldest["auditTime"],
        format_ts(audit_time),
        "Druid's instant format"
    );

    let get = |query: &str| http.get(format!("{history_url}?{query}")).send();
    let newest: Value = get("count=1").await.unwrap().json().await.unwrap();
    assert_eq!(newest.as_array().unwrap().len(), 1);
    assert_eq!(newest[0]["payload"], second);
    let all: Value = get("interval=2000-01-01/3000-01-01")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let none: Value = get("interval=2000-01-01/2000-01-02")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));
    for (query, needle) in [
        ("count=0", "Limit must be greater than zero!"),
        ("count=many", "Invalid count [many]"),
        ("interval=yesterday", "Invalid interval [yesterday]"),
    ] {
        let r = get(query).await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let error: Value = r.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(needle), "{error}");
    }
}

#[tokio::test]
async fn a_posted_config_applies_to_pending_tasks_before_the_post_returns() {
    let fx = Fixture::new().await;
    fx.coordinator.announce(&worker(A)).await.unwrap();
    let overlord = fx.start().await;
    let audit = AuditInfo::default();
    overlord
        .set_worker_config(strong_affinity().as_bytes(), audit.clone())
        .await
        .unwrap();
    overlord.submit(wiki_task("w1")).await.unwrap();
    assert_eq!(
        runner_state(&overlord, "w1").await,
        (Some(RunnerTaskState::Pending), None),
        "wiki waits for its own worker"
    );

    let weak = r#"{"selectStrategy":{"type":"fillCapacity","affinityConfig":{"affinity":{"wiki":["elsewhere:8091"]}}}}"#;
    overlord
        .set_worker_config(weak.as_bytes(), audit)
        .await
        .unwrap();
    assert_eq!(
        runner_state(&overlord, "w1").await,
        (Some(RunnerTaskState::Pending), Some(A.to_string())),
        "assigned to a, not yet acknowledged"
    );
    assert_eq!(
        overlord.worker_config().await.unwrap().unwrap(),
        weak.as_bytes()
    );
    overlord.stop().await;
}

#[tokio::test]
async fn the_stored_config_is_in_force_from_the_start() {
    let fx = Fixture::new().await;
    fx.store
        .set_config_with_audit(
            CONFIG_KEY,
            strong_affinity().as_bytes(),
            &AuditInfo::default(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    fx.coordinator.announce(&worker(A)).await.unwrap();
    let overlord = fx.start().await;
    let expected = WorkerBehaviorConfig::parse(strong_affinity().as_bytes())
        .unwrap()
        .config
        .select_strategy;
    let in_force = overlord
        .query(|c| c.runner().strategy().clone())
        .await
        .unwrap();
    assert_eq!(in_force, expected);
    overlord.submit(wiki_task("w1")).await.unwrap();
    assert_eq!(
        runner_state(&overlord, "w1").await,
        (Some(RunnerTaskState::Pending), None)
    );
    overlord.stop().await;

    // A stored config Steward cannot run does not keep the Overlord from starting.
    let javascript = br#"{"selectStrategy":{"type":"javascript","function":"x"}}"#;
    fx.store
        .set_config_with_audit(
            CONFIG_KEY,
            javascript,
            &AuditInfo::default(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let overlord = fx.start().await;
    let in_force = overlord
        .query(|c| c.runner().strategy().clone())
        .await
        .unwrap();
    assert_eq!(in_force, WorkerBehaviorConfig::default().select_strategy);
    overlord.stop().await;
}

#[tokio::test]
async fn worker_config_calls_answer_503_while_the_store_is_down() {
    let fx = Fixture::new().await;
    let url = serve(fx.start().await).await;
    fx.store.close().await;
    let http = steward_http::client_builder().build().unwrap();
    let config_url = format!("{url}/druid/indexer/v1/worker");
    let r = http.get(&config_url).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let r = http
        .post(&config_url)
        .body(strong_affinity())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = http
        .get(format!("{config_url}/history"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    // Invalid input is still told apart from an unavailable store.
    let r = http.post(&config_url).body("{").send().await.unwrap();
    assert_eq!(r.status(), 400);
}

const OTHER: &str = "http://other-overlord:8090";

fn leadership(term: Option<u64>, leader: Option<&str>) -> Leadership {
    Leadership {
        term,
        leader: leader.map(str::to_string),
    }
}

#[tokio::test]
async fn a_follower_redirects_to_the_leader_and_a_leader_serves_in_its_term() {
    let fx = Fixture::new().await;
    let (elect, elected) = tokio::sync::watch::channel(leadership(None, Some(OTHER)));
    let master = TaskMaster::start(fx.parts(), elected);
    let url = serve_master(master.clone()).await;
    let http = steward_http::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let v1 = |path: &str| format!("{url}/druid/indexer/v1/{path}");

    // Following: every task API call goes to the leader, with its path and query.
    let r = http
        .get(v1("tasks?state=complete&max=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"],
        format!("{OTHER}/druid/indexer/v1/tasks?state=complete&max=5").as_str()
    );
    let r = http
        .post(v1("task"))
        .json(&json!({"type": "noop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"],
        format!("{OTHER}/druid/indexer/v1/task").as_str()
    );
    // ... except `leader` and `isLeader`, and what lies outside the task API.
    let r = http.get(v1("leader")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), OTHER);
    let r = http.get(v1("isLeader")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"leader": false}));
    let r = http
        .get(format!("{url}/status/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // No leader known: 503 in Druid's error shape, asking the client to come back.
    elect.send_replace(leadership(None, None));
    for r in [
        http.get(v1("tasks")).send().await.unwrap(),
        http.get(v1("leader")).send().await.unwrap(),
    ] {
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "5");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("leading"),
            "{body}"
        );
    }
    assert_eq!(http.get(v1("isLeader")).send().await.unwrap().status(), 404);

    // Leading: a term starts at once and the API is served here.
    elect.send_replace(leadership(Some(1), Some(&url)));
    wait_leading(&http, &v1("isLeader")).await;
    let r = http
        .post(v1("task"))
        .json(&wiki_task("kept").to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        http.get(v1("leader"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        url
    );
    let first = master.overlord().unwrap();

    // Losing the leadership ends the term at once: its handle takes no more work.
    elect.send_replace(leadership(None, Some(OTHER)));
    assert!(master.overlord().is_none());
    assert!(matches!(
        first.submit(wiki_task("late")).await,
        Err(SubmitError::Queue(QueueError::NotStarted))
    ));
    assert_eq!(http.get(v1("tasks")).send().await.unwrap().status(), 307);
    assert_eq!(fx.store.get_task("late").await.unwrap(), None);

    // Leading again is a new term, which loads the active tasks from the store.
    elect.send_replace(leadership(Some(2), Some(&url)));
    wait_leading(&http, &v1("isLeader")).await;
    let second = master.overlord().unwrap();
    assert_eq!(second.term().id(), 2);
    let status: Value = http
        .get(v1("task/kept/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"]["statusCode"], "RUNNING");
    assert_eq!(status["status"]["runnerStatusCode"], "PENDING");
    master.stop().await;
    assert!(master.overlord().is_none());
}

async fn wait_leading(http: &reqwest::Client, is_leader: &str) {
    steward_testkit::wait_for("the term to start", Duration::from_secs(10), || async {
        let r = http.get(is_leader).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_active_task_that_cannot_be_run_ends_failed_when_the_overlord_starts() {
    let fx = Fixture::new().await;
    fx.store
        .insert_task(
            &wiki_task("runnable"),
            at("2026-03-08T10:00:00Z"),
            &TaskStatus::running("runnable"),
        )
        .await
        .unwrap();
    // A task of a Druid cluster, left active in the table Steward takes over.
    let id = "index_kafka_wiki_1";
    let db = format!("sqlite:{}", fx._dir.path().join("meta.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO druid_tasks (id, created_date, datasource, payload, status_payload, \
         active, type, group_id) VALUES (?, ?, ?, ?, ?, TRUE, ?, ?)",
    )
    .bind(id)
    .bind("2026-03-08T09:00:00.000Z")
    .bind("wiki")
    .bind(
        json!({"type": "index_kafka", "id": id, "dataSource": "wiki"})
            .to_string()
            .into_bytes(),
    )
    .bind(serde_json::to_vec(&TaskStatus::running(id)).unwrap())
    .bind("index_kafka")
    .bind(id)
    .execute(&mut conn)
    .await
    .unwrap();

    let overlord = fx.start().await;
    // Recorded by the persist path, as every end is: shortly after the start.
    let info = steward_testkit::wait_for("the row to end", Duration::from_secs(10), || async {
        let info = fx.store.get_info(id).await.unwrap().unwrap();
        (!info.active).then_some(info)
    })
    .await;
    assert!(!info.active);
    assert_eq!(info.status.status, TaskState::Failed);
    let msg = info.status.error_msg.unwrap();
    assert!(
        msg.starts_with("Steward cannot run this task: ") && msg.contains("index_kafka"),
        "{msg}"
    );
    assert_eq!(
        runner_state(&overlord, "runnable").await.0,
        Some(RunnerTaskState::Pending),
        "the rest starts as usual"
    );
}
