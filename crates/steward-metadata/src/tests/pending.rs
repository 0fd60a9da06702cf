//! Pending segments: Druid's allocation rules for a task holding a time-chunk lock (first id,
//! next partition, repeated requests, the version and core partitions of published segments,
//! refusals), the row it writes, and the deletions that clean the table.

use serde_json::json;
use steward_model::{DataSegment, PartialShardSpec, SegmentIdWithShardSpec, ShardSpec};

use super::databases::{TestDb, TestStore};
use super::{at, end_column, segment};
use crate::{AllocateRequest, SegmentSelection, StoreError};

const DAY: &str = "2024-01-10/2024-01-11";
const LOCK_VERSION: &str = "2026-03-08T09:00:00.000Z";
const NOW: &str = "2026-03-08T10:00:00Z";
/// Druid's APPEND lock version.
const EPOCH: &str = "1970-01-01T00:00:00.000Z";

fn request(sequence: &str, previous: Option<&SegmentIdWithShardSpec>) -> AllocateRequest {
    AllocateRequest {
        data_source: "wiki".into(),
        interval: DAY.parse().unwrap(),
        sequence_name: sequence.into(),
        previous_segment_id: previous.map(|p| p.id().to_string()),
        skip_segment_line_check: false,
        lock_version: LOCK_VERSION.into(),
        shard_spec: PartialShardSpec::Numbered,
        task_allocator_id: Some("task_1".into()),
        now: at(NOW),
    }
}

fn allocated(version: &str, shard_spec: ShardSpec) -> SegmentIdWithShardSpec {
    SegmentIdWithShardSpec {
        data_source: "wiki".into(),
        interval: DAY.parse().unwrap(),
        version: version.into(),
        shard_spec,
    }
}

fn numbered(partition_num: u32, partitions: u32) -> ShardSpec {
    ShardSpec::Numbered {
        partition_num,
        partitions,
    }
}

async fn allocate(
    store: &dyn TestStore,
    request: &AllocateRequest,
) -> Option<SegmentIdWithShardSpec> {
    store.allocate_pending_segment(request).await.unwrap()
}

async fn pending_ids(store: &dyn TestStore) -> Vec<String> {
    let mut ids = store
        .texts("SELECT id FROM druid_pendingSegments", "id")
        .await;
    ids.sort();
    ids
}

/// Segment `partition_num` of a set of `partitions` core partitions in [`DAY`].
fn published(version: &str, partition_num: u32, partitions: u32) -> DataSegment {
    let mut s = segment("wiki", DAY, version, partition_num);
    s.shard_spec = numbered(partition_num, partitions);
    s
}

/// A new time chunk's first segment has the lock's version and partition 0 of no core set;
/// the row holds what Druid's holds.
pub(super) async fn the_first_allocation_takes_the_lock_version_and_partition_zero(db: TestDb) {
    let store = db.open().await;
    let id = allocate(&*store, &request("seq_1", None)).await.unwrap();
    assert_eq!(id, allocated(LOCK_VERSION, numbered(0, 0)));

    let end = end_column(db.backend);
    let sql = format!(
        "SELECT id, dataSource AS ds, created_date, start, {end} AS e, sequence_name, \
         sequence_prev_id, sequence_name_prev_id_sha1 AS sha1, task_allocator_id \
         FROM druid_pendingSegments"
    );
    let column = |name: &'static str| {
        let store = store.clone();
        let sql = sql.clone();
        async move { store.texts(&sql, name).await }
    };
    assert_eq!(
        column("id").await,
        ["wiki_2024-01-10T00:00:00.000Z_2024-01-11T00:00:00.000Z_2026-03-08T09:00:00.000Z"]
    );
    assert_eq!(column("ds").await, ["wiki"]);
    assert_eq!(column("created_date").await, ["2026-03-08T10:00:00.000Z"]);
    assert_eq!(column("start").await, ["2024-01-10T00:00:00.000Z"]);
    assert_eq!(column("e").await, ["2024-01-11T00:00:00.000Z"]);
    assert_eq!(column("sequence_name").await, ["seq_1"]);
    assert_eq!(column("sequence_prev_id").await, [""]);
    // SHA-1 of "seq_1", 0xff, "", 0xff, the version (computed independently).
    assert_eq!(
        column("sha1").await,
        ["FE6DBBAD0E8BF0BAB2B92BD7A835DCD65C8732D1"]
    );
    assert_eq!(column("task_allocator_id").await, ["task_1"]);
    let payload = store
        .bytes("SELECT payload FROM druid_pendingSegments", "payload")
        .await;
    assert_eq!(payload, [serde_json::to_vec(&id).unwrap()]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&payload[0]).unwrap(),
        json!({"dataSource": "wiki",
               "interval": "2024-01-10T00:00:00.000Z/2024-01-11T00:00:00.000Z",
               "version": LOCK_VERSION,
               "shardSpec": {"type": "numbered", "partitionNum": 0, "partitions": 0}})
    );
}

