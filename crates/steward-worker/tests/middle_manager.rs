//! The MiddleManager against real peon processes and real files, driven and observed from the
//! Overlord's side of an in-process coordinator.
//!
//! There is no `steward` binary here, so `/bin/sh -c <script> peon <taskDir> <attemptId>` plays
//! the peon: `$1` is the task dir, `$2` the attempt. Peons that wait end by themselves once
//! their task dir is gone, so a failed test leaves no process behind.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde_json::{json, Value};
use steward_cluster::{
    FileTaskLogs, InProcessCoordinator, OverlordCoordinator, RunnerEvent, WorkerCoordinator,
};
use steward_model::{
    Task, TaskAnnouncement, TaskLocation, TaskResource, TaskState, TaskStatus, Worker,
};
use steward_worker::{MiddleManager, WorkerConfig};
use tokio::sync::mpsc::UnboundedReceiver;
use tower::ServiceExt;

/// Generous: these tests start processes on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);
const WORKER: &str = "localhost:8091";

/// Writes a SUCCESS status for the attempt, as a peon does.
const WRITE_SUCCESS: &str = concat!(
    r#"printf '{"id":"%s","status":"SUCCESS","duration":1}' "$(basename "$1")""#,
    r#" > "$1/attempt/$2/status.json""#
);

struct Cluster {
    dir: tempfile::TempDir,
    coordinator: Arc<InProcessCoordinator>,
    overlord: UnboundedReceiver<RunnerEvent>,
}

impl Cluster {
    async fn new() -> Cluster {
        let coordinator = Arc::new(InProcessCoordinator::new());
        let overlord = OverlordCoordinator::subscribe(&*coordinator).await.unwrap();
        Cluster {
            dir: tempfile::tempdir().unwrap(),
            coordinator,
            overlord,
        }
    }

    fn config(&self, script: &str) -> WorkerConfig {
        let mut config = WorkerConfig::new(
            "localhost",
            8091,
            self.dir.path().join("tasks"),
            "/bin/sh",
            FileTaskLogs::new(self.dir.path().join("logs")),
        );
        config.capacity = 3;
        config.peon_args = vec!["-c".into(), script.into(), "peon".into()];
        config.graceful_shutdown_timeout = Duration::from_secs(10);
        config
    }

    async fn start(&self, config: WorkerConfig) -> MiddleManager {
        MiddleManager::start(config, self.coordinator.clone())
            .await
            .unwrap()
    }

    async fn assign(&self, id: &str) {
        let task = Task::from_json(json!({"type":"noop","id":id,"dataSource":"wiki"})).unwrap();
        self.coordinator.assign(WORKER, &task).await.unwrap();
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("tasks")
    }

    fn completed_file(&self, id: &str) -> PathBuf {
        self.base().join("completedTasks").join(id)
    }

