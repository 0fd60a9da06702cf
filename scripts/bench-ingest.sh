#!/usr/bin/env bash
# The ingestion benchmark: one `index` task on generated wikiticker JSON against DuckDB doing
# the same rollup (see the README's Benchmark section). Installs DuckDB from PyPI into a
# virtualenv under the data directory when it is missing, builds the release binary and runs
# `steward bench-ingest`; extra arguments go to it (--rows, --parallel N, --json, ...).
# BENCH_DATA_DIR: where inputs (about 2.2 GB per 5 million rows), the virtualenv and each run's
# quickstart go.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${BENCH_DATA_DIR:-/tmp/steward-bench-ingest}"
venv="$data/venv"
if ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
  echo "installing DuckDB from PyPI into $venv..." >&2
  mkdir -p "$data"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q duckdb
fi
cargo build --release -j2 -p steward
exec "${CARGO_TARGET_DIR:-target}/release/steward" bench-ingest --data-dir "$data" --python "$venv/bin/python" "$@"
