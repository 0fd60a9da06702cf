//! A fixed permission for a whole route, as Druid's `StateResourceFilter` and
//! `ConfigResourceFilter` guard theirs: the identity the authentication layer found must hold
//! it, else 403 before the handler runs. Routes whose resource depends on the request (a task's
//! datasource) call [`Security::authorize`] in the handler instead.

use std::future::Future;
use std::pin::Pin;

use axum::extract::{Request, State};
use axum::middleware::{from_fn_with_state, FromFnLayer, Next};
use axum::response::Response;
use axum::routing::MethodRouter;

use crate::authenticator::Identity;
use crate::resource::{Action, Resource};
use crate::responses::forbidden;
use crate::security::Security;

/// What a guarded route requires.
#[derive(Clone)]
pub struct Required {
    security: Security,
    resource: Resource,
    action: Action,
}

type Middleware =
    fn(State<Required>, Request, Next) -> Pin<Box<dyn Future<Output = Response> + Send>>;

/// The layer [`Security::require`] returns.
pub type RequireLayer = FromFnLayer<Middleware, Required, (State<Required>, Request)>;

impl Security {
    /// A route layer that lets a request through only if its identity may do `action` on
    /// `resource`: `get(handler).route_layer(security.require(Resource::state(), Action::Read))`.
    /// Apply it under [`Security::layer`], which puts the identity there.
    pub fn require(&self, resource: Resource, action: Action) -> RequireLayer {
        let middleware: Middleware = |state, request, next| Box::pin(check(state, request, next));
        from_fn_with_state(
            Required {
                security: self.clone(),
                resource,
                action,
            },
            middleware,
        )
    }
}

/// `route` behind [`Security::require`], or as it is when security is off.
pub fn guarded<S>(
    security: Option<&Security>,
    route: MethodRouter<S>,
    resource: Resource,
    action: Action,
) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    match security {
        Some(security) => route.route_layer(security.require(resource, action)),
        None => route,
    }
}

async fn check(State(required): State<Required>, request: Request, next: Next) -> Response {
    let allowed = request.extensions().get::<Identity>().is_some_and(|who| {
        required
            .security
            .authorize(who, &required.resource, required.action)
    });
    if allowed {
        next.run(request).await
    } else {
        forbidden()
    }
}
