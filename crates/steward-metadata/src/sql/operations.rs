//! [`MetadataStore`] on a SQL database: each operation as the statements of [`Statements`]
//! run on the pool. Task writes are single autocommit statements. A config change and its audit
//! row are written in one transaction: Druid writes them separately and can record changes that
//! never happened (or lose the record of one that did). Locks, segments and pending segments
//! are the `locks`, `segments` and `pending` modules' operations.
//!
//! [`Statements`]: super::statements::Statements

use std::collections::BTreeSet;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::{AssertSqlSafe, Executor};
use steward_model::time::format_ts;
use steward_model::{
    DataSegment, Interval, SegmentIdWithShardSpec, SegmentSchemaMapping, Task, TaskLock, TaskStatus,
};

use super::dialect::Dialect;
use super::errors::unavailable;
use super::params::{bound, query, Param};
use super::rows::{
    audit_entry_bytes, decode_audit, decode_info, decode_task, status_bytes, Columns,
};
use super::statements::ID_CHUNK;
use super::SqlStore;
use crate::{
    ActiveTasks, AllocateRequest, AuditEntry, AuditInfo, DataSourceStats, DataSourceSummary,
    MetadataStore, PublishOutcome, SegmentSelection, StoreError, TaskInfo, TaskPage, TaskPageQuery,
    TaskQuery, UnusedSegmentsQuery,
};

/// Rows per retention `DELETE`: each batch is its own short statement, so deleting a huge
/// history never holds the table's write locks for long.
const DELETE_BATCH: usize = 1000;

