//! `actix-kafka perf consume`: read N records through the [`Consumer`] actor and
//! report records/s, MB/s and CPU time, the same summary (and JSON keys) as
//! `perf produce`.
//!
//! - The topic must already hold N records from its start: without `--brokers` (an
//!   embedded cluster started for the run) or with `--fill`, the command first
//!   produces them, N records of `--record-size` bytes through the producer's batch
//!   path; that part is neither timed nor counted in the CPU figures.
//! - The clock runs from the subscription to the Nth record: the consumer's start-up
//!   (metadata, ListOffsets, joining `--group` if given) is part of it, as in Kafka's
//!   `kafka-consumer-perf-test`. Each partition starts at its log start (or at the
//!   group's committed offset).
//! - The subscriber counts each delivery and acknowledges it at once: what is measured
//!   is the consumer's fetching, decoding and delivering, not any processing.
//! - Latency is not measured: the records were produced before the run, so "now minus
//!   the record's timestamp" would measure the wait between the fill and the read, not
//!   the consumer. The summary says so (`latency: not measured`, `null` in JSON).
//! - MB/s counts the keys and values received; `record_size` in the summary is their
//!   mean size.
//!
//! Exit code 0 when N records arrived, 1 when the consumer failed or nothing arrived for
//! `--idle-timeout-ms`, 2 for bad arguments.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use clap::Args;
use tokio::sync::watch;

use super::report::{self, Progress, Recorder, Summary};
use super::{EmbeddedBroker, Target};
use crate::cli::events::FirstError;
use crate::consumer::{self, Consumer, ConsumerBuilder, HandlerError, OffsetReset, Records, Subscribe};
use crate::producer::{self, ProduceBatch, Producer, ProducerRecord};

/// Records per `ProduceBatch` while filling the topic.
const FILL_BATCH_RECORDS: u64 = 10_000;
/// `ProduceBatch`es awaited at once while filling.
const FILL_BATCHES_IN_FLIGHT: usize = 4;

/// The arguments of `actix-kafka perf consume`.
#[derive(Debug, Clone, Args)]
pub struct PerfConsumeArgs {
    /// Where to consume: `--brokers` and the topic, or an embedded cluster.
    #[command(flatten)]
    pub target: Target,

    /// Consume as a member of this group (its committed offsets are the start, and
    /// the records read are committed) [default: no group, every partition].
    #[arg(long, short = 'G', value_name = "GROUP")]
    pub group: Option<String>,

    /// With --brokers: produce the N records first (as without --brokers).
    #[arg(long)]
    pub fill: bool,

    /// The most records in one delivery to the subscriber [default: the consumer's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub delivery_records: Option<u64>,

    /// The consumer's prefetch budget, in bytes [default: the consumer's, 64 MiB].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub buffer_bytes: Option<u64>,

    /// Give up when no record arrives for this long, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,
}

impl PerfConsumeArgs {
    /// The consumer these arguments describe.
    ///
    /// # Errors
    ///
    /// [`SecurityArgsError`](crate::cli::security::SecurityArgsError) for security
    /// flags that do not fit together.
    pub fn builder(&self, bootstrap: &str) -> Result<ConsumerBuilder, crate::cli::security::SecurityArgsError> {
        let mut builder = Consumer::builder()
            .client(self.target.client(bootstrap, "actix-kafka-perf")?)
            .offset_reset(OffsetReset::Earliest);
        if let Some(group) = &self.group {
            builder = builder.group_id(group.clone());
        }
        if let Some(records) = self.delivery_records {
            builder = builder.max_records_per_delivery(usize::try_from(records).unwrap_or(usize::MAX));
        }
        if let Some(bytes) = self.buffer_bytes {
            builder = builder.buffer_bytes(usize::try_from(bytes).unwrap_or(usize::MAX));
        }
        Ok(builder)
    }

    fn label(&self) -> &'static str {
        if self.group.is_some() {
            "consume:group"
        } else {
            "consume"
        }
    }
}

