#!/usr/bin/env bash
# JMH benchmarks of the data path. Usage: scripts/bench/jmh.sh [JMH args], e.g.
#   scripts/bench/jmh.sh SplitRingBenchmark -prof gc
#   scripts/bench/jmh.sh BlkRequestBenchmark -p poll=true
# Builds the benchmarks module (skipping tests) when its classes are missing. Results also go to
# build/bench/jmh.json (JMH's JSON) unless the arguments choose a result file (-rf/-rff).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/lib/jdk.sh
if [ ! -f benchmarks/target/classpath.txt ] || [ ! -d benchmarks/target/classes/META-INF ]; then
  echo "building benchmarks (mvn -q -pl benchmarks -am package -DskipTests)..." >&2
  mvn -q -pl benchmarks -am package -DskipTests
fi
result=()
case " $* " in
  *" -rf "*|*" -rff "*) ;;
  *) mkdir -p build/bench; result=(-rf json -rff build/bench/jmh.json) ;;
esac
exec java --enable-native-access=ALL-UNNAMED -cp "benchmarks/target/classes:$(cat benchmarks/target/classpath.txt)" \
  org.openjdk.jmh.Main "${result[@]}" "$@"
