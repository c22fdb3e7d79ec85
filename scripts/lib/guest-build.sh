# shellcheck shell=bash
# Shared pieces of the guest builders (scripts/guest/build-guest.sh, scripts/kguest/build-kguest.sh):
# logging, prerequisite checks, the per-cache-dir lock, unpacking a Debian kernel image package,
# resolving modules with their dependencies, and packing a busybox initramfs with them.
#
# The sourcing script sets TAG (log prefix, also the script's name without .sh) before sourcing,
# runs under `set -euo pipefail`, and uses these globals:
#   CACHE    cache/output directory (made absolute by lock_cache)
#   KVER     kernel release (set by unpack_kernel_image, or read from the cache)
#   BUSYBOX  a statically linked busybox (set by find_static_busybox)
#   ORDER    "name:path" of each module to load, dependencies first (set by resolve_modules)
#   ROOT     the initramfs tree being built (set by initramfs_root; removed on exit)
# Every failure ends the script with exit code 1 and a line "$TAG: ERROR: ...".

T0=$(date +%s.%N)
# Seconds since the script started, one decimal.
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "$TAG: $*"; }
die() { echo "$TAG: ERROR: $*" >&2; exit 1; }

# need_commands HINT CMD...: dies with "CMD not found (HINT)" for the first CMD not on PATH.
need_commands() {
  local hint=$1 cmd
  shift
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found ($hint)"
  done
}

# find_static_busybox: sets BUSYBOX to a statically linked busybox (the initramfs has no libc, so
# only a static one works there), or dies.
find_static_busybox() {
  local b
  BUSYBOX=""
  for b in /bin/busybox /usr/bin/busybox "$(command -v busybox || true)"; do
    if [ -n "$b" ] && [ -x "$b" ]; then
      case "$(LC_ALL=C ldd "$b" 2>&1 || true)" in *"not a dynamic"*) BUSYBOX=$b; break ;; esac
    fi
  done
  [ -n "$BUSYBOX" ] || die "a static busybox is needed (package busybox-static)"
}

# lock_cache SECONDS: creates CACHE, makes it absolute and takes its lock on fd 9, so one builder
# at a time works in a cache dir (parallel test runs share it); dies after waiting SECONDS.
lock_cache() {
  mkdir -p "$CACHE"
  CACHE=$(cd "$CACHE" && pwd)
  exec 9>"$CACHE/.lock"
  flock -w "$1" 9 || die "cache $CACHE is locked by another $TAG.sh for more than $1 s"
}

