//! Steward's web console: the pages an operator uses instead of curl (tasks, a task, submit,
//! services, datasources), served by the Overlord where Druid serves its unified console (`/`
//! and `/unified-console.html`), with its assets under `/console/{name}`.
//!
//! The console is plain HTML, CSS and JavaScript modules embedded in the binary with
//! `include_str!`: no separate install, no build step, nothing fetched from outside the
//! Overlord, so it works on a host without Internet access and cannot drift from the binary
//! that serves its API. Everything it shows comes from the Overlord's own HTTP API, called from
//! the browser with the browser's credentials; with Druid's basic security on, these routes sit
//! behind the same authentication layer as the API, so an anonymous browser gets the 401
//! challenge and shows its own login prompt.
//!
//! Each asset has a strong `ETag` (a hash of its content) and `Cache-Control: no-cache`: the
//! browser keeps it but asks again each time, and a conditional request of an unchanged asset
//! is a bodiless 304, so a new binary's console is never hidden behind a stale cache.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sha1::{Digest, Sha1};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// The page every console route answers with; the rest is loaded from `/console/`.
const INDEX: &str = "index.html";

/// An asset of this directory, served under its file name.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!($name),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("console.css", CSS),
    asset!("app.js", JS),
    asset!("ui.js", JS),
    asset!("tasks.js", JS),
    asset!("task.js", JS),
    asset!("submit.js", JS),
    asset!("services.js", JS),
    asset!("datasources.js", JS),
];

/// The console's routes. They carry no state, so they merge into the API's router after its
/// state is set, inside its authentication layer.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { serve(INDEX, &h) }))
        .route(
            "/unified-console.html",
            get(|h: HeaderMap| async move { serve(INDEX, &h) }),
        )
        .route(
            "/console/{name}",
            get(|Path(name): Path<String>, h: HeaderMap| async move { serve(&name, &h) }),
        )
}

/// The asset, a 304 when the request already holds its current version, or a 404 in Druid's
/// error shape.
fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some((index, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("No console asset [{name}]") })),
        )
            .into_response();
    };
    let etag = &etags()[index];
    let cache = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .any(|v| matches_etag(v, etag))
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let content_type = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    )];
    (cache, content_type, asset.body).into_response()
}

/// The assets' entity tags, in [`ASSETS`] order, hashed once per process.
fn etags() -> &'static [HeaderValue] {
    static ETAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha1::digest(a.body.as_bytes());
                let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
                HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header")
            })
            .collect()
    })
}

/// `If-None-Match` with RFC 9110's weak comparison: `*`, or a list of tags one of which is
/// ours with or without the `W/` prefix.
fn matches_etag(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(value) = if_none_match.to_str() else {
        return false;
    };
    let ours = etag.to_str().unwrap_or_default();
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
}

#[cfg(test)]
mod tests;
