//! The kill task against a stand-in Overlord (segment rows and locks in memory, answering
//! Druid's actions over real HTTP) and a real local deep storage: what is deleted, in which
//! order, what is kept, what it reports, and how it fails.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use steward_model::peon::{PeonConfig, RetryPolicy, StorageConfig, PEON_CONFIG_FILE};
use steward_model::{DataSegment, Interval, Task, TaskLock, TaskState};
use steward_tasks::actions::TaskAction;
use steward_tasks::storage::{DeepStorage, LocalDeepStorage};
use steward_tasks::{run_task, Toolbox};
use tokio::net::TcpListener;

/// The stand-in Overlord's state.
struct Overlord {
    url: String,
    /// Every segment row: the segment and whether it is used.
    rows: Mutex<Vec<(DataSegment, bool)>>,
    /// Whether `lockTryAcquire` grants the lock, and whether `lockList` shows it revoked.
    grant: bool,
    revoked: bool,
    /// An action type answered 400.
    refuse: Option<&'static str>,
    /// The action types received, in order.
    log: Mutex<Vec<String>>,
    /// Rows nuked while their files were already gone (must stay empty).
    files_gone_before_rows: Mutex<Vec<String>>,
}

impl Overlord {
    fn lock(&self, interval: Interval) -> TaskLock {
        TaskLock {
            granularity: Default::default(),
            lock_type: steward_model::TaskLockType::Exclusive,
            group_id: "kill_1".into(),
            data_source: "wiki".into(),
            interval,
            version: "2099-01-01T00:00:00.000Z".into(),
            priority: Some(0),
            revoked: self.revoked,
        }
    }

    fn act(&self, action: TaskAction) -> Result<Value, String> {
        self.log
            .lock()
            .unwrap()
            .push(action.type_name().to_string());
        if self.refuse == Some(action.type_name()) {
            return Err(format!("{} refused by the test", action.type_name()));
        }
        let mut rows = self.rows.lock().unwrap();
        Ok(match action {
            TaskAction::LockTryAcquire { interval, .. } => match self.grant {
                true => json!(self.lock(interval)),
                false => Value::Null,
            },
            TaskAction::LockList => json!([self.lock(interval("2024-01-01/2024-02-01"))]),
            TaskAction::RetrieveUnusedSegments {
                interval,
                versions,
                limit,
                ..
            } => json!(rows
                .iter()
                .filter(|(s, used)| !used && interval.contains(&s.interval))
                .filter(|(s, _)| versions.as_ref().is_none_or(|v| v.contains(&s.version)))
                .take(limit.unwrap_or(u32::MAX) as usize)
                .map(|(s, _)| s.clone())
                .collect::<Vec<_>>()),
            TaskAction::RetrieveUsedSegments { intervals, .. } => json!(rows
                .iter()
                .filter(|(s, used)| *used && intervals.iter().any(|i| i.overlaps(&s.interval)))
                .map(|(s, _)| s.clone())
                .collect::<Vec<_>>()),
            TaskAction::SegmentNuke { segments } => {
                for s in &segments {
                    let path = s.load_spec["path"].as_str().unwrap();
                    if !Path::new(path).exists() {
                        self.files_gone_before_rows
                            .lock()
                            .unwrap()
                            .push(s.id().to_string());
                    }
                }
                rows.retain(|(row, _)| !segments.contains(row));
                Value::Null
            }
            other => panic!("unexpected action {other:?}"),
        })
    }

