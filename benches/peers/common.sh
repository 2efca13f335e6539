# Helpers the peer benchmarks share; sourced, not run. They use $WORK (the run's
# scratch directory) and CTL_<name> (the fd of a started process's control FIFO).

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
