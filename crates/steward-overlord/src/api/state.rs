//! What every handler shares: the Overlord behind the API (through the leadership's
//! [`TaskMaster`]), the HTTP settings, and the permission checks that depend on the request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::request::Parts;
use jiff::Timestamp;
use steward_metadata::{MetadataStore, TaskInfo};
use steward_metrics::Metrics;
use steward_model::time::format_ts;
use steward_model::{RunnerTaskState, TaskStatusPlus};
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
    /// The registry `/metrics` serves: the one the Overlord (each term of it) records in.
    pub metrics: Metrics,
}

#[derive(Clone)]
pub(super) struct AppState {
    pub(super) master: TaskMaster,
    pub(super) config: Arc<ApiConfig>,
}

impl AppState {
    /// The running term's Overlord; 503 when there is none (Druid's "not (half) leader").
    pub(super) fn overlord(&self) -> ApiResult<Overlord> {
        self.master.overlord().ok_or_else(not_leading)
    }

    /// The metadata store, on a leader and on a standby alike.
    pub(super) fn store(&self) -> &Arc<dyn MetadataStore> {
        self.master.store()
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

    /// Whether the caller may read datasource `ds`: what listings keep.
    pub(super) fn may_read(&self, caller: Option<&Identity>, ds: &str) -> bool {
        self.allows(caller, &Resource::datasource(ds), Action::Read)
    }

    /// Keeps the items of datasources the caller may read (`data_source` names an item's),
    /// asking once per datasource.
    pub(super) fn retain_readable<T>(
        &self,
        caller: Option<&Identity>,
        items: &mut Vec<T>,
        data_source: impl Fn(&T) -> &str,
    ) {
        if self.config.security.is_none() {
            return;
        }
        let mut readable: HashMap<String, bool> = HashMap::new();
        items.retain(|item| {
            let ds = data_source(item);
            match readable.get(ds) {
                Some(known) => *known,
                None => {
                    let may = self.may_read(caller, ds);
                    readable.insert(ds.to_string(), may);
                    may
                }
            }
        });
    }

    /// Druid's `TaskResourceFilter`, with security on: the task must exist (404 otherwise) and
    /// the caller may act on its datasource (403 otherwise), READ for a GET, WRITE otherwise.
    /// Returns the status it looked up, so that a handler needing it does not look again.
    pub(super) async fn authorize_task(
        &self,
        parts: &Parts,
        id: &str,
    ) -> ApiResult<Option<TaskStatusPlus>> {
        if self.config.security.is_none() {
            return Ok(None);
        }
        let status = self
            .find_status(id)
            .await?
            .ok_or_else(|| task_not_found(id))?;
        let resource = Resource::datasource(status.data_source.clone());
        match self.allows(caller(parts), &resource, Action::of_method(&parts.method)) {
            true => Ok(Some(status)),
            false => Err(ApiError::Forbidden),
        }
    }

    /// A task's status: from memory while it is active, else from its stored row.
    pub(super) async fn find_status(&self, id: &str) -> ApiResult<Option<TaskStatusPlus>> {
        let key = id.to_string();
        if let Some(Some(v)) = self.overlord()?.query(move |c| c.active_status(&key)).await {
            return Ok(Some(v));
        }
        Ok(self
            .overlord()?
            .store()
            .get_info(id)
            .await?
            .map(status_plus_from_info))
    }
}

/// The stored row of a finished (or not yet known to memory) task, as `TaskStatusPlus`.
pub(super) fn status_plus_from_info(info: TaskInfo) -> TaskStatusPlus {
    let runner = if info.active {
        RunnerTaskState::Waiting
    } else {
        RunnerTaskState::None
    };
    TaskStatusPlus {
        id: info.id,
        group_id: info.group_id,
        task_type: info.task_type,
        created_time: format_ts(info.created_time),
        queue_insertion_time: format_ts(Timestamp::UNIX_EPOCH),
        status_code: info.status.status,
        status: info.status.status,
        runner_status_code: runner,
        duration: info.status.duration,
        location: info.status.location,
        data_source: info.data_source,
        error_msg: info.status.error_msg,
    }
}

/// The identity the authentication layer found (none with security off).
pub(super) fn caller(parts: &Parts) -> Option<&Identity> {
    parts.extensions.get::<Identity>()
}
