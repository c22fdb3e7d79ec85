#!/usr/bin/env bash
# Side-by-side virtio-net packet rate, 64-byte frames (override with PKT), one queue pair, busy
# polling, in one run:
#   A. DPDK virtio_user txonly -> DPDK vhost PMD rxonly          (the C reference)
#   B. this project's driver (`vhost net bench --mode tx --poll`) -> DPDK vhost PMD rxonly
#   C. DPDK virtio_user txonly -> this project's back-end (`vhost serve net --loopback --poll`)
# With --packed, split against packed virtqueues (VIRTIO 1.2 2.8) side by side, instead of C:
#   A. and B. as above (split rings), then
#   A'. DPDK virtio_user with packed_vq=1 -> DPDK vhost PMD rxonly
#   B'. this project's driver with --packed -> DPDK vhost PMD rxonly
# Rates are read from testpmd's periodic statistics (the median of the nonzero Rx-pps or Tx-pps
# samples); B also prints the driver's own figure, C the back-end's counters. Prints each rate
# and B/A, C/A (B'/B, A'/A with --packed). On a loaded machine testpmd prints few samples and
# rates swing: run it twice.
# Usage: scripts/bench/net-bench.sh [--seconds S] [--packed]
# Environment: SECONDS_PER_RUN (default 5), PKT (frame bytes, default 64),
#              SERVE_JAVA_OPTS (JVM options for the back-end, default "-XX:+UseSerialGC -Xmx256m"),
#              KEEP=1 keeps the work directory with every log.
# Needs dpdk-testpmd (scripts/install-deps.sh). Every process is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/lib/jdk.sh

secs=${SECONDS_PER_RUN:-5}
pkt=${PKT:-64}
packed=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;;
    --packed) packed=1; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
done
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd missing: run scripts/install-deps.sh" >&2; exit 2; }
[ -f platform/target/vhost.jar ] || { echo "building the platform..." >&2; mvn -q -DskipTests verify >&2; }