    fn actions(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn unused_rows(&self) -> usize {
        self.rows.lock().unwrap().iter().filter(|(_, u)| !u).count()
    }
}

async fn action(State(o): State<Arc<Overlord>>, Json(body): Json<Value>) -> Response {
    let action: TaskAction = serde_json::from_value(body["action"].clone()).unwrap();
    match o.act(action) {
        Ok(result) => Json(json!({ "result": result })).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn leader(State(o): State<Arc<Overlord>>) -> String {
    o.url.clone()
}

/// Serves the stand-in Overlord `make` builds for its URL.
async fn serve(make: impl FnOnce(String) -> Overlord) -> Arc<Overlord> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let overlord = Arc::new(make(format!("http://{}", listener.local_addr().unwrap())));
    let router = Router::new()
        .route("/druid/indexer/v1/leader", get(leader))
        .route("/druid/indexer/v1/action", post(action))
        .with_state(overlord.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    overlord
}

/// Segment versions: instants before the lock's, which must not be older than what it covers.
const V1: &str = "2024-03-01T00:00:00.000Z";
const V0: &str = "2024-02-01T00:00:00.000Z";

fn interval(s: &str) -> Interval {
    s.parse().unwrap()
}

/// Pushes a segment of `wiki` for `day` (January) and `version` into `storage`.
fn pushed(storage: &LocalDeepStorage, scratch: &Path, day: u32, version: &str) -> DataSegment {
    let built = scratch.join(format!("built-{day}-{version}"));
    std::fs::create_dir_all(&built).unwrap();
    std::fs::write(built.join("version.bin"), 9i32.to_be_bytes()).unwrap();
    std::fs::write(built.join("00000.smoosh"), format!("{day} {version}")).unwrap();
    let segment: DataSegment = serde_json::from_value(json!({"dataSource":"wiki",
        "interval": format!("2024-01-{day:02}/2024-01-{:02}", day + 1), "version": version,
        "shardSpec":{"type":"numbered","partitionNum":0,"partitions":1},"size":0}))
    .unwrap();
    storage.push(&built, &segment).unwrap()
}

fn exists(segment: &DataSegment) -> bool {
    Path::new(segment.load_spec["path"].as_str().unwrap()).exists()
}

struct Setup {
    _dir: tempfile::TempDir,
    deep: PathBuf,
    /// Unused, in the interval, files not shared: killed.
    doomed: Vec<DataSegment>,
    /// Used, in the interval.
    used: DataSegment,
    /// Unused, but its files are the used segment's (an upgraded copy).
    sharing: DataSegment,
    /// Unused, outside the task's interval.
    outside: DataSegment,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("deep");
    let storage = LocalDeepStorage::new(&deep, false);
    let doomed = (1..=5)
        .map(|d| pushed(&storage, dir.path(), d, V1))
        .collect();
    let used = pushed(&storage, dir.path(), 10, V1);
    let mut sharing = used.clone();
    sharing.version = V0.into();
    let outside = pushed(&storage, dir.path(), 25, V1);
    Setup {
        _dir: dir,
        deep,
        doomed,
        used,
        sharing,
        outside,
    }
}

fn overlord_with(setup: &Setup, url: String) -> Overlord {
    let mut rows: Vec<(DataSegment, bool)> =
        setup.doomed.iter().map(|s| (s.clone(), false)).collect();
    rows.push((setup.used.clone(), true));
    rows.push((setup.sharing.clone(), false));
    rows.push((setup.outside.clone(), false));
    Overlord {
        url,
        rows: Mutex::new(rows),
        grant: true,
        revoked: false,
        refuse: None,
        log: Mutex::new(Vec::new()),
        files_gone_before_rows: Mutex::new(Vec::new()),
    }
}

fn peon_config(overlord: &Overlord, deep: &Path) -> PeonConfig {
    PeonConfig {
        overlord_urls: vec![overlord.url.clone()],
        storage: StorageConfig::Local {
            storage_directory: deep.to_path_buf(),
            zip: false,
        },
        retry: RetryPolicy {
            min_wait: Duration::from_millis(1),
            max_wait: Duration::from_millis(2),
            max_retry_count: 3,
        },
        escalator: None,
        ca_path: None,
        chat: Default::default(),
    }
}

fn kill_task(extra: Value) -> Task {
    let mut t = json!({"type":"kill","id":"kill_1","dataSource":"wiki",
        "interval":"2024-01-01/2024-01-20","batchSize":2});
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    Task::from_json(t).unwrap()
}

async fn run(overlord: &Overlord, setup: &Setup, task: &Task) -> steward_tasks::TaskOutcome {
    let toolbox = Toolbox::new(
        &peon_config(overlord, &setup.deep),
        task,
        None,
        setup.deep.join("work"),
    )
    .unwrap();
    run_task(task, Some(&toolbox), std::future::pending()).await
}

#[tokio::test]
async fn kill_deletes_rows_then_files_in_batches_and_keeps_what_is_still_used() {
    let setup = setup();
    let overlord = serve(|url| overlord_with(&setup, url)).await;
    let task = kill_task(json!({}));
    let outcome = run(&overlord, &setup, &task).await;

    assert_eq!(
        outcome.status.status,
        TaskState::Success,
        "{:?}",
        outcome.status
    );
    assert!(
        setup.doomed.iter().all(|s| !exists(s)),
        "unused files deleted"
    );
    assert!(exists(&setup.used), "files of a used segment stay");
    assert!(exists(&setup.outside), "outside the interval");
    assert!(overlord.files_gone_before_rows.lock().unwrap().is_empty());
    let rows = overlord.rows.lock().unwrap().clone();
    assert_eq!(
        rows.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
        vec![setup.used.clone(), setup.outside.clone()],
        "every unused row in the interval is gone, the sharing one too"
    );
    // Six unused rows in batches of two, then the empty batch that ends the loop.
    assert_eq!(
        Value::Object(outcome.reports),
        json!({"killUnusedSegments":{"type":"killUnusedSegments","taskId":"kill_1",
            "payload":{"numSegmentsKilled":5,"numBatchesProcessed":4}}})
    );
    let batch = [
        "segmentListUnused",
        "lockList",
        "segmentNuke",
        "segmentListUsed",
    ];
    let mut expected = vec!["lockTryAcquire"];
    for _ in 0..3 {
        expected.extend(batch);
    }
    expected.extend(["segmentListUnused", "lockList"]);
    assert_eq!(overlord.actions(), expected);
    // The datasource's directory keeps only what is left.
    let left: Vec<_> = std::fs::read_dir(setup.deep.join("wiki"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[tokio::test]
async fn a_limit_bounds_the_segments_and_batches() {
    let setup = setup();
    let overlord = serve(|url| overlord_with(&setup, url)).await;
    let task = kill_task(json!({"limit":3,"versions":[V1]}));
    let outcome = run(&overlord, &setup, &task).await;
    assert_eq!(outcome.status.status, TaskState::Success);
    assert_eq!(
        outcome.reports["killUnusedSegments"]["payload"],
        json!({"numSegmentsKilled":3,"numBatchesProcessed":2})
    );
    assert_eq!(
        setup.doomed.iter().filter(|s| exists(s)).count(),
        2,
        "two of five are left"
    );
    assert_eq!(
        overlord.unused_rows(),
        2 + 1 + 1,
        "two doomed, sharing, outside"
    );
}

#[tokio::test]
async fn a_refused_nuke_fails_the_task_and_deletes_no_file() {
    let setup = setup();
    let overlord = serve(|url| Overlord {
        refuse: Some("segmentNuke"),
        ..overlord_with(&setup, url)
    })
    .await;
    let status = run(&overlord, &setup, &kill_task(json!({}))).await.status;
    assert_eq!(status.status, TaskState::Failed);
    assert_eq!(
        status.error_msg.as_deref(),
        Some(
            "Task action [segmentNuke] failed: Overlord refused the action with status [400]: \
             segmentNuke refused by the test"
        )
    );
    assert!(setup.doomed.iter().all(exists));
}

#[tokio::test]
async fn a_kill_without_its_lock_does_nothing() {
    let setup = setup();
    let not_granted = serve(|url| Overlord {
        grant: false,
        ..overlord_with(&setup, url)
    })
    .await;
    let status = run(&not_granted, &setup, &kill_task(json!({})))
        .await
        .status;
    assert_eq!(
        status.error_msg.as_deref(),
        Some("Task[kill_1] is not ready to run yet!")
    );
    assert_eq!(not_granted.actions(), ["lockTryAcquire"]);

    let revoked = serve(|url| Overlord {
        revoked: true,
        ..overlord_with(&setup, url)
    })
    .await;
    let status = run(&revoked, &setup, &kill_task(json!({}))).await.status;
    assert!(
        status.error_msg.as_deref().unwrap().starts_with("Lock[{"),
        "{status:?}"
    );
    assert!(setup.doomed.iter().all(exists));
    assert_eq!(revoked.unused_rows(), 7);
}

/// The whole peon: `peon.json` in the task dir, the report file beside the status.
#[test]
fn the_peon_runs_a_kill_from_its_task_dir_and_writes_the_report() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let setup = setup();
    let overlord = rt.block_on(serve(|url| overlord_with(&setup, url)));
    let task_dir = tempfile::tempdir().unwrap();
    let task = kill_task(json!({"context":{"k":"v"}}));
    std::fs::write(task_dir.path().join("task.json"), task.to_bytes()).unwrap();
    steward_model::files::write_atomic_private(
        &task_dir.path().join(PEON_CONFIG_FILE),
        &serde_json::to_vec(&peon_config(&overlord, &setup.deep)).unwrap(),
    )
    .unwrap();

    assert_eq!(steward_tasks::peon_main(task_dir.path(), 1), 0);
    let attempt = task_dir.path().join("attempt/1");
    let status: Value =
        serde_json::from_slice(&std::fs::read(attempt.join("status.json")).unwrap()).unwrap();
    assert_eq!(status["status"], "SUCCESS", "{status}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(attempt.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report,
        json!({"killUnusedSegments":{"type":"killUnusedSegments","taskId":"kill_1",
                "payload":{"numSegmentsKilled":5,"numBatchesProcessed":4}},
            "taskContext":{"type":"taskContext","taskId":"kill_1","payload":{"k":"v"}}})
    );
    assert!(setup.doomed.iter().all(|s| !exists(s)));
}

/// Without `peon.json` a kill ends FAILED with a status and a report all the same.
#[test]
fn a_peon_without_its_configuration_fails_the_kill_cleanly() {
    let task_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        task_dir.path().join("task.json"),
        kill_task(json!({})).to_bytes(),
    )
    .unwrap();
    assert_eq!(steward_tasks::peon_main(task_dir.path(), 1), 0);
    let attempt = task_dir.path().join("attempt/1");
    let status: Value =
        serde_json::from_slice(&std::fs::read(attempt.join("status.json")).unwrap()).unwrap();
    assert_eq!(status["status"], "FAILED");
    let msg = status["errorMsg"].as_str().unwrap();
    assert!(
        msg.starts_with("Cannot read the peon configuration") && msg.contains(PEON_CONFIG_FILE),
        "{msg}"
    );
    assert!(attempt.join("report.json").exists());
}
