#!/usr/bin/env bash
# kcat (librdkafka 2.16) produces 1M 100-byte records to the embedded broker (the
# release `actix-kafka broker`, 3 nodes, in memory and with --data-dir) and to
# librdkafka 2.16's mock cluster (3 brokers), in the same run, with acks=1 and with
# acks=all, into a fresh 6-partition topic each time. Prints records/s (kcat's wall
# clock, from its first record read to its last delivery report), the CPU seconds
# (user+system, from /proc/PID/stat, all threads) the broker process spent on that run,
# and how many records the topic then holds (ListOffsets, kcat -Q): it must be RECORDS.
#
#   benches/peers/broker_bench.sh [RECORDS]        # default 1000000
#
# Needs the peers (.ci/install-peers) and builds `cargo build --release --features cli`
# into $CARGO_TARGET_DIR (default target). Compare within one run: on a shared 2-core
# machine figures move by ±30 % from run to run.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
cd "$(dirname "$0")/../.."
RECORDS=${1:-1000000}
TARGET=${CARGO_TARGET_DIR:-target}
eval "$(.ci/install-peers 2>/dev/null)"
cargo build --release --features cli --quiet
BIN=$TARGET/release/actix-kafka
start_work
TICKS=$(getconf CLK_TCK)

write_records "$RECORDS" "$WORK/records"

cpu_seconds() { # PID -> user+system seconds so far
  awk -v t="$TICKS" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$1/stat"
}

# start_broker NAME ARGS... : runs a broker with a FIFO on stdin; sets PID and BOOTSTRAP.
start_embedded() {
  local name=$1; shift
  mkfifo "$WORK/$name.ctl"
  RUST_LOG=warn "$BIN" broker --listen 127.0.0.1:0 --nodes 3 --control-stdin "$@" \
    <"$WORK/$name.ctl" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PID=$!; PIDS+=("$PID")
  exec {CTL}>"$WORK/$name.ctl"
  eval "CTL_$name=$CTL"
  wait_first_line "$WORK/$name.out"
  BOOTSTRAP=$(head -1 "$WORK/$name.out" | sed 's/^BOOTSTRAP=//')
}
start_mock() {
  local name=$1
  mkfifo "$WORK/$name.ctl"
  python3 tests/peers/mock_cluster.py --lib "$PEERS_LIBRDKAFKA" -n 3 bench-acks1:6 bench-acksall:6 \
    <"$WORK/$name.ctl" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PID=$!; PIDS+=("$PID")
  exec {CTL}>"$WORK/$name.ctl"
  eval "CTL_$name=$CTL"
  wait_first_line "$WORK/$name.out"
  BOOTSTRAP=$(head -1 "$WORK/$name.out")
}

run() { # LABEL PID BOOTSTRAP ACKS TOPIC
  local label=$1 pid=$2 bootstrap=$3 acks=$4 topic=$5
  local cpu0 cpu1 t0 t1
  cpu0=$(cpu_seconds "$pid")
  t0=$(date +%s.%N)
  LD_LIBRARY_PATH=$PEERS_LIBDIR kcat -P -b "$bootstrap" -t "$topic" -X acks="$acks" -X linger.ms=5 \
    -X batch.num.messages=10000 -X queue.buffering.max.messages=2000000 -X queue.buffering.max.kbytes=2097151 \
    -X message.timeout.ms=120000 <"$WORK/records"
  t1=$(date +%s.%N)
  cpu1=$(cpu_seconds "$pid")
  local stored; stored=$(stored "$bootstrap" "$topic")
  awk -v l="$label" -v a="$acks" -v n="$RECORDS" -v t0="$t0" -v t1="$t1" -v c0="$cpu0" -v c1="$cpu1" -v s="$stored" \
    'BEGIN { printf "%-30s acks=%-4s %9.0f records/s  %5.2f s  broker CPU %5.2f s  stored %d\n", l, a, n / (t1 - t0), t1 - t0, c1 - c0, s }'
  [ "$stored" -eq "$RECORDS" ] || { echo "$label: $stored records stored, not $RECORDS" >&2; exit 1; }
}

stored() { # BOOTSTRAP TOPIC -> the sum of the 6 partitions' end offsets (ListOffsets)
  local args=() p
  for p in 0 1 2 3 4 5; do args+=(-t "$2:$p:-1"); done
  LD_LIBRARY_PATH=$PEERS_LIBDIR kcat -Q -b "$1" "${args[@]}" 2>/dev/null | awk '{ n += $NF } END { print n + 0 }'
}

start_embedded mem
MEM_PID=$PID MEM_BOOT=$BOOTSTRAP
start_embedded disk --data-dir "$WORK/data"
DISK_PID=$PID DISK_BOOT=$BOOTSTRAP
start_mock mock
MOCK_PID=$PID MOCK_BOOT=$BOOTSTRAP
control mock "initial-rebalance-delay 0" >/dev/null
for name in mem disk; do
  for acks in 1 all; do control "$name" "create-topic bench-acks$acks 6" >/dev/null; done
done

echo "kcat (librdkafka 2.16) -P, $RECORDS x 100-byte records, 6 partitions on 3 nodes, linger.ms=5"
for acks in 1 all; do
  run "embedded broker (memory)" "$MEM_PID" "$MEM_BOOT" "$acks" "bench-acks$acks"
  run "embedded broker (--data-dir)" "$DISK_PID" "$DISK_BOOT" "$acks" "bench-acks$acks"
  run "librdkafka 2.16 mock cluster" "$MOCK_PID" "$MOCK_BOOT" "$acks" "bench-acks$acks"
done
