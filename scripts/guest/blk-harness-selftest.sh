#!/usr/bin/env bash
# Self-test of blk-guest-test.sh: proves the harness fails when the back-end misbehaves, by
# running it (BACKEND=vhost) against small fake `vhost` launchers built on qemu-storage-daemon.
#   ok        serves the image                          -> expect exit 0
#   readonly  serves it with writable=off              -> expect exit 1 (guest write fails)
#   otherimg  serves a copy of the image               -> expect exit 1 (image unchanged)
#   scribble  serves it, then on SIGTERM changes a byte outside the written regions
#                                                      -> expect exit 1 ("nothing else changed")
#   dies      exits before creating the socket         -> expect exit 2
#   nosocket  never creates the socket                 -> expect exit 2 (bounded wait)
# Usage: scripts/guest/blk-harness-selftest.sh [case...]   (default: all cases)
# Each launcher runs qemu-storage-daemon as a child (no exec), so the harness must stop the
# back-end's whole process group. Exit 0 when every case gave the expected status, 1 otherwise,
# 77 skipped (no qemu-storage-daemon, not CI), 2 no qemu-storage-daemon with CI=true, 64 usage.
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! command -v qemu-storage-daemon >/dev/null 2>&1; then
  [ "${CI:-}" = true ] && { echo "selftest: ERROR: qemu-storage-daemon missing (CI=true)" >&2; exit 2; }
  echo "selftest: SKIP: qemu-storage-daemon missing (package qemu-system-common)"; exit 77
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blk-harness-selftest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cat > "$WORK/fake-vhost" <<'FAKE'
#!/usr/bin/env bash
# fake `vhost serve blk --image IMG --socket SOCK` for the harness self-test; MODE selects the fault
[ "${1:-} ${2:-}" = "serve blk" ] || { echo "fake-vhost: usage: serve blk --image IMG --socket SOCK" >&2; exit 64; }
shift 2
while [ $# -gt 0 ]; do case $1 in --image) IMG=$2; shift ;; --socket) SOCK=$2; shift ;; esac; shift; done
W=on
case "$MODE" in
  readonly) W=off ;;
  otherimg) cp "$IMG" "$IMG.copy"; IMG=$IMG.copy ;;
  dies) echo "fake-vhost: failing on purpose" >&2; exit 3 ;;
  nosocket) sleep 600 & wait $!; exit 0 ;;
esac
qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$IMG" --blockdev driver=raw,node-name=fmt0,file=file0 \
  --export "type=vhost-user-blk,id=exp0,node-name=fmt0,addr.type=unix,addr.path=$SOCK,writable=$W,num-queues=1" &
QSD=$!
on_term() {
  kill -TERM "$QSD" 2>/dev/null; wait "$QSD"
  if [ "$MODE" = scribble ]; then printf 'X' | dd of="$IMG" bs=1 seek=$((40 * 1048576 + 123)) conv=notrunc status=none; fi
  exit 0
}
trap on_term TERM
wait "$QSD"
FAKE
chmod +x "$WORK/fake-vhost"

declare -A EXPECT=([ok]=0 [readonly]=1 [otherimg]=1 [scribble]=1 [dies]=2 [nosocket]=2)
CASES=("$@"); [ ${#CASES[@]} -gt 0 ] || CASES=(ok readonly otherimg scribble dies nosocket)
bad=0
for c in "${CASES[@]}"; do
  [ -n "${EXPECT[$c]:-}" ] || { echo "selftest: unknown case $c" >&2; exit 64; }
  start=$(date +%s)
  MODE=$c VHOST_CMD="$WORK/fake-vhost" BACKEND_TIMEOUT=5 TMPDIR=$WORK CI='' \
    "$HERE/blk-guest-test.sh" vhost > "$WORK/$c.log" 2>&1
  rc=$?
  why=$(grep -m1 -E 'FAIL:|ERROR:|PASS in' "$WORK/$c.log" | sed 's/^blk-guest-test\[vhost\]: //')
  if [ "$rc" -eq "${EXPECT[$c]}" ]; then
    echo "selftest: case $c: exit $rc as expected ($(( $(date +%s) - start )) s): $why"
  else
    bad=$((bad + 1))
    echo "selftest: case $c: exit $rc, expected ${EXPECT[$c]}:"; sed 's/^/    /' "$WORK/$c.log"
  fi
done
leftover=$(pgrep -f "$WORK/" || true)
if [ -n "$leftover" ]; then bad=$((bad + 1)); echo "selftest: processes left behind: $leftover"; fi
echo "selftest: $(( ${#CASES[@]} - bad < 0 ? 0 : ${#CASES[@]} - bad )) of ${#CASES[@]} cases as expected"
[ $bad -eq 0 ]
