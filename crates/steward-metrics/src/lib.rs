//! Druid's metrics in Prometheus' text format, for `GET /metrics` on the Overlord and on each
//! MiddleManager.
//!
//! Operators who run Druid with its `prometheus-emitter` extension have dashboards and alerts
//! on its metric names; Steward serves the same figures under the same names, types and
//! labels ([`naming`], [`catalogue`]). [`registry`] says why each service keeps its own
//! registry rather than the process-global recorder, and which figures are computed at scrape
//! time.

pub mod catalogue;
mod naming;
mod registry;

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub use naming::{prometheus_name, NAMESPACE};
pub use registry::{Metrics, Scrape};

/// The content type of Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A `/metrics` answer carrying `text`.
pub fn response(text: String) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}
