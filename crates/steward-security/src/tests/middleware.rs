//! The authentication layer and authorization, on a process without a store (a MiddleManager)
//! and on one with a store.

use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::json;

use super::{app, config, send, TestStore};
use crate::{Action, AuthFailure, Identity, Resource, ResourceType, Security};

fn assert_unauthorized(answer: &super::Answer, message: Option<&str>) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.headers[WWW_AUTHENTICATE],
        r#"Basic realm="druid", charset="UTF-8""#
    );
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(
        answer.body,
        json!({"error": "Unauthorized request", "errorMessage": message, "errorClass": null,
               "host": "localhost"})
    );
}

#[tokio::test]
async fn requests_without_valid_credentials_get_401_with_a_challenge() {
    let security = Security::without_store(config(&[]));
    let app = app(&security);
    let whoami = |credentials| send(&app, Method::GET, "/whoami", credentials, None);

    assert_unauthorized(&whoami(None).await, None);
    let failed = Some("User authentication failed.");
    assert_unauthorized(&whoami(Some(("admin", "wrong"))).await, failed);
    assert_unauthorized(&whoami(Some(("admin", ""))).await, failed);
    assert_unauthorized(&whoami(Some(("nobody", "password1"))).await, failed);
    // Routes that do not exist are not revealed either.
    assert_unauthorized(&send(&app, Method::GET, "/nothing", None, None).await, None);

    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, "Basic !!!".parse().unwrap());
    assert_eq!(security.authenticate(&headers), Err(AuthFailure::Malformed));
}

#[tokio::test]
async fn good_credentials_put_the_identity_into_the_request() {
    let security = Security::without_store(config(&[]));
    let app = app(&security);
    for _ in 0..2 {
        let answer = send(
            &app,
            Method::GET,
            "/whoami",
            Some(("admin", "password1")),
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, json!({"name": "admin", "authorizer": "basic"}));
    }
    // The internal client, with the header other processes send.
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, security.escalator().authorization());
    let identity = security.authenticate(&headers).unwrap();
    assert_eq!(
        identity,
        Identity {
            name: "druid_system".into(),
            authorizer: "basic".into()
        }
    );
    // Without a store both have every permission, and nobody else exists.
    for t in ResourceType::ALL {
        let resource = Resource::new("anything", t);
        assert!(security.authorize(&identity, &resource, Action::Write));
    }
    let stranger = Identity {
        name: "alice".into(),
        authorizer: "basic".into(),
    };
    assert!(!security.authorize(&stranger, &Resource::state(), Action::Read));
    let other_authorizer = Identity {
        authorizer: "ldap".into(),
        ..identity
    };
    assert!(!security.authorize(&other_authorizer, &Resource::state(), Action::Read));
}

#[tokio::test]
async fn unsecured_paths_pass_without_credentials() {
    let security =
        Security::without_store(config(&[("druid.auth.unsecuredPaths", r#"["/whoami/*"]"#)]));
    let app = app(&security);
    let health = send(&app, Method::GET, "/status/health", None, None).await;
    assert_eq!((health.status, health.body), (StatusCode::OK, json!(true)));
    // Even with wrong credentials: unsecured paths are not authenticated at all.
    let health = send(&app, Method::GET, "/status/health", Some(("x", "y")), None).await;
    assert_eq!(health.status, StatusCode::OK);
    // Handlers of unsecured paths see Druid's allowAll identity, which may do anything.
    let who = send(&app, Method::GET, "/whoami", None, None).await;
    assert_eq!(
        who.body,
        json!({"name": "allowAll", "authorizer": "allowAll"})
    );
    let allow_all = Identity {
        name: "allowAll".into(),
        authorizer: "allowAll".into(),
    };
    assert!(security.authorize(&allow_all, &Resource::config(), Action::Write));
    // A path that merely starts like an unsecured one is not unsecured.
    let near = send(&app, Method::GET, "/status/healthy", None, None).await;
    assert_eq!(near.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn options_requests_need_credentials_unless_allowed() {
    let secured = app(&Security::without_store(config(&[])));
    let answer = send(&secured, Method::OPTIONS, "/whoami", None, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    let open = app(&Security::without_store(config(&[(
        "druid.auth.allowUnauthenticatedHttpOptions",
        "true",
    )])));
    let answer = send(&open, Method::OPTIONS, "/whoami", None, None).await;
    assert_ne!(answer.status, StatusCode::UNAUTHORIZED);
    // Wrong credentials still fail; other methods still need credentials.
    let answer = send(
        &open,
        Method::OPTIONS,
        "/whoami",
        Some(("admin", "x")),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = send(&open, Method::GET, "/whoami", None, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forbidden_is_druids_access_check_result() {
    let response = crate::forbidden();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = axum::body::to_bytes(response.into_body(), 1000)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        json!({"Access-Check-Result": "Unauthorized"})
    );
}

/// A password Druid stored (its `BasicAuthenticatorCredentials` with the reference hash of
/// `credentials.rs`) logs in.
#[tokio::test]
async fn credentials_in_druids_shape_verify() {
    let db = TestStore::new();
    let store = db.open().await;
    let users = json!({"carol": {"name": "carol", "credentials": {
        "salt": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "hash": "vfKX3rS10mb9rBPJ1c82h/5pINIunAIngNZCvJyDuCnFW6lv5gVfY2AyDNwv4AtufG4tdRngDbCX8sOXr/UwHg==",
        "iterations": 10000}}});
    let key = "basic_authentication_basic_users";
    let bytes = serde_json::to_vec(&users).unwrap();
    assert!(store
        .compare_and_swap_config(key, None, &bytes)
        .await
        .unwrap());
    let security = Security::with_store(config(&[]), store).await.unwrap();
    let app = app(&security);
    let answer = send(
        &app,
        Method::GET,
        "/whoami",
        Some(("carol", "druid-admin-pw")),
        None,
    )
    .await;
    assert_eq!(answer.body, json!({"name": "carol", "authorizer": "basic"}));
    let answer = send(
        &app,
        Method::GET,
        "/whoami",
        Some(("carol", "druid-admin-pX")),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}
