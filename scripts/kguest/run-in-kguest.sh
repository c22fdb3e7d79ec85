#!/usr/bin/env bash
# Runs a command inside the kernel-backend test guest (Debian 6.12 with vhost-net, tun,
# vhost-vdpa, vdpa_sim_net, vdpa_sim_blk; see build-kguest.sh) and returns its exit code.
#
# Usage: scripts/kguest/run-in-kguest.sh [--] CMD [ARG...]
# The guest chroots into this machine's root (read-only 9p), so CMD sees the same files
# (the JDK, ~/.m2, the repository's target/ dirs); /tmp is an empty tmpfs, /tmp/kguest is the
# writable results share (its host path is in KGUEST_HOST_RESULTS). CMD runs as root in the
# current directory with PATH, JAVA_HOME, CI and the KGUEST_PASS_ENV variables of the caller,
# plus KGUEST=1 and KGUEST_RESULTS=/tmp/kguest. Devices: /dev/vhost-net, /dev/net/tun,
# /dev/vhost-vdpa-0 (vdpa0: vdpasim_net, mac 52:54:00:12:34:56), /dev/vhost-vdpa-1 (vdpa1:
# vdpasim_blk, 128 MiB), TAP ktap0 (up, 10.77.0.1/24, vnet_hdr).
# Environment:
#   KGUEST_CACHE_DIR  guest artifacts (default <repo>/.cache/kguest; built on demand)
#   KGUEST_TIMEOUT    seconds for the whole guest run (default 900); CMD itself gets 30 s less
#   KGUEST_MEM        guest memory (default 2G)
#   KGUEST_SMP        guest CPUs (default 2)
#   KGUEST_APPEND     extra kernel parameters (e.g. loglevel=7)
#   KGUEST_QUIET      1: do not stream the guest console; print CMD's output at the end
#   KGUEST_KEEP       1: keep the work dir (console.log, output.log, rc, timings) on success too
#   KGUEST_RESULTS_DIR use this existing dir as the work dir (console.log, qemu.out; the
#                     results share is DIR/results) and leave it in place
#   KGUEST_PASS_ENV   more variable names to pass into the guest (space separated)
# QEMU: -accel tcg,thread=single (multi-threaded TCG crashed the JVM), memfd memory backend,
# 9p root (hostroot, read-only) and results share; stopped by PID (TERM, then KILL) on exit.
# Exit: CMD's exit code; 124 CMD timed out in the guest; 125 harness error (guest did not
# boot, QEMU failed or timed out, no exit code); 64 usage.
# shellcheck disable=SC2015,SC2317  # "a && b || exit" is meant; cleanup runs from trap
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${KGUEST_CACHE_DIR:-$REPO/.cache/kguest}
TIMEOUT=${KGUEST_TIMEOUT:-900}
MEM=${KGUEST_MEM:-2G}
SMP=${KGUEST_SMP:-2}

case "${1:-}" in
  -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --) shift ;;
