#!/usr/bin/env bash
# Live migration of a QEMU TCG guest whose device runs in this project's vhost-user back-end
# (issue #11 item 3): a source and a destination QEMU on this host, each with its own
# `vhost serve` process, the guest migrated from one to the other over TCP on 127.0.0.1 (QMP
# `migrate`) while it does I/O.
#
#   blk  both back-ends serve the same image (shared storage). The guest writes sequence-numbered,
#        checksummed 4 KiB blocks in a loop and reads each back directly and through its page
#        cache (and an older one), and reads a region through its page cache, before, during and
#        after the switch-over (guest side: scripts/guest/initramfs/tests/migrate.sh). Passes
#        when the migration completes, the guest reports no I/O error, oops or wrong block, its
#        final check of every block and chunk passes, and the image on the host holds exactly
#        the last write of every block and nothing else changed (cmp and qemu-img compare).
#   net  each back-end runs `vhost serve net --tap` with its TAP in a bridge inside a network
#        namespace the test makes (10.213.10.1 there, 10.213.10.2 in the guest); the guest pings
#        the bridge's address every 0.2 s across the migration. Passes when the migration
#        completes and replies come back after it; prints the loss (at most MAX_LOST lost).
#
# Steps: two back-ends (source on socket A, destination on B), QEMU-src (memory-backend-memfd
# share=on, vhost-user device on A, QMP on a unix socket, console to serial-src.log), QEMU-dst
# the same on B with `-incoming defer` and QMP `migrate-incoming tcp:127.0.0.1:0` (QEMU picks
# the port; no clash with other runs), console to serial-dst.log, its ttyS1 a FIFO. Once the
# guest is busy: `migrate-set-parameters` (max-bandwidth, downtime limit; with HOLD=1 first a
# 1 ms limit, see below), `migrate`, `query-migrate` polled until completed; prints total time,
# downtime, RAM transferred and the dirty-log syncs. QEMU refuses `migrate` when a vhost-user
# back-end lacks VHOST_F_LOG_ALL or LOG_SHMFD, so an accepted migration shows the back-end offered
# dirty logging; the source back-end's log must also show the dirty log it mapped (SET_LOG_BASE). The guest runs on at the destination, then the script sends "stop" to
# its second serial port: the guest checks everything, prints its verdict and powers off.
#
# Usage: scripts/guest/migrate-guest-test.sh [blk|net]     (default blk)
# Environment:
#   VHOST_CMD        the back-end command (default: <repo>/vhost); extra words allowed
#   BACKEND          vhost (default); controls for this harness (blk only): qsd, the disk
#                    served by qemu-storage-daemon (libvhost-user's dirty logging), or qemu,
#                    QEMU's own virtio-blk-pci (no vhost at all)
#   GUEST_CACHE_DIR  where build-guest.sh put vmlinuz/initrd.gz (default: <repo>/.cache/guest);
#                    rebuilt when missing or stale
#   QEMU_TIMEOUT     seconds the whole guest run may take, boot to power-off (default 150)
#   MIGRATE_TIMEOUT  seconds the migration may take (default 60)
#   MIGRATE_MIBPS    migration bandwidth limit in MiB/s (default 64)
#   DOWNTIME_MS      downtime limit once the migration may converge (default 300, QEMU's own)
#   HOLD=1           keep the migration iterating first (1 ms downtime limit) until dirty-log sync
#                    3 and DURING more guest writes, then DOWNTIME_MS: device writes after the
#                    first pass over RAM then reach the destination only through the dirty log.
#                    Off by default: with it the destination guest oopsed in about half the runs
#                    here, with this back-end, with qemu-storage-daemon and with QEMU's own
#                    virtio-blk alike (QEMU 7.2 under TCG), so the cause is not the back-end
#   BEFORE, DURING, AFTER  blk: guest writes before the migration starts (10), while it
#                    iterates after its first full pass over RAM (15), after it completes (10);
#                    net: seconds (3 each)
#   AFTER_SECONDS    the guest runs at least this long on the destination (default 3)
#   BLOCKS           blk: blocks of 4 KiB the guest cycles through (default 64)
#   CHUNKS           blk: chunks of 256 KiB after the blocks the guest reads through its page
#                    cache, one per write (default 64: the first round spans the migration)
#   IMAGE_MIB        blk: image size in MiB (default 32)
#   MAX_LOST         net: most ping replies that may be lost (default 25, i.e. 5 s of pings)
#   BACKEND_TIMEOUT  seconds to wait for a back-end's socket (default 30)
#   STALL_SECONDS    a guest whose progress count stands still this long fails (default 40),
#                    once it printed one (a boot is bounded by QEMU_TIMEOUT alone)
#   PACKED=1         the device uses packed virtqueues (packed=on, VIRTIO 1.2 section 2.8): the
#                    ring positions with their wrap counters travel through GET/SET_VRING_BASE
#   KEEP_TMP=1       keep the work directory (image, logs) even on success
#   QEMU_CPU         the guest's -cpu model on both sides (default max)
#   CI=true          a missing prerequisite is a failure (exit 2), never a skip
# Outputs: progress and figures on stdout; the work directory (disk.raw, expected.raw,
#   serial-src.log, serial-dst.log, backend-src.log, backend-dst.log, qemu-*.err,
#   qmp-*.events) under ${TMPDIR:-/tmp}/migrate-guest-test.XXXXXX, removed on success unless
#   KEEP_TMP=1, kept (path printed, logs tailed) on failure.
# Exit codes: 0 pass; 1 test failed (migration failed, guest error, data mismatch, no dirty
#   log); 2 harness error (a process did not start, a timeout, a tool missing); 77 skipped
#   (back-end command absent, or for net no root/ip/bridge; not CI); 64 bad usage.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -le 1 ] || { echo "migrate-guest-test: at most one argument (blk|net)" >&2; exit 64; }
MODE=${1:-blk}
case "$MODE" in blk|net) ;; *) echo "migrate-guest-test: unknown device '$MODE' (blk|net)" >&2; exit 64 ;; esac
CACHE=${GUEST_CACHE_DIR:-$REPO/.cache/guest}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-150}
MIGRATE_TIMEOUT=${MIGRATE_TIMEOUT:-60}
MIGRATE_MIBPS=${MIGRATE_MIBPS:-64}
DOWNTIME_MS=${DOWNTIME_MS:-300}
BACKEND_TIMEOUT=${BACKEND_TIMEOUT:-30}
STALL_SECONDS=${STALL_SECONDS:-40}
QEMU_CPU=${QEMU_CPU:-max}
HOLD=${HOLD:-0}
BLOCKS=${BLOCKS:-64}
IMAGE_MIB=${IMAGE_MIB:-32}
CHUNKS=${CHUNKS:-64}
MAX_LOST=${MAX_LOST:-25}
if [ "$MODE" = blk ]; then BEFORE=${BEFORE:-10}; DURING=${DURING:-15}; AFTER=${AFTER:-10}
else BEFORE=${BEFORE:-3}; DURING=${DURING:-3}; AFTER=${AFTER:-3}; fi
AFTER_SECONDS=${AFTER_SECONDS:-3}
BACKEND=${BACKEND:-vhost}
case "$BACKEND" in vhost|qsd|qemu) ;; *) echo "migrate-guest-test: BACKEND must be vhost, qsd or qemu" >&2; exit 64 ;; esac
TAG="migrate-guest-test[$MODE]"
PACKED=${PACKED:-0}
case "$PACKED" in 0) PACKED_OPT="" ;; 1) PACKED_OPT=",packed=on"; TAG="migrate-guest-test[$MODE,packed]" ;;
  *) echo "migrate-guest-test: PACKED must be 0 or 1" >&2; exit 64 ;; esac
