#!/usr/bin/env bash
# Side-by-side virtio-blk benchmark, in one run:
#   A. `vhost blk bench` (this project's front-end) against qemu-storage-daemon's null-co export,
#      twice: read-zeroes=off (null-co's default: reads do not touch the buffer) and read-zeroes=on
#      (each read fills the 4 KiB buffer, as the in-memory back-end does: zeroes for a page never
#      written, as here, else a copy; the comparable one, used for the ratio; the ratio against
#      read-zeroes=off, the old figure, is printed too)
#   B. the same bench against this project's back-end (`vhost serve blk --memory`), with the
#      back-end's resident memory sampled during the run
#   C. queue depth 1 against qemu-storage-daemon, compared with the eventfd ping-pong between two
#      processes (the notification floor: a request cannot complete faster than one round trip)
# Prints each result and the ratios. Usage: scripts/bench/blk-bench.sh [--seconds S] [--iodepth D]
# Environment: SECONDS_PER_RUN (default 5), IODEPTH (default 32), BS (default 4k),
#              SERVE_JAVA_OPTS (JVM options for the back-end, default "-XX:+UseSerialGC -Xmx96m").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/lib/jdk.sh

secs=${SECONDS_PER_RUN:-5}
depth=${IODEPTH:-32}
bs=${BS:-4k}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;;
    --iodepth) depth=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
done
command -v qemu-storage-daemon >/dev/null || { echo "qemu-storage-daemon missing: run scripts/install-deps.sh" >&2; exit 2; }
[ -f platform/target/vhost.jar ] || { echo "building the platform..." >&2; mvn -q -DskipTests install >&2; }
[ -f benchmarks/target/classpath.txt ] || mvn -q -pl benchmarks -am package -DskipTests >&2

work=$(mktemp -d /tmp/blk-bench.XXXXXX)
. scripts/lib/bench.sh
bench_setup "$work"

bench() { # socket, iodepth, back-end PID -> prints the bench output and the back-end's CPU time
  local t0 t1
  t0=$(cpu_ticks "$3")
  ./vhost blk bench --socket "$1" --rw randread --bs "$bs" --iodepth "$2" --queues 1 --seconds "$secs"
  t1=$(cpu_ticks "$3")
  echo "back-end $(cpu_line "$t0" "$t1" "$secs")"
}
cpus() { # front-end and back-end CPU seconds of a bench output: "front 4.91 s, back 3.20 s"
  printf 'front-end cpu %s s, back-end cpu %s s' "$(sed -nE 's/.*front-end cpu ([0-9.]+) s.*/\1/p' "$1" | head -1)" \
    "$(sed -nE 's/^back-end cpu ([0-9.]+) s.*/\1/p' "$1" | head -1)"
}
field() { # the number after a label in bench output: field IOPS file
  sed -nE "s/.*$1[ =:]+([0-9.]+).*/\1/p" "$2" | head -1
}

qsd_start() { # name, read-zeroes (off|on): starts qemu-storage-daemon's null-co export on $work/NAME.sock
  qemu-storage-daemon --blockdev driver=null-co,node-name=null0,size=1073741824,read-zeroes="$2" \
    --export type=vhost-user-blk,id=exp0,node-name=null0,addr.type=unix,addr.path="$work/$1.sock",writable=on,num-queues=1 \
    >"$work/$1.log" 2>&1 &
  pids+=("$!")
  wait_socket "$work/$1.sock"
}

echo "== A. vhost front-end -> qemu-storage-daemon null-co read-zeroes=off (default), randread $bs, iodepth $depth, ${secs}s"
qsd_start qsd off
qsd=${pids[-1]}
bench "$work/qsd.sock" "$depth" "$qsd" | tee "$work/a.txt"

echo "== A2. the same against null-co read-zeroes=on (each read fills the buffer)"
qsd_start qsdz on
bench "$work/qsdz.sock" "$depth" "${pids[-1]}" | tee "$work/a2.txt"
stop_pid "${pids[-1]}"

