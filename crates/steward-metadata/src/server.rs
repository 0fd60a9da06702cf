//! What the database servers (PostgreSQL, MySQL) share beyond SQL: connection URIs, Druid's
//! user and password properties, and the connection pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::Executor;

use crate::sql::{Dialect, Options, SqlStore};
use crate::StoreError;

/// Connections per Overlord. Status writes, listings and config reads run concurrently; Druid's
/// connection pool defaults to 8 as well.
const POOL_SIZE: u32 = 8;

/// How long a statement waits for a free connection (or a new one to a server that may be
/// down) before the call fails as [`StoreError::Unavailable`]: an outage must surface as an
/// error the API can answer with, not as a request that hangs.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A database reached over the network with a URI.
pub trait Server: Dialect {
    fn username(options: Options<Self>, user: &str) -> Options<Self>;
    fn password(options: Options<Self>, password: &str) -> Options<Self>;
}

impl<D: Server> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    /// Connects to the database at `uri` (`postgresql://user@host:port/db`,
    /// `mysql://user:password@host:port/db`), creates Druid's `<table_base>_*` tables and their
    /// indexes unless they exist, and keeps a pool of connections.
    ///
    /// `table_base` is Druid's `druid.metadata.storage.tables.base` (`druid` by default); a
    /// name that is not a plain SQL identifier is refused as [`StoreError::Unavailable`].
    pub async fn open(
        uri: &str,
        user: Option<&str>,
        password: Option<&str>,
        table_base: &str,
    ) -> Result<SqlStore<D>, StoreError> {
        let location = redact(uri);
        let options = Options::<D>::from_str(uri)
            .map_err(|e| StoreError::Unavailable(format!("{location}: {e}")))?;
        // Druid's `user` and `password` properties override the URI's.
        let options = match user {
            Some(user) => D::username(options, user),
            None => options,
        };
        let options = match password {
            Some(password) => D::password(options, password),
            None => options,
        };
        let pool = PoolOptions::<D>::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        SqlStore::connect(options, pool, &location, table_base).await
    }
}

/// The URI with its password masked, for logs and error messages.
pub fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_masks_only_the_password() {
        assert_eq!(
            redact("mysql://druid:s3cr:et@db.example:3306/druid?ssl-mode=disabled"),
            "mysql://druid:***@db.example:3306/druid?ssl-mode=disabled"
        );
        assert_eq!(
            redact("postgresql://postgres@127.0.0.1:5432/test"),
            "postgresql://postgres@127.0.0.1:5432/test"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact("sqlite:var/meta.db"), "sqlite:var/meta.db");
    }
}