# unpack_kernel_image DEB NAME DIR SUBTREE...: extracts the linux-image package DEB (NAME in
# messages) into DIR, sets KVER from its lib/modules/KVER, moves boot/vmlinuz-KVER to
# CACHE/kernel/vmlinuz and copies modules.builtin and the module SUBTREEs (e.g. kernel/drivers/virtio)
# to CACHE/kernel/modules. DIR stays for the caller to remove.
unpack_kernel_image() {
  local deb=$1 name=$2 x=$3
  shift 3
  dpkg-deb -x "$deb" "$x" || die "dpkg-deb -x $deb failed"
  KVER=$(find "$x/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | head -n1)
  # shellcheck disable=SC2015  # "a && b || die" is meant: die when either fails
  [ -n "$KVER" ] && [ -f "$x/boot/vmlinuz-$KVER" ] || die "$name has no boot/vmlinuz-* and lib/modules/*"
  mkdir -p "$CACHE/kernel/modules"
  mv "$x/boot/vmlinuz-$KVER" "$CACHE/kernel/vmlinuz"
  ( cd "$x/lib/modules/$KVER" && cp modules.builtin "$CACHE/kernel/modules/" \
    && tar cf - "$@" 2>/dev/null | tar xf - -C "$CACHE/kernel/modules" ) || die "copying modules of $KVER failed"
}

# publish_kernel: CACHE/vmlinuz from the cached kernel (replaced atomically) and
# CACHE/kernel-version = KVER.
publish_kernel() {
  cp -f "$CACHE/kernel/vmlinuz" "$CACHE/vmlinuz.tmp" && mv -f "$CACHE/vmlinuz.tmp" "$CACHE/vmlinuz"
  echo "$KVER" > "$CACHE/kernel-version"
}

# initramfs_current STAMP: true when CACHE/initrd.gz exists and was built for STAMP.
initramfs_current() {
  [ -f "$CACHE/initrd.gz" ] && [ "$(cat "$CACHE/initrd.stamp" 2>/dev/null)" = "$1" ]
}

# resolve_modules MODDIR "SEARCH_DIRS" "NOT_FOUND" MODULE...: sets ORDER to "name:path" (path of
# the .ko[.xz|.zst|.gz] relative to MODDIR) for each MODULE and, before it, each module it depends
# on (modinfo depends=), depth first. Names match with - and _ alike; modules listed in
# MODDIR/modules.builtin are skipped (logged). SEARCH_DIRS: the subdirectories of MODDIR to search,
# in order (e.g. "extra kernel"). A module found nowhere: dies with "module M not found NOT_FOUND".
resolve_modules() {
  local moddir=$1 search=$2 missing=$3 m
  shift 3
  ORDER=()
  declare -gA _GB_SEEN=()
  for m in "$@"; do _gb_add_module "$moddir" "$search" "$missing" "$m"; done
}

_gb_add_module() {
  local moddir=$1 search=$2 missing=$3 m=${4//-/_} pat path deps d
  [ -n "${_GB_SEEN[$m]:-}" ] && return 0
  _GB_SEEN[$m]=1
  pat=${m//[-_]/[-_]}
  if grep -Eq "/$pat\.ko$" "$moddir/modules.builtin"; then log "module $m is built into the kernel"; return 0; fi
  # shellcheck disable=SC2086  # search is a word list of directories
  path=$(cd "$moddir" && find $search -name "$pat.ko*" | head -n1)
  [ -n "$path" ] || die "module $m not found $missing"
  deps=$(modinfo -F depends "$moddir/$path" 2>/dev/null | tr ',' ' ')
  for d in $deps; do _gb_add_module "$moddir" "$search" "$missing" "$d"; done
  ORDER+=("$m:$path")
}

# initramfs_root MODDIR DIR...: sets ROOT to a new tree under CACHE (removed when the script
# exits) with the directories DIR... (relative), busybox with a link per applet in /bin, and the
# modules of ORDER decompressed to /lib/modules/NAME.ko with their names, in order, in
# /lib/modules/load-order. The caller adds /init and the rest, then calls initramfs_pack.
initramfs_root() {
  local moddir=$1 a e m path
  shift
  ROOT=$(mktemp -d "$CACHE/initramfs.XXXXXX")
  trap 'rm -rf "$ROOT"' EXIT
  for a in "$@" lib/modules; do mkdir -p "$ROOT/$a"; done
  cp "$BUSYBOX" "$ROOT/bin/busybox"
  for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$ROOT/bin/$a"
  done
  : > "$ROOT/lib/modules/load-order"
  for e in "${ORDER[@]}"; do
    m=${e%%:*}; path=${e#*:}
    case "$path" in
      *.ko.xz) xz -dc "$moddir/$path" > "$ROOT/lib/modules/$m.ko" ;;
      *.ko.zst) zstd -qdc "$moddir/$path" > "$ROOT/lib/modules/$m.ko" ;;
      *.ko.gz) gzip -dc "$moddir/$path" > "$ROOT/lib/modules/$m.ko" ;;
      *.ko) cp "$moddir/$path" "$ROOT/lib/modules/$m.ko" ;;
      *) die "unknown module file $path" ;;
    esac
    echo "$m" >> "$ROOT/lib/modules/load-order"
  done
}

# initramfs_pack STAMP: /dev/console in ROOT (when root), ROOT packed as a newc cpio (sorted,
# owner 0:0) with gzip -6 into CACHE/initrd.gz (replaced atomically), STAMP into CACHE/initrd.stamp.
initramfs_pack() {
  if [ "$(id -u)" -eq 0 ]; then mknod -m 600 "$ROOT/dev/console" c 5 1; fi
  ( cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet ) \
    | gzip -6 > "$CACHE/initrd.gz.tmp" || die "cpio/gzip of the initramfs failed"
  mv -f "$CACHE/initrd.gz.tmp" "$CACHE/initrd.gz"
  echo "$1" > "$CACHE/initrd.stamp"
}

# finish_build PREFIX ENV_FILE: writes CACHE/ENV_FILE (PREFIX_KERNEL=, PREFIX_INITRD=,
# PREFIX_KERNEL_VERSION= for `source`) and logs what was built and how long it took.
finish_build() {
  cat > "$CACHE/$2" <<ENV
$1_KERNEL=$CACHE/vmlinuz
$1_INITRD=$CACHE/initrd.gz
$1_KERNEL_VERSION=$KVER
ENV
  log "kernel $CACHE/vmlinuz ($KVER), initramfs $CACHE/initrd.gz ($(du -h "$CACHE/initrd.gz" | cut -f1)); took $(elapsed) s"
}
