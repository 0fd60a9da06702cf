//! End-to-end: Druid's basic security on a real quickstart. Every endpoint of the Overlord (the
//! segment metadata API it serves for Druid's Coordinator included) and of the MiddleManager
//! is called without credentials, with a wrong password, as a user without the permission and
//! as one with it; users and roles are made through Druid's `/druid-ext/basic-security` API;
//! the CLI logs in from its flags or environment.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{auth_properties, noop, Quickstart, ADMIN_PASSWORD, STEWARD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(30);
const AUTHN: &str = "/druid-ext/basic-security/authentication/db/basic";
const AUTHZ: &str = "/druid-ext/basic-security/authorization/db/basic";

/// Who calls.
#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    WrongPassword,
    /// Authenticated, holding no role.
    Powerless,
    Admin,
}

struct Secured {
    qs: Quickstart,
    http: reqwest::Client,
}

impl Secured {
    async fn start(dir: &std::path::Path) -> Secured {
        let qs = Quickstart::start(dir, &auth_properties()).await;
        let secured = Secured {
            qs,
            http: steward_http::client_builder().build().unwrap(),
        };
        secured.make_user("powerless", "powerless-pw", &[]).await;
        secured
    }

    async fn call(
        &self,
        who: Who,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, url);
        request = match who {
            Who::Nobody => request,
            Who::WrongPassword => request.basic_auth("admin", Some("not-the-password")),
            Who::Powerless => request.basic_auth("powerless", Some("powerless-pw")),
            Who::Admin => request.basic_auth("admin", Some(ADMIN_PASSWORD)),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> StatusCode {
        let url = format!("{}{path}", self.qs.url);
        let r = self.call(Who::Admin, method, &url, body).await;
        let status = r.status();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            r.text().await.unwrap()
        );
        status
    }

    /// A user with a password and roles, each role granting `permissions`.
    async fn make_user(&self, name: &str, password: &str, roles: &[(&str, Value)]) {
        self.admin(Method::POST, &format!("{AUTHN}/users/{name}"), None)
            .await;
        self.admin(
            Method::POST,
            &format!("{AUTHN}/users/{name}/credentials"),
            Some(json!({ "password": password })),
        )
        .await;
        self.admin(Method::POST, &format!("{AUTHZ}/users/{name}"), None)
            .await;
        for (role, permissions) in roles {
            self.admin(Method::POST, &format!("{AUTHZ}/roles/{role}"), None)
                .await;
            self.admin(
                Method::POST,
                &format!("{AUTHZ}/roles/{role}/permissions"),
                Some(permissions.clone()),
            )
            .await;
            self.admin(
                Method::POST,
                &format!("{AUTHZ}/users/{name}/roles/{role}"),
                None,
            )
            .await;
        }
    }
}

/// An endpoint and what the permitted caller gets.
struct Case {
    method: Method,
    url: String,
    body: Option<Value>,
    /// The permitted caller's status.
    permitted: u16,
    /// What an authenticated caller without permission gets: 403, or (listings) 200 with
    /// nothing it may not see.
    powerless: u16,
}

fn case(method: Method, url: String, body: Option<Value>, permitted: u16, powerless: u16) -> Case {
    Case {
        method,
        url,
        body,
        permitted,
        powerless,
    }
}

