//! The store tests, written once and run against every database: SQLite (a temporary file),
//! PostgreSQL and MariaDB (a database of their own per test, see [`databases`]).
//!
//! Each test is an async function taking its [`TestDb`], in the module of what it tests;
//! [`suite!`] turns the list of them into `sqlite::<test>`, `postgres::<test>` and
//! `mysql::<test>`. The helpers here are the ones several of those modules share.

mod config;
mod databases;
mod listings;
mod opening;
mod plans;
mod tasks;

use jiff::Timestamp;
use serde_json::json;
use steward_model::time::parse_instant;
use steward_model::{Task, TaskStatus};

use self::databases::{Backend, TestDb, TestStore};
use crate::TaskQuery;

macro_rules! backend_tests {
    ($module:ident, $backend:ident, $($group:ident::$test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = super::TestDb::create(super::Backend::$backend).await;
                    super::$group::$test(db).await;
                }
            )*
        }
    };
}

macro_rules! suite {
    ($($group:ident::$test:ident),* $(,)?) => {
        backend_tests!(sqlite, Sqlite, $($group::$test),*);
        backend_tests!(postgres, Postgres, $($group::$test),*);
        backend_tests!(mysql, MySql, $($group::$test),*);
    };
}

suite!(
    tasks::insert_and_get_round_trip_keeps_the_payload,
    tasks::duplicate_id_is_refused_and_the_row_is_unchanged,
    tasks::ids_and_names_are_case_sensitive,
    tasks::set_status_updates_active_rows_only,
    tasks::get_infos_returns_existing_rows_across_chunks,
    tasks::text_a_database_cannot_store_is_the_requests_fault,
    tasks::active_tasks_come_oldest_first_with_payloads,
    tasks::undecodable_rows_are_reported_as_corrupt,
    tasks::retention_deletes_old_complete_tasks_and_never_active_ones,
    listings::list_orders_groups_and_applies_each_filter,
    listings::list_filters_on_creation_time,
    plans::reads_use_one_index_without_sorting,
    plans::audit_history_uses_its_index_without_sorting,
    config::config_is_absent_until_set_and_each_set_replaces_it_with_an_audit_entry,
    config::audit_history_filters_by_key_interval_and_limit,
    config::config_and_audit_are_written_together_or_not_at_all,
    config::undecodable_audit_rows_are_reported_as_corrupt,
    config::compare_and_swap_config_replaces_only_the_expected_payload,
    config::concurrent_compare_and_swaps_lose_no_write,
    opening::reopening_sees_the_data_and_open_is_idempotent,
    opening::concurrent_opens_of_an_empty_database_all_succeed,
    opening::table_base_names_the_table,
    opening::open_store_accepts_the_uri_forms,
    opening::an_older_druids_task_table_gets_type_and_group_id,
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

async fn list_ids(store: &dyn TestStore, query: TaskQuery) -> Vec<String> {
    store
        .list(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.id)
        .collect()
}