/// Each further allocation in the interval, of any sequence, takes the next partition number.
pub(super) async fn the_next_allocations_take_the_next_partitions(db: TestDb) {
    let store = db.open().await;
    let first = allocate(&*store, &request("s1", None)).await.unwrap();
    let second = allocate(&*store, &request("s1", Some(&first)))
        .await
        .unwrap();
    let other = allocate(&*store, &request("s2", None)).await.unwrap();
    let linear = AllocateRequest {
        shard_spec: PartialShardSpec::Linear,
        ..request("s3", None)
    };
    let fourth = allocate(&*store, &linear).await.unwrap();
    assert_eq!(
        [first, second, other, fourth],
        [
            allocated(LOCK_VERSION, numbered(0, 0)),
            allocated(LOCK_VERSION, numbered(1, 0)),
            allocated(LOCK_VERSION, numbered(2, 0)),
            allocated(LOCK_VERSION, ShardSpec::Linear { partition_num: 3 }),
        ]
    );
    assert_eq!(pending_ids(&*store).await.len(), 4);
}

/// A request repeated (a task retrying) gets the id it got before and writes no row: by
/// sequence and previous segment, or by sequence and interval when the lineage is skipped.
pub(super) async fn a_repeated_request_gets_the_id_it_got_before(db: TestDb) {
    let store = db.open().await;
    let first = allocate(&*store, &request("s1", None)).await.unwrap();
    assert_eq!(
        allocate(&*store, &request("s1", None)).await,
        Some(first.clone())
    );
    let second = allocate(&*store, &request("s1", Some(&first)))
        .await
        .unwrap();
    assert_eq!(
        allocate(&*store, &request("s1", Some(&first))).await,
        Some(second.clone())
    );
    assert_ne!(first, second);
    assert_eq!(pending_ids(&*store).await.len(), 2);

    let batch = AllocateRequest {
        skip_segment_line_check: true,
        ..request("batch", None)
    };
    let by_interval = allocate(&*store, &batch).await.unwrap();
    let later = AllocateRequest {
        previous_segment_id: Some(by_interval.id().to_string()),
        ..batch.clone()
    };
    assert_eq!(allocate(&*store, &later).await, Some(by_interval.clone()));
    assert_eq!(pending_ids(&*store).await.len(), 3);
    let prev = store
        .texts(
            "SELECT sequence_prev_id FROM druid_pendingSegments WHERE sequence_name = 'batch'",
            "sequence_prev_id",
        )
        .await;
    assert_eq!(prev, [""]);
}

