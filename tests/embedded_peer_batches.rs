//! Batches recorded from real clients (sarama 1.22, rskafka 0.6; see
//! `src/embedded/log/tests_peers.rs`) sent to the embedded broker over a real socket at
//! the Produce version the client used, then fetched back: every record is stored, and
//! the stored batch carries a valid CRC and the largest record timestamp as its
//! maxTimestamp, which the client got wrong. Kafka accepts these batches; the embedded
//! broker used to refuse them with INVALID_RECORD.

#![cfg(feature = "embedded")]

use std::time::Duration;

use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::net::{BrokerConnection, ConnectionConfig};
use actix_kafka::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use actix_kafka::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use actix_kafka::protocol::messages::{FetchRequest, FetchResponse, ProduceRequest, ProduceResponse};
use actix_kafka::protocol::record::{decode_batches, DecodeOptions, RecordBatch};
use actix_kafka::protocol::ErrorCode;
use bytes::Bytes;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/embedded/log/fixtures");

/// (file, Produce version the client sent it at, records in it).
const SENT: &[(&str, i16, usize)] = &[
    ("sarama-1.22_none_batch.bin", 3, 5),
    ("sarama-1.22_idempotent_batch.bin", 3, 5),
    #[cfg(feature = "lz4")]
    ("sarama-1.22_lz4_batch.bin", 3, 5),
    #[cfg(feature = "lz4")]
    ("rskafka-0.6_lz4_batch.bin", 7, 1_000),
];

fn produce_request(topic: &str, records: Bytes) -> ProduceRequest {
    let partition_data = vec![PartitionProduceData { index: 0, records: Some(records), ..Default::default() }];
    ProduceRequest {
        acks: -1,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData { name: topic.into(), partition_data, ..Default::default() }],
        ..Default::default()
    }
}

fn fetch_request(topic: &str, offset: i64) -> FetchRequest {
    let partitions = vec![FetchPartition { fetch_offset: offset, partition_max_bytes: 4 << 20, ..Default::default() }];
    FetchRequest {
        max_bytes: 8 << 20,
        session_epoch: -1,
        topics: vec![FetchTopic { topic: topic.into(), partitions, ..Default::default() }],
        ..Default::default()
    }
}

fn only_batch(records: Bytes) -> RecordBatch {
    let mut batches = decode_batches(records, &DecodeOptions::default()).expect("decodes, CRC checked");
    assert_eq!(batches.len(), 1);
    batches.remove(0)
}

#[actix_rt::test]
async fn batches_from_sarama_and_rskafka_are_stored_and_fetched_back() {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    let config = ConnectionConfig::default().request_timeout(Duration::from_secs(10));
    let conn = BrokerConnection::connect(&cluster.bootstrap(), config).await.unwrap();
    for (i, &(file, version, count)) in SENT.iter().enumerate() {
        let topic = format!("peer-{i}");
        cluster.create_topic(&topic, 1).await.unwrap();
        let sent = Bytes::from(std::fs::read(format!("{FIXTURES}/{file}")).unwrap());
        let original = only_batch(sent.clone());
        let answer: ProduceResponse = conn.request_at(&produce_request(&topic, sent), version).await.unwrap();
        let partition = &answer.responses[0].partition_responses[0];
        assert_eq!((ErrorCode::from_i16(partition.error_code), partition.base_offset), (ErrorCode::None, 0), "{file}");

        let fetched: FetchResponse = conn.request_at(&fetch_request(&topic, 0), 12).await.unwrap();
        let data = &fetched.responses[0].partitions[0];
        assert_eq!((ErrorCode::from_i16(data.error_code), data.high_watermark), (ErrorCode::None, count as i64));
        let stored = only_batch(data.records.clone().unwrap_or_default());
        let largest = original.records.iter().map(|r| r.timestamp).max().unwrap();
        assert_ne!(original.max_timestamp, largest, "{file}: the client's maxTimestamp is wrong");
        assert_eq!(stored.max_timestamp, largest, "{file}");
        let values = |b: &RecordBatch| b.records.iter().map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(values(&stored), values(&original), "{file}");
    }
    cluster.shutdown().await.unwrap();
}
