//! What every handler shares: the Overlord behind the API (through the leadership's
//! [`TaskMaster`]), the HTTP settings, and the permission checks that depend on the request.

use std::time::Duration;

use axum::http::request::Parts;
use steward_security::{Action, Identity, Resource, Security};

use super::errors::{not_leading, task_not_found, ApiError, ApiResult};
use crate::driver::Overlord;
use crate::master::TaskMaster;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// This Overlord's own URL (`http://host:port`), answered by `/leader`.
    pub self_url: String,
    /// `druid.indexer.storage.recentlyFinishedThreshold`: complete tasks listed without an
    /// explicit interval are limited to those created in this window.
    pub recently_finished_threshold: Duration,
    /// Authentication and authorization (Druid's basic security), or `None` when it is off.
    pub security: Option<Security>,
}

#[derive(Clone)]
pub(super) struct AppState {
    pub(super) master: TaskMaster,
    pub(super) config: std::sync::Arc<ApiConfig>,
}

impl AppState {
    /// The running term's Overlord; 503 when there is none (Druid's "not (half) leader").
    pub(super) fn overlord(&self) -> ApiResult<Overlord> {
        self.master.overlord().ok_or_else(not_leading)
    }

    /// Whether the caller may do `action` on `resource`; always, with security off.
    pub(super) fn allows(
        &self,
        caller: Option<&Identity>,
        resource: &Resource,
        action: Action,
    ) -> bool {
        match &self.config.security {
            None => true,
            Some(security) => caller.is_some_and(|who| security.authorize(who, resource, action)),
        }
    }

    /// Druid's `TaskResourceFilter`, with security on: the task must exist (404 otherwise) and
    /// the caller may act on its datasource (403 otherwise), READ for a GET, WRITE otherwise.
    pub(super) async fn authorize_task(&self, parts: &Parts, id: &str) -> ApiResult<()> {
        if self.config.security.is_none() {
            return Ok(());
        }
        let data_source = self
            .task_data_source(id)
            .await?
            .ok_or_else(|| task_not_found(id))?;
        let resource = Resource::datasource(data_source);
        match self.allows(caller(parts), &resource, Action::of_method(&parts.method)) {
            true => Ok(()),
            false => Err(ApiError::Forbidden),
        }
    }

    pub(super) async fn task_data_source(&self, id: &str) -> ApiResult<Option<String>> {
        let key = id.to_string();
        let active = self
            .overlord()?
            .query(move |c| c.active_task(&key).map(|t| t.data_source().to_string()))
            .await
            .flatten();
        if active.is_some() {
            return Ok(active);
        }
        Ok(self
            .overlord()?
            .store()
            .get_info(id)
            .await?
            .map(|info| info.data_source))
    }
}

/// The identity the authentication layer found (none with security off).
pub(super) fn caller(parts: &Parts) -> Option<&Identity> {
    parts.extensions.get::<Identity>()
}
