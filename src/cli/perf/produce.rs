//! `actix-kafka perf produce`: N records of S bytes through the producer by one of its
//! APIs, with per-record latency.
//!
//! The values are `0000000042-xxxx…` (the record's index in ten digits, then `x`s up to
//! the size; a shorter size keeps what fits), cut from one buffer per
//! [`VALUES_PER_BUFFER`] records (fewer for large records: a buffer holds at most
//! [`VALUES_BUFFER_BYTES`]), so making them costs the run next to nothing. No key:
//! the partitioner spreads the records (sticky per batch, as the Java client).

use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Notify;

use super::report::{self, Progress, Recorder, Summary};
use super::{EmbeddedBroker, Target};
use crate::cli::produce::ProducerSettings;
use crate::producer::{
    Close, DeliveryReport, Produce, ProduceBatch, ProduceError, Producer, ProducerBuilder, ProducerRecord,
};

/// Records per value buffer (see the module docs).
const VALUES_PER_BUFFER: u64 = 4096;
/// The most bytes of values in one buffer, so that the values of large records do not
/// count as the producer's memory (4,096 100-KiB values were 400 MiB).
const VALUES_BUFFER_BYTES: u64 = 4 << 20;
/// Digits of the record index at the start of each value.
const INDEX_DIGITS: usize = 10;

/// Which producer API the records go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Api {
    /// One `Produce` per record, its reply awaited (`send().await`), up to --window
    /// outstanding.
    Send,
    /// `ProduceBatch`es of --batch-records records, up to --batches-in-flight
    /// outstanding.
    Batch,
    /// One `Produce` per record by `do_send`, results by delivery report, up to
    /// --window outstanding.
    Fire,
}

/// The arguments of `actix-kafka perf produce`.
#[derive(Debug, Clone, Args)]
pub struct PerfProduceArgs {
    /// Where to produce: `--brokers` and the topic, or an embedded cluster.
    #[command(flatten)]
    pub target: Target,

    /// How the records are sent: acks, compression, linger, batch size, idempotence.
    #[command(flatten)]
    pub producer: ProducerSettings,

    /// The producer's memory budget, in bytes [default: the producer's, 32 MiB].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub buffer_bytes: Option<u64>,

    /// The producer API the records go through.
    #[arg(long, value_enum, default_value_t = Api::Batch)]
    pub api: Api,

    /// Send no faster than this many records per second [default: as fast as it goes].
    #[arg(long, value_name = "RECORDS_PER_SEC", value_parser = clap::value_parser!(u64).range(1..))]
    pub throughput: Option<u64>,

    /// With --api send or fire: most records waiting for their reply at once.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,

    /// With --api batch: records per `ProduceBatch`.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_records: u64,

    /// With --api batch: most `ProduceBatch`es waiting for their reply at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    pub batches_in_flight: u64,
}

impl PerfProduceArgs {
    /// The producer these arguments describe.
    ///
    /// # Errors
    ///
    /// [`SecurityArgsError`](crate::cli::security::SecurityArgsError) for security
    /// flags that do not fit together.
    pub fn builder(&self, bootstrap: &str) -> Result<ProducerBuilder, crate::cli::security::SecurityArgsError> {
        let mut builder =
            self.producer.apply(Producer::builder().client(self.target.client(bootstrap, "actix-kafka-perf")?));
        if let Some(bytes) = self.buffer_bytes {
            builder = builder.buffer_bytes(usize::try_from(bytes).unwrap_or(usize::MAX));
        }
        Ok(builder)
    }

    fn label(&self) -> String {
        let api = match self.api {
            Api::Send => "send",
            Api::Batch => "batch",
            Api::Fire => "fire",
        };
        format!("produce:{api}")
    }
}

