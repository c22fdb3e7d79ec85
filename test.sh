#!/usr/bin/env bash
# vhost-platform: the whole test run (what CI runs through .ci/run).
#
# Stages, in order (each bounded in time, its output streamed and kept in build/test-logs/):
#   deps        scripts/install-deps.sh (apt-installs missing QEMU/busybox/... tools)
#   guest       scripts/guest/build-guest.sh (Debian 6.1 kernel + busybox initramfs, cached)
#   maven       mvn -B install for the whole reactor (unit tests, Pax Exam, interop tests)
#   blk-qsd     scripts/guest/blk-guest-test.sh qsd   (harness self-check: QEMU guest <-> QSD)
#   blk-harness scripts/guest/blk-harness-selftest.sh (the harness fails on faulty back-ends)
#   blk-vhost   scripts/guest/blk-guest-test.sh vhost (QEMU guest <-> this project's back-end)
#   blk-packed  the same with PACKED=1: vhost-user-blk-pci,packed=on, the guest's virtio_blk on
#               packed virtqueues (VIRTIO 1.2 2.8) served by this project's back-end
#   blk-uring   the same guest on `vhost serve blk --aio io_uring --direct` (requests in flight
#               on io_uring, completed in any order, O_DIRECT on an image under /var/tmp)
#   migrate     scripts/guest/migrate-guest-test.sh blk (live migration of a QEMU guest between
#               two QEMUs, each with its own `vhost serve blk` on one image, while the guest
#               writes and verifies sequence-numbered blocks; checked in the guest and on the host)
#   migrate-net scripts/guest/migrate-guest-test.sh net (the same with virtio-net: each QEMU on its
#               own `vhost serve net --tap`, the TAPs bridged in a namespace; the guest pings
#               across the migration, the loss is printed and bounded)
#   upgrade     scripts/guest/upgrade-guest-test.sh (live upgrade of the blk device bundle, three
#               times, under a QEMU guest doing the same verified writes on a `vhost daemon`
#               back-end; then a build that cannot read the model's snapshots is refused)
#   net-vhost   scripts/guest/net-guest-test.sh (QEMU guest's virtio-net <-> this project's TAP
#               back-end <-> a TAP in a namespace the test makes; the guest pings into it)
#   net-packed  the same with PACKED=1: virtio-net-pci,packed=on on this project's back-end
#   kguest      scripts/kguest/kguest-test.sh (kernel + vDPA backends on the real vhost-net,
#               tun and vhost-vdpa/vdpa_sim drivers, in a QEMU guest on Debian's 6.12 kernel)
# Usage: ./test.sh            (no arguments)
# Environment:
#   CI=true          a missing peer or tool is a failure, never a skip
#   TEST_STAGES      stages to run, space or comma separated (default: all of the above)
#   MVN_GOAL         Maven goal (default install); MVN_ARGS extra Maven arguments
#   MVN_TIMEOUT      seconds for the Maven stage (default 2400)
#   GUEST_TIMEOUT    seconds one guest run may take (default 120)
#   JAVA_HOME        used when it is a JDK >= the project's maven.compiler.release (25);
#                    otherwise /usr/lib/jvm/temurin-25-jdk-amd64 or another /usr/lib/jvm JDK
# Exported to the stages: JAVA_HOME, PATH, CI, and after the guest stage GUEST_KERNEL,
#   GUEST_INITRD, GUEST_KERNEL_VERSION (paths of the built guest, usable by Maven tests).
# Output: per-stage PASS/FAIL/SKIP lines and, last, "vhost-platform: N passed, M failed"
#   (N, M count stages; skipped stages are listed above it). Logs: build/test-logs/<stage>.log.
# Exit code: 0 when no stage failed, 1 otherwise (130 when interrupted).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$REPO" || exit 2
case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
  *) echo "test.sh: no arguments expected (see ./test.sh --help; select stages with TEST_STAGES)" >&2; exit 64 ;;
