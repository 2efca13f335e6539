#!/usr/bin/env bash
# Producers side by side, one run, one table: RECORDS 100-byte records (no key), acks=all,
# idempotent where the client supports it, into a fresh 6-partition topic each time, on
# librdkafka 2.16's mock cluster (3 brokers) and on the embedded broker (the release
# `actix-kafka broker`, 3 nodes, in memory), without compression and with lz4.
#
#   ours: batch / send / fire   `actix-kafka perf produce --api batch|send|fire`
#   ours: CLI                   `actix-kafka produce` reading the records file on stdin
#   kcat                        librdkafka 2.16 `kcat -P` from the same file
#   rdkafka Base / Future       rust-rdkafka 0.39 BaseProducer / FutureProducer, linked
#                               dynamically against the same librdkafka 2.16 (the
#                               confluent-kafka wheel's, via a generated pkg-config file)
#   rskafka                     rskafka 0.6, 1,000-record produce calls (no idempotence)
#   sarama                      Debian's sarama 1.22 AsyncProducer (GOPATH build, offline)
#
# librdkafka-based clients get linger.ms=5, batch.num.messages=10000. Records/s is
# RECORDS over the process's wall time (start to exit, connection set-up included, the
# same for every client); CPU µs/record is the process's user + system time over RECORDS
# (GNU time). Every topic must then hold RECORDS records (ListOffsets through kcat -Q).
#
# Then consumers side by side (MODES="produce consume" by default): RECORDS records
# written once per cluster and codec into a 6-partition topic (by our producer, not
# timed), then read from the start of every partition, without a group, by each of:
#
#   ours: perf consume          `actix-kafka perf consume` (counts, acknowledges)
#   ours: consume CLI           `actix-kafka consume --from-beginning --count N >/dev/null`
#   kcat                        `kcat -C -e -o beginning -q -f '%s\n' >/dev/null`
#   rdkafka Base / Stream       rust-rdkafka BaseConsumer / StreamConsumer (assign)
#   rskafka                     rskafka StreamConsumer, one per partition
#
# Records/s and CPU µs per record as for the producers (the whole process, start-up
# included); "stored" is "read": the client counted RECORDS (kcat: it reached every
# partition's end, -e, which its exit status says).
#
# Then latency (MODES="produce consume latency" by default): LATENCY_RECORDS (default
# 100,000) 100-byte records sent at RATE (default 10,000) records/s, acks=all, idempotent
# where supported, no compression, linger 5 ms where the client lingers (ours: its
# default), into a fresh 6-partition topic `lat-<client>` each, by each of LAT_CLIENTS:
#
#   ours: send / fire           `actix-kafka perf produce --api send|fire --throughput RATE`
#   ours: send, linger 0        the same with --linger-ms 0 (rskafka has no linger at all)
#   rdkafka Future / Base       peer-bench --rate RATE: DeliveryFuture / delivery callback
#   rskafka                     peer-bench --rate RATE: one `produce` call per record
#   sarama                      sarama-bench -rate RATE: Metadata time to Successes()
#
# A record's latency runs from just before the client is handed it to its acknowledgement
# (each tool's own clock: ours an HDR histogram, the peers every latency sorted); p50,
# p99, p99.9 and max over the acknowledged records; ratio = the client's p99 over ours:
# send's in the same cluster; "stored" as for the producers. kcat is left out: it cannot
# report per-record latency (its delivery reports carry no send time).
#
#   benches/peers/run.sh [RECORDS]            # default 1000000
#   CLIENTS="batch kcat" CODECS=none CLUSTERS=mock benches/peers/run.sh 200000
#   MODES=consume CONSUMERS="perf-consume kcat" CODECS=none benches/peers/run.sh
#   MODES=latency RATE=10000 LATENCY_RECORDS=20000 LAT_CLIENTS="send rdkafka-future" benches/peers/run.sh
#
# Needs the peers (.ci/install-peers) and, for sarama, Debian's golang-go and
# golang-github-shopify-sarama-dev (installed with apt-get when missing). Builds into
# $CARGO_TARGET_DIR (default target): our release binary, $TARGET/peer-bench (the Rust
# peers) and $TARGET/sarama-bench. Compare within one run: on a shared 2-core machine
# figures move by ±30 % from run to run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
cd "$HERE/../.."
RECORDS=${1:-1000000}
TARGET=$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)
CLIENTS=${CLIENTS:-"batch send fire cli kcat rdkafka-base rdkafka-future rskafka sarama"}
CODECS=${CODECS:-"none lz4"}
CLUSTERS=${CLUSTERS:-"mock embedded"}
MODES=${MODES:-"produce consume latency"}
CONSUMERS=${CONSUMERS:-"perf-consume consume-cli kcat rdkafka-base-consumer rdkafka-stream-consumer rskafka-consumer"}
LAT_CLIENTS=${LAT_CLIENTS:-"send fire send-linger0 rdkafka-future rdkafka-base rskafka sarama"}
RATE=${RATE:-10000}
LATENCY_RECORDS=${LATENCY_RECORDS:-100000}
[[ " $MODES " == *" produce "* ]] || CLIENTS=""
[[ " $MODES " == *" consume "* ]] || CONSUMERS=""
[[ " $MODES " == *" latency "* ]] || LAT_CLIENTS=""
PEER_BENCH= SARAMA_BENCH=
# sarama 1.22's idempotent batches are refused by the embedded broker (INVALID_RECORD):
# SARAMA_IDEMPOTENT=false measures it there without.
SARAMA_IDEMPOTENT=${SARAMA_IDEMPOTENT:-true}
wants() { [[ " $CLIENTS $LAT_CLIENTS " == *" $1 "* ]]; }
log() { echo "run.sh: $*" >&2; }