/// Runs the command (see the [module docs](super)).
pub fn run(args: PerfProduceArgs) -> ExitCode {
    let (bootstrap, broker) = match args.target.bootstrap() {
        Ok(started) => started,
        Err(e) => {
            eprintln!("actix-kafka perf: {e}");
            return ExitCode::FAILURE;
        }
    };
    let producer =
        match args.builder(&bootstrap).map_err(|e| e.to_string()).and_then(|b| b.build().map_err(|e| e.to_string())) {
            Ok(producer) => producer,
            Err(e) => {
                eprintln!("actix-kafka perf: {e}");
                return ExitCode::from(2);
            }
        };
    let broker_cpu_before = broker.as_ref().and_then(EmbeddedBroker::cpu_seconds);
    let cpu_before = report::process_cpu_seconds();
    let system = actix_rt::System::new();
    let (mut summary, recorder) = system.block_on(measure(producer, &args));
    let broker_cpu = broker.as_ref().and_then(EmbeddedBroker::cpu_seconds).zip(broker_cpu_before).map(|(a, b)| a - b);
    summary.broker_cpu_seconds = broker_cpu;
    summary.cpu_seconds =
        report::process_cpu_seconds().zip(cpu_before).map(|(after, before)| after - before - broker_cpu.unwrap_or(0.0));
    drop(broker);
    if args.target.json {
        println!("{}", summary.json());
    } else {
        println!("{}", summary.text());
    }
    for (message, count) in recorder.errors() {
        eprintln!("perf: {count} records failed: {message}");
    }
    if summary.failed == 0 && summary.ok == summary.records {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Produces every record, then closes the producer; the summary (CPU not yet filled
/// in) and the recorder.
async fn measure(producer: Producer, args: &PerfProduceArgs) -> (Summary, Recorder) {
    let producer = producer.start();
    let run = Run {
        producer: producer.clone(),
        topic: Arc::from(args.target.topic.as_str()),
        recorder: Rc::new(RefCell::new(Recorder::new())),
        outstanding: Rc::new(Cell::new(0)),
        answered: Rc::new(Notify::new()),
        values: Values::new(args.target.record_size),
        pacer: args.throughput.map(Pacer::new),
    };
    let total = args.target.records;
    let progress = Rc::new(RefCell::new(Progress::new(total, args.target.json)));
    let ticker = {
        let (recorder, progress) = (run.recorder.clone(), progress.clone());
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let recorder = recorder.borrow();
                progress.borrow_mut().update(recorder.done(), recorder.failures());
            }
        })
    };
    let recorder = run.recorder.clone();
    let started = Instant::now();
    match args.api {
        Api::Send => run.by_send(total, args.window).await,
        Api::Batch => run.by_batch(total, args.batch_records, args.batches_in_flight).await,
        Api::Fire => run.by_fire(total, args.window).await,
    }
    let seconds = started.elapsed().as_secs_f64();
    ticker.abort();
    progress.borrow().finish();
    if let Ok(Err(e)) | Err(e @ ProduceError::Closed) = producer.send(Close).await.map_err(|_| ProduceError::Closed) {
        eprintln!("perf: closing the producer: {e}");
    }
    let recorder = recorder.replace(Recorder::new());
    (Summary::new(args.label(), total, args.target.record_size, &recorder, seconds), recorder)
}

/// One run's shared pieces.
struct Run {
    producer: Addr<Producer>,
    topic: Arc<str>,
    recorder: Rc<RefCell<Recorder>>,
    /// Records (or batches) sent and not answered yet.
    outstanding: Rc<Cell<u64>>,
    answered: Rc<Notify>,
    values: Values,
    pacer: Option<Pacer>,
}

impl Run {
    /// Waits until fewer than `limit` are outstanding, and for the pacer.
    async fn admit(&mut self, index: u64, limit: u64) {
        if let Some(pacer) = &self.pacer {
            pacer.wait(index).await;
        }
        while self.outstanding.get() >= limit {
            self.answered.notified().await;
        }
    }

    async fn drain(&self) {
        while self.outstanding.get() > 0 {
            self.answered.notified().await;
        }
    }

    fn answered(outstanding: &Cell<u64>, notify: &Notify) {
        outstanding.set(outstanding.get() - 1);
        notify.notify_one();
    }

