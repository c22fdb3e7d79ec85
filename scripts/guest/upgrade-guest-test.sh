#!/usr/bin/env bash
# Live upgrade of the device model under a running VM (issue #11 item 5): a QEMU TCG guest whose
# disk is served by `vhost daemon` (backend_serve_blk) does sequence-numbered, checksummed writes
# and reads (the guest half of the migration test, scripts/guest/initramfs/tests/migrate.sh)
# while com.vhost.devices.blk is updated UPGRADES times through the control socket
# (`vhost rpc bundle_update`), each time with a new build of the bundle (the platform's own jar
# with another Bundle-Version, scripts/lib/bundle-build.sh). Each update hands the served model
# over in place: sleep, snapshot, the new revision's model, restore, wake; the vhost-user session
# (socket, memory table, rings, kick and call eventfds) stays. Then a build that declares it cannot
# read the running model's snapshot format (Vhost-Snapshot-Reads) must be refused with the old
# model serving on.
#
# Passes when every update reports the back-end "upgraded" with its session, the refused one is
# refused and the bundle keeps its version, the guest sees no I/O error, reset or oops and keeps
# writing after each update, the back-end accepted exactly one front-end session (no reconnect),
# the guest's final check of every block passes, and the image on the host holds exactly the last
# write of every block and nothing else changed (cmp and qemu-img compare). Prints each pause.
#
# Usage: scripts/guest/upgrade-guest-test.sh
# Environment:
#   VHOST_CMD        the platform command (default: <repo>/vhost); extra words allowed
#   VHOST_JAR        the platform jar holding the bundle (default: <repo>/platform/target/vhost.jar)
#   GUEST_CACHE_DIR  where build-guest.sh put vmlinuz/initrd.gz (default: <repo>/.cache/guest)
#   QEMU_TIMEOUT     seconds the whole guest run may take, boot to power-off (default 150)
#   UPGRADES         successive updates of the bundle (default 3)
#   BEFORE, BETWEEN  guest writes before the first update (10) and after each one (8)
#   BLOCKS, IMAGE_MIB  blocks of 4 KiB the guest cycles through (64); image size in MiB (32)
#   STALL_SECONDS    a guest whose write count stands still this long fails (default 40)
#   KEEP_TMP=1       keep the work directory even on success
#   CI=true          a missing prerequisite is a failure (exit 2), never a skip
# Outputs: progress and figures on stdout; the work directory (disk.raw, daemon.log, serial-vm.log,
#   rpc-*.json) under ${TMPDIR:-/tmp}/upgrade-guest-test.XXXXXX, kept (path printed) on failure.
# Exit codes: 0 pass; 1 test failed; 2 harness error; 77 skipped (not CI); 64 bad usage.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -eq 0 ] || { echo "upgrade-guest-test: no arguments expected (see --help)" >&2; exit 64; }
CACHE=${GUEST_CACHE_DIR:-$REPO/.cache/guest}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-150}
UPGRADES=${UPGRADES:-3}
BEFORE=${BEFORE:-10}
BETWEEN=${BETWEEN:-8}
BLOCKS=${BLOCKS:-64}
IMAGE_MIB=${IMAGE_MIB:-32}
STALL_SECONDS=${STALL_SECONDS:-40}
BACKEND_TIMEOUT=${BACKEND_TIMEOUT:-30}
VHOST_JAR=${VHOST_JAR:-$REPO/platform/target/vhost.jar}
BSN=com.vhost.devices.blk
TAG="upgrade-guest-test"

# shellcheck source=scripts/lib/harness.sh
. "$REPO/scripts/lib/harness.sh"
# shellcheck source=scripts/lib/vmig.sh
. "$REPO/scripts/lib/vmig.sh"
# shellcheck source=scripts/lib/bundle-build.sh
. "$REPO/scripts/lib/bundle-build.sh"
# shellcheck source=scripts/lib/qmp.sh
. "$REPO/scripts/lib/qmp.sh"

WORK=""
RESULT=2
DAEMON=""; VM=""
cleanup() {
  local rc=$?
  stop_pid "$VM" 5; stop_pid "$DAEMON" 10 group
  remove_work
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 2' INT TERM HUP

require_tools qemu-system-x86_64 qemu-img cmp sha256sum
read -r -a VHOST <<< "${VHOST_CMD:-$REPO/vhost}"
use_jdk25
command -v jar >/dev/null 2>&1 || harness_error "the JDK's jar tool not found (JAVA_HOME=${JAVA_HOME:-unset})"
[ -x "${VHOST[0]}" ] || command -v "${VHOST[0]}" >/dev/null 2>&1 \
  || skip "platform command ${VHOST[0]} not found or not executable (build the project first, or set VHOST_CMD)"
[ -f "$VHOST_JAR" ] || skip "platform jar $VHOST_JAR not built (mvn install first, or set VHOST_JAR)"
GUEST_CACHE_DIR=$CACHE "$HERE/build-guest.sh" >/dev/null || harness_error "build-guest.sh failed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/upgrade-guest-test.XXXXXX") || harness_error "mktemp failed"
DEADLINE=$(( $(date +%s) + QEMU_TIMEOUT ))
remaining() { echo $(( DEADLINE - $(date +%s) )); }