/// Runs the command (see the [module docs](self)).
pub fn run(args: PerfConsumeArgs) -> ExitCode {
    let (bootstrap, broker) = match args.target.bootstrap() {
        Ok(started) => started,
        Err(e) => {
            eprintln!("actix-kafka perf: {e}");
            return ExitCode::FAILURE;
        }
    };
    let built = args.builder(&bootstrap).map_err(|e| e.to_string()).and_then(|b| b.build().map_err(|e| e.to_string()));
    let consumer = match built {
        Ok(consumer) => consumer,
        Err(e) => {
            eprintln!("actix-kafka perf: {e}");
            return ExitCode::from(2);
        }
    };
    let system = actix_rt::System::new();
    if broker.is_some() || args.fill {
        if let Err(e) = system.block_on(fill(&bootstrap, &args)) {
            eprintln!("actix-kafka perf: filling {}: {e}", args.target.topic);
            return ExitCode::FAILURE;
        }
    }
    let broker_cpu_before = broker.as_ref().and_then(EmbeddedBroker::cpu_seconds);
    let cpu_before = report::process_cpu_seconds();
    let (mut summary, failure) = system.block_on(measure(consumer, &args));
    let broker_cpu = broker.as_ref().and_then(EmbeddedBroker::cpu_seconds).zip(broker_cpu_before).map(|(a, b)| a - b);
    summary.broker_cpu_seconds = broker_cpu;
    summary.cpu_seconds =
        report::process_cpu_seconds().zip(cpu_before).map(|(after, before)| after - before - broker_cpu.unwrap_or(0.0));
    // The consumer's actors go with their system, before the broker they talk to.
    drop(system);
    drop(broker);
    if args.target.json {
        println!("{}", summary.json());
    } else {
        println!("{}", summary.text());
    }
    match failure {
        None if summary.ok == summary.records => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
        Some(reason) => {
            eprintln!("actix-kafka perf: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// Produces `--records` records of `--record-size` bytes (no key) through the
/// producer's batch path, a few batches in flight, and closes the producer.
async fn fill(bootstrap: &str, args: &PerfConsumeArgs) -> Result<(), String> {
    let client = args.target.client(bootstrap, "actix-kafka-perf-fill").map_err(|e| e.to_string())?;
    let producer = Producer::builder()
        .client(client)
        .acks(producer::Acks::Leader)
        .idempotence(false)
        .build()
        .map_err(|e| e.to_string())?;
    let producer = producer.start();
    let value = Bytes::from(vec![b'x'; args.target.record_size]);
    let total = args.target.records;
    let mut in_flight = tokio::task::JoinSet::new();
    let mut sent = 0;
    while sent < total {
        let count = FILL_BATCH_RECORDS.min(total - sent);
        sent += count;
        let records = (0..count).map(|_| ProducerRecord::new(value.clone()));
        let request = producer.send(ProduceBatch::to(args.target.topic.as_str()).records(records));
        in_flight.spawn_local(request);
        if in_flight.len() >= FILL_BATCHES_IN_FLIGHT {
            check_batch(in_flight.join_next().await)?;
        }
    }
    while let Some(answer) = in_flight.join_next().await {
        check_batch(Some(answer))?;
    }
    match producer.send(producer::Close).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

type BatchAnswer =
    Result<Result<Vec<Result<producer::RecordMetadata, producer::ProduceError>>, producer::ProduceError>, MailboxError>;

fn check_batch(answer: Option<Result<BatchAnswer, tokio::task::JoinError>>) -> Result<(), String> {
    let answer = answer.ok_or("no batch in flight")?.map_err(|e| e.to_string())?;
    let results = answer.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    match results.into_iter().find_map(Result::err) {
        Some(e) => Err(e.to_string()),
        None => Ok(()),
    }
}

/// Subscribes a [`Counter`], waits for N records (or a failure, or the idle timeout),
/// then closes the consumer; the summary (CPU not yet filled in) and why it failed.
async fn measure(consumer: Consumer, args: &PerfConsumeArgs) -> (Summary, Option<String>) {
    let total = args.target.records;
    let (progress_tx, mut progress_rx) = watch::channel(Tally::default());
    let counts = Rc::new(Cell::new(Tally::default()));
    let counter = Counter { total, tally: Tally::default(), progress: progress_tx, shared: counts.clone() }.start();
    let (failure_tx, mut failure_rx) = watch::channel(None);
    let events = FirstError { first: failure_tx, make: |error| error }.start();
    let consumer = consumer.start();
    let started = Instant::now();
    let subscribe = Subscribe::topics([args.target.topic.clone()]).to(counter.recipient()).events(events.recipient());
    let mut failure = match consumer.send(subscribe).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("subscribe failed: {e}")),
        Err(e) => Some(format!("subscribe failed: {e}")),
    };
    let mut progress = Progress::new(total, args.target.json);
    let idle = Duration::from_millis(args.idle_timeout_ms);
    let mut last = (0, Instant::now());
    while failure.is_none() {
        tokio::select! {
            changed = progress_rx.changed() => if changed.is_err() { failure = Some("the counter stopped".into()) },
            changed = failure_rx.wait_for(Option::is_some) => {
                failure = changed.ok().and_then(|f| f.clone()).or_else(|| Some("the event recipient stopped".into()));
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let tally = *progress_rx.borrow();
        progress.update(tally.records, 0);
        if tally.records >= total {
            break;
        }
        if tally.records > last.0 {
            last = (tally.records, Instant::now());
        } else if last.1.elapsed() >= idle {
            failure = Some(format!("no record for {idle:?} after {} of {total}", tally.records));
        }
    }
    let seconds = counts.get().last_at.map_or_else(|| started.elapsed(), |at| at - started).as_secs_f64();
    progress.finish();
    if let Ok(Err(e)) = consumer.send(consumer::Close).await {
        eprintln!("perf: closing the consumer: {e}");
    }
    let tally = counts.get();
    let mut recorder = Recorder::new();
    recorder.ok_untimed(tally.records.min(total));
    let mean_size = tally.bytes.checked_div(tally.records).map_or(args.target.record_size, |mean| mean as usize);
    (Summary::new(args.label().to_owned(), total, mean_size, &recorder, seconds), failure)
}

/// What the counter has received so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tally {
    records: u64,
    /// Key and value bytes.
    bytes: u64,
    /// When the Nth record arrived.
    last_at: Option<Instant>,
}

/// The subscriber: counts and acknowledges every delivery at once.
struct Counter {
    total: u64,
    tally: Tally,
    /// For the progress display, updated per delivery (cheap: a watch store).
    progress: watch::Sender<Tally>,
    /// The same, read after the run (the actor lives on the same thread).
    shared: Rc<Cell<Tally>>,
}

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<Records> for Counter {
    type Result = Result<(), HandlerError>;

    fn handle(&mut self, delivery: Records, _: &mut Context<Self>) -> Self::Result {
        let size = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len) as u64;
        let bytes: u64 = delivery.records.iter().map(|r| size(&r.key) + size(&r.value)).sum();
        self.tally.records += delivery.records.len() as u64;
        self.tally.bytes += bytes;
        if self.tally.records >= self.total && self.tally.last_at.is_none() {
            self.tally.last_at = Some(Instant::now());
        }
        self.shared.set(self.tally);
        self.progress.send_replace(self.tally);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn perf(args: &[&str]) -> Result<PerfConsumeArgs, clap::Error> {
        let cli = Cli::try_parse_from(["actix-kafka", "perf", "consume"].iter().chain(args))?;
        match cli.command {
            Command::Perf(super::super::PerfArgs { command: super::super::PerfCommand::Consume(args) }) => Ok(args),
            other => panic!("not perf consume: {other:?}"),
        }
    }

    #[test]
    fn arguments_parse_and_configure_the_consumer() {
        let args = perf(&["--records", "500", "--group", "g", "--delivery-records", "2000", "--json"]).unwrap();
        assert_eq!((args.target.records, args.group.as_deref(), args.target.json), (500, Some("g"), true));
        let config = args.builder("b:9092").unwrap().build().unwrap().config().clone();
        assert_eq!((config.max_records_per_delivery, config.offset_reset), (2000, OffsetReset::Earliest));
        assert_eq!(config.group_id.as_deref(), Some("g"));
        assert_eq!(args.label(), "consume:group");
        let args = perf(&[]).unwrap();
        assert_eq!((args.target.records, args.fill, args.label()), (1_000_000, false, "consume"));
        for bad in [&["--records", "0"][..], &["--idle-timeout-ms", "0"], &["--delivery-records", "x"]] {
            assert_eq!(perf(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }
}
