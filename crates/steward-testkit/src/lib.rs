//! Helpers for Steward's integration tests: real servers the tests run against, and a way to
//! wait for what a test observes.
//!
//! Tests use the real thing, not fakes: [`ZooKeeperServer`] runs a private ZooKeeper from
//! Debian's jars, with its own port and data directory, that a test can stop, restart, pause and
//! resume; [`PostgresServer`] a private PostgreSQL a test can stop and start (store outages);
//! [`TestCa`] a certificate authority and a server certificate for TLS tests;
//! [`basic_security_properties`] the properties that turn Druid's basic security on.
//! [`wait_for`] polls a condition until a deadline, so that no test sleeps to
//! synchronise.

mod postgres;
mod security;
mod tls;
mod wait;
mod zookeeper;

pub use postgres::PostgresServer;
pub use security::basic_security_properties;
pub use tls::TestCa;
pub use wait::wait_for;
pub use zookeeper::ZooKeeperServer;