/// Next to published segments the new one takes their version (not the lock's), the next
/// partition number and their core partition count.
pub(super) async fn used_segments_give_their_version_partitions_and_core_count(db: TestDb) {
    let store = db.open().await;
    let version = "2026-03-01T00:00:00.000Z";
    store
        .publish_segments(
            &[published(version, 0, 2), published(version, 1, 2)],
            None,
            at(NOW),
        )
        .await
        .unwrap();
    assert_eq!(
        allocate(&*store, &request("s1", None)).await,
        Some(allocated(version, numbered(2, 2)))
    );
    assert_eq!(
        allocate(&*store, &request("s2", None)).await,
        Some(allocated(version, numbered(3, 2)))
    );
    let linear = AllocateRequest {
        shard_spec: PartialShardSpec::Linear,
        ..request("s3", None)
    };
    assert_eq!(
        allocate(&*store, &linear).await,
        Some(allocated(version, ShardSpec::Linear { partition_num: 4 }))
    );
}

/// An id an unused segment of the version already has is skipped: the partition number moves
/// past the highest unused one.
pub(super) async fn an_id_an_unused_segment_holds_is_skipped(db: TestDb) {
    let store = db.open().await;
    let version = "2026-03-01T00:00:00.000Z";
    let kept = published(version, 0, 2);
    let dropped = published(version, 1, 2);
    store
        .publish_segments(&[kept, dropped.clone()], None, at(NOW))
        .await
        .unwrap();
    store
        .mark_segments(
            "wiki",
            &SegmentSelection::Ids(vec![dropped.id().to_string()]),
            false,
            at(NOW),
        )
        .await
        .unwrap();
    assert_eq!(
        allocate(&*store, &request("s1", None)).await,
        Some(allocated(version, numbered(2, 2)))
    );
}

/// Druid refuses to allocate where the segment could not be the interval's: a used segment of
/// a wider interval, a pending segment of another interval, two versions visible in the
/// interval, or a repeated request whose earlier id has another interval. Nothing is written.
pub(super) async fn overlapping_segments_refuse_allocation(db: TestDb) {
    let store = db.open().await;
    let in_data_source = |data_source: &str, interval: &str, sequence: &str| AllocateRequest {
        data_source: data_source.into(),
        interval: interval.parse().unwrap(),
        ..request(sequence, None)
    };

    let month = segment("wiki", "2024-01-01/2024-02-01", "v1", 0);
    store
        .publish_segments(&[month], None, at(NOW))
        .await
        .unwrap();
    assert_eq!(
        allocate(&*store, &in_data_source("wiki", DAY, "s1")).await,
        None
    );

    let hour = in_data_source("web", "2024-01-10T00:00Z/2024-01-10T01:00Z", "web_s1");
    assert!(allocate(&*store, &hour).await.is_some());
    assert_eq!(
        allocate(&*store, &in_data_source("web", DAY, "web_s2")).await,
        None
    );

    store
        .publish_segments(
            &[
                segment("edits", "2024-01-10T00:00Z/2024-01-10T12:00Z", "v1", 0),
                segment("edits", "2024-01-10T12:00Z/2024-01-11T00:00Z", "v2", 0),
            ],
            None,
            at(NOW),
        )
        .await
        .unwrap();
    assert_eq!(
        allocate(&*store, &in_data_source("edits", DAY, "edits_s1")).await,
        None
    );

    assert!(allocate(&*store, &in_data_source("news", DAY, "news_s1"))
        .await
        .is_some());
    let next_day = in_data_source("news", "2024-01-11/2024-01-12", "news_s1");
    assert_eq!(allocate(&*store, &next_day).await, None);

    assert_eq!(pending_ids(&*store).await.len(), 2);
}