    fn pushed(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("logs").join(file)).unwrap()
    }

    fn peon_pid(&self, id: &str) -> i32 {
        let record: Value =
            serde_json::from_slice(&std::fs::read(self.base().join(id).join("peon.pid")).unwrap())
                .unwrap();
        record["pid"].as_i64().unwrap() as i32
    }

    /// The next status announcement of task `id`.
    async fn next_status(&mut self, id: &str) -> TaskAnnouncement {
        let wait = async {
            loop {
                match self.overlord.recv().await.expect("coordinator open") {
                    RunnerEvent::StatusAnnounced {
                        worker,
                        announcement,
                    } if announcement.id == id => {
                        assert_eq!(worker, WORKER);
                        return announcement;
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .unwrap_or_else(|_| panic!("no status announcement of {id}"))
    }

    /// The next status announcement of each of `ids`, whichever order they come in.
    async fn next_statuses(&mut self, ids: &[&str]) -> BTreeMap<String, TaskAnnouncement> {
        self.first_statuses(ids, |_| true).await
    }

    /// The end of each of `ids`, whichever order they come in.
    async fn final_statuses(&mut self, ids: &[&str]) -> BTreeMap<String, TaskAnnouncement> {
        self.first_statuses(ids, |a| a.status.is_complete()).await
    }

    async fn first_statuses(
        &mut self,
        ids: &[&str],
        wanted: impl Fn(&TaskAnnouncement) -> bool,
    ) -> BTreeMap<String, TaskAnnouncement> {
        let mut seen = BTreeMap::new();
        let wait = async {
            while seen.len() < ids.len() {
                if let RunnerEvent::StatusAnnounced { announcement, .. } =
                    self.overlord.recv().await.expect("coordinator open")
                {
                    if ids.contains(&announcement.id.as_str()) && wanted(&announcement) {
                        seen.entry(announcement.id.clone()).or_insert(announcement);
                    }
                }
            }
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .expect("status announcements");
        seen
    }

    /// Every announcement of task `id` up to and including its end.
    async fn statuses_until_end(&mut self, id: &str) -> Vec<TaskAnnouncement> {
        let mut seen = Vec::new();
        loop {
            let a = self.next_status(id).await;
            let done = a.status.is_complete();
            seen.push(a);
            if done {
                return seen;
            }
        }
    }

    async fn final_status(&mut self, id: &str) -> TaskAnnouncement {
        self.statuses_until_end(id).await.pop().unwrap()
    }

    /// The worker as it next re-announces itself.
    async fn next_worker_change(&mut self) -> Worker {
        let wait = async {
            loop {
                let event = self.overlord.recv().await.expect("coordinator open");
                if let RunnerEvent::WorkerChanged(worker) = event {
                    return worker;
                }
            }
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .expect("no worker event")
    }
}

async fn call(router: &Router, method: &str, uri: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Polls an observable condition (a file, a process, an HTTP answer) until it holds.
async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let wait = async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"));
}

/// Gone, or a zombie nobody has reaped yet: either way the peon has exited.
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

fn exit_message(code: i32) -> String {
    format!(
        "Task execution process exited unsuccessfully with code[{code}]. \
         See middleManager logs for more details."
    )
}

#[tokio::test]
async fn task_is_announced_running_then_located_then_ended_and_recorded() {
    let mut cluster = Cluster::new().await;
    let script = format!(
        r#"echo "hello from attempt $2 on $STEWARD_TASK_HOST:$STEWARD_TASK_PORT"; {WRITE_SUCCESS}"#
    );
    let mm = cluster.start(cluster.config(&script)).await;
    cluster.assign("t_ok").await;

    let seen = cluster.statuses_until_end("t_ok").await;
    let states: Vec<(TaskState, bool)> = seen
        .iter()
        .map(|a| (a.status, a.task_location.is_unknown()))
        .collect();
    assert_eq!(
        states,
        vec![
            (TaskState::Running, true),
            (TaskState::Running, false),
            (TaskState::Success, false)
        ]
    );
    let location = seen[1].task_location.clone();
    assert_eq!(location.host.as_deref(), Some("localhost"));
    assert!(location.port >= 8100, "peon port {}", location.port);
    let end = &seen[2];
    assert_eq!(end.task_type, "noop");
    assert_eq!(end.task_data_source.as_deref(), Some("wiki"));
    assert_eq!(end.task_resource, TaskResource::default_for("t_ok"));
    assert_eq!(end.task_status.location, location);
    assert!(end.task_status.duration >= 0);

    let log = cluster.pushed("t_ok.log");
    assert_eq!(
        log,
        format!("hello from attempt 1 on localhost:{}\n", location.port)
    );
    let pushed: TaskStatus = serde_json::from_str(&cluster.pushed("t_ok.status.json")).unwrap();
    assert_eq!(pushed, end.task_status);
    assert!(
        !cluster.base().join("t_ok").exists(),
        "the task dir is deleted"
    );
    assert!(cluster.completed_file("t_ok").exists());
    assert!(cluster
        .coordinator
        .statuses(WORKER)
        .await
        .unwrap()
        .contains(end));
    let (_, tasks) = call(&mm.router(), "GET", "/druid/worker/v1/tasks").await;
    assert_eq!(tasks, "[]");

    // Assigned again before the Overlord recorded the end: already known, so the worker only
    // removes the assignment.
    cluster.assign("t_ok").await;
    cluster
        .coordinator
        .remove_status(WORKER, "t_ok")
        .await
        .unwrap();
    let completed = cluster.completed_file("t_ok");
    wait_until("completedTasks entry removed", || async {
        !completed.exists()
    })
    .await;
    assert!(cluster
        .coordinator
        .statuses(WORKER)
        .await
        .unwrap()
        .is_empty());

    // Once recorded the task is forgotten: a new assignment (possible only because the stale
    // one was removed) runs it afresh.
    cluster.assign("t_ok").await;
    assert_eq!(
        cluster.final_status("t_ok").await.status,
        TaskState::Success
    );
}

#[tokio::test]
async fn peons_do_not_inherit_the_secrets_environment() {
    // Each test runs in its own process under nextest; this one's environment is its own.
    std::env::set_var("STEWARD_TEST_SECRET", "hunter2");
    std::env::set_var("STEWARD_TEST_PLAIN", "visible");
    let mut cluster = Cluster::new().await;
    let script = format!(
        r#"echo "secret=[$STEWARD_TEST_SECRET] plain=[$STEWARD_TEST_PLAIN]"; {WRITE_SUCCESS}"#
    );
    let mut config = cluster.config(&script);
    config.peon_env_remove = vec!["STEWARD_TEST_SECRET".into()];
    let _mm = cluster.start(config).await;
    cluster.assign("t_env").await;
    assert_eq!(
        cluster.final_status("t_env").await.status,
        TaskState::Success
    );
    let log = cluster.pushed("t_env.log");
    assert!(log.contains("secret=[] plain=[visible]"), "{log}");
}

#[tokio::test]
async fn peons_that_fail_end_failed_with_druids_messages() {
    let mut cluster = Cluster::new().await;
    let script = r#"case "$(basename "$1")" in
        exit3) echo "giving up" >&2; exit 3 ;;
        nostatus) exit 0 ;;
        badstatus) echo '{"id":"badstatus","status":"RUNNING"}' > "$1/attempt/$2/status.json" ;;
    esac"#;
    let _mm = cluster.start(cluster.config(script)).await;
    for id in ["exit3", "nostatus", "badstatus"] {
        cluster.assign(id).await;
    }
    let mut ends = cluster
        .final_statuses(&["exit3", "nostatus", "badstatus"])
        .await;
    let exit3 = ends.remove("exit3").unwrap();
    assert_eq!(exit3.status, TaskState::Failed);
    assert_eq!(exit3.task_status.error_msg, Some(exit_message(3)));
    assert_eq!(
        cluster.pushed("exit3.log"),
        "giving up\n",
        "stderr goes to the task log"
    );
    let nostatus = ends.remove("nostatus").unwrap();
    assert_eq!(nostatus.status, TaskState::Failed);
    assert!(
        nostatus
            .task_status
            .error_msg
            .as_deref()
            .unwrap()
            .contains("without writing its status"),
        "{nostatus:?}"
    );
    let badstatus = ends.remove("badstatus").unwrap();
    assert_eq!(badstatus.status, TaskState::Failed);
    assert!(badstatus
        .task_status
        .error_msg
        .as_deref()
        .unwrap()
        .contains("not an end"));
}

/// Writes what the peon finds as `peon.json` (its mode and contents, or `absent`) to its log.
const SHOW_PEON_JSON: &str = r#"if [ -f "$1/peon.json" ]; then stat -c 'mode=%a' "$1/peon.json"; cat "$1/peon.json"; else echo absent; fi; echo"#;

#[tokio::test]
async fn a_peon_that_calls_the_overlord_gets_a_private_peon_json() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster.config(&format!("{SHOW_PEON_JSON}; {WRITE_SUCCESS}"));
    config.peon.overlord_urls = vec!["http://localhost:8090".into()];
    config.peon.escalator = Some(steward_model::peon::BasicCredentials {
        username: "druid_system".into(),
        password: "internal-secret".into(),
    });
    let expected = serde_json::to_value(&config.peon).unwrap();
    let _mm = cluster.start(config).await;
    let kill = Task::from_json(json!({"type":"kill","id":"t_kill","dataSource":"wiki",
        "interval":"2024-01-01/2024-01-02"}))
    .unwrap();
    cluster.coordinator.assign(WORKER, &kill).await.unwrap();
    cluster.assign("t_noop").await;
    let ends = cluster.final_statuses(&["t_kill", "t_noop"]).await;
    assert!(
        ends.values().all(|e| e.status == TaskState::Success),
        "{ends:?}"
    );

    let log = cluster.pushed("t_kill.log");
    let (mode, json) = log.trim().split_once('\n').unwrap();
    assert_eq!(mode, "mode=600");
    assert_eq!(serde_json::from_str::<Value>(json).unwrap(), expected);
    assert_eq!(
        cluster.pushed("t_noop.log").trim(),
        "absent",
        "a noop needs none"
    );
}

#[tokio::test]
async fn a_task_that_calls_the_overlord_fails_when_no_overlord_is_known() {
    let mut cluster = Cluster::new().await;
    let _mm = cluster.start(cluster.config(WRITE_SUCCESS)).await;
    let kill = Task::from_json(json!({"type":"kill","id":"t_lost","dataSource":"wiki",
        "interval":"2024-01-01/2024-01-02"}))
    .unwrap();
    cluster.coordinator.assign(WORKER, &kill).await.unwrap();
    let end = cluster.final_status("t_lost").await;
    assert_eq!(end.status, TaskState::Failed);
    assert_eq!(
        end.task_status.error_msg.as_deref(),
        Some("Failed to run task with an exception: no Overlord URL is known to hand to the peon")
    );
}

#[tokio::test]
async fn a_peon_that_cannot_be_spawned_fails_the_task() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster.config("");
    config.peon_program = cluster.dir.path().join("no-such-peon");
    let _mm = cluster.start(config).await;
    cluster.assign("unspawnable").await;
    let end = cluster.final_status("unspawnable").await;
    assert_eq!(end.status, TaskState::Failed);
    let msg = end.task_status.error_msg.unwrap();
    assert!(
        msg.starts_with("Failed to run task with an exception: "),
        "{msg}"
    );
    assert!(!cluster.base().join("unspawnable").exists());
}

