//! The `actix-kafka` command. Everything but the entry point is in
//! `actix_kafka::cli`; see there for the subcommands and exit codes.

use std::process::ExitCode;

use actix_kafka::cli::{self, Cli};
use clap::Parser;

fn main() -> ExitCode {
    // Bad arguments: clap prints its error (or --help) and exits with 2 (0 for help).
    let cli = Cli::parse();
    cli::init_tracing();
    cli::run(cli)
}