#[async_trait]
impl<D: Dialect> MetadataStore for SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    /// The row is active unless `status` is already complete, as in Druid's `insert`.
    async fn insert_task(
        &self,
        task: &Task,
        created: Timestamp,
        status: &TaskStatus,
    ) -> Result<(), StoreError> {
        let params = [
            Param::from(task.id()),
            Param::Text(format_ts(created)),
            Param::from(task.data_source()),
            Param::Bytes(task.to_bytes()),
            Param::Bytes(status_bytes(status)),
            Param::Flag(!status.is_complete()),
            Param::from(task.task_type()),
            Param::from(task.group_id()),
        ];
        let result = query::<D>(AssertSqlSafe(self.sql.insert.clone()), params)
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::AlreadyExists(task.id().to_string()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn set_status(&self, status: &TaskStatus) -> Result<bool, StoreError> {
        let params = [
            Param::Flag(!status.is_complete()),
            Param::Bytes(status_bytes(status)),
            Param::from(status.id.as_str()),
        ];
        let result = query::<D>(AssertSqlSafe(self.sql.set_status.clone()), params)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(D::rows_affected(&result) > 0)
    }

    async fn get_task(&self, id: &str) -> Result<Option<Task>, StoreError> {
        let row = query::<D>(AssertSqlSafe(self.sql.get_payload.clone()), [id.into()])
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| decode_task(&row, id)).transpose()
    }

    async fn get_info(&self, id: &str) -> Result<Option<TaskInfo>, StoreError> {
        let row = query::<D>(AssertSqlSafe(self.sql.get_info.clone()), [id.into()])
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(decode_info).transpose()
    }

    async fn get_infos(&self, ids: &[String]) -> Result<Vec<TaskInfo>, StoreError> {
        // Deduplicated so that an id repeated across chunks is not returned twice.
        let ids: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut infos = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            // Only full chunks repeat; caching the statement for every tail length would evict
            // the statements every call uses from the per-connection cache.
            let q = query::<D>(
                AssertSqlSafe(self.sql.infos_by_ids(chunk.len())),
                chunk.iter().map(|id| Param::from(*id)),
            )
            .persistent(chunk.len() == ID_CHUNK);
            let rows = q.fetch_all(&self.pool).await.map_err(unavailable)?;
            for row in &rows {
                infos.push(decode_info(row)?);
            }
        }
        Ok(infos)
    }

    async fn active_tasks(&self) -> Result<ActiveTasks, StoreError> {
        let rows = query::<D>(AssertSqlSafe(self.sql.active_tasks.clone()), [])
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut active = ActiveTasks::default();
        for row in &rows {
            let decoded = decode_info(row).and_then(|info| Ok((decode_task(row, &info.id)?, info)));
            match decoded {
                Ok(task) => active.tasks.push(task),
                Err(StoreError::Corrupt(id, why)) => active.unrunnable.push((id, why)),
                Err(e) => return Err(e),
            }
        }
        Ok(active)
    }

    async fn list(&self, query: &TaskQuery) -> Result<Vec<TaskInfo>, StoreError> {
        let active = query.active != Some(false);
        let complete = query.active != Some(true) && query.max_complete != Some(0);
        // Both groups are read from one snapshot, so a task completing between the two reads is
        // listed exactly once.
        let mut tx = self
            .pool
            .begin_with(D::SYNTAX.begin_snapshot)
            .await
            .map_err(unavailable)?;
        let mut rows = Vec::new();
        for (group, wanted) in [(true, active), (false, complete)] {
            if wanted {
                rows.extend(
                    self.sql
                        .list_query::<D>(group, query)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(unavailable)?,
                );
            }
        }
        tx.commit().await.map_err(unavailable)?;
        rows.iter().map(decode_info).collect()
    }

    async fn complete_task_page(&self, query: &TaskPageQuery) -> Result<TaskPage, StoreError> {
        self.complete_page(query).await
    }

    async fn complete_task_data_sources(&self) -> Result<Vec<String>, StoreError> {
        self.complete_data_source_names().await
    }

    async fn get_config(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = query::<D>(AssertSqlSafe(self.sql.get_config.clone()), [name.into()])
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| row.bytes("payload"))
            .transpose()
            .map_err(|e| {
                StoreError::Corrupt(format!("{}:{name}", self.sql.names.config), e.to_string())
            })
    }

    async fn set_config_with_audit(
        &self,
        name: &str,
        payload: &[u8],
        audit: &AuditInfo,
        audit_time: Timestamp,
    ) -> Result<(), StoreError> {
        let created_date = format_ts(audit_time);
        let entry = audit_entry_bytes(name, payload, audit, &created_date);
        // Dropping the transaction on an error rolls the config write back.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        query::<D>(
            AssertSqlSafe(self.sql.upsert_config.clone()),
            [name.into(), Param::Bytes(payload.to_vec())],
        )
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let audit_row = [
            name.into(),
            name.into(),
            audit.author.as_str().into(),
            audit.comment.as_str().into(),
            Param::Text(created_date),
            Param::Bytes(entry),
        ];
        query::<D>(AssertSqlSafe(self.sql.insert_audit.clone()), audit_row)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    /// A single statement each way, so no transaction or row lock is held across a round trip:
    /// the `UPDATE` re-checks its condition on the row it locks (a concurrent swap that
    /// committed first makes it match nothing), and a concurrent first `INSERT` of the same name
    /// fails on the primary key.
    async fn compare_and_swap_config(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let Some(expected) = expected else {
            let result = query::<D>(
                AssertSqlSafe(self.sql.insert_config.clone()),
                [name.into(), Param::Bytes(new.to_vec())],
            )
            .execute(&self.pool)
            .await;
            return match result {
                Ok(_) => Ok(true),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                Err(e) => Err(unavailable(e)),
            };
        };
        let result = query::<D>(
            AssertSqlSafe(self.sql.swap_config.clone()),
            [
                Param::Bytes(new.to_vec()),
                name.into(),
                Param::Bytes(expected.to_vec()),
            ],
        )
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(D::rows_affected(&result) > 0)
    }

    async fn audit_history(
        &self,
        key: &str,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        limit: Option<usize>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        if limit == Some(0) {
            return Ok(Vec::new());
        }
        let rows = self
            .sql
            .audit_query::<D>(key, created_after, created_before, limit)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| decode_audit(row, &self.sql.names.audit))
            .collect()
    }

    async fn delete_complete_tasks_created_before(
        &self,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        self.delete_complete_in_batches(before, DELETE_BATCH).await
    }

    async fn insert_lock(&self, task_id: &str, lock: &TaskLock) -> Result<(), StoreError> {
        self.insert_lock_row(task_id, lock).await
    }

    async fn replace_lock(
        &self,
        task_id: &str,
        old: &TaskLock,
        new: &TaskLock,
    ) -> Result<(), StoreError> {
        self.replace_lock_row(task_id, old, new).await
    }

    async fn delete_lock(&self, task_id: &str, lock: &TaskLock) -> Result<(), StoreError> {
        self.delete_lock_row(task_id, lock).await
    }

    async fn delete_task_locks(&self, task_id: &str) -> Result<(), StoreError> {
        self.delete_lock_rows_of(task_id).await
    }

    async fn active_task_locks(&self) -> Result<Vec<(String, TaskLock)>, StoreError> {
        self.active_lock_rows().await
    }

    async fn publish_segments(
        &self,
        segments: &[DataSegment],
        schema: Option<&SegmentSchemaMapping>,
        now: Timestamp,
    ) -> Result<PublishOutcome, StoreError> {
        self.publish(segments, schema, now).await
    }

    async fn used_segments(
        &self,
        data_source: &str,
        intervals: &[Interval],
    ) -> Result<Vec<DataSegment>, StoreError> {
        self.used_segments_in(data_source, intervals).await
    }

    async fn unused_segments(
        &self,
        query: &UnusedSegmentsQuery,
    ) -> Result<Vec<DataSegment>, StoreError> {
        self.unused(query).await
    }

    async fn segment(
        &self,
        data_source: &str,
        id: &str,
    ) -> Result<Option<(DataSegment, bool)>, StoreError> {
        self.segment_by_id(data_source, id).await
    }

    async fn mark_segments(
        &self,
        data_source: &str,
        selection: &SegmentSelection,
        used: bool,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        self.mark(data_source, selection, used, now).await
    }

    async fn delete_segments(&self, ids: &[String]) -> Result<u64, StoreError> {
        self.delete_segment_rows(ids).await
    }

    async fn data_sources(
        &self,
        include_unused: bool,
    ) -> Result<Vec<DataSourceSummary>, StoreError> {
        self.summaries(include_unused).await
    }

    async fn data_source_stats(&self) -> Result<Vec<DataSourceStats>, StoreError> {
        self.stats().await
    }

    async fn used_segments_of(
        &self,
        data_sources: &[String],
    ) -> Result<Vec<DataSegment>, StoreError> {
        self.used_segments_of_data_sources(data_sources).await
    }

    async fn allocate_pending_segment(
        &self,
        request: &AllocateRequest,
    ) -> Result<Option<SegmentIdWithShardSpec>, StoreError> {
        self.allocate(request).await
    }

    async fn delete_pending_segments(
        &self,
        data_source: &str,
        created: Option<Interval>,
    ) -> Result<u64, StoreError> {
        self.delete_pending_rows(data_source, created).await
    }

    async fn delete_pending_segments_of_allocator(
        &self,
        task_allocator_id: &str,
    ) -> Result<u64, StoreError> {
        self.delete_pending_rows_of_allocator(task_allocator_id)
            .await
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    /// Deletes complete tasks created before `before`, `batch` rows per statement.
    pub(crate) async fn delete_complete_in_batches(
        &self,
        before: Timestamp,
        batch: usize,
    ) -> Result<u64, StoreError> {
        let before = bound(before);
        let mut deleted = 0;
        loop {
            let result = query::<D>(
                AssertSqlSafe(self.sql.delete_complete.clone()),
                [Param::Text(before.clone()), Param::from(batch)],
            )
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
            let n = D::rows_affected(&result);
            deleted += n;
            if n < batch as u64 {
                return Ok(deleted);
            }
        }
    }
}
