//! Pending segments (`<base>_pendingSegments`): Druid's segment allocation for tasks holding a
//! time-chunk lock (`IndexerSQLMetadataStorageCoordinator.allocatePendingSegment`), and the
//! deletions that clean the table.
//!
//! An allocation reads the interval's used and pending segments and inserts the new row in one
//! write transaction. Two allocations racing for the same interval can still compute the same
//! id (on PostgreSQL and MySQL nothing locks rows that do not exist yet); the second then fails
//! on the table's unique keys and is reported as [`StoreError::Conflict`]: retried, it finds
//! the row the first wrote. The same happens, for good, when a sequence name is reused in
//! another datasource: Druid's unique key, the SHA-1 of sequence, previous segment (or
//! interval) and version, does not include the datasource.

use std::sync::Arc;

use sha1::{Digest, Sha1};
use sqlx::{AssertSqlSafe, Executor};
use steward_model::time::format_ts;
use steward_model::{DataSegment, Interval, SegmentIdWithShardSpec};

use super::dialect::Dialect;
use super::errors::unavailable;
use super::params::{query, Param};
use super::rows::{decode_pending, decode_segment, Columns};
use super::segment_statements::{comparable, SegmentColumns, SegmentFilter};
use super::SqlStore;
use crate::timeline::{visible_chunks, Chunk};
use crate::{AllocateRequest, StoreError};

/// The lock version of Druid's APPEND locks (`DateTimes.EPOCH`): the only version that may be
/// varied when unused segments already hold it.
const APPEND_VERSION: &str = "1970-01-01T00:00:00.000Z";

/// Appended to [`APPEND_VERSION`] until it is free (Druid's `CONCURRENT_APPEND_VERSION_SUFFIX`).
const APPEND_VERSION_SUFFIX: char = 'S';

