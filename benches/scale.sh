#!/usr/bin/env bash
# The producer at scale (issue 7): `actix-kafka perf produce --api batch` (acks=all,
# idempotent, the producer's defaults otherwise) against the release `actix-kafka broker`
# (3 nodes, in memory) running as a process of its own, so that the producer's peak RSS
# (VmHWM, the `peak_rss_bytes` of `perf --json`) is the client's alone: an embedded
# cluster in the perf process would add the broker's stored log.
#
#   1. partitions 1, 10, 100, 1000 at 100-B records;
#   2. record sizes 10 B, 100 B, 1 KiB, 100 KiB at 6 partitions;
#   3. "peak RSS with the buffer full": 1-KiB records while the broker is frozen
#      (SIGSTOP) for STOP_SECONDS, at the default 32 MiB budget and at 128 MiB; the
#      producer must wait for room, not grow.
#
# Every row gets a fresh broker process (its log lives in memory: a restart frees it,
# there is no delete-topic control line) and must store every record: perf's exit
# status says every record was acknowledged, and the partitions' end offsets (kcat -Q,
# ListOffsets) must add up to RECORDS.
#
#   benches/scale.sh                 # about 1½ minutes on 2 cores
#   SCALE=0.2 benches/scale.sh       # a fifth of the records, a quick look
#   STOP_SECONDS=5 PARTS=full benches/scale.sh   # only part 3 (PARTS="throughput full")
#
# Builds the release binary into $CARGO_TARGET_DIR (default target). Not part of CI.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/peers/common.sh"
cd "$HERE/.."
TARGET=$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)
SCALE=${SCALE:-1}
STOP_SECONDS=${STOP_SECONDS:-3}
PARTS=${PARTS:-"throughput full"}
log() { echo "scale.sh: $*" >&2; }
records() { awk -v n="$1" -v s="$SCALE" 'BEGIN { r = int(n * s); print (r < 1 ? 1 : r) }'; }

log "building actix-kafka (release)"
cargo build --release --features cli --quiet --bin actix-kafka
BIN=$TARGET/release/actix-kafka

