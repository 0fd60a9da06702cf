//! `/druid-ext/basic-security/authentication`: the authenticator's users and their passwords.

use axum::body::Body;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{
    bad_request, json_body, load_status, refresh_all, store_error, update_error, Answer, Names,
    AUTHENTICATION,
};
use crate::credentials::{Credentials, MAX_ITERATIONS};
use crate::entities::{AuthenticatorUser, AuthenticatorUsers};
use crate::security::Security;

pub(super) fn routes() -> Router<Security> {
    let users = format!("{AUTHENTICATION}/db/{{authenticator}}/users");
    Router::new()
        .route(
            &format!("{AUTHENTICATION}/loadStatus"),
            get(|State(s): State<Security>| async move { load_status(&s.config().authenticator) }),
        )
        .route(&format!("{AUTHENTICATION}/refreshAll"), get(refresh_all))
        .route(&users, get(list_users))
        .route(
            &format!("{users}/{{user}}"),
            get(get_user).post(create_user).delete(delete_user),
        )
        .route(
            &format!("{users}/{{user}}/credentials"),
            post(set_credentials),
        )
}

/// `GET .../users`: the user names.
async fn list_users(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authenticator_store(names.get("authenticator"))?;
    let users: AuthenticatorUsers = store
        .read(&store.authenticator_users)
        .await
        .map_err(store_error)?;
    Ok(Json(users.keys().collect::<Vec<_>>()).into_response())
}

/// `GET .../users/{user}`: the user's name. Druid returns the salt and hash too; Steward never
/// returns them.
async fn get_user(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authenticator_store(names.get("authenticator"))?;
    let users: AuthenticatorUsers = store
        .read(&store.authenticator_users)
        .await
        .map_err(store_error)?;
    let user = names.get("user");
    match users.get(user) {
        Some(user) => Ok(Json(json!({"name": user.name})).into_response()),
        None => Err(bad_request(format!("User [{user}] does not exist."))),
    }
}

/// `POST .../users/{user}`: a user without a password, who cannot log in until one is set.
async fn create_user(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authenticator_store(names.get("authenticator"))?;
    let name = names.get("user");
    let user = AuthenticatorUser {
        name: name.to_string(),
        credentials: None,
    };
    store
        .insert_new(&store.authenticator_users, "User", name, user)
        .await
        .map_err(update_error)?;
    security.changed().await
}

/// `DELETE .../users/{user}`: the user cannot log in any more, on this process at once, on the
/// others within a polling period.
async fn delete_user(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authenticator_store(names.get("authenticator"))?;
    let name = names.get("user");
    store
        .remove_existing::<AuthenticatorUser>(&store.authenticator_users, "User", name)
        .await
        .map_err(update_error)?;
    security.changed().await
}

/// Druid's `BasicAuthenticatorCredentialUpdate`.
#[derive(Deserialize)]
struct CredentialUpdate {
    password: Option<String>,
    iterations: Option<u32>,
}

/// `POST .../users/{user}/credentials` with `{"password": "..."}` and optionally
/// `"iterations"` (default `credentialIterations`).
async fn set_credentials(State(security): State<Security>, names: Names, body: Body) -> Answer {
    let store = security.authenticator_store(names.get("authenticator"))?;
    let update: CredentialUpdate = json_body(body).await?;
    let password = match update.password {
        None => return Err(bad_request("Cannot assign null password.")),
        Some(p) if p.is_empty() => return Err(bad_request("Cannot assign empty password.")),
        Some(p) => p,
    };
    let iterations = update
        .iterations
        .unwrap_or(security.config().credential_iterations);
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(bad_request(format!(
            "Iterations must be between 1 and {MAX_ITERATIONS}."
        )));
    }
    let credentials = tokio::task::spawn_blocking(move || Credentials::new(&password, iterations))
        .await
        .expect("hashing does not panic");
    let name = names.get("user");
    store
        .update(
            &store.authenticator_users,
            |users: &mut AuthenticatorUsers| {
                let user = users
                    .get_mut(name)
                    .ok_or_else(|| format!("User [{name}] does not exist."))?;
                user.credentials = Some(credentials.clone());
                Ok(true)
            },
        )
        .await
        .map_err(update_error)?;
    security.changed().await
}