[ "$BACKEND" = vhost ] || TAG="migrate-guest-test[$MODE,$BACKEND]"
HOST_IP=10.213.10.1
GUEST_IP=10.213.10.2
NS="vhmig$$"

# shellcheck source=scripts/lib/harness.sh
. "$REPO/scripts/lib/harness.sh"
# shellcheck source=scripts/lib/qmp.sh
. "$REPO/scripts/lib/qmp.sh"
# shellcheck source=scripts/lib/vmig.sh
. "$REPO/scripts/lib/vmig.sh"

WORK=""
RESULT=2
SRC_BACKEND=""; DST_BACKEND=""; SRC_QEMU=""; DST_QEMU=""
NS_MADE=0

cleanup() {
  local rc=$?
  qmp_close src; qmp_close dst
  stop_pid "$DST_QEMU" 5; stop_pid "$SRC_QEMU" 5
  stop_pid "$SRC_BACKEND" 10 group; stop_pid "$DST_BACKEND" 10 group
  SRC_QEMU=""; DST_QEMU=""; SRC_BACKEND=""; DST_BACKEND=""
  [ "$NS_MADE" = 1 ] && ip netns del "$NS" 2>/dev/null
  remove_work
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 2' INT TERM HUP

require_tools qemu-system-x86_64 qemu-img socat cmp sha256sum
read -r -a VHOST <<< "${VHOST_CMD:-$REPO/vhost}"
use_jdk25
if [ "$BACKEND" != vhost ]; then
  [ "$MODE" = blk ] || { echo "migrate-guest-test: BACKEND=$BACKEND serves blk only" >&2; exit 64; }
fi
if [ "$BACKEND" = qsd ]; then
  command -v qemu-storage-daemon >/dev/null 2>&1 || skip "qemu-storage-daemon not installed (package qemu-system-common)"
else
  [ -x "${VHOST[0]}" ] || command -v "${VHOST[0]}" >/dev/null 2>&1 \
    || skip "back-end command ${VHOST[0]} not found or not executable (build the project first, or set VHOST_CMD)"
fi
if [ "$MODE" = net ]; then
  command -v ip >/dev/null 2>&1 || skip "ip (iproute2) not installed"
  [ "$(id -u)" -eq 0 ] || skip "needs root to create a network namespace, a bridge and TAP interfaces"
  [ -w /dev/net/tun ] || skip "/dev/net/tun not available"
fi

# build-guest.sh reuses its kernel and rebuilds the initramfs when the guest tests changed
GUEST_CACHE_DIR=$CACHE "$HERE/build-guest.sh" >/dev/null || harness_error "build-guest.sh failed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/migrate-guest-test.XXXXXX") || harness_error "mktemp failed"
DEADLINE=$(( $(date +%s) + QEMU_TIMEOUT ))

