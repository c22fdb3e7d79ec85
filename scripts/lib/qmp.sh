# shellcheck shell=bash
# A QMP client in bash for the guest test scripts: one session per QEMU over its QMP unix socket
# (`-qmp unix:SOCK,server=on,wait=off`), through socat and two FIFOs in $WORK. Sourced after
# scripts/lib/harness.sh (uses WORK, log, harness_error, stop_pid).
#
#   qmp_open NAME SOCK       connects (bounded), reads the greeting, negotiates capabilities
#   qmp NAME JSON [TIMEOUT]  sends one command, prints its one-line reply ("return" or "error");
#                            asynchronous events read meanwhile go to $WORK/qmp-NAME.events.
#                            Status 1 when the reply is an error, 2 when none came in TIMEOUT s
#   qmp_close NAME           closes the session and stops its socat by PID
#   json_num KEY <<< LINE    the numeric value of "KEY" in a one-line JSON text (the last one
#                            when KEY occurs more than once)
#   json_str KEY <<< LINE    the string value of "KEY" (likewise)
# QEMU prints every QMP message on one line, which is what the two extractors rely on.

declare -A QMP_PID=() QMP_IN=() QMP_OUT=()

qmp_open() { # name sock
  local name=$1 sock=$2 in=$WORK/qmp-$1.in out=$WORK/qmp-$1.out line i wfd rfd
  for ((i = 0; i < 100; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || harness_error "QMP socket $sock of $name did not appear within 10 s"
  rm -f "$in" "$out"
  mkfifo "$in" "$out" || harness_error "mkfifo for the QMP session of $name failed"
  socat - "UNIX-CONNECT:$sock" <"$in" >"$out" 2>"$WORK/qmp-$name.err" &
  QMP_PID[$name]=$!
  # both FIFOs opened read-write: neither open blocks, whatever socat's state
  exec {wfd}<>"$in" {rfd}<>"$out"
  QMP_IN[$name]=$wfd; QMP_OUT[$name]=$rfd
  read -r -t 10 -u "$rfd" line || harness_error "no QMP greeting from $name ($(cat "$WORK/qmp-$name.err"))"
  case "$line" in '{"QMP":'*) ;; *) harness_error "unexpected QMP greeting from $name: $line" ;; esac
  qmp "$name" '{"execute": "qmp_capabilities"}' >/dev/null || harness_error "qmp_capabilities refused by $name"
}

qmp() { # name json [timeout-seconds]
  local name=$1 json=$2 timeout=${3:-10} line deadline left
  [ -n "${QMP_IN[$name]:-}" ] || harness_error "no QMP session named $name"
  echo "$json" >&"${QMP_IN[$name]}"
  deadline=$(( $(date +%s) + timeout ))
  while :; do
    left=$(( deadline - $(date +%s) ))
    # one read for the whole line (a read that times out would drop what it had read)
    [ "$left" -gt 0 ] && read -r -t "$left" -u "${QMP_OUT[$name]}" line || break
    case "$line" in
      '{"event":'*) echo "$line" >> "$WORK/qmp-$name.events" ;;
      '{"return"'*) echo "$line"; return 0 ;;
      '{"error"'*) echo "$line"; return 1 ;;
      *) echo "$line" >> "$WORK/qmp-$name.events" ;;
    esac
  done
  return 2
}

qmp_close() { # name
  local name=$1 wfd rfd
  [ -n "${QMP_PID[$name]:-}" ] || return 0
  wfd=${QMP_IN[$name]}; rfd=${QMP_OUT[$name]}
  exec {wfd}>&- {rfd}<&-
  stop_pid "${QMP_PID[$name]}" 2
  unset "QMP_PID[$name]" "QMP_IN[$name]" "QMP_OUT[$name]"
}

json_num() { sed -n "s/.*\"$1\": *\\(-\\{0,1\\}[0-9][0-9]*\\).*/\\1/p" | head -n1; }
json_str() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" | head -n1; }
