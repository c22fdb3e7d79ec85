#!/usr/bin/env bash
# io_uring back-ends side by side on a disk-backed image (issue #13 item 3), in one run:
#   A. qemu-storage-daemon --blockdev driver=file,aio=io_uring,cache.direct=on on the image
#   B. `vhost serve blk --aio io_uring --direct` on the same image
# each driven by the same front-end (`vhost blk bench --rw randread --bs 4k`) at iodepth 32 and 1,
# one back-end at a time; prints both and the ratios B/A (IOPS; p50 latency at QD1).
# The image must not be on tmpfs (the page cache would be measured, and O_DIRECT may be refused):
# it lives under $BENCH_DIR (default /var/tmp), checked with `stat -f`.
# Usage: scripts/bench/blk-aio-bench.sh [--seconds S] [--size SIZE]
# Environment: SECONDS_PER_RUN (default 5), IMAGE_SIZE (default 1G), BENCH_DIR (default /var/tmp),
#              SERVE_JAVA_OPTS (JVM options for the back-end, default "-XX:+UseSerialGC -Xmx96m").
# Needs: qemu-storage-daemon (scripts/install-deps.sh) and the built platform
# (mvn -q -B package -DskipTests -pl platform,benchmarks -am).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/lib/jdk.sh

secs=${SECONDS_PER_RUN:-5}
size=${IMAGE_SIZE:-1G}
base=${BENCH_DIR:-/var/tmp}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
done
command -v qemu-storage-daemon >/dev/null || { echo "qemu-storage-daemon missing: run scripts/install-deps.sh" >&2; exit 2; }
[ -f platform/target/vhost.jar ] || {
  echo "platform/target/vhost.jar missing: mvn -q -B package -DskipTests -pl platform,benchmarks -am" >&2; exit 2; }
fstype=$(stat -f -c %T "$base")
case "$fstype" in
  tmpfs|ramfs) echo "$base is $fstype: give a disk-backed BENCH_DIR" >&2; exit 2 ;;
esac

work=$(mktemp -d "$base/blk-aio-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

wait_socket() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.1; done; echo "no socket $1" >&2; return 1; }
stop() { kill "$1" 2>/dev/null || true; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; }
bench() { # socket, iodepth -> prints the bench output
  ./vhost blk bench --socket "$1" --rw randread --bs 4k --iodepth "$2" --queues 1 --seconds "$secs"
}
iops() { sed -nE 's/.*IOPS[ =:]+([0-9.]+).*/\1/p' "$1" | head -1; }
p50() { sed -nE 's/.*p50 ([0-9.]+) us.*/\1/p' "$1" | head -1; }

img="$work/disk.raw"
echo "== image: $img ($size, file system $fstype), written once so no read hits a hole"
bytes=$(numfmt --from=iec "$size")
dd if=/dev/urandom of="$img" bs=1M count=$((bytes / 1048576)) status=none conv=fsync
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

echo "== A. qemu-storage-daemon driver=file,aio=io_uring,cache.direct=on"
qemu-storage-daemon --blockdev driver=file,node-name=f0,filename="$img",aio=io_uring,cache.direct=on \
  --export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path="$work/qsd.sock",writable=on,num-queues=1 \
  >"$work/qsd.log" 2>&1 &
qsd=$!; pids+=("$qsd")
wait_socket "$work/qsd.sock"
bench "$work/qsd.sock" 32 | tee "$work/a32.txt"
bench "$work/qsd.sock" 1 | tee "$work/a1.txt"
stop "$qsd"

echo "== B. vhost serve blk --aio io_uring --direct"
VHOST_JAVA_OPTS="${SERVE_JAVA_OPTS:--XX:+UseSerialGC -Xmx96m}" ./vhost serve blk --image "$img" --aio io_uring --direct \
  --socket "$work/own.sock" >"$work/serve.log" 2>&1 &
serve=$!; pids+=("$serve")
wait_socket "$work/own.sock" || { cat "$work/serve.log" >&2; exit 1; }
grep -m1 '^serving' "$work/serve.log" || true
bench "$work/own.sock" 32 | tee "$work/b32.txt"
bench "$work/own.sock" 1 | tee "$work/b1.txt"
stop "$serve"

a32=$(iops "$work/a32.txt"); b32=$(iops "$work/b32.txt")
a1=$(iops "$work/a1.txt"); b1=$(iops "$work/b1.txt")
al=$(p50 "$work/a1.txt"); bl=$(p50 "$work/b1.txt")
echo
echo "== summary (randread 4k, O_DIRECT io_uring on both sides, same front-end, $fstype)"
printf 'iodepth 32: qemu-storage-daemon %s IOPS, vhost %s IOPS\n' "$a32" "$b32"
awk -v a="$a32" -v b="$b32" 'BEGIN { printf "QD32 ratio vhost/qsd: %.2f (target >= 1.0)\n", b / a }'
printf 'iodepth 1:  qemu-storage-daemon %s IOPS (p50 %s us), vhost %s IOPS (p50 %s us)\n' "$a1" "$al" "$b1" "$bl"
awk -v a="$a1" -v b="$b1" 'BEGIN { printf "QD1 ratio vhost/qsd: %.2f (target >= 1.0)\n", b / a }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
