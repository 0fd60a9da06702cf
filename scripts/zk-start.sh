#!/usr/bin/env bash
# Starts a standalone ZooKeeper from Debian's `zookeeper` package (no systemd needed) and waits
# until it serves. Usage: scripts/zk-start.sh PORT DATADIR  — prints the JVM's pid.
# Stop it with: kill "$(cat DATADIR/zookeeper.pid)". ZK_FORCE_SYNC=no skips the fsync of
# ZooKeeper's transaction log (faster, not durable: for tests and comparisons only).
set -euo pipefail
port=${1:?usage: zk-start.sh PORT DATADIR}
dir=${2:?usage: zk-start.sh PORT DATADIR}
[ -f /usr/share/java/zookeeper.jar ] || { echo "ZooKeeper is not installed: apt-get install -y zookeeper" >&2; exit 1; }
mkdir -p "$dir"
cat > "$dir/zoo.cfg" <<CFG
tickTime=${ZK_TICK:-500}
dataDir=$dir
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
forceSync=${ZK_FORCE_SYNC:-yes}
CFG
setsid java -XX:+UseSerialGC -Xmx256m ${ZK_JAVA_OPTS:-} \
  -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
  org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" </dev/null >"$dir/zookeeper.log" 2>&1 &
echo $! > "$dir/zookeeper.pid"
for _ in $(seq 1 300); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$port" && echo srvr >&3 && grep -q Mode: <&3) 2>/dev/null; then
    cat "$dir/zookeeper.pid"; exit 0
  fi
  sleep 0.1
done
echo "ZooKeeper did not start; see $dir/zookeeper.log" >&2
kill "$(cat "$dir/zookeeper.pid")" 2>/dev/null || true
exit 1