# ---- back-ends and devices -------------------------------------------------------------------
IMG=$WORK/disk.raw
ORIG=$WORK/orig.raw
# The back-ends log every front-end message at debug level: SET_LOG_BASE shows up as
# "dirty log of N bytes mapped".
export VHOST_LOG_LEVEL=debug
if [ "$MODE" = blk ]; then
  # the blocks the guest writes, then from CACHE_MIB MiB on CHUNKS chunks of 256 KiB it only reads
  CACHE_MIB=$(( (BLOCKS * 4096 + 1048575) / 1048576 ))
  [ $((CACHE_MIB * 4 + CHUNKS)) -le $((IMAGE_MIB * 4)) ] \
    || harness_error "IMAGE_MIB=$IMAGE_MIB is too small for BLOCKS=$BLOCKS and CHUNKS=$CHUNKS"
  head -c $((IMAGE_MIB * 1048576)) /dev/urandom > "$IMG" || harness_error "cannot write $IMG"
  cp "$IMG" "$ORIG"
  log "image $IMG: $IMAGE_MIB MiB of random data, the guest cycles through its first $BLOCKS blocks"
  for side in src dst; do
    [ "$BACKEND" = qemu ] && break
    if [ "$BACKEND" = qsd ]; then
      # shellcheck disable=SC2054  # commas are QEMU option syntax; locking=off: two daemons, one image
      BACKEND_ARGV=(qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$IMG,locking=off"
        --blockdev driver=raw,node-name=fmt0,file=file0
        --export "type=vhost-user-blk,id=exp0,node-name=fmt0,addr.type=unix,addr.path=$WORK/$side.sock,writable=on,num-queues=1")
    else
      BACKEND_ARGV=("${VHOST[@]}" serve blk --image "$IMG" --socket "$WORK/$side.sock")
    fi
    BACKEND_LOG=backend-$side.log start_backend "$WORK/$side.sock" "${BACKEND_ARGV[@]}"
    [ $side = src ] && SRC_BACKEND=$BACKEND_PID || DST_BACKEND=$BACKEND_PID
  done
  DEVICE=(-chardev "socket,id=c0,path=$WORK/SIDE.sock" -device "vhost-user-blk-pci,chardev=c0,num-queues=1$PACKED_OPT")
  # shellcheck disable=SC2054  # commas are QEMU option syntax
  [ "$BACKEND" = qemu ] && DEVICE=(-drive "file=$IMG,format=raw,if=none,id=d0,file.locking=off"
    -device "virtio-blk-pci,drive=d0,num-queues=1$PACKED_OPT")
  GUEST_ARGS="vtest_mode=blk vtest_blocks=$BLOCKS vtest_cache=$CACHE_MIB:$CHUNKS"
