//! The embedded broker's KIP-227 fetch sessions and its two fetch faults, driven with
//! raw Fetch requests on real sockets: a full fetch opens a session, incremental
//! fetches long-poll and answer only partitions with news, forgotten partitions stop
//! appearing, session errors are top-level, sessions die with their node, v13 sessions
//! name topics by id; `corrupt_fetch` breaks the client's CRC check and `hold_fetch`
//! answers no records with the true high watermark.

#![cfg(feature = "embedded")]

use std::time::{Duration, Instant};

use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::net::{BrokerConnection, ConnectionConfig};
use actix_kafka::protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use actix_kafka::protocol::messages::fetch_response::PartitionData;
use actix_kafka::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use actix_kafka::protocol::messages::{FetchRequest, FetchResponse, MetadataRequest, ProduceRequest, ProduceResponse};
use actix_kafka::protocol::primitives::Uuid;
use actix_kafka::protocol::record::{
    decode_batches, Compression, DecodeOptions, RecordBatch, RecordBatchBuilder, RecordError,
};
use actix_kafka::protocol::ErrorCode;
use bytes::Bytes;

const TOPIC: &str = "sessions";

async fn connect(addr: &str) -> BrokerConnection {
    let config = ConnectionConfig::default().request_timeout(Duration::from_secs(10));
    BrokerConnection::connect(addr, config).await.expect("connect to the embedded broker")
}

/// One node with `TOPIC` of three partitions, and a connection to it.
async fn one_node() -> (EmbeddedCluster, BrokerConnection) {
    let cluster = EmbeddedCluster::builder().start().await.expect("start");
    cluster.create_topic(TOPIC, 3).await.expect("create topic");
    let conn = connect(&cluster.bootstrap()).await;
    (cluster, conn)
}

fn batch(prefix: &str, count: usize) -> Bytes {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    for i in 0..count {
        builder.push(1_700_000_000_000, None, Some(Bytes::from(format!("{prefix}-{i}"))), vec![]).unwrap();
    }
    builder.finish().expect("encode a batch")
}

/// Produces `count` records to `partition`; answers the base offset.
async fn produce(conn: &BrokerConnection, partition: i32, count: usize) -> i64 {
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: TOPIC.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(batch("r", count)),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let answer: ProduceResponse = conn.request(&request).await.expect("produce");
    let p = &answer.responses[0].partition_responses[0];
    assert_eq!(ErrorCode::from_i16(p.error_code), ErrorCode::None);
    p.base_offset
}

/// A fetch in a session: (partition, fetch offset) by topic name, v12.
fn fetch_request(session_id: i32, session_epoch: i32, partitions: &[(i32, i64)]) -> FetchRequest {
    let topics = if partitions.is_empty() {
        vec![]
    } else {
        vec![FetchTopic {
            topic: TOPIC.into(),
            partitions: partitions
                .iter()
                .map(|&(partition, fetch_offset)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }]
    };
    FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 8 << 20,
        session_id,
        session_epoch,
        topics,
        ..Default::default()
    }
}

fn waiting(mut request: FetchRequest, max_wait_ms: i32) -> FetchRequest {
    request.max_wait_ms = max_wait_ms;
    request.min_bytes = 1;
    request
}

fn forget(mut request: FetchRequest, partitions: Vec<i32>) -> FetchRequest {
    request.forgotten_topics_data = vec![ForgottenTopic { topic: TOPIC.into(), partitions, ..Default::default() }];
    request
}

async fn fetch(conn: &BrokerConnection, request: &FetchRequest) -> FetchResponse {
    conn.request_at(request, 12).await.expect("fetch")
}

/// The answered partitions, by index, sorted.
fn answered(response: &FetchResponse) -> Vec<&PartitionData> {
    let mut all: Vec<&PartitionData> = response.responses.iter().flat_map(|t| &t.partitions).collect();
    all.sort_by_key(|p| p.partition_index);
    all
}

fn indexes(response: &FetchResponse) -> Vec<i32> {
    answered(response).iter().map(|p| p.partition_index).collect()
}

fn record_count(data: &PartitionData) -> usize {
    let batches = decode_batches(data.records.clone().unwrap_or_default(), &DecodeOptions::default()).expect("decode");
    batches.iter().map(|b| b.records.len()).sum()
}

