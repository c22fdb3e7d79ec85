# Shared by the bench scripts (sourced): the processes a bench starts, stopped by PID on exit, and
# waiting for a back-end's socket.
#   bench_setup WORKDIR   makes WORKDIR the run's scratch folder (removed on exit) and installs the
#                         EXIT/INT/TERM trap; append every started PID to the array `pids`.
#   wait_socket PATH      waits up to 20 s for PATH to be a socket (returns 1 and says so if not).
#   stop_pid PID          SIGTERM, up to 5 s, then SIGKILL.

pids=()
bench_work=""

stop_pid() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do stop_pid "$p"; done
  [ -n "$bench_work" ] && rm -rf "$bench_work"
  return 0
}

bench_setup() {
  bench_work=$1
  trap bench_cleanup EXIT INT TERM
}

wait_socket() {
  for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.1; done
  echo "no socket $1" >&2
  return 1
}
