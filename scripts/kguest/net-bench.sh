#!/usr/bin/env bash
# In-guest net benchmark (not a test): the same `vhost net bench` over the three backends that
# run inside the 6.12 kernel guest, side by side, with the ratios between them:
#   vhost-user  an in-guest `vhost serve net --loopback` on a UNIX socket (the project's back-end)
#   vhost-net   the kernel's /dev/vhost-net worker into TAP ktap0 (--kernel --tap ktap0)
#   vdpa        vhost-vdpa with vdpa_sim_net (/dev/vhost-vdpa-0), which loops tx back to rx
# Mode tx (transmit only) runs on all three; echo (transmit a burst, receive it back) on the two
# that return frames (vhost-user loopback, vdpa_sim_net; a TAP does not echo). The guest is QEMU
# TCG, so absolute rates say little: the ratios are the result.
#
# Usage: scripts/kguest/net-bench.sh [--seconds S] [--pkt-size B] [--no-build]
#   --seconds S    duration of each bench run (default 5)
#   --pkt-size B   frame bytes (default 64)
#   --no-build     use platform/target/vhost.jar as it is
# Environment: JAVA_HOME, KGUEST_CACHE_DIR, KGUEST_MVN_ARGS (e.g. -o), KGUEST_TIMEOUT (default 900).
# Builds the guest (build-kguest.sh, cached) and the platform jar (mvn verify -DskipTests, never
# install), then runs net-bench-guest.sh in the guest. Exit: 0 printed all rates; 1 a run
# failed; 2 build or guest harness error; 64 usage.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SECS=5
PKT=64
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || { echo "net-bench: --seconds needs a value" >&2; exit 64; }; SECS=$2; shift ;;
    --pkt-size) [ $# -ge 2 ] || { echo "net-bench: --pkt-size needs a value" >&2; exit 64; }; PKT=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "net-bench: unknown argument '$1'" >&2; exit 64 ;;
  esac
  shift
done
case "$SECS$PKT" in *[!0-9.]*) echo "net-bench: --seconds and --pkt-size take numbers" >&2; exit 64 ;; esac
# shellcheck disable=SC1091  # scripts/lib/jdk.sh, found at run time
. "$REPO/scripts/lib/jdk.sh"
case "$JAVA_HOME" in /tmp/*) echo "net-bench: the JDK $JAVA_HOME is under /tmp, which the guest does not see" >&2; exit 2 ;; esac
case "$REPO" in /tmp/*) echo "net-bench: the repository is under /tmp, which the guest does not see (its /tmp is a tmpfs)" >&2; exit 2 ;; esac

"$HERE/build-kguest.sh" ${KGUEST_CACHE_DIR:+--cache-dir "$KGUEST_CACHE_DIR"} >/dev/null || { echo "net-bench: build-kguest.sh failed" >&2; exit 2; }
if [ $BUILD -eq 1 ]; then
  echo "net-bench: building platform/target/vhost.jar (mvn verify -DskipTests)"
  # shellcheck disable=SC2086  # KGUEST_MVN_ARGS is a word list
  ( cd "$REPO" && timeout 900 mvn -q -B -Dstyle.color=never ${KGUEST_MVN_ARGS:-} -pl platform -am verify -DskipTests ) 2>&1 \
    | sed 's/\x1b\[[0-9;]*m//g' || { echo "net-bench: Maven build failed" >&2; exit 2; }
fi
[ -f "$REPO/platform/target/vhost.jar" ] || { echo "net-bench: platform/target/vhost.jar missing (run without --no-build)" >&2; exit 2; }

set +e
BENCH_SECONDS=$SECS BENCH_PKT=$PKT KGUEST_PASS_ENV="BENCH_SECONDS BENCH_PKT" KGUEST_QUIET=${KGUEST_QUIET:-1} \
  KGUEST_TIMEOUT=${KGUEST_TIMEOUT:-900} "$HERE/run-in-kguest.sh" -- bash "$HERE/net-bench-guest.sh"
rc=$?
set -e
[ $rc -ge 124 ] && exit 2
exit $rc
