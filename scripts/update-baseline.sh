#!/usr/bin/env bash
# Cuts a new API/SPI baseline: copies the bundles com.vhost.api and com.vhost.runtime as built in
# their target/ folders into cnf/baseline-repo under a new version (the patch of the root pom's
# vhost.baseline.version plus one, written back to the pom; a new version because Maven never
# refreshes a release it already holds in ~/.m2). bnd-baseline-maven-plugin compares every later
# build against it. Run it after a release of the API and SPI packages (their package-info
# @Version values), from a clean build:
#     mvn -B -q verify -DskipTests -pl com.vhost.api,com.vhost.runtime -Dbnd.baseline.skip=true
#     scripts/update-baseline.sh
# Usage: scripts/update-baseline.sh [--help]
set -euo pipefail
case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
  *) echo "update-baseline.sh: no arguments expected (see --help)" >&2; exit 64 ;;
esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(sed -nE 's#.*<vhost.baseline.version>([^<]+)</vhost.baseline.version>.*#\1#p' "$REPO/pom.xml")
[ -n "$version" ] || { echo "update-baseline.sh: no vhost.baseline.version in $REPO/pom.xml" >&2; exit 1; }
old=$version
version=${old%.*}.$(( ${old##*.} + 1 ))
for m in com.vhost.api com.vhost.runtime; do
  jar=$(ls "$REPO/$m"/target/"$m"-*-SNAPSHOT.jar 2>/dev/null | grep -v -- '-tests.jar' | head -n 1 || true)
  [ -n "$jar" ] || { echo "update-baseline.sh: $m is not built (see --help)" >&2; exit 1; }
  dir=$REPO/cnf/baseline-repo/com/vhost/$m/$version
  rm -rf "$REPO/cnf/baseline-repo/com/vhost/$m"
  mkdir -p "$dir"
  cp "$jar" "$dir/$m-$version.jar"
  cat > "$dir/$m-$version.pom" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.vhost</groupId>
  <artifactId>$m</artifactId>
  <version>$version</version>
  <description>API/SPI baseline of $m (bnd-baseline-maven-plugin); made by scripts/update-baseline.sh</description>
</project>
POM
  # version-range resolution reads the artifact's metadata
  cat > "$REPO/cnf/baseline-repo/com/vhost/$m/maven-metadata.xml" <<META
<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <groupId>com.vhost</groupId>
  <artifactId>$m</artifactId>
  <versioning>
    <release>$version</release>
    <versions><version>$version</version></versions>
  </versioning>
</metadata>
META
  for f in "$dir/$m-$version.jar" "$dir/$m-$version.pom" "$REPO/cnf/baseline-repo/com/vhost/$m/maven-metadata.xml"; do
    sha1sum "$f" | cut -d' ' -f1 > "$f.sha1"
  done
  echo "update-baseline.sh: $m baseline $version <- $(basename "$jar") ($(stat -c %s "$jar") bytes)"
done
sed -i "s#<vhost.baseline.version>$old</vhost.baseline.version>#<vhost.baseline.version>$version</vhost.baseline.version>#" "$REPO/pom.xml"
echo "update-baseline.sh: vhost.baseline.version $old -> $version (commit cnf/baseline-repo and pom.xml)"