eval "$(.ci/install-peers 2>/dev/null)"

# --- builds, on demand -----------------------------------------------------------------
log "building actix-kafka (release)"
cargo build --release --features cli --quiet --bin actix-kafka
BIN=$TARGET/release/actix-kafka

consumes() { [[ " $CONSUMERS " == *" $1 "* ]]; }
if wants rdkafka-base || wants rdkafka-future || wants rskafka || consumes rdkafka-base-consumer \
  || consumes rdkafka-stream-consumer || consumes rskafka-consumer; then
  log "building the Rust peers (rust-rdkafka on librdkafka 2.16, rskafka)"
  command -v pkg-config >/dev/null || { apt-get update -qq && apt-get install -y -qq pkg-config; } >&2
  mkdir -p "$TARGET/peer-bench/pkgconfig"
  cat >"$TARGET/peer-bench/pkgconfig/rdkafka.pc" <<EOF
Name: rdkafka
Description: librdkafka 2.16 from the confluent-kafka wheel (.ci/install-peers)
Version: 2.16.1
Libs: -L$PEERS_LIBDIR -lrdkafka
Cflags:
EOF
  PKG_CONFIG_PATH=$TARGET/peer-bench/pkgconfig CARGO_TARGET_DIR=$TARGET/peer-bench/target \
    cargo build --release --quiet --manifest-path benches/peers/rust/Cargo.toml
  PEER_BENCH=$TARGET/peer-bench/target/release/peer-bench
fi

if wants sarama; then
  if [ ! -d /usr/share/gocode/src/github.com/Shopify/sarama ] || ! command -v go >/dev/null; then
    log "apt-get install golang-go golang-github-shopify-sarama-dev"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go \
      golang-github-shopify-sarama-dev; } >&2
  fi
  log "building the sarama bench (GOPATH, offline)"
  mkdir -p "$TARGET/sarama-bench"
  (cd benches/peers/sarama && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= \
    GOCACHE=$TARGET/sarama-bench/cache go build -o "$TARGET/sarama-bench/sarama-bench" main.go) 2>/dev/null
  SARAMA_BENCH=$TARGET/sarama-bench/sarama-bench
