#!/usr/bin/env bash
# The benchmark against cluster mode: ZooKeeper, one Overlord and two MiddleManagers (4 slots
# each, 8 in all), SQLite metadata, as separate processes on this machine. Extra arguments go to
# `steward bench`. Everything it starts is stopped when it ends. ZooKeeper is a JVM started
# just now: BENCH_WARMUP tasks (default 2000) run first, unmeasured, while its JIT compiles;
# BENCH_WARMUP=0 measures it cold.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -j2 -p steward
bin=target/release/steward
# BENCH_DIR: where the run's files go (task dirs, task logs, ZooKeeper's log, SQLite).
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/steward-cluster-bench.XXXXXX")
pids=()
# The run's files (logs, data) are kept when it fails or BENCH_KEEP is set.
cleanup() {
  local status=$1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$dir/zk/zookeeper.pid" ] && kill "$(cat "$dir/zk/zookeeper.pid")" 2>/dev/null || true
  if [ "$status" = 0 ] && [ -z "${BENCH_KEEP:-}" ]; then
    rm -rf "$dir"
    [ -z "${BENCH_TASK_DIR:-}" ] || rm -rf "${BENCH_TASK_DIR:?}/$(basename "$dir")"
  fi
}
trap 'cleanup $?' EXIT
scripts/zk-start.sh 22181 "$dir/zk" >/dev/null
common="druid.host=127.0.0.1
druid.zk.service.host=127.0.0.1:22181
druid.indexer.logs.directory=$dir/task-logs"
printf '%s\ndruid.plaintextPort=28090\nsteward.dataDir=%s/overlord\n' "$common" "$dir" > "$dir/overlord.properties"
"$bin" overlord --config "$dir/overlord.properties" 2>"$dir/overlord.log" & pids+=($!)
for i in 1 2; do
  printf '%s\ndruid.plaintextPort=2809%s\nsteward.dataDir=%s/mm%s\ndruid.worker.capacity=%s\ndruid.indexer.runner.startPort=2%s100\n' \
    "$common" "$i" "$dir" "$i" "${BENCH_CAPACITY:-4}" "$i" > "$dir/mm$i.properties"
  # BENCH_TASK_DIR: the MiddleManagers' task dirs elsewhere (a tmpfs, another disk).
  if [ -n "${BENCH_TASK_DIR:-}" ]; then
    echo "druid.indexer.task.baseTaskDir=$BENCH_TASK_DIR/$(basename "$dir")/mm$i" >> "$dir/mm$i.properties"
  fi
  "$bin" middle-manager --config "$dir/mm$i.properties" 2>"$dir/mm$i.log" & pids+=($!)
done
n=0
for _ in $(seq 1 100); do
  n=$(curl -s localhost:28090/druid/indexer/v1/workers | grep -o '"host"' | wc -l || true)
  [ "$n" = 2 ] && break
  sleep 0.1
done
[ "$n" = 2 ] || { echo "the Overlord sees $n of 2 workers; logs in $dir" >&2; exit 1; }
zk_packets() { (exec 3<>/dev/tcp/127.0.0.1/22181 && echo mntr >&3 && grep -E "packets_received|avg_latency|max_latency" <&3) 2>/dev/null || true; }
[ -n "${BENCH_CPU:-}" ] && zk_packets
"$bin" bench --overlord http://127.0.0.1:28090 --warmup-tasks "${BENCH_WARMUP:-2000}" "$@"
[ -n "${BENCH_CPU:-}" ] && zk_packets
if [ -n "${BENCH_CPU:-}" ]; then ps -o pid,cputime,rss,args -p "${pids[*]// /,},$(cat "$dir/zk/zookeeper.pid")" | cut -c1-120; fi
