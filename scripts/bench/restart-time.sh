#!/usr/bin/env bash
# Restart-to-listening time of a vhost-user-blk back-end (issue #10, item 11): starts
# `vhost serve blk` (with the fast start of platform/bin/fast-start.sh, and plain `java -jar` as
# VHOST_FAST_START=0 runs it) and qemu-storage-daemon on a 64 MiB image N times each, interleaved,
# and prints how long each took from exec until its socket accepted a connection (what a QEMU guest
# with reconnect=1 waits for after a back-end restart). Not part of the tests: it times things.
# Usage: scripts/bench/restart-time.sh [RUNS]      (default 5)
# Environment: VHOST_JAVA_OPTS is passed to ./vhost (e.g. -XX:AOTCache=... to try an AOT cache).
# Needs: a built platform/target/vhost.jar (./vhost builds it), qemu-storage-daemon, python3.
# Output: one line per run, then "median: vhost X ms (java -jar J ms), qemu-storage-daemon Y ms, ratio X/Y";
# the medians also go to build/bench/restart-time.json (scripts/lib/bench.sh bench_json).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;; esac
RUNS=${1:-5}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
command -v qemu-storage-daemon >/dev/null || { echo "restart-time: qemu-storage-daemon not found (scripts/install-deps.sh)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/vhost-restart.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
truncate -s 64M "$WORK/disk.raw"
[ -f "$REPO/platform/target/vhost.jar" ] || "$REPO/vhost" --version >/dev/null

# time_until_listening SOCKET CMD...: ms from exec until SOCKET accepts a connection (bounded 30 s)
time_until_listening() {
  local sock=$1; shift
  rm -f "$sock"
  local t0; t0=$(date +%s%N)
  "$@" >"$WORK/out.log" 2>&1 &
  PID=$!
  python3 - "$sock" <<'PY' || { echo "restart-time: $* did not listen within 30 s; log:" >&2; tail -5 "$WORK/out.log" >&2; exit 1; }
import socket, sys, time
deadline = time.time() + 30
while time.time() < deadline:
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close(); sys.exit(0)
    except OSError:
        time.sleep(0.002)
sys.exit(1)
PY
  local t1; t1=$(date +%s%N)
  kill -KILL "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=""
  echo $(( (t1 - t0) / 1000000 ))
}

v=(); p=(); q=()
for i in $(seq "$RUNS"); do
  a=$(time_until_listening "$WORK/v.sock" "$REPO/vhost" serve blk --image "$WORK/disk.raw" --socket "$WORK/v.sock")
  c=$(VHOST_FAST_START=0 time_until_listening "$WORK/p.sock" "$REPO/vhost" serve blk --image "$WORK/disk.raw" --socket "$WORK/p.sock")
  b=$(time_until_listening "$WORK/q.sock" qemu-storage-daemon \
        --blockdev "driver=file,node-name=f0,filename=$WORK/disk.raw" \
        --export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$WORK/q.sock,writable=on")
  echo "run $i: vhost serve blk $a ms (java -jar $c ms), qemu-storage-daemon $b ms"
  v+=("$a"); p+=("$c"); q+=("$b")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mv=$(median "${v[@]}"); mp=$(median "${p[@]}"); mq=$(median "${q[@]}")
echo "median: vhost $mv ms (java -jar $mp ms), qemu-storage-daemon $mq ms, ratio $(awk -v a="$mv" -v b="$mq" 'BEGIN {printf "%.1f", a / (b > 0 ? b : 1)}')"
. "$REPO/scripts/lib/bench.sh"
bench_json restart-time runs="$RUNS" vhost_ms="$mv" java_jar_ms="$mp" qsd_ms="$mq" \
  ratio="$(awk -v a="$mv" -v b="$mq" 'BEGIN {printf "%.2f", a / (b > 0 ? b : 1)}')"
