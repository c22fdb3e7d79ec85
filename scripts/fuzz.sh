#!/usr/bin/env bash
# Runs the Jazzer fuzz targets of issue #10 ("hostile front-ends") for longer than the build does,
# each in its own JVM in Jazzer's fuzzing mode, and prints per target the inputs executed and the
# time. The build (mvn verify / test.sh) runs the same targets for 12 000 to 100 000 inputs each.
#
# Targets:
#   message        com.vhost.user: MessageHeader and every payload decoder (MessageDecoderFuzzTest)
#   session-setup  com.vhost.user: a back-end session over a socket pair, a valid queue setup with
#                  one field or fd mutated, then kicks with fuzzed chains (SessionSetupFuzzTest)
#   session-raw    com.vhost.user: raw bytes (and eventfds/memfds) into a session (SessionRawBytesFuzzTest)
#   chain          com.vhost.runtime: split-virtqueue descriptor chains against guest memory
#                  (DescriptorChainFuzzTest)
#   packed-chain   com.vhost.runtime: packed-virtqueue descriptor chains (VIRTIO 1.2 section 2.8)
#                  against the same memory (PackedChainFuzzTest)
#   frontend       com.vhost.user: VhostUserFrontend against fuzzed replies (FrontendReplyFuzzTest)
#
# Usage: scripts/fuzz.sh [--runs N] [--max-time DURATION] [TARGET...]
#   --runs N            inputs per target (default 1000000)
#   --max-time DURATION bound per target, Jazzer syntax: 30s, 20m, 2h (default 24h)
#   TARGET...           some of the targets above (default: all)
# Exit status: 0 when no target found anything, 1 when one did (the Maven log and the crash file
# Jazzer wrote into the module's folder name it), 64 for a usage error. Needs Maven and the
# project's dependencies in ~/.m2: Maven runs offline (-o) unless VHOST_MVN_ONLINE=1 (a first run
# downloads Jazzer). Log: build/fuzz/fuzz.log.
set -euo pipefail
ALL=(message session-setup session-raw chain packed-chain frontend)
runs=1000000
max_time=24h
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --runs) [ $# -ge 2 ] || { echo "fuzz.sh: --runs needs a number" >&2; exit 64; }
            runs=$2; shift 2 ;;
    --max-time) [ $# -ge 2 ] || { echo "fuzz.sh: --max-time needs a duration" >&2; exit 64; }
            max_time=$2; shift 2 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) case " ${ALL[*]} " in
         *" $1 "*) targets+=("$1"); shift ;;
         *) echo "fuzz.sh: unknown target $1 (one of: ${ALL[*]})" >&2; exit 64 ;;
       esac ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --runs must be a positive integer, was $runs" >&2; exit 64; }
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
# shellcheck disable=SC1091  # scripts/lib/jdk.sh, found at run time
. scripts/lib/jdk.sh
mkdir -p build/fuzz
LOG=build/fuzz/fuzz.log

props=(-Dvhost.fuzz.skip=true)
modules=com.vhost.user
for t in "${targets[@]}"; do
  props+=("-Dvhost.fuzz.$t.skip=false")
done
offline=-o
[ "${VHOST_MVN_ONLINE:-}" = 1 ] && offline=
echo "fuzz.sh: ${targets[*]}: $runs inputs each (at most $max_time each), JDK $JAVA_HOME; log $LOG"
start=$(date +%s)
set +e
# Jazzer reads its options from JAZZER_* variables too: these override @FuzzTest(maxExecutions,
# maxDuration) in the forked test JVMs. Only the fuzz executions run (-Dtest matches no plain test).
JAZZER_MAX_EXECUTIONS=$runs JAZZER_MAX_DURATION=$max_time \
  mvn $offline -B -ntp -Dstyle.color=never -pl "$modules" -am verify -Dbnd.baseline.skip=true \
    -Dtest=NoPlainTestsInAFuzzRun -Dsurefire.failIfNoSpecifiedTests=false "${props[@]}" >"$LOG" 2>&1
rc=$?
set -e
end=$(date +%s)

# One "Done N runs in S second(s)" line per fuzzed target, in execution order.
printf '%-14s %12s %10s\n' target inputs seconds
status=0
for t in "${targets[@]}"; do
  line=$(awk -v id="(fuzz-$t)" 'index($0, id) && /maven-surefire-plugin/ {on=1; next}
                                 on && /maven-surefire-plugin/ {on=0}
                                 on && /^Done [0-9]+ runs in/ {print; exit}' "$LOG")
  if [ -n "$line" ]; then
    n=$(echo "$line" | awk '{print $2}'); s=$(echo "$line" | awk '{print $5}')
    printf '%-14s %12s %10s\n' "$t" "$n" "$s"
  else
    printf '%-14s %12s %10s\n' "$t" "-" "-"
    status=1
  fi
done
if grep -q 'FuzzTestFindingException\|== Java Exception' "$LOG"; then
  echo "fuzz.sh: FINDING - see $LOG:" >&2
  grep -m 5 -A 3 'FuzzTestFindingException\|== Java Exception' "$LOG" >&2
  status=1
elif [ $rc -ne 0 ]; then
  echo "fuzz.sh: Maven failed (exit $rc), see $LOG" >&2
  status=1
fi
echo "fuzz.sh: total $((end - start)) s (including the build)"
exit $status
