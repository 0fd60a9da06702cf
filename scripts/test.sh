#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need, then
# runs the suite with cargo-nextest (or cargo test if nextest is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# Part 1 needs only Rust (SQLite is bundled). Later parts add ZooKeeper/PostgreSQL/MySQL setup here.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo build --workspace --all-targets
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
