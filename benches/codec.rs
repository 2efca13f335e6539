//! Codec throughput: record batch encode and decode (uncompressed and lz4) for small
//! and 1 KiB records, and a whole `ProduceRequest` v9 carrying one batch.
//!
//! `cargo bench --bench codec -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use actix_kafka::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use actix_kafka::protocol::messages::ProduceRequest;
use actix_kafka::protocol::record::{
    decode_batches, Compression, DecodeOptions, RecordBatch, RecordBatchBuilder, RecordHeader,
};
use actix_kafka::protocol::{Decode, Encode};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// The shapes measured: (records per batch, value size in bytes).
const SHAPES: [(usize, usize); 2] = [(1000, 100), (200, 1024)];

/// A value that compresses about as well as typical JSON: repeated field names,
/// varying digits.
fn value(i: usize, size: usize) -> Bytes {
    let text = format!(
        "{{\"id\":{i},\"user\":\"user-{}\",\"amount\":{}.{:02},\"tags\":[\"a\",\"b\"]}}",
        i % 97,
        i * 31 % 1000,
        i % 100
    );
    Bytes::from(text.into_bytes().into_iter().cycle().take(size).collect::<Vec<u8>>())
}

fn batch(records: usize, size: usize, compression: Compression) -> RecordBatch {
    let mut builder = RecordBatchBuilder::new(compression).producer_id(1).producer_epoch(0).base_sequence(0);
    for i in 0..records {
        let key = Some(Bytes::from(format!("key-{i}")));
        let headers = vec![RecordHeader::new("trace", Bytes::from_static(b"0123456789abcdef"))];
        builder.push(1_700_000_000_000 + i as i64, key, Some(value(i, size)), headers).expect("push");
    }
    builder.build()
}

fn batches(c: &mut Criterion) {
    let opts = DecodeOptions::default();
    for (records, size) in SHAPES {
        for compression in [Compression::None, Compression::Lz4] {
            let batch = batch(records, size, compression);
            let mut encoded = BytesMut::new();
            batch.encode(&mut encoded).expect("encode");
            let encoded = encoded.freeze();
            let name = format!("{records}x{size}B/{compression}");

            let mut group = c.benchmark_group("record_batch");
            group.throughput(Throughput::Elements(records as u64));
            group.bench_function(BenchmarkId::new("encode", &name), |b| {
                let mut buf = BytesMut::with_capacity(encoded.len() * 2);
                b.iter(|| {
                    buf.clear();
                    black_box(&batch).encode(&mut buf).expect("encode");
                    black_box(buf.len())
                })
            });
            group.bench_function(BenchmarkId::new("decode", &name), |b| {
                b.iter(|| decode_batches(black_box(encoded.clone()), &opts).expect("decode"))
            });
            group.finish();

            // The same in bytes of (uncompressed) record data, for MB/s.
            let mut group = c.benchmark_group("record_batch_bytes");
            group.throughput(Throughput::Bytes((records * size) as u64));
            group.bench_function(BenchmarkId::new("decode", &name), |b| {
                b.iter(|| decode_batches(black_box(encoded.clone()), &opts).expect("decode"))
            });
            group.finish();
        }
    }
}

fn produce_request(c: &mut Criterion) {
    let opts = DecodeOptions::default();
    let (records, size) = SHAPES[0];
    for compression in [Compression::None, Compression::Lz4] {
        let batch = batch(records, size, compression);
        let mut group = c.benchmark_group("produce_request_v9");
        group.throughput(Throughput::Elements(records as u64));
        let name = format!("{records}x{size}B/{compression}");
        let request = |records: Bytes| ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: "orders".into(),
                partition_data: vec![PartitionProduceData { index: 3, records: Some(records), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        };
        group.bench_function(BenchmarkId::new("encode", &name), |b| {
            b.iter(|| {
                let mut records = BytesMut::new();
                black_box(&batch).encode(&mut records).expect("encode batch");
                let mut buf = BytesMut::new();
                request(records.freeze()).encode(&mut buf, 9).expect("encode request");
                black_box(buf)
            })
        });
        let mut records = BytesMut::new();
        batch.encode(&mut records).expect("encode batch");
        let mut wire = BytesMut::new();
        request(records.freeze()).encode(&mut wire, 9).expect("encode request");
        let wire = wire.freeze();
        group.bench_function(BenchmarkId::new("decode", &name), |b| {
            b.iter(|| {
                let decoded = ProduceRequest::decode(&mut black_box(wire.clone()), 9).expect("decode request");
                let mut count = 0;
                for topic in decoded.topic_data {
                    for partition in topic.partition_data {
                        let batches = decode_batches(partition.records.unwrap_or_default(), &opts).expect("decode");
                        count += batches.iter().map(|b| b.records.len()).sum::<usize>();
                    }
                }
                black_box(count)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, batches, produce_request);
criterion_main!(benches);
