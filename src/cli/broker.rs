//! `actix-kafka broker`: runs an [`EmbeddedCluster`] in an actix system until SIGINT or
//! SIGTERM.
//!
//! The contract with scripts and tests:
//!
//! - the first line on stdout is `BOOTSTRAP=host:port,host:port,...` (flushed), once
//!   every node listens;
//! - with `--control-stdin`, each non-blank stdin line is one fault command for
//!   [`EmbeddedCluster::control`] (`down 1`, `error Produce NOT_LEADER_OR_FOLLOWER 3`,
//!   `create-topic t 6` ...), answered on stdout, flushed, by `ok <line>` or
//!   `err <line>: <reason>`. EOF on stdin ends the commands, not the broker;
//! - SIGINT or SIGTERM shuts the cluster down (its logs are flushed) and exits 0;
//!   a failure to start (the port is taken, the data directory is unusable) is
//!   printed on stderr and exits 1; bad arguments exit 2.
//!
//! Logs go to stderr through `tracing` (see [`super::init_tracing`]).

use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, ValueEnum};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::embedded::{parse_users, EmbeddedCluster, EmbeddedClusterBuilder, EmbeddedError, FsyncPolicy};
use crate::net::SaslMechanism;

/// Default interval of `--fsync interval`, in milliseconds.
pub const DEFAULT_FSYNC_INTERVAL_MS: u64 = 1000;

/// The arguments of `actix-kafka broker`.
#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Number of broker nodes (ids 0..N), all in this process.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub nodes: u32,

    /// Address of node 0; node i listens on PORT+i. Port 0 gives every node a free port
    /// (read them from the BOOTSTRAP= line).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9092", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Partitions of an automatically created topic.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=100_000))]
    pub partitions: i32,

    /// Directory of the partition logs, kept across restarts [default: none, the logs
    /// live in memory and die with the process].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// When appended batches are fsynced (with --data-dir): after every batch, on an
    /// interval, or never (the OS writes back) [default: interval, the broker's].
    #[arg(long, value_enum)]
    pub fsync: Option<FsyncMode>,

    /// Interval of `--fsync interval`, in milliseconds [default: 1000]. Given alone it
    /// implies `--fsync interval`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub fsync_interval_ms: Option<u64>,

    /// Read fault-injection commands from stdin, one per line, and answer each on
    /// stdout with `ok <line>` or `err <line>: <reason>`.
    #[arg(long)]
    pub control_stdin: bool,

    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by a CA in this PEM file (mutual TLS).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Require SASL with these mechanisms, comma-separated: plain, scram-sha-256,
    /// scram-sha-512 (oauthbearer accepts unsecured test tokens); needs --users.
    #[arg(long, value_name = "MECHANISMS", value_delimiter = ',', value_parser = parse_mechanism, requires = "users")]
    pub sasl: Vec<SaslMechanism>,

    /// The SASL users: one `user:password` per line (`#` comments).
    #[arg(long, value_name = "FILE", requires = "sasl")]
    pub users: Option<PathBuf>,

    /// SASL session lifetime announced to clients, after which they must
    /// re-authenticate (KIP-368), in milliseconds [default: unlimited].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..), requires = "sasl")]
    pub sasl_session_lifetime_ms: Option<u64>,
}

fn parse_mechanism(text: &str) -> Result<SaslMechanism, String> {
    text.trim().parse().map_err(|e: crate::net::sasl::SaslError| e.to_string())
}

/// `--fsync`: the command-line names of [`FsyncPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FsyncMode {
    /// fsync after every appended batch ([`FsyncPolicy::EveryBatch`]).
    Always,
    /// fsync every `--fsync-interval-ms` ([`FsyncPolicy::Interval`]).
    Interval,
    /// Never fsync; the OS writes back ([`FsyncPolicy::Never`]).
    Never,
}

