//! The segment metadata API (Druid's `MetadataResource`, `DataSourcesResource`,
//! `OverlordDataSourcesResource`, `pendingSegments`) through the real router over HTTP, on a
//! real SQLite store: Druid's answers, counts of marked segments, 400s and 404s, the standby's
//! behaviour and datasource permissions.

use super::*;

use std::collections::HashMap;

use reqwest::Method;
use steward_metadata::{AllocateRequest, SegmentSelection};
use steward_model::{DataSegment, PartialShardSpec, ShardSpec};
use steward_security::{Security, SecurityConfig};

const MD: &str = "/druid/coordinator/v1/metadata";
const COORDINATOR: &str = "/druid/coordinator/v1";
const INDEXER: &str = "/druid/indexer/v1";
const DAY1: &str = "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z";
const DAY2: &str = "2015-09-13T00:00:00.000Z/2015-09-14T00:00:00.000Z";
const V1: &str = "2024-01-01T00:00:00.000Z";
const V2: &str = "2024-02-01T00:00:00.000Z";

pub(super) fn segment(
    ds: &str,
    interval: &str,
    version: &str,
    partition: u32,
    size: u64,
) -> DataSegment {
    DataSegment {
        data_source: ds.into(),
        interval: interval.parse().unwrap(),
        version: version.into(),
        load_spec: json!({"type": "local", "path": format!("/segments/{ds}/{partition}")})
            .as_object()
            .unwrap()
            .clone(),
        dimensions: vec!["page".into()],
        metrics: vec!["count".into()],
        shard_spec: ShardSpec::Numbered {
            partition_num: partition,
            partitions: 2,
        },
        last_compaction_state: None,
        binary_version: Some(9),
        size,
    }
}

fn id(s: &DataSegment) -> String {
    s.id().to_string()
}

/// Publishes wiki: two partitions of DAY1 and one of DAY2 (sizes 10, 20, 30), and koala: one
/// of DAY1; answers them.
async fn publish_both(store: &SqliteStore) -> (Vec<DataSegment>, DataSegment) {
    let wiki = vec![
        segment("wiki", DAY1, V1, 0, 10),
        segment("wiki", DAY1, V1, 1, 20),
        segment("wiki", DAY2, V1, 0, 30),
    ];
    let koala = segment("koala", DAY1, V1, 0, 5);
    publish(store, &wiki).await;
    publish(store, std::slice::from_ref(&koala)).await;
    (wiki, koala)
}

async fn publish(store: &SqliteStore, segments: &[DataSegment]) {
    store
        .publish_segments(segments, None, Timestamp::now())
        .await
        .unwrap();
}

/// Calls the API at `url`, logged in as `who` (user, password) if given; answers the status
/// and the body as JSON (`null` when empty).
pub(super) struct Api {
    url: String,
    http: reqwest::Client,
    who: Option<(&'static str, &'static str)>,
}

impl Api {
    pub(super) fn new(url: &str) -> Api {
        Api {
            url: url.to_string(),
            http: steward_http::client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            who: None,
        }
    }

    pub(super) fn as_user(&self, user: &'static str, password: &'static str) -> Api {
        Api {
            url: self.url.clone(),
            http: self.http.clone(),
            who: Some((user, password)),
        }
    }

    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some((user, password)) = self.who {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = match text.as_str() {
            "" => Value::Null,
            text => serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")),
        };
        (status, body)
    }

    pub(super) async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub(super) async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub(super) async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// A change that must succeed: its `numChangedSegments`.
    pub(super) async fn changed(&self, method: Method, path: &str, body: Option<&str>) -> u64 {
        let (status, answer) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{path} {body:?}: {answer}");
        answer["numChangedSegments"].as_u64().unwrap()
    }

