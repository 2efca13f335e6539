//! librdkafka's mock cluster, driven by our `tests/peers/mock_cluster.py`.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::peers::{require_peer, Librdkafka, Peer};
use super::process::{lines, ChildGuard};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/mock_cluster.py");
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A running mock cluster; dropping it closes its stdin and kills it.
#[derive(Debug)]
pub struct MockCluster {
    child: ChildGuard,
    stdin: ChildStdin,
    answers: Receiver<String>,
    bootstrap: String,
    lib: Librdkafka,
}

impl MockCluster {
    /// Starts `brokers` brokers on loopback with `topics` (name, partitions), on
    /// librdkafka `lib`. With 2.16 the group coordinator's initial rebalance delay is
    /// set to 0 (2.0.2 has no such knob and waits 3 s).
    ///
    /// `None` when a peer is missing outside CI (see [`require_peer`]).
    ///
    /// # Panics
    ///
    /// When the mock does not start within 10 s.
    pub fn start(brokers: u32, topics: &[(&str, u32)], lib: Librdkafka) -> Option<MockCluster> {
        require_peer(Peer::Python)?;
        let so = require_peer(Peer::Librdkafka(lib))?;
        let mut command = Command::new("python3");
        command.arg(SCRIPT).arg("--lib").arg(&so).arg("-n").arg(brokers.to_string());
        command.args(topics.iter().map(|(name, partitions)| format!("{name}:{partitions}")));
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = ChildGuard(command.spawn().unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}")));
        let stdin = child.0.stdin.take().expect("piped stdin");
        let answers = lines(child.0.stdout.take().expect("piped stdout"));
        let bootstrap = answers
            .recv_timeout(ANSWER_TIMEOUT)
            .unwrap_or_else(|e| panic!("the {} mock cluster printed no bootstrap string: {e}", lib.label()));
        let mut mock = MockCluster { child, stdin, answers, bootstrap, lib };
        if lib == Librdkafka::V2_16 {
            mock.command("initial-rebalance-delay 0").expect("initial-rebalance-delay");
        }
        Some(mock)
    }

    /// The bootstrap string, `127.0.0.1:PORT,...`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Each broker's address, broker 1 first.
    pub fn broker_addrs(&self) -> Vec<SocketAddr> {
        self.bootstrap
            .split(',')
            .map(|a| a.parse().unwrap_or_else(|e| panic!("bad broker address {a:?}: {e}")))
            .collect()
    }

    /// Which librdkafka the mock runs on.
    pub fn lib(&self) -> Librdkafka {
        self.lib
    }

    /// Sends one command (`broker-down 1`, `leader T 0 2`, `errors 0 6 6` ...) and waits
    /// for its answer: `Ok` with what follows `ok`, `Err` with the mock's reason.
    ///
    /// # Errors
    ///
    /// The mock's `err` answer, or a message when it does not answer within 10 s.
    pub fn command(&mut self, command: &str) -> Result<String, String> {
        writeln!(self.stdin, "{command}").map_err(|e| format!("mock stdin: {e}"))?;
        self.stdin.flush().map_err(|e| format!("mock stdin: {e}"))?;
        let answer = self.answers.recv_timeout(ANSWER_TIMEOUT).map_err(|e| format!("no answer to {command:?}: {e}"))?;
        match answer.split_once(' ').unwrap_or((&answer, "")) {
            ("ok", rest) => Ok(rest.to_string()),
            ("err", reason) => Err(reason.to_string()),
            _ => Err(format!("unexpected answer to {command:?}: {answer:?}")),
        }
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        // EOF on stdin is the clean way out; the guard then kills whatever is left.
        let _flushed: std::io::Result<()> = self.stdin.flush();
        self.child.wait_timeout(Duration::from_millis(200));
    }
}
