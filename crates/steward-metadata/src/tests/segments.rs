//! Published segments: publishing (idempotent, overshadowing, all or nothing), the reads with
//! each of their filters, marking used and unused, deletion, datasource summaries, and an older
//! Druid's segment tables brought up to date.

use steward_model::time::format_ts;
use steward_model::{DataSegment, Interval, SegmentSchemaMapping};

use super::databases::{Backend, TestDb, TestStore};
use super::{at, end_column, refuse, run_all, segment, segment_ids};
use crate::sql::Param;
use crate::{
    AllocateRequest, DataSourceStats, DataSourceSummary, PublishOutcome, SegmentSelection,
    StoreError, UnusedSegmentsQuery,
};

const DAY1: &str = "2024-01-01/2024-01-02";
const DAY2: &str = "2024-01-02/2024-01-03";
const DAY3: &str = "2024-01-03/2024-01-04";
const T0: &str = "2026-03-08T10:00:00Z";
const T1: &str = "2026-03-08T11:00:00Z";
const T2: &str = "2026-03-08T12:00:00Z";
const T3: &str = "2026-03-08T13:00:00Z";

fn wiki(interval: &str, version: &str, partition_num: u32) -> DataSegment {
    segment("wiki", interval, version, partition_num)
}

fn iv(interval: &str) -> Interval {
    interval.parse().unwrap()
}

async fn publish(store: &dyn TestStore, segments: &[&DataSegment], now: &str) -> PublishOutcome {
    let segments: Vec<DataSegment> = segments.iter().map(|s| (*s).clone()).collect();
    store
        .publish_segments(&segments, None, at(now))
        .await
        .unwrap()
}

async fn used(store: &dyn TestStore, data_source: &str, intervals: &[&str]) -> Vec<String> {
    let intervals: Vec<Interval> = intervals.iter().map(|i| iv(i)).collect();
    segment_ids(&store.used_segments(data_source, &intervals).await.unwrap())
}

async fn unused(store: &dyn TestStore, query: UnusedSegmentsQuery) -> Vec<String> {
    segment_ids(&store.unused_segments(&query).await.unwrap())
}

fn unused_of(data_source: &str) -> UnusedSegmentsQuery {
    UnusedSegmentsQuery {
        data_source: data_source.into(),
        ..UnusedSegmentsQuery::default()
    }
}

async fn mark(
    store: &dyn TestStore,
    data_source: &str,
    selection: SegmentSelection,
    used: bool,
    now: &str,
) -> u64 {
    store
        .mark_segments(data_source, &selection, used, at(now))
        .await
        .unwrap()
}

fn ids_of(segments: &[&DataSegment]) -> SegmentSelection {
    SegmentSelection::Ids(segments.iter().map(|s| s.id().to_string()).collect())
}

pub(super) async fn publish_inserts_used_segments_once(db: TestDb) {
    let store = db.open().await;
    let a0 = wiki(DAY1, "v1", 0);
    let a1 = wiki(DAY1, "v1", 1);
    let b = wiki(DAY2, "v1", 0);
    assert_eq!(
        publish(&*store, &[&a0, &a1], T0).await,
        PublishOutcome {
            inserted: vec![a0.clone(), a1.clone()],
            overshadowed: 0
        }
    );
    // Stored segments are not written again; one segment twice is one segment.
    assert_eq!(
        publish(&*store, &[&a0, &a1, &b, &b], T1).await,
        PublishOutcome {
            inserted: vec![b.clone()],
            overshadowed: 0
        }
    );
    let mut changed = a0.clone();
    changed.size = 1;
    assert!(publish(&*store, &[&changed], T1).await.inserted.is_empty());
    assert_eq!(
        store.segment("wiki", &a0.id().to_string()).await.unwrap(),
        Some((a0.clone(), true))
    );
    assert_eq!(
        used(&*store, "wiki", &[]).await,
        segment_ids([&a0, &a1, &b])
    );
    assert_eq!(
        store.publish_segments(&[], None, at(T1)).await.unwrap(),
        PublishOutcome::default()
    );
}

