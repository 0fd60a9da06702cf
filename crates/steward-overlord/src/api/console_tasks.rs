//! `GET /druid/indexer/v1/steward/tasks`: one page of the web console's task table, in one of
//! four orders, with how many tasks match the filters in each state.
//!
//! Active tasks come from the Overlord's memory (few), complete ones from the store a page at a
//! time; the page is the two merged in the requested order. Every order ends with the task id,
//! so a row's place in it is its key, and the `next` cursor is the key of the page's last row:
//! the next page is what follows that key in memory and in the store alike (keyset paging, as
//! cheap deep in a long history as at its start, and right across a task that completes between
//! two pages, as its key does not change). `offset` skips rows instead, for small jumps.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use axum::extract::{Query, State};
use axum::Json;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;
use steward_metadata::{TaskPageQuery, TaskSort, TaskSortKey};
use steward_model::time::parse_instant;
use steward_model::{RunnerTaskState, TaskState, TaskStatusPlus};
use steward_security::Identity;

use super::errors::{invalid_input, ApiError, ApiResult};
use super::extract::Caller;
use super::listings::created_time_interval;
use super::state::{status_plus_from_info, AppState};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

/// The states of the `state` parameter; a task is in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageState {
    Running,
    Pending,
    Waiting,
    Complete,
}

const STATES: [(&str, PageState); 4] = [
    ("running", PageState::Running),
    ("pending", PageState::Pending),
    ("waiting", PageState::Waiting),
    ("complete", PageState::Complete),
];

const SORTS: [(&str, TaskSort); 4] = [
    ("created", TaskSort::Created),
    ("id", TaskSort::Id),
    ("datasource", TaskSort::DataSource),
    ("type", TaskSort::Type),
];

/// The query parameters, checked.
#[derive(Debug)]
struct PageParams {
    states: Vec<PageState>,
    data_source: Option<String>,
    task_type: Option<String>,
    id_contains: Option<String>,
    interval: Option<(Timestamp, Timestamp)>,
    sort: TaskSort,
    descending: bool,
    limit: usize,
    after: Option<TaskSortKey>,
    offset: usize,
}

fn invalid(name: &str, value: &str, expected: &str) -> ApiError {
    invalid_input(format!("Invalid {name} [{value}]: expected {expected}"))
}

fn parse_params(params: &HashMap<String, String>) -> ApiResult<PageParams> {
    let states = match params.get("state") {
        None => STATES.iter().map(|(_, s)| *s).collect(),
        Some(v) => v
            .split(',')
            .map(|name| {
                let name = name.trim().to_ascii_lowercase();
                STATES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| invalid("state", v, "running, pending, waiting or complete"))
            })
            .collect::<ApiResult<Vec<_>>>()?,
    };
    let sort = match params.get("sort") {
        None => TaskSort::Created,
        Some(v) => {
            sort_named(v).ok_or_else(|| invalid("sort", v, "created, id, datasource or type"))?
        }
    };
    let descending = match params.get("order").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(v) => return Err(invalid("order", v, "asc or desc")),
    };
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit", v, "an integer from 1 to 1000"))?,
    };
    let offset = match params.get("offset") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| invalid("offset", v, "a non-negative integer"))?,
    };
    let after = params
        .get("after")
        .map(|v| decode_cursor(v, sort, descending))
        .transpose()?;
    let interval = params
        .get("createdTimeInterval")
        .map(|v| created_time_interval(v))
        .transpose()
        .map_err(invalid_input)?;
    let text = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    Ok(PageParams {
        states,
        data_source: text("datasource"),
        task_type: text("type"),
        id_contains: text("id"),
        interval,
        sort,
        descending,
        limit,
        after,
        offset,
    })
}

fn sort_named(name: &str) -> Option<TaskSort> {
    SORTS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

fn sort_name(sort: TaskSort) -> &'static str {
    SORTS
        .iter()
        .find(|(_, s)| *s == sort)
        .map_or("created", |(n, _)| n)
}

fn order_name(descending: bool) -> &'static str {
    if descending {
        "desc"
    } else {
        "asc"
    }
}

