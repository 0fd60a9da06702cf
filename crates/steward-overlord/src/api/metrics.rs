//! `GET /metrics`: the Overlord's figures in Prometheus' text format, with the names Druid's
//! Prometheus emitter gives them (see `steward_metrics`).
//!
//! What is recorded as it happens (task ends, assignments, metadata-store and ZooKeeper
//! requests) comes from the registry the Overlord was started with; the counts of what exists
//! now are computed for each scrape: tasks and task slots from the core (on the leader only:
//! a standby has none), used segments per datasource from the metadata store (on every
//! Overlord, as the segment metadata API is).

use axum::extract::State;
use axum::response::Response;
use steward_metrics::catalogue::{SEGMENT_COUNT, SEGMENT_SIZE};
use steward_metrics::{response, Scrape};
use tracing::warn;

use super::state::AppState;
use crate::driver::scrape;

pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    let figures = match s.master.overlord() {
        Some(overlord) => overlord.query(scrape).await.unwrap_or_default(),
        None => Scrape::new(),
    };
    // A store outage leaves the segment gauges out of this scrape, not the rest of it.
    match s.store().data_sources(false).await {
        Ok(data_sources) => {
            for ds in data_sources {
                let labels = [ds.name.as_str()];
                figures.gauge(&SEGMENT_COUNT, &labels, ds.segment_count as f64);
                figures.gauge(&SEGMENT_SIZE, &labels, ds.total_size as f64);
            }
        }
        Err(e) => warn!(error = %e, "cannot count segments for /metrics"),
    }
    response(s.config.metrics.render(figures))
}