fi

# --- clusters --------------------------------------------------------------------------
start_work

TOPICS=()
for codec in $CODECS; do for client in $CLIENTS; do TOPICS+=("bench-$client-$codec"); done; done
[ -z "$CONSUMERS" ] || for codec in $CODECS; do TOPICS+=("bench-consume-$codec"); done
for client in $LAT_CLIENTS; do TOPICS+=("lat-$client"); done

# RECORDS lines of exactly 100 bytes, for kcat and our CLI.
if [[ " $CLIENTS " == *" kcat "* || " $CLIENTS " == *" cli "* ]]; then write_records "$RECORDS" "$WORK/records"; fi

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
  for topic in "${TOPICS[@]}"; do control "$name" "create-topic $topic 6" >/dev/null; done
}
start_mock() { # NAME: sets BOOTSTRAP
  local name=$1 topics=()
  for topic in "${TOPICS[@]}"; do topics+=("$topic:6"); done
  mkfifo "$WORK/$name.ctl"
  python3 tests/peers/mock_cluster.py --lib "$PEERS_LIBRDKAFKA" -n 3 --max-seconds 3600 "${topics[@]}" \
    <"$WORK/$name.ctl" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=("$!")
  exec {CTL}>"$WORK/$name.ctl"
  eval "CTL_$name=$CTL"
  wait_first_line "$WORK/$name.out"
  BOOTSTRAP=$(head -1 "$WORK/$name.out")
}

stored() { # BOOTSTRAP TOPIC [-1|-2] -> the sum of the 6 partitions' end (or start) offsets (ListOffsets)
  local args=() p
  for p in 0 1 2 3 4 5; do args+=(-t "$2:$p:${3:--1}"); done
  LD_LIBRARY_PATH=$PEERS_LIBDIR kcat -Q -b "$1" "${args[@]}" 2>/dev/null | awk '{ n += $NF } END { print n + 0 }'
}

# --- the clients -----------------------------------------------------------------------
produce() { # CLIENT BOOTSTRAP TOPIC CODEC
  local client=$1 bootstrap=$2 topic=$3 codec=$4
  case $client in
    batch | send | fire)
      RUST_LOG=warn "$BIN" perf produce --brokers "$bootstrap" --topic "$topic" --records "$RECORDS" \
        --record-size 100 --acks all --compression "$codec" --api "$client" --window 10000 --json ;;
    cli) RUST_LOG=warn "$BIN" produce --brokers "$bootstrap" --topic "$topic" --acks all -z "$codec" <"$WORK/records" ;;
    kcat)
      LD_LIBRARY_PATH=$PEERS_LIBDIR kcat -P -b "$bootstrap" -t "$topic" -X acks=all -X enable.idempotence=true \
        -X linger.ms=5 -X batch.num.messages=10000 -X queue.buffering.max.messages=1000000 \
        -X queue.buffering.max.kbytes=1048576 -X message.timeout.ms=120000 -X compression.codec="$codec" \
        <"$WORK/records" ;;
    rdkafka-base | rdkafka-future | rskafka)
      LD_LIBRARY_PATH=$PEERS_LIBDIR:$(dirname "$(readlink -f "$PEERS_LIBDIR/librdkafka.so.1")") "$PEER_BENCH" "$client" --brokers "$bootstrap" --topic "$topic" \
        --records "$RECORDS" --size 100 --compression "$codec" ;;
    sarama) "$SARAMA_BENCH" -brokers "$bootstrap" -topic "$topic" -records "$RECORDS" -size 100 -compression "$codec" \
      -idempotent="$SARAMA_IDEMPOTENT" ;;
    *) echo "unknown client $client" >&2; return 2 ;;
  esac
}

