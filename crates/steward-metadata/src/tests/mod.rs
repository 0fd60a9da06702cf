//! The store tests, written once and run against every database: SQLite (a temporary file),
//! PostgreSQL and MariaDB (a database of their own per test, see [`databases`]).
//!
//! Each test is an async function taking its [`TestDb`], in the module of what it tests;
//! [`suite!`] turns the list of them into `sqlite::<test>`, `postgres::<test>` and
//! `mysql::<test>`. The helpers here are the ones several of those modules share.

mod config;
mod databases;
mod listings;
mod locks;
mod opening;
mod pending;
mod plans;
mod segments;
mod task_pages;
mod tasks;

use jiff::Timestamp;
use serde_json::json;
use steward_model::segment::BINARY_VERSION_V9;
use steward_model::time::parse_instant;
use steward_model::{DataSegment, ShardSpec, Task, TaskStatus};

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
    task_pages::task_pages_sort_each_way_by_bytes_with_ties_broken_by_id,
    task_pages::task_pages_apply_each_filter_to_page_and_count,
    task_pages::keyset_pages_walk_the_whole_set_once_and_offsets_skip,
    task_pages::complete_task_data_sources_lists_each_once_by_name,
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
    locks::locks_are_inserted_replaced_and_deleted_by_payload,
    locks::lock_rows_are_matched_by_task,
    locks::active_task_locks_lists_active_tasks_only_in_row_order,
    locks::delete_task_locks_deletes_every_row_of_the_task,
    locks::undecodable_lock_payloads_are_skipped,
    segments::publish_inserts_used_segments_once,
    segments::published_rows_hold_druids_columns_and_the_payload_byte_for_byte,
    segments::publishing_marks_overshadowed_segments_unused,
    segments::a_segment_its_own_publish_overshadows_is_written_unused,
    segments::publish_is_all_or_nothing,
    segments::publish_refuses_segments_of_several_datasources,
    segments::used_segments_overlap_any_interval_in_timeline_order,
    segments::unused_segments_apply_each_filter,
    segments::segment_returns_one_segment_with_its_state,
    segments::marking_by_interval_changes_contained_segments_only,
    segments::marking_by_ids_counts_changes_and_leaves_overshadowed_segments_unused,
    segments::marking_all_segments_unused_and_used_again,
    segments::delete_segments_removes_rows_used_or_not,
    segments::data_sources_summarise_used_segments_by_name,
    segments::used_segments_of_lists_the_datasources_asked_for,
    segments::data_source_stats_add_up_used_and_unused_segments,
    segments::an_older_druids_segment_tables_get_the_columns_druid_added,
    pending::the_first_allocation_takes_the_lock_version_and_partition_zero,
    pending::the_next_allocations_take_the_next_partitions,
    pending::a_repeated_request_gets_the_id_it_got_before,
    pending::used_segments_give_their_version_partitions_and_core_count,
    pending::an_id_an_unused_segment_holds_is_skipped,
    pending::overlapping_segments_refuse_allocation,
    pending::a_version_unused_segments_hold_is_not_allocated_again,
    pending::delete_pending_segments_by_creation_time_or_all,
    pending::delete_pending_segments_of_allocator_deletes_that_tasks_rows,
    pending::a_sequence_name_is_one_key_across_datasources,
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

/// Segment `partition_num` of a numbered set of `data_source` in `interval`, of `version`;
/// its size is 1000 plus its partition number.
fn segment(data_source: &str, interval: &str, version: &str, partition_num: u32) -> DataSegment {
    DataSegment {
        data_source: data_source.into(),
        interval: interval.parse().unwrap(),
        version: version.into(),
        load_spec: json!({"type": "local", "path": format!("/seg/{data_source}/{partition_num}")})
            .as_object()
            .unwrap()
            .clone(),
        dimensions: vec!["page".into(), "user".into()],
        metrics: vec!["count".into()],
        shard_spec: ShardSpec::Numbered {
            partition_num,
            partitions: 0,
        },
        last_compaction_state: None,
        binary_version: Some(BINARY_VERSION_V9),
        size: 1000 + u64::from(partition_num),
    }
}

/// The segment tables' `end` column, quoted for raw statements.
fn end_column(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => "`end`",
        _ => "\"end\"",
    }
}

fn segment_ids<'a>(segments: impl IntoIterator<Item = &'a DataSegment>) -> Vec<String> {
    segments.into_iter().map(|s| s.id().to_string()).collect()
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
