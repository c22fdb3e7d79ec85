#!/usr/bin/env bash
# io_uring back-ends side by side on a disk-backed image (issue #13 item 3), in one run:
#   A. qemu-storage-daemon --blockdev driver=file,aio=io_uring,cache.direct=on on the image
#   B. `vhost serve blk --aio io_uring --direct` on the same image, adaptive polling at its defaults
#      (kicks: vhost.poll.max.ns 32768; completions in flight: vhost.poll.async.max.ns 200000, about
#      a disk read, so a QD1 completion is reaped by polling rather than after the completion
#      eventfd's wake-up)
#   C. the same with the completion window at ASYNC_POLL_NS (default 0: off, the kick window only),
#      to show what it is worth
# each driven by the same front-end (`vhost blk bench --rw randread --bs 4k`) at iodepth 32 and 1,
# one back-end at a time; prints all three and the ratios B/A, C/A (IOPS; p50 latency at QD1).
# The image must not be on tmpfs (the page cache would be measured, and O_DIRECT may be refused):
# it lives under $BENCH_DIR (default /var/tmp), checked with `stat -f`.
# Usage: scripts/bench/blk-aio-bench.sh [--seconds S] [--size SIZE]
# Environment: SECONDS_PER_RUN (default 5), IMAGE_SIZE (default 1G), BENCH_DIR (default /var/tmp), ASYNC_POLL_NS,
#              SERVE_JAVA_OPTS (JVM options for the back-end, default "-XX:+UseSerialGC -Xmx96m").
# Needs: qemu-storage-daemon (scripts/install-deps.sh) and the built platform
# (mvn -q -B package -DskipTests -pl platform,benchmarks -am).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/lib/jdk.sh

secs=${SECONDS_PER_RUN:-5}
poll=${ASYNC_POLL_NS:-0}
size=${IMAGE_SIZE:-1G}
base=${BENCH_DIR:-/var/tmp}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
. scripts/lib/bench.sh
bench_setup "$work"

bench() { # socket, iodepth, back-end PID -> prints the bench output and the back-end's CPU time
  local t0 t1
  t0=$(cpu_ticks "$3")
  ./vhost blk bench --socket "$1" --rw randread --bs 4k --iodepth "$2" --queues 1 --seconds "$secs"
  t1=$(cpu_ticks "$3")
  echo "back-end $(cpu_line "$t0" "$t1" "$secs")"
}
cpu() { sed -nE 's/^back-end cpu ([0-9.]+) s.*/\1/p' "$1" | head -1; }
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
bench "$work/qsd.sock" 32 "$qsd" | tee "$work/a32.txt"
bench "$work/qsd.sock" 1 "$qsd" | tee "$work/a1.txt"
stop_pid "$qsd"

own() { # label, extra JVM options -> runs QD32 and QD1 into $work/<label>32.txt, <label>1.txt
  VHOST_JAVA_OPTS="${SERVE_JAVA_OPTS:--XX:+UseSerialGC -Xmx96m} $2" ./vhost serve blk --image "$img" --aio io_uring --direct \
    --socket "$work/own.sock" >"$work/serve.log" 2>&1 &
  serve=$!; pids+=("$serve")
  wait_socket "$work/own.sock" || { cat "$work/serve.log" >&2; exit 1; }
  grep -m1 '^serving' "$work/serve.log" || true
  bench "$work/own.sock" 32 "$serve" | tee "$work/${1}32.txt"
  bench "$work/own.sock" 1 "$serve" | tee "$work/${1}1.txt"
  stop_pid "$serve"
  rm -f "$work/own.sock"
}
echo "== B. vhost serve blk --aio io_uring --direct (poll windows: defaults)"
own b ""
echo "== C. the same, -Dvhost.poll.async.max.ns=$poll"
own c "-Dvhost.poll.async.max.ns=$poll"

a32=$(iops "$work/a32.txt"); a1=$(iops "$work/a1.txt"); al=$(p50 "$work/a1.txt")
echo
echo "== summary (randread 4k, O_DIRECT io_uring on both sides, same front-end, $fstype)"
printf 'A qemu-storage-daemon:               QD32 %s IOPS, QD1 %s IOPS (p50 %s us); back-end cpu s QD32 %s, QD1 %s\n' \
  "$a32" "$a1" "$al" "$(cpu "$work/a32.txt")" "$(cpu "$work/a1.txt")"
for x in b c; do
  x32=$(iops "$work/${x}32.txt"); x1=$(iops "$work/${x}1.txt"); xl=$(p50 "$work/${x}1.txt")
  label=$([ "$x" = b ] && echo "B vhost (defaults)                 " || echo "C vhost (completion window $poll ns)")
  printf '%s: QD32 %s IOPS, QD1 %s IOPS (p50 %s us); back-end cpu s QD32 %s, QD1 %s\n' "$label" "$x32" "$x1" "$xl" \
    "$(cpu "$work/${x}32.txt")" "$(cpu "$work/${x}1.txt")"
  awk -v a="$a32" -v b="$x32" -v c="$a1" -v d="$x1" -v x="$(echo "$x" | tr bc BC)" \
    'BEGIN { printf "  %s/A ratio: QD32 %.2f, QD1 %.2f (target >= 1.0 each)\n", x, b / a, d / c }'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_json blk-aio-bench fs="$fstype" seconds="$secs" qsd_qd32_iops="$a32" qsd_qd1_iops="$a1" qsd_qd1_p50_us="$al" \
  qsd_qd32_cpu_s="$(cpu "$work/a32.txt")" qsd_qd1_cpu_s="$(cpu "$work/a1.txt")" \
  vhost_qd32_cpu_s="$(cpu "$work/b32.txt")" vhost_qd1_cpu_s="$(cpu "$work/b1.txt")" \
  vhost_c_qd32_cpu_s="$(cpu "$work/c32.txt")" vhost_c_qd1_cpu_s="$(cpu "$work/c1.txt")" \
  vhost_qd32_iops="$(iops "$work/b32.txt")" vhost_qd1_iops="$(iops "$work/b1.txt")" vhost_qd1_p50_us="$(p50 "$work/b1.txt")" \
  vhost_poll_qd32_iops="$(iops "$work/c32.txt")" vhost_poll_qd1_iops="$(iops "$work/c1.txt")" \
  vhost_poll_qd1_p50_us="$(p50 "$work/c1.txt")" async_poll_max_ns="$poll"
