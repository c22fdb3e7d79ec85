# Shared by the bench scripts (sourced): the processes a bench starts, stopped by PID on exit, and
# waiting for a back-end's socket.
#   bench_setup WORKDIR   makes WORKDIR the run's scratch folder (removed on exit) and installs the
#                         EXIT/INT/TERM trap; append every started PID to the array `pids`.
#   wait_socket PATH      waits up to 20 s for PATH to be a socket (returns 1 and says so if not).
#   stop_pid PID          SIGTERM, up to 5 s, then SIGKILL.
#   cpu_ticks PID         the process's CPU time so far (user + system, all threads) in clock ticks.
#   cpu_line T0 T1 SECS   "cpu 4.91 s, 98 % of one CPU" for ticks T0..T1 over SECS seconds of wall time.

declare -p pids >/dev/null 2>&1 || pids=() # a script's own list is kept
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

cpu_ticks() {
  # fields 14 and 15 of /proc/PID/stat (utime, stime); the command name (field 2) may hold spaces
  sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0
}

cpu_line() {
  awk -v a="$1" -v b="$2" -v s="$3" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { c = (b - a) / hz; printf "cpu %.2f s, %.0f %% of one CPU\n", c, (s > 0 ? 100 * c / s : 0) }'
}

wait_socket() {
  for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.1; done
  echo "no socket $1" >&2
  return 1
}

# bench_json NAME KEY=VALUE...: writes build/bench/NAME.json (issue #13: one results table that
# can be compared across commits) with the commit, the UTC time, the machine (CPUs, CPU model,
# load average, kernel) and the results; a VALUE that is a number is written as a JSON number,
# anything else as a string. Prints the file's path on stderr.
bench_json() {
  local name=$1
  shift
  local top
  top=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel 2>/dev/null || pwd)
  mkdir -p "$top/build/bench"
  python3 - "$top/build/bench/$name.json" "$name" "$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$@" <<'PY'
import json, os, platform, re, sys, time
path, name, commit, pairs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def value(v):
    if re.fullmatch(r'-?\d+', v):
        return int(v)
    return float(v) if re.fullmatch(r'-?\d+\.\d+([eE][-+]?\d+)?', v) else v
model = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
doc = {
    "name": name,
    "commit": commit,
    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "machine": {"cpus": os.cpu_count(), "cpu": model, "load": open("/proc/loadavg").read().split()[:3],
                "kernel": platform.release()},
    "results": {k: value(v) for k, v in (p.split("=", 1) for p in pairs)},
}
with open(path, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print("results: " + path, file=sys.stderr)
PY
}
