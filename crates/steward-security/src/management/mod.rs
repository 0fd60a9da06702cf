//! Druid's basic-security management API (`BasicAuthenticatorResource`,
//! `BasicAuthorizerResource`): users, passwords, roles and permissions, under Druid's paths,
//! with Druid's status codes and bodies (200 with no body on success, 400 with
//! `{"error": "..."}` for a missing or existing user or role, as Druid answers both). Every call
//! needs CONFIG permission on the resource named `security`: READ for GET, WRITE otherwise.
//!
//! Unlike Druid, no answer ever contains a password hash, and names, bodies and JSON are checked
//! before anything is stored: hostile input gets 400 (or 413 for a huge body) with a JSON
//! error. The LDAP-only parts of Druid's API (group mappings) and its internal cache
//! notification endpoints are not served.

mod authentication;
mod authorization;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use steward_metadata::StoreError;

use crate::authenticator::{AuthFailure, Identity};
use crate::resource::{Action, Resource};
use crate::responses::{error, forbidden, unauthorized};
use crate::security::Security;
use crate::store::{SecurityStore, UpdateError};

const AUTHENTICATION: &str = "/druid-ext/basic-security/authentication";
const AUTHORIZATION: &str = "/druid-ext/basic-security/authorization";

/// The largest request body read: a permission list for thousands of datasources fits.
const MAX_BODY: usize = 1 << 20;

/// The longest user or role name, in characters.
const MAX_NAME: usize = 256;

/// What a handler answers; `?` ends it early with a refusal.
type Answer = Result<Response, Refusal>;

/// A `{"error": "..."}` answer with its status.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.status, self.message)
    }
}

impl Security {
    /// The management API, to merge into the Overlord's router (under its authentication
    /// layer). A process without a store answers every call but `loadStatus` with 400.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(authentication::routes())
            .merge(authorization::routes())
            .route_layer(from_fn_with_state(
                self.clone(),
                require_security_permission,
            ))
            .with_state(self.clone())
    }

    /// The store behind the API, after checking that `authenticator` is this process's.
    fn authenticator_store(&self, authenticator: &str) -> Result<&SecurityStore, Refusal> {
        if authenticator != self.config().authenticator {
            return Err(bad_request(format!(
                "Basic authenticator with name [{authenticator}] does not exist."
            )));
        }
        self.store()
    }

    /// The store behind the API, after checking that `authorizer` is this process's.
    fn authorizer_store(&self, authorizer: &str) -> Result<&SecurityStore, Refusal> {
        if authorizer != self.config().authorizer {
            return Err(bad_request(format!(
                "Basic authorizer with name [{authorizer}] does not exist."
            )));
        }
        self.store()
    }

    fn store(&self) -> Result<&SecurityStore, Refusal> {
        self.inner.store.as_ref().ok_or_else(|| {
            bad_request(
                "Users and roles are managed on the Overlord; this process does not use the \
                 metadata store.",
            )
        })
    }

    /// After a change: this process sees it at once, not only after the next poll.
    async fn changed(&self) -> Answer {
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "could not re-read users and roles after a change");
        }
        Ok(StatusCode::OK.into_response())
    }
}

/// Druid's `BasicSecurityResourceFilter`. An identity is always there under the authentication
/// layer; without one (the router mounted without it), nobody gets in.
async fn require_security_permission(
    State(security): State<Security>,
    request: Request,
    next: Next,
) -> Response {
    let Some(identity) = request.extensions().get::<Identity>() else {
        return unauthorized(&security.config().host, AuthFailure::NoCredentials);
    };
    let action = Action::of_method(request.method());
    if !security.authorize(identity, &Resource::security(), action) {
        return forbidden();
    }
    next.run(request).await
}

/// `GET .../loadStatus`: whether this process has its maps, by authenticator or authorizer
/// name. A `Security` exists only once they are loaded.
fn load_status(name: &str) -> Response {
    Json(HashMap::from([(name, true)])).into_response()
}

/// `GET .../refreshAll`: re-read the maps now.
async fn refresh_all(State(security): State<Security>) -> Answer {
    security.refresh().await.map_err(store_error)?;
    Ok(StatusCode::OK.into_response())
}

/// The path's names, each checked: not empty, at most [`MAX_NAME`] characters, no control
/// characters, and no `:` in a user name (HTTP Basic could never send it).
struct Names(HashMap<String, String>);

impl Names {
    fn get(&self, kind: &str) -> &str {
        self.0.get(kind).map_or("", String::as_str)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Names {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Names, Refusal> {
        let Path(names) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| bad_request(e.body_text()))?;
        for (kind, name) in &names {
            let problem = if name.is_empty() {
                Some("is empty".to_string())
            } else if name.chars().count() > MAX_NAME {
                Some(format!("is longer than {MAX_NAME} characters"))
            } else if name.chars().any(char::is_control) {
                Some("contains control characters".to_string())
            } else if kind == "user" && name.contains(':') {
                Some("contains ':', which HTTP Basic authentication cannot send".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(bad_request(format!("Invalid {kind} name: it {problem}.")));
            }
        }
        Ok(Names(names))
    }
}

/// A JSON request body of at most [`MAX_BODY`] bytes.
async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, Refusal> {
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        if e.into_inner().is::<http_body_util::LengthLimitError>() {
            Refusal {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("Request body is larger than {MAX_BODY} bytes."),
            }
        } else {
            bad_request("Request body could not be read.")
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| bad_request(format!("Invalid JSON body: {e}")))
}

/// Whether the query has parameter `name`, with or without a value (Druid tests `!= null`).
fn has_param(query: Option<&str>, name: &str) -> bool {
    query
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair.split('=').next() == Some(name))
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

/// 503 while the store cannot be reached (the caller may retry), 500 for maps it cannot read.
fn store_error(e: StoreError) -> Refusal {
    let status = match e {
        StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Refusal {
        status,
        message: e.to_string(),
    }
}

fn update_error(e: UpdateError) -> Refusal {
    match e {
        UpdateError::Refused(message) => bad_request(message),
        UpdateError::Store(e) => store_error(e),
        UpdateError::Contended(message) => Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::has_param;

    #[test]
    fn flags_count_with_or_without_a_value() {
        assert!(has_param(Some("full"), "full"));
        assert!(has_param(
            Some("full=true&simplifyPermissions"),
            "simplifyPermissions"
        ));
        assert!(has_param(Some("x=1&full="), "full"));
        assert!(!has_param(Some("fuller"), "full"));
        assert!(!has_param(None, "full"));
    }
}
