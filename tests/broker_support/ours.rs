//! Our own client (`net::BrokerConnection`, `protocol::record`) as a producer whose
//! acknowledgements the test sees one by one, and a reader of whole partitions.

use actix_kafka::net::{BrokerConnection, ConnectionConfig};
use actix_kafka::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use actix_kafka::protocol::messages::metadata_request::MetadataRequestTopic;
use actix_kafka::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use actix_kafka::protocol::messages::{FetchRequest, MetadataRequest, ProduceRequest};
use actix_kafka::protocol::primitives::Uuid;
use actix_kafka::protocol::record::{decode_batches, Compression, DecodeOptions, Record, RecordBatchBuilder};
use actix_kafka::protocol::{ApiKey, ErrorCode};
use bytes::Bytes;

/// Connects to the first address of `bootstrap`.
pub async fn connect(bootstrap: &str) -> BrokerConnection {
    let first = bootstrap.split(',').next().expect("a bootstrap address");
    BrokerConnection::connect(first, ConnectionConfig::default())
        .await
        .unwrap_or_else(|e| panic!("connect {first}: {e}"))
}

/// `topic`'s id and partition count, from a Metadata request (no auto-creation).
///
/// # Panics
///
/// When the topic is unknown or in error.
pub async fn describe(conn: &BrokerConnection, topic: &str) -> (Uuid, usize) {
    let version = conn.version_for(ApiKey::Metadata).expect("a Metadata version");
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some(topic.to_string()), ..Default::default() }]),
        // Versions 0-3 have no such field and always auto-create; it must stay true there.
        allow_auto_topic_creation: version < 4,
        ..Default::default()
    };
    let metadata = conn.request(&request).await.expect("metadata");
    let t = metadata.topics.iter().find(|t| t.name.as_deref() == Some(topic)).expect("the topic is in the metadata");
    assert_eq!(ErrorCode::from_i16(t.error_code), ErrorCode::None, "metadata of {topic}");
    (t.topic_id, t.partitions.len())
}

/// Produces `records` (key, value) as one batch with acks=all; the base offset, or
/// why the batch is not acknowledged.
pub async fn produce(
    conn: &BrokerConnection,
    topic: &str,
    partition: i32,
    records: &[(Bytes, Bytes)],
) -> Result<i64, String> {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    for (i, (key, value)) in records.iter().enumerate() {
        builder.push(1_700_000_000_000 + i as i64, Some(key.clone()), Some(value.clone()), Vec::new()).expect("push");
    }
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: topic.to_string(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(builder.finish().expect("encode")),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = conn.request(&request).await.map_err(|e| e.to_string())?;
    let answer = response
        .responses
        .first()
        .and_then(|t| t.partition_responses.first())
        .ok_or_else(|| "an empty Produce answer".to_string())?;
    match ErrorCode::from_i16(answer.error_code) {
        ErrorCode::None => Ok(answer.base_offset),
        code => Err(format!("produce error {code:?}")),
    }
}

/// Every record of `partition` from offset 0 to the high watermark, and the high
/// watermark.
pub async fn read_partition(
    conn: &BrokerConnection,
    topic: &str,
    topic_id: Uuid,
    partition: i32,
) -> (Vec<Record>, i64) {
    let version = conn.version_for(ApiKey::Fetch).expect("a Fetch version");
    let mut records = Vec::new();
    let mut offset = 0;
    loop {
        let request = FetchRequest {
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 8 << 20,
            topics: vec![FetchTopic {
                topic: if version < 13 { topic.to_string() } else { String::new() },
                topic_id: if version >= 13 { topic_id } else { Uuid::ZERO },
                partitions: vec![FetchPartition {
                    partition,
                    fetch_offset: offset,
                    partition_max_bytes: 8 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = conn.request(&request).await.expect("fetch");
        let data = &response.responses[0].partitions[0];
        assert_eq!(ErrorCode::from_i16(data.error_code), ErrorCode::None, "fetch {topic} [{partition}] at {offset}");
        let batches = decode_batches(data.records.clone().unwrap_or_default(), &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{topic} [{partition}] at {offset}: the fetched batches decode: {e}"));
        for record in batches.into_iter().flat_map(|b| b.records) {
            if record.offset >= offset {
                offset = record.offset + 1;
                records.push(record);
            }
        }
        if offset >= data.high_watermark {
            return (records, data.high_watermark);
        }
        assert!(
            data.records.as_ref().is_some_and(|r| !r.is_empty()),
            "no progress at {offset} below {}",
            data.high_watermark
        );
    }
}