    /// A request that must be refused with `status`; the error's message.
    pub(super) async fn refused(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        status: u16,
    ) -> String {
        let (got, answer) = self.call(method, path, body).await;
        assert_eq!(got, status, "{path} {body:?}: {answer}");
        let message = answer["errorMessage"].as_str().or(answer["error"].as_str());
        message
            .unwrap_or_else(|| panic!("{path}: no message in {answer}"))
            .to_string()
    }
}

fn ids(answer: &Value) -> Vec<String> {
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn metadata_reads_answer_druids_shapes_from_the_store() {
    let fx = Fixture::new().await;
    let (wiki, koala) = publish_both(&fx.store).await;
    let api = Api::new(&serve(fx.start().await).await);

    let (status, names) = api.get(&format!("{MD}/datasources")).await;
    assert_eq!((status, names), (200, json!(["koala", "wiki"])));
    let (status, full) = api.get(&format!("{MD}/datasources?full")).await;
    assert_eq!(status, 200);
    assert_eq!(full[1]["name"], "wiki");
    assert_eq!(full[1]["segments"], json!(wiki));
    assert_eq!(full[0]["segments"], json!([koala]));
    let created = full[0]["properties"]["created"].as_str().unwrap();
    assert!(parse_instant(created).is_ok(), "{created}");

    let (status, one) = api.get(&format!("{MD}/datasources/wiki")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&one["name"], &one["segments"]),
        (&json!("wiki"), &json!(wiki))
    );
    let (status, listed) = api.get(&format!("{MD}/datasources/wiki/segments")).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&listed), wiki.iter().map(id).collect::<Vec<_>>());
    let (_, listed) = api
        .get(&format!("{MD}/datasources/wiki/segments?full"))
        .await;
    assert_eq!(listed, json!(wiki));
    for path in ["datasources/nothing", "datasources/nothing/segments"] {
        let message = api
            .refused(Method::GET, &format!("{MD}/{path}"), None, 404)
            .await;
        assert!(
            message.contains("[nothing] has no used segments"),
            "{message}"
        );
    }

    // POST: used segments overlapping any of the intervals; no 404, an empty list.
    let path = format!("{MD}/datasources/wiki/segments");
    let (status, day2) = api.post(&path, &json!([DAY2]).to_string()).await;
    assert_eq!((status, ids(&day2)), (200, vec![id(&wiki[2])]));
    let (_, both) = api
        .post(&format!("{path}?full"), &json!([DAY1, DAY2]).to_string())
        .await;
    assert_eq!(both, json!(wiki));
    let (_, none) = api.post(&path, r#"["2000-01-01/2000-01-02"]"#).await;
    assert_eq!(none, json!([]));
    for (body, needle) in [
        ("[]", "null/empty intervals"),
        ("{", "JSON list of intervals"),
        (r#"["yesterday"]"#, "JSON list of intervals"),
        (
            r#"["2015-09-13/2015-09-12"]"#,
            "the end is before the start",
        ),
    ] {
        let message = api.refused(Method::POST, &path, Some(body), 400).await;
        assert!(message.contains(needle), "{body}: {message}");
    }

    // One segment, by its id; an unused one only with includeUnused.
    let first = format!("{MD}/datasources/wiki/segments/{}", id(&wiki[0]));
    let (status, got) = api.get(&first).await;
    assert_eq!((status, got), (200, json!(wiki[0])));
    let message = api
        .refused(
            Method::GET,
            &format!("{MD}/datasources/wiki/segments/nope"),
            None,
            400,
        )
        .await;
    assert_eq!(
        message,
        "Could not parse Segment ID[nope] for DataSource[wiki]"
    );
    // An id of another datasource does not parse as one of this one.
    let koala_path = format!("{MD}/datasources/wiki/segments/{}", id(&koala));
    api.refused(Method::GET, &koala_path, None, 400).await;
    let unknown = format!(
        "{MD}/datasources/wiki/segments/wiki_2000-01-01T00:00:00.000Z_2000-01-02T00:00:00.000Z_v"
    );
    api.refused(Method::GET, &unknown, None, 404).await;
    let marked = fx
        .store
        .mark_segments(
            "wiki",
            &SegmentSelection::Ids(vec![id(&wiki[0])]),
            false,
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(marked, 1);
    api.refused(Method::GET, &first, None, 404).await;
    let (status, got) = api.get(&format!("{first}?includeUnused=true")).await;
    assert_eq!((status, got), (200, json!(wiki[0])));
    api.refused(Method::GET, &format!("{first}?includeUnused=no"), None, 404)
        .await;

    // Unused segments, as Druid's DataSegmentPlus.
    let unused = format!("{MD}/datasources/wiki/unusedSegments");
    let (status, plus) = api.get(&unused).await;
    assert_eq!(status, 200);
    assert_eq!(
        plus,
        json!([{"dataSegment": wiki[0], "createdDate": null, "usedStatusLastUpdatedDate": null,
            "used": false, "schemaFingerprint": null, "numRows": null,
            "upgradedFromSegmentId": null}])
    );
    let (_, within) = api
        .get(&format!("{unused}?interval=2015-09-13_2015-09-14&limit=5"))
        .await;
    assert_eq!(within, json!([]));
    let (_, within) = api
        .get(&format!("{unused}?interval=2015-09-12/2015-09-13&limit=1"))
        .await;
    assert_eq!(within.as_array().unwrap().len(), 1);
    for (query, needle) in [
        ("limit=0", "Invalid limit[0] specified. Limit must be > 0."),
        ("limit=-1", "Invalid limit[-1]"),
        ("interval=soon", "Invalid interval [soon]"),
        ("lastSegmentId=x", "[lastSegmentId] is not supported"),
        ("sortOrder=ASC", "[sortOrder] is not supported"),
    ] {
        let message = api
            .refused(Method::GET, &format!("{unused}?{query}"), None, 400)
            .await;
        assert!(message.contains(needle), "{query}: {message}");
    }

    // Every used segment, or those of the named datasources.
    let (status, all) = api.get(&format!("{MD}/segments")).await;
    assert_eq!(status, 200);
    assert_eq!(all, json!([koala, wiki[1], wiki[2]]));
    let (_, named) = api
        .get(&format!(
            "{MD}/segments?datasources=koala&datasources=nothing"
        ))
        .await;
    assert_eq!(named, json!([koala]));
    let message = api
        .refused(
            Method::GET,
            &format!("{MD}/segments?includeOvershadowedStatus"),
            None,
            400,
        )
        .await;
    assert!(message.contains("[includeOvershadowedStatus]"), "{message}");

    // A datasource whose segments are all unused is listed only with includeUnused.
    fx.store
        .mark_segments("koala", &SegmentSelection::All, false, Timestamp::now())
        .await
        .unwrap();
    let (_, names) = api.get(&format!("{MD}/datasources")).await;
    assert_eq!(names, json!(["wiki"]));
    for query in ["includeUnused", "includeDisabled", "includeUnused&full"] {
        let (_, names) = api.get(&format!("{MD}/datasources?{query}")).await;
        assert_eq!(names, json!(["koala", "wiki"]), "{query}");
    }
    api.refused(Method::GET, &format!("{MD}/datasources/koala"), None, 404)
        .await;
}

#[tokio::test]
async fn marking_counts_changed_segments_and_follows_druids_filter_rules() {
    let fx = Fixture::new().await;
    let (wiki, koala) = publish_both(&fx.store).await;
    let api = Api::new(&serve(fx.start().await).await);

    // The Overlord's paths and the Coordinator's deprecated ones do the same.
    for prefix in [INDEXER, COORDINATOR] {
        let ds = format!("{prefix}/datasources/wiki");
        let (unused, used) = (format!("{ds}/markUnused"), format!("{ds}/markUsed"));
        let post = |path: &str, body: Value| {
            let path = path.to_string();
            let api = &api;
            async move {
                api.changed(Method::POST, &path, Some(&body.to_string()))
                    .await
            }
        };
        assert_eq!(post(&unused, json!({"interval": DAY1})).await, 2);
        assert_eq!(post(&unused, json!({"interval": DAY1})).await, 0);
        assert_eq!(post(&used, json!({"interval": DAY1})).await, 2);
        // Versions narrow an interval.
        let other = json!({"interval": DAY1, "versions": [V2]});
        assert_eq!(post(&unused, other).await, 0);
        let same = json!({"interval": "2015-09-12/2015-09-14", "versions": [V1]});
        assert_eq!(post(&unused, same.clone()).await, 3);
        assert_eq!(post(&used, same).await, 3);
        // Ids: those that do not parse, or are of another datasource, are ignored.
        let mixed = json!({"segmentIds": [id(&wiki[0]), "nope", id(&koala)]});
        assert_eq!(post(&unused, mixed).await, 1);
        assert_eq!(post(&used, json!({"segmentIds": [id(&wiki[0])]})).await, 1);
        // ... but marking used refuses them, and marks nothing.
        for (ids, needle) in [
            (
                json!([id(&wiki[0]), "nope"]),
                "Could not parse segment IDs[nope] for datasource[wiki]",
            ),
            (json!([id(&koala)]), "Could not parse segment IDs["),
            (
                json!(["wiki_2000-01-01T00:00:00.000Z_2000-01-02T00:00:00.000Z_v"]),
                "Could not find segment IDs[",
            ),
        ] {
            let body = json!({ "segmentIds": ids }).to_string();
            let message = api.refused(Method::POST, &used, Some(&body), 400).await;
            assert!(message.contains(needle), "{message}");
        }
        // Single segments.
        let one = format!("{ds}/segments/{}", id(&wiki[1]));
        assert_eq!(api.changed(Method::DELETE, &one, None).await, 1);
        assert_eq!(api.changed(Method::DELETE, &one, None).await, 0);
        assert_eq!(api.changed(Method::POST, &one, None).await, 1);
        assert_eq!(api.changed(Method::POST, &one, None).await, 0);
        let unknown = format!("{ds}/segments/wiki_2000-01-01_2000-01-02_v");
        assert_eq!(api.changed(Method::POST, &unknown, None).await, 0);
        assert_eq!(api.changed(Method::DELETE, &unknown, None).await, 0);
        let message = api
            .refused(Method::DELETE, &format!("{ds}/segments/nope"), None, 400)
            .await;
        assert_eq!(
            message,
            "Could not parse Segment ID[nope] for DataSource[wiki]"
        );
        // The whole datasource.
        assert_eq!(api.changed(Method::DELETE, &ds, None).await, 3);
        assert_eq!(api.changed(Method::DELETE, &ds, None).await, 0);
        assert_eq!(api.changed(Method::POST, &ds, None).await, 3);
        let message = api
            .refused(
                Method::DELETE,
                &format!("{ds}?kill=true&interval={DAY1}"),
                None,
                400,
            )
            .await;
        assert!(message.contains("[kill] is not supported"), "{message}");
    }

    // Refused filters change nothing.
    let unused = format!("{INDEXER}/datasources/wiki/markUnused");
    let invalid = "Invalid request payload. Specify either 'interval' or 'segmentIds', but not both. Optionally, include 'versions' only when 'interval' is provided.";
    let both = json!({"interval": DAY1, "segmentIds": [id(&wiki[0])]}).to_string();
    let versions_with_ids = json!({"segmentIds": [id(&wiki[0])], "versions": [V1]}).to_string();
    for body in [
        "",
        "{}",
        "null",
        r#"{"segmentIds": []}"#,
        &both,
        &versions_with_ids,
    ] {
        for path in [&unused, &unused.replace("markUnused", "markUsed")] {
            let message = api.refused(Method::POST, path, Some(body), 400).await;
            assert_eq!(message, invalid, "{body}");
        }
    }
    for body in [
        "{",
        r#"{"interval": "2015-09-13/2015-09-12"}"#,
        r#"{"segmentIds": "x"}"#,
    ] {
        let message = api.refused(Method::POST, &unused, Some(body), 400).await;
        assert!(
            message.starts_with("Malformed segments filter"),
            "{message}"
        );
    }
    let hostile = json!({"segmentIds": [id(&wiki[0]), "wiki_2015-09-12_2015-09-13_v\u{0}"]});
    let message = api
        .refused(Method::POST, &unused, Some(&hostile.to_string()), 400)
        .await;
    assert!(message.contains("illegal UTF8 character"), "{message}");
    let filter = json!({"interval": DAY1}).to_string();
    for (method, path) in [
        (
            Method::POST,
            "/druid/indexer/v1/datasources/.hidden/markUnused",
        ),
        (
            Method::POST,
            "/druid/coordinator/v1/datasources/a%00b/markUnused",
        ),
        (
            Method::GET,
            "/druid/coordinator/v1/metadata/datasources/%0A",
        ),
        (
            Method::DELETE,
            "/druid/indexer/v1/datasources/wiki/segments/%F0%9F%98%80",
        ),
    ] {
        api.refused(method, path, Some(&filter), 400).await;
    }
    let (_, listed) = api.get(&format!("{MD}/datasources/wiki/segments")).await;
    assert_eq!(listed.as_array().unwrap().len(), 3, "nothing changed");

    // Marking used keeps what a newer version overshadows unused.
    let newer = segment("wiki", DAY2, V2, 0, 40);
    publish(&fx.store, std::slice::from_ref(&newer)).await;
    let old = format!("{INDEXER}/datasources/wiki/segments/{}", id(&wiki[2]));
    assert_eq!(api.changed(Method::POST, &old, None).await, 0);
    let (_, segments) = api.get(&format!("{MD}/datasources/wiki/segments")).await;
    assert_eq!(ids(&segments), vec![id(&wiki[0]), id(&wiki[1]), id(&newer)]);
}

#[tokio::test]
async fn pending_segments_are_deleted_unless_an_active_task_may_hold_them() {
    let fx = Fixture::new().await;
    let allocated = Timestamp::now();
    for ds in ["wiki", "koala"] {
        let request = AllocateRequest {
            data_source: ds.into(),
            interval: DAY1.parse().unwrap(),
            sequence_name: format!("{ds}-seq"),
            previous_segment_id: None,
            skip_segment_line_check: true,
            lock_version: V1.into(),
            shard_spec: PartialShardSpec::Numbered,
            task_allocator_id: Some(format!("{ds}-task")),
            now: allocated,
        };
        let id = fx.store.allocate_pending_segment(&request).await.unwrap();
        assert!(id.is_some());
    }
    let overlord = fx.start().await;
    // A wiki task that stays active: no worker runs it.
    overlord.submit(wiki_task("w1")).await.unwrap();
    let api = Api::new(&serve(overlord).await);
    let pending = |ds: &str, query: &str| format!("{INDEXER}/pendingSegments/{ds}{query}");

    let refused = |ds: &'static str, query: &'static str| {
        let path = pending(ds, query);
        let api = &api;
        async move { api.refused(Method::DELETE, &path, None, 400).await }
    };
    for query in ["", "?interval=2000-01-01/3000-01-01"] {
        let message = refused("wiki", query).await;
        assert!(
            message.starts_with(
                "Cannot delete pendingSegments for datasource[wiki] as there is at least one active task[w1] created at["
            ),
            "{message}"
        );
    }
    let message = refused("wiki", "?interval=later").await;
    assert!(message.contains("Invalid interval [later]"), "{message}");
    refused(".x", "").await;
    // Created before the task: allowed, and nothing was created then.
    let before = pending("wiki", "?interval=2000-01-01/2000-01-02");
    assert_eq!(api.delete(&before).await, (200, json!({"numDeleted": 0})));

    let all_time = pending("koala", "?interval=2000-01-01/3000-01-01");
    assert_eq!(api.delete(&all_time).await, (200, json!({"numDeleted": 1})));
    assert_eq!(
        api.delete(&pending("koala", "")).await,
        (200, json!({"numDeleted": 0}))
    );
}

#[tokio::test]
async fn a_standby_serves_the_coordinator_paths_and_redirects_the_overlords() {
    let fx = Fixture::new().await;
    publish_both(&fx.store).await;
    let (_elect, elected) = tokio::sync::watch::channel(leadership(None, Some(OTHER)));
    let master = TaskMaster::start(fx.parts(), elected);
    let url = serve_master(master.clone()).await;
    let api = Api::new(&url);

    let (status, names) = api.get(&format!("{MD}/datasources")).await;
    assert_eq!((status, names), (200, json!(["koala", "wiki"])));
    let filter = json!({"interval": DAY1}).to_string();
    let coordinator = format!("{COORDINATOR}/datasources/wiki/markUnused");
    assert_eq!(
        api.changed(Method::POST, &coordinator, Some(&filter)).await,
        2
    );
    for (method, path) in [
        (
            Method::POST,
            format!("{INDEXER}/datasources/wiki/markUnused"),
        ),
        (Method::DELETE, format!("{INDEXER}/datasources/wiki")),
        (Method::DELETE, format!("{INDEXER}/pendingSegments/wiki")),
    ] {
        let r = api
            .http
            .request(method, format!("{url}{path}"))
            .body(filter.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 307, "{path}");
        assert_eq!(r.headers()["location"], format!("{OTHER}{path}").as_str());
    }
    master.stop().await;
}

/// Users of the datasource permissions test, all with this password.
pub(super) const PASSWORD: &str = "pw";

/// Serves the fixture's Overlord with Druid's basic security on: `admin` (password
/// `admin-pw`) may do anything.
pub(super) async fn serve_secured(fx: &Fixture) -> String {
    // Few password hash iterations: the tests log several users in.
    let text = steward_testkit::basic_security_properties("admin-pw", "internal-pw")
        + "druid.auth.authenticator.basic.credentialIterations=100\n";
    let properties: HashMap<&str, &str> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let config = SecurityConfig::from_properties(|key| properties.get(key).map(|v| v.to_string()))
        .unwrap()
        .unwrap();
    let security = Security::with_store(config, Arc::new(fx.store.clone()))
        .await
        .unwrap();
    serve_with(fx.start().await, Some(security)).await
}

/// Creates `user` (password [`PASSWORD`]) with a role allowing `action` on datasource `ds`.
pub(super) async fn grant(admin: &Api, user: &str, ds: &str, action: &str) {
    grant_all(admin, user, &[(ds, action)]).await;
}

/// Creates `user` (password [`PASSWORD`]) with a role allowing each `(datasource, action)`.
pub(super) async fn grant_all(admin: &Api, user: &str, allowed: &[(&str, &str)]) {
    let authn = "/druid-ext/basic-security/authentication/db/basic";
    let authz = "/druid-ext/basic-security/authorization/db/basic";
    let permissions: Vec<Value> = allowed
        .iter()
        .map(|(ds, action)| json!({"resource": {"name": ds, "type": "DATASOURCE"}, "action": action}))
        .collect();
    let permissions = json!(permissions);
    for (path, body) in [
        (format!("{authn}/users/{user}"), None),
        (
            format!("{authn}/users/{user}/credentials"),
            Some(json!({ "password": PASSWORD })),
        ),
        (format!("{authz}/users/{user}"), None),
        (format!("{authz}/roles/{user}"), None),
        (
            format!("{authz}/roles/{user}/permissions"),
            Some(permissions),
        ),
        (format!("{authz}/users/{user}/roles/{user}"), None),
    ] {
        let body = body.map(|b| b.to_string());
        let (status, answer) = admin.call(Method::POST, &path, body.as_deref()).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
}

#[tokio::test]
async fn datasource_permissions_guard_reads_and_changes_and_filter_listings() {
    let fx = Fixture::new().await;
    let (wiki, _) = publish_both(&fx.store).await;
    let url = serve_secured(&fx).await;
    let admin = Api::new(&url).as_user("admin", "admin-pw");
    // reader may read wiki; writer may only write it.
    for (user, action) in [("reader", "READ"), ("writer", "WRITE")] {
        grant(&admin, user, "wiki", action).await;
    }
    let reader = Api::new(&url).as_user("reader", PASSWORD);
    let writer = Api::new(&url).as_user("writer", PASSWORD);
    let forbidden = json!({"Access-Check-Result": "Unauthorized"});

    // Listings leave out what the caller may not read.
    let (_, names) = reader.get(&format!("{MD}/datasources")).await;
    assert_eq!(names, json!(["wiki"]));
    let (_, full) = reader.get(&format!("{MD}/datasources?full")).await;
    assert_eq!(full.as_array().unwrap().len(), 1);
    assert_eq!(full[0]["segments"], json!(wiki));
    let (_, segments) = reader.get(&format!("{MD}/segments")).await;
    assert_eq!(segments, json!(wiki));
    let (_, segments) = reader
        .get(&format!("{MD}/segments?datasources=koala"))
        .await;
    assert_eq!(segments, json!([]));
    let (_, names) = writer.get(&format!("{MD}/datasources")).await;
    assert_eq!(names, json!([]));
    let (_, names) = admin.get(&format!("{MD}/datasources")).await;
    assert_eq!(names, json!(["koala", "wiki"]));

    // One datasource: READ for a GET, WRITE for anything else, 403 before anything else.
    let filter = json!({"interval": DAY1}).to_string();
    let intervals = json!([DAY1]).to_string();
    let get = |path: String| (Method::GET, path, None);
    let cases: Vec<(Method, String, Option<&str>)> = vec![
        get(format!("{MD}/datasources/wiki")),
        get(format!("{MD}/datasources/wiki/segments")),
        get(format!("{MD}/datasources/wiki/segments/{}", id(&wiki[0]))),
        get(format!("{MD}/datasources/wiki/segments/nope")),
        get(format!("{MD}/datasources/wiki/unusedSegments")),
        (
            Method::POST,
            format!("{MD}/datasources/wiki/segments"),
            Some(&intervals),
        ),
        (
            Method::POST,
            format!("{INDEXER}/datasources/wiki/markUnused"),
            Some(&filter),
        ),
        (
            Method::POST,
            format!("{COORDINATOR}/datasources/wiki/markUsed"),
            Some(&filter),
        ),
        (
            Method::DELETE,
            format!("{INDEXER}/datasources/wiki/segments/nope"),
            None,
        ),
        (
            Method::POST,
            format!("{COORDINATOR}/datasources/wiki"),
            None,
        ),
    ];
    for (method, path, body) in &cases {
        let reads = *method == Method::GET;
        let (allowed, refused) = if reads {
            (&reader, &writer)
        } else {
            (&writer, &reader)
        };
        let (status, answer) = refused.call(method.clone(), path, *body).await;
        assert_eq!((status, &answer), (403, &forbidden), "{method} {path}");
        let (status, answer) = allowed.call(method.clone(), path, *body).await;
        assert_ne!(status, 403, "{method} {path}: {answer}");
        let koala_path = path.replace("wiki", "koala");
        let (status, _) = allowed.call(method.clone(), &koala_path, *body).await;
        assert_eq!(status, 403, "{method} {koala_path}");
        let (status, _) = Api::new(&url).call(method.clone(), path, *body).await;
        assert_eq!(status, 401, "{method} {path} without credentials");
    }

    // Deleting pending segments needs both.
    let pending = format!("{INDEXER}/pendingSegments/wiki");
    for user in [&reader, &writer] {
        assert_eq!(user.delete(&pending).await.0, 403);
    }
    assert_eq!(
        admin.delete(&pending).await,
        (200, json!({"numDeleted": 0}))
    );
}
