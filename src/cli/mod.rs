//! The `actix-kafka` command line: argument parsing and one module per subcommand.
//!
//! The binary (`src/bin/actix-kafka.rs`) only parses [`Cli`], sets up logging and
//! calls [`run`]; each subcommand lives in its own module with its own `Args` struct
//! and `run` function ([`broker`], [`produce`], [`consume`], [`perf`]); [`security`] holds
//! the TLS and SASL flags the client commands share.
//!
//! Exit codes follow one rule for every subcommand: 0 on success (a broker stopped by
//! SIGINT or SIGTERM included), 1 when the command fails at run time (the error is
//! printed on stderr), and 2 for bad arguments (clap's own error and exit).

pub mod broker;
pub mod consume;
mod events;
mod lines;
pub mod perf;
pub mod produce;
pub mod security;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `actix-kafka`: an embedded Kafka-compatible broker and Kafka tools.
#[derive(Debug, Parser)]
#[command(name = "actix-kafka", version, about, propagate_version = true)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Run the embedded Kafka-compatible broker (one or more nodes) until SIGINT or
    /// SIGTERM.
    Broker(broker::BrokerArgs),
    /// Produce one record per stdin line to a topic; exit 0 only when every record
    /// was acknowledged.
    Produce(produce::ProduceArgs),
    /// Print a topic's records, one per line; with --group, as a member of a consumer
    /// group that commits what was printed.
    Consume(consume::ConsumeArgs),
    /// Measure a client's throughput, latency and CPU time (`perf produce`).
    Perf(perf::PerfArgs),
}

/// Runs the parsed command and returns the process's exit code.
///
/// Logging must already be set up (see [`init_tracing`]); errors are printed on
/// stderr here, so the caller only has to return the code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Broker(args) => broker::run(args),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Perf(args) => perf::run(args),
    }
}

/// Sends `tracing` output to stderr, filtered by `RUST_LOG` (default `info`).
///
/// stdout stays free for what scripts read: the broker's `BOOTSTRAP=` line and its
/// answers to control commands.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
