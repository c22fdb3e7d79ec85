#!/usr/bin/env bash
# Builds the kernel-backend test guest ("kguest"): Debian bookworm-backports' 6.12 kernel, the
# vDPA simulator modules it does not ship (vringh, vdpa_sim, vdpa_sim_net, vdpa_sim_blk) built out
# of tree from linux-source-6.12, and a busybox initramfs whose /init mounts the host's root
# read-only over 9p, loads vhost-net/tun/vhost-vdpa/vdpa_sim_*, adds the vDPA devices and runs a
# command chrooted into the host root (see scripts/kguest/init and run-in-kguest.sh).
#
# Usage: scripts/kguest/build-kguest.sh [--force] [--cache-dir DIR]
# Environment:
#   KGUEST_CACHE_DIR  cache/output directory (default: <repo>/.cache/kguest)
#   KGUEST_KVER       a specific kernel ABI, e.g. 6.12.95+deb12 (default: the newest 6.12 that
#                     bookworm-backports offers with image, headers, kbuild and source)
#   KGUEST_MIRROR     Debian mirror (default: the main Debian archive URI of this machine's apt
#                     sources: /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list)
# Everything is fetched with `apt-get download` through a private apt configuration
# (<cache>/apt: sources list = bookworm-backports only, own state and cache dirs); the system's apt
# setup is not touched. Nothing is installed.
# Outputs (in the cache dir): vmlinuz, initrd.gz, kernel-version, kguest.env (KGUEST_KERNEL=,
# KGUEST_INITRD=, KGUEST_KERNEL_VERSION= for `source`). Kernel + modules are built once
# (kernel/ready); the initramfs is rebuilt when scripts/kguest/init, this script,
# scripts/lib/guest-build.sh or busybox change.
# Exit codes: 0 built or reused, 1 build failed, 64 bad usage.
# shellcheck disable=SC2015  # "a && b || die" is meant: die when either fails
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${KGUEST_CACHE_DIR:-$REPO/.cache/kguest}
# The Debian archive this machine's apt uses (not its -security archive): deb822 .sources files
# first, then one-line sources.list entries. No host is written into the repository.
system_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'BEGIN{RS=""} /(^|\n)Types:[^\n]*deb/ && /(^|\n)Suites:[^\n]*bookworm/ {
            n = split($0, l, "\n"); for (i = 1; i <= n; i++) if (l[i] ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", l[i]); split(l[i], u, " ");
            if (u[1] !~ /security/) { print u[1]; exit } } }' "$f")
    [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($i !~ /security/) print $i; break } }' "$f" | head -n 1)
    [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
  done
  return 1
}
MIRROR=${KGUEST_MIRROR:-$(system_mirror || true)}
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --cache-dir) [ $# -ge 2 ] || { echo "build-kguest: --cache-dir needs a value" >&2; exit 64; }; CACHE=$2; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-kguest: unknown argument '$1'" >&2; exit 64 ;;
  esac
  shift
done
# Modules the guest loads; their dependencies (modinfo depends=) are loaded first.
ROOT_MODULES="virtio_pci 9pnet_virtio 9p tun tap vhost_net vhost_vdpa vdpa_sim_net vdpa_sim_blk"

# shellcheck disable=SC2034  # TAG: the log prefix of scripts/lib/guest-build.sh
TAG=build-kguest
LIB=$REPO/scripts/lib/guest-build.sh
# shellcheck source=scripts/lib/guest-build.sh disable=SC1091  # followed with shellcheck -x
. "$LIB"
need_commands "apt-get install build-essential kmod cpio xz-utils" \
  apt-get apt-cache dpkg-deb cpio gzip xz modinfo sha256sum make gcc tar flock
find_static_busybox
[ -n "$MIRROR" ] || die "no Debian archive found in this machine's apt sources (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list); set KGUEST_MIRROR"
# Debian's kbuild for the 6.12 headers compiles with x86_64-linux-gnu-gcc-12 (.kernelvariables);
# the guest runs the host's iproute2 (vdpa, ip) in its chroot.
command -v x86_64-linux-gnu-gcc-12 >/dev/null 2>&1 || die "x86_64-linux-gnu-gcc-12 not found (apt-get install gcc-12)"
for cmd in vdpa ip; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || die "$cmd not found (apt-get install iproute2)"
done

lock_cache 900
[ $FORCE -eq 1 ] && rm -rf "$CACHE/kernel" "$CACHE/apt" "$CACHE/vmlinuz" "$CACHE/initrd.gz" "$CACHE/initrd.stamp"

# ---- kernel, headers, source: private apt configuration ---------------------------------------
if [ -f "$CACHE/kernel/ready" ]; then
  KVER=$(cat "$CACHE/kernel/release")
  log "reusing kernel $KVER and vdpa_sim modules ($(tr '\n' ' ' < "$CACHE/kernel/packages"))"
else
  APTD=$CACHE/apt
  mkdir -p "$APTD"/state/lists/partial "$APTD"/cache/archives/partial "$APTD"/etc/apt.conf.d \
    "$APTD"/etc/preferences.d "$APTD"/etc/sources.list.d
  : > "$APTD/state/status"
  echo "deb $MIRROR bookworm-backports main" > "$APTD/etc/sources.list"
  cat > "$APTD/apt.conf" <<EOF
Dir::State "$APTD/state";
Dir::State::status "$APTD/state/status";
Dir::Cache "$APTD/cache";
Dir::Etc::SourceList "$APTD/etc/sources.list";
Dir::Etc::SourceParts "$APTD/etc/sources.list.d";
Dir::Etc::Parts "$APTD/etc/apt.conf.d";
Dir::Etc::Preferences "$APTD/etc/preferences";
Dir::Etc::PreferencesParts "$APTD/etc/preferences.d";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
EOF
  export APT_CONFIG=$APTD/apt.conf
  log "apt-get update (bookworm-backports only, private config $APT_CONFIG)"
  timeout 300 apt-get update -q >"$APTD/update.log" 2>&1 || { cat "$APTD/update.log" >&2; die "apt-get update failed"; }
  has() { local p; p=$(apt-cache policy "$1" 2>/dev/null || true); [[ $p == *"Candidate: "[0-9]* ]]; }
  if [ -n "${KGUEST_KVER:-}" ]; then
    CANDIDATES=$KGUEST_KVER
  else
    # Backports keeps a few ABIs; take the newest whose image, headers, kbuild all exist.
    CANDIDATES=$(apt-cache pkgnames linux-headers-6.12. | sed -n 's/^linux-headers-\(6\.12\.[0-9.]*+deb12[0-9.]*\)-amd64$/\1/p' | sort -Vr)
  fi
  KABI=""
  for v in $CANDIDATES; do
    if has "linux-headers-$v-amd64" && has "linux-headers-$v-common" && has "linux-kbuild-$v"; then
      if has "linux-image-$v-amd64"; then IMG="linux-image-$v-amd64"
      elif has "linux-image-$v-amd64-unsigned"; then IMG="linux-image-$v-amd64-unsigned"
      else continue; fi
      KABI=$v; break
    fi
  done
  [ -n "$KABI" ] || die "no linux-image/headers/kbuild 6.12.*+deb12 set in bookworm-backports (candidates: ${CANDIDATES:-none})"
  has linux-source-6.12 || die "linux-source-6.12 not in bookworm-backports"
  SRCVER=$(apt-cache policy linux-source-6.12 | sed -n 's/^ *Candidate: //p')
  IMGVER=$(apt-cache policy "$IMG" | sed -n 's/^ *Candidate: //p')
  [ "$SRCVER" = "$IMGVER" ] || log "WARNING: linux-source-6.12 is $SRCVER, $IMG is $IMGVER (building anyway)"
  PKGS="$IMG linux-headers-$KABI-amd64 linux-headers-$KABI-common linux-kbuild-$KABI linux-source-6.12"
  rm -rf "$CACHE/kernel" "$CACHE/dl"
  mkdir -p "$CACHE/dl" "$CACHE/kernel"
  log "downloading $PKGS"
  # shellcheck disable=SC2086  # PKGS is a word list
  ( cd "$CACHE/dl" && timeout 900 apt-get download -q $PKGS >apt.log 2>&1 ) \
    || { cat "$CACHE/dl/apt.log" >&2; die "apt-get download failed"; }
  log "downloaded $(du -sh "$CACHE/dl" | cut -f1) after $(elapsed) s"
  for p in $PKGS; do ls "$CACHE/dl/${p}_"*.deb >/dev/null 2>&1 || die "no .deb for $p"; done

  # image: vmlinuz + the modules we need (kept under kernel/modules/kernel/...)
  X=$CACHE/dl/x
  IMG_DEBS=("$CACHE/dl/${IMG}_"*.deb)
  unpack_kernel_image "${IMG_DEBS[0]}" "$IMG" "$X" kernel/drivers/virtio kernel/drivers/net kernel/drivers/vhost \
    kernel/drivers/vdpa kernel/fs/9p kernel/fs/netfs kernel/net/9p kernel/virt kernel/net/core
  rm -rf "$X"
  log "kernel $KVER extracted after $(elapsed) s"

  # headers + kbuild, side by side as installed (their symlinks are relative to /usr)
  H=$CACHE/dl/h
  for p in "linux-headers-$KABI-amd64" "linux-headers-$KABI-common" "linux-kbuild-$KABI"; do
    dpkg-deb -x "$CACHE/dl/${p}_"*.deb "$H"
  done
  HDR=$H/usr/src/linux-headers-$KABI-amd64
  [ -f "$HDR/Makefile" ] || die "no $HDR/Makefile"
  # Absolute symlinks (to /usr/...) would point at the host: re-point them into $H.
  find "$H" -type l | while read -r l; do
    t=$(readlink "$l"); case "$t" in /*) ln -sfn "$H$t" "$l" ;; esac
  done
  # The arch Makefile includes the common one by absolute path (/usr/src/...-common/Makefile).
  sed -i "s#/usr/src/#$H/usr/src/#g" "$HDR/Makefile"

  # the five source files of the simulator
  S=$CACHE/dl/src
  mkdir -p "$S"
  dpkg-deb --fsys-tarfile "$CACHE/dl/linux-source-6.12_"*.deb \
    | tar xOf - --wildcards './usr/src/linux-source-6.12.tar.*' \
    | tar xJf - -C "$S" --wildcards 'linux-source-6.12/drivers/vhost/vringh.c' 'linux-source-6.12/drivers/vdpa/vdpa_sim/*' \
    || die "extracting drivers/vhost/vringh.c and drivers/vdpa/vdpa_sim from linux-source-6.12 failed"
  B=$CACHE/dl/build
  mkdir -p "$B"
  cp "$S"/linux-source-6.12/drivers/vhost/vringh.c "$S"/linux-source-6.12/drivers/vdpa/vdpa_sim/*.[ch] "$B/"
  mkdir -p "$CACHE/kernel/src" && cp "$B"/*.[ch] "$CACHE/kernel/src/"  # kept for reading when debugging
  echo 'obj-m := vringh.o vdpa_sim.o vdpa_sim_net.o vdpa_sim_blk.o' > "$B/Kbuild"
  log "building vringh vdpa_sim vdpa_sim_net vdpa_sim_blk against $KABI after $(elapsed) s"
  make -C "$HDR" M="$B" CONFIG_DEBUG_INFO_BTF_MODULES= -j2 modules >"$CACHE/dl/build.log" 2>&1 \
    || { tail -n 40 "$CACHE/dl/build.log" >&2; die "building the vdpa_sim modules failed (log: $CACHE/dl/build.log)"; }
  mkdir -p "$CACHE/kernel/modules/extra"
  for m in vringh vdpa_sim vdpa_sim_net vdpa_sim_blk; do
    [ -f "$B/$m.ko" ] || die "$m.ko was not built"
    cp "$B/$m.ko" "$CACHE/kernel/modules/extra/"
    [ "$(modinfo -F vermagic "$B/$m.ko" | cut -d' ' -f1)" = "$KVER" ] || die "$m.ko vermagic is not $KVER"
  done
  echo "$KVER" > "$CACHE/kernel/release"
  for p in $PKGS; do dpkg-deb -f "$CACHE/dl/${p}_"*.deb Package Version | paste -sd' '; done > "$CACHE/kernel/packages"
  rm -rf "$CACHE/dl"
  touch "$CACHE/kernel/ready"
  log "kernel $KVER and vdpa_sim modules ready after $(elapsed) s"
fi
publish_kernel

# ---- initramfs -------------------------------------------------------------------------------
STAMP=$( { echo "$KVER $ROOT_MODULES"; sha256sum "$0" "$LIB" "$HERE/init" "$BUSYBOX"; } | sed "s#$REPO##g" | sha256sum | cut -d' ' -f1)
if initramfs_current "$STAMP"; then
  log "reusing initramfs $CACHE/initrd.gz"
else
  MODDIR=$CACHE/kernel/modules
  # shellcheck disable=SC2086  # ROOT_MODULES is a word list
  resolve_modules "$MODDIR" "extra kernel" "for $KVER" $ROOT_MODULES
  initramfs_root "$MODDIR" bin sbin dev proc sys tmp host results
  install -m 0755 "$HERE/init" "$ROOT/init"
  initramfs_pack "$STAMP"
  log "initramfs modules (load order): $(tr '\n' ' ' < "$ROOT/lib/modules/load-order")"
fi

finish_build KGUEST kguest.env