#[tokio::test]
async fn every_endpoint_refuses_strangers_and_the_unpermitted_and_serves_the_permitted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Secured::start(dir.path()).await;
    let ovl = s.qs.url.clone();
    let v1 = |p: &str| format!("{ovl}/druid/indexer/v1/{p}");
    let md = |p: &str| format!("{ovl}/druid/coordinator/v1/metadata/{p}");
    let mm = format!("http://127.0.0.1:{}", s.qs.worker_port);
    let worker_host = format!("127.0.0.1:{}", s.qs.worker_port);
    // A finished task and a running one, submitted by the administrator.
    let done = s
        .call(
            Who::Admin,
            Method::POST,
            &v1("task"),
            Some(json!({"type":"noop","id":"done","dataSource":"wiki","runTime":10})),
        )
        .await;
    assert_eq!(done.status(), 200);
    let r = s
        .call(Who::Admin, Method::GET, &v1("task/done/status"), None)
        .await;
    assert_eq!(r.status(), 200);
    common::wait_for("done to end", T, || async {
        let r = s
            .call(Who::Admin, Method::GET, &v1("task/done/status"), None)
            .await;
        let v: Value = r.json().await.ok()?;
        (v["status"]["statusCode"] == "SUCCESS").then_some(())
    })
    .await;
    let running = s
        .call(
            Who::Admin,
            Method::POST,
            &v1("task"),
            Some(json!({"type":"noop","id":"running","dataSource":"wiki","runTime":600000})),
        )
        .await;
    assert_eq!(running.status(), 200);
    common::wait_for("running to run", T, || async {
        let r = s
            .call(Who::Admin, Method::GET, &v1("task/running/status"), None)
            .await;
        let v: Value = r.json().await.ok()?;
        (v["status"]["runnerStatusCode"] == "RUNNING").then_some(())
    })
    .await;

    let get = Method::GET;
    let post = Method::POST;
    let cases = vec![
        case(
            post.clone(),
            v1("task"),
            Some(json!({"type":"noop","dataSource":"wiki"})),
            200,
            403,
        ),
        case(get.clone(), v1("task/done"), None, 200, 403),
        case(get.clone(), v1("task/done/status"), None, 200, 403),
        case(get.clone(), v1("task/done/log"), None, 200, 403),
        case(get.clone(), v1("task/running/log"), None, 200, 403),
        case(get.clone(), v1("task/done/reports"), None, 200, 403),
        case(get.clone(), v1("task/done/segments"), None, 404, 403),
        case(post.clone(), v1("task/done/shutdown"), None, 200, 403),
        case(
            post.clone(),
            v1("datasources/nothing/shutdownAllTasks"),
            None,
            404,
            403,
        ),
        case(
            post.clone(),
            v1("taskStatus"),
            Some(json!(["done"])),
            200,
            403,
        ),
        case(get.clone(), v1("tasks"), None, 200, 200),
        case(get.clone(), v1("tasks?datasource=wiki"), None, 200, 403),
        case(get.clone(), v1("waitingTasks"), None, 200, 200),
        case(get.clone(), v1("pendingTasks"), None, 200, 200),
        case(get.clone(), v1("runningTasks"), None, 200, 200),
        case(get.clone(), v1("completeTasks"), None, 200, 200),
        case(get.clone(), v1("workers"), None, 200, 403),
        case(get.clone(), v1("leader"), None, 200, 403),
        case(get.clone(), v1("totalWorkerCapacity"), None, 200, 403),
        case(get.clone(), v1("worker"), None, 200, 403),
        case(get.clone(), v1("worker/history"), None, 200, 403),
        case(
            post.clone(),
            v1("worker"),
            Some(json!({"type":"default","selectStrategy":{"type":"fillCapacity"}})),
            200,
            403,
        ),
        case(
            post.clone(),
            v1(&format!("worker/{worker_host}/disable")),
            None,
            200,
            403,
        ),
        case(
            post.clone(),
            v1(&format!("worker/{worker_host}/enable")),
            None,
            200,
            403,
        ),
        // Segment metadata (Druid's Coordinator API, served by the Overlord): listings show
        // the powerless caller nothing, one datasource needs READ (GET) or WRITE.
        case(get.clone(), md("datasources"), None, 200, 200),
        case(get.clone(), md("datasources?full"), None, 200, 200),
        case(get.clone(), md("segments"), None, 200, 200),
        case(get.clone(), md("datasources/wiki"), None, 404, 403),
        case(get.clone(), md("datasources/wiki/segments"), None, 404, 403),
        case(
            post.clone(),
            md("datasources/wiki/segments"),
            Some(json!(["2020-01-01/2020-02-01"])),
            200,
            403,
        ),
        case(
            get.clone(),
            md("datasources/wiki/segments/wiki_2020-01-01_2020-01-02_v1"),
            None,
            404,
            403,
        ),
        case(
            get.clone(),
            md("datasources/wiki/unusedSegments"),
            None,
            200,
            403,
        ),
        case(
            post.clone(),
            v1("datasources/wiki/markUnused"),
            Some(json!({"interval": "2020-01-01/2020-02-01"})),
            200,
            403,
        ),
        case(
            post.clone(),
            format!("{ovl}/druid/coordinator/v1/datasources/wiki/markUsed"),
            Some(json!({"interval": "2020-01-01/2020-02-01"})),
            200,
            403,
        ),
        case(
            Method::DELETE,
            v1("datasources/wiki/segments/wiki_2020-01-01_2020-01-02_v1"),
            None,
            200,
            403,
        ),
        case(Method::DELETE, v1("datasources/wiki"), None, 200, 403),
        case(
            Method::DELETE,
            v1("pendingSegments/nothing"),
            None,
            200,
            403,
        ),
        case(get.clone(), format!("{ovl}/status"), None, 200, 403),
        case(get.clone(), format!("{ovl}{AUTHN}/users"), None, 200, 403),
        case(
            post.clone(),
            format!("{ovl}{AUTHN}/users/someone"),
            None,
            200,
            403,
        ),
        case(get.clone(), format!("{ovl}{AUTHZ}/roles"), None, 200, 403),
        // Quickstart's MiddleManager checks callers against the Overlord's users and roles.
        case(
            get.clone(),
            format!("{mm}/druid/worker/v1/enabled"),
            None,
            200,
            403,
        ),
        case(
            get.clone(),
            format!("{mm}/druid/worker/v1/tasks"),
            None,
            200,
            403,
        ),
        case(
            get.clone(),
            format!("{mm}/druid/worker/v1/task/running/log"),
            None,
            200,
            403,
        ),
        case(
            post.clone(),
            format!("{mm}/druid/worker/v1/disable"),
            None,
            200,
            403,
        ),
        case(
            post.clone(),
            format!("{mm}/druid/worker/v1/enable"),
            None,
            200,
            403,
        ),
        case(
            post.clone(),
            format!("{mm}/druid/worker/v1/task/running/shutdown"),
            None,
            200,
            403,
        ),
    ];
    for c in &cases {
        for who in [Who::Nobody, Who::WrongPassword, Who::Powerless, Who::Admin] {
            let r = s.call(who, c.method.clone(), &c.url, c.body.clone()).await;
            let status = r.status().as_u16();
            let challenge = r.headers().get("www-authenticate").cloned();
            let body = r.text().await.unwrap();
            let what = format!("{} {} as {who:?}: {status} {body}", c.method, c.url);
            let expected = match who {
                Who::Nobody | Who::WrongPassword => 401,
                Who::Powerless => c.powerless,
                Who::Admin => c.permitted,
            };
            assert_eq!(status, expected, "{what}");
            match status {
                401 => {
                    assert!(challenge.is_some(), "{what}");
                    let body: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(body["error"], "Unauthorized request", "{what}");
                }
                403 => assert_eq!(
                    serde_json::from_str::<Value>(&body).unwrap(),
                    json!({"Access-Check-Result": "Unauthorized"}),
                    "{what}"
                ),
                // A listing shows the powerless caller nothing.
                200 if matches!(who, Who::Powerless) => {
                    assert_eq!(
                        serde_json::from_str::<Value>(&body).unwrap(),
                        json!([]),
                        "{what}"
                    );
                }
                _ => {}
            }
        }
    }
    // The dynamic config's audit trail names who changed it, whatever X-Druid-Author says.
    let history: Vec<Value> = s
        .call(Who::Admin, Method::GET, &v1("worker/history"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history[0]["auditInfo"]["identity"], "admin", "{history:?}");
    // What stays open: the health check and isLeader.
    for url in [
        format!("{ovl}/status/health"),
        v1("isLeader"),
        format!("{mm}/status/health"),
    ] {
        let r = s.call(Who::Nobody, Method::GET, &url, None).await;
        assert_eq!(r.status(), 200, "{url}");
    }
}