# ---- the bundle builds: the one the platform runs, with other versions -----------------------
mkdir "$WORK/jar" && (cd "$WORK/jar" && jar xf "$VHOST_JAR" "jar/") || harness_error "cannot unpack $VHOST_JAR"
ORIG_JAR=$(ls "$WORK"/jar/jar/$BSN-*.jar 2>/dev/null | head -n1)
[ -n "$ORIG_JAR" ] || harness_error "$VHOST_JAR holds no $BSN bundle"
for ((i = 1; i <= UPGRADES; i++)); do
  bundle_build "$ORIG_JAR" "0.1.0.upgrade$i" "$WORK/blk-upgrade$i.jar" || harness_error "cannot make build $i of $BSN"
done
bundle_build "$ORIG_JAR" "0.2.0.unreadable" "$WORK/blk-unreadable.jar" "blk.model:99" || harness_error "cannot make the unreadable build"
log "builds of $BSN: $UPGRADES with new versions, one that reads only snapshot format blk.model:99"

# ---- the daemon and its back-end -------------------------------------------------------------
IMG=$WORK/disk.raw
ORIG=$WORK/orig.raw
CACHE_MIB=$(( (BLOCKS * 4096 + 1048575) / 1048576 ))
head -c $((IMAGE_MIB * 1048576)) /dev/urandom > "$IMG" || harness_error "cannot write $IMG"
cp "$IMG" "$ORIG"
CTL=$WORK/control.sock
rpc() { # method [params]: the result on stdout, exit status of `vhost rpc`
  "${VHOST[@]}" rpc --control "$CTL" "$@"
}
BACKEND_LOG=daemon.log start_backend "$CTL" "${VHOST[@]}" daemon --control "$CTL"
DAEMON=$BACKEND_PID
rpc backend_serve_blk "{\"name\": \"vm0\", \"image\": \"$IMG\", \"socket\": \"$WORK/vm0.sock\"}" > "$WORK/rpc-serve.json" \
  || { show_logs; harness_error "backend_serve_blk failed: $(cat "$WORK/rpc-serve.json")"; }
log "daemon PID $DAEMON serves $IMG on vm0.sock"

# ---- the guest -------------------------------------------------------------------------------
# The guest reads "stop" from its second serial port: a pipe chardev (QEMU opens ctl.in and
# ctl.out read-write, so no open blocks).
mkfifo "$WORK/ctl.in" "$WORK/ctl.out" || harness_error "mkfifo failed"
# shellcheck disable=SC2054  # commas are QEMU option syntax
qemu-system-x86_64 -name vm -accel tcg -cpu max -smp 1 -m 512M \
  -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
  -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 vtest=migrate vtest_timeout=$((QEMU_TIMEOUT - 10)) vtest_mode=blk vtest_blocks=$BLOCKS vtest_cache=$CACHE_MIB:16" \
  -chardev "socket,id=c0,path=$WORK/vm0.sock" -device vhost-user-blk-pci,chardev=c0,num-queues=1 \
  -chardev "file,id=con0,path=$WORK/serial-vm.log" -serial chardev:con0 \
  -chardev "pipe,id=ctl0,path=$WORK/ctl" -serial chardev:ctl0 \
  -display none -no-reboot -nodefaults </dev/null >"$WORK/qemu.out" 2>"$WORK/qemu.err" &
VM=$!
log "QEMU PID $VM"

guest_trouble() {
  local line
  line=$(console vm | grep -a -m1 -E "$GUEST_TROUBLE|^VTEST-RESULT: ")
  [ -z "$line" ] || { show_logs; fail "guest: $line"; }
  line=$(grep -a -m1 -i 'needs reset\|front-end disconnected' "$WORK/daemon.log")
  [ -z "$line" ] || { show_logs; fail "back-end: $line"; }
}
alive() {
  kill -0 "$VM" 2>/dev/null || { show_logs; sed 's/^/qemu: /' "$WORK/qemu.err"; fail "QEMU exited early"; }
  kill -0 "$DAEMON" 2>/dev/null || { show_logs; fail "the daemon exited"; }
}
wait_writes() { # count what
  local n last=-1 since
  while :; do
    n=$(progress vm)
    [ "${n:-0}" -ge "$1" ] && return 0
    guest_trouble; alive
    if [ "${n:-0}" != "$last" ]; then last=${n:-0}; since=$(date +%s)
    elif [ -n "$n" ] && [ $(( $(date +%s) - since )) -ge "$STALL_SECONDS" ]; then
      show_logs; fail "guest made no progress for ${STALL_SECONDS}s (stuck at $last writes) waiting for $2"
    fi
    [ "$(remaining)" -gt 0 ] || { show_logs; harness_error "guest did not reach $2 within ${QEMU_TIMEOUT}s"; }
    sleep 0.3
  done
}

