//! What every Steward HTTP server and internal HTTP client share.
//!
//! Overlords and MiddleManagers face clients they do not control: a slow or idle client must not
//! hold a connection forever, a flood of connections must not exhaust the process's file
//! descriptors, every error must answer in Druid's JSON shape, and TLS must be available on the
//! same terms everywhere. Those rules live here once, so that the Overlord's API, the
//! MiddleManager's API and every internal client (Overlord ↔ MiddleManager, peon → Overlord)
//! cannot drift apart.

mod client;
mod errors;
mod idle;
mod server;
mod tls;

pub use client::{
    basic_authorization, client_builder, install_crypto_provider, path_segment, send,
    InternalClient,
};
pub use errors::{error_body, json_errors};
pub use rustls::ServerConfig as TlsServerConfig;
pub use server::{serve, Connections, ServerHandle, ServerLimits};
pub use tls::{load_ca, server_tls_config, TlsError};