else
  ip netns add "$NS" || harness_error "ip netns add $NS failed"
  NS_MADE=1
  ip -n "$NS" link add br0 type bridge 2>"$WORK/bridge.err" \
    || skip "cannot create a bridge in a network namespace: $(cat "$WORK/bridge.err")"
  ip -n "$NS" addr add "$HOST_IP/24" dev br0 && ip -n "$NS" link set br0 up \
    || harness_error "cannot set up br0 in $NS"
  for side in src dst; do
    tap="vhm${side}$$"; tap=${tap:0:15}
    BACKEND_LOG=backend-$side.log start_backend "$WORK/$side.sock" \
      "${VHOST[@]}" serve net --socket "$WORK/$side.sock" --tap "$tap"
    [ $side = src ] && SRC_BACKEND=$BACKEND_PID || DST_BACKEND=$BACKEND_PID
    ip link set "$tap" netns "$NS" && ip -n "$NS" link set "$tap" master br0 && ip -n "$NS" link set "$tap" up \
      || { show_logs; harness_error "cannot put $tap into br0 in $NS"; }
  done
  log "namespace $NS: br0 $HOST_IP/24 with the TAPs of both back-ends"
  # shellcheck disable=SC2054  # commas are QEMU option syntax
  DEVICE=(-chardev "socket,id=c0,path=$WORK/SIDE.sock" -netdev vhost-user,id=n0,chardev=c0
    -device "virtio-net-pci,netdev=n0,vectors=0,mac=52:54:00:12:34:58$PACKED_OPT")
  GUEST_ARGS="vtest_mode=net vtest_ip=$GUEST_IP/24 vtest_peer=$HOST_IP"
fi
[ "$BACKEND" = qemu ] || log "back-ends: source PID $SRC_BACKEND on src.sock, destination PID $DST_BACKEND on dst.sock"

# ---- the two QEMUs ---------------------------------------------------------------------------
# The guest reads the "stop" line from its second serial port (ttyS1): on the destination a
# pipe chardev (QEMU opens ctl-dst.in and ctl-dst.out read-write, so no open blocks), on the
# source a null one (the same hardware on both sides, as migration needs).
mkfifo "$WORK/ctl-dst.in" "$WORK/ctl-dst.out" || harness_error "mkfifo failed"
start_qemu() { # side extra-args...
  local side=$1 ctl=null,id=ctl0
  shift
  [ "$side" = dst ] && ctl=pipe,id=ctl0,path=$WORK/ctl-dst
  # shellcheck disable=SC2054  # commas are QEMU option syntax
  local argv=(qemu-system-x86_64 -name "$side" -accel tcg -cpu "$QEMU_CPU" -smp 1 -m 512M
    -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem
    -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.gz"
    -append "console=ttyS0 quiet panic=-1 vtest=migrate vtest_timeout=$((QEMU_TIMEOUT - 10)) $GUEST_ARGS"
    "${DEVICE[@]//SIDE/$side}"
    -chardev "file,id=con0,path=$WORK/serial-$side.log" -serial chardev:con0
    -chardev "$ctl" -serial chardev:ctl0
    -qmp "unix:$WORK/qmp-$side.sock,server=on,wait=off"
    -display none -no-reboot -nodefaults "$@")
  "${argv[@]}" </dev/null >"$WORK/qemu-$side.out" 2>"$WORK/qemu-$side.err" &
}
start_qemu src
SRC_QEMU=$!
start_qemu dst -incoming defer
DST_QEMU=$!
log "QEMU source PID $SRC_QEMU, destination PID $DST_QEMU (-incoming defer)"
qmp_open src "$WORK/qmp-src.sock"
qmp_open dst "$WORK/qmp-dst.sock"
qmp dst '{"execute": "migrate-incoming", "arguments": {"uri": "tcp:127.0.0.1:0"}}' >/dev/null \
  || harness_error "migrate-incoming refused by the destination"
PORT=$(qmp dst '{"execute": "query-migrate"}' | json_str port)
[ -n "$PORT" ] || harness_error "the destination reports no listening port"
log "destination listens on 127.0.0.1:$PORT"

