#!/usr/bin/env bash
# Prepares the fast start of platform/target/vhost.jar, so that a restarted `vhost serve` listens
# within about a second (issue #10; measured by scripts/bench/restart-time.sh):
#  1. extracts the jars of vhost.jar's Embedded-Runpath (the Felix framework and the bnd launcher)
#     into platform/target/launch/. ../../vhost then puts them on the class path and runs
#     aQute.launcher.Launcher itself, so their classes come from the JVM's application class loader,
#     which the AOT cache covers (`java -jar vhost.jar` copies them to new temporary files at every
#     start and loads them through a class loader of its own, which it does not);
#  2. records a JDK 25 AOT cache (JEP 483/514/515: classes loaded and linked ahead of time, method
#     profiles) in platform/target/launch/vhost.aot from a training run of that same command line:
#     `vhost serve blk --memory 16M` on a temporary socket until it listens, then SIGTERM.
# The bundles' own classes are not in the cache (the JDK caches only its built-in class loaders).
# Run by Maven (platform module, package phase) after the jar is exported, and by ../../vhost when
# the jar is newer than the cache. Concurrent runs wait for each other (flock).
# Usage: platform/bin/fast-start.sh JDK_DIR
# Output: platform/target/launch/{framework.jar,launcher.jar,vhost.aot,stamp}; a line on stderr.
# Exit: 0 when prepared, 1 when the jar is missing or the training run did not listen within 60 s.
set -euo pipefail
case "${1:-}" in ""|-h|--help) sed -n '2,/^set /{/^#/p}' "$0"; [ -n "${1:-}" ]; exit $? ;; esac
jdk=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jar=$here/platform/target/vhost.jar
launch=$here/platform/target/launch
[ -f "$jar" ] || { echo "fast-start: $jar not built" >&2; exit 1; }
mkdir -p "$launch"
exec 9>"$launch/.lock"
flock 9
# Another run may have finished while this one waited.
if [ -f "$launch/stamp" ] && [ "$launch/stamp" -nt "$jar" ] && [ "$(cat "$launch/stamp")" = "$jdk" ]; then
    exit 0
fi
rm -f "$launch/stamp" "$launch/vhost.aot"
tmp=$(mktemp -d /tmp/vhost-fast-start.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

(cd "$tmp" && "$jdk/bin/jar" xf "$jar" META-INF/MANIFEST.MF)
# Embedded-Runpath: jar/org.apache.felix.framework-V.jar,jar/biz.aQute.launcher-V.jar (wrapped at 72 columns)
runpath=$(tr -d '\r' <"$tmp/META-INF/MANIFEST.MF" | awk '
    /^Embedded-Runpath:/ { f = 1; sub(/^Embedded-Runpath: */, ""); printf "%s", $0; next }
    f && /^ / { sub(/^ /, ""); printf "%s", $0; next }
    { f = 0 }')
fw=$(tr ',' '\n' <<<"$runpath" | grep 'felix.framework' || true)
ln=$(tr ',' '\n' <<<"$runpath" | grep 'aQute.launcher' || true)
[ -n "$fw" ] && [ -n "$ln" ] || { echo "fast-start: no framework and launcher in Embedded-Runpath '$runpath'" >&2; exit 1; }
(cd "$tmp" && "$jdk/bin/jar" xf "$jar" "$fw" "$ln")
mv -f "$tmp/$fw" "$launch/framework.jar"
mv -f "$tmp/$ln" "$launch/launcher.jar"

# Training run, with exactly the class path ../../vhost uses.
echo "fast-start: recording the JVM AOT cache (training run of vhost serve blk)" >&2
sock=$tmp/train.sock
VHOST_FAST_START=train VHOST_AOT_OUTPUT="$launch/vhost.aot.new" JAVA_HOME="$jdk" VHOST_LOG_LEVEL=warn \
    VHOST_CONF_DIR="$tmp/conf" VHOST_DEPLOY_DIR="$tmp/deploy" \
    setsid "$here/vhost" serve blk --memory 16M --socket "$sock" >"$tmp/train.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
    [ -S "$sock" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ ! -S "$sock" ]; then
    echo "fast-start: the training run did not listen on $sock; its output:" >&2
    cat "$tmp/train.log" >&2
    exit 1
fi
kill -TERM "$pid"
for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid" 2>/dev/null || true
pid=""
if [ ! -s "$launch/vhost.aot.new" ]; then
    echo "fast-start: no AOT cache written (the class path alone still saves the temp-file copies); output:" >&2
    tail -5 "$tmp/train.log" >&2
else
    mv -f "$launch/vhost.aot.new" "$launch/vhost.aot"
fi
echo "$jdk" >"$launch/stamp"
echo "fast-start: ready in $launch" >&2