#[tokio::test]
async fn roles_scope_users_to_their_datasources() {
    let dir = tempfile::tempdir().unwrap();
    let s = Secured::start(dir.path()).await;
    let v1 = |p: &str| format!("{}/druid/indexer/v1/{p}", s.qs.url);
    s.make_user(
        "wiki_writer",
        "ww",
        &[(
            "wiki_rw",
            json!([
                {"resource": {"name": "wiki.*", "type": "DATASOURCE"}, "action": "READ"},
                {"resource": {"name": "wiki.*", "type": "DATASOURCE"}, "action": "WRITE"}
            ]),
        )],
    )
    .await;
    let as_writer = |method: Method, url: String, body: Option<Value>| {
        let mut r = s
            .http
            .request(method, url)
            .basic_auth("wiki_writer", Some("ww"));
        if let Some(body) = body {
            r = r.json(&body);
        }
        r.send()
    };
    // Writes to its datasources only (the regex must match the whole name).
    let ok = as_writer(
        Method::POST,
        v1("task"),
        Some(json!({"type":"noop","id":"w1","dataSource":"wikipedia","runTime":10})),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    for ds in ["other", "my_wiki"] {
        let r = as_writer(
            Method::POST,
            v1("task"),
            Some(json!({"type":"noop","dataSource":ds})),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 403, "{ds}");
    }
    let admin_task = s
        .call(
            Who::Admin,
            Method::POST,
            &v1("task"),
            Some(json!({"type":"noop","id":"o1","dataSource":"other","runTime":10})),
        )
        .await;
    assert_eq!(admin_task.status(), 200);
    // Sees its own datasource's tasks, not the others'.
    let listed: Vec<Value> = as_writer(Method::GET, v1("tasks"), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["w1"]);
    assert_eq!(
        as_writer(Method::GET, v1("task/o1/status"), None)
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        as_writer(Method::GET, v1("task/w1/status"), None)
            .await
            .unwrap()
            .status(),
        200
    );
    // An unknown task is a 404 before any permission is looked at, as in Druid.
    assert_eq!(
        as_writer(Method::GET, v1("task/nope/status"), None)
            .await
            .unwrap()
            .status(),
        404
    );
    // Cannot read the cluster's state or config without those permissions.
    assert_eq!(
        as_writer(Method::GET, v1("workers"), None)
            .await
            .unwrap()
            .status(),
        403
    );

    // A deleted user is a stranger at once on this Overlord.
    s.admin(Method::DELETE, &format!("{AUTHN}/users/wiki_writer"), None)
        .await;
    assert_eq!(
        as_writer(Method::GET, v1("tasks"), None)
            .await
            .unwrap()
            .status(),
        401
    );
    // Passwords are never answered back.
    let users = s
        .call(
            Who::Admin,
            Method::GET,
            &format!("{}{AUTHN}/users/admin", s.qs.url),
            None,
        )
        .await;
    let text = users.text().await.unwrap();
    assert!(
        !text.contains("hash") && !text.contains(ADMIN_PASSWORD),
        "{text}"
    );
}

#[tokio::test]
async fn the_cli_logs_in_from_its_flags_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let s = Secured::start(dir.path()).await;
    let spec = dir.path().join("task.json");
    std::fs::write(&spec, noop("cli-auth", 10).to_string()).unwrap();
    let spec = spec.to_str().unwrap().to_string();
    let url = s.qs.url.clone();
    let run =
        move |args: Vec<&'static str>, env: Vec<(&'static str, String)>, extra: Vec<String>| {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                Command::new(STEWARD)
                    .args(args)
                    .args(extra)
                    .env("STEWARD_OVERLORD", url)
                    .env_remove("STEWARD_USER")
                    .env_remove("STEWARD_PASSWORD")
                    .envs(env)
                    .output()
                    .unwrap()
            })
        };
    // Without credentials: the Overlord's answer, exit code 1.
    let o = run(vec!["task", "submit"], vec![], vec![spec.clone()])
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Unauthorized"),
        "{o:?}"
    );
    // From the environment.
    let env = vec![
        ("STEWARD_USER", "admin".to_string()),
        ("STEWARD_PASSWORD", ADMIN_PASSWORD.to_string()),
    ];
    let o = run(vec!["task", "submit", "--wait"], env, vec![spec.clone()])
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // From flags.
    let o = run(
        vec!["task", "status", "cli-auth", "--user", "admin"],
        vec![("STEWARD_PASSWORD", ADMIN_PASSWORD.to_string())],
        vec![],
    )
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("SUCCESS"));
    let o = run(
        vec!["workers", "--user", "admin", "--password", "wrong"],
        vec![],
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[tokio::test]
async fn a_misconfigured_security_stops_the_process_with_the_property_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.properties");
    std::fs::write(
        &config,
        "druid.auth.authenticatorChain=[\"basic\"]\ndruid.auth.authenticator.basic.type=basic\n",
    )
    .unwrap();
    let o = Command::new(STEWARD)
        .args(["quickstart", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("var"))
        .args(["--port", &common::free_port().to_string()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("druid.auth.authenticator.basic."), "{err}");
}
