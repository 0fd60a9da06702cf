//! Authentication and authorization for Steward's HTTP APIs, the equivalent of Druid's
//! `druid-basic-security` extension: users with PBKDF2-hashed passwords log in with HTTP Basic,
//! roles grant permissions (an action on resources of a type whose names match a regular
//! expression), and the users and roles live in the metadata store's `druid_config` table under
//! Druid's keys, managed through Druid's `/druid-ext/basic-security/...` API. Operators
//! configure it with Druid's properties.
//!
//! A process builds a [`SecurityConfig`] from its properties and, if security is on, a
//! [`Security`]: [`Security::with_store`] on the Overlord, [`Security::without_store`] on a
//! MiddleManager. Then:
//!
//! ```ignore
//! let app = Router::new()
//!     .route(...)                       // handlers check security.authorize(&identity, ...)
//!     .merge(security.router())         // the management API (Overlord only)
//!     .layer(security.layer());         // 401 unless authenticated; puts Identity into extensions
//! ```
//!
//! and calls to other processes carry `security.escalator().authorization()`.

mod authenticator;
mod config;
mod credentials;
mod entities;
mod escalator;
mod management;
mod middleware;
mod password;
mod require;
mod resource;
mod responses;
mod security;
mod seed;
mod snapshot;
mod store;
#[cfg(test)]
mod tests;

pub use authenticator::{AuthFailure, Identity};
pub use config::SecurityConfig;
pub use escalator::Escalator;
pub use middleware::AuthenticationLayer;
pub use require::{guarded, RequireLayer};
pub use resource::{Action, Resource, ResourceType};
pub use responses::forbidden;
pub use security::Security;
