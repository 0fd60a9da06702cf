//! Which database errors are the request's fault and which the store's. The difference decides
//! what a client is told: a request whose own data the database refuses gets a 400 and must not
//! be retried, while a failing store is a 503 that clients and the Overlord's queue retry.

use sqlx::error::DatabaseError;

use crate::StoreError;

/// A database error as the caller sees it: the request's own data refused
/// ([`StoreError::Rejected`]) or the store failing ([`StoreError::Unavailable`]).
pub(super) fn unavailable(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if refuses_the_data(db.as_ref()) => {
            StoreError::Rejected(db.message().to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// SQLSTATE class 22 ("data exception": a NUL or an invalid byte sequence in text, a value too
/// long for its column) in PostgreSQL and MariaDB; MySQL reports some of those with its own
/// numbers under a generic state (`ER_TRUNCATED_WRONG_VALUE_FOR_FIELD`, `ER_DATA_TOO_LONG`,
/// `ER_WARN_DATA_OUT_OF_RANGE`); SQLite's `SQLITE_TOOBIG`.
fn refuses_the_data(db: &dyn DatabaseError) -> bool {
    if let Some(e) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        if [1366, 1406, 1264].contains(&e.number()) {
            return true;
        }
    }
    if let Some(e) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        return e.code().as_deref() == Some("18");
    }
    db.code().is_some_and(|code| code.starts_with("22"))
}
