//! Task rows: writing, reading back, status changes, corrupt rows, and retention.

use serde_json::json;
use steward_model::{Task, TaskLocation, TaskStatus};

use super::databases::TestDb;
use super::{at, complete, insert, list_ids, task};
use crate::sql::Param;
use crate::{StoreError, TaskInfo, TaskQuery};

pub(super) async fn insert_and_get_round_trip_keeps_the_payload(db: TestDb) {
    let store = db.open().await;
    let submitted = Task::from_json(json!({
        "type": "noop", "id": "t1", "dataSource": "wiki", "groupId": "g1",
        "myField": {"nested": [1, "two", null]}, "context": {"priority": 75, "k": "v"}
    }))
    .unwrap();
    let status = TaskStatus::running("t1");
    store
        .insert_task(&submitted, at("2026-03-08T10:30:00.123Z"), &status)
        .await
        .unwrap();

    let stored = store.get_task("t1").await.unwrap().unwrap();
    assert_eq!(stored.to_json(), submitted.to_json());
    assert_eq!(
        stored.payload()["myField"],
        json!({"nested": [1, "two", null]})
    );
    let info = store.get_info("t1").await.unwrap().unwrap();
    assert_eq!(
        info,
        TaskInfo {
            id: "t1".into(),
            group_id: "g1".into(),
            task_type: "noop".into(),
            data_source: "wiki".into(),
            created_time: at("2026-03-08T10:30:00.123Z"),
            status,
            active: true,
        }
    );
    assert_eq!(store.get_task("missing").await.unwrap(), None);
    assert_eq!(store.get_info("missing").await.unwrap(), None);
}

pub(super) async fn duplicate_id_is_refused_and_the_row_is_unchanged(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "t1", "wiki", "2026-03-08T10:00:00Z").await;

    let other = task("t1", "other");
    let err = store
        .insert_task(
            &other,
            at("2026-03-09T00:00:00Z"),
            &TaskStatus::failure("t1", "x"),
        )
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::AlreadyExists("t1".into()));
    assert_eq!(
        store.get_task("t1").await.unwrap().unwrap(),
        task("t1", "wiki")
    );
    let info = store.get_info("t1").await.unwrap().unwrap();
    assert_eq!(info.data_source, "wiki");
    assert_eq!(info.created_time, at("2026-03-08T10:00:00Z"));
    assert_eq!(info.status, TaskStatus::running("t1"));
    assert!(info.active);
}

/// Ids, datasources and types compare exactly, on every database (MySQL's default collations
/// would make `T1` a duplicate of `t1` and `Wiki` match `wiki`).
pub(super) async fn ids_and_names_are_case_sensitive(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "t1", "wiki", "2026-03-08T10:00:00Z").await;
    insert(&*store, "T1", "Wiki", "2026-03-08T11:00:00Z").await;
    assert_eq!(
        store.get_info("T1").await.unwrap().unwrap().data_source,
        "Wiki"
    );
    assert_eq!(
        store.get_info("t1").await.unwrap().unwrap().data_source,
        "wiki"
    );
    let wiki = TaskQuery {
        data_source: Some("wiki".into()),
        ..TaskQuery::default()
    };
    assert_eq!(list_ids(&*store, wiki).await, ["t1"]);
    let mut ids: Vec<String> = store
        .get_infos(&["T1".into(), "t1".into()])
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["T1", "t1"]);
}

pub(super) async fn set_status_updates_active_rows_only(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "t1", "wiki", "2026-03-08T10:00:00Z").await;

    let located = TaskStatus::running("t1").with_location(TaskLocation::new("mm1", 8100));
    assert!(store.set_status(&located).await.unwrap());
    let info = store.get_info("t1").await.unwrap().unwrap();
    assert!(info.active, "a running status keeps the row active");
    assert_eq!(info.status, located);

    let failed = TaskStatus::failure("t1", "boom").with_duration(1234);
    assert!(store.set_status(&failed).await.unwrap());
    let info = store.get_info("t1").await.unwrap().unwrap();
    assert!(!info.active);
    assert_eq!(info.status, failed);

    assert!(!store.set_status(&TaskStatus::success("t1")).await.unwrap());
    assert!(!store.set_status(&TaskStatus::running("t1")).await.unwrap());
    let info = store.get_info("t1").await.unwrap().unwrap();
    assert!(!info.active);
    assert_eq!(info.status, failed);

    assert!(!store
        .set_status(&TaskStatus::success("missing"))
        .await
        .unwrap());
}