    /// One awaited `send` per record, up to `window` outstanding, polled together in one
    /// `FuturesUnordered` (as a user awaiting many sends would, and as the
    /// rust-rdkafka peer awaits its `DeliveryFuture`s). Why not a task per record: the
    /// spawn, its allocation and its scheduling cost more than the record itself, and
    /// would be measured as the producer's.
    async fn by_send(mut self, total: u64, window: u64) {
        let mut outstanding = FuturesUnordered::new();
        let mut index = 0;
        while index < total || !outstanding.is_empty() {
            while index < total && (outstanding.len() as u64) < window && self.due(index) {
                let record = ProducerRecord::new(self.values.next(index));
                let request = self.producer.send(Produce::to(self.topic.clone()).record(record));
                let sent = Instant::now();
                outstanding.push(async move { (request.await, sent.elapsed()) });
                index += 1;
            }
            let may_send = index < total && (outstanding.len() as u64) < window;
            tokio::select! {
                Some((answer, latency)) = outstanding.next() => {
                    let mut recorder = self.recorder.borrow_mut();
                    match answer {
                        Ok(Ok(_)) => recorder.ok(latency),
                        Ok(Err(e)) => recorder.failed(1, &e),
                        Err(e) => recorder.failed(1, &e),
                    }
                }
                () = self.next_due(index), if may_send => {}
                else => {}
            }
        }
    }

    /// Whether record `index` may leave now (always, without a pacer).
    fn due(&self, index: u64) -> bool {
        self.pacer.as_ref().map_or(true, |pacer| pacer.is_due(index))
    }

    /// Waits until record `index` may leave.
    async fn next_due(&self, index: u64) {
        if let Some(pacer) = &self.pacer {
            pacer.wait(index).await;
        }
    }

    async fn by_batch(mut self, total: u64, batch_records: u64, in_flight: u64) {
        let mut index = 0;
        while index < total {
            self.admit(index, in_flight).await;
            let end = total.min(index + batch_records);
            let records: Vec<ProducerRecord> = (index..end).map(|i| ProducerRecord::new(self.values.next(i))).collect();
            let count = end - index;
            index = end;
            let request = self.producer.send(ProduceBatch::to(&*self.topic).records(records));
            self.outstanding.set(self.outstanding.get() + 1);
            let sent = Instant::now();
            let (recorder, outstanding, notify) =
                (self.recorder.clone(), self.outstanding.clone(), self.answered.clone());
            actix_rt::spawn(async move {
                let answer = request.await;
                let latency = sent.elapsed();
                let mut recorder = recorder.borrow_mut();
                match answer {
                    Ok(Ok(results)) => {
                        let mut ok = 0;
                        for result in results {
                            match result {
                                Ok(_) => ok += 1,
                                Err(e) => recorder.failed(1, &e),
                            }
                        }
                        recorder.ok_many(ok, latency);
                    }
                    Ok(Err(e)) => recorder.failed(count, &e),
                    Err(e) => recorder.failed(count, &e),
                }
                drop(recorder);
                Self::answered(&outstanding, &notify);
            });
        }
        self.drain().await;
    }

    async fn by_fire(mut self, total: u64, window: u64) {
        let sink = ReportSink {
            sent: Vec::with_capacity(usize::try_from(total).unwrap_or(0).min(1 << 24)),
            started: Instant::now(),
            recorder: self.recorder.clone(),
            outstanding: self.outstanding.clone(),
            answered: self.answered.clone(),
        };
        let sent_at = sink.started;
        let reports = sink.start();
        let recipient = reports.clone().recipient();
        for index in 0..total {
            self.admit(index, window).await;
            let record = ProducerRecord::new(self.values.next(index));
            self.outstanding.set(self.outstanding.get() + 1);
            reports.do_send(Sent(micros_since(sent_at)));
            self.producer.do_send(Produce::to(self.topic.clone()).record(record).report_to(recipient.clone()));
        }
        self.drain().await;
    }
}