/// The cursor after `key`: its sort, order and key as hex-encoded JSON, opaque to the client
/// and safe in a URL without escaping.
fn encode_cursor(sort: TaskSort, descending: bool, key: &TaskSortKey) -> String {
    let text = json!([sort_name(sort), order_name(descending), key.value, key.id]).to_string();
    text.bytes().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The key a cursor continues after; a 400 if it is not one, or continues another order.
fn decode_cursor(text: &str, sort: TaskSort, descending: bool) -> ApiResult<TaskSortKey> {
    let malformed = || invalid("after", text, "the next cursor of a previous answer");
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(malformed)?;
    let (sorted, order, value, id): (String, String, String, String) =
        serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    if sorted != sort_name(sort) || order != order_name(descending) {
        return Err(invalid_input(format!(
            "Invalid after [{text}]: it continues the order sort={sorted}&order={order}, not \
             sort={}&order={}",
            sort_name(sort),
            order_name(descending)
        )));
    }
    Ok(TaskSortKey { value, id })
}

/// A task's key in the order (what the store orders its rows by: byte order, then the id).
fn key_of(task: &TaskStatusPlus, sort: TaskSort) -> TaskSortKey {
    let value = match sort {
        TaskSort::Created => &task.created_time,
        TaskSort::Id => &task.id,
        TaskSort::DataSource => &task.data_source,
        TaskSort::Type => &task.task_type,
    };
    TaskSortKey {
        value: value.clone(),
        id: task.id.clone(),
    }
}

fn compare(a: &TaskSortKey, b: &TaskSortKey, descending: bool) -> Ordering {
    let ascending = (a.value.as_str(), a.id.as_str()).cmp(&(b.value.as_str(), b.id.as_str()));
    if descending {
        ascending.reverse()
    } else {
        ascending
    }
}

/// How many tasks match the filters in each state.
#[derive(Debug, Default, Serialize)]
pub(super) struct StateCounts {
    running: u64,
    pending: u64,
    waiting: u64,
    complete: u64,
}

impl StateCounts {
    fn of(&mut self, state: PageState) -> &mut u64 {
        match state {
            PageState::Running => &mut self.running,
            PageState::Pending => &mut self.pending,
            PageState::Waiting => &mut self.waiting,
            PageState::Complete => &mut self.complete,
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct TaskPageAnswer {
    total: u64,
    counts: StateCounts,
    tasks: Vec<TaskStatusPlus>,
    next: Option<String>,
}

pub(super) async fn task_page(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<TaskPageAnswer>> {
    let p = parse_params(&params)?;
    let who = who.as_ref();
    if let Some(ds) = &p.data_source {
        if !s.may_read(who, ds) {
            return Err(ApiError::Forbidden);
        }
    }
    let in_memory = in_memory(&s, who, &p).await?;
    let mut counts = StateCounts::default();
    for (state, _) in &in_memory {
        *counts.of(*state) += 1;
    }
    let memory_ids: HashSet<String> = in_memory.iter().map(|(_, t)| t.id.clone()).collect();
    let mut memory: Vec<(TaskSortKey, TaskStatusPlus)> = in_memory
        .into_iter()
        .filter(|(state, _)| p.states.contains(state))
        .map(|(_, t)| (key_of(&t, p.sort), t))
        .filter(|(key, _)| {
            p.after
                .as_ref()
                .is_none_or(|after| compare(key, after, p.descending) == Ordering::Greater)
        })
        .collect();
    memory.sort_by(|(a, _), (b, _)| compare(a, b, p.descending));

    // The store's rows before the first one read precede every row of the page, wherever the
    // active tasks fall among them (at most `before` of those can come before the offset).
    let with_complete = p.states.contains(&PageState::Complete);
    let before = memory.len().min(p.offset);
    let query = TaskPageQuery {
        data_source: p.data_source.clone(),
        task_type: p.task_type.clone(),
        id_contains: p.id_contains.clone(),
        created_after: p.interval.map(|(a, _)| a),
        created_before: p.interval.map(|(_, b)| b),
        readable: readable(&s, who, &p).await?,
        sort: p.sort,
        descending: p.descending,
        after: p.after.clone(),
        offset: if with_complete { p.offset - before } else { 0 },
        // One row past the page tells whether there is a next one; none when only counted.
        limit: if with_complete {
            p.limit + before + 1
        } else {
            0
        },
    };
    let stored = s.store().complete_task_page(&query).await?;
    counts.complete += stored.total;
    let complete = stored
        .tasks
        .into_iter()
        .filter(|info| !memory_ids.contains(&info.id))
        .map(status_plus_from_info)
        .map(|t| (key_of(&t, p.sort), t));
    let merged = merge(memory, complete.collect(), p.descending);
    // The merged list starts `offset - before` rows into the order when the store was read
    // from there, at the cursor (or the start) otherwise.
    let skip = if with_complete { before } else { p.offset };
    let more = merged.len() > skip + p.limit;
    let tasks: Vec<(TaskSortKey, TaskStatusPlus)> =
        merged.into_iter().skip(skip).take(p.limit).collect();
    let next = more
        .then(|| tasks.last())
        .flatten()
        .map(|(key, _)| encode_cursor(p.sort, p.descending, key));
    let total = p.states.iter().map(|state| *counts.of(*state)).sum();
    Ok(Json(TaskPageAnswer {
        total,
        counts,
        tasks: tasks.into_iter().map(|(_, t)| t).collect(),
        next,
    }))
}

/// Two lists each in the order, as one.
fn merge<T>(
    a: Vec<(TaskSortKey, T)>,
    b: Vec<(TaskSortKey, T)>,
    descending: bool,
) -> Vec<(TaskSortKey, T)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some((x, _)), Some((y, _))) => compare(x, y, descending) != Ordering::Greater,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
}

/// The active tasks in memory that match the filters and the caller may read, with their
/// states; a task already stored as complete is left to the store's rows (it ended between the
/// two reads), so that no task is counted twice.
async fn in_memory(
    s: &AppState,
    who: Option<&Identity>,
    p: &PageParams,
) -> ApiResult<Vec<(PageState, TaskStatusPlus)>> {
    let keep = |t: &TaskStatusPlus| {
        p.data_source.as_deref().is_none_or(|d| t.data_source == d)
            && p.task_type.as_deref().is_none_or(|ty| t.task_type == ty)
            && p.id_contains
                .as_deref()
                .is_none_or(|part| t.id.contains(part))
            && p.interval
                .is_none_or(|(a, b)| parse_instant(&t.created_time).is_ok_and(|c| a <= c && c < b))
    };
    let mut active: Vec<TaskStatusPlus> = s
        .overlord()?
        .query(|c| c.active_statuses())
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|t| keep(t))
        .collect();
    s.retain_readable(who, &mut active, |t| &t.data_source);
    let ids: Vec<String> = active.iter().map(|t| t.id.clone()).collect();
    let stored_complete: HashSet<String> = s
        .store()
        .get_infos(&ids)
        .await?
        .into_iter()
        .filter(|info| !info.active)
        .map(|info| info.id)
        .collect();
    Ok(active
        .into_iter()
        .filter(|t| !stored_complete.contains(&t.id))
        .map(|t| (state_of(&t), t))
        .collect())
}

/// An ended task still in memory (its end not stored yet) is complete.
fn state_of(t: &TaskStatusPlus) -> PageState {
    if t.status_code != TaskState::Running {
        return PageState::Complete;
    }
    match t.runner_status_code {
        RunnerTaskState::Running => PageState::Running,
        RunnerTaskState::Pending => PageState::Pending,
        RunnerTaskState::Waiting => PageState::Waiting,
        RunnerTaskState::None => PageState::Complete,
    }
}

/// The datasources of complete tasks the caller may read, when it may not read them all
/// (`None`: no restriction, security off or one readable datasource asked for).
async fn readable(
    s: &AppState,
    who: Option<&Identity>,
    p: &PageParams,
) -> ApiResult<Option<Vec<String>>> {
    if s.config.security.is_none() || p.data_source.is_some() {
        return Ok(None);
    }
    let names = s.store().complete_task_data_sources().await?;
    let readable: Vec<String> = names
        .iter()
        .filter(|ds| s.may_read(who, ds))
        .cloned()
        .collect();
    Ok((readable.len() < names.len()).then_some(readable))
}