pub(super) async fn get_infos_returns_existing_rows_across_chunks(db: TestDb) {
    let store = db.open().await;
    for i in 0..600 {
        insert(&*store, &format!("t{i:04}"), "wiki", "2026-03-08T10:00:00Z").await;
    }
    // 1,200 ids: the even ones exist, the odd ones do not, plus one repeated id.
    let mut ids: Vec<String> = (0..1200)
        .map(|i| format!("t{:04}", i / 2 * 2 + i % 2 * 1001))
        .collect();
    ids.push("t0000".into());
    let mut found: Vec<String> = store
        .get_infos(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    found.sort();
    let expected: Vec<String> = (0..600).step_by(2).map(|i| format!("t{i:04}")).collect();
    assert_eq!(found, expected);
    assert!(store.get_infos(&[]).await.unwrap().is_empty());
}

/// PostgreSQL refuses a NUL in text; that must read as a bad request (400), never as an
/// outage (503) that clients retry. SQLite and MySQL store nothing under such an id either.
pub(super) async fn text_a_database_cannot_store_is_the_requests_fault(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "t1", "wiki", "2026-03-08T10:00:00Z").await;
    let nul = "t1\0".to_string();
    match store.get_info(&nul).await {
        Ok(found) => assert_eq!(found, None),
        Err(e) => assert!(matches!(e, StoreError::Rejected(_)), "{e:?}"),
    }
    match store.get_infos(&["t1".to_string(), nul]).await {
        Ok(found) => assert_eq!(found.len(), 1),
        Err(e) => assert!(matches!(e, StoreError::Rejected(_)), "{e:?}"),
    }
    // The store still serves afterwards.
    assert!(store.get_info("t1").await.unwrap().is_some());
}

pub(super) async fn active_tasks_come_oldest_first_with_payloads(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "late", "wiki", "2026-03-08T12:00:00Z").await;
    insert(&*store, "done", "wiki", "2026-03-08T09:00:00Z").await;
    insert(&*store, "early", "web", "2026-03-08T10:00:00Z").await;
    complete(&*store, "done").await;

    let active = store.active_tasks().await.unwrap();
    assert!(active.unrunnable.is_empty());
    let active = active.tasks;
    let ids: Vec<&str> = active.iter().map(|(task, _)| task.id()).collect();
    assert_eq!(ids, ["early", "late"]);
    let (task_early, info_early) = &active[0];
    assert_eq!(task_early, &task("early", "web"));
    assert_eq!(info_early.id, "early");
    assert_eq!(info_early.data_source, "web");
    assert_eq!(info_early.created_time, at("2026-03-08T10:00:00Z"));
    assert!(active.iter().all(|(_, info)| info.active));
}

pub(super) async fn undecodable_rows_are_reported_as_corrupt(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "t1", "wiki", "2026-03-08T10:00:00Z").await;
    store
        .exec(
            "UPDATE druid_tasks SET status_payload = ?, payload = ? WHERE id = 't1'",
            vec![Param::Bytes(b"{".to_vec()), Param::Bytes(b"[".to_vec())],
        )
        .await;

    assert!(matches!(store.get_info("t1").await, Err(StoreError::Corrupt(id, _)) if id == "t1"));
    assert!(matches!(store.get_task("t1").await, Err(StoreError::Corrupt(id, _)) if id == "t1"));
    assert!(
        matches!(store.list(&TaskQuery::default()).await, Err(StoreError::Corrupt(id, _)) if id == "t1")
    );
}

/// Retention deletes complete rows created before the bound, never an active row however old,
/// in batches until none is left.
pub(super) async fn retention_deletes_old_complete_tasks_and_never_active_ones(db: TestDb) {
    let store = db.open().await;
    insert(&*store, "old_done", "wiki", "2026-01-01T00:00:00Z").await;
    insert(&*store, "old_active", "wiki", "2026-01-01T00:00:00Z").await;
    insert(&*store, "edge_done", "wiki", "2026-03-01T00:00:00Z").await;
    insert(&*store, "new_done", "wiki", "2026-03-08T00:00:00Z").await;
    for id in ["old_done", "edge_done", "new_done"] {
        complete(&*store, id).await;
    }
    let cutoff = at("2026-03-01T00:00:00Z");

    assert_eq!(
        store
            .delete_complete_tasks_created_before(cutoff)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        list_ids(&*store, TaskQuery::default()).await,
        ["old_active", "new_done", "edge_done"],
        "the bound is exclusive"
    );
    assert_eq!(
        store
            .delete_complete_tasks_created_before(cutoff)
            .await
            .unwrap(),
        0
    );

    for day in 1..=5 {
        let id = format!("batch{day}");
        insert(&*store, &id, "web", &format!("2026-02-0{day}T00:00:00Z")).await;
        complete(&*store, &id).await;
    }
    assert_eq!(store.delete_in_batches(cutoff, 2).await, 5);
    assert_eq!(
        list_ids(&*store, TaskQuery::default()).await,
        ["old_active", "new_done", "edge_done"]
    );

    // edge_done was created at 00:00:00.000, half a millisecond before this bound.
    let just_after_edge = at("2026-03-01T00:00:00.0005Z");
    assert_eq!(
        store
            .delete_complete_tasks_created_before(just_after_edge)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        list_ids(&*store, TaskQuery::default()).await,
        ["old_active", "new_done"]
    );
    assert!(store.get_info("old_active").await.unwrap().unwrap().active);
}
