//! Task lock rows (`<base>_tasklocks`), as Druid's `MetadataTaskStorage` keeps them: one row per
//! lock a task holds, found again by the task's id and the lock's payload. The row ids are
//! Druid's business only: a lock is named by what it is, so callers never hold ids that a
//! concurrent change could make stale.

use sqlx::{AssertSqlSafe, Executor};
use steward_model::TaskLock;

use super::dialect::Dialect;
use super::errors::unavailable;
use super::params::{query, Param};
use super::rows::{decode_lock, lock_bytes, Columns};
use super::SqlStore;
use crate::StoreError;

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(super) async fn insert_lock_row(
        &self,
        task_id: &str,
        lock: &TaskLock,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        self.insert_lock_on(&mut conn, task_id, lock).await
    }

    /// Druid's `replaceLock`: the old row deleted and the new one inserted in one transaction.
    pub(super) async fn replace_lock_row(
        &self,
        task_id: &str,
        old: &TaskLock,
        new: &TaskLock,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with(D::SYNTAX.begin_write)
            .await
            .map_err(unavailable)?;
        let Some(row) = self.find_lock(&mut tx, task_id, old).await? else {
            return Err(StoreError::Conflict(format!(
                "Cannot find lock[{}] for task [{task_id}]",
                serde_json::to_string(old).unwrap_or_default()
            )));
        };
        self.delete_lock_id(&mut tx, row).await?;
        self.insert_lock_on(&mut tx, task_id, new).await?;
        tx.commit().await.map_err(unavailable)
    }

    pub(super) async fn delete_lock_row(
        &self,
        task_id: &str,
        lock: &TaskLock,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        match self.find_lock(&mut conn, task_id, lock).await? {
            Some(row) => self.delete_lock_id(&mut conn, row).await,
            None => {
                tracing::warn!(task = task_id, ?lock, "Cannot find lock to delete");
                Ok(())
            }
        }
    }

    pub(super) async fn delete_lock_rows_of(&self, task_id: &str) -> Result<(), StoreError> {
        query::<D>(
            AssertSqlSafe(self.sql.delete_task_locks.clone()),
            [task_id.into()],
        )
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    pub(super) async fn active_lock_rows(&self) -> Result<Vec<(String, TaskLock)>, StoreError> {
        let rows = query::<D>(AssertSqlSafe(self.sql.active_locks.clone()), [])
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut locks = Vec::with_capacity(rows.len());
        for row in &rows {
            let task_id = row
                .text("task_id")
                .map_err(|e| StoreError::Corrupt(self.sql.names.locks.clone(), e.to_string()))?;
            match decode_lock(row) {
                Ok(lock) => locks.push((task_id, lock)),
                Err(why) => tracing::warn!(
                    task = %task_id,
                    row = row.int("id").unwrap_or_default(),
                    "skipping a lock that cannot be read: {why}"
                ),
            }
        }
        Ok(locks)
    }

    /// The id of the task's first lock row equal to `lock`. Rows that do not decode are equal
    /// to nothing.
    async fn find_lock(
        &self,
        conn: &mut D::Connection,
        task_id: &str,
        lock: &TaskLock,
    ) -> Result<Option<i64>, StoreError> {
        let rows = query::<D>(AssertSqlSafe(self.sql.task_locks.clone()), [task_id.into()])
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        for row in &rows {
            if decode_lock(row).is_ok_and(|stored| stored == *lock) {
                let id = row.int("id").map_err(|e| {
                    StoreError::Corrupt(self.sql.names.locks.clone(), e.to_string())
                })?;
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    async fn delete_lock_id(&self, conn: &mut D::Connection, id: i64) -> Result<(), StoreError> {
        query::<D>(
            AssertSqlSafe(self.sql.delete_lock.clone()),
            [Param::Int(id)],
        )
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn insert_lock_on(
        &self,
        conn: &mut D::Connection,
        task_id: &str,
        lock: &TaskLock,
    ) -> Result<(), StoreError> {
        query::<D>(
            AssertSqlSafe(self.sql.insert_lock.clone()),
            [task_id.into(), Param::Bytes(lock_bytes(lock))],
        )
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}