consume() { # CLIENT BOOTSTRAP TOPIC
  local client=$1 bootstrap=$2 topic=$3
  case $client in
    perf-consume) RUST_LOG=warn "$BIN" perf consume --brokers "$bootstrap" --topic "$topic" --records "$RECORDS" --json ;;
    consume-cli)
      RUST_LOG=warn "$BIN" consume --brokers "$bootstrap" --topic "$topic" --from-beginning --count "$RECORDS" --timeout-ms 300000 \
        >/dev/null ;;
    kcat) LD_LIBRARY_PATH=$PEERS_LIBDIR kcat -C -b "$bootstrap" -t "$topic" -e -o beginning -q -f '%s\n' >/dev/null ;;
    rdkafka-base-consumer | rdkafka-stream-consumer | rskafka-consumer)
      LD_LIBRARY_PATH=$PEERS_LIBDIR:$(dirname "$(readlink -f "$PEERS_LIBDIR/librdkafka.so.1")") "$PEER_BENCH" "$client" \
        --brokers "$bootstrap" --topic "$topic" --records "$RECORDS" ;;
    *) echo "unknown consumer $client" >&2; return 2 ;;
  esac
}

# LATENCY_RECORDS records at RATE records/s, each timed; prints the client's
# percentile line (ours: its --json summary).
produce_paced() { # CLIENT BOOTSTRAP TOPIC
  local client=$1 bootstrap=$2 topic=$3
  case $client in
    send | fire | send-linger0)
      local linger=()
      [ "$client" = send-linger0 ] && linger=(--linger-ms 0)
      RUST_LOG=warn "$BIN" perf produce --brokers "$bootstrap" --topic "$topic" --records "$LATENCY_RECORDS" \
        --record-size 100 --acks all --api "${client%-linger0}" --throughput "$RATE" "${linger[@]}" --json ;;
    rdkafka-base | rdkafka-future | rskafka)
      LD_LIBRARY_PATH=$PEERS_LIBDIR:$(dirname "$(readlink -f "$PEERS_LIBDIR/librdkafka.so.1")") "$PEER_BENCH" "$client" \
        --brokers "$bootstrap" --topic "$topic" --records "$LATENCY_RECORDS" --size 100 --rate "$RATE" ;;
    sarama) "$SARAMA_BENCH" -brokers "$bootstrap" -topic "$topic" -records "$LATENCY_RECORDS" -size 100 -rate "$RATE" \
      -idempotent="$SARAMA_IDEMPOTENT" ;;
    *) echo "unknown latency client $client" >&2; return 2 ;;
  esac
}

export -f produce consume
export BIN WORK RECORDS PEERS_LIBDIR PEER_BENCH SARAMA_BENCH SARAMA_IDEMPOTENT

label() {
  case $1 in
    batch | send | fire) echo "ours: $1" ;;
    send-linger0) echo "ours: send, linger 0" ;;
    cli) echo "ours: produce CLI (stdin)" ;;
    rdkafka-base) echo "rust-rdkafka BaseProducer" ;;
    rdkafka-future) echo "rust-rdkafka FutureProducer" ;;
    perf-consume) echo "ours: perf consume" ;;
    consume-cli) echo "ours: consume CLI" ;;
    rdkafka-base-consumer) echo "rust-rdkafka BaseConsumer" ;;
    rdkafka-stream-consumer) echo "rust-rdkafka StreamConsumer" ;;
    rskafka-consumer) echo "rskafka StreamConsumer" ;;
    *) echo "$1" ;;
  esac
}

measure() { # [FUNCTION=produce] CLIENT BOOTSTRAP TOPIC CODEC -> "records_per_s cpu_us_per_record" or "failed"
  local run=${FUNCTION:-produce}
  local out="$WORK/$run-$1-$4.log" wall user sys
  if ! /usr/bin/time -f "TIME %e %U %S" -o "$WORK/time" bash -c "$run"' "$@"' "$run" "$@" >"$out" 2>&1; then
    log "$1 ($4) failed:"; tail -5 "$out" >&2; echo "failed"; return
  fi
  read -r _ wall user sys < <(grep '^TIME' "$WORK/time")
  awk -v n="$RECORDS" -v w="$wall" -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f %.3f\n", n / w, (u + s) * 1e6 / n }'
}