fn micros_since(start: Instant) -> u32 {
    u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// The send time of the next record, in µs since the sink started.
#[derive(Message)]
#[rtype(result = "()")]
struct Sent(u32);

/// The delivery reports of `--api fire`: matches each report to its record's send time
/// by the index at the start of the value.
struct ReportSink {
    sent: Vec<u32>,
    started: Instant,
    recorder: Rc<RefCell<Recorder>>,
    outstanding: Rc<Cell<u64>>,
    answered: Rc<Notify>,
}

impl Actor for ReportSink {
    type Context = Context<Self>;
}

impl Handler<Sent> for ReportSink {
    type Result = ();

    fn handle(&mut self, Sent(at): Sent, _: &mut Context<Self>) {
        self.sent.push(at);
    }
}

impl Handler<DeliveryReport> for ReportSink {
    type Result = ();

    fn handle(&mut self, report: DeliveryReport, _: &mut Context<Self>) {
        let sent = report.value.as_deref().and_then(index_of).and_then(|i| self.sent.get(i).copied());
        let mut recorder = self.recorder.borrow_mut();
        match (report.result, sent) {
            (Ok(_), Some(at)) => {
                let now = micros_since(self.started);
                recorder.ok(Duration::from_micros(u64::from(now.saturating_sub(at))));
            }
            (Ok(_), None) => recorder.ok_untimed(1),
            (Err(e), _) => recorder.failed(1, &e),
        }
        drop(recorder);
        Run::answered(&self.outstanding, &self.answered);
    }
}

/// The record index a value starts with, if it has all its digits.
fn index_of(value: &[u8]) -> Option<usize> {
    let digits = value.get(..INDEX_DIGITS)?;
    digits.iter().try_fold(0usize, |n, d| d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0')))
}

/// The values: one buffer per [`VALUES_PER_BUFFER`] records (or per
/// [`VALUES_BUFFER_BYTES`]), cut into `Bytes` that share it.
struct Values {
    size: usize,
    per_buffer: u64,
    buffer: Bytes,
    first: u64,
}

impl Values {
    fn new(size: usize) -> Self {
        let per_buffer = (VALUES_BUFFER_BYTES / (size as u64).max(1)).clamp(1, VALUES_PER_BUFFER);
        Values { size, per_buffer, buffer: Bytes::new(), first: u64::MAX }
    }

    /// The value of record `index`; indexes come in increasing order.
    fn next(&mut self, index: u64) -> Bytes {
        if self.first == u64::MAX || index < self.first || index >= self.first + self.per_buffer {
            self.first = index;
            self.buffer = Self::fill(index, self.size, self.per_buffer);
        }
        let at = usize::try_from(index - self.first).unwrap_or(0) * self.size;
        self.buffer.slice(at..at + self.size)
    }

    /// `count` values from index `first`: the buffer starts as `x`s, then each value
    /// gets its digits (counted up in place, no division per record) and its `-`.
    fn fill(first: u64, size: usize, count: u64) -> Bytes {
        let mut buffer = vec![b'x'; size * count as usize];
        let mut digits = [b'0'; INDEX_DIGITS];
        let mut n = first;
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let head = INDEX_DIGITS.min(size);
        for value in buffer.chunks_exact_mut(size.max(1)).take(count as usize) {
            value[..head].copy_from_slice(&digits[..head]);
            if size > INDEX_DIGITS {
                value[INDEX_DIGITS] = b'-';
            }
            increment(&mut digits);
        }
        Bytes::from(buffer)
    }
}

/// Adds one to a number written in ASCII digits (wrapping at all nines).
fn increment(digits: &mut [u8]) {
    for digit in digits.iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            return;
        }
    }
}

/// Paces sends to a rate: record `i` leaves no earlier than `start + i / rate`.
struct Pacer {
    start: tokio::time::Instant,
    rate: u64,
}

impl Pacer {
    fn new(rate: u64) -> Self {
        Pacer { start: tokio::time::Instant::now(), rate }
    }

    fn due_at(&self, index: u64) -> tokio::time::Instant {
        self.start + Duration::from_secs_f64(index as f64 / self.rate as f64)
    }

