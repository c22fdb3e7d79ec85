#!/usr/bin/env bash
# Interop test: QEMU + a Linux guest's own virtio-blk driver <-> a vhost-user-blk back-end.
#
# Usage: scripts/guest/blk-guest-test.sh [qsd|vhost]      (the argument overrides BACKEND)
# Environment:
#   BACKEND         qsd (qemu-storage-daemon, the reference peer) or vhost (this project's
#                   `vhost serve blk --image IMG --socket SOCK`); default qsd
#   VHOST_CMD       command for BACKEND=vhost (default: <repo>/vhost); extra words allowed
#   VHOST_SERVE_ARGS  extra arguments appended to `serve blk ...` (default: none)
#   GUEST_CACHE_DIR where build-guest.sh put vmlinuz/initrd.gz (default: <repo>/.cache/guest);
#                   built on demand when missing
#   IMAGE_MIB       size of the test image in MiB (default 64)
#   QEMU_TIMEOUT    seconds the guest run may take (default 120)
#   BACKEND_TIMEOUT seconds to wait for the back-end's socket (default 30)
#   KEEP_TMP=1      keep the work directory (image, logs) even on success
#   GUEST_APPEND    extra kernel command line words (e.g. "loglevel=7" to see the driver's messages)
#   QEMU_EXTRA_ARGS extra QEMU arguments, split on spaces (e.g. "-trace vhost_user_*"); QEMU's
#                   stderr goes to qemu.err in the work directory and is printed
#   CI=true         a missing back-end command is a failure (exit 2), never a skip
# Outputs: progress on stdout; work directory (image, expected image, serial.log, backend.log)
#   under ${TMPDIR:-/tmp}/blk-guest-test.XXXXXX, removed on success unless KEEP_TMP=1,
#   kept (and its path printed) on failure.
# Exit codes: 0 pass; 1 test failed (guest FAIL or data mismatch); 2 harness/infrastructure
#   error (back-end or QEMU did not start, timeout, missing artifact); 77 skipped (back-end
#   command absent, not CI); 64 bad usage.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -le 1 ] || { echo "blk-guest-test: at most one argument (qsd|vhost)" >&2; exit 64; }
BACKEND=${1:-${BACKEND:-qsd}}
case "$BACKEND" in qsd|vhost) ;; *) echo "blk-guest-test: unknown back-end '$BACKEND' (qsd|vhost)" >&2; exit 64 ;; esac
CACHE=${GUEST_CACHE_DIR:-$REPO/.cache/guest}
IMAGE_MIB=${IMAGE_MIB:-64}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}
BACKEND_TIMEOUT=${BACKEND_TIMEOUT:-30}
TAG="blk-guest-test[$BACKEND]"

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "$TAG: [$(elapsed)s] $*"; }

WORK=""
BACKEND_PID=""
QEMU_PID=""
RESULT=2