echo "== B. vhost front-end -> vhost back-end (in-memory 1 GiB), same workload"
VHOST_JAVA_OPTS="${SERVE_JAVA_OPTS:--XX:+UseSerialGC -Xmx96m}" ./vhost serve blk --memory 1G --socket "$work/own.sock" >"$work/serve.log" 2>&1 &
serve=$!; pids+=("$serve")
wait_socket "$work/own.sock"
jvm=$(pgrep -P "$serve" java || echo "$serve")
rss_max=0
( while kill -0 "$jvm" 2>/dev/null; do ps -o rss= -p "$jvm"; sleep 0.2; done ) >"$work/rss.txt" 2>/dev/null &
sampler=$!; pids+=("$sampler")
bench "$work/own.sock" "$depth" "$jvm" | tee "$work/b.txt"
kill "$sampler" 2>/dev/null || true
rss_max=$(sort -n "$work/rss.txt" | tail -1)

echo "== C. queue depth 1 -> qemu-storage-daemon, and the eventfd ping-pong floor"
bench "$work/qsd.sock" 1 "$qsd" | tee "$work/c.txt"
java --enable-native-access=ALL-UNNAMED -cp "benchmarks/target/classes:$(cat benchmarks/target/classpath.txt)" \
  com.vhost.bench.EventFdPingPong "$secs" | tee "$work/pp.txt"

a=$(field IOPS "$work/a.txt"); a2=$(field IOPS "$work/a2.txt"); b=$(field IOPS "$work/b.txt")
c50=$(sed -nE 's/.*p50 ([0-9.]+) us.*/\1/p' "$work/c.txt" | head -1)
pp50=$(sed -nE 's/.*p50 ([0-9.]+) us.*/\1/p' "$work/pp.txt" | head -1)
echo
echo "== summary (randread $bs)"
printf 'qemu-storage-daemon null-co read-zeroes=off, iodepth %s: %s IOPS (%s)\n' "$depth" "$a" "$(cpus "$work/a.txt")"
printf 'qemu-storage-daemon null-co read-zeroes=on,  iodepth %s: %s IOPS (%s)\n' "$depth" "$a2" "$(cpus "$work/a2.txt")"
printf 'vhost back-end (in-memory, fills each read), iodepth %s: %s IOPS (%s)\n' "$depth" "$b" "$(cpus "$work/b.txt")"
awk -v a="$a2" -v b="$b" 'BEGIN { printf "back-end ratio vhost/qsd (read-zeroes=on, both fill the buffer): %.2f (target >= 1.0)\n", b / a }'
awk -v a="$a" -v b="$b" 'BEGIN { printf "back-end ratio vhost/qsd (read-zeroes=off, qsd touches no data; the old figure): %.2f\n", b / a }'
printf 'vhost front-end QD1 vs qsd: p50 %s us; eventfd ping-pong p50 %s us\n' "$c50" "$pp50"
awk -v c="$c50" -v p="$pp50" 'BEGIN { printf "QD1 latency / notification floor: %.2f (target <= 1.5)\n", c / p }'
printf 'vhost serve blk resident memory, max during the run: %.1f MiB (target < 160)\n' "$(awk -v k="$rss_max" 'BEGIN{print k/1024}')"
bench_json blk-bench bs="$bs" iodepth="$depth" seconds="$secs" qsd_null_iops="$a" qsd_null_read_zeroes_iops="$a2" \
  vhost_iops="$b" ratio_vs_read_zeroes="$(awk -v a="$a2" -v b="$b" 'BEGIN { printf "%.3f", b / a }')" \
  qd1_p50_us="$c50" pingpong_p50_us="$pp50" serve_rss_kib="$rss_max" \
  qsd_cpu_s="$(sed -nE 's/^back-end cpu ([0-9.]+) s.*/\1/p' "$work/a2.txt" | head -1)" \
  vhost_cpu_s="$(sed -nE 's/^back-end cpu ([0-9.]+) s.*/\1/p' "$work/b.txt" | head -1)"
