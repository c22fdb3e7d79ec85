# shellcheck shell=bash
# A new build of a bundle for live-upgrade tests and demos: the same classes with another
# Bundle-Version (and optionally other Vhost-Snapshot-Reads), as a rebuild with a bumped version
# would be. Needs the JDK's `jar` (use_jdk25 from jdk.sh first).
#
#   bundle_build IN.jar VERSION OUT.jar [SNAPSHOT_READS]
# VERSION: an OSGi version (e.g. 0.1.0.upgrade1); SNAPSHOT_READS replaces the
# Vhost-Snapshot-Reads header (the formats the new build's models can restore). Both headers are
# short single lines in bnd's manifests, so they are edited in place (no manifest line folding).
bundle_build() {
  local in=$1 version=$2 out=$3 reads=${4:-} dir rc
  dir=$(mktemp -d "${TMPDIR:-/tmp}/bundle-build.XXXXXX") || return 1
  mkdir "$dir/x" && (cd "$dir/x" && jar xf "$in") || { rm -rf "$dir"; return 1; }
  sed -e "s/^Bundle-Version: .*\r\?$/Bundle-Version: $version/" "$dir/x/META-INF/MANIFEST.MF" \
    | if [ -n "$reads" ]; then sed -e "s/^Vhost-Snapshot-Reads: .*\r\?$/Vhost-Snapshot-Reads: $reads/"; else cat; fi \
    > "$dir/manifest.txt"
  rm "$dir/x/META-INF/MANIFEST.MF"
  rm -f "$out"
  jar cfm "$out" "$dir/manifest.txt" -C "$dir/x" .
  rc=$?
  rm -rf "$dir"
  return $rc
}
