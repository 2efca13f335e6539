//! The consumer under faults of the embedded broker, through the public `Consumer`:
//! corrupt batches (retried, then a typed error that stops the partition until a
//! seek), a held partition (a stall, detected and healed), OFFSET_OUT_OF_RANGE under
//! each reset policy, a slow subscriber that must not starve the heartbeats, and
//! incremental fetch sessions.

mod broker_support;
mod consumer_support;
mod support;

use std::time::Duration;

use actix::{Actor, Addr};
use actix_kafka::consumer::{
    Assign, Close, ConsumeError, Consumer, ConsumerEvent, ConsumerStats, GetConsumerStats, OffsetReset, Seek,
    StartPosition, Subscribe, TopicPartition,
};
use broker_support::start_cluster;
use consumer_support::*;

async fn assign(consumer: &Addr<Consumer>, partitions: &[(&str, i32)], collecting: &Collecting) {
    let assign = Assign::partitions(partitions.iter().copied())
        .from(StartPosition::Earliest)
        .to(collecting.addr.clone().recipient())
        .events(collecting.addr.clone().recipient());
    consumer.send(assign).await.expect("mailbox").expect("assigned");
}

async fn stats(consumer: &Addr<Consumer>) -> ConsumerStats {
    consumer.send(GetConsumerStats).await.expect("mailbox")
}

async fn seek(consumer: &Addr<Consumer>, partition: i32, offset: i64) {
    let seek =
        Seek { partition: ("t", partition).into(), position: StartPosition::Offset { offset, leader_epoch: -1 } };
    consumer.send(seek).await.expect("mailbox").expect("seek");
}

