//! The Rust peers' side of benches/peers/run.sh: RECORDS records of SIZE bytes (no key)
//! to TOPIC through one client, set up the way a user after throughput would.
//!
//! ```text
//! peer-bench rdkafka-base|rdkafka-future|rskafka --brokers B --topic T --records N \
//!     [--size 100] [--compression none|lz4] [--partitions 6] [--rate R]
//! peer-bench rdkafka-base-consumer|rdkafka-stream-consumer|rskafka-consumer \
//!     --brokers B --topic T --records N [--partitions 6]
//! ```
//!
//! The consumers are in `consume.rs`; the producers:
//!
//! - `rdkafka-base`: rust-rdkafka's `BaseProducer`, polled for delivery reports;
//! - `rdkafka-future`: rust-rdkafka's `FutureProducer`, one awaited `DeliveryFuture` per
//!   record with up to WINDOW (10,000) outstanding, as our `perf produce --api send`;
//! - `rskafka`: one `PartitionClient` per partition, `produce` calls of 1,000 records,
//!   up to 4 outstanding per partition (rskafka has no idempotence and always asks acks=all).
//!
//! With `--rate R` the producers send R records per second instead and time every
//! record (`paced.rs`: rskafka then makes one `produce` call per record).
//!
//! librdkafka gets acks=all, idempotence on, linger.ms=5, batch.num.messages=10000.
//! Prints `records=N ok=N seconds=S` (first send to last acknowledgement), with `--rate`
//! then `p50_ms=.. p95_ms=.. p99_ms=.. p999_ms=.. max_ms=..` over the acknowledged
//! records, and exits 1 when a record failed.

mod consume;
mod paced;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, FutureProducer, FutureRecord, Producer, ProducerContext,
};
use rdkafka::ClientContext;

/// Outstanding `DeliveryFuture`s of `rdkafka-future`.
const WINDOW: usize = 10_000;
/// Records per rskafka `produce` call.
const RSKAFKA_BATCH: usize = 1_000;
/// rskafka `produce` calls outstanding per partition.
const RSKAFKA_IN_FLIGHT: usize = 4;

struct Options {
    client: String,
    brokers: String,
    topic: String,
    records: usize,
    size: usize,
    compression: String,
    partitions: i32,
    /// Records per second (`--rate`): paced and timed, see `paced.rs`.
    rate: Option<u64>,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1).collect()) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("peer-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    let mut latencies = None;
    let mut timed = |outcome: Result<(usize, paced::Latencies), String>| {
        outcome.map(|(ok, measured)| {
            latencies = Some(measured);
            ok
        })
    };
    let outcome = runtime.block_on(async {
        match (options.client.as_str(), options.rate) {
            ("rdkafka-base", Some(rate)) => timed(paced::rdkafka_base(&options, rate)),
            ("rdkafka-future", Some(rate)) => timed(paced::rdkafka_future(&options, rate).await),
            ("rskafka", Some(rate)) => timed(paced::rskafka(&options, rate).await),
            (_, Some(_)) => Err(format!("--rate is for the producers, not {}", options.client)),
            (client, None) => unpaced(client, &options).await,
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(ok) => {
            println!("records={} ok={ok} seconds={seconds:.3}", options.records);
            if let Some(latencies) = latencies {
                println!("{}", latencies.line());
            }
            if ok == options.records {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("peer-bench {}: {e}", options.client);
            ExitCode::FAILURE
        }
    }
}

/// The throughput runs (no `--rate`).
async fn unpaced(client: &str, options: &Options) -> Result<usize, String> {
    match client {
        "rdkafka-base" => rdkafka_base(options),
        "rdkafka-future" => rdkafka_future(options).await,
        "rskafka" => rskafka(options).await,
        "rdkafka-base-consumer" => consume::rdkafka_base(options),
        "rdkafka-stream-consumer" => consume::rdkafka_stream(options).await,
        "rskafka-consumer" => consume::rskafka(options).await,
        other => Err(format!("unknown client {other}")),
    }
}

fn value(i: usize, size: usize) -> Vec<u8> {
    let mut value = format!("{i:010}-").into_bytes();
    value.resize(size, b'x');
    value
}

fn librdkafka_config(options: &Options) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &options.brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "120000")
        .set("compression.codec", &options.compression);
    config
}

/// Counts delivery reports in the producer's context.
struct Counting;

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): Self::DeliveryOpaque) {
        OK.fetch_add(usize::from(result.is_ok()), std::sync::atomic::Ordering::Relaxed);
        DONE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

static OK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static DONE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn rdkafka_base(options: &Options) -> Result<usize, String> {
    let producer: BaseProducer<Counting> =
        librdkafka_config(options).create_with_context(Counting).map_err(|e| e.to_string())?;
    for i in 0..options.records {
        let payload = value(i, options.size);
        let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(&options.topic).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e.to_string()),
            }
        }
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120)).map_err(|e| e.to_string())?;
    while DONE.load(std::sync::atomic::Ordering::Relaxed) < options.records {
        producer.poll(Duration::from_millis(100));
    }
    Ok(OK.load(std::sync::atomic::Ordering::Relaxed))
}

