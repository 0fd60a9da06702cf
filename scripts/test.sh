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
# The deep-storage tests read the zips Steward writes back with Info-ZIP's unzip.
if ! command -v unzip >/dev/null; then
  echo "installing unzip from Debian's packages..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq unzip >/dev/null
fi
# The web console's tests drive Debian's headless Chromium through its chromedriver.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "installing Chromium and chromedriver from Debian's packages..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo build --workspace --all-targets
# The README's run command (`cargo run --release -- quickstart`) must find the service's binary
# from the root; checked here on the debug build just made.
cargo run -q -- quickstart --help >/dev/null
# The failover stress test (leader killed at random moments) is not part of the quick run; CI
# runs it at a reduced count. STEWARD_FAILOVER_ROUNDS=20 is the full run.
export STEWARD_FAILOVER_ROUNDS="${STEWARD_FAILOVER_ROUNDS:-3}"
# The cluster suites run a second time secured, as an operator would run production: HTTPS
# only between every process (a CA made for the run) and Druid's basic authentication on.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
  STEWARD_TEST_SECURE=1 cargo nextest run -p steward --test cluster --test failover --no-fail-fast "$@"
  cargo nextest run -p steward --test failover --run-ignored only -E 'test(failover_stress)'
else
  cargo test --workspace --no-fail-fast "$@"
  STEWARD_TEST_SECURE=1 cargo test -p steward --test cluster --test failover --no-fail-fast "$@"
  cargo test -p steward --test failover -- --ignored failover_stress
fi
# The whole cluster (Overlord core, MiddleManager cores, ZooKeeper's model, store, peons) under
# random faults, one seed per run; a failing seed prints the command that replays it. About 20 s.
cargo run -q -p steward-simulation -- --seeds 1..1281 --steps 400