    /// Whether record `index` may leave now (within the timer's millisecond).
    fn is_due(&self, index: u64) -> bool {
        self.due_at(index) <= tokio::time::Instant::now() + Duration::from_millis(1)
    }

    async fn wait(&self, index: u64) {
        let due = self.due_at(index);
        // Timers have millisecond granularity: sleep only when a whole one is due,
        // then send what is due in a burst.
        if due > tokio::time::Instant::now() + Duration::from_millis(1) {
            tokio::time::sleep_until(due).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::produce::AcksArg;
    use crate::cli::{Cli, Command};
    use crate::protocol::record::Compression;
    use clap::Parser;

    fn perf(args: &[&str]) -> Result<PerfProduceArgs, clap::Error> {
        let argv = ["actix-kafka", "perf", "produce"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Perf(super::super::PerfArgs { command: super::super::PerfCommand::Produce(args) }) => args,
            other => panic!("not perf produce: {other:?}"),
        })
    }

    #[test]
    fn defaults_and_options() {
        let args = perf(&[]).unwrap();
        assert_eq!((args.target.records, args.target.record_size, args.api), (1_000_000, 100, Api::Batch));
        assert!(args.target.brokers.is_none() && args.throughput.is_none() && !args.target.json);
        let args = perf(&[
            "--brokers",
            "b:9092",
            "--topic",
            "t",
            "--records",
            "5",
            "--record-size",
            "10",
            "--acks",
            "1",
            "--compression",
            "lz4",
            "--linger-ms",
            "2",
            "--batch-bytes",
            "1000",
            "--api",
            "fire",
            "--throughput",
            "100",
            "--json",
        ])
        .unwrap();
        assert_eq!(args.target.brokers.as_deref(), Some("b:9092"));
        assert_eq!((args.target.records, args.target.record_size, args.api), (5, 10, Api::Fire));
        assert_eq!(
            (args.producer.acks, args.producer.compression, args.producer.linger_ms),
            (AcksArg::Leader, Compression::Lz4, Some(2))
        );
        assert_eq!((args.producer.batch_bytes, args.throughput, args.target.json), (Some(1000), Some(100), true));
        assert!(!args.builder("b:9092").unwrap().build().unwrap().config().idempotence, "acks 1 turns idempotence off");
        for bad in [&["--api", "stream"][..], &["--records", "0"], &["--acks", "2"], &["--throughput", "0"]] {
            assert_eq!(perf(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn values_carry_their_index_and_size() {
        let mut values = Values::new(100);
        for index in [0, 1, VALUES_PER_BUFFER - 1, VALUES_PER_BUFFER, 123_456_789] {
            let value = values.next(index);
            assert_eq!(value.len(), 100);
            assert_eq!(index_of(&value), Some(index as usize));
            assert_eq!(value[INDEX_DIGITS], b'-');
        }
        let mut large = Values::new(100 * 1024);
        assert_eq!(large.per_buffer, 40, "4 MiB of 100-KiB values");
        for index in [0, 39, 40, 41, 1000] {
            assert_eq!(index_of(&large.next(index)), Some(index as usize));
            assert!(large.buffer.len() <= VALUES_BUFFER_BYTES as usize);
        }
        let mut digits = *b"0099";
        increment(&mut digits);
        assert_eq!(&digits, b"0100");
        let mut nines = *b"99";
        increment(&mut nines);
        assert_eq!(&nines, b"00");
        let mut short = Values::new(4);
        assert_eq!(&short.next(42)[..], b"0000");
        assert_eq!(index_of(b"0000"), None);
        assert_eq!(Values::new(0).next(7).len(), 0);
        assert_eq!(index_of(b"00000x0042"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spreads_records_over_time() {
        let pacer = Pacer::new(1000);
        let start = tokio::time::Instant::now();
        for index in 0..=500 {
            pacer.wait(index).await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(499) && elapsed <= Duration::from_millis(501), "{elapsed:?}");
    }
}