esac
LOGS=$REPO/build/test-logs
mkdir -p "$LOGS"
ALL_STAGES="deps guest maven blk-qsd blk-harness blk-vhost blk-packed blk-uring migrate migrate-net upgrade net-vhost net-packed kguest"
STAGES=${TEST_STAGES:-$ALL_STAGES}
STAGES=${STAGES//,/ }
for s in $STAGES; do
  case " $ALL_STAGES " in *" $s "*) ;; *) echo "test.sh: unknown stage '$s' (known: $ALL_STAGES)" >&2; exit 64 ;; esac
done
IS_CI=0; [ "${CI:-}" = true ] && IS_CI=1
T0=$(date +%s)
say() { echo "test.sh: [$(( $(date +%s) - T0 ))s] $*"; }

# ---- process handling: every stage runs in its own session, stopped by PID/PGID -------------
STAGE_PID=""
TAIL_PID=""
stop_group() { # pid grace
  local pid=$1 grace=$2 i
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  stop_group "$STAGE_PID" 20; STAGE_PID=""
  if [ -n "$TAIL_PID" ]; then kill "$TAIL_PID" 2>/dev/null; wait "$TAIL_PID" 2>/dev/null; TAIL_PID=""; fi
}
trap cleanup EXIT
trap 'say "interrupted"; cleanup; exit 130' INT TERM HUP

# run_bounded LOG TIMEOUT CMD... : runs CMD in its own session, streams its output, kills the
# whole group after TIMEOUT seconds. Returns CMD's status, or 124 on timeout.
run_bounded() {
  local log=$1 timeout=$2 deadline rc
  shift 2
  : > "$log"
  setsid "$@" </dev/null >"$log" 2>&1 &
  STAGE_PID=$!
  tail -n +1 -f --pid="$STAGE_PID" "$log" &
  TAIL_PID=$!
  deadline=$(( $(date +%s) + timeout ))
  while kill -0 "$STAGE_PID" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "timeout after ${timeout}s: stopping PID $STAGE_PID and its group"
      stop_group "$STAGE_PID" 20; STAGE_PID=""
      wait "$TAIL_PID" 2>/dev/null; TAIL_PID=""
      return 124
    fi
    sleep 1
  done
  wait "$STAGE_PID"; rc=$?
  STAGE_PID=""
  wait "$TAIL_PID" 2>/dev/null; TAIL_PID=""
  return $rc
}

PASSED=(); FAILED=(); SKIPPED=()
record() { # stage PASS|FAIL|SKIP detail
  case "$2" in
    PASS) PASSED+=("$1") ;;
    FAIL) FAILED+=("$1: $3") ;;
    SKIP) SKIPPED+=("$1: $3") ;;
  esac
  say "stage $1: $2${3:+ ($3)}"
}
want() { case " $STAGES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# A missing peer/tool: a failure under CI, a skip elsewhere.
missing() { if [ $IS_CI -eq 1 ]; then record "$1" FAIL "$2 (CI=true)"; else record "$1" SKIP "$2"; fi; }

# ---- JDK -----------------------------------------------------------------------------------
NEED_JAVA=$(sed -n 's:.*<maven.compiler.release>\([0-9]*\)</maven.compiler.release>.*:\1:p' pom.xml | head -n1)
NEED_JAVA=${NEED_JAVA:-25}
java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n1
}
JDK=""
for cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
  [ -n "$cand" ] && [ -x "$cand/bin/javac" ] || continue
  v=$(java_major "$cand")
  if [ -n "$v" ] && [ "$v" -ge "$NEED_JAVA" ]; then JDK=$cand; break; fi
done
if [ -n "$JDK" ]; then
  export JAVA_HOME=$JDK PATH=$JDK/bin:$PATH
  say "JDK $(java_major "$JDK") at $JAVA_HOME (project needs >= $NEED_JAVA)"
