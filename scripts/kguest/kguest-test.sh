#!/usr/bin/env bash
# Tests com.vhost.kernel (vhost-net, TAP) and com.vhost.vdpa (vhost-vdpa) against the real Linux
# drivers: builds the kernel test guest (build-kguest.sh, cached) and the modules' classes
# (mvn verify -DskipTests, never install), then runs the JUnit 5 IT classes of the kernel, vdpa,
# blk and net modules with the JUnit console launcher inside the guest (run-in-kguest.sh).
#
# Usage: scripts/kguest/kguest-test.sh [--no-build] [--select-class FQCN]...
#   --no-build          do not run Maven (use the classes already in target/)
#   --select-class C    run only class C (repeatable; default: the eight IT classes in CLASSES below)
# Environment:
#   JAVA_HOME           JDK >= 25 (default /usr/lib/jvm/temurin-25-jdk-amd64)
#   KGUEST_CACHE_DIR    guest + launcher cache (default <repo>/.cache/kguest)
#   KGUEST_TIMEOUT      seconds for the guest run (default 900)
#   KGUEST_JAVA_OPTS    JVM options in the guest (default: C1 only, serial GC)
#   KGUEST_MVN_ARGS     extra Maven arguments (e.g. -o)
#   KGUEST_KEEP         1: keep the work dir (reports, console log) on success too
# Prints the launcher's tree, then one line
#   "kguest-test: P passed, F failed, S skipped of N tests (guest exit R) in T s"
# Exit: 0 every test passed (a skipped test fails the run: in the guest every device exists);
#       1 a test failed or was skipped; 2 build or guest harness error; 64 usage.
# shellcheck disable=SC2015,SC2317  # "a && b || die" is meant; cleanup runs from trap
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${KGUEST_CACHE_DIR:-$REPO/.cache/kguest}
JUNIT_VERSION=1.14.4   # junit-platform of junit-jupiter 5.14.x (the pom's junit.version)
BUILD=1
CLASSES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --select-class) [ $# -ge 2 ] || { echo "kguest-test: --select-class needs a value" >&2; exit 64; }; CLASSES+=("$2"); shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "kguest-test: unknown argument '$1'" >&2; exit 64 ;;
  esac
  shift
done
[ ${#CLASSES[@]} -gt 0 ] || CLASSES=(com.vhost.kernel.VhostNetKernelIT com.vhost.vdpa.VdpaSimIT com.vhost.devices.blk.driver.VdpaBlkDriverIT com.vhost.devices.blk.driver.VdpaBlkLifecycleIT com.vhost.devices.net.driver.KernelAndVdpaNetDriverIT com.vhost.devices.net.driver.VhostNetLifecycleIT com.vhost.devices.net.driver.VdpaNetLifecycleIT com.vhost.devices.net.driver.CrossTypeNetSwapIT)

log() { echo "kguest-test: $*"; }
die() { echo "kguest-test: ERROR: $*" >&2; exit 2; }
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
export PATH=$JAVA_HOME/bin:$PATH
[ -x "$JAVA_HOME/bin/java" ] || die "no JDK at $JAVA_HOME"

"$HERE/build-kguest.sh" --cache-dir "$CACHE" || die "build-kguest.sh failed"
log "guest ready after $(elapsed) s"

JUNIT=$CACHE/junit/junit-platform-console-standalone-$JUNIT_VERSION.jar
if [ ! -f "$JUNIT" ]; then
  log "fetching junit-platform-console-standalone $JUNIT_VERSION"
  # shellcheck disable=SC2086  # KGUEST_MVN_ARGS is a word list
  ( cd "$REPO" && timeout 600 mvn -q -B -N -Dstyle.color=never ${KGUEST_MVN_ARGS:-} org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact=org.junit.platform:junit-platform-console-standalone:$JUNIT_VERSION \
      -DoutputDirectory="$CACHE/junit" ) 2>&1 | sed 's/\x1b\[[0-9;]*m//g' || die "mvn dependency:copy of the JUnit console launcher failed"
  [ -f "$JUNIT" ] || die "$JUNIT missing after dependency:copy"
fi

# com.vhost.user has no IT class: its classes and test fixtures come with com.vhost.devices.net's test
# class path (test-scoped dependency and test-jar)
MODULES=(com.vhost.kernel com.vhost.vdpa com.vhost.devices.blk com.vhost.devices.net)
if [ $BUILD -eq 1 ]; then
  log "building ${MODULES[*]} (mvn verify -DskipTests; test classpaths with dependency:build-classpath)"
  # shellcheck disable=SC2086
  ( cd "$REPO" && timeout 900 mvn -q -B -Dstyle.color=never ${KGUEST_MVN_ARGS:-} -pl "$(IFS=,; echo "${MODULES[*]}")" -am verify -DskipTests \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath \
      -Dmdep.outputFile=target/kguest-test.classpath -Dmdep.includeScope=test \
      -DexcludeGroupIds=org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian ) 2>&1 \
    | sed 's/\x1b\[[0-9;]*m//g' || die "Maven build failed"
  log "classes built after $(elapsed) s"
fi
CP=""
for m in "${MODULES[@]}"; do
  f=$REPO/$m/target/kguest-test.classpath
  [ -f "$f" ] && [ -d "$REPO/$m/target/test-classes" ] || die "$m is not built (run without --no-build)"
  CP="$CP:$REPO/$m/target/test-classes:$REPO/$m/target/classes:$(cat "$f")"
done
# one entry each, in first-seen order
CP=$(tr ':' '\n' <<<"${CP#:}" | awk 'NF && !seen[$0]++' | paste -sd:)
case "$JAVA_HOME" in /tmp/*) die "the JDK $JAVA_HOME is under /tmp, which the guest does not see (its /tmp is a tmpfs)" ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kguest-test.XXXXXX")
RCFILE=$WORK/guest.rc
cleanup() {
  local rc=$?
  if [ "$rc" -eq 0 ] && [ "${KGUEST_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else echo "kguest-test: work dir kept: $WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
# The launcher travels through the results share, so the cache may be anywhere (even /tmp).
mkdir -p "$WORK/results"
cp "$JUNIT" "$WORK/results/junit-console.jar"
# The guest sees the host's files through the 9p root share except /tmp, which is its own tmpfs
# there (a CI clone may well live under /tmp): class path entries under /tmp travel through the
# results share, mounted at /tmp/kguest in the guest.
GUEST_CP=""
n=0
for e in $(tr ':' ' ' <<<"$CP"); do
  case "$e" in
    /tmp/*)
      n=$((n + 1))
      mkdir -p "$WORK/results/cp/$n"
      if [ -d "$e" ]; then cp -a "$e/." "$WORK/results/cp/$n/"; e2=/tmp/kguest/cp/$n
      else cp -a "$e" "$WORK/results/cp/$n/"; e2=/tmp/kguest/cp/$n/$(basename "$e"); fi
      GUEST_CP="$GUEST_CP:$e2" ;;
    *) GUEST_CP="$GUEST_CP:$e" ;;
  esac
done
CP=${GUEST_CP#:}
SELECT=()
for c in "${CLASSES[@]}"; do SELECT+=(--select-class "$c"); done
JAVA_OPTS=${KGUEST_JAVA_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss1m}
set +e
# shellcheck disable=SC2086  # JAVA_OPTS is a word list
# CI=true inside the guest: a missing device node fails a test instead of skipping it.
CI=true KGUEST_RESULTS_DIR=$WORK "$HERE/run-in-kguest.sh" -- \
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED $JAVA_OPTS \
  -jar /tmp/kguest/junit-console.jar execute --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests --include-engine=junit-jupiter \
  --class-path "$CP" "${SELECT[@]}" --reports-dir /tmp/kguest/reports
GRC=$?
set -e
echo "$GRC" > "$RCFILE"

# Totals from the launcher's XML reports (one per engine: jupiter, vintage, suite).
XMLS=$(find "$WORK/results/reports" -name 'TEST-*.xml' 2>/dev/null || true)
if [ -z "$XMLS" ]; then
  log "no JUnit report (guest exit $GRC)"
  [ -f "$WORK/console.log" ] && tail -n 30 "$WORK/console.log" | tr -d '\r' >&2
  echo "kguest-test: 0 passed, 0 failed, 0 skipped of 0 tests (guest exit $GRC) in $(elapsed) s"
  exit 2
fi
total() { # sum of a <testsuite> attribute over the reports
  local f n=0 v
  for f in $XMLS; do
    v=$(sed -n "s/.*<testsuite [^>]*\b$1=\"\([0-9]*\)\".*/\1/p" "$f" | head -n1)
    n=$((n + ${v:-0}))
  done
  echo "$n"
}
N=$(total tests); F=$(( $(total failures) + $(total errors) )); S=$(total skipped)
P=$(( N - F - S ))
echo "kguest-test: $P passed, $F failed, $S skipped of $N tests (guest exit $GRC) in $(elapsed) s"
if [ "$GRC" -ge 124 ] && [ "$GRC" -ne 0 ] && [ "$F" -eq 0 ]; then exit 2; fi
if [ "$F" -gt 0 ] || [ "$S" -gt 0 ] || [ "$GRC" -ne 0 ] || [ "$N" -eq 0 ]; then exit 1; fi
exit 0
