//! Dynamic configs and their audit trail: set, compare-and-swap, history, and the config and
//! its audit row written together or not at all.

use serde_json::json;

use super::databases::{TestDb, TestStore};
use super::{at, refuse, run_all};
use crate::sql::Param;
use crate::{AuditEntry, AuditInfo, StoreError};

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

pub(super) async fn config_is_absent_until_set_and_each_set_replaces_it_with_an_audit_entry(
    db: TestDb,
) {
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

pub(super) async fn audit_history_filters_by_key_interval_and_limit(db: TestDb) {
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

pub(super) async fn compare_and_swap_config_replaces_only_the_expected_payload(db: TestDb) {
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
pub(super) async fn concurrent_compare_and_swaps_lose_no_write(db: TestDb) {
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
pub(super) async fn config_and_audit_are_written_together_or_not_at_all(db: TestDb) {
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

pub(super) async fn undecodable_audit_rows_are_reported_as_corrupt(db: TestDb) {
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
