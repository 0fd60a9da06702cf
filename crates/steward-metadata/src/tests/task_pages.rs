//! Pages of complete rows (the web console's task table): every filter, every order both ways,
//! keyset pages that walk the whole set once, offsets, and counts that ignore where the page
//! starts.

use steward_model::time::format_ts;

use super::databases::{TestDb, TestStore};
use super::{at, complete, insert};
use crate::{TaskInfo, TaskPageQuery, TaskSort, TaskSortKey};

const SORTS: [TaskSort; 4] = [
    TaskSort::Created,
    TaskSort::Id,
    TaskSort::DataSource,
    TaskSort::Type,
];

/// A complete row of the fixture.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    data_source: &'static str,
    task_type: &'static str,
    created: String,
}

impl Row {
    fn key(&self, sort: TaskSort) -> (String, String) {
        let value = match sort {
            TaskSort::Created => self.created.clone(),
            TaskSort::Id => self.id.clone(),
            TaskSort::DataSource => self.data_source.to_string(),
            TaskSort::Type => self.task_type.to_string(),
        };
        (value, self.id.clone())
    }
}

fn key_of(info: &TaskInfo, sort: TaskSort) -> TaskSortKey {
    let value = match sort {
        TaskSort::Created => format_ts(info.created_time),
        TaskSort::Id => info.id.clone(),
        TaskSort::DataSource => info.data_source.clone(),
        TaskSort::Type => info.task_type.clone(),
    };
    TaskSortKey {
        value,
        id: info.id.clone(),
    }
}

/// 30 complete rows over three datasources (two differing only in case, so a collation that
/// ignores case would misorder them) and three types, created in groups of three at the same
/// instant (ties broken by id); ids mix cases, `-` and `_`. Two active rows that no page lists.
async fn fixture(store: &dyn TestStore) -> Vec<Row> {
    const DATA_SOURCES: [&str; 3] = ["wiki", "Wiki", "koala"];
    const TYPES: [&str; 3] = ["noop", "index", "kill"];
    let mut rows = Vec::new();
    for i in 0..30usize {
        let prefix = ["task", "Task", "zeta"][i % 3];
        let separator = if i % 5 == 0 { "_" } else { "-" };
        let row = Row {
            id: format!("{prefix}{separator}{:02}", (i * 7) % 30),
            data_source: DATA_SOURCES[(i / 2) % 3],
            task_type: TYPES[(i / 5) % 3],
            created: format_ts(at(&format!("2026-03-08T10:{:02}:00Z", i / 3))),
        };
        insert(store, &row.id, row.data_source, &row.created).await;
        store
            .exec(
                "UPDATE druid_tasks SET type = ? WHERE id = ?",
                vec![row.task_type.into(), row.id.as_str().into()],
            )
            .await;
        complete(store, &row.id).await;
        rows.push(row);
    }
    insert(store, "active-1", "wiki", "2026-03-08T10:05:00Z").await;
    insert(store, "active-2", "koala", "2026-03-08T11:00:00Z").await;
    rows
}

/// The fixture's rows matching `keep`, in the query's order: what the store must answer.
fn expected(rows: &[Row], query: &TaskPageQuery, keep: impl Fn(&Row) -> bool) -> Vec<String> {
    let mut kept: Vec<&Row> = rows.iter().filter(|r| keep(r)).collect();
    // Rust compares strings by bytes: the order the store promises on every database.
    kept.sort_by_key(|r| r.key(query.sort));
    if query.descending {
        kept.reverse();
    }
    kept.into_iter().map(|r| r.id.clone()).collect()
}

async fn page_ids(store: &dyn TestStore, query: &TaskPageQuery) -> (u64, Vec<String>) {
    let page = store.complete_task_page(query).await.unwrap();
    assert!(page.tasks.iter().all(|t| !t.active), "{query:?}");
    (page.total, page.tasks.into_iter().map(|t| t.id).collect())
}

fn everything(sort: TaskSort, descending: bool) -> TaskPageQuery {
    TaskPageQuery {
        sort,
        descending,
        limit: 1000,
        ..TaskPageQuery::default()
    }
}

pub(super) async fn task_pages_sort_each_way_by_bytes_with_ties_broken_by_id(db: TestDb) {
    let store = db.open().await;
    let rows = fixture(&*store).await;
    for sort in SORTS {
        for descending in [false, true] {
            let query = everything(sort, descending);
            let want = expected(&rows, &query, |_| true);
            assert_eq!(page_ids(&*store, &query).await, (30, want), "{query:?}");
        }
    }
}

