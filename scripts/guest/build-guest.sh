#!/usr/bin/env bash
# Builds the test guest: a Debian bookworm 6.1 kernel (vmlinuz) and a busybox initramfs
# (initrd.gz) with the virtio modules and the guest tests of scripts/guest/initramfs/.
#
# Usage: scripts/guest/build-guest.sh [--force] [--cache-dir DIR]
# Environment:
#   GUEST_CACHE_DIR  output/cache directory (default: <repo>/.cache/guest)
#   KERNEL_PACKAGE   Debian kernel package to use (default: what linux-image-amd64 depends on,
#                    i.e. the newest linux-image-6.1.0-N-amd64 apt knows)
#   GUEST_MODULES    modules to load, in this order, dependencies added before them (default:
#                    virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
#                    virtio_blk virtio_net)
# Outputs (in the cache dir): vmlinuz, initrd.gz, kernel-version, and guest.env
#   (GUEST_KERNEL=..., GUEST_INITRD=..., GUEST_KERNEL_VERSION=... for `source`).
# The kernel is downloaded once and kept (kernel/); the initramfs is rebuilt when the scripts
# under scripts/guest/initramfs/, this script, scripts/lib/guest-build.sh or GUEST_MODULES change. --force rebuilds everything.
# Exit codes: 0 built or reused, 1 build failed, 64 bad usage.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${GUEST_CACHE_DIR:-$REPO/.cache/guest}
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --cache-dir) [ $# -ge 2 ] || { echo "build-guest: --cache-dir needs a value" >&2; exit 64; }; CACHE=$2; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
    *) echo "build-guest: unknown argument '$1'" >&2; exit 64 ;;
  esac
  shift
done
MODULES=${GUEST_MODULES:-virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk virtio_net}

# shellcheck disable=SC2034  # TAG: the log prefix of scripts/lib/guest-build.sh
TAG=build-guest
LIB=$REPO/scripts/lib/guest-build.sh
# shellcheck source=scripts/lib/guest-build.sh disable=SC1091  # followed with shellcheck -x
. "$LIB"
need_commands "run scripts/install-deps.sh" apt-get apt-cache dpkg-deb cpio gzip xz modinfo sha256sum
find_static_busybox
lock_cache 600
[ $FORCE -eq 1 ] && rm -rf "$CACHE/kernel" "$CACHE/vmlinuz" "$CACHE/initrd.gz" "$CACHE/initrd.stamp"

# ---- kernel ----------------------------------------------------------------------------------
if [ -f "$CACHE/kernel/ready" ]; then
  KVER=$(cat "$CACHE/kernel/release")
  log "reusing kernel $KVER ($(cat "$CACHE/kernel/package"))"
else
  pick_package() {
    if [ -n "${KERNEL_PACKAGE:-}" ]; then echo "$KERNEL_PACKAGE"; return; fi
    local p
    p=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1)
    if [ -z "$p" ]; then
      p=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n1)
    fi
    echo "$p"
  }
  PKG=$(pick_package)
  if [ -z "$PKG" ] || ! apt-cache show "$PKG" >/dev/null 2>&1; then
    log "no linux-image-6.1.0-*-amd64 known to apt: running apt-get update"
    apt-get update -q >/dev/null || die "apt-get update failed"
    PKG=$(pick_package)
  fi
  [ -n "$PKG" ] || die "no linux-image-6.1.0-*-amd64 package found with apt-cache (Debian bookworm sources needed)"
  rm -rf "$CACHE/kernel" "$CACHE/dl"
  mkdir -p "$CACHE/dl" "$CACHE/kernel"
  log "downloading $PKG"
  ( cd "$CACHE/dl" && apt-get download -q "$PKG" >/dev/null 2>"$CACHE/dl/apt.err" ) \
    || { cat "$CACHE/dl/apt.err" >&2; die "apt-get download $PKG failed"; }
  DEB=$(find "$CACHE/dl" -maxdepth 1 -name '*.deb' | LC_ALL=C sort | head -n1)
  log "extracting $(basename "$DEB") ($(du -h "$DEB" | cut -f1)) after $(elapsed) s"
  # Keep only what the initramfs can use: drivers/virtio, block, net (virtio_net deps), modules.*.
  unpack_kernel_image "$DEB" "$DEB" "$CACHE/dl/x" kernel/drivers/virtio kernel/drivers/block kernel/drivers/net kernel/net/core
  echo "$KVER" > "$CACHE/kernel/release"
  dpkg-deb -f "$DEB" Package Version | paste -sd' ' > "$CACHE/kernel/package"
  rm -rf "$CACHE/dl"
  touch "$CACHE/kernel/ready"
  log "kernel $KVER ready after $(elapsed) s"
fi
publish_kernel

# ---- initramfs -------------------------------------------------------------------------------
STAMP=$( { echo "$KVER $MODULES"; sha256sum "$0" "$LIB"; find "$HERE/initramfs" -type f -print0 | sort -z | xargs -0 sha256sum; \
  sha256sum "$BUSYBOX"; } | sed "s#$REPO##g" | sha256sum | cut -d' ' -f1)
if initramfs_current "$STAMP"; then
  log "reusing initramfs $CACHE/initrd.gz"
else
  MODDIR=$CACHE/kernel/modules
  # shellcheck disable=SC2086  # MODULES is a word list
  resolve_modules "$MODDIR" kernel "in $KVER (kept drivers/virtio, block, net, net/core)" $MODULES
  initramfs_root "$MODDIR" bin sbin dev proc sys tmp tests
  install -m 0755 "$HERE/initramfs/init" "$ROOT/init"
  for t in "$HERE"/initramfs/tests/*.sh; do install -m 0755 "$t" "$ROOT/tests/"; done
  initramfs_pack "$STAMP"
  log "initramfs with modules: $(tr '\n' ' ' < "$ROOT/lib/modules/load-order")"
fi

finish_build GUEST guest.env
