//! `actix-kafka consume`: print a topic's records, one per line, through the
//! [`Consumer`] actor.
//!
//! The contract with scripts and tests:
//!
//! - each record is printed with `--format` (default: the value and a newline; see
//!   [`format`] for the tokens), as raw bytes, on stdout;
//! - `--group G` joins consumer group G and commits what was printed; without it every
//!   partition of the topic is read (or only `--partition P`) and nothing is committed;
//! - where to start, when nothing is committed: the log end, or the log start with
//!   `--from-beginning` (with `--partition` and no group: always that choice);
//! - `--count N` stops after N records — exactly N are printed, and with a group
//!   exactly those are committed, even when the Nth is in the middle of a delivery;
//! - without `--count` it runs until SIGINT or SIGTERM, then commits and leaves;
//!   `--timeout-ms` stops it after that long in any case;
//! - stderr gets one summary line, `consume: N records in S s (R records/s)`;
//! - the exit code is 0 when it stopped as asked (N records printed, a signal, the
//!   timeout without `--count`, stdout closed by a reader such as `head`), 1 when the
//!   consumer failed or the timeout passed before N records, 2 for bad arguments.

pub mod format;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Context, Handler};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::consumer::{
    Assign, Close, CommitOffsets, Consumer, ConsumerBuilder, HandlerError, OffsetReset, Records, StartPosition,
    Subscribe, TopicPartition,
};

pub use format::{RecordFormat, DEFAULT_FORMAT};

use super::events::FirstError;
use super::security::{SecurityArgs, SecurityArgsError};
use crate::client::ClientConfig;

/// The arguments of `actix-kafka consume`.
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    #[arg(long, short = 'b', value_name = "HOST:PORT,...")]
    pub brokers: String,

    /// The topic to read.
    #[arg(long, short = 't', value_name = "TOPIC")]
    pub topic: String,

    /// Join this consumer group: share the partitions with its other members and
    /// commit what was printed. [default: no group, every partition, no commits]
    #[arg(long, short = 'G', value_name = "GROUP")]
    pub group: Option<String>,

    /// Start at the log start where nothing is committed [default: the log end].
    #[arg(long)]
    pub from_beginning: bool,

    /// Stop after this many records.
    #[arg(long, short = 'c', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Read only this partition (without --group).
    #[arg(long, short = 'p', value_name = "N", value_parser = clap::value_parser!(i32).range(0..), conflicts_with = "group")]
    pub partition: Option<i32>,

    /// How to print each record: %k key, %v value, %t topic, %p partition, %o offset,
    /// %T timestamp, %% a percent sign, \n \t \r \\ escapes.
    #[arg(long, short = 'f', value_name = "FMT", default_value = DEFAULT_FORMAT, value_parser = parse_format)]
    pub format: RecordFormat,

    /// Stop after this many milliseconds in any case (exit 1 if --count was not reached).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: Option<u64>,

    /// TLS and SASL.
    #[command(flatten)]
    pub security: SecurityArgs,
}

fn parse_format(text: &str) -> Result<RecordFormat, String> {
    RecordFormat::parse(text).map_err(|e| e.to_string())
}

impl ConsumeArgs {
    /// The consumer these arguments describe.
    ///
    /// # Errors
    ///
    /// [`SecurityArgsError`] when the security flags do not fit together or the
    /// password variable is not set.
    pub fn builder(&self) -> Result<ConsumerBuilder, SecurityArgsError> {
        let client = self.security.apply(ClientConfig::new(&self.brokers).client_id("actix-kafka-consume"))?;
        let reset = if self.from_beginning { OffsetReset::Earliest } else { OffsetReset::Latest };
        let mut builder = Consumer::builder().client(client).offset_reset(reset);
        if let Some(group) = &self.group {
            builder = builder.group_id(group.clone());
        }
        Ok(builder)
    }
}

/// Why the command stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    /// `--count` records were printed.
    CountReached,
    /// SIGINT or SIGTERM.
    Signal(&'static str),
    /// `--timeout-ms` passed.
    Timeout,
    /// stdout was closed (a reader such as `head` went away).
    OutputClosed,
    /// Writing stdout failed otherwise, or the consumer reported a fatal error.
    Failed(String),
}

/// The subscriber: prints each delivery and counts.
struct Printer {
    format: RecordFormat,
    limit: Option<u64>,
    printed: u64,
    buffer: Vec<u8>,
    /// With `--count`: where each partition's printed records end, for the commit.
    printed_up_to: BTreeMap<TopicPartition, i64>,
    stop: watch::Sender<Option<Stop>>,
}

impl Actor for Printer {
    type Context = Context<Self>;
}

impl Handler<Records> for Printer {
    type Result = Result<(), HandlerError>;

    fn handle(&mut self, delivery: Records, _: &mut Context<Self>) -> Self::Result {
        if self.stop.borrow().is_some() {
            // Stopping: leave the rest unacknowledged for whoever reads next.
            return Err(HandlerError::msg("the consume command is stopping"));
        }
        let room = self.limit.map_or(usize::MAX, |limit| usize::try_from(limit - self.printed).unwrap_or(usize::MAX));
        let take = delivery.records.len().min(room);
        self.buffer.clear();
        for record in &delivery.records[..take] {
            self.format.render(record, &mut self.buffer);
        }
        let mut out = io::stdout().lock();
        if let Err(e) = out.write_all(&self.buffer).and_then(|()| out.flush()) {
            let stop =
                if e.kind() == io::ErrorKind::BrokenPipe { Stop::OutputClosed } else { Stop::Failed(e.to_string()) };
            self.stop.send_replace(Some(stop));
            return Err(e.into());
        }
        self.printed += take as u64;
        if let Some(last) = delivery.records[..take].last() {
            self.printed_up_to.insert(TopicPartition::new(delivery.topic.clone(), delivery.partition), last.offset + 1);
        }
        if take < delivery.records.len() || Some(self.printed) == self.limit {
            self.stop.send_replace(Some(Stop::CountReached));
        }
        if take < delivery.records.len() {
            // Only part was printed: the CommitOffsets at the end commits exactly it.
            return Err(HandlerError::msg("--count reached within this delivery"));
        }
        Ok(())
    }
}

