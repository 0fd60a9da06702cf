//! Opening a store: the schema created once and found again, table bases, concurrent start-ups,
//! connect URIs, and an older Druid's task table brought up to date.

use serde_json::json;
use steward_model::TaskStatus;

use super::databases::{Backend, TestDb, TestStore};
use super::{at, complete, insert, list_ids, task};
use crate::sql::Param;
use crate::{open_store, StoreError, TaskQuery};

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
    // In lower case: PostgreSQL folds unquoted names (`druid_pendingSegments`).
    let mut names: Vec<String> = store
        .texts(sql, "name")
        .await
        .iter()
        .map(|name| name.to_lowercase())
        .collect();
    names.sort();
    names
}

/// Druid's tables of a table base, their indexes and the ones Steward adds, in lower case,
/// sorted.
fn expected_schema(base: &str, backend: Backend) -> Vec<String> {
    let mut names: Vec<String> = [
        "tasks",
        "tasklocks",
        "segments",
        "pendingSegments",
        "config",
        "audit",
        "idx_{}_tasks_active_created_date",
        "idx_{}_tasks_datasource_active_created_date",
        "idx_{}_tasks_active_type_created_date",
        "idx_{}_tasks_datasource_type_active_created_date",
        "idx_{}_tasks_active_id",
        "idx_{}_tasks_active_datasource_id",
        "idx_{}_tasks_active_type_id",
        "idx_{}_tasklocks_task_id",
        "idx_{}_segments_used",
        "idx_{}_segments_datasource_used_end_start",
        "idx_{}_segments_datasource_upgraded_from_segment_id",
        "idx_{}_pendingSegments_datasource_end",
        "idx_{}_pendingSegments_datasource_sequence",
        "idx_{}_pendingSegments_datasource_task_allocator_id",
        "idx_{}_audit_key_time",
    ]
    .iter()
    .map(|name| match name.strip_prefix("idx_{}") {
        Some(rest) => format!("idx_{base}{rest}"),
        None => format!("{base}_{name}"),
    })
    .chain(
        // The index of the pending table's unique key, named by the database (SQLite's is
        // internal).
        match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(format!(
                "{base}_pendingSegments_sequence_name_prev_id_sha1_key"
            )),
            Backend::MySql => Some("sequence_name_prev_id_sha1".to_string()),
        },
    )
    .map(|name| name.to_lowercase())
    .collect();
    names.sort();
    names
}

pub(super) async fn reopening_sees_the_data_and_open_is_idempotent(db: TestDb) {
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

pub(super) async fn table_base_names_the_table(db: TestDb) {
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
    let mut expected = [
        expected_schema("druid", db.backend),
        expected_schema("steward_2", db.backend),
    ]
    .concat();
    expected.sort();
    // MySQL names the unique key's index after the column, the same in both tables, and the
    // listing reads index names once.
    if db.backend == Backend::MySql {
        expected.dedup();
    }
    assert_eq!(names, expected);

    // Druid's longest index names (`idx_<base>_segments_datasource_upgraded_from_segment_id`)
    // leave 14 characters for the base.
    assert!(db.open_with_base("base_of_14_chr").await.is_ok());
    let too_long = "base_of_15_chrs";
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

/// Several Overlords starting at once on an empty database: every one creates or finds the
/// schema, and all of them work on the same tables.
pub(super) async fn concurrent_opens_of_an_empty_database_all_succeed(db: TestDb) {
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
        expected_schema("druid", db.backend)
    );
}

/// `open_store` takes Druid's connect URI, including the JDBC form with the user and password
/// given as separate properties.
pub(super) async fn open_store_accepts_the_uri_forms(db: TestDb) {
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

pub(super) async fn an_older_druids_task_table_gets_type_and_group_id(db: TestDb) {
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
