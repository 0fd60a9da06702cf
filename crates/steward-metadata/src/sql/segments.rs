//! Published segments (`<base>_segments`): publishing with overshadowing, the reads of Druid's
//! segment APIs, marking used and unused under Druid's overshadowing rules, and deletion.
//!
//! Every write that reads first runs in one transaction begun for writing, so what it read is
//! what it changes; every `UPDATE` names the state it changes from, so the counts it returns
//! are rows that changed, also on MySQL (which counts matched rows).
//!
//! Interval conditions in SQL compare ISO strings and are skipped for intervals they cannot
//! order (see `segment_statements`), so every row read under one is checked again here.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use jiff::Timestamp;
use sqlx::{AssertSqlSafe, Executor};
use steward_model::time::format_ts;
use steward_model::{DataSegment, Interval, SegmentSchemaMapping};

use super::dialect::Dialect;
use super::errors::unavailable;
use super::params::{query, Param};
use super::rows::{decode_segment, decode_segment_key, Columns, SegmentKey};
use super::segment_statements::{comparable, SegmentColumns, SegmentFilter};
use super::statements::ID_CHUNK;
use super::SqlStore;
use crate::timeline::{condense, is_overshadowed};
use crate::{DataSourceSummary, PublishOutcome, SegmentSelection, StoreError, UnusedSegmentsQuery};