else
  say "no JDK >= $NEED_JAVA found (JAVA_HOME=${JAVA_HOME:-unset}, /usr/lib/jvm)"
fi
say "stages: $STAGES; CI=${CI:-unset}; logs in $LOGS"

# ---- stages --------------------------------------------------------------------------------
if want deps; then
  if run_bounded "$LOGS/deps.log" 900 scripts/install-deps.sh; then
    record deps PASS
  else
    missing deps "scripts/install-deps.sh failed, see $LOGS/deps.log"
  fi
fi

GUEST_OK=0
if want guest || want blk-qsd || want blk-harness || want blk-vhost || want blk-packed || want blk-uring || want migrate || want migrate-net || want upgrade || want net-vhost || want net-packed; then
  if run_bounded "$LOGS/guest.log" 900 scripts/guest/build-guest.sh; then
    GUEST_OK=1
    # Offer the guest to the Maven tests too (integration tests may boot it).
    GUEST_ENV=${GUEST_CACHE_DIR:-$REPO/.cache/guest}/guest.env
    if [ -f "$GUEST_ENV" ]; then
      set -a
      # shellcheck disable=SC1090  # generated by build-guest.sh
      . "$GUEST_ENV"
      set +a
    fi
    want guest && record guest PASS
  else
    rc=$?
    if want guest; then missing guest "build-guest.sh failed (exit $rc), see $LOGS/guest.log"
    else say "guest artifacts could not be built (exit $rc)"; fi
  fi
fi

if want maven; then
  if [ -z "$JDK" ]; then
    record maven FAIL "no JDK >= $NEED_JAVA"
  elif ! command -v mvn >/dev/null 2>&1; then
    record maven FAIL "mvn not found"
  else
    touch "$LOGS/.maven-start"
    read -r -a extra <<< "${MVN_ARGS:-}"
    run_bounded "$LOGS/maven.log" "${MVN_TIMEOUT:-2400}" \
      mvn -B -ntp -Dstyle.color=never "${MVN_GOAL:-install}" "${extra[@]}"
    rc=$?
    # Test totals from the surefire/failsafe reports written by this run.
    totals=$(find . -path ./build -prune -o \( -path '*/surefire-reports/TEST-*.xml' -o -path '*/failsafe-reports/TEST-*.xml' \) \
        -newer "$LOGS/.maven-start" -print0 2>/dev/null \
      | xargs -0 -r grep -h -o -m1 '<testsuite [^>]*>' \
      | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); gsub(/[">]/, "", kv[2]);
                 if (kv[1] == "tests") t += kv[2]; else if (kv[1] == "failures") f += kv[2];
                 else if (kv[1] == "errors") e += kv[2]; else if (kv[1] == "skipped") s += kv[2]; } }
             END { printf "%d tests, %d failures, %d errors, %d skipped", t, f, e, s }')
    say "maven test reports: $totals"
    if [ $rc -eq 0 ]; then record maven PASS "$totals"
    elif [ $rc -eq 124 ]; then record maven FAIL "timed out after ${MVN_TIMEOUT:-2400}s"
    else record maven FAIL "mvn exit $rc; $totals; see $LOGS/maven.log"; fi
  fi
fi

