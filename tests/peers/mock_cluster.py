#!/usr/bin/env python3
"""Our driver for librdkafka's built-in mock cluster (rd_kafka_mock_*), via ctypes.

usage: mock_cluster.py [--lib PATH] [-n BROKERS] [--max-seconds S] [TOPIC:PARTITIONS ...]

Prints the bootstrap string as the first line of stdout, then reads one command per
line on stdin and answers one line, `ok` or `err REASON`:

    broker-down N | broker-up N      close / reopen broker N's listener
    leader TOPIC PARTITION N         move a partition's leader
    errors APIKEY CODE...            fail the next APIKEY requests with CODE, in order
    create-topic TOPIC PARTITIONS    another topic
    apiversion APIKEY MIN MAX        the versions of APIKEY the brokers advertise
    initial-rebalance-delay MS       group.initial.rebalance.delay.ms (newer librdkafka)

It exits on stdin EOF (so it dies with the test that spawned it) or after
--max-seconds, whichever comes first.
"""

import argparse
import ctypes
import sys
import threading
import os

ap = argparse.ArgumentParser()
ap.add_argument("--lib", default="librdkafka.so.1")
ap.add_argument("-n", "--brokers", type=int, default=1)
ap.add_argument("--max-seconds", type=float, default=600)
ap.add_argument("topics", nargs="*")
args = ap.parse_args()

lib = ctypes.CDLL(args.lib)
vp, cp, i32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32


def fn(name, restype, *argtypes):
    f = getattr(lib, name, None)
    if f is not None:
        f.restype, f.argtypes = restype, list(argtypes)
    return f


conf_new = fn("rd_kafka_conf_new", vp)
conf_set = fn("rd_kafka_conf_set", ctypes.c_int, vp, cp, cp, cp, ctypes.c_size_t)
kafka_new = fn("rd_kafka_new", vp, ctypes.c_int, vp, cp, ctypes.c_size_t)
cluster_new = fn("rd_kafka_mock_cluster_new", vp, vp, ctypes.c_int)
bootstraps = fn("rd_kafka_mock_cluster_bootstraps", cp, vp)
topic_create = fn("rd_kafka_mock_topic_create", ctypes.c_int, vp, cp, ctypes.c_int, ctypes.c_int)
broker_down = fn("rd_kafka_mock_broker_set_down", ctypes.c_int, vp, i32)
broker_up = fn("rd_kafka_mock_broker_set_up", ctypes.c_int, vp, i32)
set_leader = fn("rd_kafka_mock_partition_set_leader", ctypes.c_int, vp, cp, i32, i32)
push_errors = fn("rd_kafka_mock_push_request_errors_array", None, vp, ctypes.c_int16, ctypes.c_size_t, vp)
set_apiversion = fn("rd_kafka_mock_set_apiversion", ctypes.c_int, vp, ctypes.c_int16, ctypes.c_int16, ctypes.c_int16)
rebalance_delay = fn("rd_kafka_mock_group_initial_rebalance_delay_ms", None, vp, i32)
err2name = fn("rd_kafka_err2name", cp, ctypes.c_int)

errstr = ctypes.create_string_buffer(512)
conf = conf_new()
conf_set(conf, b"log_level", b"3", errstr, len(errstr))  # no "no bootstrap.servers" notice
rk = kafka_new(0, conf, errstr, len(errstr))  # 0: RD_KAFKA_PRODUCER
if not rk:
    sys.exit("mock_cluster: rd_kafka_new: " + errstr.value.decode())
cluster = cluster_new(rk, args.brokers)
if not cluster:
    sys.exit("mock_cluster: rd_kafka_mock_cluster_new failed")


def checked(code):
    if code != 0:
        raise ValueError(err2name(code).decode())


def create_topic(name, partitions):
    checked(topic_create(cluster, name.encode(), int(partitions), 1))


for spec in args.topics:
    name, _, partitions = spec.partition(":")
    create_topic(name, partitions or 1)


def run(words):
    cmd, a = words[0], words[1:]
    if cmd == "broker-down":
        checked(broker_down(cluster, int(a[0])))
    elif cmd == "broker-up":
        checked(broker_up(cluster, int(a[0])))
    elif cmd == "leader":
        checked(set_leader(cluster, a[0].encode(), int(a[1]), int(a[2])))
    elif cmd == "errors":
        codes = (ctypes.c_int * len(a[1:]))(*[int(c) for c in a[1:]])
        push_errors(cluster, int(a[0]), len(a[1:]), codes)
    elif cmd == "apiversion":
        checked(set_apiversion(cluster, int(a[0]), int(a[1]), int(a[2])))
    elif cmd == "create-topic":
        create_topic(a[0], a[1])
    elif cmd == "initial-rebalance-delay":
        if rebalance_delay is None:
            raise ValueError("this librdkafka has no rd_kafka_mock_group_initial_rebalance_delay_ms")
        rebalance_delay(cluster, int(a[0]))
    else:
        raise ValueError("unknown command " + cmd)


# A watchdog: the mock never outlives --max-seconds, whatever its parent does.
threading.Timer(args.max_seconds, lambda: os._exit(3)).start()

print(bootstraps(cluster).decode(), flush=True)
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    try:
        run(words)
        print("ok", flush=True)
    except (ValueError, IndexError, TypeError) as e:
        print("err", e or "bad arguments", flush=True)
os._exit(0)  # skip librdkafka's slow, thread-joining teardown
