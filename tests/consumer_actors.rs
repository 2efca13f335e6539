//! The consumer's fetch side against the embedded broker: every record exactly once
//! and in order, start positions, seek, pause and resume, redelivery after a handler
//! error, the reset policies, records larger than the partition fetch size, a broker
//! going down and up, a regex subscription following a new topic, and close draining
//! the delivery in flight.

mod broker_support;
mod consumer_support;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use actix::{Actor, Addr};
use actix_kafka::consumer::{
    Assign, Close, ConsumeError, Consumer, ConsumerEvent, GetConsumerStats, OffsetReset, Pause, Resume, Seek,
    StartPosition, Subscribe, TopicPartition,
};
use broker_support::{soak, start_cluster};
use consumer_support::*;

async fn subscribe(consumer: &Addr<Consumer>, topic: &str, collecting: &Collecting) {
    let subscribe =
        Subscribe::topics([topic]).to(collecting.addr.clone().recipient()).events(collecting.addr.clone().recipient());
    consumer.send(subscribe).await.expect("mailbox").expect("subscribed");
}

#[actix_rt::test]
async fn a_subscription_without_group_reads_every_record_once_in_order() {
    let n = soak(3_000, 100_000);
    let cluster = start_cluster(3, &[("orders", 4)]).await;
    produce_numbered(&cluster.bootstrap(), "orders", 4, n).await;
    let consumer = builder(&cluster).max_records_per_delivery(300).build().unwrap().start();
    let mut collecting = Collecting::plain();
    subscribe(&consumer, "orders", &collecting).await;
    let records = collecting.wait_for(4 * n).await;
    assert_exactly_once(&records, &all(4, n));

    let stats = consumer.send(GetConsumerStats).await.unwrap();
    assert_eq!(stats.records_acknowledged, 4 * n as u64);
    assert_eq!(stats.partitions.len(), 4);
    assert!(stats.partitions.values().all(|p| p.position == n as i64 && p.lag == 0 && p.acknowledged == n as i64));
    assert!(stats.fetch_requests > 0 && stats.bytes_fetched > 0);
    consumer.send(Close).await.unwrap().unwrap();
    assert!(matches!(
        consumer.send(Seek { partition: ("orders", 0).into(), position: StartPosition::Earliest }).await.unwrap(),
        Err(ConsumeError::Closed)
    ));
    consumer.send(Close).await.unwrap().expect("close is idempotent");
    // Closing stops the broker consumers for good: no restart is counted (each close
    // used to restart them once, with a warning).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(consumer.send(GetConsumerStats).await.unwrap().broker_restarts, 0);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn assign_starts_where_told_and_seek_moves_the_position() {
    let cluster = start_cluster(1, &[("t", 2)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 2, 100).await;
    let consumer = builder(&cluster).build().unwrap().start();
    let mut collecting = Collecting::plain();
    let assign = Assign {
        partitions: vec![
            (("t", 0).into(), StartPosition::Offset { offset: 60, leader_epoch: -1 }),
            (("t", 1).into(), StartPosition::Latest),
        ],
        recipient: Some(collecting.addr.clone().recipient()),
        events: None,
    };
    consumer.send(assign).await.unwrap().unwrap();
    let records = collecting.wait_for(40).await;
    assert_exactly_once(&records, &[(0, 60..100)].into_iter().collect());

    // Seek partition 1 (at the log end) back to 90 and partition 0 back to 95.
    consumer
        .send(Seek { partition: ("t", 1).into(), position: StartPosition::Offset { offset: 90, leader_epoch: -1 } })
        .await
        .unwrap()
        .unwrap();
    consumer
        .send(Seek { partition: ("t", 0).into(), position: StartPosition::Offset { offset: 95, leader_epoch: -1 } })
        .await
        .unwrap()
        .unwrap();
    let records = collecting.wait_for(40 + 10 + 5).await;
    assert_exactly_once(&records[40..], &[(0, 95..100), (1, 90..100)].into_iter().collect());
    let unknown = consumer.send(Seek { partition: ("t", 7).into(), position: StartPosition::Earliest }).await.unwrap();
    assert!(matches!(unknown, Err(ConsumeError::NotAssigned { partition: 7, .. })));
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn paused_partitions_get_nothing_until_resumed() {
    let cluster = start_cluster(1, &[("t", 2)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 2, 50).await;
    let consumer = builder(&cluster).build().unwrap().start();
    let mut collecting = Collecting::plain();
    let assign =
        Assign::partitions([("t", 0), ("t", 1)]).from(StartPosition::Earliest).to(collecting.addr.clone().recipient());
    consumer.send(assign).await.unwrap().unwrap();
    // The consumer handles messages in order: partition 0 is paused before its first fetch.
    consumer.send(Pause { partitions: vec![("t", 0).into()] }).await.unwrap().unwrap();
    let refused = consumer.send(Pause { partitions: vec![("t", 1).into(), ("t", 5).into()] }).await.unwrap();
    assert!(matches!(refused, Err(ConsumeError::NotAssigned { partition: 5, .. })), "{refused:?}");
    let records = collecting.wait_for(50).await;
    assert_exactly_once(&records, &[(1, 0..50)].into_iter().collect());
    let stats = consumer.send(GetConsumerStats).await.unwrap();
    let p0 = stats.partitions[&TopicPartition::new("t", 0)];
    assert!(p0.paused && p0.acknowledged == -1, "{p0:?}");
    assert!(!stats.partitions[&TopicPartition::new("t", 1)].paused, "the refused pause paused nothing");
    consumer.send(Resume { partitions: vec![("t", 0).into()] }).await.unwrap().unwrap();
    let records = collecting.wait_for(100).await;
    assert_exactly_once(&records, &all(2, 50));
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

/// Polls the stats until `n` partitions have a position: a reset's ListOffsets has no
/// event of its own to await, and the test must not produce before it answered.
async fn wait_positions(consumer: &Addr<Consumer>, n: usize) {
    tokio::time::timeout(WAIT, async {
        loop {
            let stats = consumer.send(GetConsumerStats).await.unwrap();
            if stats.partitions.values().filter(|p| p.position >= 0).count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("partitions get positions");
}

#[actix_rt::test]
async fn a_failed_delivery_is_redelivered_and_nothing_is_lost() {
    let cluster = start_cluster(1, &[("t", 1)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 1, 500).await;
    let consumer = builder(&cluster).max_records_per_delivery(100).build().unwrap().start();
    let mut collecting = Collecting::start(3, Duration::ZERO);
    subscribe(&consumer, "t", &collecting).await;
    let records = collecting.wait_for(500).await;
    assert_exactly_once(&records, &all(1, 500));
    assert_eq!(*collecting.seen.failed.lock().unwrap(), 3);
    let stats = consumer.send(GetConsumerStats).await.unwrap();
    assert_eq!(stats.handler_errors, 3);
    assert_eq!(stats.records_delivered, 500 + 3 * 100, "the first delivery went out four times");
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn reset_policies_earliest_latest_and_none() {
    let cluster = start_cluster(1, &[("t", 1)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 1, 20).await;

    let earliest = builder(&cluster).offset_reset(OffsetReset::Earliest).build().unwrap().start();
    let mut from_start = Collecting::plain();
    subscribe(&earliest, "t", &from_start).await;
    assert_exactly_once(&from_start.wait_for(20).await, &all(1, 20));

    let latest = builder(&cluster).offset_reset(OffsetReset::Latest).build().unwrap().start();
    let mut from_end = Collecting::plain();
    subscribe(&latest, "t", &from_end).await;
    wait_positions(&latest, 1).await;

    let none = builder(&cluster).offset_reset(OffsetReset::None).build().unwrap().start();
    let mut nowhere = Collecting::plain();
    subscribe(&none, "t", &nowhere).await;
    let event = nowhere.wait_event(|e| matches!(e, ConsumerEvent::Error(ConsumeError::OffsetOutOfRange { .. }))).await;
    assert!(matches!(event, ConsumerEvent::Error(ConsumeError::OffsetOutOfRange { partition: 0, .. })));
    // A seek releases it.
    let seek = Seek { partition: ("t", 0).into(), position: StartPosition::Offset { offset: 15, leader_epoch: -1 } };
    none.send(seek).await.unwrap().unwrap();
    assert_exactly_once(&nowhere.wait_for(5).await, &[(0, 15..20)].into_iter().collect());

    // Twenty more: the latest consumer sees only them, the others continue.
    produce_range(&cluster.bootstrap(), "t", 1, 20..40).await;
    assert_exactly_once(&from_end.wait_for(20).await, &[(0, 20..40)].into_iter().collect());
    assert_exactly_once(&from_start.wait_for(40).await, &all(1, 40));
    assert_exactly_once(&nowhere.wait_for(25).await, &[(0, 15..40)].into_iter().collect());
    for consumer in [earliest, latest, none] {
        consumer.send(Close).await.unwrap().unwrap();
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn records_larger_than_the_partition_fetch_size_still_arrive() {
    let cluster = start_cluster(1, &[("big", 1)]).await;
    produce_sized(&cluster.bootstrap(), "big", 1, 5, 200_000).await;
    let consumer = builder(&cluster).max_partition_fetch_bytes(10_000).fetch_max_bytes(20_000).build().unwrap().start();
    let mut collecting = Collecting::plain();
    subscribe(&consumer, "big", &collecting).await;
    let records = collecting.wait_for(5).await;
    assert_exactly_once(&records, &all(1, 5));
    assert!(records.iter().all(|r| r.value.as_ref().unwrap().len() == 200_000));
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn consumption_continues_across_a_node_down_and_up() {
    let n = soak(2_000, 50_000);
    let cluster = start_cluster(3, &[("t", 6)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 6, n / 2).await;
    let consumer = builder(&cluster).build().unwrap().start();
    let mut collecting = Collecting::plain();
    subscribe(&consumer, "t", &collecting).await;
    collecting.wait_for(6 * n / 2).await;
    cluster.node_down(2).await.unwrap();
    // The second half goes to the new leaders.
    produce_range(&cluster.bootstrap(), "t", 6, n / 2..n).await;
    cluster.node_up(2).await.unwrap();
    cluster.move_leader("t", 0, 2).await.unwrap();
    let records = collecting.wait_for(6 * n).await;
    assert_exactly_once(&records, &all(6, n));
    let stats = consumer.send(GetConsumerStats).await.unwrap();
    assert!(stats.broker_restarts >= 1, "the fetch on the stopped node failed and its consumer restarted: {stats:?}");
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_pattern_subscription_follows_new_topics() {
    let cluster = start_cluster(1, &[("metrics-a", 1), ("other", 1)]).await;
    let client =
        actix_kafka::client::ClientConfig::new(&cluster.bootstrap()).metadata_max_age(Duration::from_millis(200));
    let consumer = builder(&cluster).client(client).build().unwrap().start();
    let mut collecting = Collecting::plain();
    let subscribe = Subscribe::pattern(regex::Regex::new("metrics-.*").unwrap())
        .to(collecting.addr.clone().recipient())
        .events(collecting.addr.clone().recipient());
    consumer.send(subscribe).await.unwrap().unwrap();
    produce_numbered(&cluster.bootstrap(), "metrics-a", 1, 10).await;
    produce_numbered(&cluster.bootstrap(), "other", 1, 10).await;
    collecting.wait_for(10).await;
    cluster.create_topic("metrics-b", 1).await.unwrap();
    collecting.wait_event(|e| matches!(e, ConsumerEvent::Assigned { partitions } if partitions.iter().any(|p| &*p.topic == "metrics-b"))).await;
    produce_numbered(&cluster.bootstrap(), "metrics-b", 1, 10).await;
    let records = collecting.wait_for(20).await;
    assert!(records.iter().all(|r| r.topic.starts_with("metrics-")));
    assert_eq!(records.iter().filter(|r| &*r.topic == "metrics-b").count(), 10);
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn close_waits_for_the_delivery_in_flight() {
    let cluster = start_cluster(1, &[("t", 1)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 1, 10).await;
    let consumer = builder(&cluster).build().unwrap().start();
    let mut collecting = Collecting::start(0, Duration::from_millis(300));
    subscribe(&consumer, "t", &collecting).await;
    collecting.wait_received().await;
    consumer.send(Close).await.unwrap().unwrap();
    // The delivery in flight was answered before Close returned.
    let records = collecting.seen.records();
    assert_eq!(records.len(), 10, "the slow delivery finished during the drain");
    let _ = collecting.wait_for(10).await;
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn close_does_not_wait_for_the_redelivery_of_a_failed_delivery() {
    // Regression: a delivery answered `Err` waits out the redelivery backoff; a drain
    // used to count it as in flight and waited the whole drain timeout.
    let cluster = start_cluster(1, &[("t", 1)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 1, 10).await;
    let consumer = builder(&cluster)
        .redelivery_backoff(Duration::from_secs(60))
        .drain_timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .start();
    let mut collecting = Collecting::start(usize::MAX, Duration::ZERO);
    subscribe(&consumer, "t", &collecting).await;
    collecting.wait_received().await;
    let closed = tokio::time::timeout(Duration::from_secs(20), consumer.send(Close)).await;
    assert!(closed.is_ok(), "Close waited for a redelivery 60 s away");
    closed.unwrap().unwrap().unwrap();
    assert!(collecting.seen.records().is_empty(), "nothing was acknowledged");
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn closing_a_group_member_tells_the_subscriber_revoked() {
    let cluster = start_cluster(1, &[("t", 2)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 2, 10).await;
    let consumer = builder(&cluster)
        .group_id("close-revokes")
        .heartbeat_interval(Duration::from_millis(100))
        .session_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
        .start();
    let mut collecting = Collecting::plain();
    subscribe(&consumer, "t", &collecting).await;
    let _ = collecting.wait_for(20).await;
    consumer.send(Close).await.unwrap().unwrap();
    let revoked = collecting.seen.events().into_iter().find_map(|e| match e {
        ConsumerEvent::Revoked { partitions } => Some(partitions),
        _ => None,
    });
    let expected = vec![TopicPartition::new("t", 0), TopicPartition::new("t", 1)];
    assert_eq!(revoked, Some(expected), "Revoked was handled before Close returned");
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_partition_with_a_backlog_beside_an_idle_one_is_not_held_by_long_polls() {
    // Regression: a partition whose buffer filled left the next fetch to its idle
    // neighbour, which long-polled the whole `fetch_max_wait`; the partition's next
    // want could not join that fetch, so it got one buffer's worth per long poll
    // (here two long polls of 3 s: 6 s; now well under one).
    let n = 3_000;
    let cluster = start_cluster(1, &[("skew", 2)]).await;
    produce_sized(&cluster.bootstrap(), "skew", 1, n, 100).await;
    let consumer = builder(&cluster)
        .fetch_max_wait(Duration::from_secs(3))
        .max_partition_fetch_bytes(8 * 1024)
        .build()
        .unwrap()
        .start();
    let mut collecting = Collecting::plain();
    let started = std::time::Instant::now();
    subscribe(&consumer, "skew", &collecting).await;
    let records = collecting.wait_for(n).await;
    let elapsed = started.elapsed();
    assert_exactly_once(&records, &BTreeMap::from([(0, 0..n)]));
    assert!(elapsed < Duration::from_secs(3), "{n} records of one partition took {elapsed:?}: a long poll held them");
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}