#[actix_rt::test]
async fn a_batch_corrupt_fewer_times_than_the_retries_is_fetched_again_and_delivered_once() {
    let cluster = start_cluster(1, &[("t", 1)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 1, 200).await;
    cluster.corrupt_fetch("t", 0, 2).await.unwrap();
    let consumer = builder(&cluster).corrupt_batch_retries(3).build().unwrap().start();
    let mut collecting = Collecting::plain();
    assign(&consumer, &[("t", 0)], &collecting).await;
    let records = collecting.wait_for(200).await;
    assert_exactly_once(&records, &all(1, 200));
    let stats = stats(&consumer).await;
    assert_eq!(stats.corrupt_batches, 2, "each corrupt answer counted once: {stats:?}");
    assert_eq!(stats.records_delivered, 200, "nothing corrupt was delivered, nothing twice");
    assert!(
        !collecting.seen.events().iter().any(|e| matches!(e, ConsumerEvent::Error(_))),
        "within the retries there is no error: {:?}",
        collecting.seen.events()
    );
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_batch_corrupt_past_the_retries_stops_its_partition_until_a_seek_past_it() {
    let cluster = start_cluster(1, &[("t", 2)]).await;
    let b = cluster.bootstrap();
    // Partition 0: two batches, 0..100 (which the broker corrupts) then 100..200.
    produce_numbered(&b, "t", 1, 100).await;
    produce_range(&b, "t", 1, 100..200).await;
    cluster.corrupt_fetch("t", 0, 1_000).await.unwrap();
    let consumer = builder(&cluster).corrupt_batch_retries(3).build().unwrap().start();
    let mut collecting = Collecting::plain();
    assign(&consumer, &[("t", 0), ("t", 1)], &collecting).await;
    let event = collecting.wait_event(|e| matches!(e, ConsumerEvent::Error(ConsumeError::CorruptBatch { .. }))).await;
    assert!(
        matches!(&event, ConsumerEvent::Error(ConsumeError::CorruptBatch { partition: 0, offset: 0, .. })),
        "{event:?}"
    );
    assert!(collecting.seen.records().is_empty(), "nothing corrupt delivered");
    // The fault is gone, yet partition 0 stays where it stopped: partition 1, fetched
    // meanwhile, is the witness that fetches went on without it.
    cluster.corrupt_fetch("t", 0, 0).await.unwrap();
    let tried = stats(&consumer).await.corrupt_batches;
    assert!(tried >= 3, "the batch was fetched again before the error: {tried}");
    produce_records_to(&b, 1, 0..50).await;
    let records = collecting.wait_for(50).await;
    assert!(records.iter().all(|r| r.partition == 1), "partition 0 stopped after the error");
    let p0 = stats(&consumer).await.partitions[&TopicPartition::new("t", 0)];
    assert_eq!(p0.position, 0, "{p0:?}");
    assert_eq!(stats(&consumer).await.corrupt_batches, tried, "a stopped partition is not fetched");

    seek(&consumer, 0, 100).await;
    let records = collecting.wait_for(150).await;
    assert_exactly_once(&records, &[(0, 100..200), (1, 0..50)].into_iter().collect());
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

/// Numbered records `range` into one partition of `t` (only that one).
async fn produce_records_to(bootstrap: &str, partition: i32, range: std::ops::Range<usize>) {
    use actix_kafka::producer::{ProduceBatch, Producer, ProducerRecord};
    let producer = Producer::builder().bootstrap(bootstrap).build().unwrap().start();
    let records = range.map(|i| ProducerRecord::new(value(partition, i)).partition(partition));
    for result in producer.send(ProduceBatch::to("t").records(records)).await.unwrap().unwrap() {
        result.unwrap();
    }
    producer.send(actix_kafka::producer::Close).await.unwrap().unwrap();
}

#[actix_rt::test]
async fn a_held_partition_is_reported_stalled_healed_and_then_read_in_full() {
    let cluster = start_cluster(1, &[("t", 1)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 1, 300).await;
    // Each held fetch waits its whole 100 ms max wait: 30 of them hold the partition
    // for about 3 s, three times the stall timeout.
    cluster.hold_fetch("t", 0, 30).await.unwrap();
    let consumer = builder(&cluster).stall_timeout(Duration::from_secs(1)).build().unwrap().start();
    let mut collecting = Collecting::plain();
    assign(&consumer, &[("t", 0)], &collecting).await;
    let event = collecting.wait_event(|e| matches!(e, ConsumerEvent::Stalled { .. })).await;
    let ConsumerEvent::Stalled { partition, lag, stalled_for } = event else { unreachable!() };
    assert_eq!(partition, TopicPartition::new("t", 0));
    assert_eq!(lag, 300, "the held answers carried the true high watermark");
    assert!(stalled_for >= Duration::from_secs(1), "{stalled_for:?}");
    assert!(collecting.seen.records().is_empty(), "the hold was still on when the stall was reported");
    let records = collecting.wait_for(300).await;
    assert_exactly_once(&records, &all(1, 300));
    let stats = stats(&consumer).await;
    assert!(stats.stalls_healed >= 1, "{stats:?}");
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

/// Polls until partition 0's position is `position` (a reset's ListOffsets has no
/// event of its own).
async fn wait_position(consumer: &Addr<Consumer>, position: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stats = stats(consumer).await;
        let now = stats.partitions.get(&TopicPartition::new("t", 0)).map(|p| p.position);
        if now == Some(position) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "position {now:?}, want {position}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn a_seek_beyond_the_log_end_follows_each_reset_policy() {
    let cluster = start_cluster(1, &[("t", 1)]).await;
    let b = cluster.bootstrap();
    produce_numbered(&b, "t", 1, 50).await;
    let mut consumers = Vec::new();
    for policy in [OffsetReset::Earliest, OffsetReset::Latest, OffsetReset::None] {
        let consumer = builder(&cluster).offset_reset(policy).build().unwrap().start();
        let mut collecting = Collecting::plain();
        assign(&consumer, &[("t", 0)], &collecting).await;
        assert_exactly_once(&collecting.wait_for(50).await, &all(1, 50));
        seek(&consumer, 0, 1_000).await;
        consumers.push((consumer, collecting));
    }
    let [(earliest, from_start), (latest, from_end), (none, nowhere)] = &mut consumers[..] else { unreachable!() };

    // Earliest: back to the log start, everything again.
    let again = from_start.wait_for(100).await;
    assert_exactly_once(&again[50..], &all(1, 50));
    // Latest: to the log end, only what comes next.
    wait_position(latest, 50).await;
    // None: a typed error, and the partition waits.
    let event = nowhere.wait_event(|e| matches!(e, ConsumerEvent::Error(ConsumeError::OffsetOutOfRange { .. }))).await;
    assert!(
        matches!(event, ConsumerEvent::Error(ConsumeError::OffsetOutOfRange { partition: 0, offset: 1_000, .. })),
        "{event:?}"
    );
    produce_range(&b, "t", 1, 50..60).await;
    assert_exactly_once(&from_end.wait_for(60).await[50..], &[(0, 50..60)].into_iter().collect());
    assert_exactly_once(&from_start.wait_for(110).await[100..], &[(0, 50..60)].into_iter().collect());
    assert_eq!(stats(none).await.partitions[&TopicPartition::new("t", 0)].position, 1_000, "none waits for a seek");
    assert_eq!(nowhere.seen.records().len(), 50);
    seek(none, 0, 55).await;
    assert_exactly_once(&nowhere.wait_for(55).await[50..], &[(0, 55..60)].into_iter().collect());
    for consumer in [earliest, latest, none] {
        consumer.send(Close).await.unwrap().unwrap();
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_slow_subscriber_does_not_starve_the_heartbeats() {
    let cluster = start_cluster(1, &[("t", 2)]).await;
    produce_numbered(&cluster.bootstrap(), "t", 2, 20).await;
    // Each delivery takes 1.2 s, longer than the 800 ms session: only heartbeats on
    // their own timer keep the member in the group.
    let consumer = builder(&cluster)
        .group_id("slow")
        .session_timeout(Duration::from_millis(800))
        .heartbeat_interval(Duration::from_millis(100))
        .rebalance_timeout(Duration::from_secs(5))
        .max_records_per_delivery(10)
        .build()
        .unwrap()
        .start();
    let mut collecting = Collecting::start(0, Duration::from_millis(1_200));
    let subscribe =
        Subscribe::topics(["t"]).to(collecting.addr.clone().recipient()).events(collecting.addr.clone().recipient());
    consumer.send(subscribe).await.unwrap().unwrap();
    let records = collecting.wait_for(40).await;
    assert_exactly_once(&records, &all(2, 20));
    let stats = stats(&consumer).await;
    let group = stats.group.expect("group stats");
    assert_eq!(group.rebalances, 1, "one assignment, never dropped: {group:?}");
    assert!(group.heartbeats >= 10, "heartbeats went on during the 2.4 s of processing: {group:?}");
    let events = collecting.seen.events();
    assert!(
        !events.iter().any(|e| matches!(e, ConsumerEvent::Lost { .. } | ConsumerEvent::Revoked { .. })),
        "{events:?}"
    );
    assert_eq!(stats.records_delivered, 40, "nothing redelivered");
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

/// Five rounds of 4 × 200 records, each read before the next is produced (so the
/// consumer long-polls between them); answers the stats.
async fn read_with_sessions(sessions: bool) -> ConsumerStats {
    let cluster = start_cluster(1, &[("t", 4)]).await;
    let consumer = builder(&cluster).fetch_sessions(sessions).build().unwrap().start();
    let mut collecting = Collecting::plain();
    assign(&consumer, &[("t", 0), ("t", 1), ("t", 2), ("t", 3)], &collecting).await;
    for round in 0..5 {
        produce_range(&cluster.bootstrap(), "t", 4, round * 200..(round + 1) * 200).await;
        collecting.wait_for(4 * 200 * (round + 1)).await;
    }
    assert_exactly_once(&collecting.seen.records(), &all(4, 1_000));
    let stats = stats(&consumer).await;
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
    stats
}

#[actix_rt::test]
async fn fetches_are_incremental_once_the_broker_opened_a_session() {
    let with = read_with_sessions(true).await;
    assert!(with.fetch_requests >= 5, "a fetch per round at least: {with:?}");
    assert!(
        with.incremental_fetches + 1 >= with.fetch_requests,
        "only the first fetch, which opens the session, is full: {} of {}",
        with.incremental_fetches,
        with.fetch_requests
    );
    let without = read_with_sessions(false).await;
    assert_eq!(without.incremental_fetches, 0, "sessions off: every fetch is full");
    assert!(without.fetch_requests >= 5);
}
