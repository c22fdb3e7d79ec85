#!/bin/sh
# Guest half of the live-migration test (run by /init with vtest=migrate; host side:
# scripts/guest/migrate-guest-test.sh). The guest runs the same before, during and after the
# host migrates it to another QEMU, and stops only when the host sends "stop" to ttyS1.
#
# vtest_mode=blk: writes sequence-numbered, checksummed 4 KiB blocks to the first vtest_blocks
#   blocks of /dev/vtest_dev in a loop with O_DIRECT: write k (k = 0, 1, ...) goes to block
#   k % vtest_blocks and carries sequence number k. A block is a 128-byte header line
#   "VMIG blk=B seq=K sha256=<sha256 of the body>" (space padded, newline) and a 3968-byte body,
#   the text "vmig b=B s=K\n" repeated (host: yes "vmig b=B s=K" | head -c 3968). Each write
#   (O_DIRECT, then a flush) is read back twice: with O_DIRECT (the disk) and through the page
#   cache (the device writes the block into a page cache page, which stays in guest memory); one
#   more block, written half a round earlier, is read through the page cache, mostly served from
#   guest memory without I/O. On "stop" every written block is read and checked once more both
#   ways. Besides, vtest_cache=MIB:N names a region the guest only reads: N chunks of 256 KiB
#   from MIB MiB on. At start the guest takes the sha256 of each chunk with O_DIRECT; then each
#   write is followed by a read of the next chunk (round robin) through the page cache: the first
#   round fills fresh page cache pages by DMA, later rounds are served from guest memory. The
#   device is held open throughout (its last close would drop the page cache). A page the source
#   back-end filled during the migration and did not mark in the dirty log reaches the
#   destination stale, and the next cached read of it fails. Prints
#   "VTEST-PROGRESS: writes=K verified=V chunks=C" after each write and, last,
#   "VTEST-INFO: migrate blk final writes=K blocks=N verified=V final=F chunks=C".
# vtest_mode=net: pings vtest_peer every 0.2 s from vtest_ip until "stop", then prints
#   "VTEST-INFO: migrate net sent=S received=R lost=L" (and ping's summary).
# Any I/O error, short transfer or wrong block content fails the test at once (exit 1, reason in
# /tmp/vtest.detail and on a "VTEST-ERROR:" line).
fail() { echo "$*" > /tmp/vtest.detail; echo "VTEST-ERROR: $*"; exit 1; }
mode=${vtest_mode:-blk}

# The host's "stop" line arrives on the second serial port (ttyS1: on the destination QEMU a
# FIFO the host writes, on the source nothing).
rm -f /tmp/stop
( read -r line < /dev/ttyS1; echo "VTEST-INFO: ttyS1 said '$line'"; : > /tmp/stop ) &

if [ "$mode" = net ]; then
  ipaddr=${vtest_ip:-10.213.9.2/24}
  peer=${vtest_peer:-10.213.9.1}
  i=0
  while [ ! -e /sys/class/net/eth0 ]; do
    i=$((i + 1))
    [ $i -le 100 ] || fail "eth0 did not appear within 10 s"
    sleep 0.1
  done
  ip link set lo up
  ip link set eth0 up || fail "ip link set eth0 up failed"
  ip addr add "$ipaddr" dev eth0 || fail "ip addr add $ipaddr failed"
  ping -i 0.2 -W 1 "$peer" > /tmp/ping.out 2>&1 &
  pingpid=$!
  n=0
  while [ ! -e /tmp/stop ]; do
    sleep 1
    n=$((n + 1))
    echo "VTEST-PROGRESS: seconds=$n replies=$(grep -c 'bytes from' /tmp/ping.out)"
  done
  kill -INT "$pingpid"
  wait "$pingpid"
  sed 's/^/VTEST-INFO: ping: /' /tmp/ping.out | tail -n 3
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/ping.out)
  recv=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/ping.out)
  [ -n "$sent" ] && [ -n "$recv" ] || fail "no ping summary: $(tail -n 2 /tmp/ping.out | tr '\n' ' ')"
  [ "$recv" -gt 0 ] || fail "ping $peer: no reply at all ($sent sent)"
  echo "VTEST-INFO: migrate net sent=$sent received=$recv lost=$((sent - recv))"
  echo "ping $peer: $recv/$sent replies" > /tmp/vtest.detail
  exit 0
fi

BS=4096
dev=${vtest_dev:-vda}
nblocks=${vtest_blocks:-64}
i=0
while [ ! -b "/dev/$dev" ]; do
  i=$((i + 1))
  [ $i -le 100 ] || fail "/dev/$dev did not appear within 10 s"
  sleep 0.1
