#!/bin/sh
# Guest half of the virtio-net interop test (run by /init with vtest=net): the guest's own
# virtio_net driver brings eth0 up with vtest_ip (CIDR) and pings vtest_peer.
# Kernel parameters:
#   vtest_ip=10.213.9.2/24   address for eth0
#   vtest_peer=10.213.9.1    address to ping (inside the host test's own network namespace)
#   vtest_count=3            echo requests
# Prints "VTEST-INFO: net eth0 mac=...", "VTEST-INFO: net features=B" (the negotiated feature
# bits, one character per bit from bit 0) and the ping summary.
fail() { echo "$*" > /tmp/vtest.detail; echo "VTEST-ERROR: $*"; exit 1; }
ipaddr=${vtest_ip:-10.213.9.2/24}
peer=${vtest_peer:-10.213.9.1}
count=${vtest_count:-3}

i=0
while [ ! -e /sys/class/net/eth0 ]; do
  i=$((i + 1))
  [ $i -le 100 ] || fail "eth0 did not appear within 10 s ($(ls /sys/class/net | tr '\n' ' '))"
  sleep 0.1
done
echo "VTEST-INFO: net eth0 mac=$(cat /sys/class/net/eth0/address) mtu=$(cat /sys/class/net/eth0/mtu)"
# the negotiated feature bits, one '0'/'1' per bit from bit 0 (virtio core sysfs attribute)
echo "VTEST-INFO: net features=$(cat /sys/class/net/eth0/device/features 2>/dev/null)"
ip link set lo up
ip link set eth0 up || fail "ip link set eth0 up failed"
ip addr add "$ipaddr" dev eth0 || fail "ip addr add $ipaddr failed"
out=$(ping -c "$count" -W 3 "$peer" 2>&1)
rc=$?
echo "$out" | sed 's/^/VTEST-INFO: /'
[ $rc -eq 0 ] || fail "ping $peer failed (status $rc)"
echo "$out" | grep -q " 0% packet loss" || fail "ping $peer lost packets: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
echo "net ping $peer: $count/$count replies" > /tmp/vtest.detail
exit 0
