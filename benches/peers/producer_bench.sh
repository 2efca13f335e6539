#!/usr/bin/env bash
# Our producer against kcat, in the same run: RECORDS 100-byte records, acks=all, into a
# fresh 6-partition topic each time, on librdkafka 2.16's mock cluster (3 brokers) and on
# the embedded broker (the release `actix-kafka broker`, 3 nodes, in memory). Four
# producers per cluster:
#
#   kcat            librdkafka 2.16 `kcat -P` (linger.ms=5, batch.num.messages=10000)
#   ours: send      examples/produce_bench --api send: one Produce per record,
#                   send().await, 10,000 replies outstanding
#   ours: batch     examples/produce_bench --api batch: ProduceBatch of 10,000, 4 outstanding
#   ours: CLI       `actix-kafka produce` reading the same file as kcat
#
# and one table of records/s (wall clock, first record to last acknowledgement; the
# CLI's and kcat's include reading the file). Every run's topic must then hold RECORDS
# records (ListOffsets through kcat -Q).
#
#   benches/peers/producer_bench.sh [RECORDS]        # default 1000000
#
# Needs the peers (.ci/install-peers); builds the release binary and example into
# $CARGO_TARGET_DIR (default target). Compare within one run: on a shared 2-core machine
# figures move by ±30 % from run to run.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
cd "$(dirname "$0")/../.."
RECORDS=${1:-1000000}
TARGET=${CARGO_TARGET_DIR:-target}
eval "$(.ci/install-peers 2>/dev/null)"
cargo build --release --features cli --quiet --bin actix-kafka --example produce_bench
BIN=$TARGET/release/actix-kafka
BENCH=$TARGET/release/examples/produce_bench
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
TOPICS=(kcat send batch cli)

# RECORDS lines of exactly 100 bytes (the newline is the delimiter, not part of it).
python3 - "$RECORDS" >"$WORK/records" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    out.write(f"{i:010d}-" + "x" * 89 + "\n")
PY

start_embedded() { # NAME: sets BOOTSTRAP
  local name=$1
  mkfifo "$WORK/$name.ctl"
  RUST_LOG=warn "$BIN" broker --listen 127.0.0.1:0 --nodes 3 --control-stdin \
    <"$WORK/$name.ctl" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=("$!")
  exec {CTL}>"$WORK/$name.ctl"
  eval "CTL_$name=$CTL"
  wait_first_line "$WORK/$name.out"
  BOOTSTRAP=$(head -1 "$WORK/$name.out" | sed 's/^BOOTSTRAP=//')
  for topic in "${TOPICS[@]}"; do control "$name" "create-topic bench-$topic 6" >/dev/null; done
}
start_mock() { # NAME: sets BOOTSTRAP
  local name=$1 topics=()
  for topic in "${TOPICS[@]}"; do topics+=("bench-$topic:6"); done
  mkfifo "$WORK/$name.ctl"
  python3 tests/peers/mock_cluster.py --lib "$PEERS_LIBRDKAFKA" -n 3 --max-seconds 3600 "${topics[@]}" \
    <"$WORK/$name.ctl" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=("$!")
  exec {CTL}>"$WORK/$name.ctl"
  eval "CTL_$name=$CTL"
  wait_first_line "$WORK/$name.out"
  BOOTSTRAP=$(head -1 "$WORK/$name.out")
}

stored() { # BOOTSTRAP TOPIC -> the sum of the 6 partitions' end offsets (ListOffsets)
  local args=() p
  for p in 0 1 2 3 4 5; do args+=(-t "$2:$p:-1"); done
  LD_LIBRARY_PATH=$PEERS_LIBDIR kcat -Q -b "$1" "${args[@]}" 2>/dev/null | awk '{ n += $NF } END { print n + 0 }'
}

timed() { # COMMAND... -> seconds on stdout; the command's own output goes to $WORK/last.log
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$WORK/last.log" 2>&1 || { echo "failed: $*" >&2; cat "$WORK/last.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

kcat_produce() { # BOOTSTRAP TOPIC
  LD_LIBRARY_PATH=$PEERS_LIBDIR kcat -P -b "$1" -t "$2" -X acks=all -X linger.ms=5 \
    -X batch.num.messages=10000 -X queue.buffering.max.messages=2000000 -X queue.buffering.max.kbytes=2097151 \
    -X message.timeout.ms=120000 <"$WORK/records"
}
cli_produce() { # BOOTSTRAP TOPIC
  RUST_LOG=warn "$BIN" produce --brokers "$1" --topic "$2" --acks all <"$WORK/records"
}

bench() { # LABEL BOOTSTRAP : one table row
  local label=$1 bootstrap=$2 row=() seconds topic
  for topic in "${TOPICS[@]}"; do
    case $topic in
      kcat) seconds=$(timed kcat_produce "$bootstrap" bench-kcat) ;;
      send | batch) seconds=$(timed "$BENCH" --brokers "$bootstrap" --topic "bench-$topic" --api "$topic" \
        --records "$RECORDS" --size 100 --acks all) ;;
      cli) seconds=$(timed cli_produce "$bootstrap" bench-cli) ;;
    esac
    local count; count=$(stored "$bootstrap" "bench-$topic")
    [ "$count" -eq "$RECORDS" ] || { echo "$label $topic: $count records stored, not $RECORDS" >&2; exit 1; }
    row+=("$(awk -v n="$RECORDS" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')")
  done
  printf "| %-28s | %10s | %10s | %10s | %10s |\n" "$label" "${row[@]}"
}

start_mock mock
MOCK_BOOT=$BOOTSTRAP
start_embedded embedded
EMBEDDED_BOOT=$BOOTSTRAP

echo "$RECORDS x 100-byte records, acks=all, 6 partitions on 3 brokers; records/s"
echo
printf "| %-28s | %10s | %10s | %10s | %10s |\n" "cluster" "kcat" "ours: send" "ours: batch" "ours: CLI"
printf "|%s|%s|%s|%s|%s|\n" "------------------------------" "------------" "------------" "------------" "------------"
bench "librdkafka 2.16 mock cluster" "$MOCK_BOOT"
bench "embedded broker (memory)" "$EMBEDDED_BOOT"
