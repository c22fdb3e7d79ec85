#!/usr/bin/env bash
# The guest half of net-bench.sh (runs inside the 6.12 kernel guest; see there). Runs
# `vhost net bench` over vhost-user (an in-guest `vhost serve net --loopback`), vhost-net (TAP
# ktap0) and vdpa_sim_net (/dev/vhost-vdpa-0), then prints the rates side by side and the ratios.
# Environment: BENCH_SECONDS (default 5), BENCH_PKT (default 64). The back-end process is
# stopped by PID (TERM, then KILL after 20 s; a background job of a non-interactive shell ignores INT).
set -uo pipefail
[ "${KGUEST:-}" = 1 ] || { echo "net-bench-guest: runs inside the kernel guest (scripts/kguest/net-bench.sh)" >&2; exit 64; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECS=${BENCH_SECONDS:-5}
PKT=${BENCH_PKT:-64}
W=/tmp/net-bench
mkdir -p "$W/conf" "$W/deploy"
export VHOST_CONF_DIR=$W/conf VHOST_DEPLOY_DIR=$W/deploy
export VHOST_JAVA_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
vhost() { "$REPO/vhost" "$@"; }
SERVE=""
cleanup() {
  if [ -n "$SERVE" ]; then
    kill -TERM "$SERVE" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$SERVE" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVE" 2>/dev/null
    SERVE=""
  fi
}
trap cleanup EXIT
fail=0
declare -A KPPS # key.mode -> thousand packets per second
bench() { # key mode backend-args...
  local key=$1 mode=$2 out; shift 2
  out=$(vhost net bench "$@" --mode "$mode" --seconds "$SECS" --pkt-size "$PKT" 2>&1)
  echo "  $key $mode: $out" | tail -n 3
  # thousands of packets per second from the packet count and the elapsed time (more digits
  # than the Mpps figure at TCG rates)
  KPPS[$key.$mode]=$(sed -n 's/.* \([0-9.]*\) s: \([0-9]*\) packets.*/\2 \1/p' <<<"$out" | tail -n 1 | awk '{ if ($2 > 0) printf "%.1f", $1 / $2 / 1000 }')
  [ -n "${KPPS[$key.$mode]}" ] || { KPPS[$key.$mode]=0; fail=1; }
}

echo "net-bench: $PKT-byte frames, burst 32, 1 queue pair, eventfd mode, $SECS s per run, kernel $(uname -r)"
vhost serve net --socket "$W/net.sock" --loopback >"$W/serve.log" 2>&1 &
SERVE=$!
for _ in $(seq 600); do [ -S "$W/net.sock" ] && break; kill -0 "$SERVE" 2>/dev/null || break; sleep 0.1; done
if [ -S "$W/net.sock" ]; then
  bench vhost-user tx --socket "$W/net.sock"
  bench vhost-user echo --socket "$W/net.sock"
else
  echo "  vhost serve net did not create $W/net.sock:"; sed 's/^/    /' "$W/serve.log"; fail=1
  KPPS[vhost-user.tx]=0; KPPS[vhost-user.echo]=0
fi
cleanup
bench vhost-net tx --kernel --tap ktap0
bench vdpa tx --vdpa /dev/vhost-vdpa-0
bench vdpa echo --vdpa /dev/vhost-vdpa-0

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
echo
printf '%-6s %12s %12s %12s   %s\n' kpps vhost-user vhost-net vdpa_sim "ratios (to vhost-user)"
printf '%-6s %12s %12s %12s   vhost-net %s, vdpa_sim %s\n' tx "${KPPS[vhost-user.tx]}" "${KPPS[vhost-net.tx]}" "${KPPS[vdpa.tx]}" \
  "$(ratio "${KPPS[vhost-net.tx]}" "${KPPS[vhost-user.tx]}")" "$(ratio "${KPPS[vdpa.tx]}" "${KPPS[vhost-user.tx]}")"
printf '%-6s %12s %12s %12s   vdpa_sim %s\n' echo "${KPPS[vhost-user.echo]}" "-" "${KPPS[vdpa.echo]}" \
  "$(ratio "${KPPS[vdpa.echo]}" "${KPPS[vhost-user.echo]}")"
echo "(thousand packets per second; QEMU TCG guest: compare the ratios, not the absolute rates)"
exit $fail
