//! The `steward` command: the pieces behind its subcommands, kept in a library so they can be
//! unit-tested and reused by the binary's end-to-end tests.
//!
//! `client` talks to a running Overlord over Druid's HTTP API (`steward task ...`,
//! `steward workers`, `steward datasources`, `steward segments ...`, `steward kill`); `bench` measures a running Overlord's latency and throughput, `bench_history` its answers
//! over a large task history, `bench_ingest` an `index` task's speed and memory against DuckDB; `config`
//! reads Druid-style properties; `settings` builds each role's parts from them; `quickstart`
//! runs the single-process deployment, `cluster` the Overlord and MiddleManager processes.

pub mod bench;
pub mod bench_actions;
pub mod bench_history;
pub mod bench_ingest;
pub mod client;
pub mod cluster;
pub mod config;
pub mod quickstart;
pub mod settings;
