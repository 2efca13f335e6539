//! Every data-plane API of the embedded broker at every version of our codec's range:
//! each request is answered, decodes at its version, and carries no error.

#![cfg(feature = "embedded")]

use std::time::Duration;

use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::net::{BrokerConnection, ConnectionConfig};
use actix_kafka::protocol::messages::create_topics_request::CreatableTopic;
use actix_kafka::protocol::messages::delete_topics_request::DeleteTopicState;
use actix_kafka::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use actix_kafka::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use actix_kafka::protocol::messages::metadata_request::MetadataRequestTopic;
use actix_kafka::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use actix_kafka::protocol::messages::*;
use actix_kafka::protocol::record::{Compression, RecordBatchBuilder};
use actix_kafka::protocol::{ApiKey, ErrorCode};
use bytes::Bytes;

fn ok(code: i16, what: &str) {
    assert_eq!(ErrorCode::from_i16(code), ErrorCode::None, "{what}");
}

fn one_record(value: &str) -> Bytes {
    let mut builder = RecordBatchBuilder::new(Compression::Snappy);
    builder.push(1_700_000_000_000, None, Some(Bytes::from(value.to_string())), vec![]).unwrap();
    builder.finish().unwrap()
}

async fn start() -> (EmbeddedCluster, BrokerConnection) {
    let cluster = EmbeddedCluster::builder().start().await.unwrap();
    let config = ConnectionConfig::default().request_timeout(Duration::from_secs(10));
    let conn = BrokerConnection::connect(&cluster.bootstrap(), config).await.unwrap();
    (cluster, conn)
}

