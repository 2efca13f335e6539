//! The consumer's fetch side against third-party peers: librdkafka's mock cluster
//! (2.16 and the system's 2.0.2, which serves Fetch only up to v11 and Metadata v2, so
//! no topic ids), tansu, and record batches written by librdkafka in every codec.
//!
//! Peers come from `.ci/install-peers`; under `CI` a missing peer fails the test.

mod broker_support;
mod consumer_support;
mod support;

use std::time::Duration;

use actix::{Actor, Addr};
use actix_kafka::consumer::{Close, Consumer, ConsumerRecord, GetConsumerStats, OffsetReset, Subscribe};
use broker_support::{blocking, kcat_produce, soak, start_cluster};
use consumer_support::*;
use support::{Librdkafka, MockCluster, Tansu};

fn consumer(bootstrap: &str) -> Addr<Consumer> {
    Consumer::builder()
        .bootstrap(bootstrap)
        .client_id("consumer-peers")
        .offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(300))
        .build()
        .expect("a valid consumer config")
        .start()
}

async fn subscribe(consumer: &Addr<Consumer>, topics: &[&str], collecting: &Collecting) {
    let subscribe = Subscribe::topics(topics.iter().copied())
        .to(collecting.addr.clone().recipient())
        .events(collecting.addr.clone().recipient());
    consumer.send(subscribe).await.expect("mailbox").expect("subscribed");
}

/// Produces `n` records per partition in two halves and consumes them all; with a
/// mock, every partition's leader moves between the halves, so the second half is
/// fetched from other brokers.
async fn round_trip(bootstrap: &str, partitions: i32, mock: Option<&mut MockCluster>) {
    let n = soak(2_000, 50_000);
    produce_numbered(bootstrap, "t", partitions, n / 2).await;
    let consumer = consumer(bootstrap);
    let mut collecting = Collecting::plain();
    subscribe(&consumer, &["t"], &collecting).await;
    collecting.wait_for(partitions as usize * n / 2).await;
    if let Some(mock) = mock {
        for partition in 0..partitions {
            let node = 1 + (partition + 1) % 3;
            let answer = blocking_command(mock, format!("leader t {partition} {node}"));
            answer.unwrap_or_else(|e| panic!("leader move: {e}"));
        }
    }
    produce_range(bootstrap, "t", partitions, n / 2..n).await;
    let records = collecting.wait_for(partitions as usize * n).await;
    assert_exactly_once(&records, &all(partitions, n));
    let stats = consumer.send(GetConsumerStats).await.unwrap();
    assert_eq!(stats.records_acknowledged, (partitions as usize * n) as u64);
    consumer.send(Close).await.unwrap().unwrap();
}

/// The mock's stdin is a blocking pipe; its commands answer in milliseconds.
fn blocking_command(mock: &mut MockCluster, command: String) -> Result<String, String> {
    mock.command(&command)
}

async fn on_mock(lib: Librdkafka) {
    let Some(mut mock) = MockCluster::start(3, &[("t", 4)], lib) else { return };
    let bootstrap = mock.bootstrap().to_owned();
    round_trip(&bootstrap, 4, Some(&mut mock)).await;
}

#[actix_rt::test]
async fn every_record_once_on_the_mock_cluster_2_16_across_leader_moves() {
    on_mock(Librdkafka::V2_16).await;
}

#[actix_rt::test]
async fn every_record_once_on_the_mock_cluster_2_0_2_across_leader_moves() {
    on_mock(Librdkafka::System).await;
}

#[actix_rt::test]
async fn every_record_once_on_tansu() {
    let Some(tansu) = Tansu::start() else { return };
    tansu.create_topic("t", 3);
    round_trip(&tansu.bootstrap(), 3, None).await;
}

#[actix_rt::test]
async fn every_codec_written_by_librdkafka_decodes() {
    if support::require_peer(support::Peer::Kcat).is_none() {
        return;
    }
    const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];
    let n = soak(2_000, 20_000);
    let cluster = start_cluster(1, &CODECS.map(|c| (c, 1))).await;
    for codec in CODECS {
        let records: Vec<(String, String)> = (0..n).map(|i| (format!("k{i}"), value(0, i))).collect();
        let bootstrap = cluster.bootstrap();
        let extra = ["-p", "0", "-X", "linger.ms=20"];
        blocking(move || kcat_produce(Librdkafka::System, &bootstrap, codec, codec, &records, &extra)).await;
    }
    let consumer = consumer(&cluster.bootstrap());
    let mut collecting = Collecting::plain();
    subscribe(&consumer, &CODECS, &collecting).await;
    let records = collecting.wait_for(4 * n).await;
    for codec in CODECS {
        let of_codec: Vec<ConsumerRecord> = records.iter().filter(|r| &*r.topic == codec).cloned().collect();
        assert_exactly_once(&of_codec, &all(1, n));
        assert!(
            of_codec.iter().enumerate().all(|(i, r)| r.key.as_deref() == Some(format!("k{i}").as_bytes())),
            "{codec} keys"
        );
    }
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

/// Consume throughput against kcat's on the same embedded broker: 1M 100-byte records
/// over 4 partitions. Soak only (`ACTIX_KAFKA_SOAK=1`, best in `--release`); prints
/// both figures.
#[actix_rt::test]
async fn consume_throughput_against_kcat() {
    if soak(true, false) || support::require_peer(support::Peer::Kcat).is_none() {
        return;
    }
    let (partitions, per_partition) = (4, 250_000);
    let cluster = start_cluster(1, &[("bench", partitions)]).await;
    produce_sized(&cluster.bootstrap(), "bench", partitions, per_partition, 100).await;
    let total = partitions as usize * per_partition;

    let started = std::time::Instant::now();
    let consumer = consumer(&cluster.bootstrap());
    let mut collecting = Collecting::plain();
    subscribe(&consumer, &["bench"], &collecting).await;
    collecting.wait_for(total).await;
    let ours = started.elapsed();
    consumer.send(Close).await.unwrap().unwrap();

    let bootstrap = cluster.bootstrap();
    let started = std::time::Instant::now();
    let read = blocking(move || {
        let args = ["-C", "-b", &bootstrap, "-t", "bench", "-o", "beginning", "-e", "-q", "-f", "%o\n"];
        support::kcat::kcat_ok(Librdkafka::V2_16, &args, b"").stdout.iter().filter(|b| **b == b'\n').count()
    })
    .await;
    let theirs = started.elapsed();
    assert_eq!(read, total);
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    eprintln!("consume {total} records: ours {ours:?} ({:.0}/s), kcat {theirs:?} ({:.0}/s)", rate(ours), rate(theirs));
    cluster.shutdown().await.unwrap();
}
