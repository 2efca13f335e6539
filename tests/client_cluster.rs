//! The `Cluster` actor against the embedded broker (3 nodes) and librdkafka 2.16's
//! mock cluster: metadata, coalesced refreshes, leader moves, pooled connections,
//! bootstrap fall-through, bounded failure, InitProducerId.

#![cfg(feature = "embedded")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use actix_kafka::client::{
    ClientConfig, ClientError, Cluster, ClusterMetadata, GetAnyConnection, GetConnection, GetMetadata, GetStats,
    InitProducerId, RefreshMetadata,
};
use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::protocol::messages::MetadataRequest;
use actix_kafka::protocol::{ApiKey, ErrorCode};
use support::{Librdkafka, MockCluster};

const BOUND: Duration = Duration::from_secs(10);

async fn embedded(topics: &[(&str, i32)]) -> EmbeddedCluster {
    let cluster = EmbeddedCluster::builder().nodes(3).start().await.expect("start the embedded cluster");
    for (name, partitions) in topics {
        cluster.create_topic(name, *partitions).await.expect("create a topic");
    }
    cluster
}

fn config(bootstrap: &str) -> ClientConfig {
    ClientConfig::new(bootstrap).request_timeout(Duration::from_secs(5))
}

async fn metadata(cluster: &Addr<Cluster>, topics: &[&str], refresh: bool) -> Arc<ClusterMetadata> {
    let topics = topics.iter().map(|t| t.to_string()).collect();
    let answer = tokio::time::timeout(BOUND, cluster.send(GetMetadata { topics, refresh })).await;
    answer.expect("GetMetadata within the bound").expect("the actor is alive").expect("metadata")
}

/// A loopback address nobody listens on.
fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").to_string()
}

/// Every partition of `topic` has a leader among the listed brokers.
fn assert_every_leader_known(metadata: &ClusterMetadata, topic: &str, partitions: usize) {
    assert_eq!(metadata.partition_count(topic), Some(partitions));
    for partition in &metadata.topics[topic].partitions {
        let leader = metadata.leader(topic, partition.id);
        assert!(leader.is_some(), "{topic}-{} has no known leader: {partition:?}", partition.id);
        assert_eq!(partition.error, ErrorCode::None);
    }
}

#[actix_rt::test]
async fn metadata_lists_every_broker_and_leader() {
    let broker = embedded(&[("t", 6)]).await;
    let cluster = Cluster::start(config(&broker.bootstrap()).allow_auto_topic_creation(false)).unwrap();
    let metadata = metadata(&cluster, &["t", "missing"], false).await;
    assert_eq!(metadata.brokers.len(), 3);
    let listed: Vec<String> = metadata.brokers.values().map(|b| b.addr()).collect();
    let nodes: Vec<String> = broker.node_addrs().iter().map(|(_, a)| a.to_string()).collect();
    assert_eq!(listed, nodes);
    assert_every_leader_known(&metadata, "t", 6);
    assert_eq!(metadata.topics["missing"].error, ErrorCode::UnknownTopicOrPartition, "kept, with its error");

    let stats = cluster.send(GetStats).await.unwrap();
    let again = crate::metadata(&cluster, &["t"], false).await;
    assert!(Arc::ptr_eq(&metadata, &again), "a known topic is answered from the cache");
    assert_eq!(cluster.send(GetStats).await.unwrap().refreshes, stats.refreshes);
}

/// 50 callers that all want a fresh refresh at once get at most 3 MetadataRequests:
/// with no rate limit (coalesced while one is in flight) and with the default one.
#[actix_rt::test]
async fn concurrent_refreshes_are_coalesced() {
    let broker = embedded(&[("t", 3)]).await;
    for min_interval in [Duration::ZERO, Duration::from_millis(100)] {
        let cluster = Cluster::start(config(&broker.bootstrap()).metadata_min_interval(min_interval)).unwrap();
        metadata(&cluster, &["t"], false).await;
        let before = cluster.send(GetStats).await.unwrap();
        let asks: Vec<_> = (0..50)
            .map(|_| actix_rt::spawn(cluster.send(GetMetadata { topics: vec!["t".into()], refresh: true })))
            .collect();
        for ask in asks {
            let answer = tokio::time::timeout(BOUND, ask).await.expect("bounded").unwrap().unwrap();
            assert_eq!(answer.expect("metadata").partition_count("t"), Some(3));
        }
        let after = cluster.send(GetStats).await.unwrap();
        let (refreshes, requests) =
            (after.refreshes - before.refreshes, after.metadata_requests - before.metadata_requests);
        assert!((1..=3).contains(&refreshes), "{min_interval:?}: 50 refreshes asked for, {refreshes} sent");
        assert!(requests <= 3, "{min_interval:?}: {requests} MetadataRequests");
    }
}

