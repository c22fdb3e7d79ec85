#!/usr/bin/env bash
# Installs (with apt) the host tools the tests use, only those that are missing, and checks
# that a JDK >= 22 and Maven are present.
#
# Usage: scripts/install-deps.sh [--check]
#   --check   install nothing; report what is missing and exit 1 if anything is.
# Environment:
#   JAVA_HOME  a JDK to check (>= 22); default /usr/lib/jvm/temurin-25-jdk-amd64 when present.
#   EXTRA_APT_PACKAGES  space separated extra Debian packages to ensure (optional).
# Exit codes: 0 all present (or installed), 1 something missing in --check mode or apt failed,
#             2 no usable JDK >= 22, 3 Maven missing and not installable, 64 bad usage.
set -euo pipefail

CHECK_ONLY=0
case "${1:-}" in
  "") ;;
  --check) CHECK_ONLY=1 ;;
  -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
  *) echo "install-deps: unknown argument '$1' (use --check)" >&2; exit 64 ;;
esac

log() { echo "install-deps: $*"; }
die() { local rc=$1; shift; echo "install-deps: ERROR: $*" >&2; exit "$rc"; }

# Debian package -> a file it provides (for a quick sanity check after installing).
PACKAGES=(qemu-system-x86 qemu-utils qemu-system-common busybox-static cpio e2fsprogs xz-utils zstd kmod iproute2 gcc-12 make socat
          dpdk-dev librte-net-vhost23 librte-net-virtio23 librte-mempool-ring23
          chromium chromium-driver)
# shellcheck disable=SC2206
PACKAGES+=(${EXTRA_APT_PACKAGES:-})

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if is_installed "$p"; then :; else missing+=("$p"); fi
done

# Maven: a Debian package too, when the mvn command is absent.
if ! command -v mvn >/dev/null 2>&1; then missing+=(maven); fi

if [ ${#missing[@]} -eq 0 ]; then
  log "all packages present: ${PACKAGES[*]}"
elif [ $CHECK_ONLY -eq 1 ]; then
  die 1 "missing packages: ${missing[*]} (run scripts/install-deps.sh without --check)"
else
  command -v apt-get >/dev/null 2>&1 || die 1 "missing packages ${missing[*]} and apt-get is not available"
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q >/dev/null || die 1 "apt-get update failed (are you root / is the network up?)"
  if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    die 1 "apt-get install ${missing[*]} failed"
  fi
  for p in "${missing[@]}"; do
    is_installed "$p" || die 1 "package $p still not installed after apt-get install"
    log "installed $p $(dpkg-query -W -f='${Version}' "$p")"
  done
fi

for cmd in qemu-system-x86_64 qemu-storage-daemon qemu-img cpio xz zstd socat chromium chromedriver; do
  command -v "$cmd" >/dev/null 2>&1 || die 1 "command $cmd not found although its package is installed"
done
[ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 || die 1 "busybox not found"

# ---- JDK >= 22 -------------------------------------------------------------------------------
java_major() { # prints the feature version of $1/bin/java, or nothing
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n1
}
JDK=""
for cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64; do
  [ -n "$cand" ] && [ -x "$cand/bin/java" ] && [ -x "$cand/bin/javac" ] || continue
  v=$(java_major "$cand")
  if [ -n "$v" ] && [ "$v" -ge 22 ]; then JDK=$cand; break; fi
  log "JDK at $cand is version ${v:-unknown}, need >= 22"
done
[ -n "$JDK" ] || die 2 "no JDK >= 22: install Temurin 25 at /usr/lib/jvm/temurin-25-jdk-amd64 or set JAVA_HOME to a JDK >= 22"
log "JDK $(java_major "$JDK") at $JDK"

command -v mvn >/dev/null 2>&1 || die 3 "Maven (mvn) not found"
mvn_version=$(JAVA_HOME=$JDK mvn -B -v 2>/dev/null | sed -e 's/\x1b\[[0-9;]*m//g' -n -e 's/^Apache Maven \([^ ]*\).*/\1/p' | head -n1)
[ -n "$mvn_version" ] || die 3 "'mvn -v' failed with JAVA_HOME=$JDK"
log "Maven $mvn_version at $(command -v mvn)"
exit 0