/// Why `actix-kafka broker` failed at run time (exit code 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerCommandError {
    /// The cluster did not start (port in use, unusable data directory ...).
    #[error("cannot start the broker: {0}")]
    Start(#[source] EmbeddedError),
    /// The users file could not be read or parsed.
    #[error("cannot use the users file {path}: {reason}")]
    Users {
        /// The file.
        path: PathBuf,
        /// What went wrong (never a password).
        reason: String,
    },
    /// A signal handler could not be installed.
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        /// `SIGINT` or `SIGTERM`.
        signal: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The `BOOTSTRAP=` line could not be written.
    #[error("cannot write the BOOTSTRAP line on stdout: {0}")]
    Announce(#[source] io::Error),
    /// The cluster did not shut down cleanly.
    #[error("the broker did not shut down cleanly: {0}")]
    Shutdown(#[source] EmbeddedError),
}

impl BrokerArgs {
    /// The fsync policy the arguments ask for; `None` keeps the broker's default.
    ///
    /// # Errors
    ///
    /// `--fsync-interval-ms` together with `--fsync always` or `--fsync never`.
    pub fn fsync_policy(&self) -> Result<Option<FsyncPolicy>, String> {
        let interval =
            |ms: Option<u64>| FsyncPolicy::Interval(Duration::from_millis(ms.unwrap_or(DEFAULT_FSYNC_INTERVAL_MS)));
        match (self.fsync, self.fsync_interval_ms) {
            (Some(FsyncMode::Interval), ms) => Ok(Some(interval(ms))),
            (None, Some(ms)) => Ok(Some(interval(Some(ms)))),
            (None, None) => Ok(None),
            (Some(mode), Some(_)) => {
                Err(format!("--fsync-interval-ms goes with --fsync interval, not --fsync {mode:?}").to_lowercase())
            }
            (Some(FsyncMode::Always), None) => Ok(Some(FsyncPolicy::EveryBatch)),
            (Some(FsyncMode::Never), None) => Ok(Some(FsyncPolicy::Never)),
        }
    }

    /// The cluster builder these arguments describe.
    pub fn builder(&self, fsync: Option<FsyncPolicy>) -> EmbeddedClusterBuilder {
        let mut builder =
            EmbeddedCluster::builder().nodes(self.nodes).listen(self.listen).default_partitions(self.partitions);
        if let Some(dir) = &self.data_dir {
            builder = builder.data_dir(dir.clone());
        }
        if let Some(policy) = fsync {
            builder = builder.fsync(policy);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            builder = builder.tls_files(cert.clone(), key.clone());
        }
        builder
    }

    /// `builder` with the SASL users (read from `--users`) and the client CA.
    ///
    /// # Errors
    ///
    /// [`BrokerCommandError::Users`] when a file cannot be read or a line is not
    /// `user:password`.
    pub fn secure(&self, mut builder: EmbeddedClusterBuilder) -> Result<EmbeddedClusterBuilder, BrokerCommandError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| BrokerCommandError::Users { path: path.clone(), reason: e.to_string() })
        };
        if let Some(ca) = &self.tls_client_ca {
            builder = builder.tls_client_ca(read(ca)?);
        }
        if let Some(path) = &self.users {
            let text = String::from_utf8(read(path)?)
                .map_err(|_| BrokerCommandError::Users { path: path.clone(), reason: "not UTF-8".into() })?;
            let users = parse_users(&text)
                .map_err(|e| BrokerCommandError::Users { path: path.clone(), reason: e.to_string() })?;
            builder = builder.sasl(&self.sasl, users);
            if let Some(ms) = self.sasl_session_lifetime_ms {
                builder = builder.sasl_session_lifetime(Duration::from_millis(ms));
            }
        }
        Ok(builder)
    }
}

/// `HOST:PORT` where HOST is an IP address or a name that resolves (`localhost`).
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let mut addrs = text.to_socket_addrs().map_err(|e| format!("not HOST:PORT ({e})"))?;
    addrs.next().ok_or_else(|| format!("{text} resolves to no address"))
}

/// Runs the broker until SIGINT or SIGTERM; returns the exit code (see the module
/// docs), having printed any error on stderr.
pub fn run(args: BrokerArgs) -> ExitCode {
    let fsync = match args.fsync_policy() {
        Ok(policy) => policy,
        Err(message) => super::Cli::command().error(ErrorKind::ArgumentConflict, message).exit(),
    };
    let system = actix_rt::System::new();
    match system.block_on(serve(&args, fsync)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("actix-kafka broker: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &BrokerArgs, fsync: Option<FsyncPolicy>) -> Result<(), BrokerCommandError> {
    // Handlers first: a SIGTERM that arrives right after the BOOTSTRAP line must take
    // the clean path, not the default action.
    let install = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|source| BrokerCommandError::Signal { signal: name, source })
    };
    let mut sigint = install(SignalKind::interrupt(), "SIGINT")?;
    let mut sigterm = install(SignalKind::terminate(), "SIGTERM")?;

    let cluster = args.secure(args.builder(fsync))?.start().await.map_err(BrokerCommandError::Start)?;
    let bootstrap = cluster.bootstrap();
    if let Err(e) = announce(&bootstrap) {
        // Nobody can find the broker: stop it again, and report the failed write.
        if let Err(shutdown) = cluster.shutdown().await {
            tracing::warn!("shutdown after a failed announce: {shutdown}");
        }
        return Err(BrokerCommandError::Announce(e));
    }
    tracing::info!(nodes = args.nodes, %bootstrap, data_dir = ?args.data_dir, "broker started");

    let mut commands = args.control_stdin.then(read_stdin_lines);
    let signal = loop {
        tokio::select! {
            _ = sigint.recv() => break "SIGINT",
            _ = sigterm.recv() => break "SIGTERM",
            line = next_command(&mut commands) => match line {
                Some(line) => answer(&cluster, &line).await,
                None => {
                    tracing::info!("stdin closed: no more control commands, the broker keeps running");
                    commands = None;
                }
            },
        }
    };
    tracing::info!(signal, "shutting down");
    cluster.shutdown().await.map_err(BrokerCommandError::Shutdown)?;
    tracing::info!("broker stopped");
    Ok(())
}

