//! `actix-kafka perf`: throughput and latency of our clients, measured the way Kafka's
//! `kafka-producer-perf-test` does, so runs compare with the peers' in
//! `benches/peers/run.sh`.
//!
//! - `perf produce`: N records of S bytes through the [`Producer`](crate::producer::Producer)
//!   by one of its three APIs (`--api send|batch|fire`), optionally paced to R records/s;
//! - with `--brokers` it talks to that cluster (the topic must exist or be auto-created);
//!   without, it starts an [`EmbeddedCluster`] (3 nodes, the topic with 6 partitions)
//!   on threads of its own (the threads that appear while it starts), so the broker's
//!   CPU time can be told apart from the client's;
//! - on a terminal a progress bar, otherwise a plain line every few seconds on stderr;
//!   at the end the summary on stdout, or with `--json` as one JSON line (see
//!   [`report::Summary::json`] for the keys).
//!
//! Latency is per record, from the moment the record is handed to the producer to the
//! moment its reply (or delivery report) is seen. CPU time comes from `/proc` (Linux):
//! the process's, less the embedded broker's threads. Peak RSS is the process's
//! `VmHWM` from `/proc/self/status` at the end of the run: with an embedded cluster in
//! the process it includes the broker's stored log (it keeps every record in memory),
//! so `benches/scale.sh` measures the client against a separate `actix-kafka broker`.
//! Exit code 0 when every record was acknowledged, 1 otherwise, 2 for bad arguments.
//!
//! `perf consume` reads N records through the [`Consumer`](crate::consumer::Consumer)
//! with the same [`Target`], [`EmbeddedBroker`] and [`report`] pieces; see
//! [`consume`] for what it times and why it reports no latency.

mod consume;
mod produce;
mod report;

use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;

use clap::{Args, Subcommand};

use crate::embedded::EmbeddedCluster;

pub use consume::PerfConsumeArgs;
pub use produce::{Api, PerfProduceArgs};

/// The arguments of `actix-kafka perf`.
#[derive(Debug, Clone, Args)]
pub struct PerfArgs {
    /// What to measure.
    #[command(subcommand)]
    pub command: PerfCommand,
}

/// The `perf` subcommands.
#[derive(Debug, Clone, Subcommand)]
#[non_exhaustive]
pub enum PerfCommand {
    /// Produce N records of S bytes and report records/s, MB/s, latency percentiles and
    /// CPU time.
    Produce(PerfProduceArgs),
    /// Consume N records (produced first when the cluster is embedded, or with
    /// --fill) and report records/s, MB/s and CPU time.
    Consume(PerfConsumeArgs),
}

/// Where a perf run goes and how much it moves: shared by every `perf` subcommand.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Bootstrap brokers, `host:port[,host:port...]` [default: an embedded cluster
    /// started for the run].
    #[arg(long, short = 'b', value_name = "HOST:PORT,...")]
    pub brokers: Option<String>,

    /// The topic.
    #[arg(long, short = 't', value_name = "TOPIC", default_value = "perf")]
    pub topic: String,

    /// How many records.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,

    /// Bytes per record value.
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    pub record_size: usize,

    /// Print the summary as one JSON line on stdout, and no progress.
    #[arg(long)]
    pub json: bool,

    /// Nodes of the embedded cluster (without --brokers).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    pub nodes: u16,

    /// Partitions of the topic on the embedded cluster (without --brokers).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,

    /// TLS and SASL towards `--brokers` (the embedded cluster is plaintext).
    #[command(flatten)]
    pub security: super::security::SecurityArgs,
}

impl Target {
    /// The client configuration for `bootstrap`: the security flags apply to
    /// `--brokers` only, as the embedded cluster started for the run is plaintext.
    ///
    /// # Errors
    ///
    /// [`SecurityArgsError`](super::security::SecurityArgsError) when the security
    /// flags do not fit together or the password variable is not set.
    pub fn client(
        &self,
        bootstrap: &str,
        client_id: &str,
    ) -> Result<crate::client::ClientConfig, super::security::SecurityArgsError> {
        let client = crate::client::ClientConfig::new(bootstrap).client_id(client_id);
        match self.brokers {
            Some(_) => self.security.apply(client),
            None => Ok(client),
        }
    }

    /// The bootstrap string: `--brokers`, or that of an embedded cluster started now
    /// (returned too: it runs until dropped).
    pub(crate) fn bootstrap(&self) -> Result<(String, Option<EmbeddedBroker>), String> {
        match &self.brokers {
            Some(brokers) => Ok((brokers.clone(), None)),
            None => {
                let broker = EmbeddedBroker::start(self.nodes, &self.topic, self.partitions)?;
                Ok((broker.bootstrap().to_owned(), Some(broker)))
            }
        }
    }
}

/// Runs `perf`; returns the exit code (see the module docs).
pub fn run(args: PerfArgs) -> ExitCode {
    match args.command {
        PerfCommand::Produce(args) => produce::run(args),
        PerfCommand::Consume(args) => consume::run(args),
    }
}

/// An [`EmbeddedCluster`] on a thread (and actix system) of its own, for the length of
/// a run.
#[derive(Debug)]
pub(crate) struct EmbeddedBroker {
    bootstrap: String,
    /// The threads the broker started: its own and its storage arbiter's.
    threads: Vec<u32>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts `nodes` nodes and creates `topic` with `partitions` partitions.
    pub(crate) fn start(nodes: u16, topic: &str, partitions: i32) -> Result<EmbeddedBroker, String> {
        let threads_before = report::thread_ids();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let topic = topic.to_owned();
        let handle = thread::Builder::new()
            .name("perf-broker".into())
            .spawn(move || {
                let system = actix_rt::System::new();
                system.block_on(async move {
                    let started = async {
                        let cluster = EmbeddedCluster::builder().nodes(u32::from(nodes)).start().await?;
                        cluster.create_topic(&topic, partitions).await?;
                        Ok::<_, crate::embedded::EmbeddedError>(cluster)
                    };
                    let cluster = match started.await {
                        Ok(cluster) => cluster,
                        Err(e) => {
                            // The starter waits on the other end; it may be gone if it gave up.
                            let _gone = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _gone = ready_tx.send(Ok(cluster.bootstrap()));
                    // A dropped sender (the run ended) stops the broker as well.
                    let _stopped = stopped.await;
                    if let Err(e) = cluster.shutdown().await {
                        tracing::warn!(%e, "embedded broker shutdown");
                    }
                });
            })
            .map_err(|e| format!("starting the embedded broker's thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(bootstrap)) => {
                let threads = report::thread_ids().into_iter().filter(|t| !threads_before.contains(t)).collect();
                Ok(EmbeddedBroker { bootstrap, threads, stop: Some(stop), handle: Some(handle) })
            }
            Ok(Err(e)) => Err(format!("starting the embedded broker: {e}")),
            Err(_) => Err("the embedded broker's thread ended before it started".into()),
        }
    }

    pub(crate) fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The CPU time of the broker's threads so far.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        self.threads.iter().map(|tid| report::thread_cpu_seconds(*tid)).sum()
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The broker's thread may have ended on its own: nothing to stop then.
            let _ended = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            if handle.join().is_err() {
                tracing::warn!("the embedded broker's thread panicked");
            }
        }
    }
}