work=$(mktemp -d /tmp/net-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  [ "${KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT INT TERM

# testpmd with its forwarding core on $1 (the other one is the main lcore), stdin held open by a
# sleeping writer so it forwards until signalled; args after $3 go to testpmd's application part.
testpmd() { # fwd-core prefix log vdev mode [extra...]
  local fwd=$1 prefix=$2 log=$3 vdev=$4 mode=$5 main=$(( 1 - $1 )); shift 5
  sleep $(( secs + 30 )) | setsid dpdk-testpmd -l 0,1 --main-lcore "$main" --no-huge -m 512 --no-pci \
      --file-prefix="$prefix$$" --vdev "$vdev" -- --forward-mode="$mode" --nb-cores=1 \
      --total-num-mbufs=32768 --stats-period 1 --txpkts="$pkt" "$@" >"$log" 2>&1 &
  pids+=($!)
  echo $!
}

stop() { # pid
  kill -INT "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

await_file() { # path seconds
  for _ in $(seq $(( $2 * 10 ))); do [ -e "$1" ] && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}

# median of the periodic "<field>: N" samples of port 0 in a testpmd log, without the zero
# samples (before the peer connected); the first nonzero one is dropped when at least 3 remain
rate() { # log field
  grep -o "$2: *[0-9]*" "$1" | awk '{print $2}' | awk '$1 > 0' |
    awk '{ v[NR] = $1 } END { s = NR >= 3 ? 2 : 1; for (i = s; i <= NR; i++) print v[i] }' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print v[int((NR + 1) / 2)] }'
}

mpps() { awk -v r="$1" 'BEGIN { printf "%.3f", r / 1e6 }'; }

echo "net-bench: $pkt-byte frames, 1 queue pair, polling, ${secs} s per run (work dir $work)"

# A: virtio_user -> vhost PMD
sa=$work/a.sock
pa=$(testpmd 1 vha "$work/a-vhost.log" "net_vhost0,iface=$sa,queues=1" rxonly)
await_file "$sa" 20
pb=$(testpmd 0 vua "$work/a-user.log" "net_virtio_user0,path=$sa,queues=1" txonly)
sleep "$secs"
stop "$pb"; stop "$pa"
ra=$(rate "$work/a-vhost.log" Rx-pps)
echo "A  DPDK virtio_user -> DPDK vhost PMD:      $(mpps "$ra") Mpps"

# B: this driver -> vhost PMD
sb=$work/b.sock
pc=$(testpmd 1 vhb "$work/b-vhost.log" "net_vhost0,iface=$sb,queues=1" rxonly)
await_file "$sb" 20
./vhost net bench --socket "$sb" --pkt-size "$pkt" --seconds "$secs" --burst 32 --mode tx --poll >"$work/b-driver.log" 2>&1 || {
  cat "$work/b-driver.log" >&2; exit 1; }
stop "$pc"
rb=$(rate "$work/b-vhost.log" Rx-pps)
echo "B  vhost-platform driver -> DPDK vhost PMD: $(mpps "$rb") Mpps (driver: $(grep -o '[0-9.]* Mpps' "$work/b-driver.log" | tail -n 1))"

if [ "$packed" = 1 ]; then
  # A': virtio_user on packed rings -> vhost PMD
  sa2=$work/a2.sock
  pa2=$(testpmd 1 vha2 "$work/a2-vhost.log" "net_vhost0,iface=$sa2,queues=1" rxonly)
  await_file "$sa2" 20
  pb2=$(testpmd 0 vua2 "$work/a2-user.log" "net_virtio_user0,path=$sa2,queues=1,packed_vq=1" txonly)
  sleep "$secs"
  stop "$pb2"; stop "$pa2"
  ra2=$(rate "$work/a2-vhost.log" Rx-pps)
  echo "A' DPDK virtio_user packed -> DPDK vhost PMD:      $(mpps "$ra2") Mpps"

  # B': this driver on packed rings -> vhost PMD
  sb2=$work/b2.sock
  pc2=$(testpmd 1 vhb2 "$work/b2-vhost.log" "net_vhost0,iface=$sb2,queues=1" rxonly)
  await_file "$sb2" 20
  ./vhost net bench --socket "$sb2" --pkt-size "$pkt" --seconds "$secs" --burst 32 --mode tx --poll --packed \
      >"$work/b2-driver.log" 2>&1 || { cat "$work/b2-driver.log" >&2; exit 1; }
  stop "$pc2"
  if grep -q 'notice:' "$work/b2-driver.log"; then cat "$work/b2-driver.log" >&2; echo "B' did not run on packed rings" >&2; exit 1; fi
  rb2=$(rate "$work/b2-vhost.log" Rx-pps)
  echo "B' vhost-platform driver packed -> DPDK vhost PMD: $(mpps "$rb2") Mpps (driver: $(grep -o '[0-9.]* Mpps' "$work/b2-driver.log" | tail -n 1))"
  awk -v a="$ra" -v b="$rb" -v a2="$ra2" -v b2="$rb2" 'BEGIN {
    printf "split vs packed: driver %.3f -> %.3f Mpps (B'"'"'/B %.2f); DPDK virtio_user %.3f -> %.3f Mpps (A'"'"'/A %.2f)\n",
      b / 1e6, b2 / 1e6, (b > 0 ? b2 / b : 0), a / 1e6, a2 / 1e6, (a > 0 ? a2 / a : 0) }'
  . scripts/lib/bench.sh
  bench_json net-bench-packed pkt_size="$pkt" seconds="$secs" a_dpdk_split_pps="$ra" b_driver_split_pps="$rb" \
    a_dpdk_packed_pps="$ra2" b_driver_packed_pps="$rb2"
  exit 0
fi

# C: virtio_user -> this back-end
sc=$work/c.sock
VHOST_JAVA_OPTS=${SERVE_JAVA_OPTS:--XX:+UseSerialGC -Xmx256m} setsid ./vhost serve net --socket "$sc" --loopback --poll >"$work/c-serve.log" 2>&1 &
pd=$!; pids+=("$pd")
await_file "$sc" 30
pe=$(testpmd 0 vuc "$work/c-user.log" "net_virtio_user0,path=$sc,queues=1" txonly)
sleep "$secs"
stop "$pe"
kill -TERM "$pd" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$pd" 2>/dev/null || break; sleep 0.1; done
rc=$(rate "$work/c-user.log" Tx-pps)
echo "C  DPDK virtio_user -> vhost-platform back-end: $(mpps "$rc") Mpps (back-end $(grep -a -m1 '^pair 0:' "$work/c-serve.log" || echo 'counters missing'))"

awk -v a="$ra" -v b="$rb" -v c="$rc" 'BEGIN {
  if (a > 0) printf "ratios: B/A %.2f  C/A %.2f (targets >= 0.8)\n", b / a, c / a
  else print "ratios: reference rate A is 0 (see the logs)" }'
. scripts/lib/bench.sh
bench_json net-bench pkt_size="$pkt" seconds="$secs" a_dpdk_to_dpdk_pps="$ra" b_driver_to_dpdk_pps="$rb" \
  c_dpdk_to_backend_pps="$rc"