#[tokio::test]
async fn shutdown_over_http_stops_the_peon() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster.config("echo started; exec sleep 30");
    config.ports = vec![free_port()];
    let port = config.ports[0];
    let mm = cluster.start(config).await;
    let router = mm.router();
    cluster.assign("long").await;
    assert!(cluster.next_status("long").await.task_location.is_unknown());
    let located = cluster.next_status("long").await;
    assert_eq!(
        located.task_location,
        TaskLocation::new("localhost", i32::from(port))
    );
    assert_eq!(
        call(&router, "GET", "/druid/worker/v1/tasks").await.1,
        r#"["long"]"#
    );
    let pid = cluster.peon_pid("long");

    let (status, body) = call(&router, "POST", "/druid/worker/v1/task/long/shutdown").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"task":"long"}"#)
    );
    let end = cluster.final_status("long").await;
    assert_eq!(end.status, TaskState::Failed);
    assert_eq!(end.task_status.error_msg, Some(exit_message(128 + 15)));
    assert_eq!(
        kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH),
        "peon is gone"
    );

    let (status, body) = call(&router, "POST", "/druid/worker/v1/task/nope/shutdown").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"task":"nope"}"#)
    );
    assert_eq!(call(&router, "GET", "/druid/worker/v1/tasks").await.1, "[]");
}