/// Intervals per statement of a read over many (Druid's `MAX_INTERVALS_PER_BATCH`).
const INTERVAL_CHUNK: usize = 100;

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(super) async fn publish(
        &self,
        segments: &[DataSegment],
        schema: Option<&SegmentSchemaMapping>,
        now: Timestamp,
    ) -> Result<PublishOutcome, StoreError> {
        // Druid publishes a set: the same segment twice is one segment.
        let mut batch: Vec<&DataSegment> = Vec::with_capacity(segments.len());
        for segment in segments {
            if !batch.contains(&segment) {
                batch.push(segment);
            }
        }
        let Some(first) = batch.first() else {
            return Ok(PublishOutcome::default());
        };
        let data_source = first.data_source.as_str();
        if batch.iter().any(|s| s.data_source != data_source) {
            return Err(StoreError::Rejected(
                "Segments to commit must all belong to the same datasource".into(),
            ));
        }
        let ids: Vec<String> = batch.iter().map(|s| s.id().to_string()).collect();
        let mut tx = self
            .pool
            .begin_with(D::SYNTAX.begin_write)
            .await
            .map_err(unavailable)?;
        let mut existing = HashSet::new();
        for chunk in ids.chunks(ID_CHUNK) {
            let filter = SegmentFilter {
                ids: Some(chunk),
                ..SegmentFilter::default()
            };
            let rows = self
                .sql
                .segments
                .select::<D>(SegmentColumns::Id, &filter)
                .fetch_all(&mut *tx)
                .await
                .map_err(unavailable)?;
            for row in &rows {
                existing.insert(row.text("id").map_err(|e| {
                    StoreError::Corrupt(self.sql.names.segments.clone(), e.to_string())
                })?);
            }
        }
        let now_text = format_ts(now);
        let mut inserted = Vec::new();
        for (segment, id) in batch.iter().zip(&ids) {
            if existing.contains(id) {
                continue;
            }
            // As in Druid, a segment the batch itself overshadows is written unused.
            let used = !is_overshadowed(
                &segment.interval,
                &segment.version,
                batch.iter().map(|s| (&s.interval, s.version.as_str())),
            );
            let row = [
                Param::from(id.as_str()),
                Param::from(data_source),
                Param::Text(now_text.clone()),
                Param::Text(format_ts(segment.interval.start)),
                Param::Text(format_ts(segment.interval.end)),
                Param::Flag(true),
                Param::from(segment.version.as_str()),
                Param::Flag(used),
                Param::Bytes(segment.to_bytes()),
                Param::Text(now_text.clone()),
                Param::from(schema.and_then(|m| m.num_rows(id))),
            ];
            let result = query::<D>(AssertSqlSafe(self.sql.segments.insert_segment.clone()), row)
                .execute(&mut *tx)
                .await;
            match result {
                Ok(_) => inserted.push((*segment).clone()),
                // Dropping the transaction rolls back every row written before.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::Conflict(format!(
                        "segment [{id}] was stored by a concurrent publish, or is in this one \
                         twice with different payloads"
                    )));
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        let overshadowed = self
            .mark_overshadowed_by(&mut tx, data_source, &batch, now)
            .await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(PublishOutcome {
            inserted,
            overshadowed,
        })
    }

    /// Marks unused the used segments that a publish of `batch` overshadows: those overlapping a
    /// published segment of a higher version and covered by used segments of higher versions,
    /// the published ones included (the rows just written are visible in the transaction).
    async fn mark_overshadowed_by(
        &self,
        conn: &mut D::Connection,
        data_source: &str,
        batch: &[&DataSegment],
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let published: HashSet<String> = batch.iter().map(|s| s.id().to_string()).collect();
        let around = condense(batch.iter().map(|s| s.interval));
        let candidates: Vec<SegmentKey> = self
            .keys_overlapping(conn, data_source, true, &around)
            .await?
            .into_iter()
            .filter(|key| {
                !published.contains(&key.id)
                    && batch
                        .iter()
                        .any(|s| s.version > key.version && s.interval.overlaps(&key.interval))
            })
            .collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        let covering = self
            .keys_overlapping(
                conn,
                data_source,
                true,
                &condense(candidates.iter().map(|key| key.interval)),
            )
            .await?;
        let overshadowed: Vec<String> = candidates
            .into_iter()
            .filter(|key| {
                is_overshadowed(
                    &key.interval,
                    &key.version,
                    covering.iter().map(|c| (&c.interval, c.version.as_str())),
                )
            })
            .map(|key| key.id)
            .collect();
        self.mark_ids(conn, data_source, &overshadowed, false, now)
            .await
    }

    pub(super) async fn used_segments_in(
        &self,
        data_source: &str,
        intervals: &[Interval],
    ) -> Result<Vec<DataSegment>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        let mut segments = self
            .segments_overlapping(&mut conn, data_source, intervals)
            .await?;
        segments.sort_by_key(DataSegment::id);
        Ok(segments)
    }

    pub(super) async fn unused(
        &self,
        q: &UnusedSegmentsQuery,
    ) -> Result<Vec<DataSegment>, StoreError> {
        if q.limit == Some(0) || q.versions.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        // Rows the statement cannot leave out by interval are left out here, after the read:
        // then a LIMIT in SQL could cut off rows that would have been kept.
        let exact = q.interval.is_none_or(|i| comparable(&i));
        let filter = SegmentFilter {
            data_source: Some(&q.data_source),
            used: Some(false),
            within: q.interval,
            versions: q.versions.as_deref(),
            max_used_status_last_updated: q.max_used_status_last_updated,
            ordered: true,
            limit: q.limit.filter(|_| exact),
            ..SegmentFilter::default()
        };
        let rows = self
            .sql
            .segments
            .select::<D>(SegmentColumns::Payload, &filter)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut segments = Vec::new();
        for row in &rows {
            let (segment, _) = decode_segment(row)?;
            if q.interval.is_none_or(|i| i.contains(&segment.interval)) {
                segments.push(segment);
            }
        }
        segments.truncate(q.limit.unwrap_or(usize::MAX));
        Ok(segments)
    }

    pub(super) async fn segment_by_id(
        &self,
        data_source: &str,
        id: &str,
    ) -> Result<Option<(DataSegment, bool)>, StoreError> {
        let ids = [id.to_string()];
        let filter = SegmentFilter {
            data_source: Some(data_source),
            ids: Some(&ids),
            ..SegmentFilter::default()
        };
        let row = self
            .sql
            .segments
            .select::<D>(SegmentColumns::Payload, &filter)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(decode_segment).transpose()
    }

    pub(super) async fn mark(
        &self,
        data_source: &str,
        selection: &SegmentSelection,
        used: bool,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        match (selection, used) {
            (SegmentSelection::All, false) => {
                let params = [
                    Param::Flag(false),
                    Param::Text(format_ts(now)),
                    Param::from(data_source),
                    Param::Flag(true),
                ];
                let result = query::<D>(AssertSqlSafe(self.sql.segments.mark_all.clone()), params)
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(D::rows_affected(&result))
            }
            (SegmentSelection::Ids(ids), false) => {
                let mut tx = self.pool.begin().await.map_err(unavailable)?;
                let marked = self.mark_ids(&mut tx, data_source, ids, false, now).await?;
                tx.commit().await.map_err(unavailable)?;
                Ok(marked)
            }
            (SegmentSelection::Interval(interval), false) => {
                let mut tx = self
                    .pool
                    .begin_with(D::SYNTAX.begin_write)
                    .await
                    .map_err(unavailable)?;
                let ids: Vec<String> = self
                    .keys_within(&mut tx, data_source, true, Some(*interval))
                    .await?
                    .into_iter()
                    .map(|key| key.id)
                    .collect();
                let marked = self
                    .mark_ids(&mut tx, data_source, &ids, false, now)
                    .await?;
                tx.commit().await.map_err(unavailable)?;
                Ok(marked)
            }
            (selection, true) => {
                let mut tx = self
                    .pool
                    .begin_with(D::SYNTAX.begin_write)
                    .await
                    .map_err(unavailable)?;
                let marked = self.mark_used(&mut tx, data_source, selection, now).await?;
                tx.commit().await.map_err(unavailable)?;
                Ok(marked)
            }
        }
    }

    /// Druid's `markNonOvershadowedSegmentsAsUsed`: the selected unused segments are marked
    /// used unless the used segments around them, or the others selected, overshadow them.
    async fn mark_used(
        &self,
        conn: &mut D::Connection,
        data_source: &str,
        selection: &SegmentSelection,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let candidates: Vec<SegmentKey> = match selection {
            SegmentSelection::All => self.keys_within(conn, data_source, false, None).await?,
            SegmentSelection::Interval(interval) => {
                self.keys_within(conn, data_source, false, Some(*interval))
                    .await?
            }
            SegmentSelection::Ids(ids) => {
                let found = self.keys_of(conn, data_source, ids).await?;
                let known: HashSet<&str> = found.iter().map(|key| key.id.as_str()).collect();
                let unknown: Vec<&str> = ids
                    .iter()
                    .map(String::as_str)
                    .filter(|id| !known.contains(id))
                    .collect();
                if !unknown.is_empty() {
                    return Err(StoreError::Rejected(format!(
                        "Could not find segment IDs[{}] for datasource[{data_source}]",
                        unknown.join(", ")
                    )));
                }
                found.into_iter().filter(|key| !key.used).collect()
            }
        };
        if candidates.is_empty() {
            return Ok(0);
        }
        let used = self
            .keys_overlapping(
                conn,
                data_source,
                true,
                &condense(candidates.iter().map(|key| key.interval)),
            )
            .await?;
        let timeline: Vec<(&Interval, &str)> = used
            .iter()
            .chain(&candidates)
            .map(|key| (&key.interval, key.version.as_str()))
            .collect();
        let visible: Vec<String> = candidates
            .iter()
            .filter(|key| !is_overshadowed(&key.interval, &key.version, timeline.iter().copied()))
            .map(|key| key.id.clone())
            .collect();
        self.mark_ids(conn, data_source, &visible, true, now).await
    }

    pub(super) async fn delete_segment_rows(&self, ids: &[String]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let mut deleted = 0;
        for chunk in ids.chunks(ID_CHUNK) {
            let result = self
                .sql
                .segments
                .delete::<D>(chunk)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            deleted += D::rows_affected(&result);
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(deleted)
    }

    pub(super) async fn summaries(
        &self,
        include_unused: bool,
    ) -> Result<Vec<DataSourceSummary>, StoreError> {
        // One snapshot, so a datasource whose last segment is marked meanwhile is counted once.
        let mut tx = self
            .pool
            .begin_with(D::SYNTAX.begin_snapshot)
            .await
            .map_err(unavailable)?;
        let used_filter = SegmentFilter {
            used: Some(true),
            ..SegmentFilter::default()
        };
        let rows = self
            .sql
            .segments
            .select::<D>(SegmentColumns::Payload, &used_filter)
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?;
        let mut summaries: BTreeMap<String, DataSourceSummary> = BTreeMap::new();
        for row in &rows {
            let (segment, _) = decode_segment(row)?;
            let summary = summaries
                .entry(segment.data_source.clone())
                .or_insert_with(|| empty_summary(&segment.data_source));
            summary.segment_count += 1;
            summary.total_size += segment.size;
            summary.min_start = Some(
                summary
                    .min_start
                    .map_or(segment.interval.start, |t| t.min(segment.interval.start)),
            );
            summary.max_end = Some(
                summary
                    .max_end
                    .map_or(segment.interval.end, |t| t.max(segment.interval.end)),
            );
        }
        if include_unused {
            let rows = self
                .sql
                .segments
                .select::<D>(SegmentColumns::DataSources, &SegmentFilter::default())
                .fetch_all(&mut *tx)
                .await
                .map_err(unavailable)?;
            for row in &rows {
                let name = row.text("data_source").map_err(|e| {
                    StoreError::Corrupt(self.sql.names.segments.clone(), e.to_string())
                })?;
                summaries
                    .entry(name.clone())
                    .or_insert_with(|| empty_summary(&name));
            }
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(summaries.into_values().collect())
    }

    pub(super) async fn used_segments_of_data_sources(
        &self,
        data_sources: &[String],
    ) -> Result<Vec<DataSegment>, StoreError> {
        let names: Vec<String> = data_sources
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // No names is one read of every datasource.
        let chunks: Vec<&[String]> = if names.is_empty() {
            vec![&[]]
        } else {
            names.chunks(ID_CHUNK).collect()
        };
        let mut segments = Vec::new();
        for chunk in chunks {
            let filter = SegmentFilter {
                data_sources: chunk,
                used: Some(true),
                ..SegmentFilter::default()
            };
            let rows = self
                .sql
                .segments
                .select::<D>(SegmentColumns::Payload, &filter)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
            for row in &rows {
                segments.push(decode_segment(row)?.0);
            }
        }
        segments.sort_by_key(DataSegment::id);
        Ok(segments)
    }

    /// Used segments of a datasource overlapping any of `intervals` (all when empty), each
    /// once, in no particular order.
    pub(super) async fn segments_overlapping(
        &self,
        conn: &mut D::Connection,
        data_source: &str,
        intervals: &[Interval],
    ) -> Result<Vec<DataSegment>, StoreError> {
        let mut found: BTreeMap<String, DataSegment> = BTreeMap::new();
        for chunk in interval_chunks(intervals) {
            let filter = SegmentFilter {
                data_source: Some(data_source),
                used: Some(true),
                overlapping: chunk,
                ..SegmentFilter::default()
            };
            let rows = self
                .sql
                .segments
                .select::<D>(SegmentColumns::Payload, &filter)
                .fetch_all(&mut *conn)
                .await
                .map_err(unavailable)?;
            for row in &rows {
                let (segment, _) = decode_segment(row)?;
                if overlaps_any(&segment.interval, chunk) {
                    found.insert(segment.id().to_string(), segment);
                }
            }
        }
        Ok(found.into_values().collect())
    }

    /// Keys of the segments of a datasource, used or unused as `used` says, overlapping any of
    /// `intervals` (all when empty), each once.
    async fn keys_overlapping(
        &self,
        conn: &mut D::Connection,
        data_source: &str,
        used: bool,
        intervals: &[Interval],
    ) -> Result<Vec<SegmentKey>, StoreError> {
        let mut found: BTreeMap<String, SegmentKey> = BTreeMap::new();
        for chunk in interval_chunks(intervals) {
            let filter = SegmentFilter {
                data_source: Some(data_source),
                used: Some(used),
                overlapping: chunk,
                ..SegmentFilter::default()
            };
            for key in self.keys(conn, &filter).await? {
                if overlaps_any(&key.interval, chunk) {
                    found.insert(key.id.clone(), key);
                }
            }
        }
        Ok(found.into_values().collect())
    }

    /// Keys of the segments of a datasource, used or unused as `used` says, within `interval`
    /// (all when `None`).
    async fn keys_within(
        &self,
        conn: &mut D::Connection,
        data_source: &str,
        used: bool,
        within: Option<Interval>,
    ) -> Result<Vec<SegmentKey>, StoreError> {
        let filter = SegmentFilter {
            data_source: Some(data_source),
            used: Some(used),
            within,
            ..SegmentFilter::default()
        };
        let mut keys = self.keys(conn, &filter).await?;
        keys.retain(|key| within.is_none_or(|i| i.contains(&key.interval)));
        Ok(keys)
    }

    /// Keys of the segments of a datasource with the given ids, used or not.
    async fn keys_of(
        &self,
        conn: &mut D::Connection,
        data_source: &str,
        ids: &[String],
    ) -> Result<Vec<SegmentKey>, StoreError> {
        let mut keys = Vec::new();
        for chunk in ids.chunks(ID_CHUNK) {
            let filter = SegmentFilter {
                data_source: Some(data_source),
                ids: Some(chunk),
                ..SegmentFilter::default()
            };
            keys.extend(self.keys(conn, &filter).await?);
        }
        Ok(keys)
    }

    async fn keys(
        &self,
        conn: &mut D::Connection,
        filter: &SegmentFilter<'_>,
    ) -> Result<Vec<SegmentKey>, StoreError> {
        let rows = self
            .sql
            .segments
            .select::<D>(SegmentColumns::Key, filter)
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        rows.iter().map(decode_segment_key).collect()
    }

    /// Marks the segments of a datasource with the given ids `used` (or not) at `now`, those not
    /// already so; returns how many changed.
    async fn mark_ids(
        &self,
        conn: &mut D::Connection,
        data_source: &str,
        ids: &[String],
        used: bool,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut marked = 0;
        for chunk in ids.chunks(ID_CHUNK) {
            let result = self
                .sql
                .segments
                .mark::<D>(data_source, chunk, used, now)
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
            marked += D::rows_affected(&result);
        }
        Ok(marked)
    }
}

fn empty_summary(name: &str) -> DataSourceSummary {
    DataSourceSummary {
        name: name.to_string(),
        segment_count: 0,
        total_size: 0,
        min_start: None,
        max_end: None,
    }
}

/// `intervals` in statement-sized chunks; no intervals is one read of everything.
fn interval_chunks(intervals: &[Interval]) -> Vec<&[Interval]> {
    if intervals.is_empty() {
        vec![intervals]
    } else {
        intervals.chunks(INTERVAL_CHUNK).collect()
    }
}

/// Whether `interval` overlaps any of `intervals`; no intervals stands for all time.
fn overlaps_any(interval: &Interval, intervals: &[Interval]) -> bool {
    intervals.is_empty() || intervals.iter().any(|i| i.overlaps(interval))
}
