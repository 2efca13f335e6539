//! Shared by the `consumer_*` tests: a subscriber actor that collects what it is
//! delivered (failing the first deliveries on demand, or holding each one for a
//! while), producing numbered records, and the "every record exactly once, in order"
//! check.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use actix_kafka::consumer::{ConsumerEvent, ConsumerRecord, HandlerError, Records};
use actix_kafka::producer::{Close, ProduceBatch, Producer, ProducerRecord};
use tokio::sync::watch;

/// A consumer of `cluster` that starts at the log start, long-polls briefly and
/// retries quickly: what most tests against the embedded broker want.
pub fn builder(cluster: &actix_kafka::embedded::EmbeddedCluster) -> actix_kafka::consumer::ConsumerBuilder {
    actix_kafka::consumer::Consumer::builder()
        .bootstrap(&cluster.bootstrap())
        .offset_reset(actix_kafka::consumer::OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .redelivery_backoff(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

/// How long a test waits for records before it fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// What a [`Collector`] saw.
#[derive(Clone, Default)]
pub struct Seen {
    pub records: Arc<Mutex<Vec<ConsumerRecord>>>,
    pub events: Arc<Mutex<Vec<ConsumerEvent>>>,
    /// How many deliveries the collector answered with an error.
    pub failed: Arc<Mutex<usize>>,
}

impl Seen {
    pub fn records(&self) -> Vec<ConsumerRecord> {
        self.records.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<ConsumerEvent> {
        self.events.lock().unwrap().clone()
    }
}

/// The subscriber: keeps every acknowledged record.
pub struct Collector {
    seen: Seen,
    /// Deliveries left to fail.
    fail: usize,
    /// How long each delivery takes.
    hold: Duration,
    count: watch::Sender<usize>,
    events: watch::Sender<usize>,
    received: watch::Sender<usize>,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

/// A collector and the handles to watch it.
pub struct Collecting {
    pub addr: Addr<Collector>,
    pub seen: Seen,
    count: watch::Receiver<usize>,
    events: watch::Receiver<usize>,
    received: watch::Receiver<usize>,
}

impl Collecting {
    /// Starts a collector that fails the first `fail` deliveries and holds each one
    /// for `hold`.
    pub fn start(fail: usize, hold: Duration) -> Collecting {
        let seen = Seen::default();
        let (count, count_rx) = watch::channel(0);
        let (events, events_rx) = watch::channel(0);
        let (received, received_rx) = watch::channel(0);
        let addr = Collector { seen: seen.clone(), fail, hold, count, events, received }.start();
        Collecting { addr, seen, count: count_rx, events: events_rx, received: received_rx }
    }

    pub fn plain() -> Collecting {
        Collecting::start(0, Duration::ZERO)
    }

    /// Waits until at least `n` records were acknowledged.
    pub async fn wait_for(&mut self, n: usize) -> Vec<ConsumerRecord> {
        let waited = tokio::time::timeout(WAIT, self.count.wait_for(|c| *c >= n)).await;
        let got = self.seen.records.lock().unwrap().len();
        assert!(waited.is_ok(), "waited {WAIT:?} for {n} records, got {got}");
        self.seen.records()
    }

    /// Waits until a delivery arrived (answered or not).
    pub async fn wait_received(&mut self) {
        let waited = tokio::time::timeout(WAIT, self.received.wait_for(|c| *c >= 1)).await;
        assert!(waited.is_ok(), "no delivery within {WAIT:?}");
    }

    /// Waits until an event matching `pred` arrived.
    pub async fn wait_event(&mut self, pred: impl Fn(&ConsumerEvent) -> bool) -> ConsumerEvent {
        let seen = self.seen.clone();
        let found = move || seen.events().into_iter().find(|e| pred(e));
        let waited = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(event) = found() {
                    return event;
                }
                self.events.changed().await.expect("collector alive");
            }
        })
        .await;
        waited.unwrap_or_else(|_| panic!("no such event within {WAIT:?}: {:?}", self.seen.events()))
    }
}

impl Handler<Records> for Collector {
    type Result = ResponseActFuture<Self, Result<(), HandlerError>>;

    fn handle(&mut self, msg: Records, _: &mut Context<Self>) -> Self::Result {
        assert!(!msg.records.is_empty(), "a delivery is never empty");
        assert!(msg.records.iter().all(|r| r.partition == msg.partition && r.topic == msg.topic));
        self.received.send_modify(|c| *c += 1);
        let hold = self.hold;
        Box::pin(tokio::time::sleep(hold).into_actor(self).map(move |(), act, _| {
            if act.fail > 0 {
                act.fail -= 1;
                *act.seen.failed.lock().unwrap() += 1;
                return Err(HandlerError::msg("failing on purpose"));
            }
            let mut records = act.seen.records.lock().unwrap();
            records.extend(msg.records);
            act.count.send_replace(records.len());
            Ok(())
        }))
    }
}

impl Handler<ConsumerEvent> for Collector {
    type Result = ();

    fn handle(&mut self, event: ConsumerEvent, _: &mut Context<Self>) {
        let mut events = self.seen.events.lock().unwrap();
        events.push(event);
        self.events.send_replace(events.len());
    }
}

/// The value of record `i` of `partition`.
pub fn value(partition: i32, i: usize) -> String {
    format!("p{partition}-record-{i:06}")
}

/// Produces `per_partition` numbered records to each of `partitions` partitions of
/// `topic` with our producer, each at the offset of its number.
pub async fn produce_numbered(bootstrap: &str, topic: &str, partitions: i32, per_partition: usize) {
    produce_sized(bootstrap, topic, partitions, per_partition, 0).await;
}

/// As [`produce_numbered`], each value padded to at least `size` bytes.
pub async fn produce_sized(bootstrap: &str, topic: &str, partitions: i32, per_partition: usize, size: usize) {
    produce_records(bootstrap, topic, partitions, 0..per_partition, size).await;
}

/// Records numbered `range` to each partition (which must already hold `range.start`
/// records, so that numbers and offsets agree).
pub async fn produce_range(bootstrap: &str, topic: &str, partitions: i32, range: std::ops::Range<usize>) {
    produce_records(bootstrap, topic, partitions, range, 0).await;
}

async fn produce_records(bootstrap: &str, topic: &str, partitions: i32, range: std::ops::Range<usize>, size: usize) {
    let producer = Producer::builder().bootstrap(bootstrap).build().expect("producer config").start();
    for partition in 0..partitions {
        for chunk in range.clone().collect::<Vec<_>>().chunks(1000) {
            let records = chunk.iter().map(|&i| {
                let mut v = value(partition, i);
                if v.len() < size {
                    v.push_str(&"x".repeat(size - v.len()));
                }
                ProducerRecord::new(v).key(format!("k{i}")).partition(partition)
            });
            let results = producer.send(ProduceBatch::to(topic).records(records)).await.expect("mailbox");
            for result in results.expect("batch accepted") {
                result.expect("record produced");
            }
        }
    }
    producer.send(Close).await.expect("mailbox").expect("close");
}

/// Every partition's records: offsets exactly `from..from + n`, each once, in order,
/// values as [`value`] numbered them.
pub fn assert_exactly_once(records: &[ConsumerRecord], expected: &BTreeMap<i32, std::ops::Range<usize>>) {
    let mut by_partition: BTreeMap<i32, Vec<&ConsumerRecord>> = BTreeMap::new();
    for record in records {
        by_partition.entry(record.partition).or_default().push(record);
    }
    for (partition, range) in expected {
        let got = by_partition.remove(partition).unwrap_or_default();
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        let want: Vec<i64> = range.clone().map(|i| i as i64).collect();
        assert!(
            offsets == want,
            "partition {partition}: offsets {} .. (len {}) want {range:?}",
            offsets.first().map_or(-1, |o| *o),
            offsets.len()
        );
        for record in got {
            let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned();
            let i = usize::try_from(record.offset).unwrap();
            assert!(value.starts_with(&self::value(*partition, i)), "partition {partition} offset {i}: {value:?}");
        }
    }
    assert!(by_partition.is_empty(), "records from unexpected partitions: {:?}", by_partition.keys());
}

/// `0..n` for each of `partitions` partitions.
pub fn all(partitions: i32, n: usize) -> BTreeMap<i32, std::ops::Range<usize>> {
    (0..partitions).map(|p| (p, 0..n)).collect()
}

/// The partitions a subscriber holds now, replaying its `Assigned`, `Revoked` and
/// `Lost` events in order.
pub fn owned(events: &[ConsumerEvent]) -> std::collections::BTreeSet<actix_kafka::consumer::TopicPartition> {
    let mut owned = std::collections::BTreeSet::new();
    for event in events {
        match event {
            ConsumerEvent::Assigned { partitions } => owned.extend(partitions.iter().cloned()),
            ConsumerEvent::Revoked { partitions } | ConsumerEvent::Lost { partitions } => {
                for tp in partitions {
                    owned.remove(tp);
                }
            }
            _ => {}
        }
    }
    owned
}

/// Awaits `condition` (checked every 20 ms: it spans several actors, so there is no
/// single event to await) for up to [`WAIT`]; panics with `what` and `state()` when
/// it does not hold by then.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool, state: impl Fn() -> String) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "waited {WAIT:?} for {what}: {}", state());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every record of `expected` at least once, and each partition's records in offset
/// order per delivery run; answers how many were duplicates. For a group member lost
/// without a clean revoke, whose acknowledged but uncommitted records come again.
pub fn assert_at_least_once(records: &[ConsumerRecord], expected: &BTreeMap<i32, std::ops::Range<usize>>) -> usize {
    let mut seen: BTreeMap<i32, BTreeMap<i64, usize>> = BTreeMap::new();
    for record in records {
        let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned();
        let i = usize::try_from(record.offset).expect("offsets are non-negative");
        assert!(value.starts_with(&self::value(record.partition, i)), "{}-{i}: {value:?}", record.partition);
        *seen.entry(record.partition).or_default().entry(record.offset).or_default() += 1;
    }
    let mut duplicates = 0;
    for (partition, range) in expected {
        let got = seen.remove(partition).unwrap_or_default();
        let missing: Vec<usize> = range.clone().filter(|i| !got.contains_key(&(*i as i64))).collect();
        assert!(missing.is_empty(), "partition {partition}: {} records missing, first {:?}", missing.len(), missing[0]);
        assert!(got.keys().all(|o| range.contains(&(*o as usize))), "partition {partition}: offsets outside {range:?}");
        duplicates += got.values().map(|n| n - 1).sum::<usize>();
    }
    assert!(seen.is_empty(), "records from unexpected partitions: {:?}", seen.keys());
    duplicates
}