/// Versions Druid tries before giving up on a free one.
const APPEND_VERSION_TRIES: usize = 10;

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(super) async fn allocate(
        &self,
        request: &AllocateRequest,
    ) -> Result<Option<SegmentIdWithShardSpec>, StoreError> {
        let mut tx = self
            .pool
            .begin_with(D::SYNTAX.begin_write)
            .await
            .map_err(unavailable)?;
        let allocated = self.allocate_in(&mut tx, request).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(allocated)
    }

    async fn allocate_in(
        &self,
        conn: &mut D::Connection,
        request: &AllocateRequest,
    ) -> Result<Option<SegmentIdWithShardSpec>, StoreError> {
        let AllocateRequest {
            data_source,
            interval,
            sequence_name,
            ..
        } = request;
        let used = self
            .segments_overlapping(conn, data_source, &[*interval])
            .await?;
        let chunks = visible_chunks(&used, |s| (&s.interval, s.version.as_str()), interval);
        if chunks.len() > 1 {
            tracing::warn!(
                "Cannot allocate new segment for dataSource[{data_source}], interval[{interval}] \
                 as it already has [{}] versions.",
                chunks.len()
            );
            return Ok(None);
        }
        let chunk = chunks.first();
        let existing_version = chunk.map(|c| c.version);

        // A repeated request gets the id it got before: among the rows of its sequence, the
        // first of the version the interval's segments now have.
        let previous = previous_id(request);
        let earlier = if request.skip_segment_line_check {
            self.pending(
                conn,
                &self.sql.segments.pending_of_sequence_in,
                [
                    Param::from(data_source.as_str()),
                    Param::from(sequence_name.as_str()),
                    Param::Text(format_ts(interval.start)),
                    Param::Text(format_ts(interval.end)),
                ],
            )
            .await?
        } else {
            self.pending(
                conn,
                &self.sql.segments.pending_of_sequence,
                [
                    Param::from(data_source.as_str()),
                    Param::from(sequence_name.as_str()),
                    Param::from(previous),
                ],
            )
            .await?
        };
        let earlier = earlier
            .into_iter()
            .find(|p| existing_version.is_none_or(|v| p.version == v));
        if let Some(earlier) = earlier {
            let id = earlier.id();
            if earlier.interval == *interval {
                tracing::info!(
                    "Found existing pending segment[{id}] for sequence[{sequence_name}], \
                     previous segment[{previous}], version[{existing_version:?}] in DB"
                );
                return Ok(Some(earlier));
            }
            tracing::warn!(
                "Cannot use existing pending segment [{id}] for sequence[{sequence_name}], \
                 previous segment[{previous}] in DB as it does not match requested \
                 interval[{interval}], version[{existing_version:?}]."
            );
            return Ok(None);
        }

        let Some(allocated) = self.new_id(conn, request, chunk).await? else {
            return Ok(None);
        };
        let row = [
            Param::Text(allocated.id().to_string()),
            Param::from(data_source.as_str()),
            Param::Text(format_ts(request.now)),
            Param::Text(format_ts(interval.start)),
            Param::Text(format_ts(interval.end)),
            Param::from(sequence_name.as_str()),
            // Druid records no previous segment when it identifies requests by interval.
            Param::from(if request.skip_segment_line_check {
                ""
            } else {
                previous
            }),
            Param::Text(sequence_key(request, &allocated.version)),
            Param::Bytes(serde_json::to_vec(&allocated).expect("a segment id serialises")),
            Param::from(request.task_allocator_id.as_deref()),
        ];
        let inserted = query::<D>(AssertSqlSafe(self.sql.segments.insert_pending.clone()), row)
            .execute(&mut *conn)
            .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "Cannot allocate segment [{}] for sequence[{sequence_name}]: a pending \
                     segment has its id or its sequence key (allocated concurrently, or the \
                     sequence name is used in another datasource)",
                    allocated.id()
                )));
            }
            Err(e) => return Err(unavailable(e)),
        }
        tracing::info!(
            "Created new pending segment[{}] for datasource[{data_source}], \
             interval[{interval}].",
            allocated.id()
        );
        Ok(Some(allocated))
    }

    /// Druid's `createNewPendingSegment`: the next partition of the interval's visible chunk,
    /// or the first of a new chunk with the lock's version, unless a segment of another
    /// interval has the highest partition of the version.
    async fn new_id(
        &self,
        conn: &mut D::Connection,
        request: &AllocateRequest,
        chunk: Option<&Chunk<'_, DataSegment>>,
    ) -> Result<Option<SegmentIdWithShardSpec>, StoreError> {
        let AllocateRequest {
            data_source,
            interval,
            ..
        } = request;
        let existing_version = chunk.map(|c| c.version);
        // The chunk's segment with the highest partition number, of those numbered like the
        // new one.
        let committed_max = chunk.and_then(|c| {
            c.segments
                .iter()
                .filter(|s| s.shard_spec.shares_root_partition_space())
                .max_by_key(|s| s.shard_spec.partition_num())
                .map(|s| SegmentIdWithShardSpec {
                    data_source: s.data_source.clone(),
                    interval: s.interval,
                    version: s.version.clone(),
                    shard_spec: s.shard_spec.clone(),
                })
        });
        let mut ids = self
            .pending_overlapping(conn, data_source, interval)
            .await?;
        ids.extend(committed_max.clone());
        // The highest (version, partition) among them. Where one in the interval ties with one
        // elsewhere (Druid picks either), the one elsewhere wins: allocating next to it would
        // put one partition number in two intervals.
        let overall_max = ids
            .into_iter()
            .filter(|id| id.shard_spec.shares_root_partition_space())
            .filter(|id| existing_version.is_none_or(|v| id.version == v))
            .max_by(|a, b| {
                (
                    &a.version,
                    a.shard_spec.partition_num(),
                    a.interval != *interval,
                )
                    .cmp(&(
                        &b.version,
                        b.shard_spec.partition_num(),
                        b.interval != *interval,
                    ))
            });
        let Some(overall_max) = overall_max else {
            // The interval's first segment.
            let version = existing_version.unwrap_or(&request.lock_version);
            let first = SegmentIdWithShardSpec {
                data_source: data_source.clone(),
                interval: *interval,
                version: version.to_string(),
                shard_spec: request.shard_spec.complete(0, 0),
            };
            return self.unique_first_id(conn, first).await.map(Some);
        };
        if overall_max.interval != *interval {
            tracing::warn!(
                "Cannot allocate new segment for dataSource[{data_source}], \
                 interval[{interval}], existingVersion[{}]: conflicting segment[{}].",
                request.lock_version,
                overall_max.id()
            );
            return Ok(None);
        }
        // The core partition count comes from the published segments: a pending segment's may
        // be stale.
        let core_partitions = match &committed_max {
            None => 0,
            Some(committed) => match committed.shard_spec.core_partitions() {
                Some(n) => n,
                None => {
                    tracing::warn!(
                        "Cannot allocate new segment because of unknown core partition size of \
                         segment[{}], shardSpec[{}]",
                        committed.id(),
                        serde_json::to_string(&committed.shard_spec).unwrap_or_default()
                    );
                    return Ok(None);
                }
            },
        };
        let next = SegmentIdWithShardSpec {
            data_source: data_source.clone(),
            interval: *interval,
            version: existing_version.unwrap_or(&overall_max.version).to_string(),
            shard_spec: request
                .shard_spec
                .complete(overall_max.shard_spec.partition_num() + 1, core_partitions),
        };
        self.unique_next_id(conn, next, request).await.map(Some)
    }

    /// Druid's `getUniqueIdForPrimaryAllocation`: a new chunk's version must not be one that
    /// unused segments of the interval already have; only an APPEND lock's epoch version is
    /// varied to a free one.
    async fn unique_first_id(
        &self,
        conn: &mut D::Connection,
        mut id: SegmentIdWithShardSpec,
    ) -> Result<SegmentIdWithShardSpec, StoreError> {
        let filter = SegmentFilter {
            data_source: Some(&id.data_source),
            used: Some(false),
            exact: Some(id.interval),
            ..SegmentFilter::default()
        };
        let rows = self
            .sql
            .segments
            .select::<D>(SegmentColumns::Versions, &filter)
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        let mut unused_versions = Vec::with_capacity(rows.len());
        for row in &rows {
            unused_versions.push(row.text("version").map_err(|e| {
                StoreError::Corrupt(self.sql.names.segments.clone(), e.to_string())
            })?);
        }
        if !unused_versions.contains(&id.version) {
            return Ok(id);
        }
        if id.version != APPEND_VERSION {
            return Err(StoreError::Conflict(format!(
                "Cannot allocate segment[{}] as there are already some unused segments for \
                 version[{}] in this interval.",
                id.id(),
                id.version
            )));
        }
        let original = id.id();
        for _ in 0..APPEND_VERSION_TRIES {
            if !unused_versions.contains(&id.version) {
                tracing::info!(
                    "Created new unique pending segment ID[{}] with version[{}] for originally \
                     allocated ID[{original}].",
                    id.id(),
                    id.version
                );
                return Ok(id);
            }
            id.version.push(APPEND_VERSION_SUFFIX);
        }
        Err(StoreError::Conflict(format!(
            "Could not allocate segment[{original}] as there are too many clashing unused \
             versions(upto [{}]) in the interval. Kill the old unused versions to proceed.",
            id.version
        )))
    }

    /// Druid's `getUniqueIdForSecondaryAllocation`: when a segment row (an unused one, of a
    /// version partly marked unused) already has the id, the partition number moves past the
    /// highest unused one.
    async fn unique_next_id(
        &self,
        conn: &mut D::Connection,
        id: SegmentIdWithShardSpec,
        request: &AllocateRequest,
    ) -> Result<SegmentIdWithShardSpec, StoreError> {
        let name = [id.id().to_string()];
        let taken = SegmentFilter {
            ids: Some(&name),
            ..SegmentFilter::default()
        };
        let row = self
            .sql
            .segments
            .select::<D>(SegmentColumns::Id, &taken)
            .fetch_optional(&mut *conn)
            .await
            .map_err(unavailable)?;
        if row.is_none() {
            return Ok(id);
        }
        let versions = [id.version.clone()];
        let unused = SegmentFilter {
            data_source: Some(&id.data_source),
            used: Some(false),
            exact: Some(id.interval),
            versions: Some(&versions),
            ..SegmentFilter::default()
        };
        let rows = self
            .sql
            .segments
            .select::<D>(SegmentColumns::Payload, &unused)
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        let mut unused_max = None;
        for row in &rows {
            let partition = decode_segment(row)?.0.shard_spec.partition_num();
            unused_max = unused_max.max(Some(partition));
        }
        tracing::info!(
            "Allocated SegmentId[{}] is already in use. Using next ID after max[{unused_max:?}].",
            id.id()
        );
        let Some(unused_max) = unused_max else {
            return Ok(id);
        };
        let partition = id.shard_spec.partition_num().max(unused_max + 1);
        let core_partitions = id.shard_spec.core_partitions().unwrap_or(0);
        Ok(SegmentIdWithShardSpec {
            shard_spec: request.shard_spec.complete(partition, core_partitions),
            ..id
        })
    }

    /// The allocated ids of the rows a pending segment statement selects.
    async fn pending<const N: usize>(
        &self,
        conn: &mut D::Connection,
        statement: &Arc<str>,
        params: [Param; N],
    ) -> Result<Vec<SegmentIdWithShardSpec>, StoreError> {
        let rows = query::<D>(AssertSqlSafe(statement.clone()), params)
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        rows.iter().map(decode_pending).collect()
    }

    /// Pending segments of a datasource overlapping `interval`.
    async fn pending_overlapping(
        &self,
        conn: &mut D::Connection,
        data_source: &str,
        interval: &Interval,
    ) -> Result<Vec<SegmentIdWithShardSpec>, StoreError> {
        let mut ids = if comparable(interval) {
            self.pending(
                conn,
                &self.sql.segments.pending_overlapping,
                [
                    Param::from(data_source),
                    Param::Text(format_ts(interval.end)),
                    Param::Text(format_ts(interval.start)),
                ],
            )
            .await?
        } else {
            self.pending(
                conn,
                &self.sql.segments.pending_of,
                [Param::from(data_source)],
            )
            .await?
        };
        ids.retain(|id| id.interval.overlaps(interval));
        Ok(ids)
    }

    pub(super) async fn delete_pending_rows(
        &self,
        data_source: &str,
        created: Option<Interval>,
    ) -> Result<u64, StoreError> {
        let result = match created {
            None => {
                query::<D>(
                    AssertSqlSafe(self.sql.segments.delete_pending.clone()),
                    [Param::from(data_source)],
                )
                .execute(&self.pool)
                .await
            }
            Some(created) => {
                query::<D>(
                    AssertSqlSafe(self.sql.segments.delete_pending_created_in.clone()),
                    [
                        Param::from(data_source),
                        Param::Text(format_ts(created.start)),
                        Param::Text(format_ts(created.end)),
                    ],
                )
                .execute(&self.pool)
                .await
            }
        };
        Ok(D::rows_affected(&result.map_err(unavailable)?))
    }

    pub(super) async fn delete_pending_rows_of_allocator(
        &self,
        task_allocator_id: &str,
    ) -> Result<u64, StoreError> {
        let result = query::<D>(
            AssertSqlSafe(self.sql.segments.delete_pending_of_allocator.clone()),
            [Param::from(task_allocator_id)],
        )
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(D::rows_affected(&result))
    }
}

