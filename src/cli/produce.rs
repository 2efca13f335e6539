//! `actix-kafka produce`: one record per stdin line, through the [`Producer`] actor.
//!
//! The contract with scripts and tests:
//!
//! - each line of stdin is one record: bytes split on `\n`, one trailing `\r`
//!   stripped, not necessarily UTF-8. An empty line is a record with an empty value;
//!   the text after the last `\n` is a record too, when there is any. With
//!   `--key-delimiter D` the text before the first `D` is the key and the rest the
//!   value; a line without `D` has a null key;
//! - stdin is streamed, never held: a reader thread cuts it into chunks of lines, and
//!   at most [`MAX_BATCHES_IN_FLIGHT`] [`ProduceBatch`]es of up to [`BATCH_LINES`]
//!   lines or [`BATCH_BYTES`] bytes wait for their replies; the producer's memory
//!   budget bounds the rest;
//! - stderr gets one summary line, `produce: N records ok, M failed in S s (R
//!   records/s)`, then, when records failed, a line per kind of error with its count;
//! - the exit code is 0 only when every record was acknowledged (with `--acks 0`:
//!   written, as no offset comes back), 1 otherwise, 2 for bad arguments.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, MailboxError};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, ValueEnum};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::producer::{
    Acks, Close, Flush, Partitioner, ProduceBatch, ProduceError, Producer, ProducerBuilder, ProducerConfig,
    ProducerRecord, RecordMetadata,
};
use crate::protocol::record::Compression;

use super::lines::LineSplitter;
use super::security::{SecurityArgs, SecurityArgsError};
use crate::client::ClientConfig;

/// Most lines in one [`ProduceBatch`].
pub const BATCH_LINES: usize = 10_000;
/// Most key and value bytes in one [`ProduceBatch`] (a single longer line goes alone).
pub const BATCH_BYTES: usize = 1 << 20;
/// Most [`ProduceBatch`]es waiting for their replies at once.
pub const MAX_BATCHES_IN_FLIGHT: usize = 4;
/// How much of stdin the reader thread reads at a time.
const READ_SIZE: usize = 64 * 1024;
/// Chunks the reader thread may run ahead of the batches: with [`READ_SIZE`], about
/// one [`BATCH_BYTES`].
const CHUNKS_AHEAD: usize = 16;
/// The producer's memory budget unless `--buffer-bytes` says otherwise.
pub const DEFAULT_BUFFER_BYTES: u64 = 32 << 20;
/// Distinct error messages listed on stderr; the rest are counted together.
const ERRORS_LISTED: usize = 5;

/// The arguments of `actix-kafka produce`.
#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    #[arg(long, short = 'b', value_name = "HOST:PORT,...")]
    pub brokers: String,

    /// The topic to produce to.
    #[arg(long, short = 't', value_name = "TOPIC")]
    pub topic: String,

    /// Split each line at the first occurrence of this string: key before, value
    /// after. A line without it has a null key. [default: no key]
    #[arg(long, short = 'K', value_name = "DELIMITER", value_parser = parse_delimiter)]
    pub key_delimiter: Option<String>,

    /// Produce every record to this partition instead of the partitioner's choice.
    #[arg(long, short = 'p', value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,

    /// How the records are sent: acks, compression, linger, batch size, idempotence.
    #[command(flatten)]
    pub producer: ProducerSettings,

    /// How records without --partition choose theirs [default: the producer's,
    /// murmur2 for keyed records].
    #[arg(long, value_enum)]
    pub partitioner: Option<PartitionerArg>,

    /// Memory the producer may hold in records not yet acknowledged, in bytes; a full
    /// budget makes the reading of stdin wait.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BUFFER_BYTES, value_parser = clap::value_parser!(u64).range(1..))]
    pub buffer_bytes: u64,

    /// How long a record may take to be acknowledged, retries included, before it
    /// fails, in milliseconds [default: the producer's].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub delivery_timeout_ms: Option<u64>,

    /// How long one produce request waits for the broker's answer, in milliseconds
    /// [default: the producer's, lowered to fit within --delivery-timeout-ms].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: Option<u64>,

    /// TLS and SASL.
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// The producer settings `produce` and `perf produce` share.
#[derive(Debug, Clone, Args)]
pub struct ProducerSettings {
    /// Acknowledgements to wait for: 0 (none: a record counts as done once written),
    /// 1 (the leader) or all (every in-sync replica).
    #[arg(long, value_enum, default_value_t = AcksArg::All)]
    pub acks: AcksArg,