wait_writes "$BEFORE" "$BEFORE writes"
log "guest busy: $(progress vm) writes"

# ---- the updates -----------------------------------------------------------------------------
PAUSES=()
for ((i = 1; i <= UPGRADES; i++)); do
  n0=$(progress vm)
  if ! rpc bundle_update "{\"symbolic_name\": \"$BSN\", \"path\": \"$WORK/blk-upgrade$i.jar\"}" > "$WORK/rpc-update$i.json" 2>&1; then
    show_logs; fail "update $i refused: $(cat "$WORK/rpc-update$i.json")"
  fi
  r=$(tr -d '\n ' < "$WORK/rpc-update$i.json")
  result=$(json_str result <<< "$r")
  to=$(json_str to <<< "$r")
  pause=$(sed -n 's/.*"pause_ms":\([0-9.]*\).*/\1/p' <<< "$r")
  session=$(sed -n 's/.*"session":\([a-z]*\).*/\1/p' <<< "$r")
  [ "$result" = upgraded ] && [ "$session" = true ] && [ "$to" = "0.1.0.upgrade$i" ] \
    || { show_logs; fail "update $i: expected the back-end upgraded with its session at 0.1.0.upgrade$i: $r"; }
  PAUSES+=("$(printf '%.1f' "$pause")")
  log "update $i: $BSN now $to, model handed over with the session kept, pause ${PAUSES[-1]} ms (guest at $n0 writes)"
  wait_writes $(( n0 + BETWEEN )) "$BETWEEN writes after update $i"
done

# ---- a build that cannot read the running model's snapshots: refused, nothing changes ---------
n0=$(progress vm)
if rpc bundle_update "{\"symbolic_name\": \"$BSN\", \"path\": \"$WORK/blk-unreadable.jar\"}" > "$WORK/rpc-refused.json" 2>&1; then
  show_logs; fail "the build reading only blk.model:99 was accepted: $(cat "$WORK/rpc-refused.json")"
fi
grep -q 'refused' "$WORK/rpc-refused.json" || { show_logs; fail "unexpected error for the unreadable build: $(cat "$WORK/rpc-refused.json")"; }
rpc bundle_list > "$WORK/rpc-bundles.json" || harness_error "bundle_list failed"
VERSION=$(tr -d '\n ' < "$WORK/rpc-bundles.json" | grep -o "\"symbolic_name\":\"$BSN\",\"version\":\"[^\"]*\"" | sed 's/.*"version":"//; s/"$//')
[ "$VERSION" = "0.1.0.upgrade$UPGRADES" ] || fail "$BSN is at '$VERSION' after the refused update, not 0.1.0.upgrade$UPGRADES"
log "unreadable build refused ($(sed -n 's/.*error -32000: //p' "$WORK/rpc-refused.json" | head -c 160)...); $BSN stays at $VERSION"
wait_writes $(( n0 + BETWEEN )) "$BETWEEN writes after the refused update"

rpc backend_served_list > "$WORK/rpc-served.json" || harness_error "backend_served_list failed"
SESSIONS=$(tr -d '\n ' < "$WORK/rpc-served.json" | sed -n 's/.*"sessions":\([0-9]*\).*/\1/p')
[ "$SESSIONS" = 1 ] || { show_logs; fail "the back-end accepted ${SESSIONS:-?} front-end sessions, not 1: the guest reconnected"; }

# ---- the guest checks everything -------------------------------------------------------------
log "guest at $(progress vm) writes; sending 'stop' to its ttyS1"
exec {STOP}<>"$WORK/ctl.in"
echo stop >&"$STOP"
wait_exit "$VM" "$(remaining)" || { show_logs; harness_error "the guest did not power off within ${QEMU_TIMEOUT}s"; }
wait "$VM"; QRC=$?; VM=""
guest_trouble_final=$(console vm | grep -a -m1 -E "$GUEST_TROUBLE")
[ -z "$guest_trouble_final" ] || { show_logs; fail "guest: $guest_trouble_final"; }
console vm > "$WORK/serial.txt"
check_guest_result
[ "$QRC" -eq 0 ] || { show_logs; fail "QEMU exited with status $QRC"; }
kill -0 "$DAEMON" 2>/dev/null || { show_logs; fail "the daemon died during the run"; }
stop_pid "$DAEMON" 10 group; DAEMON=""   # stopped now, so every write is in the image

FINAL=$(grep -a '^VTEST-INFO: migrate blk final ' "$WORK/serial.txt" | tail -n1)
K=$(sed -n 's/.* writes=\([0-9]*\).*/\1/p' <<< "$FINAL")
[ -n "$K" ] || fail "the guest printed no final write count"
vmig_verify_image "$IMG" "$ORIG" "$BLOCKS" "$K" "$IMAGE_MIB"
RESULT=0
echo "$TAG: $UPGRADES live upgrades of $BSN under the guest, pauses ${PAUSES[*]} ms; unreadable build refused; one session throughout; ${FINAL#*final }; host verified $VMIG_HOST_OK blocks"
echo "$TAG: PASS in $(elapsed) s"
exit 0