#[tokio::test]
async fn log_is_served_while_running_and_sigterm_is_escalated_to_sigkill() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster
        .config("trap '' TERM; echo ready; echo second; while [ -d \"$1\" ]; do sleep 1; done");
    config.graceful_shutdown_timeout = Duration::from_millis(300);
    let mm = cluster.start(config).await;
    let router = mm.router();
    cluster.assign("stubborn").await;
    let log_uri = "/druid/worker/v1/task/stubborn/log";
    wait_until("the peon's output is in its log", || {
        let router = router.clone();
        async move { call(&router, "GET", log_uri).await.1 == "ready\nsecond\n" }
    })
    .await;
    assert_eq!(
        call(&router, "GET", &format!("{log_uri}?offset=6")).await.1,
        "second\n"
    );
    assert_eq!(
        call(&router, "GET", &format!("{log_uri}?offset=-7"))
            .await
            .1,
        "second\n"
    );
    assert_eq!(
        call(&router, "GET", &format!("{log_uri}?offset=-100"))
            .await
            .1,
        "ready\nsecond\n"
    );
    assert_eq!(
        call(&router, "GET", &format!("{log_uri}?offset=100"))
            .await
            .1,
        ""
    );
    assert_eq!(
        call(&router, "GET", &format!("{log_uri}?offset=abc"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&router, "GET", "/druid/worker/v1/task/other/log")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let pid = cluster.peon_pid("stubborn");

    call(&router, "POST", "/druid/worker/v1/task/stubborn/shutdown").await;
    let end = cluster.final_status("stubborn").await;
    assert_eq!(
        end.task_status.error_msg,
        Some(exit_message(128 + 9)),
        "SIGKILL after the timeout"
    );
    assert_eq!(
        kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    );
    assert_eq!(call(&router, "GET", log_uri).await.0, StatusCode::NOT_FOUND);
    assert_eq!(cluster.pushed("stubborn.log"), "ready\nsecond\n");
}

#[tokio::test]
async fn enable_and_disable_change_the_announced_version() {
    let mut cluster = Cluster::new().await;
    let mm = cluster.start(cluster.config("")).await;
    let router = mm.router();
    assert_eq!(
        call(&router, "GET", "/status/health").await,
        (StatusCode::OK, "true".into())
    );
    assert_eq!(
        call(&router, "GET", "/druid/worker/v1/enabled").await.1,
        format!(r#"{{"{WORKER}":true}}"#)
    );

    let (status, body) = call(&router, "POST", "/druid/worker/v1/disable").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, format!(r#"{{"{WORKER}":"disabled"}}"#))
    );
    let disabled = cluster.next_worker_change().await;
    assert_eq!(disabled.version, "");
    assert_eq!(mm.worker(), disabled);
    assert_eq!(
        call(&router, "GET", "/druid/worker/v1/enabled").await.1,
        format!(r#"{{"{WORKER}":false}}"#)
    );

    let (status, body) = call(&router, "POST", "/druid/worker/v1/enable").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, format!(r#"{{"{WORKER}":"enabled"}}"#))
    );
    let enabled = cluster.next_worker_change().await;
    assert_eq!(enabled.version, "0");
    assert_eq!(enabled.host, WORKER);
    assert_eq!(mm.worker(), enabled);
}

#[tokio::test]
async fn restarted_middle_manager_adopts_a_running_peon() {
    let mut cluster = Cluster::new().await;
    let script = format!(
        r#"echo up; while [ ! -e "$1/go" ]; do [ -d "$1" ] || exit 1; sleep 0.05; done; {WRITE_SUCCESS}"#
    );
    let mm = cluster.start(cluster.config(&script)).await;
    cluster.assign("survivor").await;
    cluster.next_status("survivor").await;
    let location = cluster.next_status("survivor").await.task_location;
    let pid = cluster.peon_pid("survivor");
    let log = cluster.base().join("survivor/log");
    wait_until("the peon is up", || async {
        std::fs::read(&log).unwrap() == b"up\n"
    })
    .await;
    drop(mm);
    assert!(
        !exited(pid),
        "dropping the MiddleManager leaves its peons running"
    );

    let mm = cluster.start(cluster.config(&script)).await;
    let adopted = cluster.next_status("survivor").await;
    assert_eq!(adopted.status, TaskState::Running);
    assert_eq!(adopted.task_location, location);
    assert_eq!(
        call(&mm.router(), "GET", "/druid/worker/v1/tasks").await.1,
        r#"["survivor"]"#
    );
    assert_eq!(
        call(&mm.router(), "GET", "/druid/worker/v1/task/survivor/log")
            .await
            .1,
        "up\n",
        "the log route serves an adopted peon's log"
    );

    std::fs::write(cluster.base().join("survivor").join("go"), b"").unwrap();
    let end = cluster.final_status("survivor").await;
    assert_eq!(end.status, TaskState::Success);
    assert_eq!(end.task_location, location);
    assert!(end.task_status.duration >= 0);
    assert_eq!(cluster.pushed("survivor.log"), "up\n");
    assert!(cluster.completed_file("survivor").exists());
    assert!(!cluster.base().join("survivor").exists());
}

#[tokio::test]
async fn restart_reports_ends_that_happened_while_down_and_repairs_unknown_tasks() {
    let mut cluster = Cluster::new().await;
    let script = format!(
        r#"while [ ! -e "$1/go" ]; do [ -d "$1" ] || exit 1; sleep 0.05; done; {WRITE_SUCCESS}"#
    );
    let mm = cluster.start(cluster.config(&script)).await;
    cluster.assign("finished").await;
    cluster.next_status("finished").await;
    cluster.next_status("finished").await;
    let pid = cluster.peon_pid("finished");
    drop(mm);
    let task_dir = cluster.base().join("finished");
    std::fs::write(task_dir.join("go"), b"").unwrap();
    wait_until("the peon exited", || async { exited(pid) }).await;
    assert!(task_dir.join("attempt/1/status.json").exists());

    // A task dir whose peon never started, and a RUNNING announcement no task on disk explains.
    let orphan = cluster.base().join("orphan");
    std::fs::create_dir_all(&orphan).unwrap();
    let orphan_task = Task::from_json(json!({"type":"noop","id":"orphan"})).unwrap();
    std::fs::write(orphan.join("task.json"), orphan_task.to_bytes()).unwrap();
    let ghost = TaskAnnouncement::new(
        "noop",
        "none",
        TaskResource::default_for("ghost"),
        TaskStatus::running("ghost"),
        TaskLocation::unknown(),
    );
    cluster
        .coordinator
        .announce_status(WORKER, &ghost)
        .await
        .unwrap();
    cluster.next_status("ghost").await;

    let _mm = cluster.start(cluster.config(&script)).await;
    let seen = cluster
        .next_statuses(&["ghost", "finished", "orphan"])
        .await;
    let ghost = &seen["ghost"];
    assert_eq!(ghost.status, TaskState::Failed);
    assert_eq!(
        ghost.task_status.error_msg.as_deref(),
        Some("Canceled as unknown task after MiddleManager restart")
    );
    assert_eq!(
        seen["finished"].status,
        TaskState::Success,
        "the first announcement is the end"
    );
    let orphan_end = &seen["orphan"];
    assert_eq!(orphan_end.status, TaskState::Failed);
    assert_eq!(
        orphan_end.task_status.error_msg.as_deref(),
        Some("Task's peon process was gone when its MiddleManager restarted")
    );
    // The end is announced once it is on disk.
    assert!(!task_dir.exists());
    assert!(!orphan.exists());
    assert!(cluster.completed_file("finished").exists());
    assert!(cluster.completed_file("orphan").exists());
}

#[tokio::test]
async fn completed_tasks_are_reannounced_after_restart_until_removed() {
    let mut cluster = Cluster::new().await;
    let mm = cluster.start(cluster.config(WRITE_SUCCESS)).await;
    cluster.assign("done").await;
    let end = cluster.final_status("done").await;
    drop(mm);
    assert!(cluster.completed_file("done").exists());

    let _mm = cluster.start(cluster.config(WRITE_SUCCESS)).await;
    assert_eq!(
        cluster.next_status("done").await,
        end,
        "re-announced as it ended"
    );
    cluster
        .coordinator
        .remove_status(WORKER, "done")
        .await
        .unwrap();
    let completed = cluster.completed_file("done");
    wait_until("completedTasks entry removed", || async {
        !completed.exists()
    })
    .await;
}

#[tokio::test]
async fn attempt_numbers_continue_in_a_reused_task_dir() {
    let mut cluster = Cluster::new().await;
    let script = format!(r#"echo "attempt $2"; {WRITE_SUCCESS}"#);
    let _mm = cluster.start(cluster.config(&script)).await;
    cluster.assign("first").await;
    assert_eq!(
        cluster.final_status("first").await.status,
        TaskState::Success
    );
    assert_eq!(cluster.pushed("first.log"), "attempt 1\n");

    std::fs::create_dir_all(cluster.base().join("again/attempt/1")).unwrap();
    cluster.assign("again").await;
    assert_eq!(
        cluster.final_status("again").await.status,
        TaskState::Success
    );
    assert_eq!(cluster.pushed("again.log"), "attempt 2\n");
}

#[tokio::test]
async fn stop_ends_peons_reports_them_and_leaves_after_the_overlord_recorded_them() {
    let mut cluster = Cluster::new().await;
    let mm = cluster.start(cluster.config("exec sleep 30")).await;
    cluster.assign("running").await;
    cluster.next_status("running").await;
    cluster.next_status("running").await;
    let pid = cluster.peon_pid("running");

    // The Overlord's part: record every end it sees by removing its announcement.
    let coordinator = cluster.coordinator.clone();
    let mut overlord = std::mem::replace(
        &mut cluster.overlord,
        tokio::sync::mpsc::unbounded_channel().1,
    );
    let observer = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(event) = overlord.recv().await {
            if let RunnerEvent::StatusAnnounced { announcement, .. } = &event {
                if announcement.status.is_complete() {
                    coordinator
                        .remove_status(WORKER, &announcement.id)
                        .await
                        .unwrap();
                }
            }
            let last = matches!(event, RunnerEvent::WorkerRemoved(_));
            seen.push(event);
            if last {
                return seen;
            }
        }
        seen
    });
    tokio::time::timeout(DEADLINE, mm.stop())
        .await
        .expect("stop finished");
    let seen = tokio::time::timeout(DEADLINE, observer)
        .await
        .unwrap()
        .unwrap();

    let disabled = seen
        .iter()
        .position(|e| matches!(e, RunnerEvent::WorkerChanged(w) if w.version.is_empty()))
        .expect("disabled first");
    let ended = seen
        .iter()
        .position(|e| {
            matches!(e, RunnerEvent::StatusAnnounced { announcement, .. }
            if announcement.id == "running" && announcement.status == TaskState::Failed)
        })
        .expect("the stopped task's end is announced");
    let removed = seen
        .iter()
        .position(
            |e| matches!(e, RunnerEvent::StatusRemoved { task_id, .. } if task_id == "running"),
        )
        .expect("the Overlord recorded the end");
    assert!(
        disabled < ended && ended < removed && removed < seen.len() - 1,
        "{seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&RunnerEvent::WorkerRemoved(WORKER.to_string()))
    );
    assert_eq!(
        kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    );
    assert!(!cluster.completed_file("running").exists());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
