//! The statements that read and write the store's rows, built once per store from the table
//! names in the database's syntax. Fixed statements are shared strings, so that running one
//! clones a pointer, not the text; listings and audit reads vary with their filters and are built
//! per call, with their values bound here too, so that the order of a statement's placeholders
//! and the order of its values are decided in one place. The segment tables' statements are
//! [`SegmentStatements`].

use std::sync::Arc;

use jiff::Timestamp;
use sqlx::query::Query;
use sqlx::AssertSqlSafe;

use super::dialect::{BatchDelete, Dialect, Syntax};
use super::params::{bound, Param};
use super::schema::{TableNames, BY_ACTIVE, BY_DATASOURCE, BY_DATASOURCE_TYPE, BY_TYPE};
use super::segment_statements::SegmentStatements;
use crate::TaskQuery;

/// The columns of a [`crate::TaskInfo`]: everything but the task payload, which listings never
/// need.
pub(super) const INFO_COLUMNS: &str =
    "id, created_date, datasource, status_payload, active, type, group_id";

/// Ids per `IN (...)` list: under every supported database's placeholder limit (SQLite builds
/// before 3.32 allow 999), and short enough to plan quickly.
pub(super) const ID_CHUNK: usize = 500;

/// Rows per read of the `type`/`group_id` backfill.
pub(super) const BACKFILL_BATCH: usize = 500;

/// Which optional clauses a `list` statement has; its placeholders come in this field order.
#[derive(Debug, Clone, Copy)]
struct ListFilters {
    data_source: bool,
    task_type: bool,
    created_after: bool,
    created_before: bool,
    limited: bool,
}

/// Which optional clauses an `audit_history` statement has; its placeholders come after the
/// key's, in this field order.
#[derive(Debug, Clone, Copy)]
struct AuditFilters {
    created_after: bool,
    created_before: bool,
    limited: bool,
}

/// Every statement on the store's rows.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(super) syntax: Syntax,
    pub(super) names: TableNames,
    /// Rows of an older Druid without `type` (`active` is the placeholder, so the index
    /// starting with `active, type` finds them, or finds quickly that there are none).
    pub(super) untyped_rows: Arc<str>,
    pub(super) set_type_and_group_id: Arc<str>,
    pub(super) insert: Arc<str>,
    pub(super) set_status: Arc<str>,
    pub(super) get_payload: Arc<str>,
    pub(super) get_info: Arc<str>,
    pub(crate) active_tasks: Arc<str>,
    pub(super) get_config: Arc<str>,
    pub(super) upsert_config: Arc<str>,
    pub(super) insert_config: Arc<str>,
    pub(super) swap_config: Arc<str>,
    pub(super) insert_audit: Arc<str>,
    pub(super) delete_complete: Arc<str>,
    pub(super) insert_lock: Arc<str>,
    /// A task's lock rows, oldest first.
    pub(super) task_locks: Arc<str>,
    pub(super) delete_lock: Arc<str>,
    pub(super) delete_task_locks: Arc<str>,
    pub(super) active_locks: Arc<str>,
    pub(super) segments: SegmentStatements,
}

