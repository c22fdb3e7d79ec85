#!/usr/bin/env bash
# Interop test: QEMU + a Linux guest's own virtio-blk driver <-> a vhost-user-blk back-end.
#
# Usage: scripts/guest/blk-guest-test.sh [qsd|vhost]      (the argument overrides BACKEND)
# Environment:
#   BACKEND         qsd (qemu-storage-daemon, the reference peer) or vhost (this project's
#                   `vhost serve blk --image IMG --socket SOCK`); default qsd
#   VHOST_CMD       command for BACKEND=vhost (default: <repo>/vhost); extra words allowed
#   VHOST_SERVE_ARGS  extra arguments appended to `serve blk ...` (default: none)
#   EXPECT_SERVING  text the back-end's "serving ..." line must contain (e.g. "aio io_uring,
#                   O_DIRECT"), so a test of one mode cannot pass on another
#   TMPDIR          where the work directory (image, socket) goes; O_DIRECT needs a disk-backed
#                   file system, not tmpfs (default /tmp)
#   GUEST_CACHE_DIR where build-guest.sh put vmlinuz/initrd.gz (default: <repo>/.cache/guest);
#                   built on demand when missing or stale
#   IMAGE_MIB       size of the test image in MiB (default 64)
#   QEMU_TIMEOUT    seconds the guest run may take (default 120)
#   BACKEND_TIMEOUT seconds to wait for the back-end's socket (default 30)
#   PACKED=1        the guest's device uses packed virtqueues (vhost-user-blk-pci packed=on,
#                   VIRTIO 1.2 section 2.8); the guest must report VIRTIO_F_RING_PACKED (bit 34)
#                   negotiated, else the test fails (qemu-storage-daemon does not offer it)
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
PACKED=${PACKED:-0}
case "$PACKED" in 0|1) ;; *) echo "blk-guest-test: PACKED must be 0 or 1" >&2; exit 64 ;; esac
TAG="blk-guest-test[$BACKEND]"
[ "$PACKED" = 0 ] || TAG="blk-guest-test[$BACKEND,packed]"

# shellcheck source=scripts/lib/harness.sh
. "$REPO/scripts/lib/harness.sh"

WORK=""
BACKEND_PID=""
QEMU_PID=""
RESULT=2

cleanup() {
  local rc=$?
  stop_pid "$QEMU_PID" 5
  stop_pid "$BACKEND_PID" 10 group
  QEMU_PID=""; BACKEND_PID=""
  remove_work
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 2' INT TERM HUP


require_tools qemu-system-x86_64 qemu-img cmp sha256sum

# ---- guest artifacts -------------------------------------------------------------------------
# build-guest.sh reuses its kernel and rebuilds the initramfs when the guest tests changed (the
# guest's blk.sh prints what PACKED=1 checks)
GUEST_CACHE_DIR=$CACHE "$HERE/build-guest.sh" >/dev/null || harness_error "build-guest.sh failed"

# ---- back-end command ------------------------------------------------------------------------
if [ "$BACKEND" = qsd ]; then
  command -v qemu-storage-daemon >/dev/null 2>&1 || skip "qemu-storage-daemon not installed (package qemu-system-common)"
else
  read -r -a VHOST <<< "${VHOST_CMD:-$REPO/vhost}"
  use_jdk25
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
start_backend "$SOCK" "${BACKEND_ARGV[@]}"
log "back-end PID $BACKEND_PID listening on $SOCK"
if [ -n "${EXPECT_SERVING:-}" ]; then
  grep -aqF -- "$EXPECT_SERVING" "$WORK/${BACKEND_LOG:-backend.log}" \
    || { show_logs; fail "the back-end does not say it serves with '$EXPECT_SERVING'"; }
  log "back-end serves with: $EXPECT_SERVING"
fi

# ---- boot the guest --------------------------------------------------------------------------
read -r -a QEMU_EXTRA <<< "${QEMU_EXTRA_ARGS:-}"
# shellcheck disable=SC2054  # commas are QEMU option syntax
QEMU_ARGV=(qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 512M
  -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem
  -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.gz"
  -append "console=ttyS0 quiet panic=-1 vtest=blk vtest_timeout=$((QEMU_TIMEOUT - 10)) vtest_read=$READS vtest_write=$WRITES${GUEST_APPEND:+ $GUEST_APPEND}"
  -chardev "socket,id=c0,path=$SOCK" -device "vhost-user-blk-pci,chardev=c0,num-queues=1$([ "$PACKED" = 1 ] && echo ,packed=on)"
  -nographic -no-reboot -nodefaults -serial stdio "${QEMU_EXTRA[@]}")
run_guest "${QEMU_ARGV[@]}"

# The back-end must have survived the guest; then stop it so the image is complete on disk.
if ! kill -0 "$BACKEND_PID" 2>/dev/null; then
  wait "$BACKEND_PID"; brc=$?; BACKEND_PID=""
  show_logs; fail "back-end died during the guest run (status $brc)"
fi
stop_pid "$BACKEND_PID" 10 group; BACKEND_PID=""

# ---- verdict ---------------------------------------------------------------------------------
check_guest_result
[ "$QRC" -eq 0 ] || { show_logs; fail "QEMU exited with status $QRC"; }

sectors=$(sed -n 's/^VTEST-INFO: blk size_sectors=\([0-9]*\).*/\1/p' "$WORK/serial.txt" | tail -n1)
[ "$sectors" = $((SIZE / 512)) ] || fail "guest sees ${sectors:-no} sectors, image has $((SIZE / 512))"
features=$(sed -n 's/^VTEST-INFO: blk features=\([01]*\).*/\1/p' "$WORK/serial.txt" | tail -n1)
if [ "$PACKED" = 1 ]; then
  [ "${features:34:1}" = 1 ] || fail "PACKED=1 but the guest driver did not negotiate VIRTIO_F_RING_PACKED (features ${features:-unknown})"
  log "guest negotiated VIRTIO_F_RING_PACKED (features $features)"
fi

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
