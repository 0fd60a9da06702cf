//! Which database a connect URI names: Druid's `druid.metadata.storage.connector.connectURI`
//! in its own forms and JDBC's, with Druid's separate user and password properties, turned into
//! the store on that database.

use std::path::Path;
use std::sync::Arc;

use steward_metrics::Metrics;

use crate::server::redact;
use crate::timed::TimedStore;
use crate::{MetadataStore, MySqlStore, PostgresStore, SqliteStore, StoreError};

/// Opens the metadata store named by Druid's `druid.metadata.storage.connector.connectURI`,
/// creating its tables unless they exist:
///
/// * `sqlite:<path>` (or `sqlite://<path>`): a SQLite file;
/// * `postgresql://user@host:port/db` or `postgres://...`: PostgreSQL;
/// * `mysql://user:password@host:port/db` (or `mariadb://...`): MySQL or MariaDB;
/// * Druid's JDBC forms of these, `jdbc:postgresql://host:port/db` and
///   `jdbc:mysql://host:port/db`.
///
/// `user` and `password` are Druid's `druid.metadata.storage.connector.user` and `.password`;
/// when given and not empty they override the URI's (an empty `password=` line in a
/// properties file means no password, not an empty one). `table_base` is
/// `druid.metadata.storage.tables.base`. Errors name the URI with its password masked.
pub async fn open_store(
    uri: &str,
    user: Option<&str>,
    password: Option<&str>,
    table_base: &str,
) -> Result<Arc<dyn MetadataStore>, StoreError> {
    let uri = uri.trim();
    let bare = uri.strip_prefix("jdbc:").unwrap_or(uri);
    let user = user.filter(|u| !u.is_empty());
    let password = password.filter(|p| !p.is_empty());
    if let Some(path) = bare.strip_prefix("sqlite:") {
        let path = Path::new(path.trim_start_matches("//"));
        return Ok(Arc::new(SqliteStore::open(path, table_base).await?));
    }
    match bare.split_once("://").map(|(scheme, _)| scheme) {
        Some("postgresql" | "postgres") => Ok(Arc::new(
            PostgresStore::open(bare, user, password, table_base).await?,
        )),
        Some("mysql" | "mariadb") => Ok(Arc::new(
            MySqlStore::open(bare, user, password, table_base).await?,
        )),
        _ => Err(StoreError::Unavailable(format!(
            "unsupported metadata store URI [{}]: expected sqlite:<path>, \
             postgresql://user@host:port/db or mysql://user:password@host:port/db \
             (or Druid's jdbc:postgresql:// and jdbc:mysql:// forms)",
            redact(uri)
        ))),
    }
}

/// [`open_store`], with every operation timed in `metrics` (see [`TimedStore`]).
pub async fn open_timed_store(
    uri: &str,
    user: Option<&str>,
    password: Option<&str>,
    table_base: &str,
    metrics: &Metrics,
) -> Result<Arc<dyn MetadataStore>, StoreError> {
    let store = open_store(uri, user, password, table_base).await?;
    let bare = uri.trim().strip_prefix("jdbc:").unwrap_or(uri.trim());
    // `open_store` took the URI, so it names one of the three.
    let backend = if bare.starts_with("sqlite:") {
        "sqlite"
    } else if bare.starts_with("postgres") {
        "postgresql"
    } else {
        "mysql"
    };
    Ok(Arc::new(TimedStore::new(store, backend, metrics.clone())))
}