#[actix_rt::test]
async fn a_moved_leader_shows_after_a_refresh() {
    let broker = embedded(&[("t", 2)]).await;
    let cluster = Cluster::start(config(&broker.bootstrap())).unwrap();
    let first = metadata(&cluster, &["t"], false).await;
    let old = first.leader("t", 0).unwrap().id;
    let new = *first.brokers.keys().find(|id| **id != old).unwrap();
    broker.move_leader("t", 0, new).await.unwrap();
    assert_eq!(metadata(&cluster, &["t"], false).await.leader("t", 0).unwrap().id, old, "the cache is stale");

    cluster.send(RefreshMetadata).await.unwrap();
    let deadline = Instant::now() + BOUND;
    loop {
        let seen = metadata(&cluster, &["t"], false).await;
        if seen.leader("t", 0).map(|b| b.id) == Some(new) {
            assert!(seen.topics["t"].partitions[0].leader_epoch > first.topics["t"].partitions[0].leader_epoch);
            break;
        }
        assert!(Instant::now() < deadline, "RefreshMetadata never brought the new leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    broker.move_leader("t", 0, old).await.unwrap();
    assert_eq!(metadata(&cluster, &["t"], true).await.leader("t", 0).unwrap().id, old, "refresh: true waits");
}

#[actix_rt::test]
async fn connections_are_pooled_per_node_and_reopened_after_a_node_restart() {
    let broker = embedded(&[]).await;
    let cluster = Cluster::start(config(&broker.bootstrap())).unwrap();
    let node = *metadata(&cluster, &[], false).await.brokers.keys().last().unwrap();
    let connects = || async { cluster.send(GetStats).await.unwrap().connects };

    let start = connects().await;
    let asks: Vec<_> = (0..10).map(|_| actix_rt::spawn(cluster.send(GetConnection { node }))).collect();
    let mut first = None;
    for ask in asks {
        first = Some(ask.await.unwrap().unwrap().expect("connection"));
    }
    let first = first.unwrap();
    assert_eq!(connects().await, start + 1, "ten concurrent callers share one connect");
    let second = cluster.send(GetConnection { node }).await.unwrap().unwrap();
    assert_eq!(connects().await, start + 1, "the pooled connection is handed out again");
    assert_eq!(second.addr(), first.addr());

    broker.node_down(node).await.unwrap();
    let deadline = Instant::now() + BOUND;
    while !first.is_closed() {
        assert!(Instant::now() < deadline, "the connection never noticed its node went down");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = cluster.send(GetConnection { node }).await.unwrap();
    assert!(matches!(&refused, Err(e) if e.is_retriable()), "{refused:?}");
    broker.node_up(node).await.unwrap();
    let third = cluster.send(GetConnection { node }).await.unwrap().expect("reconnected");
    assert!(!third.is_closed());
    assert!(connects().await >= start + 3, "a new connection after the restart");
    third.request(&MetadataRequest::default()).await.expect("the new connection works");

    let unknown = cluster.send(GetConnection { node: 99 }).await.unwrap();
    assert!(matches!(unknown, Err(ClientError::UnknownNode { node: 99 })), "{unknown:?}");
}

#[actix_rt::test]
async fn bootstrap_falls_through_a_dead_address() {
    let broker = embedded(&[("t", 1)]).await;
    let live = broker.bootstrap().split(',').nth(1).unwrap().to_owned();
    let cluster = Cluster::start(config(&format!("{},{live}", dead_addr()))).unwrap();
    assert_eq!(metadata(&cluster, &["t"], false).await.brokers.len(), 3);
    let any = cluster.send(GetAnyConnection).await.unwrap().expect("a connection");
    assert!(!any.is_closed());
}

#[actix_rt::test]
async fn no_broker_answers_an_error_within_the_timeout() {
    let timeout = Duration::from_millis(500);
    let config = ClientConfig::new(&format!("{},{}", dead_addr(), dead_addr()))
        .request_timeout(timeout)
        .retry_backoff(Duration::from_millis(20))
        .retry_backoff_max(Duration::from_millis(50));
    let cluster = Cluster::start(config).unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(BOUND, cluster.send(GetMetadata { topics: vec!["t".into()], refresh: false }))
        .await
        .expect("never hangs")
        .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed < timeout * 3, "answered after {elapsed:?}");
    let error = answer.expect_err("no broker is up");
    assert!(error.is_retriable());
    assert!(
        matches!(&error, ClientError::NoBrokerAvailable { tried } if tried.len() == 2)
            || matches!(&error, ClientError::Timeout { .. }),
        "{error:?}"
    );
    let started = Instant::now();
    let producer_id = cluster.send(InitProducerId::new_id()).await.unwrap();
    assert!(producer_id.is_err() && started.elapsed() < timeout * 3, "{producer_id:?}");
}

#[actix_rt::test]
async fn init_producer_id_gets_an_id_bumps_its_epoch_and_retries() {
    let broker = embedded(&[]).await;
    let cluster = Cluster::start(config(&broker.bootstrap()).retry_backoff(Duration::from_millis(10))).unwrap();
    let (id, epoch) = cluster.send(InitProducerId::new_id()).await.unwrap().expect("a producer id");
    assert!(id >= 0);
    assert_eq!(epoch, 0);
    let bumped = cluster.send(InitProducerId { producer_id: id, producer_epoch: epoch }).await.unwrap();
    assert_eq!(bumped.expect("bumped"), (id, 1));

    broker.inject_error(ApiKey::InitProducerId, ErrorCode::CoordinatorLoadInProgress, 2, None).await.unwrap();
    broker.inject_error(ApiKey::InitProducerId, ErrorCode::ConcurrentTransactions, 1, None).await.unwrap();
    let (other, _) = cluster.send(InitProducerId::new_id()).await.unwrap().expect("retried past 3 retriable errors");
    assert_ne!(other, id);

    broker.inject_error(ApiKey::InitProducerId, ErrorCode::ClusterAuthorizationFailed, 1, None).await.unwrap();
    let refused = cluster.send(InitProducerId::new_id()).await.unwrap();
    assert!(
        matches!(refused, Err(ClientError::Kafka { error: ErrorCode::ClusterAuthorizationFailed, .. })),
        "{refused:?}"
    );
}

#[actix_rt::test]
async fn metadata_and_init_producer_id_against_librdkafka_2_16_mock() {
    let Some(mock) = MockCluster::start(3, &[("t", 6)], Librdkafka::V2_16) else { return };
    let cluster = Cluster::start(config(mock.bootstrap())).unwrap();
    let metadata = metadata(&cluster, &["t"], false).await;
    assert_eq!(metadata.brokers.len(), 3);
    assert_every_leader_known(&metadata, "t", 6);
    let leader = metadata.leader("t", 0).unwrap().id;
    let connection = cluster.send(GetConnection { node: leader }).await.unwrap().expect("leader connection");
    assert!(!connection.is_closed());

    let (id, epoch) = cluster.send(InitProducerId::new_id()).await.unwrap().expect("a producer id");
    assert!(id >= 0 && epoch >= 0, "({id}, {epoch})");
    let (other, _) = cluster.send(InitProducerId::new_id()).await.unwrap().expect("another producer id");
    assert_ne!(other, id);

    // The mock bumps only transactional ids: its pid lookup compares the address of
    // the request's TransactionalId (never NULL) instead of the string's nullness, so
    // an idempotent producer's null id never matches the empty one it stored
    // (rdkafka_mock_handlers.c, `rd_kafka_mock_pid_find`). The request we send is the
    // one the embedded broker bumps above; here we check that the refusal comes back
    // at once as a typed, non-retriable error rather than retried until the timeout.
    let started = Instant::now();
    let bumped = cluster.send(InitProducerId { producer_id: id, producer_epoch: epoch }).await.unwrap();
    match bumped {
        Ok(answer) => assert_eq!(answer, (id, epoch + 1), "a mock that bumps must bump by one"),
        Err(error) => {
            assert!(
                matches!(error, ClientError::Kafka { error: ErrorCode::InvalidProducerIdMapping, .. }),
                "{error:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(2), "not retried");
        }
    }
}
