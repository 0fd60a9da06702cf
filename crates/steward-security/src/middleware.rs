//! The authentication layer for a process's HTTP router: every request must carry valid HTTP
//! Basic credentials, except those to Druid's unsecured paths (and, if allowed, OPTIONS
//! requests without credentials), as in Druid's filter chain. The [`Identity`] found is put into
//! the request's extensions for the handlers' authorization checks
//! ([`crate::Security::authorize`]); a request that fails gets 401 and never reaches a handler.

use std::future::Future;
use std::pin::Pin;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{from_fn_with_state, FromFnLayer, Next};
use axum::response::Response;

use crate::authenticator::{basic_credentials, AuthFailure, Identity};
use crate::config::ALLOW_ALL;
use crate::responses::unauthorized;
use crate::security::Security;

type Middleware =
    fn(State<Security>, Request, Next) -> Pin<Box<dyn Future<Output = Response> + Send>>;

/// The layer [`Security::layer`] returns.
pub type AuthenticationLayer = FromFnLayer<Middleware, Security, (State<Security>, Request)>;

impl Security {
    /// The authentication layer: `Router::new().route(...).layer(security.layer())`.
    pub fn layer(&self) -> AuthenticationLayer {
        let middleware: Middleware =
            |state, request, next| Box::pin(authenticate(state, request, next));
        from_fn_with_state(self.clone(), middleware)
    }
}

async fn authenticate(
    State(security): State<Security>,
    mut request: Request,
    next: Next,
) -> Response {
    let config = security.config();
    let path = request.uri().path();
    if config.unsecured_paths.iter().any(|p| matches(p, path)) {
        request.extensions_mut().insert(allow_all());
        return next.run(request).await;
    }
    let identity = match basic_credentials(request.headers()) {
        Ok((user, password)) => match security.remembered(&user, &password) {
            Some(identity) => Ok(identity),
            None => security.verify_in_turn(user, password).await,
        },
        // Druid answers OPTIONS itself (nothing behind it checks authorization), and lets it
        // through without credentials when configured to.
        Err(AuthFailure::NoCredentials)
            if request.method() == Method::OPTIONS && config.allow_unauthenticated_http_options =>
        {
            Ok(allow_all())
        }
        Err(failure) => Err(failure),
    };
    match identity {
        Ok(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(failure) => unauthorized(&config.host, failure),
    }
}

/// Druid's identity for requests that skip authentication.
fn allow_all() -> Identity {
    Identity {
        name: ALLOW_ALL.to_string(),
        authorizer: ALLOW_ALL.to_string(),
    }
}

/// Servlet path mapping, as Druid's filters are mapped: `/prefix/*` covers the prefix and
/// everything under it, `*.ext` every path whose last segment has that extension, anything else
/// only itself. The path is matched as the router sees it (not decoded, not normalised), so a
/// path is unsecured exactly when the route it reaches is.
fn matches(pattern: &str, path: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix("/*") {
        return path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'));
    }
    if let Some(extension) = pattern.strip_prefix("*.") {
        let last = path.rsplit('/').next().unwrap_or(path);
        return last
            .strip_suffix(extension)
            .is_some_and(|stem| stem.ends_with('.'));
    }
    pattern == path
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn paths_are_matched_like_servlet_mappings() {
        assert!(matches("/status/health", "/status/health"));
        assert!(!matches("/status/health", "/status/health/"));
        assert!(!matches("/status/health", "/status/healthz"));
        assert!(!matches("/status/health", "/status"));
        assert!(matches("/public/*", "/public"));
        assert!(matches("/public/*", "/public/a/b"));
        assert!(!matches("/public/*", "/publicity"));
        assert!(matches("*.js", "/console/app.js"));
        assert!(!matches("*.js", "/console/appjs"));
        assert!(!matches("*.js", "/console.js/secret"));
        assert!(matches("/", "/"));
        assert!(!matches("/", "/druid/indexer/v1/task"));
    }
}
