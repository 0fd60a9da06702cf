//! Rows an older Druid wrote before its task table had `type` and `group_id`: the schema adds
//! the columns, and this fills them in from the payloads when the store opens, as Druid's own
//! backfill does, so that every listing can read them.

use sqlx::{AssertSqlSafe, Executor};

use super::dialect::Dialect;
use super::errors::unavailable;
use super::params::{query, Param};
use super::rows::{corrupt_column, Columns};
use super::statements::BACKFILL_BATCH;
use super::SqlStore;
use crate::StoreError;

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    /// Gives rows an older Druid wrote without `type` and `group_id` their values, batch by
    /// batch, before the store serves anything: every listing reads these columns. With no such
    /// rows this is two index lookups. Several Overlords doing it at once write the same values.
    pub(super) async fn fill_type_and_group_id(&self) -> Result<(), StoreError> {
        let mut filled = 0;
        for active in [true, false] {
            loop {
                let rows = query::<D>(
                    AssertSqlSafe(self.sql.untyped_rows.clone()),
                    [Param::Flag(active)],
                )
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
                for row in &rows {
                    let id = row.text("id").map_err(corrupt_column(""))?;
                    let payload = row.bytes("payload").map_err(corrupt_column(&id))?;
                    let (task_type, group_id) = type_and_group_id(&id, &payload);
                    query::<D>(
                        AssertSqlSafe(self.sql.set_type_and_group_id.clone()),
                        [
                            Param::Text(task_type),
                            Param::Text(group_id),
                            Param::Text(id),
                        ],
                    )
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                }
                filled += rows.len();
                if rows.len() < BACKFILL_BATCH {
                    break;
                }
            }
        }
        if filled > 0 {
            tracing::info!(table = %self.sql.names.tasks, rows = filled,
                "filled in type and group_id of task rows an older Druid wrote");
        }
        Ok(())
    }
}

/// The type and group id of a task row from its payload, as Druid's backfill derives them
/// (a task without `groupId` is its own group). A payload that is not a JSON object gets an
/// empty type, so that the row is not picked up again.
fn type_and_group_id(id: &str, payload: &[u8]) -> (String, String) {
    let task: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(payload).ok();
    let Some(task) = task else {
        tracing::warn!(
            task = id,
            "task payload is not JSON; its type is left empty"
        );
        return (String::new(), id.to_string());
    };
    let text = |key: &str| task.get(key).and_then(|v| v.as_str()).map(str::to_string);
    (
        text("type").unwrap_or_default(),
        text("groupId").unwrap_or_else(|| id.to_string()),
    )
}