/// Opens a session on all three partitions from offset 0; answers its id.
async fn open_session(conn: &BrokerConnection) -> i32 {
    let full = fetch(conn, &fetch_request(0, 0, &[(0, 0), (1, 0), (2, 0)])).await;
    assert_eq!(ErrorCode::from_i16(full.error_code), ErrorCode::None);
    assert_ne!(full.session_id, 0, "a full fetch with epoch 0 opens a session");
    assert_eq!(indexes(&full), [0, 1, 2], "a full fetch answers every partition");
    full.session_id
}

#[actix_rt::test]
async fn incremental_fetches_long_poll_and_answer_only_partitions_with_news() {
    let (cluster, conn) = one_node().await;
    produce(&conn, 0, 4).await;
    let session = open_session(&conn).await;

    // The client moves p0 past its records: nothing is new anywhere, so the answer
    // waits for max_wait and is empty.
    let started = Instant::now();
    let idle = fetch(&conn, &waiting(fetch_request(session, 1, &[(0, 4)]), 400)).await;
    let waited = started.elapsed();
    assert_eq!((ErrorCode::from_i16(idle.error_code), idle.session_id), (ErrorCode::None, session));
    assert!(indexes(&idle).is_empty(), "nothing changed: {:?}", indexes(&idle));
    assert!(waited >= Duration::from_millis(350) && waited < Duration::from_secs(3), "waited {waited:?}");

    // A produce to p2 200 ms into a long poll ends it; only p2 is answered.
    let producer = connect(&cluster.bootstrap()).await;
    let started = Instant::now();
    let request = waiting(fetch_request(session, 2, &[]), 5_000);
    let late_produce = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        produce(&producer, 2, 3).await
    };
    let (news, _) = tokio::join!(fetch(&conn, &request), late_produce);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(150) && waited < Duration::from_secs(3), "waited {waited:?}");
    assert_eq!(indexes(&news), [2]);
    let p2 = answered(&news)[0];
    assert_eq!((record_count(p2), p2.high_watermark), (3, 3));

    // A sessionless full fetch (epoch -1) still answers everything, with no session.
    let full = fetch(&conn, &fetch_request(0, -1, &[(0, 0), (1, 0), (2, 0)])).await;
    assert_eq!((full.session_id, indexes(&full)), (0, vec![0, 1, 2]));
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn added_partitions_are_answered_and_forgotten_ones_stop_appearing() {
    let (cluster, conn) = one_node().await;
    let full = fetch(&conn, &fetch_request(0, 0, &[(0, 0)])).await;
    let session = full.session_id;
    assert_ne!(session, 0);

    // Adding p1 and p2: both answered once (never answered before), then quiet.
    let added = fetch(&conn, &fetch_request(session, 1, &[(1, 0), (2, 0)])).await;
    assert_eq!(indexes(&added), [1, 2]);
    assert!(indexes(&fetch(&conn, &fetch_request(session, 2, &[])).await).is_empty());

    // p2 forgotten: its new records are not answered, p1's are.
    let forgot = fetch(&conn, &forget(fetch_request(session, 3, &[]), vec![2])).await;
    assert!(indexes(&forgot).is_empty());
    produce(&conn, 2, 2).await;
    produce(&conn, 1, 5).await;
    let news = fetch(&conn, &waiting(fetch_request(session, 4, &[]), 2_000)).await;
    assert_eq!(indexes(&news), [1]);
    assert_eq!(record_count(answered(&news)[0]), 5);

    // Forgetting every partition closes the session.
    let emptied = fetch(&conn, &forget(fetch_request(session, 5, &[]), vec![0, 1])).await;
    assert_eq!(emptied.session_id, 0);
    let gone = fetch(&conn, &fetch_request(session, 6, &[])).await;
    assert_eq!(ErrorCode::from_i16(gone.error_code), ErrorCode::FetchSessionIdNotFound);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn wrong_epochs_and_unknown_ids_are_top_level_errors_and_the_final_epoch_closes() {
    let (cluster, conn) = one_node().await;
    let session = open_session(&conn).await;
    for (id, epoch, expected) in [
        (session, 2, ErrorCode::InvalidFetchSessionEpoch),
        (session, 7, ErrorCode::InvalidFetchSessionEpoch),
        (session.wrapping_add(1), 1, ErrorCode::FetchSessionIdNotFound),
    ] {
        let refused = fetch(&conn, &fetch_request(id, epoch, &[(0, 0)])).await;
        assert_eq!(ErrorCode::from_i16(refused.error_code), expected, "id {id} epoch {epoch}");
        assert!(refused.responses.is_empty() && refused.session_id == 0);
    }
    // The refusals did not move the epoch; a retried epoch is refused.
    assert_eq!(fetch(&conn, &fetch_request(session, 1, &[])).await.error_code, 0);
    let retried = fetch(&conn, &fetch_request(session, 1, &[])).await;
    assert_eq!(ErrorCode::from_i16(retried.error_code), ErrorCode::InvalidFetchSessionEpoch);

    // The final epoch closes the session and answers as a sessionless full fetch.
    let closing = fetch(&conn, &fetch_request(session, -1, &[(0, 0)])).await;
    assert_eq!((closing.error_code, closing.session_id, indexes(&closing)), (0, 0, vec![0]));
    let closed = fetch(&conn, &fetch_request(session, 2, &[])).await;
    assert_eq!(ErrorCode::from_i16(closed.error_code), ErrorCode::FetchSessionIdNotFound);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn sessions_live_on_one_node_and_die_with_it() {
    let cluster = EmbeddedCluster::builder().nodes(2).start().await.expect("start");
    cluster.create_topic(TOPIC, 2).await.unwrap();
    let addrs = cluster.node_addrs();
    let (node0, node1) = (connect(&addrs[0].1.to_string()).await, connect(&addrs[1].1.to_string()).await);
    // Each node leads one partition; open a session on node 1 with whichever it leads.
    let full = fetch(&node1, &fetch_request(0, 0, &[(0, 0), (1, 0)])).await;
    let session = full.session_id;
    assert_ne!(session, 0);
    let elsewhere = fetch(&node0, &fetch_request(session, 1, &[])).await;
    assert_eq!(ErrorCode::from_i16(elsewhere.error_code), ErrorCode::FetchSessionIdNotFound, "per node");

    // A new connection to the same node continues the session (sessions are not per
    // connection); taking the node down and up forgets it.
    let again = connect(&addrs[1].1.to_string()).await;
    assert_eq!(fetch(&again, &fetch_request(session, 1, &[])).await.error_code, 0);
    cluster.node_down(1).await.unwrap();
    cluster.node_up(1).await.unwrap();
    let reconnected = connect(&addrs[1].1.to_string()).await;
    let lost = fetch(&reconnected, &fetch_request(session, 2, &[])).await;
    assert_eq!(ErrorCode::from_i16(lost.error_code), ErrorCode::FetchSessionIdNotFound);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn v13_sessions_name_topics_by_id_and_keep_that_naming() {
    let (cluster, conn) = one_node().await;
    let metadata = conn.request(&MetadataRequest { topics: None, ..Default::default() }).await.expect("metadata");
    let topic_id = metadata.topics.iter().find(|t| t.name.as_deref() == Some(TOPIC)).expect("topic").topic_id;
    assert_ne!(topic_id, Uuid::ZERO, "metadata v10+ carries topic ids");
    produce(&conn, 1, 2).await;

    let by_id = |mut request: FetchRequest| {
        for topic in request.topics.iter_mut() {
            topic.topic_id = topic_id;
        }
        for topic in request.forgotten_topics_data.iter_mut() {
            topic.topic_id = topic_id;
        }
        request
    };
    let full: FetchResponse =
        conn.request_at(&by_id(fetch_request(0, 0, &[(0, 0), (1, 0)])), 13).await.expect("fetch v13");
    assert_ne!(full.session_id, 0);
    assert_eq!(full.responses.len(), 1);
    assert_eq!(full.responses[0].topic_id, topic_id);
    assert_eq!(record_count(&full.responses[0].partitions[1]), 2);

    let by_name = fetch(&conn, &fetch_request(full.session_id, 1, &[])).await;
    assert_eq!(ErrorCode::from_i16(by_name.error_code), ErrorCode::FetchSessionTopicIdError);

    produce(&conn, 0, 1).await;
    produce(&conn, 1, 1).await;
    let request = by_id(forget(fetch_request(full.session_id, 1, &[]), vec![1]));
    let news: FetchResponse = conn.request_at(&request, 13).await.expect("fetch v13");
    assert_eq!(news.error_code, 0);
    assert_eq!(indexes(&news), [0], "p1 was forgotten by topic id");
    assert_eq!(news.responses[0].topic_id, topic_id);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn corrupt_fetch_fails_the_clients_crc_check_and_leaves_the_log_intact() {
    let (cluster, conn) = one_node().await;
    produce(&conn, 0, 10).await;
    cluster.corrupt_fetch(TOPIC, 0, 1).await.unwrap();

    // An answer for another partition, and one without records, use nothing up.
    fetch(&conn, &fetch_request(0, -1, &[(1, 0), (0, 10)])).await;
    let corrupted = fetch(&conn, &fetch_request(0, -1, &[(0, 0)])).await;
    let mut records = answered(&corrupted)[0].records.clone().expect("records");
    let error = RecordBatch::decode(&mut records, &DecodeOptions::default()).unwrap_err();
    assert!(matches!(error, RecordError::CrcMismatch { .. }), "{error:?}");

    let clean = fetch(&conn, &fetch_request(0, -1, &[(0, 0)])).await;
    assert_eq!(record_count(answered(&clean)[0]), 10, "the count is used up and the log is intact");

    // The control line does the same; count 0 clears.
    assert_eq!(cluster.control("corrupt-fetch sessions 0 3").await.unwrap(), "ok corrupt-fetch sessions 0 3");
    let mut bad = answered(&fetch(&conn, &fetch_request(0, -1, &[(0, 0)])).await)[0].records.clone().unwrap();
    assert!(RecordBatch::decode(&mut bad, &DecodeOptions::default()).is_err());
    cluster.control("corrupt-fetch sessions 0 0").await.unwrap();
    assert_eq!(record_count(answered(&fetch(&conn, &fetch_request(0, -1, &[(0, 0)])).await)[0]), 10);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn hold_fetch_answers_no_records_with_the_true_high_watermark() {
    let (cluster, conn) = one_node().await;
    produce(&conn, 0, 6).await;
    produce(&conn, 1, 2).await;
    cluster.hold_fetch(TOPIC, 0, 2).await.unwrap();

    // Held: no records, lag visible, and the long poll waits (p0 adds no bytes).
    let started = Instant::now();
    let held = fetch(&conn, &waiting(fetch_request(0, -1, &[(0, 0)]), 300)).await;
    let waited = started.elapsed();
    let p0 = answered(&held)[0];
    assert_eq!((p0.error_code, p0.high_watermark, p0.records.as_ref().map(Bytes::len)), (0, 6, Some(0)));
    assert!(waited >= Duration::from_millis(250), "waited {waited:?}");

    // Held alongside a free partition: the free one is served in the same answer.
    let mixed = fetch(&conn, &fetch_request(0, -1, &[(0, 0), (1, 0)])).await;
    assert_eq!(record_count(answered(&mixed)[0]), 0);
    assert_eq!(record_count(answered(&mixed)[1]), 2);

    let free = fetch(&conn, &fetch_request(0, -1, &[(0, 0)])).await;
    assert_eq!(record_count(answered(&free)[0]), 6, "two fetches held, then served");

    assert_eq!(cluster.control("hold-fetch sessions 0").await.unwrap(), "ok hold-fetch sessions 0");
    assert_eq!(record_count(answered(&fetch(&conn, &fetch_request(0, -1, &[(0, 0)])).await)[0]), 0);
    cluster.control("hold-fetch sessions 0 5").await.unwrap();
    cluster.hold_fetch(TOPIC, 0, 0).await.unwrap();
    assert_eq!(record_count(answered(&fetch(&conn, &fetch_request(0, -1, &[(0, 0)])).await)[0]), 6, "cleared");
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_held_partition_in_a_session_shows_its_new_high_watermark_without_records() {
    let (cluster, conn) = one_node().await;
    let session = open_session(&conn).await;
    cluster.hold_fetch(TOPIC, 0, 1).await.unwrap();
    produce(&conn, 0, 4).await;
    let held = fetch(&conn, &fetch_request(session, 1, &[])).await;
    assert_eq!(indexes(&held), [0], "the high watermark moved, so p0 is answered");
    let p0 = answered(&held)[0];
    assert_eq!((p0.high_watermark, record_count(p0)), (4, 0));
    let served = fetch(&conn, &fetch_request(session, 2, &[])).await;
    assert_eq!(indexes(&served), [0]);
    assert_eq!(record_count(answered(&served)[0]), 4);
    cluster.shutdown().await.unwrap();
}