    /// Compression codec of the record batches.
    #[arg(long, short = 'z', value_name = "CODEC", default_value = "none", value_parser = parse_compression)]
    pub compression: Compression,

    /// How long a batch may wait for more records before it is sent, in milliseconds
    /// [default: the producer's].
    #[arg(long, value_name = "MS")]
    pub linger_ms: Option<u64>,

    /// Largest record batch per partition, in bytes [default: the producer's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_bytes: Option<u64>,

    /// Idempotent production (no duplicates on retries) [default: the producer's
    /// (on) with --acks all, off with --acks 0 or 1, which idempotence cannot use].
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub idempotence: Option<bool>,
}

impl ProducerSettings {
    /// `builder` with these settings.
    pub fn apply(&self, mut builder: ProducerBuilder) -> ProducerBuilder {
        builder = builder.acks(self.acks.into()).compression(self.compression);
        if let Some(ms) = self.linger_ms {
            builder = builder.linger(Duration::from_millis(ms));
        }
        if let Some(bytes) = self.batch_bytes {
            builder = builder.batch_bytes(usize::try_from(bytes).unwrap_or(usize::MAX));
        }
        // As the Java client: idempotence left to its default gives way to an
        // explicit --acks 0 or 1 instead of refusing the combination.
        match (self.idempotence, self.acks) {
            (Some(idempotence), _) => builder.idempotence(idempotence),
            (None, AcksArg::None | AcksArg::Leader) => builder.idempotence(false),
            (None, AcksArg::All) => builder,
        }
    }
}

/// `--acks`: the command-line names of [`Acks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AcksArg {
    /// No acknowledgement ([`Acks::None`]).
    #[value(name = "0")]
    None,
    /// The leader's ([`Acks::Leader`]).
    #[value(name = "1")]
    Leader,
    /// Every in-sync replica's ([`Acks::All`]).
    #[value(name = "all", alias = "-1")]
    All,
}

/// `--partitioner`: the command-line names of [`Partitioner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartitionerArg {
    /// Java-compatible murmur2 of the key ([`Partitioner::Murmur2`]).
    Murmur2,
    /// Keyed records by murmur2, keyless ones stick to a partition per batch
    /// ([`Partitioner::Sticky`]).
    Sticky,
    /// FNV-1a of the key ([`Partitioner::Fnv1a`]).
    Fnv1a,
    /// Each record to the next partition ([`Partitioner::RoundRobin`]).
    RoundRobin,
}

impl From<AcksArg> for Acks {
    fn from(acks: AcksArg) -> Acks {
        match acks {
            AcksArg::None => Acks::None,
            AcksArg::Leader => Acks::Leader,
            AcksArg::All => Acks::All,
        }
    }
}

impl From<PartitionerArg> for Partitioner {
    fn from(partitioner: PartitionerArg) -> Partitioner {
        match partitioner {
            PartitionerArg::Murmur2 => Partitioner::Murmur2,
            PartitionerArg::Sticky => Partitioner::Sticky,
            PartitionerArg::Fnv1a => Partitioner::Fnv1a,
            PartitionerArg::RoundRobin => Partitioner::RoundRobin,
        }
    }
}

fn parse_delimiter(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the key delimiter must not be empty".into());
    }
    Ok(text.to_string())
}

fn parse_compression(text: &str) -> Result<Compression, String> {
    text.parse().map_err(|e: crate::protocol::record::ParseCompressionError| e.to_string())
}

impl ProduceArgs {
    /// The producer these arguments describe; what is not given keeps the
    /// producer's default.
    ///
    /// # Errors
    ///
    /// [`SecurityArgsError`] when the security flags do not fit together or the
    /// password variable is not set.
    pub fn builder(&self) -> Result<ProducerBuilder, SecurityArgsError> {
        let client = self.security.apply(ClientConfig::new(&self.brokers).client_id("actix-kafka-produce"))?;
        let mut builder = self
            .producer
            .apply(Producer::builder().client(client))
            .buffer_bytes(usize::try_from(self.buffer_bytes).unwrap_or(usize::MAX));
        if let Some(partitioner) = self.partitioner {
            builder = builder.partitioner(partitioner.into());
        }
        if let Some(timeout) = self.request_timeout() {
            builder = builder.request_timeout(timeout);
        }
        if let Some(ms) = self.delivery_timeout_ms {
            builder = builder.delivery_timeout(Duration::from_millis(ms));
        }
        Ok(builder)
    }