#[actix_rt::test]
async fn topics_metadata_produce_fetch_and_offsets_at_every_version() {
    let (cluster, conn) = start().await;
    let topic_id = |metadata: &MetadataResponse| metadata.topics[0].topic_id;
    for v in ApiKey::CreateTopics.versions().iter() {
        let name = format!("v{v}");
        let create = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.clone(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 1_000,
            ..Default::default()
        };
        let answer = conn.request_at(&create, v).await.unwrap();
        ok(answer.topics[0].error_code, &format!("CreateTopics v{v}"));
    }
    let mut offset = 0;
    for v in ApiKey::Produce.versions().iter() {
        let request = ProduceRequest {
            acks: 1,
            timeout_ms: 1_000,
            topic_data: vec![TopicProduceData {
                name: "v0".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(one_record(&format!("p{v}"))),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let answer = conn.request_at(&request, v).await.unwrap();
        let p = &answer.responses[0].partition_responses[0];
        ok(p.error_code, &format!("Produce v{v}"));
        assert_eq!(p.base_offset, offset, "Produce v{v}");
        offset += 1;
    }
    for v in ApiKey::Metadata.versions().iter() {
        let topics = Some(vec![MetadataRequestTopic { name: Some("v0".into()), ..Default::default() }]);
        let answer = conn.request_at(&MetadataRequest { topics, ..Default::default() }, v).await.unwrap();
        ok(answer.topics[0].error_code, &format!("Metadata v{v}"));
        assert_eq!(answer.topics[0].partitions.len(), 1, "Metadata v{v}");
        assert_eq!(answer.brokers.len(), 1, "Metadata v{v}");
    }
    let id = topic_id(
        &conn
            .request_at(
                &MetadataRequest {
                    topics: Some(vec![MetadataRequestTopic { name: Some("v0".into()), ..Default::default() }]),
                    ..Default::default()
                },
                12,
            )
            .await
            .unwrap(),
    );
    for v in ApiKey::Fetch.versions().iter() {
        let request = FetchRequest {
            max_wait_ms: 10,
            min_bytes: 1,
            max_bytes: 1 << 20,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: if v < 13 { "v0".into() } else { String::new() },
                topic_id: if v >= 13 { id } else { Default::default() },
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 1,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let answer = conn.request_at(&request, v).await.unwrap();
        let data = &answer.responses[0].partitions[0];
        ok(data.error_code, &format!("Fetch v{v}"));
        assert_eq!(data.high_watermark, offset, "Fetch v{v}");
        assert!(data.records.as_ref().is_some_and(|r| !r.is_empty()), "Fetch v{v}");
    }
    for v in ApiKey::ListOffsets.versions().iter() {
        let mut lookups = vec![(-2, 0), (-1, offset), (1_700_000_000_000, 0), (1_800_000_000_000, -1)];
        if v >= 7 {
            lookups.push((-3, 0)); // every record has the same timestamp: the first one
        }
        for (timestamp, expected) in lookups {
            let request = ListOffsetsRequest {
                replica_id: -1,
                topics: vec![ListOffsetsTopic {
                    name: "v0".into(),
                    partitions: vec![ListOffsetsPartition {
                        partition_index: 0,
                        timestamp,
                        max_num_offsets: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let answer = conn.request_at(&request, v).await.unwrap();
            let p = &answer.topics[0].partitions[0];
            ok(p.error_code, &format!("ListOffsets v{v}"));
            let got = if v == 0 { p.old_style_offsets.first().copied().unwrap_or(-1) } else { p.offset };
            assert_eq!(got, expected, "ListOffsets v{v} at {timestamp}");
        }
    }
    for v in ApiKey::DeleteTopics.versions().iter() {
        let name = format!("v{}", v + 1);
        let request = if v >= 6 {
            DeleteTopicsRequest {
                topics: vec![DeleteTopicState { name: Some(name), ..Default::default() }],
                ..Default::default()
            }
        } else {
            DeleteTopicsRequest { topic_names: vec![name], ..Default::default() }
        };
        let answer = conn.request_at(&request, v).await.unwrap();
        ok(answer.responses[0].error_code, &format!("DeleteTopics v{v}"));
    }
    let all = conn.request_at(&MetadataRequest { topics: None, ..Default::default() }, 12).await.unwrap();
    let mut left: Vec<_> = all.topics.iter().filter_map(|t| t.name.clone()).collect();
    left.sort();
    assert_eq!(left, ["v0"]);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn coordinators_and_producer_ids_at_every_version() {
    let (cluster, conn) = start().await;
    for v in ApiKey::FindCoordinator.versions().iter() {
        let request = if v >= 4 {
            FindCoordinatorRequest { coordinator_keys: vec!["g1".into(), "g2".into()], ..Default::default() }
        } else {
            FindCoordinatorRequest { key: "g1".into(), ..Default::default() }
        };
        let answer = conn.request_at(&request, v).await.unwrap();
        if v >= 4 {
            assert_eq!(answer.coordinators.len(), 2);
            assert!(answer.coordinators.iter().all(|c| c.error_code == 0 && c.node_id == 0));
        } else {
            ok(answer.error_code, &format!("FindCoordinator v{v}"));
            assert_eq!(answer.node_id, 0);
        }
    }
    let transaction = FindCoordinatorRequest { key: "tx".into(), key_type: 1, ..Default::default() };
    let refused = conn.request_at(&transaction, 3).await.unwrap();
    assert_eq!(ErrorCode::from_i16(refused.error_code), ErrorCode::CoordinatorNotAvailable);

    let mut ids = Vec::new();
    for v in ApiKey::InitProducerId.versions().iter() {
        let request = InitProducerIdRequest {
            transactional_id: None,
            producer_id: -1,
            producer_epoch: -1,
            transaction_timeout_ms: 60_000,
            ..Default::default()
        };
        let answer = conn.request_at(&request, v).await.unwrap();
        ok(answer.error_code, &format!("InitProducerId v{v}"));
        assert_eq!(answer.producer_epoch, 0);
        ids.push(answer.producer_id);
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "every id is new: {ids:?}");
    let bump =
        InitProducerIdRequest { transactional_id: None, producer_id: ids[0], producer_epoch: 0, ..Default::default() };
    let bumped = conn.request_at(&bump, 4).await.unwrap();
    assert_eq!((bumped.error_code, bumped.producer_id, bumped.producer_epoch), (0, ids[0], 1));
    let transactional = InitProducerIdRequest {
        transactional_id: Some("tx".into()),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let refused = conn.request_at(&transactional, 4).await.unwrap();
    assert_eq!(ErrorCode::from_i16(refused.error_code), ErrorCode::TransactionalIdAuthorizationFailed);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn forget_producer_state_makes_the_next_sequence_unknown() {
    let (cluster, conn) = start().await;
    let id = conn
        .request(&InitProducerIdRequest {
            transactional_id: None,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        })
        .await
        .unwrap();
    let send = |sequence: i32| {
        let mut builder = RecordBatchBuilder::new(Compression::None)
            .producer_id(id.producer_id)
            .producer_epoch(0)
            .base_sequence(sequence);
        builder.push(1, None, Some(Bytes::from_static(b"idempotent")), vec![]).unwrap();
        ProduceRequest {
            acks: -1,
            timeout_ms: 1_000,
            topic_data: vec![TopicProduceData {
                name: "idem".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(builder.finish().unwrap()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    };
    let code = |answer: ProduceResponse| ErrorCode::from_i16(answer.responses[0].partition_responses[0].error_code);
    assert_eq!(code(conn.request(&send(0)).await.unwrap()), ErrorCode::None);
    assert_eq!(code(conn.request(&send(1)).await.unwrap()), ErrorCode::None);
    cluster.control("forget-producers").await.unwrap();
    assert_eq!(code(conn.request(&send(2)).await.unwrap()), ErrorCode::UnknownProducerId);
    cluster.shutdown().await.unwrap();
}
