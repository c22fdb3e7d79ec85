#!/bin/sh
# Guest half of the virtio-blk interop test (run by /init with vtest=blk).
# Kernel parameters (bytes, multiples of 4096):
#   vtest_dev=vda                 block device to use
#   vtest_read=OFF:LEN[,OFF:LEN]  regions to read (O_DIRECT); prints "VTEST-SHA256: OFF:LEN <sha256>"
#   vtest_write=OFF:LEN[,...]     regions to write with O_DIRECT + fsync; the data of a region is
#                                 the text "vtest-OFF\n" repeated and cut to LEN bytes
#                                 (host: yes vtest-OFF | head -c LEN); each is read back and checked.
# Prints "VTEST-INFO: blk size_sectors=N" (sectors of 512 bytes) and "VTEST-INFO: blk features=B"
# (the negotiated feature bits as the virtio core shows them, one character per bit from bit 0).
fail() { echo "$*" > /tmp/vtest.detail; echo "VTEST-ERROR: $*"; exit 1; }
BS=4096
dev=${vtest_dev:-vda}

i=0
while [ ! -b "/dev/$dev" ]; do
  i=$((i + 1))
  [ $i -le 100 ] || fail "/dev/$dev did not appear within 10 s ($(ls /sys/block | tr '\n' ' '))"
  sleep 0.1
done
size=$(cat "/sys/block/$dev/size")
echo "VTEST-INFO: blk size_sectors=$size"
# the negotiated feature bits, one '0'/'1' per bit from bit 0 (virtio core sysfs attribute)
echo "VTEST-INFO: blk features=$(cat "/sys/block/$dev/device/features" 2>/dev/null)"

check_region() { # OFF LEN
  [ $(($1 % BS)) -eq 0 ] && [ $(($2 % BS)) -eq 0 ] && [ "$2" -gt 0 ] \
    || fail "region $1:$2 is not a positive multiple of $BS bytes"
  [ $(($1 + $2)) -le $((size * 512)) ] || fail "region $1:$2 ends beyond the disk ($((size * 512)) bytes)"
}

nread=0
for r in $(echo "${vtest_read:-}" | tr ',' ' '); do
  off=${r%%:*}; len=${r#*:}
  check_region "$off" "$len"
  sum=$(dd if="/dev/$dev" bs=$BS skip=$((off / BS)) count=$((len / BS)) iflag=direct 2>/tmp/dd.err | sha256sum) \
    || fail "read $off:$len: $(cat /tmp/dd.err)"
  grep -q "$((len / BS))+0 records in" /tmp/dd.err || fail "read $off:$len short: $(tr '\n' ' ' < /tmp/dd.err)"
  echo "VTEST-SHA256: $off:$len ${sum%% *}"
  nread=$((nread + 1))
done

nwrite=0
for r in $(echo "${vtest_write:-}" | tr ',' ' '); do
  off=${r%%:*}; len=${r#*:}
  check_region "$off" "$len"
  yes "vtest-$off" | head -c "$len" > /tmp/pattern
  dd if=/tmp/pattern of="/dev/$dev" bs=$BS seek=$((off / BS)) oflag=direct conv=notrunc,fsync 2>/tmp/dd.err \
    || fail "write $off:$len: $(tr '\n' ' ' < /tmp/dd.err)"
  want=$(sha256sum < /tmp/pattern)
  got=$(dd if="/dev/$dev" bs=$BS skip=$((off / BS)) count=$((len / BS)) iflag=direct 2>/dev/null | sha256sum)
  [ "$want" = "$got" ] || fail "read-back of $off:$len differs: wrote ${want%% *}, read ${got%% *}"
  echo "VTEST-WROTE: $off:$len ${want%% *}"
  nwrite=$((nwrite + 1))
done
sync
echo "read $nread region(s), wrote and read back $nwrite region(s), disk $size sectors" > /tmp/vtest.detail
exit 0
