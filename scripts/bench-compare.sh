#!/usr/bin/env bash
# The task benchmark (`steward bench`) against two builds of Steward, alternated: A, B, A, B, …
# so that a machine whose speed drifts (another job, a warm page cache) moves both alike.
# Each run starts a fresh release quickstart of that build (`--capacity 8`, its own data dir),
# benchmarks it with B's client, stops it, and keeps the JSON report; a table of all runs and the
# medians ends the output. The runs' data dirs (5,200 task logs each) are removed at the end,
# not between runs: on this VM's ext4, creating files just after deleting thousands is slow
# and would tax whichever run came next. BENCH_KEEP=1 keeps them.
#
#   scripts/bench-compare.sh BIN_A BIN_B [ROUNDS]     # ROUNDS defaults to 3
#
# e.g. a build of the commit before a change against one after it:
#   git worktree add /tmp/before <commit> && (cd /tmp/before && cargo build --release -p steward)
#   scripts/bench-compare.sh /tmp/before/target/release/steward target/release/steward
# Extra `steward bench` arguments go in BENCH_ARGS; BENCH_PORT (default 18190) is the Overlord's.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
a=$(realpath "$1") b=$(realpath "$2") rounds=${3:-3}
port=${BENCH_PORT:-18190}
out=$(mktemp -d /tmp/steward-bench-compare.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true' EXIT
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    bin=$a; [ "$side" = B ] && bin=$b
    dir="$out/$side$round"
    mkdir -p "$dir"
    "$bin" quickstart --capacity 8 --port "$port" --worker-port $((port + 1)) \
      --data-dir "$dir/data" 2>"$dir/quickstart.log" & pid=$!
    ready=
    for _ in $(seq 1 200); do
      if curl -sf "localhost:$port/druid/indexer/v1/workers" | grep -q '"host"'; then ready=1; break; fi
      sleep 0.1
    done
    [ -n "$ready" ] || { echo "$side$round: the quickstart did not start; see $dir/quickstart.log" >&2; exit 1; }
    # shellcheck disable=SC2086
    "$b" bench --overlord "http://127.0.0.1:$port" --json ${BENCH_ARGS:-} > "$dir/bench.json"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    echo "$side$round done" >&2
  done
done
python3 - "$out" "$rounds" <<'EOF'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
print(f"runs in {out}")
print("| run | p50 / p90 / p99 latency (ms) | tasks/s | Overlord RSS growth (MB) |")
print("|---|---|---|---|")
figures = {"A": [], "B": []}
for r in range(1, rounds + 1):
    for side in "AB":
        v = json.load(open(f"{out}/{side}{r}/bench.json"))
        lat, tput = v["latency"], v["throughput"]
        figures[side].append((lat["p50Ms"], tput["tasksPerSecond"]))
        print(f"| {side}{r} | {lat['p50Ms']} / {lat['p90Ms']} / {lat['p99Ms']} "
              f"| {tput['tasksPerSecond']} | {v['rssGrowthMb']} |")
for side in "AB":
    p50 = statistics.median(f[0] for f in figures[side])
    tps = statistics.median(f[1] for f in figures[side])
    print(f"{side}: median p50 {p50} ms, median {tps} tasks/s")
EOF
[ -n "${BENCH_KEEP:-}" ] || rm -rf "$out"/*/data
