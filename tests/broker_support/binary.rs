//! The `actix-kafka broker` binary as a child process: its BOOTSTRAP line, its
//! control commands on stdin, signals, and its stderr kept for failure messages.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::support::process::{lines, ChildGuard};

/// The binary cargo built for this test run (needs the `cli` feature).
pub const BINARY: &str = env!("CARGO_BIN_EXE_actix-kafka");

/// How long the broker may take to print its BOOTSTRAP line or answer a command.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `actix-kafka broker`, killed (SIGKILL) on drop. When the test is
/// panicking, the drop prints the broker's stderr.
#[derive(Debug)]
pub struct BrokerProcess {
    child: ChildGuard,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    bootstrap: String,
}

impl BrokerProcess {
    /// Starts `actix-kafka broker --control-stdin ARGS` and waits for its BOOTSTRAP
    /// line. Add `--listen 127.0.0.1:0` unless the test needs fixed ports.
    ///
    /// # Panics
    ///
    /// When the first stdout line is not `BOOTSTRAP=...` within [`ANSWER_TIMEOUT`].
    pub fn start(args: &[&str]) -> BrokerProcess {
        let mut broker = BrokerProcess::spawn(args);
        let first = broker.next_line();
        match first.as_deref().and_then(|l| l.strip_prefix("BOOTSTRAP=")) {
            Some(bootstrap) => broker.bootstrap = bootstrap.to_string(),
            None => panic!("first stdout line {first:?} is not BOOTSTRAP=...; stderr:\n{}", broker.stderr()),
        }
        broker
    }

    /// Spawns `actix-kafka broker --control-stdin ARGS` without waiting for anything.
    pub fn spawn(args: &[&str]) -> BrokerProcess {
        let mut command = Command::new(BINARY);
        command.arg("broker").arg("--control-stdin").args(args);
        command.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = ChildGuard(command.spawn().unwrap_or_else(|e| panic!("cannot run {BINARY}: {e}")));
        let stdin = child.0.stdin.take();
        let stdout = lines(child.0.stdout.take().expect("piped stdout"));
        // Drained all along: a full stderr pipe would block the broker's logging.
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        let pipe = child.0.stderr.take().expect("piped stderr");
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().expect("stderr lines").push(line);
            }
        });
        BrokerProcess { child, stdin, stdout, stderr, bootstrap: String::new() }
    }

    /// The bootstrap string, `127.0.0.1:PORT,...`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The next stdout line, if one comes within [`ANSWER_TIMEOUT`].
    pub fn next_line(&mut self) -> Option<String> {
        self.stdout.recv_timeout(ANSWER_TIMEOUT).ok()
    }

    /// Sends one control command and returns the broker's whole answer line.
    ///
    /// # Panics
    ///
    /// When stdin is closed or no answer comes within [`ANSWER_TIMEOUT`].
    pub fn control_raw(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        writeln!(stdin, "{command}").and_then(|()| stdin.flush()).unwrap_or_else(|e| panic!("broker stdin: {e}"));
        self.next_line()
            .unwrap_or_else(|| panic!("no answer to {command:?} within {ANSWER_TIMEOUT:?}; stderr:\n{}", self.stderr()))
    }

    /// Sends one control command and asserts that the answer is `ok <command>`.
    pub fn control(&mut self, command: &str) {
        let answer = self.control_raw(command);
        assert_eq!(answer, format!("ok {command}"), "answer to {command:?}");
    }

    /// Closes the broker's stdin (EOF on its control commands).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL` ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args(["-s", signal, &self.pid().to_string()]).status().expect("run kill(1)");
        assert!(status.success(), "kill -s {signal} {}", self.pid());
    }

    /// SIGKILL now, and reap.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// Whether the process has exited, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.exited()
    }

    /// Waits at most `timeout` for the process to exit; SIGKILLs it after that and
    /// returns `None`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.child.wait_timeout(timeout)
    }

    /// Everything the broker has written on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lines").join("\n")
    }

    /// A field of `/proc/PID/status` in kB (`VmHWM`, `VmRSS` ...).
    pub fn status_kb(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:")))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if thread::panicking() {
            let stderr = self.stderr();
            let tail: Vec<&str> = stderr.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!("--- actix-kafka broker stderr (last {} lines) ---\n{}", tail.len(), tail.join("\n"));
        }
    }
}
