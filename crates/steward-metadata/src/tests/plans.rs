//! Query plans: every read of the task and audit history is served by one index, without a
//! scan or a sort, so reads stay bounded however long the history grows.

use super::at;
use super::databases::{Backend, Planned, TestDb, TestStore};
use crate::TaskQuery;

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
pub(super) async fn reads_use_one_index_without_sorting(db: TestDb) {
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
pub(super) async fn audit_history_uses_its_index_without_sorting(db: TestDb) {
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