/// The row carries Druid's columns as Druid writes them, and the payload is the segment's JSON
/// byte for byte.
pub(super) async fn published_rows_hold_druids_columns_and_the_payload_byte_for_byte(db: TestDb) {
    let store = db.open().await;
    let s = wiki(DAY1, "2026-03-01T00:00:00.000Z", 3);
    publish(&*store, &[&s], "2026-03-08T10:00:00.123Z").await;
    let id = s.id().to_string();
    assert_eq!(
        store
            .bytes("SELECT payload FROM druid_segments", "payload")
            .await,
        [serde_json::to_vec(&s).unwrap()]
    );
    let end = end_column(db.backend);
    let columns = format!(
        "SELECT id, dataSource AS ds, created_date, start, {end} AS e, version, \
         used_status_last_updated FROM druid_segments WHERE used = TRUE AND partitioned = TRUE"
    );
    let column = |name: &'static str| {
        let store = store.clone();
        let columns = columns.clone();
        async move { store.texts(&columns, name).await }
    };
    assert_eq!(column("id").await, [id.as_str()]);
    assert_eq!(column("ds").await, ["wiki"]);
    assert_eq!(column("created_date").await, ["2026-03-08T10:00:00.123Z"]);
    assert_eq!(column("start").await, ["2024-01-01T00:00:00.000Z"]);
    assert_eq!(column("e").await, ["2024-01-02T00:00:00.000Z"]);
    assert_eq!(column("version").await, ["2026-03-01T00:00:00.000Z"]);
    assert_eq!(
        column("used_status_last_updated").await,
        ["2026-03-08T10:00:00.123Z"]
    );
    assert_eq!(
        id,
        "wiki_2024-01-01T00:00:00.000Z_2024-01-02T00:00:00.000Z_2026-03-01T00:00:00.000Z_3"
    );
}

/// A publish marks unused, in its transaction, the older segments it overshadows: those whose
/// whole interval segments of higher versions cover, alone or together. Partly covered
/// segments, equal versions and other datasources stay used.
pub(super) async fn publishing_marks_overshadowed_segments_unused(db: TestDb) {
    let store = db.open().await;
    let old0 = wiki(DAY1, "v1", 0);
    let old1 = wiki(DAY1, "v1", 1);
    let old_day2 = wiki(DAY2, "v1", 0);
    let straddle = wiki("2024-01-01T12:00Z/2024-01-03", "v1", 0);
    let hour = wiki("2024-01-01T00:00Z/2024-01-01T01:00Z", "v2", 0);
    let web = segment("web", DAY1, "v1", 0);
    publish(&*store, &[&old0, &old1, &old_day2, &straddle, &hour], T0).await;
    // On its own: one publish is one datasource.
    publish(&*store, &[&web], T0).await;

    let new_day1 = wiki(DAY1, "v2", 0);
    let out = publish(&*store, &[&new_day1], T1).await;
    assert_eq!(out.overshadowed, 2);
    assert_eq!(
        unused(&*store, unused_of("wiki")).await,
        segment_ids([&old0, &old1])
    );
    // Marked at the publish's time.
    let marked_by = |max: &str| UnusedSegmentsQuery {
        max_used_status_last_updated: Some(at(max)),
        ..unused_of("wiki")
    };
    assert_eq!(unused(&*store, marked_by(T1)).await.len(), 2);
    assert!(unused(&*store, marked_by("2026-03-08T10:59:59.999Z"))
        .await
        .is_empty());

    // Half of day 2 at a higher version covers neither day 2 nor the straddling segment...
    let am = wiki("2024-01-02T00:00Z/2024-01-02T12:00Z", "v3", 0);
    assert_eq!(publish(&*store, &[&am], T2).await.overshadowed, 0);
    // ...the other half does, together with what is used already.
    let pm = wiki("2024-01-02T12:00Z/2024-01-03", "v2", 0);
    assert_eq!(publish(&*store, &[&pm], T3).await.overshadowed, 2);
    assert_eq!(
        used(&*store, "wiki", &[]).await,
        segment_ids([&hour, &new_day1, &am, &pm])
    );
    assert_eq!(
        unused(&*store, unused_of("wiki")).await,
        segment_ids([&old0, &old1, &straddle, &old_day2])
    );
    assert_eq!(used(&*store, "web", &[]).await, segment_ids([&web]));
}

