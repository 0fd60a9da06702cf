//! Pages of complete rows for the web console's task table ([`TaskPageQuery`]): one page in any
//! [`TaskSort`] order under its filters, continued after a row (keyset) or skipped into
//! (offset), with the count of every matching row, both from one snapshot.
//!
//! Each order has an index that yields the rows in that order (see `schema`), so a page reads
//! the rows it returns, however deep in the history it starts, plus the rows that a filter the
//! index does not hold (an id substring, a creation range in another order than creation) passes
//! over. The count reads every matching index entry: it is the one part whose cost grows with
//! the history, and it reads no table row where the index holds what it filters on.

use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Executor};

use super::dialect::Dialect;
use super::errors::unavailable;
use super::params::{bound, query, Param};
use super::rows::{decode_info, Columns};
use super::schema::{
    BY_ACTIVE, BY_DATASOURCE, BY_DATASOURCE_ID, BY_DATASOURCE_TYPE, BY_ID, BY_TYPE, BY_TYPE_ID,
};
use super::statements::{Statements, INFO_COLUMNS};
use super::SqlStore;
use crate::{StoreError, TaskPage, TaskPageQuery, TaskSort};

/// The index a statement walks, and whether its text columns are byte-ordered (the paged
/// indexes): PostgreSQL uses an index for a condition only in the index's collation.
#[derive(Debug, Clone, Copy)]
struct Walk {
    index: &'static str,
    byte_ordered: bool,
}

/// The creation-time index for the equality filters present.
fn by_creation(query: &TaskPageQuery) -> Walk {
    let index = match (query.data_source.is_some(), query.task_type.is_some()) {
        (false, false) => BY_ACTIVE,
        (true, false) => BY_DATASOURCE,
        (false, true) => BY_TYPE,
        (true, true) => BY_DATASOURCE_TYPE,
    };
    Walk {
        index,
        byte_ordered: false,
    }
}

/// The (column, id) index that holds the equality filter present, if any.
fn by_id(query: &TaskPageQuery) -> Walk {
    let index = if query.data_source.is_some() {
        BY_DATASOURCE_ID
    } else if query.task_type.is_some() {
        BY_TYPE_ID
    } else {
        BY_ID
    };
    Walk {
        index,
        byte_ordered: true,
    }
}

/// The index yielding a page's rows in its order.
fn page_walk(query: &TaskPageQuery) -> Walk {
    let paged = |index| Walk {
        index,
        byte_ordered: true,
    };
    match query.sort {
        TaskSort::Created => by_creation(query),
        TaskSort::Id => by_id(query),
        TaskSort::DataSource => paged(BY_DATASOURCE_ID),
        TaskSort::Type => paged(BY_TYPE_ID),
    }
}

/// The index a count reads: the one holding every column it filters on where there is one, so
/// that it reads no table row. A creation range bounds the creation-time indexes; an id filter
/// or a list of readable datasources is held by the (datasource, id) index, or the (type, id)
/// one when the type is the other filter.
fn count_walk(query: &TaskPageQuery) -> Walk {
    let in_range = query.created_after.is_some() || query.created_before.is_some();
    let other_columns = query.id_contains.is_some() || query.readable.is_some();
    if in_range || !other_columns {
        return by_creation(query);
    }
    let index = match (query.task_type.is_some(), query.data_source.is_some()) {
        (true, false) if query.readable.is_none() => BY_TYPE_ID,
        _ => BY_DATASOURCE_ID,
    };
    Walk {
        index,
        byte_ordered: true,
    }
}

impl Statements {
    /// `SELECT <columns> FROM <tasks> WHERE active = FALSE <filters>` walking `walk`, with the
    /// filters' values.
    fn complete_rows(
        &self,
        columns: &str,
        query: &TaskPageQuery,
        walk: Walk,
    ) -> (String, Vec<Param>) {
        let b = if walk.byte_ordered {
            self.syntax.byte_order
        } else {
            ""
        };
        let mut sql = format!(
            "SELECT {columns} FROM {}{} WHERE active = FALSE",
            self.names.tasks,
            self.syntax
                .index_hint
                .on(&self.names.task_index(walk.index)),
        );
        let mut params = Vec::new();
        if let Some(ds) = &query.data_source {
            sql.push_str(&format!(" AND datasource{b} = ?"));
            params.push(Param::from(ds.as_str()));
        }
        if let Some(task_type) = &query.task_type {
            sql.push_str(&format!(" AND type{b} = ?"));
            params.push(Param::from(task_type.as_str()));
        }
        if let Some(part) = &query.id_contains {
            sql.push_str(&format!(" AND {}(id, ?) > 0", self.syntax.position));
            params.push(Param::from(part.as_str()));
        }
        if let Some(after) = query.created_after {
            sql.push_str(" AND created_date >= ?");
            params.push(Param::Text(bound(after)));
        }
        if let Some(before) = query.created_before {
            sql.push_str(" AND created_date < ?");
            params.push(Param::Text(bound(before)));
        }
        if let Some(readable) = &query.readable {
            let list = vec!["?"; readable.len()].join(", ");
            sql.push_str(&format!(" AND datasource{b} IN ({list})"));
            params.extend(readable.iter().map(|ds| Param::from(ds.as_str())));
        }
        (sql, params)
    }