done
[ $((nblocks * 8)) -le "$(cat "/sys/block/$dev/size")" ] || fail "/dev/$dev is smaller than $nblocks blocks"
# Held open for the whole test: the last close of a block device drops its page cache, and the
# cached reads below must find the pages the device filled earlier.
exec 3< "/dev/$dev"

# The read-only region: the sha256 of each 256 KiB chunk as the disk holds it (O_DIRECT).
CH=262144
cache_skip=$((${vtest_cache%%:*} * 4))
nchunks=${vtest_cache#*:}
[ $(((cache_skip + nchunks) * 512)) -le "$(cat "/sys/block/$dev/size")" ] || fail "/dev/$dev is too small for vtest_cache=$vtest_cache"
c=0
while [ $c -lt "$nchunks" ]; do
  sum=$(dd if="/dev/$dev" bs=$CH skip=$((cache_skip + c)) count=1 iflag=direct 2>/tmp/dd.err | sha256sum)
  grep -q '^1+0 records in' /tmp/dd.err || fail "I/O error reading chunk $c: $(tr '\n' ' ' < /tmp/dd.err)"
  echo "${sum%% *}" > "/tmp/chunk.$c"
  c=$((c + 1))
done
cached=0
chunk_check() { # C what: reads chunk C through the page cache and compares its sha256
  sum=$(dd if="/dev/$dev" bs=$CH skip=$((cache_skip + $1)) count=1 2>/tmp/dd.err | sha256sum)
  grep -q '^1+0 records in' /tmp/dd.err || fail "I/O error reading chunk $1 ($2): $(tr '\n' ' ' < /tmp/dd.err)"
  [ "${sum%% *}" = "$(cat "/tmp/chunk.$1")" ] \
    || fail "chunk $1 ($2) read through the page cache has sha256 ${sum%% *}, the disk $(cat "/tmp/chunk.$1")"
  cached=$((cached + 1))
}

block() { # B K: writes block B with sequence number K to /tmp/want
  yes "vmig b=$1 s=$2" | head -c 3968 > /tmp/body
  sum=$(sha256sum < /tmp/body)
  printf '%-127s\n' "VMIG blk=$1 seq=$2 sha256=${sum%% *}" > /tmp/want
  cat /tmp/body >> /tmp/want
}
# After K writes block B holds the last sequence number j < K with j % nblocks = B.
check() { # B K-writes-done what direct|cached...: reads block B each way, compares with what it must hold
  cb=$1
  [ "$cb" -lt "$2" ] || return 0
  s=$((cb + (($2 - 1 - cb) / nblocks) * nblocks))
  what=$3
  shift 3
  block "$cb" "$s"
  for how in "$@"; do
    flag=
    [ "$how" = direct ] && flag=iflag=direct
    # shellcheck disable=SC2086  # flag: no word or one
    dd if="/dev/$dev" of=/tmp/got bs=$BS skip="$cb" count=1 $flag 2>/tmp/dd.err \
      || fail "I/O error reading block $cb ($what, $how): $(tr '\n' ' ' < /tmp/dd.err)"
    cmp -s /tmp/want /tmp/got \
      || fail "block $cb ($what, $how) should hold seq $s, reads '$(head -c 80 /tmp/got | tr -c '[:print:]' '.')'"
    verified=$((verified + 1))
  done
}

k=0
verified=0
while [ ! -e /tmp/stop ]; do
  b=$((k % nblocks))
  block "$b" "$k"
  dd if=/tmp/want of="/dev/$dev" bs=$BS seek="$b" count=1 oflag=direct conv=notrunc,fsync 2>/tmp/dd.err \
    || fail "I/O error writing block $b seq $k: $(tr '\n' ' ' < /tmp/dd.err)"
  k=$((k + 1))
  check "$b" "$k" "read-back" direct cached
  check $(((b + nblocks / 2) % nblocks)) "$k" "older" cached
  chunk_check $((k % nchunks)) "page cache"
  echo "VTEST-PROGRESS: writes=$k verified=$verified chunks=$cached"
done

final=0
b=0
while [ $b -lt $nblocks ]; do
  v=$verified
  check "$b" "$k" "final check" cached direct
  [ $verified -eq $v ] || final=$((final + 1))
  b=$((b + 1))
done
c=0
while [ $c -lt "$nchunks" ]; do chunk_check $c "final check"; c=$((c + 1)); done
sync
echo "VTEST-INFO: migrate blk final writes=$k blocks=$nblocks verified=$verified final=$final chunks=$cached"
echo "wrote $k blocks, verified $verified block reads and $cached cached chunk reads, $final blocks and $nchunks chunks in the final check" > /tmp/vtest.detail
exit 0
