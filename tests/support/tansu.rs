//! The tansu broker (an Apache-Kafka-compatible broker in Rust), in memory.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::peers::{require_peer, Peer};
use super::process::{slurp, ChildGuard};

const START_TIMEOUT: Duration = Duration::from_secs(20);
const TOPIC_TIMEOUT: Duration = Duration::from_secs(20);

/// A running tansu broker with in-memory storage; dropping it kills it.
#[derive(Debug)]
pub struct Tansu {
    child: ChildGuard,
    binary: PathBuf,
    addr: SocketAddr,
}

impl Tansu {
    /// Starts tansu on a free loopback port and waits until the port accepts.
    ///
    /// `None` when tansu is missing outside CI (see [`require_peer`]).
    ///
    /// # Panics
    ///
    /// When tansu does not listen within 20 s (after three tries at a free port).
    pub fn start() -> Option<Tansu> {
        let binary = require_peer(Peer::Tansu)?;
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&binary) {
                Ok(tansu) => return Some(tansu),
                Err(e) => last = e,
            }
        }
        panic!("tansu did not start: {last}");
    }

    fn try_start(binary: &PathBuf) -> Result<Tansu, String> {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(binary);
        command.args(["broker", "--listener-url", &url, "--advertised-listener-url", &url]);
        command.args(["--storage-engine", "memory://tansu/"]);
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = ChildGuard(command.spawn().map_err(|e| format!("cannot run {}: {e}", binary.display()))?);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = child.exited() {
                return Err(format!("tansu exited with {status} (port {port} taken?)"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(Tansu { child, binary: binary.clone(), addr });
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!("tansu did not listen on {addr} within {START_TIMEOUT:?}"))
    }

    /// The broker's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bootstrap string, `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Creates a topic with `tansu topic create`.
    ///
    /// # Panics
    ///
    /// When the command fails or runs over 20 s.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let broker = format!("tcp://{}", self.addr);
        let mut command = Command::new(&self.binary);
        command.args(["topic", "create", "--broker", &broker, "--partitions", &partitions.to_string(), name]);
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = ChildGuard(command.spawn().unwrap_or_else(|e| panic!("cannot run tansu topic create: {e}")));
        let stderr = slurp(child.0.stderr.take().expect("piped stderr"));
        let status = child.wait_timeout(TOPIC_TIMEOUT);
        let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned();
        match status {
            Some(status) if status.success() => {}
            Some(status) => panic!("tansu topic create {name} failed with {status}: {stderr}"),
            None => panic!("tansu topic create {name} ran over {TOPIC_TIMEOUT:?}: {stderr}"),
        }
    }
}
