//! The store tests, written once and run against every database: SQLite (a temporary file),
//! PostgreSQL and MariaDB (a database of their own per test, see [`databases`]).
//!
//! Each test is an async function taking its [`TestDb`]; [`suite!`] turns the list of them into
//! `sqlite::<test>`, `postgres::<test>` and `mysql::<test>`.

mod databases;

use jiff::Timestamp;
use serde_json::json;
use steward_model::time::parse_instant;
use steward_model::{Task, TaskLocation, TaskStatus};

use self::databases::{Backend, Planned, TestDb, TestStore};
use crate::sql::Param;
use crate::{open_store, AuditEntry, AuditInfo, StoreError, TaskInfo, TaskQuery};

macro_rules! backend_tests {
    ($module:ident, $backend:ident, $($test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = super::TestDb::create(super::Backend::$backend).await;
                    super::$test(db).await;
                }
            )*
        }
    };
}

macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        backend_tests!(sqlite, Sqlite, $($test),*);
        backend_tests!(postgres, Postgres, $($test),*);
        backend_tests!(mysql, MySql, $($test),*);
    };
}

suite!(
    insert_and_get_round_trip_keeps_the_payload,
    duplicate_id_is_refused_and_the_row_is_unchanged,
    ids_and_names_are_case_sensitive,
    set_status_updates_active_rows_only,
    list_orders_groups_and_applies_each_filter,
    list_filters_on_creation_time,
    get_infos_returns_existing_rows_across_chunks,
    text_a_database_cannot_store_is_the_requests_fault,
    active_tasks_come_oldest_first_with_payloads,
    reopening_sees_the_data_and_open_is_idempotent,
    concurrent_opens_of_an_empty_database_all_succeed,
    table_base_names_the_table,
    open_store_accepts_the_uri_forms,
    undecodable_rows_are_reported_as_corrupt,
    reads_use_one_index_without_sorting,
    config_is_absent_until_set_and_each_set_replaces_it_with_an_audit_entry,
    audit_history_filters_by_key_interval_and_limit,
    config_and_audit_are_written_together_or_not_at_all,
    undecodable_audit_rows_are_reported_as_corrupt,
    compare_and_swap_config_replaces_only_the_expected_payload,
    concurrent_compare_and_swaps_lose_no_write,
    audit_history_uses_its_index_without_sorting,
    retention_deletes_old_complete_tasks_and_never_active_ones,
    an_older_druids_task_table_gets_type_and_group_id,
);

fn at(instant: &str) -> Timestamp {
    parse_instant(instant).unwrap()
}

fn task(id: &str, data_source: &str) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "dataSource": data_source})).unwrap()
}

async fn insert(store: &dyn TestStore, id: &str, data_source: &str, created: &str) {
    store
        .insert_task(
            &task(id, data_source),
            at(created),
            &TaskStatus::running(id),
        )
        .await
        .unwrap();
}

async fn complete(store: &dyn TestStore, id: &str) {
    assert!(store.set_status(&TaskStatus::success(id)).await.unwrap());
}

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

async fn list_ids(store: &dyn TestStore, query: TaskQuery) -> Vec<String> {
    store
        .list(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.id)
        .collect()
}

/// The tables and indexes of the test's database, sorted, without those the database creates
/// on its own (primary keys, sequences).
async fn schema_names(store: &dyn TestStore, backend: Backend) -> Vec<String> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master \
             WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT CAST(c.relname AS TEXT) AS name FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') \
             AND c.relname NOT LIKE '%_pkey'"
        }
        Backend::MySql => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = DATABASE() \
             UNION ALL SELECT DISTINCT index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND index_name <> 'PRIMARY'"
        }
    };
    let mut names = store.texts(sql, "name").await;
    names.sort();
    names
}

/// Druid's tables of a table base and the indexes Steward adds, sorted.
fn expected_schema(base: &str) -> Vec<String> {
    let mut names: Vec<String> = [
        "tasks",
        "tasklocks",
        "config",
        "audit",
        "idx_{}_tasks_active_created_date",
        "idx_{}_tasks_datasource_active_created_date",
        "idx_{}_tasks_active_type_created_date",
        "idx_{}_tasks_datasource_type_active_created_date",
        "idx_{}_tasklocks_task_id",
        "idx_{}_audit_key_time",
    ]
    .iter()
    .map(|name| match name.strip_prefix("idx_{}") {
        Some(rest) => format!("idx_{base}{rest}"),
        None => format!("{base}_{name}"),
    })
    .collect();
    names.sort();
    names
}

