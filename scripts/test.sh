#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need, then
# runs the suite with cargo-nextest (or cargo test if nextest is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# Cluster tests start private ZooKeeper servers from Debian's package (the tests run the JVM
# themselves; nothing is started as a service). SQLite is bundled with the binary.
if [ ! -f /usr/share/java/zookeeper.jar ] || [ ! -f /usr/share/java/slf4j-simple.jar ]; then
  echo "installing ZooKeeper from Debian's packages..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq zookeeper libslf4j-java >/dev/null
fi
command -v java >/dev/null || { echo "java is required by ZooKeeper" >&2; exit 1; }
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo build --workspace --all-targets
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