/// The previous segment of a request's sequence, `""` for the first (as Druid stores it).
fn previous_id(request: &AllocateRequest) -> &str {
    request.previous_segment_id.as_deref().unwrap_or("")
}

/// Druid's `computeSequenceNamePrevIdSha1`, the pending table's unique key: the SHA-1 of the
/// sequence name, then the previous segment id or, identifying requests by interval, the
/// interval's bounds as little-endian epoch milliseconds (Guava's `putLong`), then the version,
/// separated by `0xff` bytes; in upper-case hex.
fn sequence_key(request: &AllocateRequest, version: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(request.sequence_name.as_bytes());
    sha1.update([0xff]);
    if request.skip_segment_line_check {
        sha1.update(request.interval.start.as_millisecond().to_le_bytes());
        sha1.update(request.interval.end.as_millisecond().to_le_bytes());
    } else {
        sha1.update(previous_id(request).as_bytes());
    }
    sha1.update([0xff]);
    sha1.update(version.as_bytes());
    sha1.finalize().iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use steward_model::time::parse_instant;
    use steward_model::PartialShardSpec;

    use super::*;

    fn request(previous: Option<&str>, skip: bool) -> AllocateRequest {
        AllocateRequest {
            data_source: "wiki".into(),
            interval: "2024-01-01/2024-01-02".parse().unwrap(),
            sequence_name: if skip {
                "index_wiki"
            } else {
                "index_kafka_wiki_0"
            }
            .into(),
            previous_segment_id: previous.map(str::to_string),
            skip_segment_line_check: skip,
            lock_version: "2024-01-01T00:00:00.000Z".into(),
            shard_spec: PartialShardSpec::Numbered,
            task_allocator_id: None,
            now: parse_instant("2024-01-01T00:00:00Z").unwrap(),
        }
    }

    /// The expected values are SHA-1s of the bytes Guava's hasher is fed in Druid, computed
    /// independently (Python's hashlib over the same layout).
    #[test]
    fn the_sequence_key_is_druids_sha1() {
        let previous =
            "wiki_2024-01-01T00:00:00.000Z_2024-01-02T00:00:00.000Z_2024-01-01T00:00:00.000Z";
        assert_eq!(
            sequence_key(&request(Some(previous), false), "2024-01-01T00:00:00.000Z"),
            "C9AF3FBDC5A62A98AEA39D3FAC33C362982A1001"
        );
        assert_eq!(
            sequence_key(&request(None, true), "2024-01-01T00:00:00.000Z"),
            "E42CE52E6A3FA09F423986396A549B582F242837"
        );
    }
}
