#!/usr/bin/env bash
# Interop test: QEMU + a Linux guest's own virtio-net driver <-> this project's vhost-user-net
# TAP back-end (`vhost serve net --tap NAME`) <-> a TAP interface in a network namespace the test
# creates. The guest pings an address inside that namespace and must get every reply.
#
# Usage: scripts/guest/net-guest-test.sh
# Environment:
#   VHOST_CMD       the back-end command (default: <repo>/vhost)
#   GUEST_CACHE_DIR where build-guest.sh put vmlinuz/initrd.gz (default: <repo>/.cache/guest);
#                   built on demand when missing or stale
#   QEMU_TIMEOUT    seconds the guest run may take (default 120)
#   BACKEND_TIMEOUT seconds to wait for the back-end's socket (default 30)
#   PACKED=1        the guest's device uses packed virtqueues (virtio-net-pci packed=on, VIRTIO 1.2
#                   section 2.8); the guest must report VIRTIO_F_RING_PACKED (bit 34) negotiated
#   KEEP_TMP=1      keep the work directory (logs) even on success
#   CI=true         missing root/ip/back-end is a failure (exit 2), never a skip
# Only addresses inside the namespace this script creates are used (10.213.9.1 there,
# 10.213.9.2 in the guest). Namespace, TAP, back-end and QEMU are removed/stopped by PID on exit.
# Exit codes: 0 pass; 1 test failed; 2 harness error; 77 skipped; 64 bad usage.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; "") ;; *) echo "net-guest-test: no arguments" >&2; exit 64 ;; esac
CACHE=${GUEST_CACHE_DIR:-$REPO/.cache/guest}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}
BACKEND_TIMEOUT=${BACKEND_TIMEOUT:-30}
PACKED=${PACKED:-0}
case "$PACKED" in 0|1) ;; *) echo "net-guest-test: PACKED must be 0 or 1" >&2; exit 64 ;; esac
TAG="net-guest-test"
[ "$PACKED" = 0 ] || TAG="net-guest-test[packed]"
HOST_IP=10.213.9.1
GUEST_IP=10.213.9.2
NS="vhnetg$$"
TAP="vhtg$$"
TAP=${TAP:0:15}

# shellcheck source=scripts/lib/harness.sh
. "$REPO/scripts/lib/harness.sh"

WORK=""
BACKEND_PID=""
QEMU_PID=""
NS_MADE=0
RESULT=2

cleanup() {
  local rc=$?
  stop_pid "$QEMU_PID" 5
  stop_pid "$BACKEND_PID" 10 group
  QEMU_PID=""; BACKEND_PID=""
  [ "$NS_MADE" = 1 ] && ip netns del "$NS" 2>/dev/null
  remove_work
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 2' INT TERM HUP


command -v qemu-system-x86_64 >/dev/null 2>&1 || harness_error "qemu-system-x86_64 not found (run scripts/install-deps.sh)"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) not installed"
[ "$(id -u)" -eq 0 ] || skip "needs root to create a network namespace and a TAP interface"
[ -w /dev/net/tun ] || skip "/dev/net/tun not available"
read -r -a VHOST <<< "${VHOST_CMD:-$REPO/vhost}"
use_jdk25
[ -x "${VHOST[0]}" ] || command -v "${VHOST[0]}" >/dev/null 2>&1 || skip "back-end command ${VHOST[0]} not found (build the project first)"

# build-guest.sh reuses its kernel and rebuilds the initramfs when the guest tests changed
GUEST_CACHE_DIR=$CACHE "$HERE/build-guest.sh" >/dev/null || harness_error "build-guest.sh failed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/net-guest-test.XXXXXX") || harness_error "mktemp failed"
SOCK=$WORK/vhost-user-net.sock

ip netns add "$NS" || harness_error "ip netns add $NS failed"
NS_MADE=1
log "namespace $NS created"

BACKEND_ARGV=("${VHOST[@]}" serve net --socket "$SOCK" --tap "$TAP")
start_backend "$SOCK" "${BACKEND_ARGV[@]}"
ip link set "$TAP" netns "$NS" || { show_logs; harness_error "cannot move $TAP into $NS"; }
ip -n "$NS" addr add "$HOST_IP/24" dev "$TAP" || harness_error "ip addr add in $NS failed"
ip -n "$NS" link set "$TAP" up || harness_error "ip link set $TAP up in $NS failed"
log "back-end PID $BACKEND_PID on $SOCK; TAP $TAP in $NS with $HOST_IP/24"

# shellcheck disable=SC2054  # commas are QEMU option syntax
QEMU_ARGV=(qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 512M
  -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem
  -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.gz"
  -append "console=ttyS0 quiet panic=-1 vtest=net vtest_timeout=$((QEMU_TIMEOUT - 10)) vtest_ip=$GUEST_IP/24 vtest_peer=$HOST_IP"
  -chardev "socket,id=c0,path=$SOCK" -netdev vhost-user,id=n0,chardev=c0
  -device "virtio-net-pci,netdev=n0,vectors=0,mac=52:54:00:12:34:57$([ "$PACKED" = 1 ] && echo ,packed=on)"
  -nographic -no-reboot -nodefaults -serial stdio)
run_guest "${QEMU_ARGV[@]}"
grep -a '^VTEST-INFO: ' "$WORK/serial.txt" | sed 's/^/guest: /'

kill -0 "$BACKEND_PID" 2>/dev/null || { show_logs; fail "back-end died during the guest run"; }
stop_pid "$BACKEND_PID" 10 group; BACKEND_PID=""
grep -a "^pair 0:" "$WORK/backend.log" | sed 's/^/back-end counters: /'

check_guest_result
[ "$QRC" -eq 0 ] || { show_logs; fail "QEMU exited with status $QRC"; }
if [ "$PACKED" = 1 ]; then
  features=$(sed -n 's/^VTEST-INFO: net features=\([01]*\).*/\1/p' "$WORK/serial.txt" | tail -n1)
  [ "${features:34:1}" = 1 ] || fail "PACKED=1 but the guest driver did not negotiate VIRTIO_F_RING_PACKED (features ${features:-unknown})"
  log "guest negotiated VIRTIO_F_RING_PACKED"
fi
RESULT=0
echo "$TAG: PASS in $(elapsed) s"
exit 0
