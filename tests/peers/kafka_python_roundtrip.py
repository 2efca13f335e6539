#!/usr/bin/env python3
"""Produce records with kafka-python, then consume them back in a consumer group.

Reads `key<TAB>value` lines on stdin, produces them to --topic (acks=all), then
subscribes in --group from the earliest offset until --count records have arrived
(or --timeout seconds), commits, and prints `partition<TAB>offset<TAB>key<TAB>value`
lines on stdout. Logs go to stderr. Run with Debian's /usr/bin/python3 (python3-kafka).
"""
import argparse
import logging
import sys
import time

from kafka import KafkaConsumer, KafkaProducer


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=45)
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    deadline = time.monotonic() + args.timeout
    servers = args.bootstrap.split(",")

    records = [line.rstrip("\n").split("\t", 1) for line in sys.stdin if line.strip()]
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5, retries=5)
    futures = [producer.send(args.topic, key=k.encode(), value=v.encode()) for k, v in records]
    producer.flush(timeout=max(1.0, deadline - time.monotonic()))
    for future in futures:
        future.get(timeout=1)  # raises the delivery error, if any
    producer.close()
    print(f"kafka-python: produced {len(records)}", file=sys.stderr)

    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=servers,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    got = 0
    out = []
    while got < args.count and time.monotonic() < deadline:
        for tp, messages in consumer.poll(timeout_ms=500).items():
            for m in messages:
                out.append(f"{m.partition}\t{m.offset}\t{m.key.decode()}\t{m.value.decode()}")
                got += 1
    consumer.commit()
    consumer.close()
    sys.stdout.write("".join(line + "\n" for line in out))
    print(f"kafka-python: consumed {got} of {args.count}", file=sys.stderr)
    return 0 if got >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
