//! Listings: the two groups in their orders, and every filter on its own and combined.

use steward_model::TaskStatus;

use super::databases::{TestDb, TestStore};
use super::{at, complete, insert, list_ids};
use crate::TaskQuery;

/// Steward only accepts `noop` tasks; other types reach the table from Druid or later
/// versions, so tests write the column directly.
async fn set_type(store: &dyn TestStore, id: &str, task_type: &str) {
    store
        .exec(
            "UPDATE druid_tasks SET type = ? WHERE id = ?",
            vec![task_type.into(), id.into()],
        )
        .await;
}

/// Active: a0 (10:00), a1 (10:01), a2 (10:02, web, index).
/// Complete, newest first: c3 (09:45, index), c2 (09:30, web, index), c1 (09:00), c4 (08:00).
/// Everything else is noop on datasource wiki; insertion order differs from creation order.
async fn listing_fixture(store: &dyn TestStore) {
    insert(store, "c1", "wiki", "2026-03-08T09:00:00Z").await;
    insert(store, "a1", "wiki", "2026-03-08T10:01:00Z").await;
    insert(store, "c3", "wiki", "2026-03-08T09:45:00Z").await;
    insert(store, "a2", "web", "2026-03-08T10:02:00Z").await;
    insert(store, "c4", "wiki", "2026-03-08T08:00:00Z").await;
    insert(store, "a0", "wiki", "2026-03-08T10:00:00Z").await;
    insert(store, "c2", "web", "2026-03-08T09:30:00Z").await;
    for id in ["a2", "c2", "c3"] {
        set_type(store, id, "index").await;
    }
    for id in ["c1", "c2", "c3", "c4"] {
        complete(store, id).await;
    }
}

/// Asserts the ids each query lists; a case is (query, expected ids, what it shows).
async fn assert_listings(store: &dyn TestStore, cases: Vec<(TaskQuery, &[&str], &str)>) {
    for (query, expected, why) in cases {
        assert_eq!(
            list_ids(store, query.clone()).await,
            expected,
            "{why}: {query:?}"
        );
    }
}

pub(super) async fn list_orders_groups_and_applies_each_filter(db: TestDb) {
    let store = db.open().await;
    listing_fixture(&*store).await;
    let q = TaskQuery::default;
    let wiki = || Some("wiki".to_string());
    let index = || Some("index".to_string());
    assert_listings(
        &*store,
        vec![
            (q(), &["a0", "a1", "a2", "c3", "c2", "c1", "c4"], "all"),
            (
                TaskQuery {
                    active: Some(true),
                    ..q()
                },
                &["a0", "a1", "a2"],
                "active",
            ),
            (
                TaskQuery {
                    active: Some(false),
                    ..q()
                },
                &["c3", "c2", "c1", "c4"],
                "complete",
            ),
            (
                TaskQuery {
                    max_complete: Some(2),
                    ..q()
                },
                &["a0", "a1", "a2", "c3", "c2"],
                "active rows are never limited",
            ),
            (
                TaskQuery {
                    max_complete: Some(0),
                    ..q()
                },
                &["a0", "a1", "a2"],
                "no complete",
            ),
            (
                TaskQuery {
                    active: Some(true),
                    max_complete: Some(1),
                    ..q()
                },
                &["a0", "a1", "a2"],
                "a limit does not apply to active rows",
            ),
            (
                TaskQuery {
                    data_source: wiki(),
                    ..q()
                },
                &["a0", "a1", "c3", "c1", "c4"],
                "datasource",
            ),
            (
                TaskQuery {
                    task_type: index(),
                    ..q()
                },
                &["a2", "c3", "c2"],
                "type",
            ),
            (
                TaskQuery {
                    data_source: wiki(),
                    task_type: index(),
                    ..q()
                },
                &["c3"],
                "datasource and type",
            ),
            (
                TaskQuery {
                    active: Some(false),
                    data_source: wiki(),
                    max_complete: Some(2),
                    ..q()
                },
                &["c3", "c1"],
                "complete of a datasource, limited",
            ),
            (
                TaskQuery {
                    data_source: Some("none".into()),
                    ..q()
                },
                &[],
                "no match",
            ),
        ],
    )
    .await;

    let infos = store
        .list(&TaskQuery {
            task_type: index(),
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(infos[0].status, TaskStatus::running("a2"));
    assert!(infos[0].active);
    assert_eq!(infos[1].status, TaskStatus::success("c3"));
    assert!(!infos[1].active);
}

pub(super) async fn list_filters_on_creation_time(db: TestDb) {
    let store = db.open().await;
    listing_fixture(&*store).await;
    let q = TaskQuery::default;
    // c2 was created at 09:30:00.000, half a millisecond before this bound.
    let just_after_c2 = Some(at("2026-03-08T09:30:00.0005Z"));
    assert_listings(
        &*store,
        vec![
            (
                TaskQuery {
                    created_after: Some(at("2026-03-08T09:30:00Z")),
                    ..q()
                },
                &["a0", "a1", "a2", "c3", "c2"],
                "created_after is inclusive",
            ),
            (
                TaskQuery {
                    created_before: Some(at("2026-03-08T09:30:00Z")),
                    ..q()
                },
                &["c1", "c4"],
                "created_before is exclusive",
            ),
            (
                TaskQuery {
                    created_after: Some(at("2026-03-08T09:00:00Z")),
                    created_before: Some(at("2026-03-08T10:01:00Z")),
                    ..q()
                },
                &["a0", "c3", "c2", "c1"],
                "both bounds",
            ),
            (
                TaskQuery {
                    active: Some(false),
                    created_after: Some(at("2026-03-08T09:00:00Z")),
                    max_complete: Some(2),
                    ..q()
                },
                &["c3", "c2"],
                "complete after a bound, limited",
            ),
            (
                TaskQuery {
                    active: Some(false),
                    created_after: just_after_c2,
                    ..q()
                },
                &["c3"],
                "a sub-millisecond lower bound compares as the exact instant",
            ),
            (
                TaskQuery {
                    active: Some(false),
                    created_before: just_after_c2,
                    ..q()
                },
                &["c2", "c1", "c4"],
                "a sub-millisecond upper bound compares as the exact instant",
            ),
        ],
    )
    .await;
}