async fn rdkafka_future(options: &Options) -> Result<usize, String> {
    let producer: FutureProducer = librdkafka_config(options).create().map_err(|e| e.to_string())?;
    let mut outstanding = FuturesUnordered::new();
    let mut ok = 0;
    for i in 0..options.records {
        while outstanding.len() >= WINDOW {
            if let Some(Ok(Ok(_))) = outstanding.next().await {
                ok += 1;
            }
        }
        let payload = value(i, options.size);
        let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(&options.topic).payload(&payload[..]);
        match producer.send_result(record) {
            Ok(delivery) => outstanding.push(delivery),
            Err((e, _)) => return Err(e.to_string()),
        }
    }
    while let Some(done) = outstanding.next().await {
        if let Ok(Ok(_)) = done {
            ok += 1;
        }
    }
    Ok(ok)
}

async fn rskafka(options: &Options) -> Result<usize, String> {
    use rskafka::client::partition::{Compression, UnknownTopicHandling};
    use rskafka::client::ClientBuilder;
    use rskafka::record::Record;

    let bootstrap = options.brokers.split(',').map(str::to_owned).collect();
    let client = ClientBuilder::new(bootstrap).build().await.map_err(|e| e.to_string())?;
    let compression = match options.compression.as_str() {
        "lz4" => Compression::Lz4,
        _ => Compression::NoCompression,
    };
    let partitions = usize::try_from(options.partitions).map_err(|e| e.to_string())?;
    let mut tasks = Vec::new();
    for partition in 0..options.partitions {
        let partition_client = client
            .partition_client(options.topic.as_str(), partition, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| e.to_string())?;
        let partition_client = std::sync::Arc::new(partition_client);
        let index = usize::try_from(partition).map_err(|e| e.to_string())?;
        let mine: Vec<usize> = (index..options.records).step_by(partitions).collect();
        let size = options.size;
        tasks.push(tokio::spawn(async move {
            let mut in_flight = FuturesUnordered::new();
            let mut ok = 0;
            for chunk in mine.chunks(RSKAFKA_BATCH) {
                while in_flight.len() >= RSKAFKA_IN_FLIGHT {
                    match in_flight.next().await {
                        Some(Ok(offsets)) => ok += Vec::len(&offsets),
                        Some(Err(e)) => eprintln!("peer-bench rskafka partition {partition}: {e}"),
                        None => {}
                    }
                }
                let records: Vec<Record> = chunk
                    .iter()
                    .map(|&i| Record {
                        key: None,
                        value: Some(value(i, size)),
                        headers: Default::default(),
                        timestamp: chrono::Utc::now(),
                    })
                    .collect();
                let partition_client = partition_client.clone();
                in_flight.push(async move { partition_client.produce(records, compression).await });
            }
            while let Some(done) = in_flight.next().await {
                match done {
                    Ok(offsets) => ok += offsets.len(),
                    Err(e) => eprintln!("peer-bench rskafka partition {partition}: {e}"),
                }
            }
            ok
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.map_err(|e| e.to_string())?;
    }
    Ok(ok)
}

fn parse(args: Vec<String>) -> Result<Options, String> {
    let mut args = args.into_iter();
    let client = args.next().ok_or("usage: peer-bench CLIENT --brokers B --topic T --records N")?;
    let mut options = Options {
        client,
        brokers: String::new(),
        topic: String::new(),
        records: 1_000_000,
        size: 100,
        compression: "none".into(),
        partitions: 6,
        rate: None,
    };
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{arg} {v}: {e}"));
        match arg.as_str() {
            "--brokers" => options.brokers = value,
            "--topic" => options.topic = value,
            "--records" => options.records = number(&value)?,
            "--size" => options.size = number(&value)?,
            "--compression" => options.compression = value,
            "--partitions" => options.partitions = i32::try_from(number(&value)?).map_err(|e| e.to_string())?,
            "--rate" => match number(&value)? {
                0 => return Err("--rate must be at least 1".into()),
                rate => options.rate = Some(rate as u64),
            },
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.brokers.is_empty() || options.topic.is_empty() {
        return Err("--brokers and --topic are required".into());
    }
    Ok(options)
}