esac
[ $# -ge 1 ] || { echo "run-in-kguest: usage: run-in-kguest.sh [--] CMD [ARG...]" >&2; exit 64; }
[[ $TIMEOUT =~ ^[0-9]+$ ]] && [ "$TIMEOUT" -ge 60 ] || { echo "run-in-kguest: KGUEST_TIMEOUT must be >= 60" >&2; exit 64; }

log() { echo "run-in-kguest: $*" >&2; }
harness() { log "ERROR: $*"; exit 125; }
command -v qemu-system-x86_64 >/dev/null || harness "qemu-system-x86_64 not found (scripts/install-deps.sh)"

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
"$HERE/build-kguest.sh" --cache-dir "$CACHE" >&2 || harness "build-kguest.sh failed"
# shellcheck source=/dev/null
. "$CACHE/kguest.env"

if [ -n "${KGUEST_RESULTS_DIR:-}" ]; then
  WORK=$(cd "$KGUEST_RESULTS_DIR" && pwd); KEEP=caller
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/kguest.XXXXXX"); KEEP=${KGUEST_KEEP:-0}
fi
RES=$WORK/results
mkdir -p "$RES"
QPID=""
TAILPID=""
cleanup() {
  local rc=$?
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
    kill -TERM "$QPID" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QPID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$QPID" 2>/dev/null || true
  fi
  if [ -n "$TAILPID" ]; then kill "$TAILPID" 2>/dev/null || true; fi
  if [ "$KEEP" = caller ]; then :
  elif [ "$rc" -eq 0 ] && [ "$KEEP" != 1 ]; then rm -rf "$WORK"; else log "work dir kept: $WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 125' INT TERM

# The command, as a script the guest's /init runs chrooted into the host root.
{
  echo "#!/bin/sh"
  echo "# written by run-in-kguest.sh"
  q() { printf '%q' "$1"; }
  echo "export KGUEST=1 KGUEST_RESULTS=/tmp/kguest HOME=/tmp TMPDIR=/tmp"
  echo "export KGUEST_HOST_RESULTS=$(q "$RES")"
  for v in PATH JAVA_HOME CI LANG ${KGUEST_PASS_ENV:-}; do
    if [ -n "${!v+x}" ]; then echo "export $v=$(q "${!v}")"; fi
  done
  echo "cd $(q "$PWD") 2>/dev/null || cd /"
  printf 'exec'; for a in "$@"; do printf ' %s' "$(q "$a")"; done; echo
} > "$RES/cmd.sh"

GUEST_TIMEOUT=$((TIMEOUT - 30))
APPEND="console=ttyS0 panic=-1 quiet loglevel=4 kguest_timeout=$GUEST_TIMEOUT ${KGUEST_APPEND:-}"
log "booting $KGUEST_KERNEL_VERSION (tcg single-threaded, -smp $SMP -m $MEM, timeout ${TIMEOUT}s): $(echo "$*" | cut -c1-160)"
: > "$WORK/console.log"
qemu-system-x86_64 \
  -accel tcg,thread=single -smp "$SMP" -m "$MEM" \
  -object "memory-backend-memfd,id=mem,size=$MEM,share=on" -machine "pc,memory-backend=mem" \
  -cpu max -nodefaults -display none -no-reboot -monitor none \
  -serial "file:$WORK/console.log" \
  -kernel "$KGUEST_KERNEL" -initrd "$KGUEST_INITRD" -append "$APPEND" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$RES,mount_tag=results,security_model=none,multidevs=remap" \
  </dev/null >"$WORK/qemu.out" 2>&1 &
QPID=$!
if [ "${KGUEST_QUIET:-0}" != 1 ]; then
  tail -n +1 -f --pid="$QPID" "$WORK/console.log" | sed -u -n 's/\r$//; /^KGUEST-BEGIN$/,/^KGUEST-END$/{/^KGUEST-\(BEGIN\|END\)$/d;p;d};/^KGUEST-\|Kernel panic\|BUG:\|Oops/p' &
  TAILPID=$!
fi
DEADLINE=$(( $(date +%s) + TIMEOUT ))
while kill -0 "$QPID" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then
    log "ERROR: guest still running after ${TIMEOUT}s: stopping QEMU (pid $QPID)"
    tail -n 20 "$WORK/console.log" >&2
    exit 125
  fi
  sleep 0.5
done
wait "$QPID" 2>/dev/null && QRC=0 || QRC=$?
QPID=""
if [ -n "$TAILPID" ]; then wait "$TAILPID" 2>/dev/null || true; TAILPID=""; fi
[ -s "$WORK/qemu.out" ] && sed 's/^/qemu: /' "$WORK/qemu.out" >&2
[ "${KGUEST_QUIET:-0}" = 1 ] && [ -f "$RES/output.log" ] && cat "$RES/output.log"
if [ -f "$RES/timings" ]; then
  log "guest timings (s since boot): $(awk '{t=$1; $1=""; printf "%s%s%s", sep, t, substr($0, 1, 40); sep="; "}' "$RES/timings")"
fi
if [ ! -f "$RES/rc" ]; then
  log "ERROR: no exit code from the guest (QEMU exit $QRC); console tail:"
  tail -n 30 "$WORK/console.log" >&2
  exit 125
fi
RC=$(cat "$RES/rc")
[ -f "$RES/error" ] && log "ERROR in guest: $(cat "$RES/error")"
[ "$RC" = 143 ] && RC=124  # busybox timeout kills with TERM
log "guest command exited with $RC after $(elapsed) s in all"
exit "$RC"
