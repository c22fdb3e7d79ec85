#!/bin/sh
# Guest half of the back-end reconnect test (run by /init with vtest=blkloop): rounds of writes of
# a region, odd rounds by 4 parallel O_DIRECT writers of 4 KiB blocks (requests in flight most of
# the time), even rounds buffered with one fsync (many in flight at once), each round read back with
# O_DIRECT and checked, for a while, whatever happens to the back-end meanwhile (the host kills and restarts it; QEMU
# reconnects, vhost-user "Inflight I/O tracking" makes the new back-end redo what the old one
# had taken).
# Kernel parameters:
#   vtest_dev=vda        block device to use
#   vtest_seconds=S      how long to run rounds (default 20)
#   vtest_mib=M          region size in MiB from offset 0 (default 4)
# Prints "VTEST-ROUND: R" after each verified round and "VTEST-ROUNDS: R" at the end; the region
# then holds the text "round-R\n" repeated and cut to M MiB (host: yes round-R | head -c M MiB).
fail() { echo "$*" > /tmp/vtest.detail; echo "VTEST-ERROR: $*"; exit 1; }
dev=${vtest_dev:-vda}
mib=${vtest_mib:-4}
bytes=$((mib * 1048576))

i=0
while [ ! -b "/dev/$dev" ]; do
  i=$((i + 1))
  [ $i -le 100 ] || fail "/dev/$dev did not appear within 10 s"
  sleep 0.1
done

end=$(($(date +%s) + ${vtest_seconds:-20}))
r=0
while [ "$(date +%s)" -lt "$end" ]; do
  r=$((r + 1))
  yes "round-$r" | head -c "$bytes" > /tmp/pattern
  if [ $((r % 2)) -eq 1 ]; then
    quarter=$((bytes / 4 / 4096))
    for w in 0 1 2 3; do
      dd if=/tmp/pattern of="/dev/$dev" bs=4096 skip=$((w * quarter)) seek=$((w * quarter)) count=$quarter \
        oflag=direct conv=notrunc 2>"/tmp/dd$w.err" &
    done
    wait
    for w in 0 1 2 3; do
      grep -q "^$quarter+0 records out" "/tmp/dd$w.err" || fail "round $r: writer $w: $(tr '\n' ' ' < "/tmp/dd$w.err")"
    done
  else
    dd if=/tmp/pattern of="/dev/$dev" bs=65536 conv=notrunc,fsync 2>/tmp/dd.err \
      || fail "round $r: write: $(tr '\n' ' ' < /tmp/dd.err)"
  fi
  want=$(sha256sum < /tmp/pattern)
  got=$(dd if="/dev/$dev" bs=65536 count=$((bytes / 65536)) iflag=direct 2>/tmp/dd.err | sha256sum)
  [ "$want" = "$got" ] || fail "round $r: read-back differs: wrote ${want%% *}, read ${got%% *} ($(tr '\n' ' ' < /tmp/dd.err))"
  echo "VTEST-ROUND: $r"
done
echo "VTEST-ROUNDS: $r"
echo "$r rounds of $mib MiB written and verified" > /tmp/vtest.detail
exit 0