impl Statements {
    pub(super) fn new(syntax: Syntax, names: TableNames) -> Statements {
        let TableNames {
            tasks: t,
            locks: l,
            config: c,
            audit: a,
            ..
        } = &names;
        let numbered = |sql: String| -> Arc<str> { syntax.number_placeholders(sql).into() };
        Statements {
            untyped_rows: numbered(format!(
                "SELECT id, payload FROM {t} WHERE active = ? AND type IS NULL \
                 LIMIT {BACKFILL_BATCH}"
            )),
            set_type_and_group_id: numbered(format!(
                "UPDATE {t} SET type = ?, group_id = ? WHERE id = ?"
            )),
            insert: numbered(format!(
                "INSERT INTO {t} (id, created_date, datasource, payload, status_payload, active, \
                 type, group_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            set_status: numbered(format!(
                "UPDATE {t} SET active = ?, status_payload = ? WHERE id = ? AND active = TRUE"
            )),
            get_payload: numbered(format!("SELECT payload FROM {t} WHERE id = ?")),
            get_info: numbered(format!("SELECT {INFO_COLUMNS} FROM {t} WHERE id = ?")),
            active_tasks: format!(
                "SELECT {INFO_COLUMNS}, payload FROM {t}{} WHERE active = TRUE \
                 ORDER BY created_date ASC",
                syntax.index_hint.on(&names.task_index(BY_ACTIVE))
            )
            .into(),
            get_config: numbered(format!("SELECT payload FROM {c} WHERE name = ?")),
            upsert_config: numbered(format!(
                "INSERT INTO {c} (name, payload) VALUES (?, ?) {}",
                syntax.upsert_payload
            )),
            insert_config: numbered(format!("INSERT INTO {c} (name, payload) VALUES (?, ?)")),
            // MySQL counts matched rows (sqlx sets CLIENT_FOUND_ROWS), so swapping in the
            // expected payload itself also counts as done, as everywhere else.
            swap_config: numbered(format!(
                "UPDATE {c} SET payload = ? WHERE name = ? AND payload = ?"
            )),
            insert_audit: numbered(format!(
                "INSERT INTO {a} (audit_key, type, author, comment, created_date, payload) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            )),
            delete_complete: numbered(match syntax.batch_delete {
                BatchDelete::Subquery => format!(
                    "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} \
                     WHERE active = FALSE AND created_date < ? LIMIT ?)"
                ),
                BatchDelete::Limit => {
                    format!("DELETE FROM {t} WHERE active = FALSE AND created_date < ? LIMIT ?")
                }
            }),
            insert_lock: numbered(format!(
                "INSERT INTO {l} (task_id, lock_payload) VALUES (?, ?)"
            )),
            task_locks: numbered(format!(
                "SELECT id, lock_payload FROM {l} WHERE task_id = ? ORDER BY id"
            )),
            delete_lock: numbered(format!("DELETE FROM {l} WHERE id = ?")),
            delete_task_locks: numbered(format!("DELETE FROM {l} WHERE task_id = ?")),
            active_locks: format!(
                "SELECT l.id, l.task_id, l.lock_payload FROM {l} l JOIN {t} t ON t.id = l.task_id \
                 WHERE t.active = TRUE ORDER BY l.id"
            )
            .into(),
            segments: SegmentStatements::new(&syntax, &names),
            names,
            syntax,
        }
    }

    /// The statement in this database's placeholder syntax.
    pub(crate) fn numbered(&self, sql: String) -> String {
        self.syntax.number_placeholders(sql)
    }

    /// The rows of `count` ids.
    pub(crate) fn infos_by_ids(&self, count: usize) -> String {
        let placeholders = vec!["?"; count].join(", ");
        self.numbered(format!(
            "SELECT {INFO_COLUMNS} FROM {} WHERE id IN ({placeholders})",
            self.names.tasks
        ))
    }

    /// The `list` query for one group (active or complete), with the filter values bound in the
    /// order [`Statements::list`] placed their placeholders.
    pub(crate) fn list_query<D: Dialect>(
        &self,
        active: bool,
        query: &TaskQuery,
    ) -> Query<'static, D, D::Arguments> {
        let limit = if active { None } else { query.max_complete };
        let filters = ListFilters {
            data_source: query.data_source.is_some(),
            task_type: query.task_type.is_some(),
            created_after: query.created_after.is_some(),
            created_before: query.created_before.is_some(),
            limited: limit.is_some(),
        };
        let params = [
            query.data_source.as_deref().map(Param::from),
            query.task_type.as_deref().map(Param::from),
            query.created_after.map(|t| Param::Text(bound(t))),
            query.created_before.map(|t| Param::Text(bound(t))),
            limit.map(Param::from),
        ];
        super::params::query(
            AssertSqlSafe(self.list(active, filters)),
            params.into_iter().flatten(),
        )
    }

    /// Active rows oldest first, or complete rows newest first.
    fn list(&self, active: bool, filters: ListFilters) -> String {
        let index = match (filters.data_source, filters.task_type) {
            (false, false) => BY_ACTIVE,
            (true, false) => BY_DATASOURCE,
            (false, true) => BY_TYPE,
            (true, true) => BY_DATASOURCE_TYPE,
        };
        let mut sql = format!(
            "SELECT {INFO_COLUMNS} FROM {}{} WHERE active = {}",
            self.names.tasks,
            self.syntax.index_hint.on(&self.names.task_index(index)),
            if active { "TRUE" } else { "FALSE" },
        );
        if filters.data_source {
            sql.push_str(" AND datasource = ?");
        }
        if filters.task_type {
            sql.push_str(" AND type = ?");
        }
        if filters.created_after {
            sql.push_str(" AND created_date >= ?");
        }
        if filters.created_before {
            sql.push_str(" AND created_date < ?");
        }
        sql.push_str(if active {
            " ORDER BY created_date ASC"
        } else {
            " ORDER BY created_date DESC"
        });
        if filters.limited {
            sql.push_str(" LIMIT ?");
        }
        self.numbered(sql)
    }

    /// The `audit_history` query, with the filter values bound in the order
    /// [`Statements::audit_history`] placed their placeholders.
    pub(crate) fn audit_query<D: Dialect>(
        &self,
        key: &str,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        limit: Option<usize>,
    ) -> Query<'static, D, D::Arguments> {
        let filters = AuditFilters {
            created_after: created_after.is_some(),
            created_before: created_before.is_some(),
            limited: limit.is_some(),
        };
        let params = [
            Some(Param::from(key)),
            created_after.map(|t| Param::Text(bound(t))),
            created_before.map(|t| Param::Text(bound(t))),
            limit.map(Param::from),
        ];
        super::params::query(
            AssertSqlSafe(self.audit_history(filters)),
            params.into_iter().flatten(),
        )
    }

    /// A key's audit rows, newest first.
    fn audit_history(&self, filters: AuditFilters) -> String {
        let mut sql = format!(
            "SELECT id, payload FROM {}{} WHERE audit_key = ?",
            self.names.audit,
            self.syntax.index_hint.on(&self.names.audit_index())
        );
        if filters.created_after {
            sql.push_str(" AND created_date >= ?");
        }
        if filters.created_before {
            sql.push_str(" AND created_date < ?");
        }
        sql.push_str(" ORDER BY created_date DESC, id DESC");
        if filters.limited {
            sql.push_str(" LIMIT ?");
        }
        self.numbered(sql)
    }
}