async fn insert_and_get_round_trip_keeps_the_payload(db: TestDb) {
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

async fn duplicate_id_is_refused_and_the_row_is_unchanged(db: TestDb) {
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
async fn ids_and_names_are_case_sensitive(db: TestDb) {
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

async fn set_status_updates_active_rows_only(db: TestDb) {
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

async fn list_orders_groups_and_applies_each_filter(db: TestDb) {
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

async fn list_filters_on_creation_time(db: TestDb) {
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

async fn get_infos_returns_existing_rows_across_chunks(db: TestDb) {
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
async fn text_a_database_cannot_store_is_the_requests_fault(db: TestDb) {
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

async fn active_tasks_come_oldest_first_with_payloads(db: TestDb) {
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

async fn reopening_sees_the_data_and_open_is_idempotent(db: TestDb) {
    let first = db.open().await;
    insert(&*first, "t1", "wiki", "2026-03-08T10:00:00Z").await;
    insert(&*first, "t2", "wiki", "2026-03-08T11:00:00Z").await;
    complete(&*first, "t1").await;
    let schema = schema_names(&*first, db.backend).await;

    let second = db.open().await;
    assert_eq!(schema_names(&*second, db.backend).await, schema);
    assert_eq!(list_ids(&*second, TaskQuery::default()).await, ["t2", "t1"]);
    insert(&*second, "t3", "wiki", "2026-03-08T12:00:00Z").await;
    assert_eq!(
        list_ids(&*first, TaskQuery::default()).await,
        ["t2", "t3", "t1"]
    );
    first.close_pool().await;
    second.close_pool().await;

    let third = db.open().await;
    assert_eq!(schema_names(&*third, db.backend).await, schema);
    assert_eq!(
        list_ids(&*third, TaskQuery::default()).await,
        ["t2", "t3", "t1"]
    );
    assert_eq!(
        third.get_info("t1").await.unwrap().unwrap().status,
        TaskStatus::success("t1")
    );
    assert_eq!(
        third.get_task("t3").await.unwrap().unwrap(),
        task("t3", "wiki")
    );
}

async fn table_base_names_the_table(db: TestDb) {
    let druid = db.open().await;
    let custom = db.open_with_base("steward_2").await.unwrap();
    insert(&*druid, "t1", "wiki", "2026-03-08T10:00:00Z").await;
    insert(&*custom, "t1", "web", "2026-03-08T11:00:00Z").await;

    assert_eq!(
        custom.get_info("t1").await.unwrap().unwrap().data_source,
        "web"
    );
    assert_eq!(
        druid.get_info("t1").await.unwrap().unwrap().data_source,
        "wiki"
    );
    let names = schema_names(&*custom, db.backend).await;
    let mut expected = [expected_schema("druid"), expected_schema("steward_2")].concat();
    expected.sort();
    assert_eq!(names, expected);

    let too_long = "a_table_base_name_that_is_far_too_long";
    for bad in [
        "",
        "1druid",
        "druid; DROP TABLE druid_tasks",
        "dru-id",
        too_long,
    ] {
        let err = db.open_with_base(bad).await.err().unwrap();
        assert!(
            matches!(err, StoreError::Unavailable(_)),
            "{bad:?}: {err:?}"
        );
    }
}

async fn undecodable_rows_are_reported_as_corrupt(db: TestDb) {
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

/// How a database shows the plan of a statement.
struct Planner {
    backend: Backend,
    /// Run first, in the plan's transaction.
    setup: &'static [&'static str],
    explain: &'static str,
    /// What a sort step looks like.
    sort: &'static str,
}

impl Planner {
    fn of(backend: Backend) -> Planner {
        match backend {
            Backend::Sqlite => Planner {
                backend,
                setup: &[],
                explain: "EXPLAIN QUERY PLAN",
                sort: "TEMP B-TREE",
            },
            // Without statistics a scan looks as cheap as any index; with the alternatives
            // disabled, the plan shows whether an index serves the statement on its own.
            Backend::Postgres => Planner {
                backend,
                setup: &[
                    "SET LOCAL enable_seqscan = off",
                    "SET LOCAL enable_bitmapscan = off",
                    "SET LOCAL enable_sort = off",
                    "SET LOCAL enable_incremental_sort = off",
                ],
                explain: "EXPLAIN",
                sort: "Sort",
            },
            Backend::MySql => Planner {
                backend,
                setup: &[],
                explain: "EXPLAIN FORMAT=JSON",
                sort: "filesort",
            },
        }
    }

    /// Asserts that the statement reads `index` and needs no sort, and that the index search
    /// is constrained on the columns `constraints` expect (`(SQLite's plan text, column,
    /// expected)`). On SQLite also that the plan is that one search.
    async fn assert_serves(
        &self,
        store: &dyn TestStore,
        statement: Planned,
        index: &str,
        constraints: &[(&str, &str, bool)],
    ) {
        let plan = store.plan(self.setup, self.explain, statement).await;
        let text = plan.join("\n");
        assert!(text.contains(index), "{index} in {text}");
        assert!(!text.contains(self.sort), "no sort in {text}");
        match self.backend {
            Backend::Sqlite => {
                assert_eq!(plan.len(), 1, "{text}");
                assert!(text.starts_with("SEARCH "), "{text}");
                for (constraint, _, expected) in constraints {
                    assert_eq!(
                        text.contains(constraint),
                        *expected,
                        "{constraint} in {text}"
                    );
                }
            }
            // Every condition is an index condition, none filters rows the index returned.
            Backend::Postgres => assert!(!text.contains("Filter:"), "{text}"),
            Backend::MySql => {
                let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
                let parts = used_key_parts(&plan).unwrap_or_else(|| panic!("{text}"));
                for (_, column, expected) in constraints {
                    if *expected {
                        assert!(parts.contains(column), "{column} in {parts:?}: {text}");
                    }
                }
            }
        }
    }
}

/// The index columns a MySQL JSON plan searches on.
fn used_key_parts(plan: &serde_json::Value) -> Option<Vec<&str>> {
    match plan {
        serde_json::Value::Object(fields) => match fields.get("used_key_parts") {
            Some(parts) => parts
                .as_array()
                .map(|parts| parts.iter().filter_map(|p| p.as_str()).collect()),
            None => fields.values().find_map(used_key_parts),
        },
        serde_json::Value::Array(items) => items.iter().find_map(used_key_parts),
        _ => None,
    }
}

/// The rows a read touches are the ones it returns: one index that constrains every filter
/// column and yields the requested order, with no scan and no sort.
async fn reads_use_one_index_without_sorting(db: TestDb) {
    let store = db.open().await;
    let planner = Planner::of(db.backend);
    for mask in 0..16u8 {
        let query = TaskQuery {
            active: None,
            data_source: (mask & 1 != 0).then(|| "wiki".to_string()),
            task_type: (mask & 2 != 0).then(|| "index".to_string()),
            created_after: (mask & 4 != 0).then(|| at("2026-03-08T09:00:00Z")),
            created_before: (mask & 8 != 0).then(|| at("2026-03-08T10:00:00Z")),
            max_complete: Some(10),
        };
        let index = match (query.data_source.is_some(), query.task_type.is_some()) {
            (false, false) => "idx_druid_tasks_active_created_date",
            (true, false) => "idx_druid_tasks_datasource_active_created_date",
            (false, true) => "idx_druid_tasks_active_type_created_date",
            (true, true) => "idx_druid_tasks_datasource_type_active_created_date",
        };
        let constraints = [
            ("active=?", "active", true),
            ("datasource=?", "datasource", query.data_source.is_some()),
            ("type=?", "type", query.task_type.is_some()),
            (
                "created_date>?",
                "created_date",
                query.created_after.is_some(),
            ),
            (
                "created_date<?",
                "created_date",
                query.created_before.is_some(),
            ),
        ];
        for active in [true, false] {
            let statement = Planned::List(active, query.clone());
            planner
                .assert_serves(&*store, statement, index, &constraints)
                .await;
        }
    }
    let active = "idx_druid_tasks_active_created_date";
    planner
        .assert_serves(
            &*store,
            Planned::ActiveTasks,
            active,
            &[("active=?", "active", true)],
        )
        .await;
    let primary_key = match db.backend {
        Backend::Sqlite => "sqlite_autoindex_druid_tasks_1",
        Backend::Postgres => "druid_tasks_pkey",
        Backend::MySql => "PRIMARY",
    };
    let ids = Planned::ByIds(vec!["a".into(), "b".into()]);
    planner
        .assert_serves(&*store, ids, primary_key, &[("id=?", "id", true)])
        .await;
}

/// A history read walks the (audit_key, created_date, id) index backwards: no scan, no sort.
async fn audit_history_uses_its_index_without_sorting(db: TestDb) {
    let store = db.open().await;
    let planner = Planner::of(db.backend);
    for mask in 0..8u8 {
        let after = (mask & 1 != 0).then(|| at("2026-03-08T09:00:00Z"));
        let before = (mask & 2 != 0).then(|| at("2026-03-08T10:00:00Z"));
        let limit = (mask & 4 != 0).then_some(10);
        let constraints = [
            ("audit_key=?", "audit_key", true),
            ("created_date>?", "created_date", after.is_some()),
            ("created_date<?", "created_date", before.is_some()),
        ];
        let statement = Planned::Audit(after, before, limit);
        planner
            .assert_serves(&*store, statement, "idx_druid_audit_key_time", &constraints)
            .await;
    }
}

const KEY: &str = "worker.config";

fn audit(author: &str) -> AuditInfo {
    AuditInfo {
        author: author.into(),
        identity: String::new(),
        comment: format!("by {author}"),
        ip: "10.0.0.1".into(),
    }
}

async fn set_config(store: &dyn TestStore, key: &str, payload: &str, author: &str, at_: &str) {
    store
        .set_config_with_audit(key, payload.as_bytes(), &audit(author), at(at_))
        .await
        .unwrap();
}

async fn authors(
    store: &dyn TestStore,
    after: Option<&str>,
    before: Option<&str>,
    limit: Option<usize>,
) -> Vec<String> {
    store
        .audit_history(KEY, after.map(at), before.map(at), limit)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.audit_info.author)
        .collect()
}

/// Makes every `event` (INSERT or UPDATE) on `table` fail with `message`, with a trigger in
/// the backend's syntax. Returns the statements that remove it.
async fn refuse(
    store: &dyn TestStore,
    backend: Backend,
    event: &str,
    table: &str,
    message: &str,
) -> Vec<String> {
    let trigger = format!("refuse_{}_{table}", event.to_ascii_lowercase());
    let (create, remove) = match backend {
        Backend::Sqlite => (
            vec![format!(
                "CREATE TRIGGER {trigger} BEFORE {event} ON {table} \
                 BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )],
            vec![format!("DROP TRIGGER {trigger}")],
        ),
        Backend::Postgres => (
            vec![
                format!(
                    "CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql \
                     AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$"
                ),
                format!(
                    "CREATE TRIGGER {trigger} BEFORE {event} ON {table} \
                     FOR EACH ROW EXECUTE FUNCTION {trigger}()"
                ),
            ],
            vec![
                format!("DROP TRIGGER {trigger} ON {table}"),
                format!("DROP FUNCTION {trigger}()"),
            ],
        ),
        Backend::MySql => (
            vec![format!(
                "CREATE TRIGGER {trigger} BEFORE {event} ON {table} \
                 FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'"
            )],
            vec![format!("DROP TRIGGER {trigger}")],
        ),
    };
    for statement in create {
        store.exec(&statement, Vec::new()).await;
    }
    remove
}

async fn run_all(store: &dyn TestStore, statements: Vec<String>) {
    for statement in statements {
        store.exec(&statement, Vec::new()).await;
    }
}

async fn config_is_absent_until_set_and_each_set_replaces_it_with_an_audit_entry(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.get_config(KEY).await.unwrap(), None);
    assert!(authors(&*store, None, None, None).await.is_empty());

    let first = r#"{"type":"default","selectStrategy":{"type":"fillCapacity"}}"#;
    let second = r#"{"type":"default","selectStrategy":{"type":"equalDistribution"}}"#;
    set_config(&*store, KEY, first, "alice", "2026-03-08T10:00:00.123Z").await;
    assert_eq!(
        store.get_config(KEY).await.unwrap().unwrap(),
        first.as_bytes()
    );
    set_config(&*store, KEY, second, "bob", "2026-03-08T11:00:00Z").await;
    assert_eq!(
        store.get_config(KEY).await.unwrap().unwrap(),
        second.as_bytes()
    );
    assert_eq!(store.get_config("other").await.unwrap(), None);

    let history = store.audit_history(KEY, None, None, None).await.unwrap();
    assert_eq!(
        history,
        [
            AuditEntry {
                key: KEY.into(),
                audit_type: KEY.into(),
                audit_info: audit("bob"),
                payload: second.into(),
                audit_time: at("2026-03-08T11:00:00Z"),
            },
            AuditEntry {
                key: KEY.into(),
                audit_type: KEY.into(),
                audit_info: audit("alice"),
                payload: first.into(),
                audit_time: at("2026-03-08T10:00:00.123Z"),
            },
        ]
    );

    // The row is Druid's: indexed columns plus the whole AuditEntry JSON as payload.
    let sql = "SELECT audit_key, type, author, comment, created_date, payload \
               FROM druid_audit ORDER BY id";
    let mut columns = Vec::new();
    for column in ["audit_key", "type", "author", "comment", "created_date"] {
        columns.push(store.texts(sql, column).await[0].clone());
    }
    assert_eq!(
        columns,
        [KEY, KEY, "alice", "by alice", "2026-03-08T10:00:00.123Z"]
    );
    let payload = &store.bytes(sql, "payload").await[0];
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(payload).unwrap(),
        json!({
            "key": KEY, "type": KEY,
            "auditInfo": {"author": "alice", "comment": "by alice", "ip": "10.0.0.1"},
            "payload": first,
            "auditTime": "2026-03-08T10:00:00.123Z"
        })
    );
}

async fn audit_history_filters_by_key_interval_and_limit(db: TestDb) {
    let store = db.open().await;
    // Written out of time order; d and e share a millisecond.
    set_config(&*store, KEY, "{}", "b", "2026-03-08T09:00:00Z").await;
    set_config(&*store, KEY, "{}", "a", "2026-03-08T08:00:00Z").await;
    set_config(&*store, KEY, "{}", "c", "2026-03-08T10:00:00Z").await;
    set_config(&*store, KEY, "{}", "d", "2026-03-08T11:00:00Z").await;
    set_config(&*store, KEY, "{}", "e", "2026-03-08T11:00:00Z").await;
    set_config(&*store, "other.config", "{}", "x", "2026-03-08T09:30:00Z").await;

    assert_eq!(
        authors(&*store, None, None, None).await,
        ["e", "d", "c", "b", "a"],
        "newest first; same instant: last written first"
    );
    assert_eq!(authors(&*store, None, None, Some(2)).await, ["e", "d"]);
    assert!(authors(&*store, None, None, Some(0)).await.is_empty());
    assert_eq!(
        authors(&*store, Some("2026-03-08T09:00:00Z"), None, None).await,
        ["e", "d", "c", "b"],
        "the start is inclusive"
    );
    assert_eq!(
        authors(&*store, None, Some("2026-03-08T10:00:00Z"), None).await,
        ["b", "a"],
        "the end is exclusive"
    );
    assert_eq!(
        authors(
            &*store,
            Some("2026-03-08T08:00:00Z"),
            Some("2026-03-08T11:00:00Z"),
            Some(2)
        )
        .await,
        ["c", "b"]
    );
    assert_eq!(
        authors(&*store, Some("2026-03-08T09:00:00.0005Z"), None, None).await,
        ["e", "d", "c"],
        "a sub-millisecond bound compares as the exact instant"
    );
    let other = store
        .audit_history("other.config", None, None, None)
        .await
        .unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].audit_info.author, "x");
}

async fn compare_and_swap_config_replaces_only_the_expected_payload(db: TestDb) {
    let store = db.open().await;
    let key = "basic_authorization_basic_roles";
    let get = || async { store.get_config(key).await.unwrap() };

    // A swap expecting a row that is not there does not create one.
    assert!(!store
        .compare_and_swap_config(key, Some(b"{}"), b"{\"a\":1}")
        .await
        .unwrap());
    assert_eq!(get().await, None);
    assert!(store
        .compare_and_swap_config(key, None, b"{\"a\":1}")
        .await
        .unwrap());
    assert_eq!(get().await.unwrap(), b"{\"a\":1}");
    // The row exists now: expecting none is stale.
    assert!(!store
        .compare_and_swap_config(key, None, b"{\"b\":2}")
        .await
        .unwrap());
    assert_eq!(get().await.unwrap(), b"{\"a\":1}");

    assert!(!store
        .compare_and_swap_config(key, Some(b"{\"a\":2}"), b"{}")
        .await
        .unwrap());
    // A prefix of the stored payload is not the payload.
    assert!(!store
        .compare_and_swap_config(key, Some(b"{\"a\":1"), b"{}")
        .await
        .unwrap());
    assert!(store
        .compare_and_swap_config(key, Some(b"{\"a\":1}"), b"{\"a\":2}")
        .await
        .unwrap());
    assert_eq!(get().await.unwrap(), b"{\"a\":2}");
    assert!(!store
        .compare_and_swap_config(key, Some(b"{\"a\":1}"), b"{\"a\":3}")
        .await
        .unwrap());
    // Writing the same payload back succeeds (MySQL reports no changed row for it).
    assert!(store
        .compare_and_swap_config(key, Some(b"{\"a\":2}"), b"{\"a\":2}")
        .await
        .unwrap());

    // Payloads are compared as bytes, whatever their size or content.
    let large: Vec<u8> = (0..2_000_000_u32).map(|i| (i % 251) as u8).collect();
    let mut changed = large.clone();
    *changed.last_mut().unwrap() ^= 1;
    assert!(store
        .compare_and_swap_config(key, Some(b"{\"a\":2}"), &large)
        .await
        .unwrap());
    assert!(!store
        .compare_and_swap_config(key, Some(&changed), b"{}")
        .await
        .unwrap());
    assert!(store
        .compare_and_swap_config(key, Some(&large), &changed)
        .await
        .unwrap());
    assert_eq!(get().await.unwrap(), changed);

    // Other rows are untouched, a row written with an audit entry can be swapped, and swaps
    // write no audit entries.
    assert_eq!(store.get_config(KEY).await.unwrap(), None);
    set_config(&*store, KEY, "{\"v\":1}", "alice", "2026-03-08T10:00:00Z").await;
    assert!(store
        .compare_and_swap_config(KEY, Some(b"{\"v\":1}"), b"{\"v\":2}")
        .await
        .unwrap());
    assert_eq!(store.get_config(KEY).await.unwrap().unwrap(), b"{\"v\":2}");
    assert_eq!(authors(&*store, None, None, None).await, ["alice"]);
    assert!(store
        .audit_history(key, None, None, None)
        .await
        .unwrap()
        .is_empty());
}

/// Writers that each add to a counter with read, modify and compare-and-swap, retrying when the
/// swap finds the counter changed, end with every addition counted.
async fn concurrent_compare_and_swaps_lose_no_write(db: TestDb) {
    const WRITERS: u64 = 4;
    const ADDITIONS: u64 = 15;
    let store = db.open().await;
    let key = "basic_authentication_basic_users";
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..ADDITIONS {
                    loop {
                        let current = store.get_config(key).await.unwrap();
                        let count: u64 = current
                            .as_deref()
                            .map_or(0, |bytes| serde_json::from_slice(bytes).unwrap());
                        let next = serde_json::to_vec(&(count + 1)).unwrap();
                        if store
                            .compare_and_swap_config(key, current.as_deref(), &next)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let stored = store.get_config(key).await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_slice::<u64>(&stored).unwrap(),
        WRITERS * ADDITIONS
    );
}

/// A config change without its audit row (or the reverse) never becomes visible.
async fn config_and_audit_are_written_together_or_not_at_all(db: TestDb) {
    let store = db.open().await;
    set_config(&*store, KEY, "{\"v\":1}", "first", "2026-03-08T10:00:00Z").await;

    let undo = refuse(
        &*store,
        db.backend,
        "INSERT",
        "druid_audit",
        "audit refused",
    )
    .await;
    let err = store
        .set_config_with_audit(
            KEY,
            b"{\"v\":2}",
            &audit("second"),
            at("2026-03-08T11:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("audit refused")),
        "{err:?}"
    );
    assert_eq!(store.get_config(KEY).await.unwrap().unwrap(), b"{\"v\":1}");
    assert_eq!(authors(&*store, None, None, None).await, ["first"]);
    run_all(&*store, undo).await;

    let mut undo = Vec::new();
    for event in ["UPDATE", "INSERT"] {
        undo.extend(refuse(&*store, db.backend, event, "druid_config", "config refused").await);
    }
    for key in [KEY, "new.config"] {
        let err = store
            .set_config_with_audit(key, b"{}", &audit("third"), at("2026-03-08T12:00:00Z"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Unavailable(m) if m.contains("config refused")),
            "{err:?}"
        );
        assert!(store
            .audit_history(key, None, None, None)
            .await
            .unwrap()
            .iter()
            .all(|e| e.audit_info.author != "third"));
    }
    assert_eq!(store.get_config(KEY).await.unwrap().unwrap(), b"{\"v\":1}");
    assert_eq!(store.get_config("new.config").await.unwrap(), None);
    run_all(&*store, undo).await;

    set_config(&*store, KEY, "{\"v\":4}", "fourth", "2026-03-08T13:00:00Z").await;
    assert_eq!(store.get_config(KEY).await.unwrap().unwrap(), b"{\"v\":4}");
    assert_eq!(
        authors(&*store, None, None, None).await,
        ["fourth", "first"]
    );
}

async fn undecodable_audit_rows_are_reported_as_corrupt(db: TestDb) {
    let store = db.open().await;
    set_config(&*store, KEY, "{}", "a", "2026-03-08T10:00:00Z").await;
    store
        .exec(
            "UPDATE druid_audit SET payload = ?",
            vec![Param::Bytes(b"{".to_vec())],
        )
        .await;
    let err = store
        .audit_history(KEY, None, None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(row, _) if row == "druid_audit:1"),
        "{err:?}"
    );
}

/// Several Overlords starting at once on an empty database: every one creates or finds the
/// schema, and all of them work on the same tables.
async fn concurrent_opens_of_an_empty_database_all_succeed(db: TestDb) {
    let (a, b, c, d) = tokio::join!(db.open(), db.open(), db.open(), db.open());
    let stores = [a, b, c, d];
    for (i, store) in stores.iter().enumerate() {
        insert(&**store, &format!("t{i}"), "wiki", "2026-03-08T10:00:00Z").await;
    }
    for store in &stores {
        assert_eq!(list_ids(&**store, TaskQuery::default()).await.len(), 4);
    }
    assert_eq!(
        schema_names(&*stores[0], db.backend).await,
        expected_schema("druid")
    );
}

/// `open_store` takes Druid's connect URI, including the JDBC form with the user and password
/// given as separate properties.
async fn open_store_accepts_the_uri_forms(db: TestDb) {
    let store = db.open().await;
    let uri = db.uri();
    let mut forms = vec![(uri.clone(), None, None)];
    match uri.strip_prefix("sqlite:") {
        Some(path) => forms.push((format!("sqlite://{path}"), None, None)),
        None => {
            let (scheme, rest) = uri.split_once("://").unwrap();
            let (user_info, host_and_path) = rest.split_once('@').unwrap();
            let (user, password) = match user_info.split_once(':') {
                Some((user, password)) => (user.to_string(), Some(password.to_string())),
                None => (user_info.to_string(), None),
            };
            let jdbc_scheme = if scheme == "mysql" {
                "mysql"
            } else {
                "postgresql"
            };
            let jdbc = format!("jdbc:{jdbc_scheme}://{host_and_path}");
            // An empty password property, as `password=` in a properties file gives, is none.
            let password = password.or(Some(String::new()));
            forms.push((jdbc, Some(user), password));
        }
    }
    for (i, (uri, user, password)) in forms.into_iter().enumerate() {
        let opened = open_store(&uri, user.as_deref(), password.as_deref(), "druid")
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
        let id = format!("via{i}");
        opened
            .insert_task(
                &task(&id, "wiki"),
                at("2026-03-08T10:00:00Z"),
                &TaskStatus::running(&id),
            )
            .await
            .unwrap();
        assert!(store.get_info(&id).await.unwrap().is_some(), "{uri}");
    }
}

#[tokio::test]
async fn open_store_refuses_other_uris_without_showing_passwords() {
    for uri in [
        "oracle://scott:tiger@db/orcl",
        "jdbc:derby://localhost:1527/druid",
        "druid.db",
    ] {
        let err = open_store(uri, None, None, "druid").await.err().unwrap();
        let StoreError::Unavailable(message) = err else {
            panic!("{uri}: {err:?}");
        };
        assert!(
            message.contains("unsupported metadata store URI"),
            "{message}"
        );
        assert!(!message.contains("tiger"), "{message}");
    }
    // Nothing listens on port 1: the connection is refused, and the error names the URI with
    // its password masked.
    let err = open_store(
        "mysql://druid:s3cret@127.0.0.1:1/druid",
        None,
        None,
        "druid",
    )
    .await
    .err()
    .unwrap();
    let StoreError::Unavailable(message) = err else {
        panic!("{err:?}");
    };
    assert!(
        message.contains("mysql://druid:***@127.0.0.1:1/druid"),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
}

/// Retention deletes complete rows created before the bound, never an active row however old,
/// in batches until none is left.
async fn retention_deletes_old_complete_tasks_and_never_active_ones(db: TestDb) {
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

async fn an_older_druids_task_table_gets_type_and_group_id(db: TestDb) {
    // The task table as a Druid from before `type` and `group_id` made it, with its rows.
    let scratch = db.open_with_base("scratch").await.unwrap();
    let payload = match db.backend {
        Backend::Sqlite => "BLOB",
        Backend::Postgres => "BYTEA",
        Backend::MySql => "LONGBLOB",
    };
    scratch
        .exec(
            &format!(
                "CREATE TABLE druid_tasks (id VARCHAR(255) NOT NULL PRIMARY KEY, \
                 created_date VARCHAR(255) NOT NULL, datasource VARCHAR(255) NOT NULL, \
                 payload {payload} NOT NULL, status_payload {payload} NOT NULL, \
                 active BOOLEAN NOT NULL DEFAULT FALSE)"
            ),
            vec![],
        )
        .await;
    let rows = [
        (
            "index_parallel_wiki_1",
            json!({"type": "index_parallel", "id": "index_parallel_wiki_1", "groupId": "grp",
                   "dataSource": "wiki", "spec": {}})
            .to_string(),
            TaskStatus::success("index_parallel_wiki_1"),
        ),
        (
            "noop_2",
            json!({"type": "noop", "id": "noop_2", "dataSource": "none"}).to_string(),
            TaskStatus::running("noop_2"),
        ),
        (
            "mangled_3",
            "not json".to_string(),
            TaskStatus::failure("mangled_3", "boom"),
        ),
        (
            "index_kafka_4",
            json!({"type": "index_kafka", "id": "index_kafka_4", "dataSource": "wiki"}).to_string(),
            TaskStatus::running("index_kafka_4"),
        ),
    ];
    for (id, task, status) in &rows {
        scratch
            .exec(
                "INSERT INTO druid_tasks (id, created_date, datasource, payload, \
                 status_payload, active) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    Param::from(*id),
                    Param::from("2026-03-08T10:00:00.000Z"),
                    Param::from("wiki"),
                    Param::Bytes(task.clone().into_bytes()),
                    Param::Bytes(serde_json::to_vec(status).unwrap()),
                    Param::Flag(!status.is_complete()),
                ],
            )
            .await;
    }
    scratch.close_pool().await;

    let store = db.open().await;
    let typed = |id: &'static str| {
        let store = store.clone();
        async move {
            let info = store.get_info(id).await.unwrap().unwrap();
            (info.task_type, info.group_id, info.active)
        }
    };
    assert_eq!(
        typed("index_parallel_wiki_1").await,
        ("index_parallel".into(), "grp".into(), false)
    );
    assert_eq!(
        typed("noop_2").await,
        ("noop".into(), "noop_2".into(), true)
    );
    assert_eq!(
        typed("mangled_3").await,
        (String::new(), "mangled_3".into(), false)
    );
    let listed = store.list(&TaskQuery::default()).await.unwrap();
    assert_eq!(listed.len(), 4);
    let by_type = store
        .list(&TaskQuery {
            task_type: Some("index_parallel".into()),
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_type.len(), 1);
    // The active noop is Steward's to run, payload as Druid stored it; an active task of a
    // type Steward does not run is reported, not a reason to refuse the rest.
    let active = store.active_tasks().await.unwrap();
    assert_eq!(active.tasks.len(), 1);
    assert_eq!(active.tasks[0].0.id(), "noop_2");
    assert_eq!(active.unrunnable.len(), 1, "{:?}", active.unrunnable);
    assert_eq!(active.unrunnable[0].0, "index_kafka_4");
    assert!(
        active.unrunnable[0].1.contains("index_kafka"),
        "{:?}",
        active.unrunnable
    );

    // Opening again changes nothing.
    store.close_pool().await;
    let again = db.open().await;
    assert_eq!(again.list(&TaskQuery::default()).await.unwrap(), listed);
}