pub(super) async fn task_pages_apply_each_filter_to_page_and_count(db: TestDb) {
    let store = db.open().await;
    let rows = fixture(&*store).await;
    let from = at("2026-03-08T10:02:00Z");
    let to = at("2026-03-08T10:05:00Z");
    type Keep = Box<dyn Fn(&Row) -> bool>;
    let cases: Vec<(TaskPageQuery, Keep)> = vec![
        (
            TaskPageQuery {
                data_source: Some("Wiki".into()),
                ..TaskPageQuery::default()
            },
            Box::new(|r| r.data_source == "Wiki"),
        ),
        (
            TaskPageQuery {
                task_type: Some("index".into()),
                ..TaskPageQuery::default()
            },
            Box::new(|r| r.task_type == "index"),
        ),
        (
            TaskPageQuery {
                data_source: Some("koala".into()),
                task_type: Some("kill".into()),
                ..TaskPageQuery::default()
            },
            Box::new(|r| r.data_source == "koala" && r.task_type == "kill"),
        ),
        (
            // Case-sensitive, and `_` is no wildcard.
            TaskPageQuery {
                id_contains: Some("k_".into()),
                ..TaskPageQuery::default()
            },
            Box::new(|r| r.id.contains("k_")),
        ),
        (
            TaskPageQuery {
                id_contains: Some("Task".into()),
                ..TaskPageQuery::default()
            },
            Box::new(|r| r.id.contains("Task")),
        ),
        (
            TaskPageQuery {
                created_after: Some(from),
                created_before: Some(to),
                ..TaskPageQuery::default()
            },
            Box::new(move |r| {
                let created = at(&r.created);
                from <= created && created < to
            }),
        ),
        (
            TaskPageQuery {
                readable: Some(vec!["koala".into(), "wiki".into()]),
                ..TaskPageQuery::default()
            },
            Box::new(|r| r.data_source != "Wiki"),
        ),
        (
            TaskPageQuery {
                readable: Some(Vec::new()),
                ..TaskPageQuery::default()
            },
            Box::new(|_| false),
        ),
        (
            TaskPageQuery {
                data_source: Some("wiki".into()),
                id_contains: Some("-".into()),
                created_after: Some(from),
                readable: Some(vec!["wiki".into()]),
                ..TaskPageQuery::default()
            },
            Box::new(move |r| {
                r.data_source == "wiki" && r.id.contains('-') && at(&r.created) >= from
            }),
        ),
    ];
    for (filters, keep) in cases {
        for sort in SORTS {
            for descending in [false, true] {
                let query = TaskPageQuery {
                    sort,
                    descending,
                    limit: 1000,
                    ..filters.clone()
                };
                let want = expected(&rows, &query, &keep);
                let total = want.len() as u64;
                assert_eq!(page_ids(&*store, &query).await, (total, want), "{query:?}");
            }
        }
    }
}

pub(super) async fn keyset_pages_walk_the_whole_set_once_and_offsets_skip(db: TestDb) {
    let store = db.open().await;
    let rows = fixture(&*store).await;
    for sort in SORTS {
        for descending in [false, true] {
            for data_source in [None, Some("wiki".to_string())] {
                let filters = TaskPageQuery {
                    sort,
                    descending,
                    data_source: data_source.clone(),
                    limit: 4,
                    ..TaskPageQuery::default()
                };
                let want = expected(&rows, &filters, |r| {
                    data_source.as_deref().is_none_or(|d| r.data_source == d)
                });
                let mut walked = Vec::new();
                let mut after = None;
                loop {
                    let query = TaskPageQuery {
                        after: after.clone(),
                        ..filters.clone()
                    };
                    let page = store.complete_task_page(&query).await.unwrap();
                    assert_eq!(
                        page.total,
                        want.len() as u64,
                        "the count ignores the cursor"
                    );
                    let Some(last) = page.tasks.last() else { break };
                    after = Some(key_of(last, sort));
                    walked.extend(page.tasks.iter().map(|t| t.id.clone()));
                    assert!(walked.len() <= want.len(), "{walked:?}");
                }
                assert_eq!(walked, want, "{filters:?}");
                for offset in [0, 3, 9, want.len() - 2, want.len() + 1] {
                    let query = TaskPageQuery {
                        offset,
                        ..filters.clone()
                    };
                    let want: Vec<String> = want.iter().skip(offset).take(4).cloned().collect();
                    assert_eq!(page_ids(&*store, &query).await.1, want, "{query:?}");
                }
                // An offset counts from the cursor.
                let query = TaskPageQuery {
                    offset: 2,
                    after: Some(TaskSortKey {
                        value: rows_key(&rows, &want[3], sort),
                        id: want[3].clone(),
                    }),
                    ..filters.clone()
                };
                assert_eq!(page_ids(&*store, &query).await.1, want[6..10], "{query:?}");
            }
        }
    }
}

fn rows_key(rows: &[Row], id: &str, sort: TaskSort) -> String {
    rows.iter().find(|r| r.id == id).unwrap().key(sort).0
}

pub(super) async fn complete_task_data_sources_lists_each_once_by_name(db: TestDb) {
    let store = db.open().await;
    assert!(store.complete_task_data_sources().await.unwrap().is_empty());
    fixture(&*store).await;
    // `active-3` is the only row of its datasource and still active.
    insert(&*store, "active-3", "only-active", "2026-03-08T12:00:00Z").await;
    assert_eq!(
        store.complete_task_data_sources().await.unwrap(),
        ["Wiki", "koala", "wiki"]
    );
}