row() { # CLUSTER CODEC CLIENT RATE CPU BASE STORED
  local ratio="-"
  [[ "$4" =~ ^[0-9]+$ && "$6" =~ ^[0-9]+$ && "$6" -gt 0 ]] && ratio=$(awk -v a="$4" -v b="$6" 'BEGIN { printf "%.2f", a / b }')
  printf "| %-9s | %-5s | %-28s | %10s | %8s | %6s | %s |\n" "$1" "$2" "$(label "$3")" "$4" "$5" "$ratio" "$7"
}

bench() { # CLUSTER BOOTSTRAP
  local cluster=$1 bootstrap=$2 codec client result rate cpu count base
  for codec in $CODECS; do
    local rows=()
    base=0
    for client in $CLIENTS; do
      log "$cluster $codec $client"
      result=$(measure "$client" "$bootstrap" "bench-$client-$codec" "$codec")
      if [ "$result" = failed ]; then rate=failed cpu=-; else read -r rate cpu <<<"$result"; fi
      count=$(stored "$bootstrap" "bench-$client-$codec")
      [ "$client" = batch ] && base=$rate
      rows+=("$client|$rate|$cpu|$count")
    done
    for entry in "${rows[@]}"; do
      IFS='|' read -r client rate cpu count <<<"$entry"
      local ok="yes"
      [ "$count" -eq "$RECORDS" ] || ok="NO: $count"
      row "$cluster" "$codec" "$client" "$rate" "$cpu" "$base" "$ok"
    done
  done
}

# The value of KEY in a client's output, `KEY=V` (the peers) or `"KEY":V` (ours, JSON),
# to 3 decimals; - when absent.
pick() { # KEY FILE
  grep -oE "\"?$1\"?[=:][0-9.]+" "$2" | tail -1 | sed -E 's/.*[=:]//' | awk '{ printf "%.3f\n", $1 }' | grep . || echo "-"
}

bench_latency() { # CLUSTER BOOTSTRAP
  local cluster=$1 bootstrap=$2 client out p50 p99 p999 max count ok ratio base="-" rows=()
  for client in $LAT_CLIENTS; do
    log "$cluster $client (latency, $LATENCY_RECORDS at $RATE/s)"
    out="$WORK/latency-$cluster-$client.log"
    if produce_paced "$client" "$bootstrap" "lat-$client" >"$out" 2>&1; then
      p50=$(pick p50_ms "$out") p99=$(pick p99_ms "$out") p999=$(pick p999_ms "$out") max=$(pick max_ms "$out")
    else
      log "$client ($cluster, latency) failed:"; tail -5 "$out" >&2
      p50=failed p99=- p999=- max=-
    fi
    count=$(stored "$bootstrap" "lat-$client")
    [ "$client" = send ] && base=$p99
    rows+=("$client|$p50|$p99|$p999|$max|$count")
  done
  for entry in "${rows[@]}"; do
    IFS='|' read -r client p50 p99 p999 max count <<<"$entry"
    ok=yes
    [ "$count" -eq "$LATENCY_RECORDS" ] || ok="NO: $count"
    ratio=$(awk -v a="$p99" -v b="$base" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }')
    printf "| %-9s | %-28s | %8s | %8s | %8s | %8s | %6s | %s |\n" "$cluster" "$(label "$client")" "$p50" "$p99" "$p999" \
      "$max" "$ratio" "$ok"
  done
}

