//! The management API end to end, against SQLite stores: what it stores, what it answers, and
//! what requests may do afterwards.

use axum::http::{Method, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use super::{app, config, eventually, send, Answer, TestStore};
use crate::{Action, Identity, Resource, Security};

const AUTHN: &str = "/druid-ext/basic-security/authentication/db/basic";
const AUTHZ: &str = "/druid-ext/basic-security/authorization/db/basic";
const ADMIN: Option<(&str, &str)> = Some(("admin", "password1"));

async fn admin(app: &Router, method: Method, uri: &str, body: Option<&str>) -> Answer {
    send(app, method, uri, ADMIN, body).await
}

/// Calls that must succeed with 200 and no body, as Druid answers changes.
async fn ok(app: &Router, method: Method, uri: &str, body: Option<&str>) {
    let answer = admin(app, method.clone(), uri, body).await;
    assert_eq!(
        (answer.status, &answer.body),
        (StatusCode::OK, &Value::Null),
        "{method} {uri}"
    );
}

async fn refused(
    app: &Router,
    method: Method,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, String) {
    let answer = admin(app, method, uri, body).await;
    let message = answer.body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{uri}: {:?}", answer.body));
    (answer.status, message.to_string())
}

/// alice, who may read datasources whose names start with `wiki`.
async fn create_reader(app: &Router) {
    ok(app, Method::POST, &format!("{AUTHN}/users/alice"), None).await;
    let password = r#"{"password": "alice-pw"}"#;
    ok(
        app,
        Method::POST,
        &format!("{AUTHN}/users/alice/credentials"),
        Some(password),
    )
    .await;
    ok(app, Method::POST, &format!("{AUTHZ}/users/alice"), None).await;
    ok(app, Method::POST, &format!("{AUTHZ}/roles/reader"), None).await;
    let permissions = r#"[{"resource": {"name": "wiki.*", "type": "DATASOURCE"}, "action": "READ"},
                          {"resource": {"name": "STATE", "type": "STATE"}, "action": "READ"}]"#;
    ok(
        app,
        Method::POST,
        &format!("{AUTHZ}/roles/reader/permissions"),
        Some(permissions),
    )
    .await;
    ok(
        app,
        Method::POST,
        &format!("{AUTHZ}/users/alice/roles/reader"),
        None,
    )
    .await;
}

fn alice() -> Identity {
    Identity {
        name: "alice".into(),
        authorizer: "basic".into(),
    }
}

