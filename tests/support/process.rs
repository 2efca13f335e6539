//! Child processes that die with their handle, and bounded waits on them.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// A child process killed and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Whether the child has exited, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }

    /// Waits at most `timeout` for the child to exit; kills it after that.
    /// Returns the status, or `None` when it had to be killed.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        None
    }

    /// Kills and reaps the child (a no-op once it has exited).
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            // The child may exit between the check and the kill: that is fine.
            if let Err(e) = self.0.kill() {
                eprintln!("harness: kill {}: {e}", self.0.id());
            }
            if let Err(e) = self.0.wait() {
                eprintln!("harness: wait {}: {e}", self.0.id());
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Lines of `reader`, read on a thread so that the test can wait on them with a
/// timeout.
pub fn lines(reader: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// All of `reader`, read on a thread.
pub fn slurp(mut reader: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut out = Vec::new();
        if let Err(e) = reader.read_to_end(&mut out) {
            eprintln!("harness: reading a child's output: {e}");
        }
        out
    })
}