/// Runs `actix-kafka consume` and returns its exit code.
pub fn run(args: ConsumeArgs) -> ExitCode {
    let consumer = match args.builder() {
        Ok(builder) => match builder.build() {
            Ok(consumer) => consumer,
            Err(e) => super::Cli::command().error(ErrorKind::ValueValidation, e).exit(),
        },
        Err(e) => super::Cli::command().error(ErrorKind::ArgumentConflict, e).exit(),
    };
    let system = actix_rt::System::new();
    let started = Instant::now();
    let (stop, printed) = system.block_on(consume(consumer, &args));
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("consume: {printed} records in {seconds:.3} s ({:.0} records/s)", printed as f64 / seconds.max(1e-9));
    match stop {
        Stop::CountReached | Stop::Signal(_) | Stop::OutputClosed => ExitCode::SUCCESS,
        Stop::Timeout if args.count.is_none() => ExitCode::SUCCESS,
        Stop::Timeout => {
            eprintln!("actix-kafka consume: timed out after {printed} of {} records", args.count.unwrap_or(0));
            ExitCode::FAILURE
        }
        Stop::Failed(reason) => {
            eprintln!("actix-kafka consume: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// Subscribes (or assigns), waits for a reason to stop, commits what was printed and
/// closes; returns the reason and the count printed.
async fn consume(consumer: Consumer, args: &ConsumeArgs) -> (Stop, u64) {
    let (stop_tx, mut stop_rx) = watch::channel(None);
    let printer = Printer {
        format: args.format.clone(),
        limit: args.count,
        printed: 0,
        buffer: Vec::with_capacity(64 * 1024),
        printed_up_to: BTreeMap::new(),
        stop: stop_tx.clone(),
    }
    .start();
    let events = FirstError { first: stop_tx.clone(), make: Stop::Failed }.start();
    let consumer = consumer.start();
    if let Err(e) = subscribe(&consumer, &printer, &events, args).await {
        return (Stop::Failed(e), 0);
    }
    let stop = wait_for_stop(&mut stop_rx, args.timeout_ms.map(Duration::from_millis)).await;
    stop_tx.send_replace(Some(stop.clone()));
    let (printed, up_to) = printer.send(Finish).await.unwrap_or_default();
    let mut stop = stop;
    if args.group.is_some() && args.count.is_some() && !up_to.is_empty() {
        let offsets = up_to.into_iter().collect();
        if let Err(e) = flatten(consumer.send(CommitOffsets { offsets }).await) {
            stop = Stop::Failed(format!("commit failed: {e}"));
        }
    }
    if let Err(e) = flatten(consumer.send(Close).await) {
        tracing::warn!(%e, "close failed");
        if args.group.is_some() {
            stop = Stop::Failed(format!("close failed: {e}"));
        }
    }
    (stop, printed)
}

async fn subscribe(
    consumer: &Addr<Consumer>,
    printer: &Addr<Printer>,
    events: &Addr<FirstError<Stop>>,
    args: &ConsumeArgs,
) -> Result<(), String> {
    let request = match args.partition {
        Some(partition) => {
            let start = if args.from_beginning { StartPosition::Earliest } else { StartPosition::Latest };
            let assign = Assign::partitions([(args.topic.as_str(), partition)]).from(start);
            consumer.send(assign.to(printer.clone().recipient()).events(events.clone().recipient())).await
        }
        None => {
            let subscribe = Subscribe::topics([args.topic.clone()]);
            consumer.send(subscribe.to(printer.clone().recipient()).events(events.clone().recipient())).await
        }
    };
    flatten(request).map_err(|e| format!("subscribe failed: {e}"))
}

fn flatten<E: std::fmt::Display>(result: Result<Result<(), E>, actix::MailboxError>) -> Result<(), String> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

async fn wait_for_stop(stop: &mut watch::Receiver<Option<Stop>>, timeout: Option<Duration>) -> Stop {
    let signals = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
    let (mut sigint, mut sigterm) = match signals {
        (Ok(int), Ok(term)) => (int, term),
        (Err(e), _) | (_, Err(e)) => return Stop::Failed(format!("cannot install signal handlers: {e}")),
    };
    let deadline = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = sigint.recv() => Stop::Signal("SIGINT"),
        _ = sigterm.recv() => Stop::Signal("SIGTERM"),
        () = deadline => Stop::Timeout,
        changed = stop.wait_for(Option::is_some) => match changed {
            Ok(stop) => stop.clone().unwrap_or(Stop::Timeout),
            Err(_) => Stop::Failed("the printer stopped".into()),
        },
    }
}

/// Asks the printer for its count and where each partition's printed records end.
#[derive(actix::Message)]
#[rtype(result = "(u64, BTreeMap<TopicPartition, i64>)")]
struct Finish;

impl Handler<Finish> for Printer {
    type Result = actix::MessageResult<Finish>;

    fn handle(&mut self, _: Finish, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult((self.printed, std::mem::take(&mut self.printed_up_to)))
    }
}