    /// `--request-timeout-ms`, else, with a `--delivery-timeout-ms` too short for the
    /// producer's default request timeout, what is left of it after the linger (the
    /// producer wants `delivery_timeout >= linger + request_timeout`).
    fn request_timeout(&self) -> Option<Duration> {
        if let Some(ms) = self.request_timeout_ms {
            return Some(Duration::from_millis(ms));
        }
        let delivery = Duration::from_millis(self.delivery_timeout_ms?);
        let defaults = ProducerConfig::default();
        let linger = self.producer.linger_ms.map_or(defaults.linger, Duration::from_millis);
        let room = delivery.saturating_sub(linger);
        (room < defaults.request_timeout).then_some(room)
    }
}

/// Runs the command; returns the exit code (see the module docs), having printed the
/// summary and any error on stderr.
pub fn run(args: ProduceArgs) -> ExitCode {
    let producer = match args.builder() {
        Ok(builder) => match builder.build() {
            Ok(producer) => producer,
            Err(e) => super::Cli::command().error(ErrorKind::ValueValidation, e).exit(),
        },
        Err(e) => super::Cli::command().error(ErrorKind::ArgumentConflict, e).exit(),
    };
    let system = actix_rt::System::new();
    let tally = system.block_on(produce_stdin(producer, &args));
    eprintln!("produce: {}", tally.summary());
    for line in tally.error_lines() {
        eprintln!("produce: {line}");
    }
    if tally.succeeded() {
        ExitCode::SUCCESS
    } else {
        eprintln!("actix-kafka produce: {} of {} records failed", tally.failed, tally.ok + tally.failed);
        ExitCode::FAILURE
    }
}

/// Starts the producer, streams stdin through it and closes it.
async fn produce_stdin(producer: Producer, args: &ProduceArgs) -> Tally {
    let producer = producer.start();
    let splitter = LineSplitter::new(args.key_delimiter.as_deref().map(str::as_bytes), args.partition);
    let chunks = read_chunks(io::stdin(), splitter);
    let mut tally = stream(&producer, &args.topic, chunks).await;
    // Every batch has its replies: Flush and Close only report what went wrong
    // after them (a producer that cannot shut down cleanly).
    match producer.send(Flush).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tally.note_problem(format!("flush: {e}")),
        Err(e) => tally.note_problem(format!("flush: {e}")),
    }
    match producer.send(Close).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tally.note_problem(format!("close: {e}")),
        Err(e) => tally.note_problem(format!("close: {e}")),
    }
    tally.finish();
    tally
}

/// What the reader thread hands over: the records of one read, or why reading
/// stopped.
#[derive(Debug)]
enum Chunk {
    Records(Vec<ProducerRecord>, usize),
    Failed(io::Error),
}

/// Sends the chunks as [`ProduceBatch`]es, at most [`MAX_BATCHES_IN_FLIGHT`] at a
/// time, and counts the replies.
async fn stream(producer: &Addr<Producer>, topic: &str, mut chunks: mpsc::Receiver<Chunk>) -> Tally {
    let mut tally = Tally::start();
    let mut in_flight: JoinSet<(usize, BatchReply)> = JoinSet::new();
    let mut carry: Option<(Vec<ProducerRecord>, usize)> = None;
    loop {
        while in_flight.len() >= MAX_BATCHES_IN_FLIGHT {
            collect(&mut tally, in_flight.join_next().await);
        }
        // The first chunk of the next batch may take its time (a slow writer);
        // then take what is already there, up to the batch's limits.
        let first = match carry.take() {
            Some(chunk) => Some(Chunk::Records(chunk.0, chunk.1)),
            None => chunks.recv().await,
        };
        let (mut records, mut bytes) = match first {
            Some(Chunk::Records(records, bytes)) => (records, bytes),
            Some(Chunk::Failed(e)) => {
                tally.note_problem(format!("reading stdin: {e}"));
                break;
            }
            None => break,
        };
        let mut failed = None;
        while records.len() < BATCH_LINES && bytes < BATCH_BYTES {
            match chunks.try_recv() {
                Ok(Chunk::Records(more, more_bytes)) => {
                    if records.len() + more.len() > BATCH_LINES || bytes + more_bytes > BATCH_BYTES {
                        carry = Some((more, more_bytes));
                        break;
                    }
                    records.extend(more);
                    bytes += more_bytes;
                }
                Ok(Chunk::Failed(e)) => {
                    failed = Some(e);
                    break;
                }
                Err(_) => break,
            }
        }
        let count = records.len();
        let request = producer.send(ProduceBatch::to(topic).records(records));
        in_flight.spawn_local(async move { (count, request.await) });
        if let Some(e) = failed {
            tally.note_problem(format!("reading stdin: {e}"));
            break;
        }
    }
    while let Some(done) = in_flight.join_next().await {
        collect(&mut tally, Some(done));
    }
    tally
}