# ---- helpers on the guest's consoles ---------------------------------------------------------
replies() { # side: net, the ping replies the guest counted by its last progress line
  console "$1" | sed -n 's/^VTEST-PROGRESS: .* replies=\([0-9]*\).*/\1/p' | tail -n1
}
guest_trouble() { # fails on a guest error line or an early verdict on either console
  local line
  line=$(cat <(console src) <(console dst) | grep -a -m1 -E "$GUEST_TROUBLE|^VTEST-RESULT: ")
  [ -z "$line" ] || { show_logs; fail "guest: $line"; }
}
alive() { # checks that the four processes still run
  local p
  for p in "$SRC_BACKEND" "$DST_BACKEND" "$SRC_QEMU" "$DST_QEMU"; do
    [ -z "$p" ] || kill -0 "$p" 2>/dev/null && continue
    show_logs; sed 's/^/qemu: /' "$WORK"/qemu-*.err; fail "process $p exited early"
  done
}
remaining() { echo $(( DEADLINE - $(date +%s) )); }
queue_status() { # side: QEMU's view of the device's first virtqueue (indices, requests in use)
  local path
  path=$(qmp "$1" '{"execute": "x-query-virtio"}' | json_str path)
  [ -n "$path" ] || return 0
  log "$1 QEMU, $path queue 0: $(qmp "$1" "{\"execute\": \"x-query-virtio-queue-status\", \"arguments\": {\"path\": \"$path\", \"queue\": 0}}")"
}
wait_progress() { # side count what: fails when the guest's count stands still for STALL_SECONDS
  local n last=-1 since
  while :; do
    n=$(progress "$1")
    [ -n "$n" ] || [ "$1" = src ] || n=$N1  # the destination goes on from the switch-over
    [ "${n:-0}" -ge "$2" ] && return 0
    guest_trouble; alive
    # a boot (no count yet) is bounded by QEMU_TIMEOUT alone: under load it can take a minute
    if [ "${n:-0}" != "$last" ]; then last=${n:-0}; since=$(date +%s)
    elif [ -n "$n" ] && [ $(( $(date +%s) - since )) -ge "$STALL_SECONDS" ]; then
      show_logs; queue_status "$1"; fail "guest on $1 made no progress for ${STALL_SECONDS}s (stuck at $last $UNIT) waiting for $3"
    fi
    [ "$(remaining)" -gt 0 ] || { show_logs; harness_error "guest on $1 did not reach $3 within ${QEMU_TIMEOUT}s"; }
    sleep 0.5
  done
}

# ---- before -----------------------------------------------------------------------------------
UNIT=writes; [ "$MODE" = net ] && UNIT=seconds
wait_progress src "$BEFORE" "$BEFORE $UNIT"
log "guest busy on the source: $(progress src) $UNIT"
# HOLD=1: held in the iterative phase first, with a 1 ms downtime limit the busy guest cannot meet.
set_params() { # json-object
  qmp src "{\"execute\": \"migrate-set-parameters\", \"arguments\": $1}" >/dev/null \
    || harness_error "migrate-set-parameters $1 refused"
}
if [ "$HOLD" = 1 ]; then
  set_params "{\"max-bandwidth\": $((MIGRATE_MIBPS * 1048576)), \"downtime-limit\": 1}"
else
  set_params "{\"max-bandwidth\": $((MIGRATE_MIBPS * 1048576)), \"downtime-limit\": $DOWNTIME_MS}"
fi

# ---- migration --------------------------------------------------------------------------------
N0=$(progress src)
R0=$(replies src)
T_MIG=$(date +%s.%N)
if ! REPLY=$(qmp src "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:127.0.0.1:$PORT\"}}"); then
  show_logs
  fail "QEMU refused to migrate: $REPLY"
