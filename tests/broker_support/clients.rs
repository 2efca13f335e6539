//! Third-party clients against a broker: kcat (either librdkafka) and our python
//! scripts around kafka-python and confluent-kafka. All blocking, all bounded.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::records::{as_lines, parse, KafkaRecord};
use crate::support::kcat::kcat_ok;
use crate::support::process::{slurp, ChildGuard};
use crate::support::{require_peer, Librdkafka, Peer};

/// kcat's output format for consumed records, what [`parse`] reads.
pub const KCAT_FORMAT: &str = "%p\t%o\t%k\t%s\n";

/// How long one python client run may take.
pub const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

/// Produces `records` to `topic` with kcat (`-z codec`, keys split at the tab) plus
/// `extra` arguments; waits for every delivery report. Returns kcat's stderr.
///
/// # Panics
///
/// When kcat fails or runs over its timeout.
pub fn kcat_produce(
    lib: Librdkafka,
    bootstrap: &str,
    topic: &str,
    codec: &str,
    records: &[(String, String)],
    extra: &[&str],
) -> String {
    let mut args = vec!["-P", "-b", bootstrap, "-t", topic, "-z", codec, "-K", "\t", "-X", "message.timeout.ms=30000"];
    args.extend_from_slice(extra);
    String::from_utf8_lossy(&kcat_ok(lib, &args, &as_lines(records)).stderr).into_owned()
}

/// Reads `topic` from the beginning to the end of every partition with kcat.
///
/// # Panics
///
/// When kcat fails or runs over its timeout.
pub fn kcat_consume_all(lib: Librdkafka, bootstrap: &str, topic: &str) -> Vec<KafkaRecord> {
    let output =
        kcat_ok(lib, &["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", KCAT_FORMAT], b"");
    parse(&output.stdout)
}

/// Runs `tests/peers/SCRIPT` with Debian's `/usr/bin/python3`: it produces `records`
/// (read from its stdin) to `topic`, then consumes them in group `group` and prints
/// what it consumed in [`KCAT_FORMAT`]. `None` when python3 is missing outside CI.
///
/// # Panics
///
/// When the script fails or runs over [`PYTHON_TIMEOUT`].
pub fn python_roundtrip(
    script: &str,
    bootstrap: &str,
    topic: &str,
    group: &str,
    records: &[(String, String)],
) -> Option<Vec<KafkaRecord>> {
    require_peer(Peer::Python)?;
    let path = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = ChildGuard(
        Command::new("/usr/bin/python3")
            .args([&path, "--bootstrap", bootstrap, "--topic", topic, "--group", group])
            .args(["--count", &records.len().to_string(), "--timeout", "45"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {path}: {e}")),
    );
    let input = as_lines(records);
    let mut stdin = child.0.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let stdout = slurp(child.0.stdout.take().expect("piped stdout"));
    let stderr = slurp(child.0.stderr.take().expect("piped stderr"));
    let status = child.wait_timeout(PYTHON_TIMEOUT);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned();
    let written: std::io::Result<()> = writer.join().expect("stdin writer");
    let status = status.unwrap_or_else(|| panic!("{script} ran over {PYTHON_TIMEOUT:?}; stderr:\n{stderr}"));
    assert!(status.success(), "{script} failed with {status}; stderr:\n{stderr}");
    written.unwrap_or_else(|e| panic!("writing {script}'s stdin: {e}"));
    Some(parse(&stdout))
}
