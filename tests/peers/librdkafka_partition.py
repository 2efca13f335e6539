#!/usr/bin/env python3
"""librdkafka's murmur2 partitioner, via ctypes: the reference our `murmur2_partition` is
checked against (tests/partitioner_librdkafka.rs).

usage: librdkafka_partition.py --lib PATH COUNT [COUNT ...]

Prints `librdkafka VERSION` (rd_kafka_version_str of the library actually loaded) as the
first line of stdout. Then reads one key per line on stdin, hex-encoded (an empty line is
the empty key), and answers one line per key: the partition that
rd_kafka_msg_partitioner_murmur2_random picks for each COUNT, space-separated.

The topic handle is NULL: librdkafka only looks at it for keyless records (to pick a
random available partition), and every key passed here is a non-NULL pointer, even the
empty one, so a zero-length key is hashed exactly as the Java client hashes `new byte[0]`.
"""

import argparse
import ctypes
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--lib", default="librdkafka.so.1")
ap.add_argument("counts", nargs="+", type=int)
args = ap.parse_args()

lib = ctypes.CDLL(args.lib)
lib.rd_kafka_version_str.restype = ctypes.c_char_p
lib.rd_kafka_version_str.argtypes = []
partitioner = lib.rd_kafka_msg_partitioner_murmur2_random
partitioner.restype = ctypes.c_int32
partitioner.argtypes = [
    ctypes.c_void_p,  # const rd_kafka_topic_t *rkt
    ctypes.c_void_p,  # const void *key
    ctypes.c_size_t,  # size_t keylen
    ctypes.c_int32,  # int32_t partition_cnt
    ctypes.c_void_p,  # void *rkt_opaque
    ctypes.c_void_p,  # void *msg_opaque
]

out = sys.stdout
out.write("librdkafka %s\n" % lib.rd_kafka_version_str().decode())
out.flush()
for line in sys.stdin:
    key = bytes.fromhex(line.strip())
    # Never NULL, even for the empty key: NULL means "keyless" to librdkafka.
    buf = ctypes.create_string_buffer(key, max(len(key), 1))
    parts = [partitioner(None, ctypes.addressof(buf), len(key), n, None, None) for n in args.counts]
    out.write(" ".join(str(p) for p in parts) + "\n")
out.flush()
