//! Task lock rows: recorded, replaced, deleted by what the lock is, and listed for the active
//! tasks a new leader takes over.

use steward_model::{LockGranularity, TaskLock, TaskLockType};

use super::databases::TestDb;
use super::{complete, insert};
use crate::sql::Param;
use crate::StoreError;

fn lock(group: &str, interval: &str, version: &str) -> TaskLock {
    TaskLock {
        granularity: LockGranularity::TimeChunk,
        lock_type: TaskLockType::Exclusive,
        group_id: group.into(),
        data_source: "wiki".into(),
        interval: interval.parse().unwrap(),
        version: version.into(),
        priority: Some(50),
        revoked: false,
    }
}

pub(super) async fn locks_are_inserted_replaced_and_deleted_by_payload(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "t1", "wiki", "2026-03-08T10:00:00Z").await;
    let day1 = lock("g1", "2024-01-01/2024-01-02", "2026-03-08T10:00:00.000Z");
    let day2 = lock("g1", "2024-01-02/2024-01-03", "2026-03-08T10:00:00.000Z");
    store.insert_lock("t1", &day1).await.unwrap();
    store.insert_lock("t1", &day2).await.unwrap();
    assert_eq!(
        store.active_task_locks().await.unwrap(),
        [("t1".into(), day1.clone()), ("t1".into(), day2.clone())]
    );
    // The row holds Druid's lock JSON.
    assert_eq!(
        store
            .bytes(
                "SELECT lock_payload FROM druid_tasklocks ORDER BY id",
                "lock_payload"
            )
            .await,
        [
            serde_json::to_vec(&day1).unwrap(),
            serde_json::to_vec(&day2).unwrap()
        ]
    );

    // Revocation replaces the row: the new one is the latest.
    store
        .replace_lock("t1", &day1, &day1.revoked())
        .await
        .unwrap();
    assert_eq!(
        store.active_task_locks().await.unwrap(),
        [("t1".into(), day2.clone()), ("t1".into(), day1.revoked())]
    );

    // A lock the task does not hold is not replaced, and nothing changes.
    let err = store
        .replace_lock("t1", &day1, &day1.revoked())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    store.delete_lock("t1", &day1).await.unwrap();
    assert_eq!(store.active_task_locks().await.unwrap().len(), 2);

    store.delete_lock("t1", &day2).await.unwrap();
    assert_eq!(
        store.active_task_locks().await.unwrap(),
        [("t1".into(), day1.revoked())]
    );
}

/// Rows are a task's: another task's equal lock is neither replaced nor deleted.
pub(super) async fn lock_rows_are_matched_by_task(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "t1", "wiki", "2026-03-08T10:00:00Z").await;
    insert(&*store, "t2", "wiki", "2026-03-08T10:00:01Z").await;
    let shared = lock("g", "2024-01-01/2024-01-02", "v1");
    store.insert_lock("t1", &shared).await.unwrap();
    store.insert_lock("t2", &shared).await.unwrap();

    store.delete_lock("t2", &shared).await.unwrap();
    assert_eq!(
        store.active_task_locks().await.unwrap(),
        [("t1".into(), shared.clone())]
    );
    let err = store
        .replace_lock("t2", &shared, &shared.revoked())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        store.active_task_locks().await.unwrap(),
        [("t1".into(), shared)]
    );
}

pub(super) async fn active_task_locks_lists_active_tasks_only_in_row_order(db: TestDb) {
    let store = db.open().await;
    for (id, created) in [
        ("t1", "2026-03-08T10:00:00Z"),
        ("t2", "2026-03-08T10:00:01Z"),
        ("t3", "2026-03-08T10:00:02Z"),
    ] {
        insert(&*store, id, "wiki", created).await;
    }
    let a = lock("g2", "2024-01-01/2024-01-02", "v1");
    let b = lock("g1", "2024-01-02/2024-01-03", "v1");
    let c = lock("g3", "2024-01-03/2024-01-04", "v1");
    let d = lock("g2", "2024-01-04/2024-01-05", "v1");
    store.insert_lock("t2", &a).await.unwrap();
    store.insert_lock("t1", &b).await.unwrap();
    store.insert_lock("t3", &c).await.unwrap();
    store.insert_lock("t2", &d).await.unwrap();
    complete(&*store, "t3").await;
    assert_eq!(
        store.active_task_locks().await.unwrap(),
        [("t2".into(), a), ("t1".into(), b.clone()), ("t2".into(), d)]
    );
    complete(&*store, "t2").await;
    assert_eq!(store.active_task_locks().await.unwrap(), [("t1".into(), b)]);
}

pub(super) async fn delete_task_locks_deletes_every_row_of_the_task(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "t1", "wiki", "2026-03-08T10:00:00Z").await;
    insert(&*store, "t2", "wiki", "2026-03-08T10:00:01Z").await;
    let kept = lock("g2", "2024-01-03/2024-01-04", "v1");
    store
        .insert_lock("t1", &lock("g1", "2024-01-01/2024-01-02", "v1"))
        .await
        .unwrap();
    store
        .insert_lock("t1", &lock("g1", "2024-01-02/2024-01-03", "v1"))
        .await
        .unwrap();
    store.insert_lock("t2", &kept).await.unwrap();

    store.delete_task_locks("t1").await.unwrap();
    assert_eq!(
        store.active_task_locks().await.unwrap(),
        [("t2".into(), kept)]
    );
    assert_eq!(
        store
            .texts("SELECT task_id FROM druid_tasklocks", "task_id")
            .await,
        ["t2"]
    );
}

/// A row another program wrote wrong (or left without a payload, which Druid's column allows)
/// is skipped, not a reason to refuse the other locks.
pub(super) async fn undecodable_lock_payloads_are_skipped(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "t1", "wiki", "2026-03-08T10:00:00Z").await;
    let good = lock("g1", "2024-01-01/2024-01-02", "v1");
    store
        .exec(
            "INSERT INTO druid_tasklocks (task_id, lock_payload) VALUES (?, ?)",
            vec![Param::from("t1"), Param::Bytes(b"{not json".to_vec())],
        )
        .await;
    store
        .exec(
            "INSERT INTO druid_tasklocks (task_id) VALUES (?)",
            vec![Param::from("t1")],
        )
        .await;
    store.insert_lock("t1", &good).await.unwrap();
    assert_eq!(
        store.active_task_locks().await.unwrap(),
        [("t1".into(), good.clone())]
    );
    // Nor do they stop finding a lock to delete.
    store.delete_lock("t1", &good).await.unwrap();
    assert!(store.active_task_locks().await.unwrap().is_empty());
}