/// As in Druid, a segment that another segment of the same publish overshadows is written
/// unused.
pub(super) async fn a_segment_its_own_publish_overshadows_is_written_unused(db: TestDb) {
    let store = db.open().await;
    let older = wiki(DAY1, "v1", 0);
    let newer = wiki(DAY1, "v2", 0);
    let out = publish(&*store, &[&older, &newer], T0).await;
    assert_eq!(out.inserted, [older.clone(), newer.clone()]);
    assert_eq!(out.overshadowed, 0);
    let state = |s: DataSegment| {
        let store = store.clone();
        async move {
            store
                .segment("wiki", &s.id().to_string())
                .await
                .unwrap()
                .unwrap()
                .1
        }
    };
    assert!(!state(older).await);
    assert!(state(newer).await);
}

/// A publish that fails anywhere leaves nothing: not the segments inserted before the failing
/// insert, not the ones inserted before the overshadowed segments' update fails.
pub(super) async fn publish_is_all_or_nothing(db: TestDb) {
    let store = db.open().await;
    let old = wiki(DAY1, "v1", 0);
    publish(&*store, &[&old], T0).await;
    let new0 = wiki(DAY1, "v2", 0);
    let new1 = wiki(DAY1, "v2", 1);
    let stored = |s: DataSegment| {
        let store = store.clone();
        async move { store.segment("wiki", &s.id().to_string()).await.unwrap() }
    };

    // Two different segments with one id: the second insert fails on the primary key.
    let mut clash = new0.clone();
    clash.size = 7;
    let err = store
        .publish_segments(&[new0.clone(), new1.clone(), clash], None, at(T1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(stored(new0.clone()).await, None);
    assert_eq!(stored(new1.clone()).await, None);
    assert_eq!(used(&*store, "wiki", &[]).await, segment_ids([&old]));

    // Marking the overshadowed segment fails after both inserts.
    let undo = refuse(
        &*store,
        db.backend,
        "UPDATE",
        "druid_segments",
        "no marking",
    )
    .await;
    store
        .publish_segments(&[new0.clone(), new1.clone()], None, at(T1))
        .await
        .unwrap_err();
    assert_eq!(stored(new0.clone()).await, None);
    assert_eq!(stored(new1.clone()).await, None);
    assert_eq!(stored(old.clone()).await, Some((old.clone(), true)));
    run_all(&*store, undo).await;

    let out = publish(&*store, &[&new0, &new1], T1).await;
    assert_eq!(out.overshadowed, 1);
    assert_eq!(
        used(&*store, "wiki", &[]).await,
        segment_ids([&new0, &new1])
    );
}

pub(super) async fn publish_refuses_segments_of_several_datasources(db: TestDb) {
    let store = db.open().await;
    let err = store
        .publish_segments(
            &[wiki(DAY1, "v1", 0), segment("web", DAY1, "v1", 0)],
            None,
            at(T0),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
    assert!(store.data_sources(true).await.unwrap().is_empty());
}

/// Used segments overlapping any interval asked for, in (start, end, version, partition)
/// order: partition 10 after partition 2, though its id sorts before.
pub(super) async fn used_segments_overlap_any_interval_in_timeline_order(db: TestDb) {
    let store = db.open().await;
    let p10 = wiki(DAY1, "v1", 10);
    let p2 = wiki(DAY1, "v1", 2);
    let straddle = wiki("2024-01-01T12:00Z/2024-01-02T12:00Z", "v1", 0);
    let day2 = wiki(DAY2, "v1", 0);
    let day3 = wiki(DAY3, "v1", 0);
    let day4 = wiki("2024-01-04/2024-01-05", "v1", 0);
    publish(&*store, &[&p10, &day3, &straddle, &day2, &p2, &day4], T0).await;
    publish(&*store, &[&segment("web", DAY2, "v1", 0)], T0).await;
    assert_eq!(mark(&*store, "wiki", ids_of(&[&day4]), false, T1).await, 1);

    let ordered = segment_ids([&p2, &p10, &straddle, &day2, &day3]);
    assert_eq!(used(&*store, "wiki", &[]).await, ordered);
    assert_eq!(
        used(&*store, "wiki", &[DAY2]).await,
        segment_ids([&straddle, &day2])
    );
    assert_eq!(
        used(
            &*store,
            "wiki",
            &["2024-01-01T00:00Z/2024-01-01T01:00Z", DAY3]
        )
        .await,
        segment_ids([&p2, &p10, &day3])
    );
    assert!(used(&*store, "wiki", &["2024-01-04/2024-01-05"])
        .await
        .is_empty());
    // An interval the statement cannot compare as strings is checked on the rows.
    let eternity = store
        .used_segments("wiki", &[Interval::eternity()])
        .await
        .unwrap();
    assert_eq!(segment_ids(&eternity), ordered);
    assert_eq!(used(&*store, "web", &[]).await.len(), 1);
}

pub(super) async fn unused_segments_apply_each_filter(db: TestDb) {
    let store = db.open().await;
    let s1 = wiki(DAY1, "v1", 0);
    let s2 = wiki(DAY1, "v1", 1);
    let s3 = wiki(DAY2, "v2", 0);
    let s4 = wiki(DAY3, "v1", 0);
    let used_one = wiki("2024-01-05/2024-01-06", "v1", 0);
    publish(&*store, &[&s1, &s2, &s3, &s4, &used_one], T0).await;
    let web = segment("web", DAY1, "v1", 0);
    publish(&*store, &[&web], T0).await;
    mark(&*store, "wiki", ids_of(&[&s1, &s2]), false, T1).await;
    mark(&*store, "web", ids_of(&[&web]), false, T1).await;
    mark(&*store, "wiki", ids_of(&[&s3]), false, T2).await;
    mark(&*store, "wiki", ids_of(&[&s4]), false, T3).await;
    let query = |interval: Option<&str>,
                 versions: Option<&[&str]>,
                 limit: Option<usize>,
                 max: Option<&str>| UnusedSegmentsQuery {
        data_source: "wiki".into(),
        interval: interval.map(iv),
        versions: versions.map(|v| v.iter().map(|s| s.to_string()).collect()),
        limit,
        max_used_status_last_updated: max.map(at),
    };
    let ids = |segments: &[&DataSegment]| -> Vec<String> {
        segments.iter().map(|s| s.id().to_string()).collect()
    };

    assert_eq!(
        unused(&*store, query(None, None, None, None)).await,
        ids(&[&s1, &s2, &s3, &s4])
    );
    // Segments within the interval only.
    assert_eq!(
        unused(
            &*store,
            query(Some("2024-01-01/2024-01-03"), None, None, None)
        )
        .await,
        ids(&[&s1, &s2, &s3])
    );
    assert_eq!(
        unused(
            &*store,
            query(Some("2024-01-01T12:00Z/2024-01-04"), None, None, None)
        )
        .await,
        ids(&[&s3, &s4])
    );
    assert_eq!(
        unused(&*store, query(None, Some(&["v2", "v1"]), None, None)).await,
        ids(&[&s1, &s2, &s3, &s4])
    );
    assert_eq!(
        unused(&*store, query(None, Some(&["v2"]), None, None)).await,
        ids(&[&s3])
    );
    assert!(unused(&*store, query(None, Some(&[]), None, None))
        .await
        .is_empty());
    assert_eq!(
        unused(&*store, query(None, None, Some(2), None)).await,
        ids(&[&s1, &s2])
    );
    assert!(unused(&*store, query(None, None, Some(0), None))
        .await
        .is_empty());
    assert_eq!(
        unused(&*store, query(None, None, None, Some(T1))).await,
        ids(&[&s1, &s2])
    );
    assert_eq!(
        unused(&*store, query(None, None, None, Some(T2))).await,
        ids(&[&s1, &s2, &s3])
    );
    assert_eq!(
        unused(
            &*store,
            query(
                Some("2024-01-01/2024-01-04"),
                Some(&["v1"]),
                Some(2),
                Some(T3)
            )
        )
        .await,
        ids(&[&s1, &s2])
    );
    // The limit also holds where the interval is checked on the rows.
    let eternity = UnusedSegmentsQuery {
        interval: Some(Interval::eternity()),
        limit: Some(3),
        ..unused_of("wiki")
    };
    assert_eq!(unused(&*store, eternity).await, ids(&[&s1, &s2, &s3]));
    assert_eq!(unused(&*store, unused_of("web")).await, ids(&[&web]));
}

pub(super) async fn segment_returns_one_segment_with_its_state(db: TestDb) {
    let store = db.open().await;
    let kept = wiki(DAY1, "v1", 0);
    let dropped = wiki(DAY2, "v1", 0);
    publish(&*store, &[&kept, &dropped], T0).await;
    mark(&*store, "wiki", ids_of(&[&dropped]), false, T1).await;
    let get = |data_source: &'static str, id: String| {
        let store = store.clone();
        async move { store.segment(data_source, &id).await.unwrap() }
    };
    assert_eq!(
        get("wiki", kept.id().to_string()).await,
        Some((kept.clone(), true))
    );
    assert_eq!(
        get("wiki", dropped.id().to_string()).await,
        Some((dropped, false))
    );
    assert_eq!(get("web", kept.id().to_string()).await, None);
    assert_eq!(get("wiki", "missing".into()).await, None);
}

/// By interval, only segments within it change, each once; marking used leaves overshadowed
/// segments unused.
pub(super) async fn marking_by_interval_changes_contained_segments_only(db: TestDb) {
    let store = db.open().await;
    let a0 = wiki(DAY1, "v1", 0);
    let a1 = wiki(DAY1, "v1", 1);
    let straddle = wiki("2024-01-01T12:00Z/2024-01-02T12:00Z", "v1", 0);
    let b = wiki(DAY2, "v1", 0);
    publish(&*store, &[&a0, &a1, &straddle, &b], T0).await;
    let web = segment("web", DAY1, "v1", 0);
    publish(&*store, &[&web], T0).await;
    let day1 = || SegmentSelection::Interval(iv(DAY1));

    assert_eq!(mark(&*store, "wiki", day1(), false, T1).await, 2);
    assert_eq!(mark(&*store, "wiki", day1(), false, T2).await, 0);
    assert_eq!(
        used(&*store, "wiki", &[]).await,
        segment_ids([&straddle, &b])
    );
    assert_eq!(used(&*store, "web", &[]).await, segment_ids([&web]));
    let marked_at_t1 = UnusedSegmentsQuery {
        max_used_status_last_updated: Some(at(T1)),
        ..unused_of("wiki")
    };
    assert_eq!(unused(&*store, marked_at_t1).await, segment_ids([&a0, &a1]));

    assert_eq!(mark(&*store, "wiki", day1(), true, T2).await, 2);
    assert_eq!(mark(&*store, "wiki", day1(), true, T2).await, 0);

    // A higher version over day 1 overshadows both: marking them used again does nothing.
    let v2 = wiki(DAY1, "v2", 0);
    assert_eq!(publish(&*store, &[&v2], T3).await.overshadowed, 2);
    assert_eq!(mark(&*store, "wiki", day1(), true, T3).await, 0);
    assert_eq!(
        unused(&*store, unused_of("wiki")).await,
        segment_ids([&a0, &a1])
    );
}

pub(super) async fn marking_by_ids_counts_changes_and_leaves_overshadowed_segments_unused(
    db: TestDb,
) {
    let store = db.open().await;
    let a = wiki(DAY1, "v1", 0);
    let b = wiki(DAY2, "v1", 0);
    publish(&*store, &[&a, &b], T0).await;
    let web = segment("web", DAY1, "v1", 0);
    publish(&*store, &[&web], T0).await;

    // Missing ids and another datasource's are not marked.
    let selection = SegmentSelection::Ids(vec![
        a.id().to_string(),
        b.id().to_string(),
        "missing".into(),
        web.id().to_string(),
    ]);
    assert_eq!(mark(&*store, "wiki", selection.clone(), false, T1).await, 2);
    assert_eq!(mark(&*store, "wiki", selection, false, T1).await, 0);
    assert_eq!(used(&*store, "web", &[]).await.len(), 1);

    assert_eq!(mark(&*store, "wiki", ids_of(&[&a]), true, T2).await, 1);
    assert_eq!(mark(&*store, "wiki", ids_of(&[&a]), true, T2).await, 0);
    // Marking used, an id that is not the datasource's is refused, as in Druid.
    let err = store
        .mark_segments(
            "wiki",
            &SegmentSelection::Ids(vec![b.id().to_string(), "missing".into()]),
            true,
            at(T2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Rejected(m) if m.contains("missing")),
        "{err:?}"
    );
    assert_eq!(used(&*store, "wiki", &[]).await, segment_ids([&a]));

    // Of two unused versions of one interval, only the higher becomes used...
    let c = wiki(DAY2, "v2", 0);
    publish(&*store, &[&c], T2).await;
    assert_eq!(mark(&*store, "wiki", ids_of(&[&c]), false, T3).await, 1);
    assert_eq!(mark(&*store, "wiki", ids_of(&[&b, &c]), true, T3).await, 1);
    assert_eq!(used(&*store, "wiki", &[]).await, segment_ids([&a, &c]));
    // ...and the lower stays unused while the higher is used.
    assert_eq!(mark(&*store, "wiki", ids_of(&[&b]), true, T3).await, 0);
}

pub(super) async fn marking_all_segments_unused_and_used_again(db: TestDb) {
    let store = db.open().await;
    let a = wiki(DAY1, "v1", 0);
    let b = wiki(DAY2, "v1", 0);
    let c = wiki(DAY2, "v2", 0);
    publish(&*store, &[&a, &b], T0).await;
    assert_eq!(publish(&*store, &[&c], T0).await.overshadowed, 1);
    let web = segment("web", DAY1, "v1", 0);
    publish(&*store, &[&web], T0).await;

    assert_eq!(
        mark(&*store, "wiki", SegmentSelection::All, false, T1).await,
        2
    );
    assert!(used(&*store, "wiki", &[]).await.is_empty());
    assert_eq!(used(&*store, "web", &[]).await, segment_ids([&web]));
    assert_eq!(
        mark(&*store, "wiki", SegmentSelection::All, false, T1).await,
        0
    );

    // b stays unused: c overshadows it.
    assert_eq!(
        mark(&*store, "wiki", SegmentSelection::All, true, T2).await,
        2
    );
    assert_eq!(used(&*store, "wiki", &[]).await, segment_ids([&a, &c]));
    assert_eq!(unused(&*store, unused_of("wiki")).await, segment_ids([&b]));
}

pub(super) async fn delete_segments_removes_rows_used_or_not(db: TestDb) {
    let store = db.open().await;
    let a = wiki(DAY1, "v1", 0);
    let b = wiki(DAY2, "v1", 0);
    let web = segment("web", DAY1, "v1", 0);
    publish(&*store, &[&a, &b], T0).await;
    publish(&*store, &[&web], T0).await;
    mark(&*store, "wiki", ids_of(&[&b]), false, T1).await;

    let ids = vec![a.id().to_string(), b.id().to_string(), "missing".into()];
    assert_eq!(store.delete_segments(&ids).await.unwrap(), 2);
    assert_eq!(store.delete_segments(&ids).await.unwrap(), 0);
    assert_eq!(store.delete_segments(&[]).await.unwrap(), 0);
    assert_eq!(
        store.segment("wiki", &b.id().to_string()).await.unwrap(),
        None
    );
    assert!(unused(&*store, unused_of("wiki")).await.is_empty());
    assert_eq!(
        store.texts("SELECT id FROM druid_segments", "id").await,
        [web.id().to_string()]
    );
}

pub(super) async fn data_sources_summarise_used_segments_by_name(db: TestDb) {
    let store = db.open().await;
    let first = wiki(DAY1, "v1", 0);
    let last = wiki(DAY3, "v1", 1);
    let dropped = wiki("2024-01-05/2024-01-06", "v1", 0);
    publish(&*store, &[&last, &first, &dropped], T0).await;
    mark(&*store, "wiki", ids_of(&[&dropped]), false, T1).await;
    let zeta = segment("zeta", DAY1, "v1", 0);
    publish(&*store, &[&zeta], T0).await;
    mark(&*store, "zeta", ids_of(&[&zeta]), false, T1).await;
    publish(&*store, &[&segment("alpha", DAY2, "v1", 0)], T0).await;

    let summary = |name: &str, count: u64, size: u64, span: Option<&str>| DataSourceSummary {
        name: name.into(),
        segment_count: count,
        total_size: size,
        min_start: span.map(|s| iv(s).start),
        max_end: span.map(|s| iv(s).end),
    };
    let alpha = summary("alpha", 1, 1000, Some(DAY2));
    let wiki = summary("wiki", 2, 2001, Some("2024-01-01/2024-01-04"));
    assert_eq!(
        store.data_sources(false).await.unwrap(),
        [alpha.clone(), wiki.clone()]
    );
    assert_eq!(
        store.data_sources(true).await.unwrap(),
        [alpha, wiki, summary("zeta", 0, 0, None)]
    );
}

/// One aggregate row per datasource with segments: used and unused counts, bytes and the time
/// span of the used ones, their rows where `num_rows` is known, and their distinct intervals.
pub(super) async fn data_source_stats_add_up_used_and_unused_segments(db: TestDb) {
    let store = db.open().await;
    assert!(store.data_source_stats().await.unwrap().is_empty());
    let first = wiki(DAY1, "v1", 0);
    let second = wiki(DAY1, "v1", 1);
    let last = wiki(DAY3, "v1", 2);
    let dropped = wiki("2023-12-01/2023-12-02", "v1", 0);
    // Row counts come with the publish (Druid's `segmentSchemaMapping`); `second` has none,
    // and the dropped segment's do not count.
    let rows = SegmentSchemaMapping::of_rows(
        [(&first, 100), (&last, 20), (&dropped, 5000)]
            .into_iter()
            .map(|(s, rows)| (s.id().to_string(), rows)),
    );
    let batch = [last.clone(), first.clone(), second.clone(), dropped.clone()];
    store
        .publish_segments(&batch, Some(&rows), at(T0))
        .await
        .unwrap();
    mark(&*store, "wiki", ids_of(&[&dropped]), false, T1).await;
    let zeta = segment("zeta", DAY1, "v1", 0);
    publish(&*store, &[&zeta], T0).await;
    mark(&*store, "zeta", ids_of(&[&zeta]), false, T1).await;
    publish(&*store, &[&segment("alpha", DAY2, "v1", 0)], T0).await;

    let wiki_span = iv("2024-01-01/2024-01-04");
    assert_eq!(
        store.data_source_stats().await.unwrap(),
        [
            DataSourceStats {
                name: "alpha".into(),
                used_segments: 1,
                unused_segments: 0,
                size: 1000,
                rows: None,
                min_start: Some(iv(DAY2).start),
                max_end: Some(iv(DAY2).end),
                intervals: 1,
            },
            DataSourceStats {
                name: "wiki".into(),
                used_segments: 3,
                unused_segments: 1,
                size: 1000 + 1001 + 1002,
                rows: Some(120),
                min_start: Some(wiki_span.start),
                max_end: Some(wiki_span.end),
                intervals: 2,
            },
            DataSourceStats {
                name: "zeta".into(),
                used_segments: 0,
                unused_segments: 1,
                size: 0,
                rows: None,
                min_start: None,
                max_end: None,
                intervals: 0,
            },
        ]
    );
}

pub(super) async fn used_segments_of_lists_the_datasources_asked_for(db: TestDb) {
    let store = db.open().await;
    let wiki_segment = wiki(DAY1, "v1", 0);
    let web = segment("web", DAY2, "v1", 0);
    let zeta = segment("zeta", DAY1, "v1", 0);
    let zeta_dropped = segment("zeta", DAY2, "v1", 0);
    publish(&*store, &[&wiki_segment], T0).await;
    publish(&*store, &[&web], T0).await;
    publish(&*store, &[&zeta, &zeta_dropped], T0).await;
    mark(&*store, "zeta", ids_of(&[&zeta_dropped]), false, T1).await;

    assert_eq!(
        store.used_segments_of(&[]).await.unwrap(),
        [web, wiki_segment.clone(), zeta.clone()]
    );
    let asked = [
        "zeta".to_string(),
        "wiki".into(),
        "missing".into(),
        "zeta".into(),
    ];
    assert_eq!(
        store.used_segments_of(&asked).await.unwrap(),
        [wiki_segment, zeta]
    );
}

/// A Druid from before `used_status_last_updated`, `upgraded_from_segment_id`,
/// `task_allocator_id` and the others made its tables without them; opening adds them, old
/// rows read as they are, and the new columns are written.
pub(super) async fn an_older_druids_segment_tables_get_the_columns_druid_added(db: TestDb) {
    let scratch = db.open_with_base("scratch").await.unwrap();
    let payload = match db.backend {
        Backend::Sqlite => "BLOB",
        Backend::Postgres => "BYTEA",
        Backend::MySql => "LONGBLOB",
    };
    let end = end_column(db.backend);
    scratch
        .exec(
            &format!(
                "CREATE TABLE druid_segments (id VARCHAR(255) NOT NULL PRIMARY KEY, \
                 dataSource VARCHAR(255) NOT NULL, created_date VARCHAR(255) NOT NULL, \
                 start VARCHAR(255) NOT NULL, {end} VARCHAR(255) NOT NULL, \
                 partitioned BOOLEAN NOT NULL, version VARCHAR(255) NOT NULL, \
                 used BOOLEAN NOT NULL, payload {payload} NOT NULL)"
            ),
            vec![],
        )
        .await;
    scratch
        .exec(
            &format!(
                "CREATE TABLE druid_pendingSegments (id VARCHAR(255) NOT NULL PRIMARY KEY, \
                 dataSource VARCHAR(255) NOT NULL, created_date VARCHAR(255) NOT NULL, \
                 start VARCHAR(255) NOT NULL, {end} VARCHAR(255) NOT NULL, \
                 sequence_name VARCHAR(255) NOT NULL, sequence_prev_id VARCHAR(255) NOT NULL, \
                 sequence_name_prev_id_sha1 VARCHAR(255) NOT NULL UNIQUE, \
                 payload {payload} NOT NULL)"
            ),
            vec![],
        )
        .await;
    let old = wiki(DAY1, "v1", 0);
    scratch
        .exec(
            &format!(
                "INSERT INTO druid_segments (id, dataSource, created_date, start, {end}, \
                 partitioned, version, used, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            vec![
                Param::Text(old.id().to_string()),
                Param::from("wiki"),
                Param::from("2020-01-01T00:00:00.000Z"),
                Param::Text(format_ts(old.interval.start)),
                Param::Text(format_ts(old.interval.end)),
                Param::Flag(true),
                Param::from("v1"),
                Param::Flag(false),
                Param::Bytes(old.to_bytes()),
            ],
        )
        .await;
    scratch.close_pool().await;

    let store = db.open().await;
    assert_eq!(
        unused(&*store, unused_of("wiki")).await,
        segment_ids([&old])
    );
    // The row never recorded when it was marked unused: a bound on that leaves it out.
    let bounded = UnusedSegmentsQuery {
        max_used_status_last_updated: Some(at("2030-01-01T00:00:00Z")),
        ..unused_of("wiki")
    };
    assert!(unused(&*store, bounded.clone()).await.is_empty());
    let newer = wiki(DAY2, "v1", 0);
    publish(&*store, &[&newer], T0).await;
    assert_eq!(mark(&*store, "wiki", ids_of(&[&old]), true, T1).await, 1);
    assert_eq!(
        used(&*store, "wiki", &[]).await,
        segment_ids([&old, &newer])
    );

    let request = AllocateRequest {
        data_source: "wiki".into(),
        interval: iv(DAY3),
        sequence_name: "seq".into(),
        previous_segment_id: None,
        skip_segment_line_check: false,
        lock_version: "v1".into(),
        shard_spec: Default::default(),
        task_allocator_id: Some("task_1".into()),
        now: at(T1),
    };
    assert!(store
        .allocate_pending_segment(&request)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .delete_pending_segments_of_allocator("task_1")
            .await
            .unwrap(),
        1
    );
}
