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
# under scripts/guest/initramfs/, this script or GUEST_MODULES change. --force rebuilds everything.
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

log() { echo "build-guest: $*"; }
die() { echo "build-guest: ERROR: $*" >&2; exit 1; }
for cmd in apt-get apt-cache dpkg-deb cpio gzip xz modinfo sha256sum; do
  command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found (run scripts/install-deps.sh)"
done
BUSYBOX=""
for b in /bin/busybox /usr/bin/busybox "$(command -v busybox || true)"; do
  # The initramfs has no libc: only a statically linked busybox works there.
  [ -n "$b" ] && [ -x "$b" ] || continue
  case "$(LC_ALL=C ldd "$b" 2>&1 || true)" in *"not a dynamic"*) BUSYBOX=$b; break ;; esac
done
[ -n "$BUSYBOX" ] || die "a static busybox is needed (package busybox-static)"

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
# One builder at a time per cache dir (parallel test runs share it); bounded wait.
exec 9>"$CACHE/.lock"
flock -w 600 9 || die "cache $CACHE is locked by another build-guest.sh for more than 600 s"
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
  DEB=$(ls "$CACHE"/dl/*.deb | head -n1)
  log "extracting $(basename "$DEB") ($(du -h "$DEB" | cut -f1)) after $(elapsed) s"
  dpkg-deb -x "$DEB" "$CACHE/dl/x" || die "dpkg-deb -x $DEB failed"
  KVER=$(ls "$CACHE/dl/x/lib/modules" | head -n1)
  [ -n "$KVER" ] && [ -f "$CACHE/dl/x/boot/vmlinuz-$KVER" ] || die "$DEB has no boot/vmlinuz-* and lib/modules/*"
  mv "$CACHE/dl/x/boot/vmlinuz-$KVER" "$CACHE/kernel/vmlinuz"
  # Keep only what the initramfs can use: drivers/virtio, block, net (virtio_net deps), modules.*.
  mkdir -p "$CACHE/kernel/modules"
  ( cd "$CACHE/dl/x/lib/modules/$KVER" && cp modules.builtin "$CACHE/kernel/modules/" \
    && tar cf - kernel/drivers/virtio kernel/drivers/block kernel/drivers/net kernel/net/core 2>/dev/null \
    | tar xf - -C "$CACHE/kernel/modules" ) || die "copying modules of $KVER failed"
  echo "$KVER" > "$CACHE/kernel/release"
  dpkg-deb -f "$DEB" Package Version | paste -sd' ' > "$CACHE/kernel/package"
  rm -rf "$CACHE/dl"
  touch "$CACHE/kernel/ready"
  log "kernel $KVER ready after $(elapsed) s"
fi
cp -f "$CACHE/kernel/vmlinuz" "$CACHE/vmlinuz.tmp" && mv -f "$CACHE/vmlinuz.tmp" "$CACHE/vmlinuz"
echo "$KVER" > "$CACHE/kernel-version"

# ---- initramfs -------------------------------------------------------------------------------
STAMP=$( { echo "$KVER $MODULES"; sha256sum "$0"; find "$HERE/initramfs" -type f -print0 | sort -z | xargs -0 sha256sum; \
  sha256sum "$BUSYBOX"; } | sed "s#$REPO##g" | sha256sum | cut -d' ' -f1)
if [ -f "$CACHE/initrd.gz" ] && [ "$(cat "$CACHE/initrd.stamp" 2>/dev/null)" = "$STAMP" ]; then
  log "reusing initramfs $CACHE/initrd.gz"
else
  MODDIR=$CACHE/kernel/modules
  find_module() { # name -> path of its .ko[.xz] relative to MODDIR (names use - and _ alike)
    local pat=${1//[-_]/[-_]}
    (cd "$MODDIR" && find kernel -name "$pat.ko*" | head -n1)
  }
  is_builtin() { grep -Eq "/${1//[-_]/[-_]}\.ko$" "$MODDIR/modules.builtin"; }
  ORDER=()
  declare -A SEEN=()
  add_module() { # depth-first: dependencies first
    local m=${1//-/_} path deps d
    [ -n "${SEEN[$m]:-}" ] && return 0
    SEEN[$m]=1
    if is_builtin "$m"; then log "module $m is built into the kernel"; return 0; fi
    path=$(find_module "$m")
    [ -n "$path" ] || die "module $m not found in $KVER (kept drivers/virtio, block, net, net/core)"
    deps=$(modinfo -F depends "$MODDIR/$path" 2>/dev/null | tr ',' ' ')
    for d in $deps; do add_module "$d"; done
    ORDER+=("$m:$path")
  }
  for m in $MODULES; do add_module "$m"; done

  ROOT=$(mktemp -d "$CACHE/initramfs.XXXXXX")
  trap 'rm -rf "$ROOT"' EXIT
  mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,tmp,lib/modules,tests}
  cp "$BUSYBOX" "$ROOT/bin/busybox"
  for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$ROOT/bin/$a"
  done
  : > "$ROOT/lib/modules/load-order"
  for e in "${ORDER[@]}"; do
    m=${e%%:*}; path=${e#*:}
    case "$path" in
      *.ko.xz) xz -dc "$MODDIR/$path" > "$ROOT/lib/modules/$m.ko" ;;
      *.ko.zst) zstd -qdc "$MODDIR/$path" > "$ROOT/lib/modules/$m.ko" ;;
      *.ko.gz) gzip -dc "$MODDIR/$path" > "$ROOT/lib/modules/$m.ko" ;;
      *.ko) cp "$MODDIR/$path" "$ROOT/lib/modules/$m.ko" ;;
      *) die "unknown module file $path" ;;
    esac
    echo "$m" >> "$ROOT/lib/modules/load-order"
  done
  install -m 0755 "$HERE/initramfs/init" "$ROOT/init"
  for t in "$HERE"/initramfs/tests/*.sh; do install -m 0755 "$t" "$ROOT/tests/"; done
  if [ "$(id -u)" -eq 0 ]; then mknod -m 600 "$ROOT/dev/console" c 5 1; fi
  ( cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet ) \
    | gzip -6 > "$CACHE/initrd.gz.tmp" || die "cpio/gzip of the initramfs failed"
  mv -f "$CACHE/initrd.gz.tmp" "$CACHE/initrd.gz"
  echo "$STAMP" > "$CACHE/initrd.stamp"
  log "initramfs with modules: $(tr '\n' ' ' < "$ROOT/lib/modules/load-order")"
fi

cat > "$CACHE/guest.env" <<ENV
GUEST_KERNEL=$CACHE/vmlinuz
GUEST_INITRD=$CACHE/initrd.gz
GUEST_KERNEL_VERSION=$KVER
ENV
log "kernel $CACHE/vmlinuz ($KVER), initramfs $CACHE/initrd.gz ($(du -h "$CACHE/initrd.gz" | cut -f1)); took $(elapsed) s"