/// The reply to one [`ProduceBatch`].
type BatchReply = Result<Result<Vec<Result<RecordMetadata, ProduceError>>, ProduceError>, MailboxError>;

fn collect(tally: &mut Tally, done: Option<Result<(usize, BatchReply), tokio::task::JoinError>>) {
    match done {
        Some(Ok((_, Ok(Ok(results))))) => {
            for result in results {
                match result {
                    Ok(_) => tally.ok += 1,
                    Err(e) => tally.fail(1, &e),
                }
            }
        }
        Some(Ok((count, Ok(Err(e))))) => tally.fail(count, &e),
        Some(Ok((count, Err(e)))) => tally.fail(count, &e),
        Some(Err(e)) => tally.note_problem(format!("a batch's task: {e}")),
        None => {}
    }
}

/// Reads `input` on a plain thread, cut into chunks of complete lines.
///
/// Not `tokio::io::stdin`: a blocking read would hold the runtime's shutdown. The
/// bounded channel makes the thread wait while the batches are behind.
fn read_chunks(input: impl Read + Send + 'static, mut splitter: LineSplitter) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
    let spawned = thread::Builder::new().name("produce-stdin".into()).spawn(move || {
        let mut input = input;
        let mut buf = vec![0; READ_SIZE];
        loop {
            let (eof, read) = match input.read(&mut buf) {
                Ok(0) => (true, 0),
                Ok(n) => (false, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Nobody may be listening any more: then there is nothing to tell.
                    let _gone: Result<(), _> = tx.blocking_send(Chunk::Failed(e));
                    return;
                }
            };
            let (records, bytes) = splitter.push(&buf[..read], eof);
            if !records.is_empty() && tx.blocking_send(Chunk::Records(records, bytes)).is_err() {
                return;
            }
            if eof {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        let (tx, rx) = mpsc::channel(1);
        // A fresh channel with room for one: this send cannot fail.
        let _sent: Result<(), _> = tx.try_send(Chunk::Failed(e));
        return rx;
    }
    rx
}

/// What happened to the records, for the summary and the exit code.
#[derive(Debug)]
struct Tally {
    started: Instant,
    elapsed: Duration,
    ok: u64,
    failed: u64,
    /// Error message -> records that failed with it.
    errors: BTreeMap<String, u64>,
    /// Failures that are not a record's: reading stdin, closing the producer.
    problems: Vec<String>,
}

impl Tally {
    fn start() -> Tally {
        Tally {
            started: Instant::now(),
            elapsed: Duration::ZERO,
            ok: 0,
            failed: 0,
            errors: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    fn fail(&mut self, records: usize, error: &dyn std::fmt::Display) {
        let records = records as u64;
        self.failed += records;
        let message = error.to_string();
        if self.errors.len() < ERRORS_LISTED || self.errors.contains_key(&message) {
            *self.errors.entry(message).or_default() += records;
        } else {
            *self.errors.entry("other errors".into()).or_default() += records;
        }
    }

    /// A failure outside the records (a broken stdin, a producer that would not
    /// close): the command fails even when every record it saw went through.
    fn note_problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    fn finish(&mut self) {
        self.elapsed = self.started.elapsed();
    }

    fn summary(&self) -> String {
        let seconds = self.elapsed.as_secs_f64();
        let rate = if seconds > 0.0 { self.ok as f64 / seconds } else { 0.0 };
        format!("{} records ok, {} failed in {seconds:.3} s ({rate:.0} records/s)", self.ok, self.failed)
    }

    fn error_lines(&self) -> Vec<String> {
        let records = self.errors.iter().map(|(message, count)| format!("{count} records failed: {message}"));
        records.chain(self.problems.iter().map(|p| format!("error: {p}"))).collect()
    }

    fn succeeded(&self) -> bool {
        self.failed == 0 && self.problems.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use bytes::Bytes;
    use clap::Parser;

    fn produce(args: &[&str]) -> Result<ProduceArgs, clap::Error> {
        let argv = ["actix-kafka", "produce", "--brokers", "b:9092", "--topic", "t"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Produce(args) => args,
            other => panic!("not produce: {other:?}"),
        })
    }

    fn split(delimiter: Option<&str>, pieces: &[&[u8]]) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
        let mut splitter = LineSplitter::new(delimiter.map(str::as_bytes), None);
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let (records, bytes) = splitter.push(piece, i + 1 == pieces.len());
            let sum: usize =
                records.iter().map(|r| r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().unwrap().len()).sum();
            assert_eq!(bytes, sum);
            out.extend(records.into_iter().map(|r| (r.key.map(|k| k.to_vec()), r.value.unwrap().to_vec())));
        }
        out
    }

    fn plain(value: &[u8]) -> (Option<Vec<u8>>, Vec<u8>) {
        (None, value.to_vec())
    }

    fn keyed(key: &[u8], value: &[u8]) -> (Option<Vec<u8>>, Vec<u8>) {
        (Some(key.to_vec()), value.to_vec())
    }

    #[test]
    fn defaults() {
        let args = produce(&[]).unwrap();
        assert_eq!((args.brokers.as_str(), args.topic.as_str()), ("b:9092", "t"));
        assert_eq!(args.producer.acks, AcksArg::All);
        assert_eq!(args.producer.compression, Compression::None);
        assert!(args.key_delimiter.is_none() && args.partition.is_none() && args.producer.idempotence.is_none());
        assert!(args.partitioner.is_none() && args.producer.linger_ms.is_none() && args.producer.batch_bytes.is_none());
        assert_eq!(args.buffer_bytes, DEFAULT_BUFFER_BYTES);
    }

    #[test]
    fn every_option() {
        let args = produce(&[
            "--key-delimiter",
            ":",
            "--partition",
            "3",
            "--acks",
            "0",
            "--compression",
            "LZ4",
            "--linger-ms",
            "5",
            "--batch-bytes",
            "65536",
            "--idempotence",
            "false",
            "--partitioner",
            "round-robin",
            "--delivery-timeout-ms",
            "2000",
            "--buffer-bytes",
            "1048576",
        ])
        .unwrap();
        assert_eq!(args.key_delimiter.as_deref(), Some(":"));
        assert_eq!(args.partition, Some(3));
        assert_eq!(args.producer.acks, AcksArg::None);
        assert_eq!(args.producer.compression, Compression::Lz4);
        assert_eq!(
            (args.producer.linger_ms, args.producer.batch_bytes, args.delivery_timeout_ms),
            (Some(5), Some(65536), Some(2000))
        );
        assert_eq!(args.producer.idempotence, Some(false));
        assert_eq!(args.partitioner, Some(PartitionerArg::RoundRobin));
        assert_eq!(args.buffer_bytes, 1 << 20);
        assert_eq!(produce(&["--acks", "1"]).unwrap().producer.acks, AcksArg::Leader);
        assert_eq!(produce(&["--acks", "all"]).unwrap().producer.acks, AcksArg::All);
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
            assert_eq!(produce(&["-z", codec]).unwrap().producer.compression.name(), codec);
        }
    }

    #[test]
    fn acks_below_all_turn_default_idempotence_off() {
        let config = |args: &[&str]| produce(args).unwrap().builder().unwrap().build().map(|p| p.config().clone());
        assert!(config(&[]).unwrap().idempotence);
        for acks in ["0", "1"] {
            let built = config(&["--acks", acks]).unwrap_or_else(|e| panic!("--acks {acks}: {e}"));
            assert!(!built.idempotence, "--acks {acks}");
        }
        assert!(config(&["--acks", "1", "--idempotence", "true"]).is_err(), "an explicit contradiction is refused");
    }

    #[test]
    fn a_short_delivery_timeout_shortens_the_request_timeout() {
        let config = |args: &[&str]| produce(args).unwrap().builder().unwrap().build().map(|p| p.config().clone());
        let short = config(&["--delivery-timeout-ms", "2000", "--linger-ms", "10"]).unwrap();
        assert_eq!(
            (short.delivery_timeout, short.request_timeout),
            (Duration::from_secs(2), Duration::from_millis(1990))
        );
        let long = config(&["--delivery-timeout-ms", "300000"]).unwrap();
        assert_eq!(long.request_timeout, ProducerConfig::default().request_timeout);
        let explicit = config(&["--delivery-timeout-ms", "2000", "--request-timeout-ms", "500"]).unwrap();
        assert_eq!(explicit.request_timeout, Duration::from_millis(500));
        assert!(config(&["--delivery-timeout-ms", "2000", "--request-timeout-ms", "5000"]).is_err());
    }

    #[test]
    fn bad_arguments_are_clap_errors() {
        for args in [
            &["--acks", "2"][..],
            &["--compression", "brotli"],
            &["--partition", "-1"],
            &["--idempotence", "maybe"],
            &["--partitioner", "random"],
            &["--key-delimiter", ""],
            &["--linger-ms", "soon"],
            &["--batch-bytes", "0"],
            &["--buffer-bytes", "0"],
            &["--request-timeout-ms", "0"],
        ] {
            assert_eq!(produce(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
        let missing = Cli::try_parse_from(["actix-kafka", "produce", "--topic", "t"]).unwrap_err();
        assert_eq!(missing.exit_code(), 2);
    }

    #[test]
    fn one_record_per_line() {
        assert_eq!(split(None, &[b"a\nbb\r\n\nlast"]), vec![plain(b"a"), plain(b"bb"), plain(b""), plain(b"last")]);
        assert_eq!(split(None, &[b"a\n"]), vec![plain(b"a")], "no record after the final newline");
        assert_eq!(split(None, &[b""]), vec![]);
        // Only one \r goes, and only at the end.
        assert_eq!(split(None, &[b"a\r\r\n\rb\n"]), vec![plain(b"a\r"), plain(b"\rb")]);
    }

    #[test]
    fn lines_across_reads() {
        let pieces: [&[u8]; 5] = [b"ab", b"c\nd", b"", b"e\r", b"\nf"];
        assert_eq!(split(None, &pieces), vec![plain(b"abc"), plain(b"de"), plain(b"f")]);
    }

    #[test]
    fn keys_before_the_first_delimiter() {
        let records = split(Some(":"), &[b"k:v\nk:v:w\nnokey\n:empty-key\nempty-value:\n"]);
        assert_eq!(
            records,
            vec![
                keyed(b"k", b"v"),
                keyed(b"k", b"v:w"),
                plain(b"nokey"),
                keyed(b"", b"empty-key"),
                keyed(b"empty-value", b"")
            ]
        );
        let records = split(Some("::"), &[b"a:b::c::d\r\n"]);
        assert_eq!(records, vec![keyed(b"a:b", b"c::d")]);
    }

    #[test]
    fn bytes_need_not_be_utf8() {
        let records = split(Some("\t"), &[b"\xff\xfe\t\x00\x80\n"]);
        assert_eq!(records, vec![keyed(b"\xff\xfe", b"\x00\x80")]);
    }

    #[test]
    fn records_carry_the_partition() {
        let mut splitter = LineSplitter::new(None, Some(4));
        let (records, _) = splitter.push(b"x\ny\n", false);
        assert!(records.iter().all(|r| r.partition == Some(4)));
    }

    #[test]
    fn the_tally_names_failures() {
        let mut tally = Tally::start();
        tally.ok = 7;
        tally.fail(3, &"boom");
        tally.fail(2, &"boom");
        for i in 0..10 {
            tally.fail(1, &format!("error {i}"));
        }
        tally.finish();
        assert!(tally.summary().starts_with("7 records ok, 15 failed in "), "{}", tally.summary());
        let lines = tally.error_lines();
        assert!(lines.contains(&"5 records failed: boom".to_string()), "{lines:?}");
        assert!(lines.contains(&"6 records failed: other errors".to_string()), "{lines:?}");
        assert!(!tally.succeeded());
    }
}