fi
log "migrate to tcp:127.0.0.1:$PORT accepted by the source (no migration blocker: the back-end offers LOG_ALL and LOG_SHMFD)"
STATUS=""
HELD=$HOLD
mig_deadline=$(( $(date +%s) + MIGRATE_TIMEOUT ))
while :; do
  INFO=$(qmp src '{"execute": "query-migrate"}') || harness_error "query-migrate failed: $INFO"
  STATUS=$(json_str status <<< "$INFO")
  # Let it converge once the first full pass over RAM is done, a dirty-log sync or more came
  # after it and the guest did DURING more units of work since then: the pages the back-end
  # writes in that time reach the destination only through the dirty log.
  if [ $HELD = 1 ] && [ "$STATUS" = active ]; then
    syncs=$(json_num dirty-sync-count <<< "$INFO")
    if [ "${syncs:-0}" -ge 3 ]; then
      [ -n "${N_ITER:-}" ] || { N_ITER=$(progress src); log "migration iterating (dirty-log sync $syncs) at guest $UNIT $N_ITER"; }
      if [ "$(progress src)" -ge $(( N_ITER + DURING )) ]; then
        set_params "{\"downtime-limit\": $DOWNTIME_MS}"
        HELD=0
        log "downtime limit raised to $DOWNTIME_MS ms at guest $UNIT $(progress src), dirty-log sync $syncs"
      fi
    fi
  fi
  case "$STATUS" in
    completed) break ;;
    failed|cancelled) show_logs; sed 's/^/qemu: /' "$WORK"/qemu-*.err; fail "migration $STATUS: $INFO" ;;
  esac
  guest_trouble
  if [ "$(date +%s)" -ge "$mig_deadline" ]; then
    show_logs; fail "migration not completed within ${MIGRATE_TIMEOUT}s (status $STATUS): $INFO"
  fi
  sleep 0.25