HELD=()
bench_consume() { # CLUSTER BOOTSTRAP
  local cluster=$1 bootstrap=$2 codec client result rate cpu base rows available
  for codec in $CODECS; do
    log "$cluster $codec: filling bench-consume-$codec"
    RUST_LOG=warn "$BIN" perf produce --brokers "$bootstrap" --topic "bench-consume-$codec" --records "$RECORDS" \
      --record-size 100 --acks 1 --compression "$codec" --api batch --json >/dev/null
    # librdkafka's mock keeps only its last few log segments per partition: read what
    # it still holds, and say how many that is.
    available=$(($(stored "$bootstrap" "bench-consume-$codec") - $(stored "$bootstrap" "bench-consume-$codec" -2)))
    [ "$available" -eq "$RECORDS" ] || log "$cluster $codec: the cluster holds $available of the $RECORDS records"
    HELD+=("$cluster $codec: $available")
    rows=()
    base=0
    for client in $CONSUMERS; do
      log "$cluster $codec $client (consume)"
      result=$(RECORDS=$available FUNCTION=consume measure "$client" "$bootstrap" "bench-consume-$codec" "$codec")
      if [ "$result" = failed ]; then rate=failed cpu=-; else read -r rate cpu <<<"$result"; fi
      [ "$client" = perf-consume ] && base=$rate
      rows+=("$client|$rate|$cpu")
    done
    for entry in "${rows[@]}"; do
      IFS='|' read -r client rate cpu <<<"$entry"
      local ok=yes
      [ "$rate" = failed ] && ok=NO
      [ "$client" = kcat ] && [ "$ok" = yes ] && ok="eof"
      row "$cluster" "$codec" "$client" "$rate" "$cpu" "$base" "$ok"
    done
  done
}

BOOTS=()
for cluster in $CLUSTERS; do
  case $cluster in
    mock) start_mock mock ;;
    embedded) start_embedded embedded ;;
    *) echo "unknown cluster $cluster" >&2; exit 2 ;;
  esac
  BOOTS+=("$cluster=$BOOTSTRAP")
done

echo "$RECORDS x 100-byte records (latency: $LATENCY_RECORDS at $RATE/s), 6 partitions on 3 brokers;" \
  "$(nproc) cores; $(date -u +%Y-%m-%d)"
[ -z "$CLIENTS" ] || echo "Producers: acks=all; ratio = records/s over ours: batch in the same cluster and codec"
if [ -n "$CLIENTS" ]; then
  echo
  printf "| %-9s | %-5s | %-28s | %10s | %8s | %6s | %s |\n" cluster codec client "records/s" "CPU µs" ratio stored
  printf "|%s|%s|%s|%s|%s|%s|%s|\n" ----------- ------- ------------------------------ ------------ ---------- -------- --------
  for entry in "${BOOTS[@]}"; do bench "${entry%%=*}" "${entry#*=}"; done
fi
if [ -n "$CONSUMERS" ]; then
  echo
  echo "Consumers: the same RECORDS records read from the start of 6 partitions, no group;" \
    "ratio = records/s over ours: perf consume; read: the client counted them all (kcat: -e reached every end)"
  echo
  printf "| %-9s | %-5s | %-28s | %10s | %8s | %6s | %s |\n" cluster codec client "records/s" "CPU µs" ratio read
  printf "|%s|%s|%s|%s|%s|%s|%s|\n" ----------- ------- ------------------------------ ------------ ---------- -------- --------
  for entry in "${BOOTS[@]}"; do bench_consume "${entry%%=*}" "${entry#*=}"; done
  echo
  echo "Records read (what each cluster still held of the $RECORDS written): ${HELD[*]}"
fi
if [ -n "$LAT_CLIENTS" ]; then
  echo
  echo "Latency: $LATENCY_RECORDS x 100-byte records at $RATE records/s, acks=all, no compression," \
    "linger 5 ms where the client lingers; ms from hand-over to acknowledgement; ratio = p99 over ours: send's"
  echo
  printf "| %-9s | %-28s | %8s | %8s | %8s | %8s | %6s | %s |\n" cluster client "p50 ms" "p99 ms" "p99.9 ms" "max ms" \
    "ratio p99 (peer / ours: send)" stored
  printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n" ----------- ------------------------------ ---------- ---------- ---------- \
    ---------- -------- --------
  for entry in "${BOOTS[@]}"; do bench_latency "${entry%%=*}" "${entry#*=}"; done
fi
