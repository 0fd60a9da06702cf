//! A fresh, empty database per test on each backend, dropped when the test ends (also when it
//! fails), so tests run in parallel and leave nothing behind.
//!
//! PostgreSQL and MariaDB must be running: the admin connections default to
//! `postgres://postgres@127.0.0.1:5432/test` and `mysql://root@127.0.0.1:3306/test`, and can be
//! pointed elsewhere with `STEWARD_TEST_POSTGRES` and `STEWARD_TEST_MYSQL` (an admin URL ending
//! in `/<database>`). An unreachable server fails the test, naming the server: CI has both.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::mysql::MySql;
use sqlx::postgres::Postgres;
use sqlx::{AssertSqlSafe, Column, ConnectOptions, Connection, Executor, Row};
use tempfile::TempDir;

use crate::sql::{query, Columns, Dialect, Options, Param, SqlStore};
use crate::{MetadataStore, MySqlStore, PostgresStore, SqliteStore, StoreError, TaskQuery};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// A statement of the store whose plan a test inspects.
pub enum Planned {
    List(bool, TaskQuery),
    Audit(Option<Timestamp>, Option<Timestamp>, Option<usize>),
    ActiveTasks,
    ByIds(Vec<String>),
}

/// What the shared tests do besides the store's own operations: raw SQL (written with `?`
/// placeholders), and reads of what the store does not expose. Every method panics on an error.
#[async_trait]
pub trait TestStore: MetadataStore {
    async fn exec(&self, sql: &str, params: Vec<Param>);
    /// The `column` of every row `sql` returns, as text.
    async fn texts(&self, sql: &str, column: &str) -> Vec<String>;
    /// The `column` of every row `sql` returns, as bytes.
    async fn bytes(&self, sql: &str, column: &str) -> Vec<Vec<u8>>;
    /// Every text column of every row of `explain` followed by the statement, run on one
    /// connection in a transaction after `setup`, one line per row.
    async fn plan(&self, setup: &[&str], explain: &str, statement: Planned) -> Vec<String>;
    async fn delete_in_batches(&self, before: Timestamp, batch: usize) -> u64;
    async fn close_pool(&self);
}

