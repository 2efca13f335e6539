# Helpers the peer benchmarks share; sourced, not run. They use $WORK (the run's
# scratch directory) and CTL_<name> (the fd of a started process's control FIFO).

# Makes the run's scratch directory $WORK and the list $PIDS of processes to stop; on
# exit both are cleaned up.
start_work() {
  WORK=$(mktemp -d)
  PIDS=()
  trap stop_work EXIT
}
stop_work() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
# N lines of exactly 100 bytes (the index in ten digits, '-', 89 x's; the newline is
# the delimiter of kcat and our CLI, not part of the record) into FILE.
write_records() { # N FILE
  python3 - "$1" >"$2" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    out.write(f"{i:010d}-" + "x" * 89 + "\n")
PY
}

# Waits for the first line of FILE.out (a bootstrap string), or fails with FILE.err.
wait_first_line() {
  for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "no bootstrap line in $1" >&2; cat "${1%.out}.err" >&2; exit 1
}
# Sends one command to the process NAME and prints its answer line.
control() { # NAME COMMAND
  local name=$1 fd; shift
  fd=$(eval echo "\$CTL_$name")
  local before; before=$(wc -l <"$WORK/$name.out")
  echo "$*" >&"$fd"
  for _ in $(seq 200); do
    [ "$(wc -l <"$WORK/$name.out")" -gt "$before" ] && { tail -1 "$WORK/$name.out"; return 0; }
    sleep 0.05
  done
  echo "no answer to $*" >&2; exit 1
}
