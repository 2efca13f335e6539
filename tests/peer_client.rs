//! Our connection and codec against real peers: connect (with the ApiVersions
//! handshake and its fallback), negotiate, fetch metadata, produce a batch in every
//! codec to the partition's leader, and fetch it back equal. Against librdkafka's mock
//! cluster (Debian's 2.0.2 and the wheel's 2.16, 3 brokers each), tansu, and our own embedded
//! broker.

mod support;

use actix_kafka::net::{BrokerConnection, ConnectionConfig};
use actix_kafka::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use actix_kafka::protocol::messages::metadata_request::MetadataRequestTopic;
use actix_kafka::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use actix_kafka::protocol::messages::{FetchRequest, MetadataRequest, MetadataResponse, ProduceRequest};
use actix_kafka::protocol::primitives::Uuid;
use actix_kafka::protocol::record::{decode_batches, Compression, DecodeOptions, RecordBatchBuilder, RecordHeader};
use actix_kafka::protocol::{ApiKey, ErrorCode};
use bytes::Bytes;
use support::{require_peer, Librdkafka, MockCluster, Peer, Tansu};

const CODECS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
const RECORDS: usize = 50;

/// What one record of the test batch holds, so what comes back can be compared.
fn record(codec: Compression, i: usize) -> (Bytes, Bytes, Vec<RecordHeader>) {
    let key = Bytes::from(format!("key-{i}"));
    let value = Bytes::from(format!("{codec}-value-{i}-{}", "x".repeat(i * 7 % 120)));
    let headers = vec![RecordHeader { key: "h".into(), value: Some(Bytes::from(i.to_string())) }];
    (key, value, headers)
}

fn topic_name(codec: Compression) -> String {
    format!("client-{codec}")
}

/// The leader of partition 0 of `topic` and the topic's id, from a Metadata answer.
fn leader(metadata: &MetadataResponse, topic: &str) -> (String, Uuid) {
    let t = metadata.topics.iter().find(|t| t.name.as_deref() == Some(topic)).expect("the topic is in the metadata");
    assert_eq!(ErrorCode::from_i16(t.error_code), ErrorCode::None, "topic {topic}");
    let p = t.partitions.iter().find(|p| p.partition_index == 0).expect("partition 0");
    let broker = metadata.brokers.iter().find(|b| b.node_id == p.leader_id).expect("the leader is a known broker");
    (format!("{}:{}", broker.host, broker.port), t.topic_id)
}

