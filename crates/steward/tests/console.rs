//! End-to-end: the web console in a real headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` with WebDriver) against a real `steward quickstart`. Each test clicks and
//! types as an operator would and asserts what the page shows, waiting on DOM conditions with a
//! deadline, never sleeping.
//!
//! With `STEWARD_SCREENSHOTS=1` the tests save a PNG of each page under `docs/` (1280x800, and
//! one at a phone's size) for the README.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::actions::{action_ok, long_noop};
use common::cluster::Cluster;
use common::wiki::{edit, ingestion_in_progress, inline, wiki_task};
use common::{free_port, wait_for, Quickstart, ADMIN_PASSWORD};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a test waits for (refreshes run every 5 s).
const T: Duration = Duration::from_secs(45);

/// A headless Chromium session behind a `chromedriver` of this test's own.
struct Browser {
    client: Client,
    driver: Child,
    driver_port: u16,
    session: Option<String>,
}

impl Browser {
    async fn start() -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the console tests drive a real headless Chromium. Install it \
                 with `apt-get install -y chromium chromium-driver` (scripts/test.sh does)"
            );
        }
        let driver_port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        wait_for("chromedriver to listen", T, || async {
            TcpStream::connect(("127.0.0.1", driver_port)).ok()
        })
        .await;
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // Root needs --no-sandbox; /dev/shm may be small in containers.
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1280,800", "--lang=en-US"]
            }
        });
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .expect("chromedriver starts a headless Chromium session");
        let session = client.session_id().await.unwrap();
        Browser {
            client,
            driver,
            driver_port,
            session,
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` (a function body) returns something other than null or false. At
    /// the deadline the panic quotes the errors the page shows, which usually say why.
    async fn wait_js(&self, what: &str, script: &str) -> Value {
        let waited = tokio::time::timeout(
            T,
            wait_for(what, T + T, || async {
                match self.js(script).await {
                    Value::Null | Value::Bool(false) => None,
                    v => Some(v),
                }
            }),
        )
        .await;
        match waited {
            Ok(v) => v,
            Err(_) => {
                let errors = self
                    .js("return [...document.querySelectorAll('.error')].map((e) => e.textContent);")
                    .await;
                panic!("timed out after {T:?} waiting for {what}; the page's errors: {errors}")
            }
        }
    }

    /// The text of the first element matching `css`, once there is one.
    async fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            json!(css)
        );
        let v = self.wait_js(&format!("an element {css}"), &script).await;
        v.as_str().unwrap().to_string()
    }

    /// Waits until the text of `css` is `expected`.
    async fn wait_text(&self, css: &str, expected: &str) {
        let script = format!(
            "const e = document.querySelector({}); return e && e.textContent.trim() === {};",
            json!(css),
            json!(expected)
        );
        self.wait_js(&format!("{css} to read [{expected}]"), &script)
            .await;
    }

    async fn click(&self, css: &str) {
        self.wait_js(
            &format!("{css} to be shown and enabled"),
            &format!(
                "const e = document.querySelector({}); return !!e && !e.disabled;",
                json!(css)
            ),
        )
        .await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Answers the open confirmation dialog: confirms, or cancels.
    async fn answer_confirmation(&self, confirm: bool) -> String {
        let text = self
            .wait_js(
                "the confirmation dialog",
                "const d = document.getElementById('confirm'); \
                 return d.open ? d.textContent : null;",
            )
            .await;
        self.click(if confirm {
            "#confirm-ok"
        } else {
            "#confirm-cancel"
        })
        .await;
        self.wait_js(
            "the dialog to close",
            "return !document.getElementById('confirm').open;",
        )
        .await;
        text.as_str().unwrap().to_string()
    }

    /// Values of `expr` (with `e` each element) for every element matching `css`.
    async fn all(&self, css: &str, expr: &str) -> Vec<Value> {
        let script = format!(
            "return [...document.querySelectorAll({})].map((e) => {expr});",
            json!(css)
        );
        self.js(&script).await.as_array().unwrap().clone()
    }

    /// Types `task` into the Submit page's editor, replacing what it holds, and submits it.
    async fn submit_typed(&self, task: &str) {
        // A click on the nav renders the page on the next hashchange, after the click returns.
        self.wait_text("h1", "Submit a task").await;
        let editor = self
            .client
            .find(Locator::Css("#submit-json"))
            .await
            .unwrap();
        editor.clear().await.unwrap();
        editor.send_keys(task).await.unwrap();
        self.click("#submit-button").await;
    }

    /// With `STEWARD_SCREENSHOTS=1`, saves the page as `docs/console-<name>.png`.
    async fn screenshot(&self, name: &str) {
        if std::env::var("STEWARD_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let png = self.client.screenshot().await.unwrap();
        let docs: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(format!("console-{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    /// Ends the session (chromedriver then stops its Chromium) and stops this chromedriver.
    fn drop(&mut self) {
        if let Some(session) = &self.session {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.driver_port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    s,
                    "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = s.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn page(qs: &Quickstart, hash: &str) -> String {
    format!("{}/{hash}", qs.url)
}

/// What the API answers at `path`, checking the test's own view against the page's.
async fn get_json(qs: &Quickstart, path: &str) -> Value {
    let r = qs
        .http
        .get(format!("{}{path}", qs.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// Where Druid serves its console, with the caching headers the pages rely on.
#[tokio::test]
async fn the_console_is_served_at_druids_paths_with_etags() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let get = |path: &str, etag: Option<&str>| {
        let mut request = qs.http.get(format!("{}{path}", qs.url));
        if let Some(tag) = etag {
            request = request.header("If-None-Match", tag);
        }
        request.send()
    };
    let header =
        |r: &reqwest::Response, name: &str| r.headers()[name].to_str().unwrap().to_string();
    let mut etags = Vec::new();
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/unified-console.html", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
    ] {
        let r = get(path, None).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), content_type, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        let etag = header(&r, "etag");
        let again = get(path, Some(&etag)).await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
        etags.push(etag);
    }
    assert_eq!(etags[0], etags[1], "one page at both paths");
    let r = get("/console/nope.js", None).await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "No console asset [nope.js]");
}

#[tokio::test]
async fn a_noop_submitted_from_the_form_is_followed_to_success_and_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let browser = Browser::start().await;
    browser.goto(&page(&qs, "#/submit")).await;
    browser
        .submit_typed(r#"{"type": "noop", "id": "console_noop", "runTime": 1500}"#)
        .await;

    browser
        .wait_js(
            "the task's page",
            "return location.hash === '#/task/console_noop';",
        )
        .await;
    browser.wait_text("#task-id", "console_noop").await;
    browser.wait_text("#task-status", "SUCCESS").await;
    assert_eq!(qs.status("console_noop").await["statusCode"], "SUCCESS");
    let duration = browser.text("#task-duration").await;
    assert!(duration.ends_with(" s"), "{duration}");
    browser
        .wait_js(
            "the task's log",
            "return document.getElementById('task-log').textContent.includes('console_noop');",
        )
        .await;
    let payload = browser.text("#task-payload").await;
    assert!(payload.contains("\"runTime\": 1500"), "{payload}");
    browser.screenshot("task").await;
}

#[tokio::test]
async fn a_bad_spec_shows_druids_message_at_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let browser = Browser::start().await;
    browser.goto(&page(&qs, "#/submit")).await;
    browser.click("#template-index_parallel").await;
    // Pasted: the template with a timestamp format no parser takes.
    browser
        .js(
            "const t = document.getElementById('submit-json'); const spec = JSON.parse(t.value); \
             spec.spec.dataSchema.timestampSpec.format = 'yyyy-MM-dd qq'; \
             t.value = JSON.stringify(spec, null, 2);",
        )
        .await;
    browser.click("#submit-button").await;
    browser
        .wait_text("#submit-field", "spec.dataSchema.timestampSpec.format")
        .await;
    let message = browser.text("#submit-message").await;
    assert!(
        message.contains("Unable to parse timestamps with format [yyyy-MM-dd qq]"),
        "{message}"
    );
    let marked = browser.all("#submit-preview mark", "e.textContent").await;
    assert_eq!(marked, vec![json!(r#"        "format": "yyyy-MM-dd qq""#)]);
    assert_eq!(
        browser.js("return location.hash;").await,
        "#/submit",
        "a refused task stays on the form"
    );
    browser.screenshot("submit").await;

    // A required field that is missing: the enclosing one is marked.
    browser.click("#template-index_parallel").await;
    browser
        .js(
            "const t = document.getElementById('submit-json'); const spec = JSON.parse(t.value); \
             delete spec.spec.ioConfig.inputSource.baseDir; \
             t.value = JSON.stringify(spec, null, 2);",
        )
        .await;
    browser.click("#submit-button").await;
    browser
        .wait_text("#submit-field", "spec.ioConfig.inputSource.baseDir")
        .await;
    let marked = browser.all("#submit-preview mark", "e.textContent").await;
    assert_eq!(marked, vec![json!(r#"      "inputSource": {"#)]);
    assert!(qs.all_tasks().await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn tasks_are_shut_down_from_the_tasks_page_after_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    qs.submit_ok(json!({"type": "noop", "id": "console_long", "runTime": 600_000}))
        .await;
    qs.wait_runner_state("console_long", "RUNNING", T).await;
    let browser = Browser::start().await;
    // Its page follows it while it runs: status, location, the log so far.
    browser.goto(&page(&qs, "#/task/console_long")).await;
    browser.wait_text("#task-status", "RUNNING").await;
    browser.wait_text("#task-duration", "running").await;
    browser
        .wait_js(
            "the running task's log",
            "return document.getElementById('task-log').textContent \
             .includes('Running noop task[console_long]');",
        )
        .await;
    let location = browser.text("#task-location").await;
    assert!(location.starts_with("127.0.0.1:"), "{location}");

    browser.goto(&page(&qs, "#/tasks?state=running")).await;
    let row = r#"tr[data-task-id="console_long"]"#;
    browser.wait_text(&format!("{row} .state"), "RUNNING").await;
    browser.wait_text("#count-running b", "1").await;

    // Cancelled: nothing happens.
    browser.click(&format!("{row} button")).await;
    let asked = browser.answer_confirmation(false).await;
    assert!(asked.contains("console_long"), "{asked}");
    assert_eq!(qs.status("console_long").await["statusCode"], "RUNNING");

    browser.click(&format!("{row} button")).await;
    browser.answer_confirmation(true).await;
    let status = qs.wait_complete("console_long", T).await;
    assert_eq!(status["statusCode"], "FAILED");
    browser
        .wait_js(
            "the task to leave the running tasks",
            &format!("return !document.querySelector('{row}');"),
        )
        .await;
    browser.goto(&page(&qs, "#/task/console_long")).await;
    browser.wait_text("#task-status", "FAILED").await;
    let error = browser.text("#task-error").await;
    assert!(error.contains("Shutdown request from user"), "{error}");

    // Every task of one datasource at once.
    for id in ["wiki_long_1", "wiki_long_2"] {
        qs.submit_ok(long_noop(id, 50)).await;
        qs.wait_runner_state(id, "RUNNING", T).await;
    }
    browser.goto(&page(&qs, "#/tasks?datasource=wiki")).await;
    browser.wait_text("#tasks-total", "2").await;
    browser.click("#shutdown-all").await;
    let asked = browser.answer_confirmation(true).await;
    assert!(asked.contains("wiki"), "{asked}");
    for id in ["wiki_long_1", "wiki_long_2"] {
        assert_eq!(qs.wait_complete(id, T).await["statusCode"], "FAILED");
    }
}

#[tokio::test]
async fn a_worker_is_disabled_and_enabled_again_on_the_services_page() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let host = format!("127.0.0.1:{}", qs.worker_port);
    let browser = Browser::start().await;
    browser.goto(&page(&qs, "#/services")).await;
    let row = format!(r#"tr[data-worker="{host}"]"#);
    browser
        .wait_text(&format!("{row} .worker-enabled"), "yes")
        .await;
    browser.wait_text("#this-overlord-role", "leader").await;
    browser.wait_text("#leader", &qs.url).await;
    browser.screenshot("services").await;

    browser.click(&format!("{row} button")).await;
    browser.answer_confirmation(true).await;
    browser
        .wait_text(&format!("{row} .worker-enabled"), "disabled")
        .await;
    let workers: Vec<Value> = qs.get("workers").await.json().await.unwrap();
    assert_eq!(
        workers[0]["worker"]["version"], "",
        "disabled: empty version"
    );

    // Enabled again from the keyboard alone: the button takes the focus and Enter presses it.
    browser
        .js(&format!(
            "document.querySelector({}).focus();",
            json!(format!("{row} button"))
        ))
        .await;
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    browser
        .wait_text(&format!("{row} .worker-enabled"), "yes")
        .await;
    let workers = get_json(&qs, "/druid/indexer/v1/workers").await;
    assert_ne!(workers[0]["worker"]["version"], "");

    // The dynamic worker config, edited as JSON, lands in its history.
    let config = json!({"type": "default", "selectStrategy": {"type": "fillCapacity"}});
    browser
        .js(&format!(
            "document.getElementById('worker-config').value = {};",
            json!(config.to_string())
        ))
        .await;
    browser.click("#worker-config-save").await;
    browser.answer_confirmation(true).await;
    browser.wait_text("#worker-config-message", "Saved.").await;
    let stored = get_json(&qs, "/druid/indexer/v1/worker").await;
    assert_eq!(stored["selectStrategy"]["type"], "fillCapacity");
    let history = browser.text("#worker-history").await;
    assert!(history.contains("changed in the web console"), "{history}");
}

/// Task `i` of the seeded history: `page_00001` (oldest) to `page_10000` (newest).
fn seeded_id(i: u32) -> String {
    format!("page_{i:05}")
}

const SEEDED: u32 = 10_000;

/// Writes `SEEDED` completed noop tasks straight into the quickstart's SQLite store, as a long
/// history would have left them: task `i` created `i` seconds after `base`, of datasource
/// `page_ds_<i % 4>`.
async fn seed_history(qs: &Quickstart, base: jiff::Timestamp) {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(qs.data_dir.join("metadata.db"))
        .busy_timeout(Duration::from_secs(30));
    let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
    let base = base.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SEEDED}) \
         INSERT INTO druid_tasks (id, created_date, datasource, payload, status_payload, active, type, group_id) \
         SELECT printf('page_%05d', i), \
                strftime('%Y-%m-%dT%H:%M:%fZ', '{base}', printf('+%d seconds', i)), \
                'page_ds_' || (i % 4), \
                CAST('{{\"type\":\"noop\",\"id\":\"' || printf('page_%05d', i) || '\",\"groupId\":\"' || printf('page_%05d', i) || \
                     '\",\"dataSource\":\"page_ds_' || (i % 4) || '\",\"runTime\":1,\"context\":{{}}}}' AS BLOB), \
                CAST('{{\"id\":\"' || printf('page_%05d', i) || '\",\"status\":\"SUCCESS\",\"duration\":5,\"errorMsg\":null,\
                     \"location\":{{\"host\":null,\"port\":-1,\"tlsPort\":-1}}}}' AS BLOB), \
                0, 'noop', printf('page_%05d', i) \
         FROM n"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The ids of the rows shown, once the page shows `Page {n}`.
async fn page_ids(browser: &Browser, n: usize) -> Vec<String> {
    browser
        .wait_js(
            &format!("page {n}"),
            &format!(
                "return document.getElementById('tasks-page').textContent.startsWith('Page {n} ');"
            ),
        )
        .await;
    browser
        .all("#tasks-table tr[data-task-id]", "e.dataset.taskId")
        .await
        .into_iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Sets a filter's value as typed into it (a select's as picked).
async fn set_filter(browser: &Browser, name: &str, value: &str) {
    browser
        .js(&format!(
            "document.querySelector('#tasks-filters [name={name}]').value = {};",
            json!(value)
        ))
        .await;
}

#[tokio::test]
async fn ten_thousand_completed_tasks_are_paged_filtered_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(12);
    seed_history(&qs, base).await;
    let browser = Browser::start().await;
    browser
        .goto(&page(&qs, "#/tasks?state=complete&limit=1000"))
        .await;
    browser.wait_text("#tasks-total", "10000").await;
    browser.wait_text("#count-complete b", "10000").await;
    browser.screenshot("tasks").await;

    // Every page, newest first, each task once.
    let mut pages = Vec::new();
    loop {
        let ids = page_ids(&browser, pages.len() + 1).await;
        let first = ids[0].clone();
        pages.push(ids);
        let more = browser
            .js("return !document.getElementById('tasks-next').disabled;")
            .await;
        if more != json!(true) {
            break;
        }
        browser.click("#tasks-next").await;
        browser
            .wait_js(
                "the next page's rows",
                &format!(
                    "const r = document.querySelector('#tasks-table tr[data-task-id]'); \
                     return !!r && r.dataset.taskId !== {};",
                    json!(first)
                ),
            )
            .await;
    }
    let shown: Vec<String> = pages.concat();
    let expected: Vec<String> = (1..=SEEDED).rev().map(seeded_id).collect();
    assert_eq!(pages.len(), 10);
    assert_eq!(shown, expected, "every task once, newest first");
    browser.click("#tasks-prev").await;
    assert_eq!(page_ids(&browser, 9).await, pages[8], "back one page");

    // One datasource, by id ascending, 100 a page.
    set_filter(&browser, "datasource", "page_ds_1").await;
    set_filter(&browser, "sort", "id").await;
    set_filter(&browser, "order", "asc").await;
    set_filter(&browser, "limit", "100").await;
    browser.click("#tasks-apply").await;
    browser.wait_text("#tasks-total", "2500").await;
    let ids = page_ids(&browser, 1).await;
    let expected: Vec<String> = (1..=SEEDED)
        .filter(|i| i % 4 == 1)
        .take(100)
        .map(seeded_id)
        .collect();
    assert_eq!(ids, expected);
    let datasources = browser
        .all(
            "#tasks-table tr[data-task-id] td:nth-child(3)",
            "e.textContent",
        )
        .await;
    assert!(datasources.iter().all(|d| d == "page_ds_1"));

    // An id substring, across datasources.
    set_filter(&browser, "datasource", "").await;
    set_filter(&browser, "id", "0042").await;
    browser.click("#tasks-apply").await;
    let matching: Vec<String> = (1..=SEEDED)
        .map(seeded_id)
        .filter(|id| id.contains("0042"))
        .collect();
    browser
        .wait_text("#tasks-total", &matching.len().to_string())
        .await;
    assert_eq!(page_ids(&browser, 1).await, matching);

    // Created in an interval: tasks 1000 to 1999.
    let at = |i: i64| {
        (base + jiff::SignedDuration::from_secs(i))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    set_filter(&browser, "id", "").await;
    set_filter(&browser, "from", &at(1000)).await;
    set_filter(&browser, "to", &at(2000)).await;
    set_filter(&browser, "limit", "1000").await;
    browser.click("#tasks-apply").await;
    browser.wait_text("#tasks-total", "1000").await;
    let expected: Vec<String> = (1000..2000).map(seeded_id).collect();
    assert_eq!(page_ids(&browser, 1).await, expected);

    // On a phone.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser
        .goto(&page(&qs, "#/tasks?state=complete&limit=25"))
        .await;
    browser.wait_text("#tasks-total", "10000").await;
    let overflow = browser
        .js("return document.documentElement.scrollWidth > window.innerWidth;")
        .await;
    assert_eq!(overflow, json!(false), "the page fits a phone's width");
    browser.screenshot("phone").await;
}

#[tokio::test]
async fn datasources_show_their_segments_which_are_marked_unused_and_killed_and_their_locks() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    // Two rows, one segment each, in one day.
    let task = wiki_task(
        inline(&[edit("a", 1, 1), edit("b", 2, 2)]),
        json!({}),
        json!({"partitionsSpec": {"type": "dynamic", "maxRowsPerSegment": 1}}),
    );
    let id = qs.submit_ok(task).await;
    assert_eq!(qs.wait_complete(&id, T).await["statusCode"], "SUCCESS");
    let browser = Browser::start().await;

    // The task's page shows its report's row counts.
    browser.goto(&page(&qs, &format!("#/task/{id}"))).await;
    browser
        .wait_text(
            r#"#row-stats tr[data-phase="buildSegments"] td[data-counter="processed"]"#,
            "2",
        )
        .await;
    browser.wait_text("#report-state", "COMPLETED").await;

    browser.goto(&page(&qs, "#/datasources")).await;
    let row = r#"tr[data-datasource="wiki"]"#;
    browser.wait_text(&format!("{row} .ds-used"), "2").await;
    browser.wait_text(&format!("{row} .ds-unused"), "0").await;
    // Rows as the publish stored them, one per segment.
    browser.wait_text(&format!("{row} .ds-rows"), "2").await;
    browser.screenshot("datasources").await;

    browser.click(&format!("{row} a")).await;
    browser.wait_text("#datasource-used", "2").await;
    let day1 = "2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z";
    let segment = browser
        .text(&format!(
            r#"section[data-interval="{day1}"] tr[data-segment] td.id"#
        ))
        .await;
    browser
        .click(&format!(r#"tr[data-segment="{segment}"] button"#))
        .await;
    let asked = browser.answer_confirmation(true).await;
    assert!(asked.contains(&segment), "{asked}");
    browser.wait_text("#datasource-used", "1").await;
    browser.wait_text("#datasource-unused", "1").await;
    browser
        .wait_text(
            &format!(r#"tr[data-segment="{segment}"] .segment-state"#),
            "unused",
        )
        .await;
    let used = get_json(
        &qs,
        "/druid/coordinator/v1/metadata/datasources/wiki/segments",
    )
    .await;
    assert_eq!(used.as_array().unwrap().len(), 1);
    assert_ne!(used[0], json!(segment));

    // A running task's lock on the datasource.
    qs.submit_ok(long_noop("console_lock", 60)).await;
    qs.wait_runner_state("console_lock", "RUNNING", T).await;
    action_ok(
        &qs,
        "console_lock",
        json!({"type": "lockTryAcquire", "lockType": "EXCLUSIVE",
               "interval": "2024-03-01/2024-03-02"}),
    )
    .await;
    let lock = r#"#locks-table tr[data-group="console_lock"]"#;
    let text = browser.text(lock).await;
    assert!(
        text.contains("EXCLUSIVE") && text.contains("2024-03-01T00:00:00.000Z"),
        "{text}"
    );

    // Killing the unused segment of the first day.
    browser
        .click(&format!(
            r#"section[data-interval="{day1}"] button[aria-label^="Kill"]"#
        ))
        .await;
    browser.answer_confirmation(true).await;
    let kill = browser
        .wait_js(
            "the kill task's link",
            "const a = document.querySelector('#datasource-message a'); \
             return a ? a.textContent : null;",
        )
        .await;
    let kill = kill.as_str().unwrap();
    assert_eq!(qs.wait_complete(kill, T).await["statusCode"], "SUCCESS");
    browser.wait_text("#datasource-unused", "0").await;
    browser.wait_text("#datasource-used", "1").await;
    browser.screenshot("datasource").await;

    // Marking the whole day unused leaves the datasource without a used segment.
    browser
        .click(&format!(
            r#"section[data-interval="{day1}"] button[aria-label="Mark {day1} unused"]"#
        ))
        .await;
    let asked = browser.answer_confirmation(true).await;
    assert!(asked.contains(day1), "{asked}");
    browser.wait_text("#datasource-used", "0").await;
    browser.wait_text("#datasource-unused", "1").await;
    let r = qs
        .http
        .get(format!(
            "{}/druid/coordinator/v1/metadata/datasources/wiki/segments",
            qs.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "wiki has no used segment left");
}

#[tokio::test]
async fn a_running_ingestions_row_counts_move_live_on_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    // It has read 1,024 rows and waits for its input's last 10.
    let (id, input) = ingestion_in_progress(&qs).await;
    let browser = Browser::start().await;
    browser.goto(&page(&qs, &format!("#/task/{id}"))).await;
    let processed = r#"#row-stats tr[data-phase="buildSegments"] td[data-counter="processed"]"#;
    browser.wait_text("#task-duration", "running").await;
    browser.wait_text("#report-state", "BUILD_SEGMENTS").await;
    browser.wait_text(processed, "1024").await;
    browser
        .js("document.getElementById('task-reports').scrollIntoView();")
        .await;
    browser.screenshot("task-running").await;

    input.release();
    // The same page, without a reload, follows the task to its end and its final report.
    browser.wait_text("#task-status", "SUCCESS").await;
    browser.wait_text("#report-state", "COMPLETED").await;
    browser.wait_text(processed, "1034").await;
}

#[tokio::test]
async fn a_standby_overlords_console_points_to_the_leaders() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_with_overlords(dir.path(), 2, 0, "", "").await;
    let (leader, standby) = (cluster.overlords[0].url(), cluster.overlords[1].url());
    let browser = Browser::start().await;
    browser.goto(&format!("{standby}/#/tasks")).await;
    browser
        .wait_js(
            "the standby banner",
            "const b = document.getElementById('banner'); \
             return !b.hidden && b.textContent.includes('This Overlord is a standby');",
        )
        .await;
    let link = browser
        .js("return document.querySelector('#banner a').getAttribute('href');")
        .await;
    assert_eq!(link, json!(format!("{leader}/")));

    // The leader's console has no banner.
    browser.goto(&format!("{leader}/#/tasks")).await;
    browser.wait_text("h1", "Tasks").await;
    browser
        .wait_js(
            "the leader's page without a banner",
            "return document.getElementById('banner').hidden;",
        )
        .await;
}

#[tokio::test]
async fn with_basic_security_anonymous_browsers_are_challenged_and_logged_in_ones_work() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), &common::auth_properties()).await;
    let anonymous = reqwest::Client::new();
    for path in ["/", "/unified-console.html", "/console/app.js"] {
        for password in [None, Some("wrong")] {
            let mut request = anonymous.get(format!("{}{path}", qs.url));
            if let Some(p) = password {
                request = request.basic_auth("admin", Some(p));
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 401, "{path} with {password:?}");
            let challenge = r.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Basic "), "{challenge}");
        }
        let r = anonymous
            .get(format!("{}{path}", qs.url))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }

    // The browser logs in once (as its prompt would), then every call carries the credentials.
    let browser = Browser::start().await;
    let authority = qs.url.strip_prefix("http://").unwrap();
    browser
        .goto(&format!(
            "http://admin:{ADMIN_PASSWORD}@{authority}/#/services"
        ))
        .await;
    let host = format!("127.0.0.1:{}", qs.worker_port);
    browser
        .wait_text(
            &format!(r#"tr[data-worker="{host}"] .worker-enabled"#),
            "yes",
        )
        .await;
    browser.click(r#"nav a[data-section="submit"]"#).await;
    browser
        .submit_typed(r#"{"type": "noop", "id": "secured_noop", "runTime": 500}"#)
        .await;
    browser.wait_text("#task-status", "SUCCESS").await;
}
