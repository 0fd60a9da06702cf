//! The web console's reads (`/druid/indexer/v1/steward/tasks` and `.../datasources`) through
//! the real router over HTTP on a real SQLite store: active tasks from memory merged with
//! complete ones from the store in every order, keyset and offset pages, counts, parameter
//! errors, and what a caller who may read one datasource sees.

use super::segments::{grant, segment, serve_secured, Api, PASSWORD};
use super::*;

use steward_metadata::SegmentSelection;

const PAGE: &str = "/druid/indexer/v1/steward/tasks";
const SORTS: [&str; 4] = ["created", "id", "datasource", "type"];

/// Stores complete tasks: `c00`..`c11` on wiki and koala, half created in 2020 and half in 2099,
/// so that tasks submitted now fall between them in creation order.
async fn store_complete(store: &SqliteStore) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..12 {
        let id = format!("c{i:02}");
        let ds = if i % 3 == 0 { "koala" } else { "wiki" };
        let year = if i % 2 == 0 { 2020 } else { 2099 };
        let task = Task::from_json(json!({"type": "noop", "id": id, "dataSource": ds})).unwrap();
        let created = at(&format!("{year}-01-01T00:{i:02}:00Z"));
        store
            .insert_task(&task, created, &TaskStatus::running(&id))
            .await
            .unwrap();
        assert!(store.set_status(&TaskStatus::success(&id)).await.unwrap());
        ids.push(id);
    }
    ids
}

/// Submits active tasks `a0`..`a3` (wiki, koala alternately), which stay pending: there is no
/// worker.
async fn submit_active(overlord: &Overlord) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = format!("a{i}");
        let ds = if i % 2 == 0 { "wiki" } else { "koala" };
        let task = Task::from_json(json!({"type": "noop", "id": id, "dataSource": ds})).unwrap();
        overlord.submit(task).await.unwrap();
        ids.push(id);
    }
    ids
}

