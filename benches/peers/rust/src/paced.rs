//! `--rate R`: the producers paced at R records per second, each record's latency
//! measured, for run.sh's `latency` mode (our side: `perf produce --throughput R`).
//!
//! Record i is sent no earlier than start + i/R. Timers have millisecond granularity
//! and a sleep per record at 10k/s would cost more than it measures, so the sender only
//! waits when the next record is not due yet, and then for at least 1 ms; on waking it
//! sends every record that has come due, in a burst (as our `perf produce` pacer).
//! A record's latency runs from just before the client is handed it to the moment its
//! acknowledgement is seen; records sent late by the schedule are not charged for it
//! (no coordinated-omission correction, as ours).
//!
//! - `rdkafka-future`: from just before `send_result` to its `DeliveryFuture`
//!   completing; the futures sit in a `FuturesUnordered` that the sender drives while it
//!   waits for the next due record, so a completion is seen within a burst's length.
//! - `rdkafka-base`: the send time (nanoseconds since the start) rides in the record's
//!   delivery opaque and the delivery callback takes the difference. librdkafka only
//!   runs delivery callbacks inside `poll`, so the sender polls with a zero timeout before
//!   every record and waits *in* `poll(wait)`, which serves reports until the deadline:
//!   reports are taken as soon as they arrive, not at a coarser polling cadence.
//! - `rskafka`: no linger, no batching of its own: batching 1,000 records would
//!   hold records back, so one `produce` call per record, round-robin over one
//!   `PartitionClient` per partition, each call spawned on the runtime (so it starts at
//!   once and times itself) and its handle kept in a `FuturesUnordered`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, FutureProducer, FutureRecord, Producer, ProducerContext,
};
use rdkafka::ClientContext;

use crate::{librdkafka_config, value, Options, WINDOW};

/// The shortest wait: the timers' granularity.
const TICK: Duration = Duration::from_millis(1);

/// When each record is due.
struct Schedule {
    start: Instant,
    rate: u64,
}

impl Schedule {
    fn new(rate: u64) -> Self {
        Schedule { start: Instant::now(), rate }
    }

    /// How long to wait before record `index` may go: none when it is due, else at
    /// least [`TICK`].
    fn wait(&self, index: usize) -> Option<Duration> {
        let nanos = u128::try_from(index).unwrap_or(u128::MAX) * 1_000_000_000 / u128::from(self.rate);
        let due = self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        let now = Instant::now();
        (due > now).then(|| (due - now).max(TICK))
    }
}

/// Every acknowledged record's latency, in microseconds.
#[derive(Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    fn with_capacity(records: usize) -> Self {
        Latencies(Vec::with_capacity(records))
    }

    fn push(&mut self, latency: Duration) {
        self.0.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    /// `p50_ms=.. p95_ms=.. p99_ms=.. p999_ms=.. max_ms=..`, nearest rank over every
    /// acknowledged record (`-` when none was).
    pub fn line(mut self) -> String {
        self.0.sort_unstable();
        let at = |q: f64| -> String {
            if self.0.is_empty() {
                return "-".into();
            }
            // Nearest rank: the smallest value with at least q of the values at or below it.
            let rank = (q * self.0.len() as f64).ceil() as usize;
            let micros = self.0[rank.clamp(1, self.0.len()) - 1];
            format!("{:.3}", f64::from(micros) / 1000.0)
        };
        format!("p50_ms={} p95_ms={} p99_ms={} p999_ms={} max_ms={}", at(0.50), at(0.95), at(0.99), at(0.999), at(1.0))
    }
}

/// Delivery reports of the paced `rdkafka-base`: the opaque is the send time in
/// nanoseconds since `start` (a `usize`, so no allocation per record).
struct Timing {
    start: Instant,
    latencies: Mutex<Latencies>,
    ok: AtomicUsize,
    done: AtomicUsize,
}

impl ClientContext for Timing {}

