#!/usr/bin/env python3
"""Produce records with confluent-kafka, then consume them back in a consumer group.

Reads `key<TAB>value` lines on stdin, produces them to --topic (acks=all), then
subscribes in --group from the earliest offset until --count records have arrived
(or --timeout seconds), commits, and prints `partition<TAB>offset<TAB>key<TAB>value`
lines on stdout. Logs go to stderr. Run with Debian's /usr/bin/python3
(python3-confluent-kafka, on the system's librdkafka).
"""
import argparse
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=45)
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout

    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(err)

    records = [line.rstrip("\n").split("\t", 1) for line in sys.stdin if line.strip()]
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": int(args.timeout * 1000)})
    for k, v in records:
        while True:
            try:
                producer.produce(args.topic, key=k.encode(), value=v.encode(), on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
    left = producer.flush(max(1.0, deadline - time.monotonic()))
    if left or errors:
        raise KafkaException(f"{left} undelivered, errors: {errors[:5]}")
    print(f"confluent-kafka: produced {len(records)}", file=sys.stderr)

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })
    consumer.subscribe([args.topic])
    got = 0
    out = []
    while got < args.count and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            print(f"confluent-kafka: {m.error()}", file=sys.stderr)
            continue
        out.append(f"{m.partition()}\t{m.offset()}\t{m.key().decode()}\t{m.value().decode()}")
        got += 1
    if got:
        consumer.commit(asynchronous=False)
    consumer.close()
    sys.stdout.write("".join(line + "\n" for line in out))
    print(f"confluent-kafka: consumed {got} of {args.count}", file=sys.stderr)
    return 0 if got >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
