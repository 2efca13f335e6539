//! The producer pipeline against the embedded broker: every reply's offset read back,
//! order under leader faults, idempotent retries deduplicated, bounded failure,
//! supervised restarts, and the memory budget.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::net::{BrokerConnection, ConnectionConfig};
use actix_kafka::producer::{
    Close, DeliveryReport, Flush, Produce, ProduceBatch, ProduceError, Producer, ProducerRecord, RecordMetadata, Stats,
};
use actix_kafka::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use actix_kafka::protocol::messages::metadata_request::MetadataRequestTopic;
use actix_kafka::protocol::messages::{FetchRequest, MetadataRequest};
use actix_kafka::protocol::record::{decode_batches, DecodeOptions, Record};
use actix_kafka::protocol::{ApiKey, ErrorCode};
use bytes::Bytes;

const TIMEOUT: Duration = Duration::from_secs(60);

async fn cluster(nodes: u32) -> EmbeddedCluster {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    EmbeddedCluster::builder().nodes(nodes).start().await.expect("embedded cluster")
}

/// Every record of `topic`'s `partition`, read from its current leader.
async fn read_back(cluster: &EmbeddedCluster, topic: &str, partition: i32) -> Vec<Record> {
    let first = cluster.bootstrap().split(',').next().unwrap().to_string();
    let any = BrokerConnection::connect(&first, ConnectionConfig::default()).await.unwrap();
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some(topic.into()), ..Default::default() }]),
        ..Default::default()
    };
    let metadata = any.request(&request).await.unwrap();
    let leader = metadata.topics[0].partitions.iter().find(|p| p.partition_index == partition).unwrap().leader_id;
    let broker = metadata.brokers.iter().find(|b| b.node_id == leader).unwrap();
    let conn = BrokerConnection::connect(&format!("{}:{}", broker.host, broker.port), ConnectionConfig::default())
        .await
        .unwrap();
    let (mut records, mut offset) = (Vec::new(), 0);
    loop {
        let request = FetchRequest {
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 64 << 20,
            topics: vec![FetchTopic {
                topic: topic.into(),
                partitions: vec![FetchPartition {
                    partition,
                    fetch_offset: offset,
                    partition_max_bytes: 64 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = conn.request_at(&request, 12).await.unwrap();
        let data = &response.responses[0].partitions[0];
        assert_eq!(ErrorCode::from_i16(data.error_code), ErrorCode::None);
        let batches = decode_batches(data.records.clone().unwrap_or_default(), &DecodeOptions::default()).unwrap();
        for record in batches.into_iter().flat_map(|b| b.records) {
            if record.offset >= offset {
                offset = record.offset + 1;
                records.push(record);
            }
        }
        if offset >= data.high_watermark {
            return records;
        }
    }
}

/// Checks that each reply's offset holds exactly its record, and that nothing else
/// is in the partitions (no duplicate, no loss).
async fn assert_stored_exactly(cluster: &EmbeddedCluster, topic: &str, delivered: &[(Bytes, RecordMetadata)]) {
    let mut by_partition: HashMap<i32, Vec<&(Bytes, RecordMetadata)>> = HashMap::new();
    for entry in delivered {
        by_partition.entry(entry.1.partition).or_default().push(entry);
    }
    for (partition, entries) in by_partition {
        let stored = read_back(cluster, topic, partition).await;
        assert_eq!(stored.len(), entries.len(), "partition {partition}: stored vs acknowledged records");
        for (value, meta) in entries {
            let record = stored.iter().find(|r| r.offset == meta.offset).expect("the reply's offset exists");
            assert_eq!(record.value.as_ref(), Some(value), "partition {partition} offset {}", meta.offset);
        }
    }
}

/// Asserts that, per partition, offsets increase in send order.
fn assert_send_order(delivered: &[(Bytes, RecordMetadata)]) {
    let mut last: HashMap<i32, i64> = HashMap::new();
    for (value, meta) in delivered {
        let previous = last.insert(meta.partition, meta.offset);
        assert!(previous.map_or(true, |p| p < meta.offset), "{value:?} at {} after {previous:?}", meta.offset);
    }
}

fn producer(cluster: &EmbeddedCluster) -> actix_kafka::producer::ProducerBuilder {
    Producer::builder()
        .bootstrap(&cluster.bootstrap())
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(100))
}

#[actix_rt::test]
async fn every_reply_carries_the_offset_its_record_got() {
    let cluster = cluster(3).await;
    cluster.create_topic("orders", 4).await.unwrap();
    let producer = producer(&cluster).build().unwrap().start();
    let mut delivered = Vec::new();
    for i in 0..50 {
        let value = Bytes::from(format!("single-{i}"));
        let meta = producer.send(Produce::to("orders").key(format!("k{}", i % 7)).value(value.clone())).await.unwrap();
        delivered.push((value, meta.unwrap()));
    }
    let records: Vec<_> = (0..10_000).map(|i| ProducerRecord::new(format!("batch-{i}")).key(format!("k{i}"))).collect();
    let started = std::time::Instant::now();
    let results = producer.send(ProduceBatch::to("orders").records(records)).await.unwrap().unwrap();
    eprintln!("10k ProduceBatch: {:?}", started.elapsed());
    assert_eq!(results.len(), 10_000);
    for (i, result) in results.into_iter().enumerate() {
        delivered.push((Bytes::from(format!("batch-{i}")), result.unwrap()));
    }
    assert_send_order(&delivered);
    assert_stored_exactly(&cluster, "orders", &delivered).await;
    let stats = producer.send(Stats).await.unwrap();
    assert_eq!(stats.records_sent, 10_050);
    assert!(stats.batches_sent >= 4 && stats.request_latency_p99 >= stats.request_latency_p50);
    producer.send(Close).await.unwrap().unwrap();
    assert!(matches!(producer.send(Produce::to("orders").value("late")).await.unwrap(), Err(ProduceError::Closed)));
    cluster.shutdown().await.unwrap();
}

struct Reports(tokio::sync::mpsc::UnboundedSender<DeliveryReport>);
impl Actor for Reports {
    type Context = Context<Self>;
}
impl Handler<DeliveryReport> for Reports {
    type Result = ();
    fn handle(&mut self, report: DeliveryReport, _: &mut Context<Self>) {
        let _ = self.0.send(report);
    }
}

/// Sends `count` keyed records with `do_send` and delivery reports while `fault`
/// runs, and returns (value, metadata) in send order.
async fn produce_through<F: std::future::Future<Output = ()>>(
    producer: &Addr<Producer>,
    topic: &str,
    count: usize,
    fault_at: usize,
    fault: F,
) -> Vec<(Bytes, RecordMetadata)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reports = Reports(tx).start();
    let mut fault = Some(fault);
    for i in 0..count {
        if i == fault_at {
            fault.take().unwrap().await;
        }
        let value = Bytes::from(format!("{i:06}"));
        producer.do_send(
            Produce::to(topic).key(format!("key{}", i % 5)).value(value).report_to(reports.clone().recipient()),
        );
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    tokio::time::timeout(TIMEOUT, producer.send(Flush)).await.expect("flush in time").unwrap().unwrap();
    let mut delivered = Vec::new();
    for _ in 0..count {
        let report = tokio::time::timeout(TIMEOUT, rx.recv()).await.unwrap().unwrap();
        let meta = report.result.unwrap_or_else(|e| panic!("record failed: {e}"));
        delivered.push((Bytes::new(), meta));
    }
    delivered.sort_by_key(|(_, m)| (m.partition, m.offset));
    delivered
}

async fn run_fault<F: std::future::Future<Output = ()>>(
    cluster: &EmbeddedCluster,
    fault: F,
) -> Vec<(Bytes, RecordMetadata)> {
    let producer = producer(cluster).linger(Duration::from_millis(2)).build().unwrap().start();
    let out = produce_through(&producer, "keys", 2_000, 700, fault).await;
    producer.send(Close).await.unwrap().unwrap();
    out
}

/// Per key, values were sent in increasing order: stored offsets must list them so.
async fn assert_key_order_and_exactly_once(cluster: &EmbeddedCluster, count: usize) {
    let mut seen = Vec::new();
    for partition in 0..3 {
        let stored = read_back(cluster, "keys", partition).await;
        let mut last: HashMap<Bytes, u64> = HashMap::new();
        for record in stored {
            let value: u64 = std::str::from_utf8(record.value.as_ref().unwrap()).unwrap().parse().unwrap();
            let key = record.key.clone().unwrap();
            if let Some(previous) = last.insert(key.clone(), value) {
                assert!(previous < value, "key {key:?}: {value} stored after {previous}");
            }
            seen.push(value);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..count as u64).collect::<Vec<_>>(), "every record exactly once");
}

#[actix_rt::test]
async fn order_is_kept_under_not_leader_errors() {
    let cluster = cluster(3).await;
    cluster.create_topic("keys", 3).await.unwrap();
    let injected = cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 3, None);
    run_fault(&cluster, async { injected.await.unwrap() }).await;
    assert_key_order_and_exactly_once(&cluster, 2_000).await;
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn order_is_kept_across_a_leader_move_and_a_node_down_and_up() {
    let cluster = cluster(3).await;
    cluster.create_topic("keys", 3).await.unwrap();
    let fault = async {
        cluster.move_leader("keys", 0, 2).await.unwrap();
        cluster.node_down(1).await.unwrap();
    };
    let producer = producer(&cluster).linger(Duration::from_millis(2)).build().unwrap().start();
    produce_through(&producer, "keys", 2_000, 700, fault).await;
    cluster.node_up(1).await.unwrap();
    produce_through(&producer, "keys2", 10, 0, async {}).await;
    let stats = producer.send(Stats).await.unwrap();
    producer.send(Close).await.unwrap().unwrap();
    assert_key_order_and_exactly_once(&cluster, 2_000).await;
    eprintln!("broker restarts after the leader move and node down: {}", stats.broker_restarts);
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_retry_after_a_dropped_answer_is_deduplicated() {
    let cluster = cluster(1).await;
    cluster.create_topic("keys", 3).await.unwrap();
    run_fault(&cluster, async { cluster.drop_after_append(1).await.unwrap() }).await;
    assert_key_order_and_exactly_once(&cluster, 2_000).await;
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn forgotten_producer_state_is_recovered_without_loss_or_duplicates() {
    let cluster = cluster(1).await;
    cluster.create_topic("keys", 3).await.unwrap();
    run_fault(&cluster, async { cluster.forget_producer_state().await.unwrap() }).await;
    assert_key_order_and_exactly_once(&cluster, 2_000).await;
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn with_every_broker_down_every_reply_is_a_typed_error_by_the_deadline() {
    let cluster = cluster(2).await;
    cluster.create_topic("down", 2).await.unwrap();
    let producer = producer(&cluster)
        .delivery_timeout(Duration::from_millis(1_500))
        .request_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
        .start();
    producer.send(Produce::to("down").value("warm")).await.unwrap().unwrap();
    cluster.node_down(0).await.unwrap();
    cluster.node_down(1).await.unwrap();
    let started = std::time::Instant::now();
    let sends: Vec<_> = (0..20).map(|i| producer.send(Produce::to("down").value(format!("{i}")))).collect();
    let batch = producer.send(ProduceBatch::to("down").records((0..20).map(|i| ProducerRecord::new(format!("{i}")))));
    tokio::time::timeout(Duration::from_secs(10), producer.send(Flush)).await.expect("flush returns").unwrap().unwrap();
    eprintln!("flushed after {:?}", started.elapsed());
    for send in sends {
        let error = send.await.unwrap().unwrap_err();
        assert!(!matches!(error, ProduceError::Closed), "{error}");
    }
    assert!(batch.await.unwrap().unwrap().iter().all(Result::is_err));
    assert!(started.elapsed() < Duration::from_secs(5), "bounded by the delivery timeout: {:?}", started.elapsed());
    tokio::time::timeout(Duration::from_secs(10), producer.send(Close)).await.expect("close returns").unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn the_memory_budget_pushes_back() {
    let cluster = cluster(1).await;
    cluster.create_topic("mem", 1).await.unwrap();
    let producer = producer(&cluster)
        .buffer_bytes(4_000)
        .max_request_bytes(3_000)
        .linger(Duration::from_millis(200))
        .build()
        .unwrap()
        .start();
    let value = Bytes::from(vec![b'x'; 1_000]);
    // Three records fill the budget while they linger; a fourth cannot be tried now.
    let held: Vec<_> = (0..3).map(|_| producer.send(Produce::to("mem").value(value.clone()))).collect();
    let refused = producer.send(Produce::to("mem").value(value.clone()).try_now()).await.unwrap();
    assert!(matches!(refused, Err(ProduceError::BufferFull { .. })), "{refused:?}");
    // A waiting Produce goes through once the lingering ones are acknowledged.
    let waited = producer.send(Produce::to("mem").value(value.clone())).await.unwrap().unwrap();
    for send in held {
        assert!(send.await.unwrap().unwrap().offset < waited.offset);
    }
    // A record over max_request_bytes fails alone; its neighbours succeed.
    let big = ProducerRecord::new(vec![b'y'; 3_000]);
    let results = producer
        .send(ProduceBatch::to("mem").records([ProducerRecord::new("a"), big, ProducerRecord::new("b")]))
        .await
        .unwrap()
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(results[1], Err(ProduceError::RecordTooLarge { max: 3_000, .. })), "{:?}", results[1]);
    producer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn the_supervisor_restarts_a_broker_producer_and_nothing_is_lost_or_doubled() {
    let cluster = cluster(1).await;
    cluster.create_topic("keys", 3).await.unwrap();
    let producer = producer(&cluster).linger(Duration::from_millis(2)).build().unwrap().start();
    let flushing = producer.clone();
    let fault = async {
        // The connection is open and idle when the node goes away: the next request
        // finds it dead.
        flushing.send(Flush).await.unwrap().unwrap();
        cluster.node_down(0).await.unwrap();
        cluster.node_up(0).await.unwrap();
    };
    let before = producer.send(Stats).await.unwrap();
    assert_eq!(before.broker_restarts, 0);
    produce_through(&producer, "keys", 1_000, 400, fault).await;
    let stats = producer.send(Stats).await.unwrap();
    producer.send(Close).await.unwrap().unwrap();
    assert!(stats.broker_restarts >= 1, "the BrokerProducer was restarted: {stats:?}");
    assert_eq!((stats.records_sent, stats.records_failed), (1_000, 0));
    assert_key_order_and_exactly_once(&cluster, 1_000).await;
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn many_sends_created_first_and_awaited_in_order_are_batched_together() {
    // The pattern `let replies: Vec<_> = records.map(|r| producer.send(r)).collect();`
    // then `for reply in replies { reply.await }`. actix enqueues a `send` when it is
    // created only while the mailbox has room; past that, the message waits inside its
    // future until polled. With a 1,024-message mailbox, awaiting in order then fed
    // the producer one record per reply, each waiting out the linger alone (6,000
    // records at 20 ms: about 100 s). Every send must reach the producer at once.
    let cluster = cluster(1).await;
    cluster.create_topic("created-first", 3).await.unwrap();
    let producer = producer(&cluster).linger(Duration::from_millis(20)).build().unwrap().start();
    let replies: Vec<_> =
        (0..6_000).map(|i| producer.send(Produce::to("created-first").value(format!("v{i}")))).collect();
    let awaited = tokio::time::timeout(Duration::from_secs(15), async {
        for reply in replies {
            reply.await.expect("mailbox").expect("acknowledged");
        }
    })
    .await;
    assert!(awaited.is_ok(), "6,000 sends awaited in order took over 15 s: they were not batched together");
    producer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}
