//! The embedded broker through our own client, on real sockets: metadata, produce and
//! fetch in every codec, long polls, acks=0, leadership errors, every fault hook, a
//! restart on a data directory, and hostile input.

#![cfg(feature = "embedded")]

use std::time::{Duration, Instant};

use actix_kafka::embedded::{EmbeddedCluster, EmbeddedError};
use actix_kafka::net::{BrokerConnection, ConnectionConfig};
use actix_kafka::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use actix_kafka::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use actix_kafka::protocol::messages::metadata_request::MetadataRequestTopic;
use actix_kafka::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use actix_kafka::protocol::messages::{
    ApiVersionsResponse, FetchRequest, FetchResponse, ListOffsetsRequest, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse,
};
use actix_kafka::protocol::record::{decode_batches, Compression, DecodeOptions, Record, RecordBatchBuilder};
use actix_kafka::protocol::{ApiKey, Decode, ErrorCode, ResponseHeader};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CODECS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

async fn connect(addr: &str) -> BrokerConnection {
    let config = ConnectionConfig::default().request_timeout(Duration::from_secs(10));
    BrokerConnection::connect(addr, config).await.expect("connect to the embedded broker")
}

async fn connect_node(cluster: &EmbeddedCluster, node: i32) -> BrokerConnection {
    let addr = cluster.node_addrs().into_iter().find(|(id, _)| *id == node).expect("node").1;
    connect(&addr.to_string()).await
}

fn batch(codec: Compression, prefix: &str, count: usize) -> Bytes {
    let mut builder = RecordBatchBuilder::new(codec);
    for i in 0..count {
        let value = Bytes::from(format!("{prefix}-{i}-{}", "v".repeat(i % 50)));
        builder.push(1_700_000_000_000 + i as i64, Some(Bytes::from(format!("k{i}"))), Some(value), vec![]).unwrap();
    }
    builder.finish().expect("encode a batch")
}

fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest {
        acks,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn produce(conn: &BrokerConnection, topic: &str, partition: i32, records: Bytes) -> (ErrorCode, i64) {
    let answer: ProduceResponse = conn.request(&produce_request(topic, partition, records, -1)).await.expect("produce");
    let p = &answer.responses[0].partition_responses[0];
    (ErrorCode::from_i16(p.error_code), p.base_offset)
}

/// Fetch at v12, by topic name.
fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    FetchRequest {
        max_wait_ms,
        min_bytes,
        max_bytes: 8 << 20,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition,
                fetch_offset: offset,
                partition_max_bytes: 4 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn fetch(conn: &BrokerConnection, request: &FetchRequest) -> FetchResponse {
    conn.request_at(request, 12).await.expect("fetch")
}

fn records_of(response: &FetchResponse) -> Vec<Record> {
    let data = &response.responses[0].partitions[0];
    assert_eq!(ErrorCode::from_i16(data.error_code), ErrorCode::None);
    let batches = decode_batches(data.records.clone().unwrap_or_default(), &DecodeOptions::default()).unwrap();
    batches.into_iter().flat_map(|b| b.records).collect()
}

async fn metadata(conn: &BrokerConnection, topics: Option<Vec<&str>>) -> MetadataResponse {
    let topics = topics
        .map(|t| t.into_iter().map(|n| MetadataRequestTopic { name: Some(n.into()), ..Default::default() }).collect());
    conn.request(&MetadataRequest { topics, ..Default::default() }).await.expect("metadata")
}

/// (leader, leader epoch) of each partition of `topic`.
fn leaders(metadata: &MetadataResponse, topic: &str) -> Vec<(i32, i32)> {
    let t = metadata.topics.iter().find(|t| t.name.as_deref() == Some(topic)).expect("topic in metadata");
    assert_eq!(ErrorCode::from_i16(t.error_code), ErrorCode::None);
    t.partitions.iter().map(|p| (p.leader_id, p.leader_epoch)).collect()
}

async fn three_nodes() -> EmbeddedCluster {
    EmbeddedCluster::builder().nodes(3).start().await.expect("start 3 nodes")
}

#[actix_rt::test]
async fn metadata_lists_three_brokers_and_spreads_leaders() {
    let cluster = three_nodes().await;
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    cluster.create_topic("spread", 3).await.unwrap();
    let conn = connect(cluster.bootstrap().split(',').next().unwrap()).await;
    let answer = metadata(&conn, None).await;
    let mut brokers: Vec<(i32, String)> =
        answer.brokers.iter().map(|b| (b.node_id, format!("{}:{}", b.host, b.port))).collect();
    brokers.sort();
    let expected: Vec<(i32, String)> = cluster.node_addrs().iter().map(|(id, a)| (*id, a.to_string())).collect();
    assert_eq!(brokers, expected);
    let mut led: Vec<i32> = leaders(&answer, "spread").iter().map(|l| l.0).collect();
    led.sort();
    assert_eq!(led, [0, 1, 2]);
    assert!(answer.cluster_id.is_some() && answer.controller_id == 0);

    let missing = metadata(&conn, Some(vec!["auto-made", "bad name!"])).await;
    assert_eq!(leaders(&missing, "auto-made").len(), 1, "auto-created with the default partition count");
    let bad = missing.topics.iter().find(|t| t.name.as_deref() == Some("bad name!")).unwrap();
    assert_eq!(ErrorCode::from_i16(bad.error_code), ErrorCode::InvalidTopicException);
    assert!(matches!(cluster.create_topic("spread", 1).await, Err(EmbeddedError::InvalidTopic { .. })));
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn every_codec_produced_is_fetched_back_equal() {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    let conn = connect(&cluster.bootstrap()).await;
    let mut expected_offset = 0;
    for codec in CODECS {
        let (code, base) = produce(&conn, "codecs", 0, batch(codec, codec.name(), 40)).await;
        assert_eq!((code, base), (ErrorCode::None, expected_offset), "{codec}");
        let answer = fetch(&conn, &fetch_request("codecs", 0, base, 100, 1)).await;
        let records = records_of(&answer);
        let ours: Vec<&Record> = records.iter().filter(|r| r.offset >= base).collect();
        assert_eq!(ours.len(), 40, "{codec}");
        for (i, r) in ours.iter().enumerate() {
            assert_eq!(r.offset, base + i as i64);
            assert_eq!(r.value.as_deref(), Some(format!("{}-{i}-{}", codec.name(), "v".repeat(i % 50)).as_bytes()));
        }
        let data = &answer.responses[0].partitions[0];
        assert_eq!((data.high_watermark, data.last_stable_offset), (base + 40, base + 40));
        expected_offset += 40;
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_fetch_long_polls_until_data_or_max_wait() {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    let conn = connect(&cluster.bootstrap()).await;
    cluster.create_topic("poll", 1).await.unwrap();

    // Nothing arrives: the answer comes after about max_wait, empty.
    let started = Instant::now();
    let empty = fetch(&conn, &fetch_request("poll", 0, 0, 600, 1)).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(550) && waited < Duration::from_secs(3), "waited {waited:?}");
    assert!(records_of(&empty).is_empty());

    // A produce on another connection 200 ms in: the answer comes right after it.
    let producer = connect(&cluster.bootstrap()).await;
    let started = Instant::now();
    let request = fetch_request("poll", 0, 0, 2_000, 1);
    let poll = fetch(&conn, &request);
    let late_produce = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        produce(&producer, "poll", 0, batch(Compression::None, "late", 3)).await
    };
    let (answer, produced) = tokio::join!(poll, late_produce);
    let waited = started.elapsed();
    assert_eq!(produced.0, ErrorCode::None);
    assert_eq!(records_of(&answer).len(), 3);
    assert!(waited >= Duration::from_millis(150) && waited < Duration::from_millis(1_500), "waited {waited:?}");
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn acks_zero_gets_no_answer_but_is_appended() {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    let conn = connect(&cluster.bootstrap()).await;
    cluster.create_topic("silent", 1).await.unwrap();
    let version = conn.version_for(ApiKey::Produce).unwrap();
    for i in 0..3 {
        let request = produce_request("silent", 0, batch(Compression::Lz4, &format!("s{i}"), 2), 0);
        conn.send_without_response(&request, version).await.unwrap();
    }
    // Had the broker answered, this request's correlation would be broken.
    let answer = fetch(&conn, &fetch_request("silent", 0, 0, 1_000, 1)).await;
    assert_eq!(answer.responses[0].partitions[0].high_watermark, 6);
    assert!(!conn.is_closed());
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_non_leader_answers_not_leader_with_the_current_leader() {
    let cluster = three_nodes().await;
    cluster.create_topic("led", 1).await.unwrap();
    let conn = connect_node(&cluster, 0).await;
    let (leader, epoch) = leaders(&metadata(&conn, Some(vec!["led"])).await, "led")[0];
    let other = (leader + 1) % 3;
    let wrong = connect_node(&cluster, other).await;
    let answer: ProduceResponse =
        wrong.request_at(&produce_request("led", 0, batch(Compression::None, "x", 1), 1), 10).await.unwrap();
    let p = &answer.responses[0].partition_responses[0];
    assert_eq!(ErrorCode::from_i16(p.error_code), ErrorCode::NotLeaderOrFollower);
    assert_eq!((p.current_leader.leader_id, p.current_leader.leader_epoch), (leader, epoch));
    assert_eq!(answer.node_endpoints.iter().map(|n| n.node_id).collect::<Vec<_>>(), [leader]);
    let fetched = fetch(&wrong, &fetch_request("led", 0, 0, 0, 0)).await;
    assert_eq!(ErrorCode::from_i16(fetched.responses[0].partitions[0].error_code), ErrorCode::NotLeaderOrFollower);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn an_injected_error_answers_the_next_requests_then_recovers() {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    let conn = connect(&cluster.bootstrap()).await;
    cluster.create_topic("faulty", 1).await.unwrap();
    cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 2, None).await.unwrap();
    for _ in 0..2 {
        let (code, _) = produce(&conn, "faulty", 0, batch(Compression::None, "f", 1)).await;
        assert_eq!(code, ErrorCode::NotLeaderOrFollower);
    }
    assert_eq!(produce(&conn, "faulty", 0, batch(Compression::None, "f", 1)).await, (ErrorCode::None, 0));

    assert_eq!(
        cluster.control("error Metadata UNKNOWN_SERVER_ERROR").await.unwrap(),
        "ok error Metadata UNKNOWN_SERVER_ERROR"
    );
    let failed = metadata(&conn, Some(vec!["faulty"])).await;
    assert_eq!(ErrorCode::from_i16(failed.topics[0].error_code), ErrorCode::UnknownServerError);
    assert_eq!(leaders(&metadata(&conn, Some(vec!["faulty"])).await, "faulty").len(), 1);

    cluster.throttle(ApiKey::Metadata, 250).await.unwrap();
    assert_eq!(metadata(&conn, None).await.throttle_time_ms, 250);
    cluster.set_latency(ApiKey::Metadata, Duration::from_millis(300)).await.unwrap();
    let started = Instant::now();
    metadata(&conn, None).await;
    assert!(started.elapsed() >= Duration::from_millis(280));
    assert!(matches!(cluster.control("error Produce 6 1 9").await, Err(EmbeddedError::UnknownNode { node: 9 })));
    assert!(matches!(cluster.control("explode").await, Err(EmbeddedError::InvalidCommand { .. })));
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn node_down_closes_sessions_and_moves_leadership_and_node_up_serves_again() {
    let cluster = three_nodes().await;
    cluster.create_topic("failover", 3).await.unwrap();
    let on_zero = connect_node(&cluster, 0).await;
    let on_one = connect_node(&cluster, 1).await;
    let before = leaders(&metadata(&on_zero, Some(vec!["failover"])).await, "failover");

    cluster.node_down(1).await.unwrap();
    let closed = on_one.request(&MetadataRequest::default()).await;
    assert!(closed.is_err(), "the session on node 1 is closed");
    let after_meta = metadata(&on_zero, Some(vec!["failover"])).await;
    assert_eq!(after_meta.brokers.len(), 2);
    let after = leaders(&after_meta, "failover");
    for ((old_leader, old_epoch), (new_leader, new_epoch)) in before.iter().zip(&after) {
        if *old_leader == 1 {
            assert_eq!((*new_leader, *new_epoch), (2, old_epoch + 1));
        } else {
            assert_eq!((old_leader, old_epoch), (new_leader, new_epoch));
        }
    }
    let addr = cluster.node_addrs()[1].1;
    assert!(TcpStream::connect(addr).await.is_err(), "node 1 no longer listens");

    cluster.control("up 1").await.unwrap();
    let again = connect_node(&cluster, 1).await;
    assert_eq!(metadata(&again, None).await.brokers.len(), 3);
    cluster.move_leader("failover", 0, 1).await.unwrap();
    let moved = leaders(&metadata(&again, Some(vec!["failover"])).await, "failover")[0];
    assert_eq!(moved.0, 1);
    assert_eq!(produce(&again, "failover", 0, batch(Compression::None, "back", 1)).await.0, ErrorCode::None);
    assert!(matches!(cluster.node_down(7).await, Err(EmbeddedError::UnknownNode { node: 7 })));
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn drop_after_append_closes_the_connection_but_keeps_the_data() {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    cluster.create_topic("dropped", 1).await.unwrap();
    let conn = connect(&cluster.bootstrap()).await;
    cluster.drop_after_append(1).await.unwrap();
    let lost = conn.request(&produce_request("dropped", 0, batch(Compression::Zstd, "d", 5), -1)).await;
    assert!(lost.is_err(), "no answer, the connection closed: {lost:?}");
    let reader = connect(&cluster.bootstrap()).await;
    assert_eq!(records_of(&fetch(&reader, &fetch_request("dropped", 0, 0, 500, 1)).await).len(), 5);
    assert_eq!(produce(&reader, "dropped", 0, batch(Compression::None, "d", 1)).await, (ErrorCode::None, 5));
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_data_dir_keeps_records_offsets_and_topics_across_restarts() {
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let dir = std::env::temp_dir().join(format!("actix-kafka-embedded-{}-{unique}", std::process::id()));
    let start = || EmbeddedCluster::builder().nodes(2).data_dir(&dir).start();
    let cluster = start().await.unwrap();
    cluster.create_topic("durable", 2).await.unwrap();
    let conn = connect_node(&cluster, 0).await;
    let leader = leaders(&metadata(&conn, Some(vec!["durable"])).await, "durable")[1].0;
    let on_leader = connect_node(&cluster, leader).await;
    assert_eq!(produce(&on_leader, "durable", 1, batch(Compression::Gzip, "keep", 7)).await, (ErrorCode::None, 0));
    drop((conn, on_leader));
    cluster.shutdown().await.unwrap();

    let cluster = start().await.unwrap();
    let conn = connect_node(&cluster, 0).await;
    let after = leaders(&metadata(&conn, Some(vec!["durable"])).await, "durable");
    assert_eq!(after.len(), 2);
    let on_leader = connect_node(&cluster, after[1].0).await;
    let records = records_of(&fetch(&on_leader, &fetch_request("durable", 1, 0, 100, 1)).await);
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..7).collect::<Vec<_>>());
    assert_eq!(produce(&on_leader, "durable", 1, batch(Compression::None, "more", 1)).await, (ErrorCode::None, 7));
    let latest = ListOffsetsRequest {
        topics: vec![ListOffsetsTopic {
            name: "durable".into(),
            partitions: vec![ListOffsetsPartition { partition_index: 1, timestamp: -1, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let offsets = on_leader.request(&latest).await.unwrap();
    assert_eq!(offsets.topics[0].partitions[0].offset, 8);
    cluster.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// Writes `frame` on a fresh raw connection and returns what the broker sends back
/// before it closes or goes quiet for a second.
async fn raw_exchange(addr: &str, frame: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(frame).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return answer,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the broker neither answered nor closed; got {answer:?}"),
        }
    }
}

#[actix_rt::test]
async fn api_versions_v4_is_answered_at_v0_with_unsupported_version() {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    let mut stream = TcpStream::connect(cluster.bootstrap()).await.unwrap();
    // ApiVersions v4, correlation 7, client id "t", header tagged fields, then a body
    // we cannot know.
    let body = [0, 18, 0, 4, 0, 0, 0, 7, 0, 1, b't', 0, 0xde, 0xad];
    stream.write_all(&(body.len() as u32).to_be_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let size = stream.read_u32().await.unwrap() as usize;
    let mut frame = vec![0; size];
    stream.read_exact(&mut frame).await.unwrap();
    let mut frame = Bytes::from(frame);
    let header = ResponseHeader::decode(&mut frame, 0).unwrap();
    let answer = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(header.correlation_id, 7);
    assert_eq!(ErrorCode::from_i16(answer.error_code), ErrorCode::UnsupportedVersion);
    assert_eq!(answer.api_keys.len(), 1);
    assert_eq!(
        (answer.api_keys[0].api_key, answer.api_keys[0].min_version, answer.api_keys[0].max_version),
        (18, 0, 3)
    );
    // The connection stays open: a good ApiVersions v0 is answered on it.
    let v0 = [0, 18, 0, 0, 0, 0, 0, 8, 0, 1, b't'];
    stream.write_all(&(v0.len() as u32).to_be_bytes()).await.unwrap();
    stream.write_all(&v0).await.unwrap();
    let size = stream.read_u32().await.unwrap() as usize;
    let mut frame = vec![0; size];
    stream.read_exact(&mut frame).await.unwrap();
    let answer = ApiVersionsResponse::decode(&mut Bytes::from(frame).split_off(4), 0).unwrap();
    assert_eq!(answer.error_code, 0);
    assert!(answer.api_keys.len() >= 17);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn hostile_input_closes_only_its_own_connection() {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    let addr = cluster.bootstrap();
    let good = connect(&addr).await;
    let hostile: [&[u8]; 6] = [
        &[0x7f, 0xff, 0xff, 0xff],                                            // a 2 GiB size prefix
        &[0xff, 0xff, 0xff, 0xf0],                                            // a negative size
        &[0, 0, 0, 3, 1, 2, 3],                                               // a frame too short for a header
        &[0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0, 0],                   // api key 999
        &[0, 0, 0, 12, 0, 3, 0, 99, 0, 0, 0, 1, 0, 0, 0, 0],                  // Metadata v99
        &[0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0x7f, 0xff, 0xff, 0xff], // Metadata v1 claiming 2^31 topics
    ];
    for frame in hostile {
        assert!(raw_exchange(&addr, frame).await.is_empty(), "answered {frame:?}");
        assert!(!metadata(&good, None).await.brokers.is_empty(), "the good connection still works");
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn three_hundred_connections_dropped_mid_frame_do_not_stop_the_broker() {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    let addr = cluster.bootstrap();
    let mut streams = Vec::new();
    for i in 0..300u32 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        // A size prefix promising 1 MiB, then a few bytes of it.
        stream.write_all(&(1u32 << 20).to_be_bytes()).await.unwrap();
        stream.write_all(&i.to_be_bytes()).await.unwrap();
        streams.push(stream);
    }
    drop(streams);
    let conn = connect(&addr).await;
    assert_eq!(metadata(&conn, None).await.brokers.len(), 1);
    cluster.shutdown().await.unwrap();
}