/// A new time chunk cannot take a version unused segments of the interval hold; only an APPEND
/// lock's epoch version is varied, with Druid's `S` suffix, to a free one.
pub(super) async fn a_version_unused_segments_hold_is_not_allocated_again(db: TestDb) {
    let store = db.open().await;
    store
        .publish_segments(&[published(LOCK_VERSION, 0, 1)], None, at(NOW))
        .await
        .unwrap();
    store
        .mark_segments("wiki", &SegmentSelection::All, false, at(NOW))
        .await
        .unwrap();
    let err = store
        .allocate_pending_segment(&request("s1", None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(pending_ids(&*store).await.is_empty());

    store
        .publish_segments(&[published(EPOCH, 0, 0)], None, at(NOW))
        .await
        .unwrap();
    store
        .mark_segments("wiki", &SegmentSelection::All, false, at(NOW))
        .await
        .unwrap();
    let append = AllocateRequest {
        lock_version: EPOCH.into(),
        ..request("s1", None)
    };
    assert_eq!(
        allocate(&*store, &append).await,
        Some(allocated("1970-01-01T00:00:00.000ZS", numbered(0, 0)))
    );
}

/// Druid's `DELETE /pendingSegments/{dataSource}?interval=` deletes the rows created within the
/// interval; without one, all of the datasource's.
pub(super) async fn delete_pending_segments_by_creation_time_or_all(db: TestDb) {
    let store = db.open().await;
    let created_at = |data_source: &str, sequence: &str, now: &str| AllocateRequest {
        data_source: data_source.into(),
        now: at(now),
        ..request(sequence, None)
    };
    for (data_source, sequence, now) in [
        ("wiki", "a", "2026-03-08T10:00:00Z"),
        ("wiki", "b", "2026-03-08T11:00:00Z"),
        ("wiki", "c", "2026-03-08T12:00:00Z"),
        ("web", "web_a", "2026-03-08T10:00:00Z"),
    ] {
        assert!(allocate(&*store, &created_at(data_source, sequence, now))
            .await
            .is_some());
    }
    let first_hour = "2026-03-08T10:00:00Z/2026-03-08T11:00:00Z".parse().unwrap();
    assert_eq!(
        store
            .delete_pending_segments("wiki", Some(first_hour))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .delete_pending_segments("wiki", Some(first_hour))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.delete_pending_segments("wiki", None).await.unwrap(),
        2
    );
    let web = store
        .texts("SELECT dataSource AS ds FROM druid_pendingSegments", "ds")
        .await;
    assert_eq!(web, ["web"]);
}

pub(super) async fn delete_pending_segments_of_allocator_deletes_that_tasks_rows(db: TestDb) {
    let store = db.open().await;
    let by = |data_source: &str, sequence: &str, allocator: Option<&str>| AllocateRequest {
        data_source: data_source.into(),
        task_allocator_id: allocator.map(str::to_string),
        ..request(sequence, None)
    };
    let kept = [
        allocate(&*store, &by("wiki", "b", Some("task_2")))
            .await
            .unwrap(),
        allocate(&*store, &by("wiki", "d", None)).await.unwrap(),
    ];
    allocate(&*store, &by("wiki", "a", Some("task_1")))
        .await
        .unwrap();
    allocate(&*store, &by("web", "web_c", Some("task_1")))
        .await
        .unwrap();

    assert_eq!(
        store
            .delete_pending_segments_of_allocator("task_1")
            .await
            .unwrap(),
        2
    );
    let mut expected: Vec<String> = kept.iter().map(|id| id.id().to_string()).collect();
    expected.sort();
    assert_eq!(pending_ids(&*store).await, expected);
}

/// Druid's unique key of a pending segment hashes sequence, previous segment and version, not
/// the datasource: a sequence name taken in one datasource cannot start in another at the same
/// version. Sequence names carry the task's id (and so its datasource) in Druid.
pub(super) async fn a_sequence_name_is_one_key_across_datasources(db: TestDb) {
    let store = db.open().await;
    assert!(allocate(&*store, &request("s1", None)).await.is_some());
    let elsewhere = AllocateRequest {
        data_source: "web".into(),
        ..request("s1", None)
    };
    let err = store
        .allocate_pending_segment(&elsewhere)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(pending_ids(&*store).await.len(), 1);
    let other_version = AllocateRequest {
        lock_version: "2026-03-08T09:30:00.000Z".into(),
        ..elsewhere
    };
    assert!(allocate(&*store, &other_version).await.is_some());
}