WORK=$(mktemp -d)
BROKER=
cleanup() {
  [ -z "$BROKER" ] || { kill -CONT "$BROKER" 2>/dev/null; kill "$BROKER" 2>/dev/null; } || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start_broker() { # TOPIC PARTITIONS: sets BROKER (pid) and BOOTSTRAP
  rm -f "$WORK/broker.ctl" "$WORK/broker.out" "$WORK/broker.err"
  mkfifo "$WORK/broker.ctl"
  RUST_LOG=warn "$BIN" broker --listen 127.0.0.1:0 --nodes 3 --control-stdin \
    <"$WORK/broker.ctl" >"$WORK/broker.out" 2>"$WORK/broker.err" &
  BROKER=$!
  exec {CTL}>"$WORK/broker.ctl"
  CTL_broker=$CTL
  wait_first_line "$WORK/broker.out"
  BOOTSTRAP=$(head -1 "$WORK/broker.out" | sed 's/^BOOTSTRAP=//')
  local answer
  answer=$(control broker "create-topic $1 $2")
  [[ "$answer" == ok* ]] || { log "create-topic $1 $2: $answer"; exit 1; }
}
stop_broker() {
  kill "$BROKER"
  wait "$BROKER" || log "the broker exited with $?"
  exec {CTL_broker}>&-
  BROKER=
}
rss_mib() { # PID -> its VmRSS (or FIELD) in MiB, "-" once it is gone
  awk -v f="${2:-VmRSS}:" '$1 == f { printf "%.0f", $2 / 1024; found = 1 } END { if (!found) print "-" }' \
    "/proc/$1/status" 2>/dev/null || echo "-"
}
stored() { # TOPIC PARTITIONS -> the sum of the partitions' end offsets
  local args=() p
  for ((p = 0; p < $2; p++)); do args+=(-t "$1:$p:-1"); done
  kcat -Q -b "$BOOTSTRAP" "${args[@]}" 2>/dev/null | awk '{ n += $NF } END { print n + 0 }'
}
field() { # JSON KEY -> its value
  sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"
}
perf() { # TOPIC RECORDS SIZE [ARGS...]: runs perf produce against $BOOTSTRAP, JSON on stdout
  local topic=$1 records=$2 size=$3
  shift 3
  RUST_LOG=warn "$BIN" perf produce --brokers "$BOOTSTRAP" --topic "$topic" --records "$records" \
    --record-size "$size" --api batch --json "$@"
}
check() { # JSON STATUS TOPIC PARTITIONS RECORDS -> "yes" or why not
  local json=$1 status=$2 count
  count=$(stored "$3" "$4")
  if [ "$status" -ne 0 ]; then echo "NO: perf exit $status, $(field "$json" ok) ok"
  elif [ "$count" -ne "$5" ]; then echo "NO: $count stored"
  else echo yes; fi
}

# --- 1 and 2: throughput ------------------------------------------------------------------
ROWS=()
row() { # PARTITIONS SIZE RECORDS [PERF ARGS...]
  local partitions=$1 size=$2 n status json ok broker_rss
  n=$(records "$3")
  shift 3
  log "$partitions partitions, $size-B records: $n records"
  start_broker scale "$partitions"
  status=0
  json=$(perf scale "$n" "$size" "$@") || status=$?
  ok=$(check "$json" "$status" scale "$partitions" "$n")
  broker_rss=$(rss_mib "$BROKER")
  stop_broker
  ROWS+=("$(awk -v p="$partitions" -v s="$size" -v n="$n" -v r="$(field "$json" records_per_sec)" \
    -v mb="$(field "$json" mb_per_sec)" -v cpu="$(field "$json" cpu_us_per_record)" \
    -v p99="$(field "$json" p99_ms)" -v rss="$(field "$json" peak_rss_bytes)" -v b="$broker_rss" -v ok="$ok" \
    'BEGIN { printf "| %10d | %6d | %9d | %10.0f | %7.1f | %10.3f | %7.1f | %7.0f | %10s | %s |", p, s, n, r, mb,
      cpu, p99, rss / 1048576, b, ok }')")
}

# Records: a few seconds each on 2 cores, at most ~2 GB in the broker. 100 KiB records go
# 100 per ProduceBatch (the default 10,000 would be a 1-GB call).
if [[ " $PARTS " == *" throughput "* ]]; then
  for partitions in 1 10 100 1000; do row "$partitions" 100 6000000; done
  row 6 10 6000000
  row 6 100 6000000
  row 6 1024 1500000
  row 6 102400 20000 --batch-records 100
fi

# --- 3: peak RSS with the buffer full --------------------------------------------------------
# 1-KiB records, 10,000 per ProduceBatch, up to IN_FLIGHT batches outstanding: the perf
# driver holds a window of IN_FLIGHT × ~9.8 MiB of records it made and that are not
# answered yet (admitted by the producer, or waiting in its mailbox for budget). With
# the broker frozen the driver fills that window within a second; the producer admits
# what fits the budget and the rest waits. RSS ≈ baseline + the window + what the
# producer adds per admitted record (bounded by the budget): it must stay flat while the
# broker is stopped, and be the same for a stop twice as long.
FULL=()
full() { # BUDGET_MIB IN_FLIGHT STOP_SECONDS
  local budget=$1 in_flight=$2 stop=$3 n pid status json ok during peak window
  n=$(records 1500000)
  window=$((in_flight * 10000 * 1024 / 1048576))
  log "buffer full: budget $budget MiB, window $window MiB, broker stopped for $stop s, $n 1-KiB records"
  start_broker full 6
  # Not through perf(): $! must be the producer's own pid, for its VmRSS.
  RUST_LOG=warn "$BIN" perf produce --brokers "$BOOTSTRAP" --topic full --records "$n" --record-size 1024 \
    --api batch --json --buffer-bytes $((budget * 1048576)) --batches-in-flight "$in_flight" >"$WORK/full.json" &
  pid=$!
  sleep 1 # the producer is up and sending
  during=-
  if [ "$stop" -gt 0 ]; then
    kill -STOP "$BROKER"
    sleep "$stop"
    during=$(rss_mib "$pid")
    kill -CONT "$BROKER"
  fi
  status=0
  wait "$pid" || status=$?
  json=$(cat "$WORK/full.json")
  ok=$(check "$json" "$status" full 6 "$n")
  stop_broker
  peak=$(field "$json" peak_rss_bytes)
  FULL+=("$(awk -v b="$budget" -v w="$window" -v s="$stop" -v n="$n" -v d="$during" -v rss="$peak" \
    -v r="$(field "$json" records_per_sec)" -v ok="$ok" \
    'BEGIN { printf "| %10d | %10d | %6d | %8d | %14s | %12.0f | %19.0f | %9.0f | %s |", b, w, s, n, d,
      rss / 1048576, rss / 1048576 - w, r, ok }')")
}
if [[ " $PARTS " == *" full "* ]]; then
  full 32 16 0
  full 32 16 "$STOP_SECONDS"
  full 32 16 $((STOP_SECONDS * 2))
  full 128 16 "$STOP_SECONDS"
  full 128 16 $((STOP_SECONDS * 2))
  full 128 4 "$STOP_SECONDS" # a window under the budget: the budget never fills
  full 32 32 "$STOP_SECONDS" # twice the window: the waiting records are the caller's
fi

# --- the tables -------------------------------------------------------------------------
echo "Producer scale: perf produce --api batch, acks=all, idempotent, against a separate 3-node"
echo "actix-kafka broker (in memory), a fresh broker per row; $(nproc) cores; $(date -u +%Y-%m-%d); SCALE=$SCALE"
if [ ${#ROWS[@]} -gt 0 ]; then
  echo
  echo "RSS: the producer process's peak; broker: the broker process's RSS after the row"
  echo
  echo "| partitions | size B |   records |  records/s |    MB/s | CPU µs/rec |  p99 ms | RSS MiB | broker MiB | stored |"
  echo "|-----------:|-------:|----------:|-----------:|--------:|-----------:|--------:|--------:|-----------:|--------|"
  printf '%s\n' "${ROWS[@]}"
fi
if [ ${#FULL[@]} -gt 0 ]; then
  echo
  echo "Peak RSS with the buffer full: 1-KiB records, 6 partitions, 10,000 per ProduceBatch; window: the"
  echo "driver's records outstanding (--batches-in-flight × 10,000 KiB); the broker SIGSTOPped one second into"
  echo "the run; RSS during: the producer's VmRSS at the end of the stop (- if it had already finished)"
  echo
  echo "| budget MiB | window MiB | stop s |  records | RSS during MiB | peak RSS MiB | peak − window MiB | records/s | stored |"
  echo "|-----------:|-----------:|-------:|---------:|---------------:|-------------:|------------------:|----------:|--------|"
  printf '%s\n' "${FULL[@]}"
fi