impl ProducerContext for Timing {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: usize) {
        if result.is_ok() {
            let latency = self.start.elapsed().saturating_sub(Duration::from_nanos(sent as u64));
            if let Ok(mut latencies) = self.latencies.lock() {
                latencies.push(latency);
            }
            self.ok.fetch_add(1, Ordering::Relaxed);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn rdkafka_base(options: &Options, rate: u64) -> Result<(usize, Latencies), String> {
    let timing = Timing {
        start: Instant::now(),
        latencies: Mutex::new(Latencies::with_capacity(options.records)),
        ok: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
    };
    let producer: BaseProducer<Timing> =
        librdkafka_config(options).create_with_context(timing).map_err(|e| e.to_string())?;
    let context = producer.context().clone();
    let schedule = Schedule::new(rate);
    for i in 0..options.records {
        producer.poll(Duration::ZERO);
        while let Some(wait) = schedule.wait(i) {
            producer.poll(wait);
        }
        let payload = value(i, options.size);
        let sent = usize::try_from(context.start.elapsed().as_nanos()).unwrap_or(usize::MAX);
        let mut record: BaseRecord<'_, (), [u8], usize> =
            BaseRecord::with_opaque_to(&options.topic, sent).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(TICK);
                }
                Err((e, _)) => return Err(e.to_string()),
            }
        }
    }
    producer.flush(Duration::from_secs(120)).map_err(|e| e.to_string())?;
    while context.done.load(Ordering::Relaxed) < options.records {
        producer.poll(Duration::from_millis(100));
    }
    let latencies = std::mem::take(&mut *context.latencies.lock().map_err(|e| e.to_string())?);
    Ok((context.ok.load(Ordering::Relaxed), latencies))
}

pub async fn rdkafka_future(options: &Options, rate: u64) -> Result<(usize, Latencies), String> {
    let producer: FutureProducer = librdkafka_config(options).create().map_err(|e| e.to_string())?;
    drive(options.records, rate, |i| {
        let payload = value(i, options.size);
        let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(&options.topic).payload(&payload[..]);
        let sent = Instant::now();
        let delivery = producer.send_result(record).map_err(|(e, _)| e.to_string())?;
        Ok(async move { matches!(delivery.await, Ok(Ok(_))).then(|| sent.elapsed()) })
    })
    .await
}

/// Sends `records` records on `rate`'s schedule by `send` (which hands record `i` to
/// the client and returns a future resolving to its latency, or `None` when it failed),
/// with up to [`WINDOW`] outstanding; the deliveries are driven while the sender waits
/// for the next due record, so each is timed when it completes.
async fn drive<F, Fut>(records: usize, rate: u64, mut send: F) -> Result<(usize, Latencies), String>
where
    F: FnMut(usize) -> Result<Fut, String>,
    Fut: std::future::Future<Output = Option<Duration>>,
{
    let mut outstanding = FuturesUnordered::new();
    let mut latencies = Latencies::with_capacity(records);
    let mut settle = |done: Option<Duration>| {
        if let Some(latency) = done {
            latencies.push(latency);
        }
    };
    let schedule = Schedule::new(rate);
    for i in 0..records {
        while let Some(wait) = schedule.wait(i) {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                Some(done) = outstanding.next() => settle(done),
            }
        }
        while outstanding.len() >= WINDOW {
            if let Some(done) = outstanding.next().await {
                settle(done);
            }
        }
        outstanding.push(send(i)?);
    }
    while let Some(done) = outstanding.next().await {
        settle(done);
    }
    let ok = latencies.0.len();
    Ok((ok, latencies))
}

pub async fn rskafka(options: &Options, rate: u64) -> Result<(usize, Latencies), String> {
    use rskafka::client::partition::{Compression, UnknownTopicHandling};
    use rskafka::client::ClientBuilder;
    use rskafka::record::Record;

    let bootstrap = options.brokers.split(',').map(str::to_owned).collect();
    let client = ClientBuilder::new(bootstrap).build().await.map_err(|e| e.to_string())?;
    let compression = match options.compression.as_str() {
        "lz4" => Compression::Lz4,
        _ => Compression::NoCompression,
    };
    let mut partitions = Vec::new();
    for partition in 0..options.partitions {
        let partition_client = client
            .partition_client(options.topic.as_str(), partition, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| e.to_string())?;
        partitions.push(Arc::new(partition_client));
    }
    if partitions.is_empty() {
        return Err("--partitions must be at least 1".into());
    }
    drive(options.records, rate, |i| {
        let partition_client = partitions[i % partitions.len()].clone();
        let record = Record {
            key: None,
            value: Some(value(i, options.size)),
            headers: Default::default(),
            timestamp: chrono::Utc::now(),
        };
        let sent = Instant::now();
        // Spawned, so the call starts at once and times itself.
        let call = tokio::spawn(async move {
            let result = partition_client.produce(vec![record], compression).await;
            let latency = sent.elapsed();
            match result {
                Ok(_) => Some(latency),
                Err(e) => {
                    eprintln!("peer-bench rskafka: {e}");
                    None
                }
            }
        });
        Ok(async move {
            call.await.unwrap_or_else(|e| {
                eprintln!("peer-bench rskafka: {e}");
                None
            })
        })
    })
    .await
}