#[async_trait]
impl<D: Dialect> TestStore for SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    async fn exec(&self, sql: &str, params: Vec<Param>) {
        let sql = self.sql.numbered(sql.to_string());
        query::<D>(AssertSqlSafe(sql.clone()), params)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn texts(&self, sql: &str, column: &str) -> Vec<String> {
        let rows = query::<D>(AssertSqlSafe(sql.to_string()), [])
            .fetch_all(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter().map(|row| row.text(column).unwrap()).collect()
    }

    async fn bytes(&self, sql: &str, column: &str) -> Vec<Vec<u8>> {
        let rows = query::<D>(AssertSqlSafe(sql.to_string()), [])
            .fetch_all(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter().map(|row| row.bytes(column).unwrap()).collect()
    }

    async fn plan(&self, setup: &[&str], explain: &str, statement: Planned) -> Vec<String> {
        use sqlx::Execute;
        let mut statement = match statement {
            Planned::List(active, query) => self.sql.list_query::<D>(active, &query),
            Planned::Audit(after, before, limit) => {
                self.sql
                    .audit_query::<D>("worker.config", after, before, limit)
            }
            Planned::ActiveTasks => query::<D>(AssertSqlSafe(self.sql.active_tasks.clone()), []),
            Planned::ByIds(ids) => query::<D>(
                AssertSqlSafe(self.sql.infos_by_ids(ids.len())),
                ids.into_iter().map(Param::Text),
            ),
        };
        let arguments = statement.take_arguments().unwrap().unwrap_or_default();
        let sql = format!("{explain} {}", statement.sql().as_str());
        let mut tx = self.pool.begin().await.unwrap();
        for s in setup {
            sqlx::query::<D>(AssertSqlSafe(s.to_string()))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let rows = sqlx::query_with::<D, _>(AssertSqlSafe(sql.clone()), arguments)
            .fetch_all(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .filter_map(|c| row.text_or_null(c.name()).ok().flatten())
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect()
    }

    async fn delete_in_batches(&self, before: Timestamp, batch: usize) -> u64 {
        self.delete_complete_in_batches(before, batch)
            .await
            .unwrap()
    }

    async fn close_pool(&self) {
        self.close().await;
    }
}

/// One test's database: a SQLite file in a temporary directory, or a database of its own on
/// the server, dropped with this value.
pub struct TestDb {
    pub backend: Backend,
    /// The SQLite file, or the server URI of the test's database.
    location: String,
    _dir: Option<TempDir>,
    /// The server database to drop: (admin URI, name).
    server: Option<(String, String)>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> TestDb {
        let (env, default) = match backend {
            Backend::Sqlite => {
                let dir = TempDir::new().unwrap();
                let path = dir.path().join("var/meta/steward.db");
                return TestDb {
                    backend,
                    location: path.display().to_string(),
                    _dir: Some(dir),
                    server: None,
                };
            }
            Backend::Postgres => (
                "STEWARD_TEST_POSTGRES",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
            Backend::MySql => ("STEWARD_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test"),
        };
        let admin = std::env::var(env).unwrap_or_else(|_| default.to_string());
        let name = unique_name();
        let created = match backend {
            Backend::Postgres => {
                admin_exec::<Postgres>(&admin, format!("CREATE DATABASE {name}")).await
            }
            _ => admin_exec::<MySql>(&admin, format!("CREATE DATABASE {name}")).await,
        };
        if let Err(e) = created {
            let server = match backend {
                Backend::Postgres => "PostgreSQL",
                _ => "MariaDB (or MySQL)",
            };
            panic!(
                "{server} is not usable at {admin} ({e}). The metadata store tests run against \
                 PostgreSQL and MariaDB: start them, or point {env} at an admin URL ending in \
                 /<database> (see crates/steward-metadata/src/tests/databases.rs)."
            );
        }
        let prefix = admin.rsplit_once('/').map_or(admin.as_str(), |(p, _)| p);
        TestDb {
            backend,
            location: format!("{prefix}/{name}"),
            _dir: None,
            server: Some((admin, name)),
        }
    }

    /// The store with Druid's table names.
    pub async fn open(&self) -> Arc<dyn TestStore> {
        self.open_with_base("druid").await.unwrap()
    }

    pub async fn open_with_base(&self, base: &str) -> Result<Arc<dyn TestStore>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => {
                Arc::new(SqliteStore::open(&PathBuf::from(&self.location), base).await?)
            }
            Backend::Postgres => {
                Arc::new(PostgresStore::open(&self.location, None, None, base).await?)
            }
            Backend::MySql => Arc::new(MySqlStore::open(&self.location, None, None, base).await?),
        })
    }

    /// The URI `open_store` takes for this database.
    pub fn uri(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite:{}", self.location),
            _ => self.location.clone(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.server.take() else {
            return;
        };
        let backend = self.backend;
        let database = name.clone();
        // Drop runs outside any async context it could use (and possibly while a failed test
        // unwinds): the database is dropped from a runtime of its own on another thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                match backend {
                    // FORCE ends the sessions the test's pools may still hold.
                    Backend::Postgres => {
                        admin_exec::<Postgres>(
                            &admin,
                            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                        )
                        .await
                    }
                    _ => {
                        admin_exec::<MySql>(&admin, format!("DROP DATABASE IF EXISTS {name}")).await
                    }
                }
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {database}: {dropped:?}");
        }
    }
}

/// Runs one statement on a connection of its own to the admin database.
async fn admin_exec<D: Dialect>(admin: &str, sql: String) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    let mut conn = Options::<D>::from_str(admin)?.connect().await?;
    sqlx::query::<D>(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "steward_test_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