    /// How many complete rows match the query's filters (`n`).
    pub(super) fn complete_count<D: Dialect>(
        &self,
        query: &TaskPageQuery,
    ) -> Query<'static, D, D::Arguments> {
        let (sql, params) = self.complete_rows("COUNT(*) AS n", query, count_walk(query));
        super::params::query(AssertSqlSafe(self.numbered(sql)), params).persistent(false)
    }

    /// The page's rows, in its order.
    pub(crate) fn complete_page<D: Dialect>(
        &self,
        query: &TaskPageQuery,
    ) -> Query<'static, D, D::Arguments> {
        let walk = page_walk(query);
        let (mut sql, mut params) = self.complete_rows(INFO_COLUMNS, query, walk);
        let b = self.syntax.byte_order;
        let id = format!("id{b}");
        let column = match query.sort {
            TaskSort::Created => Some("created_date".to_string()),
            TaskSort::Id => None,
            TaskSort::DataSource => Some(format!("datasource{b}")),
            TaskSort::Type => Some(format!("type{b}")),
        };
        let (beyond, direction) = if query.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(after) = &query.after {
            match &column {
                // `column >= v` bounds the index range; the rest picks the rows after the id
                // among those with the same value.
                Some(column) => {
                    sql.push_str(&format!(
                        " AND {column} {beyond}= ? AND ({column} {beyond} ? OR {id} {beyond} ?)"
                    ));
                    params.push(Param::from(after.value.as_str()));
                    params.push(Param::from(after.value.as_str()));
                }
                None => sql.push_str(&format!(" AND {id} {beyond} ?")),
            }
            params.push(Param::from(after.id.as_str()));
        }
        match &column {
            Some(column) => {
                sql.push_str(&format!(" ORDER BY {column} {direction}, {id} {direction}"))
            }
            None => sql.push_str(&format!(" ORDER BY {id} {direction}")),
        }
        sql.push_str(" LIMIT ?");
        params.push(Param::from(query.limit));
        if query.offset > 0 {
            sql.push_str(" OFFSET ?");
            params.push(Param::from(query.offset));
        }
        super::params::query(AssertSqlSafe(self.numbered(sql)), params).persistent(false)
    }

    /// The datasources of complete rows, by name, one index search per datasource (a loose
    /// index scan: there are few datasources and many rows).
    fn complete_data_sources(&self) -> String {
        let t = &self.names.tasks;
        let hint = self
            .syntax
            .index_hint
            .on(&self.names.task_index(BY_DATASOURCE_ID));
        let ds = format!("datasource{}", self.syntax.byte_order);
        format!(
            "WITH RECURSIVE ds (name) AS (\
                 SELECT (SELECT {ds} FROM {t}{hint} WHERE active = FALSE ORDER BY {ds} LIMIT 1) \
                 UNION ALL \
                 SELECT (SELECT {ds} FROM {t}{hint} WHERE active = FALSE AND {ds} > ds.name \
                         ORDER BY {ds} LIMIT 1) \
                 FROM ds WHERE ds.name IS NOT NULL) \
             SELECT name FROM ds WHERE name IS NOT NULL"
        )
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(super) async fn complete_page(&self, page: &TaskPageQuery) -> Result<TaskPage, StoreError> {
        if page.readable.as_ref().is_some_and(Vec::is_empty) {
            return Ok(TaskPage {
                total: 0,
                tasks: Vec::new(),
            });
        }
        let mut tx = self
            .pool
            .begin_with(D::SYNTAX.begin_snapshot)
            .await
            .map_err(unavailable)?;
        let count = self
            .sql
            .complete_count::<D>(page)
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        let total = count
            .int("n")
            .map_err(|e| StoreError::Corrupt(self.sql.names.tasks.clone(), e.to_string()))?;
        let rows = match page.limit {
            0 => Vec::new(),
            _ => self
                .sql
                .complete_page::<D>(page)
                .fetch_all(&mut *tx)
                .await
                .map_err(unavailable)?,
        };
        tx.commit().await.map_err(unavailable)?;
        Ok(TaskPage {
            total: u64::try_from(total).unwrap_or_default(),
            tasks: rows.iter().map(decode_info).collect::<Result<_, _>>()?,
        })
    }

    pub(super) async fn complete_data_source_names(&self) -> Result<Vec<String>, StoreError> {
        let sql = self.sql.complete_data_sources();
        let rows = query::<D>(AssertSqlSafe(sql), [])
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| row.text("name"))
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Corrupt(self.sql.names.tasks.clone(), e.to_string()))
    }
}
