#!/bin/sh
# Guest half of the back-end reconnect test (run by /init with vtest=blkloop): rounds of buffered
# writes of a region (many requests in flight at the fsync) read back with O_DIRECT and checked,
# for a while, whatever happens to the back-end meanwhile (the host kills and restarts it; QEMU
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
  dd if=/tmp/pattern of="/dev/$dev" bs=65536 conv=notrunc,fsync 2>/tmp/dd.err \
    || fail "round $r: write: $(tr '\n' ' ' < /tmp/dd.err)"
  want=$(sha256sum < /tmp/pattern)
  got=$(dd if="/dev/$dev" bs=65536 count=$((bytes / 65536)) iflag=direct 2>/tmp/dd.err | sha256sum)
  [ "$want" = "$got" ] || fail "round $r: read-back differs: wrote ${want%% *}, read ${got%% *} ($(tr '\n' ' ' < /tmp/dd.err))"
  echo "VTEST-ROUND: $r"
done
echo "VTEST-ROUNDS: $r"
echo "$r rounds of $mib MiB written and verified" > /tmp/vtest.detail
exit 0