async fn produce_and_fetch(bootstrap: &BrokerConnection, codec: Compression) {
    let topic = topic_name(codec);
    // Metadata v0-v3 has no allow_auto_topic_creation field: the codec refuses to drop a
    // non-default value silently (Kafka's rule), so it is only set where it exists.
    let metadata_version = bootstrap.version_for(ApiKey::Metadata).expect("a Metadata version");
    let metadata_request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some(topic.clone()), ..Default::default() }]),
        allow_auto_topic_creation: metadata_version < 4,
        ..Default::default()
    };
    let metadata = bootstrap.request(&metadata_request).await.expect("metadata");
    let (leader_addr, topic_id) = leader(&metadata, &topic);
    let leader = BrokerConnection::connect(&leader_addr, ConnectionConfig::default()).await.expect("connect to leader");

    let mut builder = RecordBatchBuilder::new(codec);
    for i in 0..RECORDS {
        let (key, value, headers) = record(codec, i);
        builder.push(1_700_000_000_000 + i as i64, Some(key), Some(value), headers).expect("push a record");
    }
    let batch = builder.finish().expect("encode the batch");
    let produce = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: topic.clone(),
            partition_data: vec![PartitionProduceData { index: 0, records: Some(batch), ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let produced = leader.request(&produce).await.expect("produce");
    let partition = &produced.responses[0].partition_responses[0];
    assert_eq!(ErrorCode::from_i16(partition.error_code), ErrorCode::None, "produce {codec}");
    let base_offset = partition.base_offset;
    assert!(base_offset >= 0, "base offset {base_offset}");

    let fetch_version = leader.version_for(ApiKey::Fetch).expect("a Fetch version");
    let fetch = FetchRequest {
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 4 << 20,
        topics: vec![FetchTopic {
            topic: if fetch_version < 13 { topic.clone() } else { String::new() },
            topic_id: if fetch_version >= 13 { topic_id } else { Uuid::ZERO },
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: base_offset,
                partition_max_bytes: 4 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let fetched = leader.request(&fetch).await.expect("fetch");
    let data = &fetched.responses[0].partitions[0];
    assert_eq!(ErrorCode::from_i16(data.error_code), ErrorCode::None, "fetch {codec}");
    let batches = decode_batches(data.records.clone().unwrap_or_default(), &DecodeOptions::default())
        .expect("the fetched batches decode");
    let records: Vec<_> = batches.iter().flat_map(|b| b.records.iter()).filter(|r| r.offset >= base_offset).collect();
    assert_eq!(records.len(), RECORDS, "{codec}: records fetched back");
    for (i, r) in records.iter().enumerate() {
        let (key, value, headers) = record(codec, i);
        assert_eq!(r.offset, base_offset + i as i64, "{codec} record {i}");
        assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64, "{codec} record {i}");
        assert_eq!((r.key.as_ref(), r.value.as_ref()), (Some(&key), Some(&value)), "{codec} record {i}");
        assert_eq!(r.headers, headers, "{codec} record {i}");
    }
    assert!(batches.iter().any(|b| b.compression == codec), "{codec}: the broker kept the producer's codec");
}

/// Connects to the first bootstrap broker and runs every codec; returns the negotiated
/// versions (for the test's output).
async fn run_against(bootstrap: &str, label: &str) {
    let first = bootstrap.split(',').next().expect("a bootstrap broker");
    let conn = BrokerConnection::connect(first, ConnectionConfig::default()).await.expect("connect and negotiate");
    let versions: Vec<String> = [ApiKey::ApiVersions, ApiKey::Metadata, ApiKey::Produce, ApiKey::Fetch]
        .into_iter()
        .map(|api| format!("{api} v{}", conn.version_for(api).map_or(-1, |v| v)))
        .collect();
    eprintln!("{label}: negotiated {}", versions.join(", "));
    for codec in CODECS {
        produce_and_fetch(&conn, codec).await;
    }
}

fn topics() -> Vec<(String, u32)> {
    CODECS.iter().map(|c| (topic_name(*c), 3)).collect()
}

fn mock_roundtrip(lib: Librdkafka) {
    let topics = topics();
    let specs: Vec<(&str, u32)> = topics.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let Some(mock) = MockCluster::start(3, &specs, lib) else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(run_against(mock.bootstrap(), lib.label()));
}

#[test]
fn every_codec_round_trips_through_the_2_0_2_mock() {
    mock_roundtrip(Librdkafka::System);
}

#[test]
fn every_codec_round_trips_through_the_2_16_mock() {
    if require_peer(Peer::Librdkafka(Librdkafka::V2_16)).is_none() {
        return;
    }
    mock_roundtrip(Librdkafka::V2_16);
}

#[test]
fn every_codec_round_trips_through_tansu() {
    let Some(tansu) = Tansu::start() else { return };
    for (name, partitions) in topics() {
        tansu.create_topic(&name, partitions);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(run_against(&tansu.bootstrap(), "tansu"));
}

#[test]
fn every_codec_round_trips_through_the_embedded_broker() {
    actix_rt::System::new().block_on(async {
        let cluster = actix_kafka::embedded::EmbeddedCluster::builder()
            .nodes(3)
            .auto_create_topics(false)
            .start()
            .await
            .expect("start the embedded cluster");
        for (name, partitions) in topics() {
            cluster.create_topic(&name, partitions as i32).await.expect("create topic");
        }
        run_against(&cluster.bootstrap(), "embedded").await;
        cluster.shutdown().await.expect("shutdown");
    });
}
