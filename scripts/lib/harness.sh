# shellcheck shell=bash
# Shared pieces of the QEMU guest test scripts (scripts/guest/*-test.sh): logging with elapsed
# time, result/exit helpers, stopping processes by PID (bounded), starting a back-end in its own
# session and waiting for its socket, and running QEMU to power-off with a timeout.
#
# The sourcing script sets TAG (log prefix) and uses these globals:
#   WORK         work directory (logs: backend.log, serial.log, qemu.err)
#   RESULT       0 pass, 1 fail, 2 harness error, 77 skip: read by the script's cleanup trap
#   BACKEND_PID  set by start_backend
#   QEMU_PID     set by run_guest while QEMU runs
# Exit codes used: 1 test failed; 2 harness error; 77 skipped (CI=true turns a skip into 2).

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "$TAG: [$(elapsed)s] $*"; }

fail() { RESULT=1; echo "$TAG: FAIL: $*" >&2; exit 1; }
harness_error() { RESULT=2; echo "$TAG: ERROR: $*" >&2; exit 2; }
# A missing prerequisite: skipped with the reason, except under CI=true where it is a failure.
skip() {
  if [ "${CI:-}" = true ]; then harness_error "$* (CI=true: a missing prerequisite is a failure)"; fi
  echo "$TAG: SKIP: $*"; RESULT=0; exit 77
}

# Fails (harness error) naming the first of the commands that is not installed.
require_tools() { # command...
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || harness_error "$cmd not found (run scripts/install-deps.sh)"
  done
}

# For the cleanup trap: removes $WORK, or keeps it and says where when the run did not pass
# (RESULT != 0) or KEEP_TMP=1.
remove_work() {
  [ -n "$WORK" ] && [ -d "$WORK" ] || return 0
  if [ "$RESULT" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "$TAG: work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}

show_logs() { # every back-end log ($WORK/backend*.log) and guest console ($WORK/serial*.log)
  local f
  for f in "$WORK"/backend*.log; do
    if [ -s "$f" ]; then echo "---- $(basename "$f") (last 30 lines) ----"; tail -n 30 "$f"; fi
  done
  for f in "$WORK"/serial*.log; do
    if [ -s "$f" ]; then echo "---- guest console $(basename "$f") (last 40 lines) ----"; tr -d '\r' < "$f" | tail -n 40; fi
  done
  echo "----"
}

# Stops a process group (a back-end runs in its own session) or a single process by PID: TERM,
# up to GRACE seconds, then KILL.
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

# A Java back-end needs JDK 25: offer the usual one unless JAVA_HOME already names a JDK.
use_jdk25() {
  if [ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ] && [ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 PATH=/usr/lib/jvm/temurin-25-jdk-amd64/bin:$PATH
  fi
}

# Starts ARGV... in its own session (so a launcher script and its JVM stop together by PGID),
# output to $WORK/${BACKEND_LOG:-backend.log}, and waits up to BACKEND_TIMEOUT seconds for the
# socket SOCK.
start_backend() { # sock argv...
  local sock=$1 deadline brc
  shift
  log "starting back-end: $*"
  setsid "$@" </dev/null >"$WORK/${BACKEND_LOG:-backend.log}" 2>&1 &
  BACKEND_PID=$!
  deadline=$(( $(date +%s) + BACKEND_TIMEOUT ))
  while [ ! -S "$sock" ]; do
    if ! kill -0 "$BACKEND_PID" 2>/dev/null; then
      wait "$BACKEND_PID"; brc=$?; BACKEND_PID=""
      show_logs; harness_error "back-end exited with status $brc before creating $sock"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { show_logs; harness_error "back-end did not create $sock within ${BACKEND_TIMEOUT}s"; }
    sleep 0.1
  done
}

# Waits up to TIMEOUT seconds for the background child PID to exit; status 1 if it still runs.
wait_exit() { # pid timeout-seconds
  local deadline=$(( $(date +%s) + $2 ))
  while kill -0 "$1" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  return 0
}

# Runs QEMU argv... (serial console to $WORK/serial.log, stderr to $WORK/qemu.err) until it
# powers off, bounded by QEMU_TIMEOUT seconds; sets QRC to QEMU's exit status and writes the
# console without CRs to $WORK/serial.txt.
run_guest() { # qemu argv...
  log "booting guest (timeout ${QEMU_TIMEOUT}s)"
  "$@" </dev/null >"$WORK/serial.log" 2>"$WORK/qemu.err" &
  QEMU_PID=$!
  if ! wait_exit "$QEMU_PID" "$QEMU_TIMEOUT"; then
    stop_pid "$QEMU_PID" 5; QEMU_PID=""
    show_logs; harness_error "guest did not power off within ${QEMU_TIMEOUT}s"
  fi
  wait "$QEMU_PID"; QRC=$?; QEMU_PID=""
  tr -d '\r' < "$WORK/serial.log" > "$WORK/serial.txt"
  log "guest powered off (QEMU exit status $QRC)"
  if [ -s "$WORK/qemu.err" ]; then sed 's/^/qemu: /' "$WORK/qemu.err"; fi
}

# Checks the guest's "VTEST-RESULT: PASS|FAIL ..." marker in $WORK/serial.txt.
check_guest_result() {
  local marker
  marker=$(grep -a '^VTEST-RESULT: ' "$WORK/serial.txt" | tail -n1)
  [ -n "$marker" ] || { show_logs; harness_error "no VTEST-RESULT line on the guest console (QEMU status $QRC)"; }
  log "guest says: $marker"
  case "$marker" in
    "VTEST-RESULT: PASS "*) ;;
    *) show_logs; fail "guest reported failure: ${marker#VTEST-RESULT: }" ;;
  esac
}