/// Prints `BOOTSTRAP=...` as the first stdout line and flushes it.
fn announce(bootstrap: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "BOOTSTRAP={bootstrap}")?;
    out.flush()
}

/// Runs one control command and prints its answer (flushed).
async fn answer(cluster: &EmbeddedCluster, line: &str) {
    let answer = match cluster.control(line).await {
        Ok(ok) => ok,
        Err(e) => format!("err {line}: {e}"),
    };
    tracing::info!(command = line, %answer, "control");
    let mut out = io::stdout().lock();
    if let Err(e) = writeln!(out, "{answer}").and_then(|()| out.flush()) {
        // The reader went away; the broker itself is still useful.
        tracing::warn!("cannot write a control answer on stdout: {e}");
    }
}

/// The next control command, or `None` once stdin is closed; pending forever when
/// there is no stdin to read.
async fn next_command(commands: &mut Option<mpsc::UnboundedReceiver<String>>) -> Option<String> {
    match commands {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads stdin on a plain thread, one trimmed non-blank line per message.
///
/// Not `tokio::io::stdin`: its blocking read would hold the runtime's shutdown until
/// the next line arrives. This thread, blocked in `read`, ends with the process.
fn read_stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    thread::Builder::new()
        .name("control-stdin".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                match line {
                    Ok(line) if line.trim().is_empty() => {}
                    Ok(line) => {
                        if tx.send(line.trim().to_string()).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("reading control commands from stdin: {e}");
                        return;
                    }
                }
            }
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::warn!("cannot start the control-stdin reader: {e}"));
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn broker(args: &[&str]) -> Result<BrokerArgs, clap::Error> {
        let argv = ["actix-kafka", "broker"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Broker(args) => args,
            other => panic!("not broker: {other:?}"),
        })
    }

    #[test]
    fn defaults() {
        let args = broker(&[]).unwrap();
        assert_eq!(args.nodes, 1);
        assert_eq!(args.listen, "127.0.0.1:9092".parse().unwrap());
        assert_eq!(args.partitions, 1);
        assert!(args.data_dir.is_none() && !args.control_stdin);
        assert!(args.fsync_policy().unwrap().is_none());
    }

    #[test]
    fn fsync_modes() {
        let policy = |args: &[&str]| broker(args).unwrap().fsync_policy();
        assert!(matches!(policy(&["--fsync", "always"]), Ok(Some(FsyncPolicy::EveryBatch))));
        assert!(matches!(policy(&["--fsync", "never"]), Ok(Some(FsyncPolicy::Never))));
        assert!(
            matches!(policy(&["--fsync", "interval"]), Ok(Some(FsyncPolicy::Interval(d))) if d == Duration::from_secs(1))
        );
        assert!(
            matches!(policy(&["--fsync-interval-ms", "50"]), Ok(Some(FsyncPolicy::Interval(d))) if d == Duration::from_millis(50))
        );
        assert!(policy(&["--fsync", "never", "--fsync-interval-ms", "50"]).is_err());
    }

    #[test]
    fn bad_arguments_are_clap_errors() {
        for args in [
            &["--nodes", "0"][..],
            &["--listen", "nowhere"],
            &["--fsync", "sometimes"],
            &["--partitions", "x"],
            &["--bogus"],
        ] {
            let err = broker(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn listen_takes_names() {
        let args = broker(&["--listen", "localhost:0", "--nodes", "3", "--control-stdin"]).unwrap();
        assert!(args.listen.ip().is_loopback() && args.listen.port() == 0);
        assert_eq!(args.nodes, 3);
        assert!(args.control_stdin);
    }
}
