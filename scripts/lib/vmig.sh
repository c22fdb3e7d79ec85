# shellcheck shell=bash
# The host side of the guest's sequence-numbered block workload (scripts/guest/initramfs/tests/
# migrate.sh, vtest=migrate vtest_mode=blk), shared by the migration and live-upgrade tests.
# Uses WORK, log, fail and harness_error from harness.sh.
#
#   console SIDE, progress SIDE: the guest console $WORK/serial-SIDE.log, its last progress count
#   GUEST_TROUBLE: an extended regexp of guest console lines that fail a test
#
#   vmig_verify_image IMG ORIG BLOCKS K IMAGE_MIB
# Builds $WORK/expected.raw: ORIG with the last of the K writes to each of the first BLOCKS
# blocks in place (write k went to block k % BLOCKS with sequence number k; made with the same
# commands as the guest's), and fails unless every written block of IMG holds exactly that write
# and the rest of IMG equals ORIG (cmp, and qemu-img compare as an independent judge). Sets
# VMIG_HOST_OK to the number of blocks checked.
console() { # side: the guest's console so far ($WORK/serial-SIDE.log), without CRs
  { tr -d '\r' < "$WORK/serial-$1.log"; } 2>/dev/null
}
progress() { # side: the guest's last progress count (writes, or seconds for net)
  console "$1" | sed -n 's/^VTEST-PROGRESS: [a-z]*=\([0-9]*\).*/\1/p' | tail -n1
}
# A guest error: the test's own, an I/O error, or the kernel's oops or panic (stale guest memory
# at the destination, e.g. pages the back-end wrote and did not log, shows up as one of these).
# shellcheck disable=SC2034  # used by the sourcing scripts
GUEST_TROUBLE='^VTEST-ERROR: |I/O error|BUG: |Oops: |Kernel panic|general protection fault|segfault at'

vmig_verify_image() {
  local IMG=$1 ORIG=$2 BLOCKS=$3 K=$4 IMAGE_MIB=$5 host_ok=0 b s sum got judge
  # The expected image: the original with the last write of every written block (j < K,
  # j % BLOCKS = b) in place, made with the same commands as the guest's.
  cp "$ORIG" "$WORK/expected.raw"
  for ((b = 0; b < BLOCKS && b < K; b++)); do
    s=$(( b + ((K - 1 - b) / BLOCKS) * BLOCKS ))
    { yes "vmig b=$b s=$s" | head -c 3968; } > "$WORK/body" 2>/dev/null
    sum=$(sha256sum < "$WORK/body")
    { printf '%-127s\n' "VMIG blk=$b seq=$s sha256=${sum%% *}"; cat "$WORK/body"; } > "$WORK/want"
    dd if="$WORK/want" of="$WORK/expected.raw" bs=4096 seek="$b" conv=notrunc status=none \
      || harness_error "cannot build the expected image"
    if ! dd if="$IMG" bs=4096 skip="$b" count=1 status=none | cmp -s - "$WORK/want"; then
      got=$(dd if="$IMG" bs=4096 skip="$b" count=1 status=none | head -c 60 | tr -c '[:print:]' '.')
      fail "host: block $b should hold seq $s, holds '$got'"
    fi
    host_ok=$((host_ok + 1))
  done
  if ! cmp -s "$WORK/expected.raw" "$IMG"; then
    fail "host: the image differs from the expected one outside the written blocks: $(cmp "$WORK/expected.raw" "$IMG" 2>&1 | head -n1)"
  fi
  judge=$(qemu-img compare -f raw -F raw "$WORK/expected.raw" "$IMG" 2>&1) || fail "qemu-img compare: $judge"
  log "host: all $host_ok written blocks hold their last write (header, sequence number, sha256, body); the rest of the $IMAGE_MIB MiB image is unchanged (cmp; qemu-img compare: $judge)"
  VMIG_HOST_OK=$host_ok
}