#[tokio::test]
async fn a_user_created_through_the_api_logs_in_and_gets_the_permissions_granted() {
    let db = TestStore::new();
    let security = Security::with_store(config(&[]), db.open().await)
        .await
        .unwrap();
    let app = app(&security);
    create_reader(&app).await;

    let who = send(
        &app,
        Method::GET,
        "/whoami",
        Some(("alice", "alice-pw")),
        None,
    )
    .await;
    assert_eq!(who.body, json!({"name": "alice", "authorizer": "basic"}));
    let may = |resource: Resource, action| security.authorize(&alice(), &resource, action);
    assert!(may(Resource::datasource("wikipedia"), Action::Read));
    assert!(!may(Resource::datasource("wikipedia"), Action::Write));
    assert!(!may(Resource::datasource("my-wiki"), Action::Read));
    assert!(may(Resource::state(), Action::Read));
    assert!(!may(Resource::config(), Action::Read));

    // alice may not administer security; reading needs CONFIG READ on `security`.
    let answer = send(
        &app,
        Method::GET,
        &format!("{AUTHN}/users"),
        Some(("alice", "alice-pw")),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.body, json!({"Access-Check-Result": "Unauthorized"}));
    let grant = r#"[{"resource": {"name": "security", "type": "CONFIG"}, "action": "READ"}]"#;
    ok(
        &app,
        Method::POST,
        &format!("{AUTHZ}/roles/reader/permissions"),
        Some(grant),
    )
    .await;
    let alice_reads = send(
        &app,
        Method::GET,
        &format!("{AUTHN}/users"),
        Some(("alice", "alice-pw")),
        None,
    )
    .await;
    assert_eq!(alice_reads.body, json!(["admin", "alice", "druid_system"]));
    let alice_writes = send(
        &app,
        Method::POST,
        &format!("{AUTHN}/users/eve"),
        Some(("alice", "alice-pw")),
        None,
    )
    .await;
    assert_eq!(alice_writes.status, StatusCode::FORBIDDEN);
    // The new permissions replaced the old ones.
    assert!(!security.authorize(&alice(), &Resource::datasource("wikipedia"), Action::Read));

    // A new password replaces the old one at once.
    let password = r#"{"password": "new-pw", "iterations": 50}"#;
    ok(
        &app,
        Method::POST,
        &format!("{AUTHN}/users/alice/credentials"),
        Some(password),
    )
    .await;
    let old = send(
        &app,
        Method::GET,
        "/whoami",
        Some(("alice", "alice-pw")),
        None,
    )
    .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = send(
        &app,
        Method::GET,
        "/whoami",
        Some(("alice", "new-pw")),
        None,
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);

    ok(&app, Method::DELETE, &format!("{AUTHN}/users/alice"), None).await;
    let gone = send(
        &app,
        Method::GET,
        "/whoami",
        Some(("alice", "new-pw")),
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn druids_initial_users_and_roles_are_seeded_once_under_druids_keys() {
    let db = TestStore::new();
    // Two Overlords starting at once on an empty store.
    let (a, b) = tokio::join!(
        async {
            Security::with_store(config(&[]), db.open().await)
                .await
                .unwrap()
        },
        async {
            Security::with_store(config(&[]), db.open().await)
                .await
                .unwrap()
        },
    );
    let store = db.open().await;
    let stored = |key: &'static str| {
        let store = store.clone();
        async move {
            let bytes = store.get_config(key).await.unwrap().unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };
    let users = stored("basic_authentication_basic_users").await;
    assert_eq!(users.as_object().unwrap().len(), 2);
    for (name, iterations) in [("admin", 10_000), ("druid_system", 10_000)] {
        let credentials = &users[name]["credentials"];
        assert_eq!(users[name]["name"], name);
        assert_eq!(credentials["iterations"], iterations);
        assert_eq!(
            credentials["salt"].as_str().unwrap().len(),
            44,
            "32 bytes in base64"
        );
        assert_eq!(
            credentials["hash"].as_str().unwrap().len(),
            88,
            "64 bytes in base64"
        );
    }
    assert_eq!(
        stored("basic_authorization_basic_users").await,
        json!({"admin": {"name": "admin", "roles": ["admin"]},
               "druid_system": {"name": "druid_system", "roles": ["druid_system"]}})
    );
    let roles = stored("basic_authorization_basic_roles").await;
    let permissions = roles["admin"]["permissions"].as_array().unwrap();
    assert_eq!(permissions.len(), 14);
    assert_eq!(
        permissions[0],
        json!({"resourceAction": {"resource": {"name": ".*", "type": "DATASOURCE"}, "action": "READ"},
               "resourceNamePattern": ".*"})
    );
    assert_eq!(
        roles["druid_system"]["permissions"],
        roles["admin"]["permissions"]
    );

    // The internal client logs in with the escalator's credentials, on both.
    for security in [&a, &b] {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::AUTHORIZATION,
            security.escalator().authorization(),
        );
        let identity = security.authenticate(&headers).unwrap();
        assert!(security.authorize(&identity, &Resource::config(), Action::Write));
    }

    // A changed admin password survives a restart: seeding only adds what is missing.
    ok(
        &app(&a),
        Method::POST,
        &format!("{AUTHN}/users/admin/credentials"),
        Some(r#"{"password":"changed"}"#),
    )
    .await;
    let restarted = Security::with_store(config(&[]), db.open().await)
        .await
        .unwrap();
    let answer = send(
        &app(&restarted),
        Method::GET,
        "/whoami",
        Some(("admin", "changed")),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn refusals_are_druids_400s() {
    let db = TestStore::new();
    let security = Security::with_store(config(&[]), db.open().await)
        .await
        .unwrap();
    let app = app(&security);
    create_reader(&app).await;
    let cases: &[(Method, String, Option<&str>, &str)] = &[
        (
            Method::POST,
            format!("{AUTHN}/users/alice"),
            None,
            "User [alice] already exists.",
        ),
        (
            Method::DELETE,
            format!("{AUTHN}/users/bob"),
            None,
            "User [bob] does not exist.",
        ),
        (
            Method::GET,
            format!("{AUTHN}/users/bob"),
            None,
            "User [bob] does not exist.",
        ),
        (
            Method::POST,
            format!("{AUTHN}/users/bob/credentials"),
            Some(r#"{"password":"x"}"#),
            "User [bob] does not exist.",
        ),
        (
            Method::POST,
            format!("{AUTHN}/users/alice/credentials"),
            Some(r#"{"password":""}"#),
            "Cannot assign empty password.",
        ),
        (
            Method::POST,
            format!("{AUTHN}/users/alice/credentials"),
            Some("{}"),
            "Cannot assign null password.",
        ),
        (
            Method::POST,
            format!("{AUTHN}/users/alice/credentials"),
            Some(r#"{"password":"x","iterations":0}"#),
            "Iterations must be between 1 and 1000000.",
        ),
        (
            Method::GET,
            "/druid-ext/basic-security/authentication/db/ldap/users".into(),
            None,
            "Basic authenticator with name [ldap] does not exist.",
        ),
        (
            Method::GET,
            "/druid-ext/basic-security/authorization/db/ldap/roles".into(),
            None,
            "Basic authorizer with name [ldap] does not exist.",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/users/alice"),
            None,
            "User [alice] already exists.",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/roles/reader"),
            None,
            "Role [reader] already exists.",
        ),
        (
            Method::DELETE,
            format!("{AUTHZ}/roles/writer"),
            None,
            "Role [writer] does not exist.",
        ),
        (
            Method::GET,
            format!("{AUTHZ}/roles/writer"),
            None,
            "Role [writer] does not exist.",
        ),
        (
            Method::GET,
            format!("{AUTHZ}/roles/writer/permissions"),
            None,
            "Role [writer] does not exist.",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/users/alice/roles/writer"),
            None,
            "Role [writer] does not exist.",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/users/bob/roles/reader"),
            None,
            "User [bob] does not exist.",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/users/alice/roles/reader"),
            None,
            "User [alice] already has role [reader].",
        ),
        (
            Method::DELETE,
            format!("{AUTHZ}/users/admin/roles/reader"),
            None,
            "User [admin] does not have role [reader].",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/roles/writer/permissions"),
            Some("[]"),
            "Role [writer] does not exist.",
        ),
    ];
    for (method, uri, body, message) in cases {
        let answer = refused(&app, method.clone(), uri, *body).await;
        assert_eq!(
            answer,
            (StatusCode::BAD_REQUEST, message.to_string()),
            "{method} {uri}"
        );
    }
}

#[tokio::test]
async fn hostile_input_is_refused_with_json_before_anything_is_stored() {
    let db = TestStore::new();
    let security = Security::with_store(config(&[]), db.open().await)
        .await
        .unwrap();
    let app = app(&security);
    ok(&app, Method::POST, &format!("{AUTHZ}/roles/r"), None).await;
    let long = "x".repeat(257);
    let cases: &[(Method, String, Option<&str>, &str)] = &[
        (
            Method::POST,
            format!("{AUTHN}/users/a%0Ab"),
            None,
            "Invalid user name: it contains control characters.",
        ),
        (
            Method::POST,
            format!("{AUTHN}/users/a:b"),
            None,
            "Invalid user name: it contains ':'",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/roles/{long}"),
            None,
            "Invalid role name: it is longer than 256",
        ),
        (
            Method::POST,
            format!("{AUTHN}/users/%FF"),
            None,
            "Invalid URL",
        ),
        (
            Method::POST,
            format!("{AUTHN}/users/admin/credentials"),
            Some("{\"password\":"),
            "Invalid JSON body",
        ),
        (
            Method::POST,
            format!("{AUTHN}/users/admin/credentials"),
            Some("[1]"),
            "Invalid JSON body",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/roles/r/permissions"),
            Some(r#"[{"resource": {"name": "x", "type": "TABLE"}, "action": "READ"}]"#),
            "Invalid JSON body",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/roles/r/permissions"),
            Some(r#"[{"resource": {"name": "x", "type": "STATE"}, "action": "DROP"}]"#),
            "Invalid JSON body",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/roles/r/permissions"),
            Some(
                r#"[{"resource": {"name": "wiki)|(.*", "type": "DATASOURCE"}, "action": "READ"}]"#,
            ),
            "Invalid permission, resource name regex[wiki)|(.*] does not compile",
        ),
        (
            Method::POST,
            format!("{AUTHZ}/roles/r/permissions"),
            Some(r#"[{"resource": {"name": "(?!x).*", "type": "DATASOURCE"}, "action": "READ"}]"#),
            "Invalid permission, resource name regex[(?!x).*] does not compile",
        ),
    ];
    for (method, uri, body, message) in cases {
        let (status, error) = refused(&app, method.clone(), uri, *body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {error}");
        assert!(error.starts_with(message), "{uri}: {error}");
    }
    let huge = format!(r#"{{"password": "{}"}}"#, "x".repeat(2 << 20));
    let (status, _) = refused(
        &app,
        Method::POST,
        &format!("{AUTHN}/users/admin/credentials"),
        Some(&huge),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let users = admin(&app, Method::GET, &format!("{AUTHN}/users"), None).await;
    assert_eq!(users.body, json!(["admin", "druid_system"]));
    let role = admin(&app, Method::GET, &format!("{AUTHZ}/roles/r"), None).await;
    assert_eq!(role.body, json!({"name": "r", "permissions": []}));
    // Nothing changed the admin's password.
    let who = send(&app, Method::GET, "/whoami", ADMIN, None).await;
    assert_eq!(who.status, StatusCode::OK);
}

#[tokio::test]
async fn reads_have_druids_shapes_and_never_show_a_hash() {
    let db = TestStore::new();
    let security = Security::with_store(config(&[]), db.open().await)
        .await
        .unwrap();
    let app = app(&security);
    create_reader(&app).await;
    let get = |uri: String| {
        let app = app.clone();
        async move {
            let answer = admin(&app, Method::GET, &uri, None).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}");
            answer.body
        }
    };
    assert_eq!(
        get(format!("{AUTHN}/users/alice")).await,
        json!({"name": "alice"})
    );
    assert_eq!(
        get(format!("{AUTHZ}/users")).await,
        json!(["admin", "alice", "druid_system"])
    );
    assert_eq!(
        get(format!("{AUTHZ}/roles")).await,
        json!(["admin", "druid_system", "reader"])
    );
    assert_eq!(
        get(format!("{AUTHZ}/users/alice")).await,
        json!({"name": "alice", "roles": ["reader"]})
    );

    let wiki = json!({"resource": {"name": "wiki.*", "type": "DATASOURCE"}, "action": "READ"});
    let state = json!({"resource": {"name": "STATE", "type": "STATE"}, "action": "READ"});
    let stored =
        |ra: &Value| json!({"resourceAction": ra, "resourceNamePattern": ra["resource"]["name"]});
    let role = json!({"name": "reader", "permissions": [stored(&wiki), stored(&state)]});
    assert_eq!(get(format!("{AUTHZ}/roles/reader")).await, role);
    assert_eq!(
        get(format!("{AUTHZ}/roles/reader/permissions")).await,
        role["permissions"]
    );
    assert_eq!(
        get(format!("{AUTHZ}/roles/reader?simplifyPermissions")).await,
        json!({"name": "reader", "users": null, "permissions": [wiki, state]})
    );
    assert_eq!(
        get(format!("{AUTHZ}/roles/reader?full")).await,
        json!({"name": "reader", "users": ["alice"], "groups": [],
               "permissions": [stored(&wiki), stored(&state)]})
    );
    assert_eq!(
        get(format!("{AUTHZ}/roles/reader?full&simplifyPermissions")).await,
        json!({"name": "reader", "users": ["alice"], "permissions": [wiki, state]})
    );
    assert_eq!(
        get(format!("{AUTHZ}/users/alice?full")).await,
        json!({"name": "alice", "roles": [role]})
    );
    assert_eq!(
        get(format!(
            "{AUTHZ}/users/alice?full=true&simplifyPermissions=true"
        ))
        .await,
        json!({"name": "alice", "roles": [{"name": "reader", "users": null, "permissions": [wiki, state]}]})
    );
    for api in ["authentication", "authorization"] {
        let status = get(format!("/druid-ext/basic-security/{api}/loadStatus")).await;
        assert_eq!(status, json!({"basic": true}));
        let refresh = admin(
            &app,
            Method::GET,
            &format!("/druid-ext/basic-security/{api}/refreshAll"),
            None,
        )
        .await;
        assert_eq!(refresh.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_deleted_role_is_gone_from_its_users_and_a_new_one_of_that_name_grants_them_nothing() {
    let db = TestStore::new();
    let security = Security::with_store(config(&[]), db.open().await)
        .await
        .unwrap();
    let app = app(&security);
    create_reader(&app).await;
    ok(&app, Method::DELETE, &format!("{AUTHZ}/roles/reader"), None).await;
    let user = admin(&app, Method::GET, &format!("{AUTHZ}/users/alice"), None).await;
    assert_eq!(user.body, json!({"name": "alice", "roles": []}));
    assert!(!security.authorize(&alice(), &Resource::state(), Action::Read));

    // A user holding a role that no longer exists (a delete interrupted half-way) does not get
    // a new role of the same name.
    let store = db.open().await;
    let key = "basic_authorization_basic_users";
    let before = store.get_config(key).await.unwrap().unwrap();
    let mut users: Value = serde_json::from_slice(&before).unwrap();
    users["alice"]["roles"] = json!(["reader"]);
    let after = serde_json::to_vec(&users).unwrap();
    assert!(store
        .compare_and_swap_config(key, Some(&before), &after)
        .await
        .unwrap());
    ok(&app, Method::POST, &format!("{AUTHZ}/roles/reader"), None).await;
    let grant = r#"[{"resource": {"name": "STATE", "type": "STATE"}, "action": "READ"}]"#;
    ok(
        &app,
        Method::POST,
        &format!("{AUTHZ}/roles/reader/permissions"),
        Some(grant),
    )
    .await;
    let role = admin(
        &app,
        Method::GET,
        &format!("{AUTHZ}/roles/reader?full"),
        None,
    )
    .await;
    assert_eq!(role.body["users"], json!([]));
    assert!(!security.authorize(&alice(), &Resource::state(), Action::Read));
}

#[tokio::test]
async fn two_overlords_on_one_store_converge_after_a_change() {
    let db = TestStore::new();
    let polled = config(&[("druid.auth.basic.common.pollingPeriod", "50")]);
    let a = Security::with_store(polled.clone(), db.open().await)
        .await
        .unwrap();
    let b = Security::with_store(polled, db.open().await).await.unwrap();
    let (app_a, app_b) = (app(&a), app(&b));
    create_reader(&app_a).await;

    let alice_on_b = || async {
        send(
            &app_b,
            Method::GET,
            "/whoami",
            Some(("alice", "alice-pw")),
            None,
        )
        .await
        .status
    };
    eventually("the other Overlord lets alice in", || async {
        alice_on_b().await == StatusCode::OK
    })
    .await;
    eventually("the other Overlord knows alice's role", || async {
        b.authorize(&alice(), &Resource::datasource("wiki"), Action::Read)
    })
    .await;

    // Changes made on either side meet in the store without losing one.
    ok(&app_b, Method::POST, &format!("{AUTHZ}/roles/writer"), None).await;
    ok(
        &app_a,
        Method::POST,
        &format!("{AUTHZ}/roles/auditor"),
        None,
    )
    .await;
    let roles = admin(&app_a, Method::GET, &format!("{AUTHZ}/roles"), None).await;
    assert_eq!(
        roles.body,
        json!(["admin", "auditor", "druid_system", "reader", "writer"])
    );

    ok(
        &app_a,
        Method::DELETE,
        &format!("{AUTHN}/users/alice"),
        None,
    )
    .await;
    eventually("the other Overlord refuses alice", || async {
        alice_on_b().await == StatusCode::UNAUTHORIZED
    })
    .await;
}

#[tokio::test]
async fn a_process_without_a_store_does_not_manage_users() {
    let security = Security::without_store(config(&[]));
    let app = app(&security);
    let (status, message) = refused(&app, Method::POST, &format!("{AUTHN}/users/bob"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.starts_with("Users and roles are managed on the Overlord"));
    let status = admin(
        &app,
        Method::GET,
        "/druid-ext/basic-security/authentication/loadStatus",
        None,
    )
    .await;
    assert_eq!(status.body, json!({"basic": true}));
}