done
N1=$(progress src)
R1=$(replies src)
WALL=$(awk -v a="$T_MIG" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
TOTAL_MS=$(json_num total-time <<< "$INFO")
DOWN_MS=$(json_num downtime <<< "$INFO")
SETUP_MS=$(json_num setup-time <<< "$INFO")
RAM_B=$(json_num transferred <<< "$INFO")
SYNCS=$(json_num dirty-sync-count <<< "$INFO")
log "migration completed: total ${TOTAL_MS} ms, downtime ${DOWN_MS} ms, setup ${SETUP_MS} ms, $((RAM_B / 1048576)) MiB RAM sent, $SYNCS dirty-log syncs (${WALL} s as seen here)"
log "guest $UNIT on the source: $N0 when migrate was issued, $N1 at the switch-over"
DST_STATUS=$(qmp dst '{"execute": "query-status"}' | json_str status)
SRC_STATUS=$(qmp src '{"execute": "query-status"}' | json_str status)
log "destination is '$DST_STATUS', source is '$SRC_STATUS'"
if [ "$DST_STATUS" != running ]; then
  guest_trouble
  show_logs; fail "destination not running after the migration (status ${DST_STATUS:-none: QEMU gone})"
fi

# The source back-end must have received a dirty log from QEMU (SET_LOG_BASE) and mapped it.
if [ "$BACKEND" = vhost ]; then
  LOGMAP=$(grep -a -m1 'dirty log of [0-9]* bytes mapped' "$WORK/backend-src.log")
  [ -n "$LOGMAP" ] || { show_logs; fail "the source back-end never mapped a dirty log (no SET_LOG_BASE)"; }
  log "source back-end: ${LOGMAP##*: }"
fi
# PACKED=1 (blk): both back-ends ran packed rings; QEMU asks GET_INFLIGHT_FD after SET_FEATURES
# and the back-end logs its answer for packed rings (no region)
if [ "$BACKEND" = vhost ] && [ "$MODE" = blk ] && [ "$PACKED" = 1 ]; then
  for side in src dst; do
    grep -aq 'GET_INFLIGHT_FD with packed rings' "$WORK/backend-$side.log" \
      || { show_logs; fail "PACKED=1 but the $side back-end never ran packed rings (VIRTIO_F_RING_PACKED not acked)"; }
  done
  log "both back-ends ran packed rings (VIRTIO_F_RING_PACKED acked)"
fi

# ---- after: the guest goes on at the destination, then checks everything -----------------------
T_SWITCH=$(date +%s)
wait_progress dst $(( N1 + AFTER )) "$AFTER more $UNIT after the switch-over"
while [ $(( $(date +%s) - T_SWITCH )) -lt "$AFTER_SECONDS" ]; do guest_trouble; alive; sleep 0.5; done
log "guest busy on the destination: $(progress dst) $UNIT; sending 'stop' to its ttyS1"
exec {CTL}<>"$WORK/ctl-dst.in"
echo stop >&"$CTL"
wait_exit "$DST_QEMU" "$(remaining)" || { show_logs; harness_error "the guest did not power off within ${QEMU_TIMEOUT}s"; }
wait "$DST_QEMU"; QRC=$?; DST_QEMU=""
qmp_close dst
qmp src '{"execute": "quit"}' >/dev/null
qmp_close src
wait_exit "$SRC_QEMU" 10 || log "source QEMU did not quit: stopping it"
stop_pid "$SRC_QEMU" 5; SRC_QEMU=""
for p in "$SRC_BACKEND" "$DST_BACKEND"; do
  [ -z "$p" ] || kill -0 "$p" 2>/dev/null || { show_logs; fail "back-end PID $p died during the run"; }
done
# stopped now, so every write is in the image
stop_pid "$SRC_BACKEND" 10 group; stop_pid "$DST_BACKEND" 10 group; SRC_BACKEND=""; DST_BACKEND=""

cat <(console src) <(console dst) > "$WORK/serial.txt"
if [ -s "$WORK/qemu-src.err" ] || [ -s "$WORK/qemu-dst.err" ]; then sed 's/^/qemu: /' "$WORK"/qemu-*.err; fi
grep -a '^VTEST-INFO: ' "$WORK/serial.txt" | grep -v 'guest up' | sed 's/^/guest: /'
BAD=$(grep -a -m1 -E "$GUEST_TROUBLE" "$WORK/serial.txt")
[ -z "$BAD" ] || { show_logs; fail "guest: $BAD"; }
check_guest_result
[ "$QRC" -eq 0 ] || { show_logs; fail "destination QEMU exited with status $QRC"; }

# ---- host side --------------------------------------------------------------------------------
if [ "$MODE" = blk ]; then
  FINAL=$(grep -a '^VTEST-INFO: migrate blk final ' "$WORK/serial.txt" | tail -n1)
  K=$(sed -n 's/.* writes=\([0-9]*\).*/\1/p' <<< "$FINAL")
  [ -n "$K" ] || fail "the guest printed no final write count"
  vmig_verify_image "$IMG" "$ORIG" "$BLOCKS" "$K" "$IMAGE_MIB"
  host_ok=$VMIG_HOST_OK
  SUMMARY="migration total ${TOTAL_MS} ms, downtime ${DOWN_MS} ms; guest writes: $N0 before, $((N1 - N0)) during, $((K - N1)) after; ${FINAL#*final }; host verified $host_ok blocks"
else
  NETLINE=$(grep -a '^VTEST-INFO: migrate net ' "$WORK/serial.txt" | tail -n1)
  SENT=$(sed -n 's/.* sent=\([0-9]*\).*/\1/p' <<< "$NETLINE")
  RECV=$(sed -n 's/.* received=\([0-9]*\).*/\1/p' <<< "$NETLINE")
  LOST=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<< "$NETLINE")
  [ -n "$SENT" ] && [ -n "$RECV" ] && [ -n "$LOST" ] || fail "the guest printed no ping counts"
  SUMMARY="migration total ${TOTAL_MS} ms, downtime ${DOWN_MS} ms; pings every 0.2 s: sent $SENT, received $RECV, lost $LOST ($R0 replies before migrate, $((R1 - R0)) during, $((RECV - R1)) after the switch-over)"
  [ "$RECV" -gt "$R1" ] || fail "no ping reply after the switch-over: $SUMMARY"
  # "tx": frames the guest sent through that back-end, "rx": frames it delivered to the guest
  for side in src dst; do
    COUNTERS=$(grep -a -m1 '^pair 0:' "$WORK/backend-$side.log")
    log "$side back-end counters: ${COUNTERS:-none printed}"
  done
  DST_TX=$(sed -n 's/^pair 0: tx \([0-9]*\) pkts.*/\1/p' <<< "$COUNTERS")
  DST_RX=$(sed -n 's/.*, rx \([0-9]*\) pkts.*/\1/p' <<< "$COUNTERS")
  [ "${DST_TX:-0}" -gt 0 ] && [ "${DST_RX:-0}" -gt 0 ] \
    || fail "the destination back-end carried no traffic both ways (${COUNTERS:-no counters})"
  [ "$LOST" -le "$MAX_LOST" ] || fail "$LOST ping replies lost (at most $MAX_LOST allowed): $SUMMARY"
fi
RESULT=0
echo "$TAG: $SUMMARY"
echo "$TAG: PASS in $(elapsed) s"
exit 0