failure_detail() { # log: the script's own first FAIL/ERROR line, else the selftest's verdict, else the last line
  local d
  d=$(grep -m1 -E '^[a-z-]+(\[[a-z]+\])?: (FAIL|ERROR): ' "$1" | sed -E 's/^[^:]*: (FAIL|ERROR): //')
  [ -n "$d" ] || d=$(grep -E '^selftest: case .*expected [0-9]+:$' "$1" | sed 's/^selftest: //' | paste -sd';' -)
  [ -n "$d" ] || d=$(tail -n1 "$1")
  echo "$d"
}
guest_test() { # stage timeout command...
  local stage=$1 timeout=$2 rc
  shift 2
  if [ $GUEST_OK -ne 1 ]; then missing "$stage" "guest artifacts unavailable"; return; fi
  run_bounded "$LOGS/$stage.log" "$timeout" env QEMU_TIMEOUT="${GUEST_TIMEOUT:-120}" "$@"
  rc=$?
  case $rc in
    0) record "$stage" PASS ;;
    77) missing "$stage" "$(grep -m1 'SKIP:' "$LOGS/$stage.log" | sed 's/.*SKIP: //')" ;;
    124) record "$stage" FAIL "timed out" ;;
    *) record "$stage" FAIL "$(failure_detail "$LOGS/$stage.log") (exit $rc)" ;;
  esac
}
GT=$(( ${GUEST_TIMEOUT:-120} + 120 ))
want blk-qsd && guest_test blk-qsd "$GT" scripts/guest/blk-guest-test.sh qsd
want blk-harness && guest_test blk-harness $(( 6 * GT )) scripts/guest/blk-harness-selftest.sh
want blk-vhost && guest_test blk-vhost "$GT" scripts/guest/blk-guest-test.sh vhost
# the same guest with vhost-user-blk-pci,packed=on: its virtio_blk on packed virtqueues
want blk-packed && guest_test blk-packed "$GT" env PACKED=1 scripts/guest/blk-guest-test.sh vhost
# the guest's virtio_blk on the io_uring back-end, O_DIRECT on a disk-backed image (not tmpfs)
want blk-uring && guest_test blk-uring "$GT" env TMPDIR=/var/tmp VHOST_SERVE_ARGS="--aio io_uring --direct" \
  EXPECT_SERVING="aio io_uring, O_DIRECT" scripts/guest/blk-guest-test.sh vhost
# two QEMUs and two back-ends: bounded at 3 minutes (the script bounds the guest run by GUEST_TIMEOUT)
want migrate && guest_test migrate $(( ${GUEST_TIMEOUT:-120} + 60 )) scripts/guest/migrate-guest-test.sh blk
# the same with a net device: two `vhost serve net --tap` in a bridge in a namespace; pings across
want migrate-net && guest_test migrate-net $(( ${GUEST_TIMEOUT:-120} + 60 )) scripts/guest/migrate-guest-test.sh net
# a guest under a verified workload while the daemon updates its device bundle three times
want upgrade && guest_test upgrade "$GT" scripts/guest/upgrade-guest-test.sh
want net-vhost && guest_test net-vhost "$GT" scripts/guest/net-guest-test.sh
want net-packed && guest_test net-packed "$GT" env PACKED=1 scripts/guest/net-guest-test.sh
if want kguest; then
  # builds its own guest (bookworm-backports 6.12 + out-of-tree vdpa_sim, cached in .cache/kguest)
  run_bounded "$LOGS/kguest.log" 1200 env KGUEST_TIMEOUT=600 scripts/kguest/kguest-test.sh
  rc=$?
  case $rc in
    0) record kguest PASS "$(grep -m1 -E '^kguest-test: [0-9]+ passed' "$LOGS/kguest.log")" ;;
    124) record kguest FAIL "timed out" ;;
    *) record kguest FAIL "$(grep -m1 -E '^kguest-test: ' "$LOGS/kguest.log" || tail -n1 "$LOGS/kguest.log") (exit $rc)" ;;
  esac
fi

# ---- summary ---------------------------------------------------------------------------------
echo
echo "==== vhost-platform test summary ($(( $(date +%s) - T0 )) s) ===="
for s in "${PASSED[@]}"; do echo "  PASS  $s"; done
for s in "${SKIPPED[@]}"; do echo "  SKIP  $s"; done
for s in "${FAILED[@]}"; do echo "  FAIL  $s"; done
echo "vhost-platform: ${#PASSED[@]} passed, ${#FAILED[@]} failed"
[ ${#FAILED[@]} -eq 0 ]