fn page_ids(answer: &Value) -> Vec<String> {
    answer["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

/// A task's key in an order: what the page must be sorted by (byte order, then the id).
fn key(task: &Value, sort: &str) -> (String, String) {
    let field = match sort {
        "created" => "createdTime",
        "datasource" => "dataSource",
        other => other,
    };
    let text = |f: &str| task[f].as_str().unwrap().to_string();
    (text(field), text("id"))
}

/// The whole listing of `query` walked with `next`, `limit` tasks a page.
async fn walk(api: &Api, query: &str, limit: usize) -> Vec<String> {
    let mut walked = Vec::new();
    let mut path = format!("{PAGE}?{query}&limit={limit}");
    loop {
        let (status, answer) = api.get(&path).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let ids = page_ids(&answer);
        assert!(ids.len() <= limit);
        walked.extend(ids);
        match answer["next"].as_str() {
            Some(next) => path = format!("{PAGE}?{query}&limit={limit}&after={next}"),
            None => return walked,
        }
        assert!(walked.len() <= 100, "{walked:?}");
    }
}

#[tokio::test]
async fn task_pages_merge_active_and_complete_tasks_in_every_order() {
    let fx = Fixture::new().await;
    let complete = store_complete(&fx.store).await;
    let overlord = fx.start().await;
    let active = submit_active(&overlord).await;
    let api = Api::new(&serve(overlord.clone()).await);

    let (status, first) = api.get(PAGE).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (&first["total"], &first["counts"]),
        (
            &json!(16),
            &json!({"running": 0, "pending": 4, "waiting": 0, "complete": 12})
        )
    );
    assert_eq!(page_ids(&first).len(), 16, "fewer than the default limit");
    assert_eq!(first["next"], Value::Null);
    // Exactly as GET /druid/indexer/v1/tasks answers each task.
    let (_, listed) = api.get("/druid/indexer/v1/tasks?state=pending").await;
    let pending: Vec<&Value> = first["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["runnerStatusCode"] == "PENDING")
        .collect();
    let mut listed: Vec<&Value> = listed.as_array().unwrap().iter().collect();
    listed.sort_by_key(|t| std::cmp::Reverse(key(t, "created")));
    assert_eq!(pending, listed);

    let mut everything: Vec<String> = active.iter().chain(&complete).cloned().collect();
    everything.sort();
    for sort in SORTS {
        for order in ["asc", "desc"] {
            let query = format!("sort={sort}&order={order}");
            let (_, all) = api.get(&format!("{PAGE}?{query}&limit=1000")).await;
            let tasks = all["tasks"].as_array().unwrap();
            let keys: Vec<(String, String)> = tasks.iter().map(|t| key(t, sort)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if order == "desc" {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{query}");
            let mut ids = page_ids(&all);
            assert_eq!(walk(&api, &query, 3).await, ids, "{query}: pages of 3");
            for offset in [0, 2, 5, 15, 20] {
                let path = format!("{PAGE}?{query}&limit=4&offset={offset}");
                let (_, page) = api.get(&path).await;
                let want: Vec<String> = ids.iter().skip(offset).take(4).cloned().collect();
                assert_eq!(page_ids(&page), want, "{path}");
                assert_eq!(page["next"].is_null(), offset + 4 >= ids.len(), "{path}");
            }
            ids.sort();
            assert_eq!(ids, everything, "{query}: every task once");
        }
    }
    // Creation order interleaves the groups: 2020's complete, the active, 2099's complete.
    let (_, by_creation) = api.get(&format!("{PAGE}?order=asc&limit=1000")).await;
    let groups: Vec<char> = page_ids(&by_creation)
        .iter()
        .map(|id| match id.as_str() {
            id if active.iter().any(|a| a == id) => 'a',
            id if id[1..].parse::<u32>().unwrap() % 2 == 0 => 'o',
            _ => 'n',
        })
        .collect();
    assert_eq!(groups.iter().collect::<String>(), "ooooooaaaannnnnn");

    let cases: [(&str, Vec<&str>, u64); 6] = [
        ("state=pending", vec!["a0", "a1", "a2", "a3"], 4),
        (
            "state=complete&datasource=koala",
            vec!["c00", "c03", "c06", "c09"],
            4,
        ),
        (
            "state=pending,complete&datasource=koala",
            vec!["a1", "a3", "c00", "c03", "c06", "c09"],
            6,
        ),
        ("state=running,waiting", vec![], 0),
        (
            "id=0",
            vec![
                "a0", "c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10",
            ],
            12,
        ),
        (
            "type=noop&createdTimeInterval=2099-01-01/2100-01-01",
            vec!["c01", "c03", "c05", "c07", "c09", "c11"],
            6,
        ),
    ];
    for (query, want, total) in cases {
        let (status, answer) = api.get(&format!("{PAGE}?{query}&sort=id&order=asc")).await;
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(page_ids(&answer), want, "{query}");
        assert_eq!(answer["total"], total, "{query}");
    }
    // Counts ignore the state filter, not the others.
    let (_, koala) = api
        .get(&format!("{PAGE}?state=running&datasource=koala"))
        .await;
    assert_eq!(
        (&koala["total"], &koala["counts"]),
        (
            &json!(0),
            &json!({"running": 0, "pending": 2, "waiting": 0, "complete": 4})
        )
    );
    overlord.stop().await;
}

#[tokio::test]
async fn task_page_parameters_are_checked_with_druids_error_shape() {
    let fx = Fixture::new().await;
    store_complete(&fx.store).await;
    let overlord = fx.start().await;
    let api = Api::new(&serve(overlord.clone()).await);
    let (_, first) = api.get(&format!("{PAGE}?limit=2")).await;
    let cursor = first["next"].as_str().unwrap().to_string();
    let cases = [
        ("state=done", "Invalid state [done]"),
        ("state=running,", "Invalid state [running,]"),
        ("sort=size", "Invalid sort [size]"),
        ("order=up", "Invalid order [up]"),
        ("limit=0", "Invalid limit [0]"),
        ("limit=1001", "Invalid limit [1001]"),
        ("limit=ten", "Invalid limit [ten]"),
        ("offset=-1", "Invalid offset [-1]"),
        ("after=zz", "Invalid after [zz]"),
        ("after=7b7d", "Invalid after [7b7d]"),
        (
            "createdTimeInterval=yesterday",
            "Invalid createdTimeInterval [yesterday]",
        ),
    ];
    for (query, message) in cases {
        let (status, answer) = api.get(&format!("{PAGE}?{query}")).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert_eq!(answer["error"], "druidException", "{query}: {answer}");
        assert_eq!(answer["category"], "INVALID_INPUT", "{query}: {answer}");
        let got = answer["errorMessage"].as_str().unwrap();
        assert!(got.starts_with(message), "{query}: {got}");
    }
    // A cursor continues the order it came from only.
    let (status, answer) = api
        .get(&format!("{PAGE}?limit=2&order=asc&after={cursor}"))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["errorMessage"]
        .as_str()
        .unwrap()
        .contains("continues the order sort=created&order=desc"));
    let (status, _) = api.get(&format!("{PAGE}?limit=2&after={cursor}")).await;
    assert_eq!(status, 200);
    overlord.stop().await;
}

#[tokio::test]
async fn console_reads_leave_out_datasources_the_caller_may_not_read() {
    let fx = Fixture::new().await;
    store_complete(&fx.store).await;
    let day1 = "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z";
    let day2 = "2015-09-13T00:00:00.000Z/2015-09-14T00:00:00.000Z";
    let version = "2024-01-01T00:00:00.000Z";
    let wiki = [
        segment("wiki", day1, version, 0, 10),
        segment("wiki", day1, version, 1, 20),
        segment("wiki", day2, version, 0, 30),
    ];
    let koala = [segment("koala", day1, version, 0, 5)];
    for segments in [&wiki[..], &koala[..]] {
        fx.store
            .publish_segments(segments, None, Timestamp::now())
            .await
            .unwrap();
    }
    let dropped = SegmentSelection::Ids(vec![wiki[2].id().to_string()]);
    fx.store
        .mark_segments("wiki", &dropped, false, Timestamp::now())
        .await
        .unwrap();
    let url = serve_secured(&fx).await;
    let admin = Api::new(&url).as_user("admin", "admin-pw");
    grant(&admin, "reader", "wiki", "READ").await;
    let reader = Api::new(&url).as_user("reader", PASSWORD);

    let (_, all) = admin.get(&format!("{PAGE}?sort=id&order=asc")).await;
    assert_eq!(all["total"], 12);
    let (status, page) = reader.get(&format!("{PAGE}?sort=id&order=asc")).await;
    assert_eq!(status, 200, "{page}");
    let wiki_ids = ["c01", "c02", "c04", "c05", "c07", "c08", "c10", "c11"];
    assert_eq!(page_ids(&page), wiki_ids);
    assert_eq!(
        (&page["total"], &page["counts"]["complete"]),
        (&json!(8), &json!(8))
    );
    assert_eq!(walk(&reader, "sort=datasource", 3).await.len(), 8);
    let (status, _) = reader.get(&format!("{PAGE}?datasource=koala")).await;
    assert_eq!(status, 403);
    let (status, mine) = reader.get(&format!("{PAGE}?datasource=wiki")).await;
    assert_eq!((status, &mine["total"]), (200, &json!(8)));

    let wiki_entry = json!({
        "name": "wiki", "usedSegments": 2, "unusedSegments": 1, "size": 30, "rows": null,
        "minTime": "2015-09-12T00:00:00.000Z", "maxTime": "2015-09-13T00:00:00.000Z",
        "intervals": 1
    });
    let (status, table) = admin.get("/druid/indexer/v1/steward/datasources").await;
    assert_eq!(status, 200, "{table}");
    assert_eq!(
        table,
        json!([
            {"name": "koala", "usedSegments": 1, "unusedSegments": 0, "size": 5, "rows": null,
             "minTime": "2015-09-12T00:00:00.000Z", "maxTime": "2015-09-13T00:00:00.000Z",
             "intervals": 1},
            wiki_entry.clone()
        ])
    );
    let (_, table) = reader.get("/druid/indexer/v1/steward/datasources").await;
    assert_eq!(table, json!([wiki_entry]));
}