# Stops a process group (the back-end runs in its own session) or a single process by PID:
# TERM, up to $2 seconds, then KILL.
stop_pid() { # pid grace-seconds [group]
  local pid=$1 grace=$2 target=$1 i
  [ -n "$pid" ] || return 0
  [ "${3:-}" = group ] && target=-$pid
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM -- "$target" 2>/dev/null
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "PID $pid did not stop within ${grace}s after TERM: KILL"
    kill -KILL -- "$target" 2>/dev/null
  fi
  [ "${3:-}" = group ] && kill -KILL -- "$target" 2>/dev/null  # leftovers of the group
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local rc=$?
  stop_pid "$QEMU_PID" 5
  stop_pid "$BACKEND_PID" 10 group
  QEMU_PID=""; BACKEND_PID=""
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "$RESULT" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
      echo "$TAG: work directory kept: $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 2' INT TERM HUP

fail() { RESULT=1; echo "$TAG: FAIL: $*" >&2; exit 1; }
harness_error() { RESULT=2; echo "$TAG: ERROR: $*" >&2; exit 2; }
skip() {
  RESULT=77
  if [ "${CI:-}" = true ]; then harness_error "$* (CI=true: a missing peer is a failure)"; fi
  echo "$TAG: SKIP: $*"; RESULT=0; exit 77
}
show_logs() {
  if [ -s "$WORK/backend.log" ]; then echo "---- back-end log (last 30 lines) ----"; tail -n 30 "$WORK/backend.log"; fi
  if [ -s "$WORK/serial.log" ]; then echo "---- guest serial console (last 40 lines) ----"; tail -n 40 "$WORK/serial.log"; fi
  echo "----"
}

for cmd in qemu-system-x86_64 qemu-img cmp sha256sum; do
  command -v "$cmd" >/dev/null 2>&1 || harness_error "$cmd not found (run scripts/install-deps.sh)"
done

# ---- guest artifacts -------------------------------------------------------------------------
if [ ! -f "$CACHE/vmlinuz" ] || [ ! -f "$CACHE/initrd.gz" ]; then
  log "guest artifacts missing in $CACHE: building them"
  GUEST_CACHE_DIR=$CACHE "$HERE/build-guest.sh" || harness_error "build-guest.sh failed"
fi

# ---- back-end command ------------------------------------------------------------------------
if [ "$BACKEND" = qsd ]; then
  command -v qemu-storage-daemon >/dev/null 2>&1 || skip "qemu-storage-daemon not installed (package qemu-system-common)"
else
  read -r -a VHOST <<< "${VHOST_CMD:-$REPO/vhost}"
  # A Java back-end needs JDK 25: offer the usual one unless JAVA_HOME already names a JDK.
  if [ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ] && [ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 PATH=/usr/lib/jvm/temurin-25-jdk-amd64/bin:$PATH
  fi
  if [ ! -x "${VHOST[0]}" ] && ! command -v "${VHOST[0]}" >/dev/null 2>&1; then
    skip "back-end command ${VHOST[0]} not found or not executable (build the project first, or set VHOST_CMD)"
  fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blk-guest-test.XXXXXX") || harness_error "mktemp failed"
IMG=$WORK/disk.raw
EXPECTED=$WORK/expected.raw
SOCK=$WORK/vhost-user-blk.sock
MIB=1048576
SIZE=$((IMAGE_MIB * MIB))
[ "$IMAGE_MIB" -ge 16 ] || harness_error "IMAGE_MIB must be >= 16"

# Pre-fill the whole image with random data (every byte known to the host through $EXPECTED).
head -c "$SIZE" /dev/urandom > "$IMG" || harness_error "cannot write $IMG"
cp "$IMG" "$EXPECTED"

# Regions (bytes, multiples of 4096). Read: the first 8 MiB and the last MiB. Writes: the first
# block, a block pair at 1 MiB + 4 KiB, a 1 MiB run at 5 MiB (multi-segment requests) and the
# last block of the disk.
READS="0:$((8 * MIB)),$((SIZE - MIB)):$MIB"
WRITES="0:4096,$((MIB + 4096)):8192,$((5 * MIB)):$MIB,$((SIZE - 4096)):4096"
declare -A HOST_SHA=()
for r in ${READS//,/ }; do
  off=${r%%:*}; len=${r#*:}
  HOST_SHA[$r]=$(dd if="$IMG" bs=4096 skip=$((off / 4096)) count=$((len / 4096)) status=none | sha256sum | cut -d' ' -f1)
done
for r in ${WRITES//,/ }; do
  off=${r%%:*}; len=${r#*:}
  # Same data as the guest writes: "vtest-OFF\n" repeated, cut to LEN bytes (yes gets SIGPIPE).
  { yes "vtest-$off" | head -c "$len"; } > "$WORK/pattern" 2>/dev/null
  [ "$(stat -c %s "$WORK/pattern")" -eq "$len" ] || harness_error "cannot generate the pattern for $r"
  dd if="$WORK/pattern" of="$EXPECTED" bs=4096 seek=$((off / 4096)) conv=notrunc status=none \
    || harness_error "cannot build the expected image"
done
log "image $IMG: $IMAGE_MIB MiB of random data; reads $READS; writes $WRITES"

# ---- start the back-end ----------------------------------------------------------------------
if [ "$BACKEND" = qsd ]; then
  # shellcheck disable=SC2054  # commas are QEMU option syntax
  BACKEND_ARGV=(qemu-storage-daemon
    --blockdev "driver=file,node-name=file0,filename=$IMG"
    --blockdev driver=raw,node-name=fmt0,file=file0
    --export "type=vhost-user-blk,id=exp0,node-name=fmt0,addr.type=unix,addr.path=$SOCK,writable=on,num-queues=1")
else
  read -r -a EXTRA <<< "${VHOST_SERVE_ARGS:-}"
  BACKEND_ARGV=("${VHOST[@]}" serve blk --image "$IMG" --socket "$SOCK" "${EXTRA[@]}")
fi
log "starting back-end: ${BACKEND_ARGV[*]}"
# Own session/process group, so a launcher script and its JVM are stopped together by PGID.
setsid "${BACKEND_ARGV[@]}" </dev/null >"$WORK/backend.log" 2>&1 &
BACKEND_PID=$!
deadline=$(( $(date +%s) + BACKEND_TIMEOUT ))
while [ ! -S "$SOCK" ]; do
  if ! kill -0 "$BACKEND_PID" 2>/dev/null; then
    wait "$BACKEND_PID"; brc=$?; BACKEND_PID=""
    show_logs; harness_error "back-end exited with status $brc before creating $SOCK"
  fi
  [ "$(date +%s)" -lt "$deadline" ] || { show_logs; harness_error "back-end did not create $SOCK within ${BACKEND_TIMEOUT}s"; }
  sleep 0.1
done
log "back-end PID $BACKEND_PID listening on $SOCK"

# ---- boot the guest --------------------------------------------------------------------------
read -r -a QEMU_EXTRA <<< "${QEMU_EXTRA_ARGS:-}"
# shellcheck disable=SC2054  # commas are QEMU option syntax
QEMU_ARGV=(qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 512M
  -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem
  -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.gz"
  -append "console=ttyS0 quiet panic=-1 vtest=blk vtest_timeout=$((QEMU_TIMEOUT - 10)) vtest_read=$READS vtest_write=$WRITES${GUEST_APPEND:+ $GUEST_APPEND}"
  -chardev "socket,id=c0,path=$SOCK" -device vhost-user-blk-pci,chardev=c0,num-queues=1
  -nographic -no-reboot -nodefaults -serial stdio "${QEMU_EXTRA[@]}")
log "booting guest (timeout ${QEMU_TIMEOUT}s)"
"${QEMU_ARGV[@]}" </dev/null >"$WORK/serial.log" 2>"$WORK/qemu.err" &
QEMU_PID=$!
deadline=$(( $(date +%s) + QEMU_TIMEOUT ))
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    stop_pid "$QEMU_PID" 5; QEMU_PID=""
    show_logs; harness_error "guest did not power off within ${QEMU_TIMEOUT}s"
  fi
  sleep 0.2
done
wait "$QEMU_PID"; qrc=$?; QEMU_PID=""
tr -d '\r' < "$WORK/serial.log" > "$WORK/serial.txt"
log "guest powered off (QEMU exit status $qrc)"
if [ -s "$WORK/qemu.err" ]; then sed 's/^/qemu: /' "$WORK/qemu.err"; fi

# The back-end must have survived the guest; then stop it so the image is complete on disk.
if ! kill -0 "$BACKEND_PID" 2>/dev/null; then
  wait "$BACKEND_PID"; brc=$?; BACKEND_PID=""
  show_logs; fail "back-end died during the guest run (status $brc)"
fi
stop_pid "$BACKEND_PID" 10 group; BACKEND_PID=""

# ---- verdict ---------------------------------------------------------------------------------
marker=$(grep -a '^VTEST-RESULT: ' "$WORK/serial.txt" | tail -n1)
[ -n "$marker" ] || { show_logs; harness_error "no VTEST-RESULT line on the guest console (QEMU status $qrc)"; }
log "guest says: $marker"
case "$marker" in
  "VTEST-RESULT: PASS "*) ;;
  *) show_logs; fail "guest reported failure: ${marker#VTEST-RESULT: }" ;;
esac
[ "$qrc" -eq 0 ] || { show_logs; fail "QEMU exited with status $qrc"; }

sectors=$(sed -n 's/^VTEST-INFO: blk size_sectors=\([0-9]*\).*/\1/p' "$WORK/serial.txt" | tail -n1)
[ "$sectors" = $((SIZE / 512)) ] || fail "guest sees ${sectors:-no} sectors, image has $((SIZE / 512))"

for r in ${READS//,/ }; do
  got=$(grep -a "^VTEST-SHA256: $r " "$WORK/serial.txt" | tail -n1 | cut -d' ' -f3)
  [ -n "$got" ] || fail "guest printed no sha256 for region $r"
  [ "$got" = "${HOST_SHA[$r]}" ] || fail "region $r: guest read sha256 $got, host wrote ${HOST_SHA[$r]}"
done
log "guest read the pre-filled regions correctly (sha256 match for $READS)"
for r in ${WRITES//,/ }; do
  grep -aq "^VTEST-WROTE: $r " "$WORK/serial.txt" || fail "guest did not confirm the write of region $r"
done

if ! cmp -s "$EXPECTED" "$IMG"; then
  ndiff=$(cmp -l "$EXPECTED" "$IMG" 2>/dev/null | wc -l)
  first=$(cmp "$EXPECTED" "$IMG" 2>&1 | head -n1)
  fail "image differs from the expected image in $ndiff byte(s); first: $first"
fi
judge=$(qemu-img compare -f raw -F raw "$EXPECTED" "$IMG" 2>&1) || fail "qemu-img compare: $judge"
log "image equals the expected image (cmp; qemu-img compare: $judge)"
RESULT=0
echo "$TAG: PASS in $(elapsed) s"
exit 0
