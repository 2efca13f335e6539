//! The `actix-kafka produce` command against the `actix-kafka broker` binary: 100k
//! keyed lines all acknowledged and read back in order per key, the summary line,
//! failures counted in a non-zero exit, and memory that does not grow with the input.
//!
//! `ACTIX_KAFKA_SOAK=1` streams 1M lines through the memory check instead of 100k.

#![cfg(feature = "cli")]

mod broker_support;
mod producer_support;
mod support;

use std::io::{BufWriter, Write};
use std::net::TcpListener;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use broker_support::binary::{BrokerProcess, BINARY};
use broker_support::soak;
use producer_support::{parse_records, KCAT_FORMAT};
use support::kcat::kcat_ok;
use support::process::{slurp, ChildGuard};
use support::{require_peer, Librdkafka, Peer};

/// How long one `actix-kafka produce` run may take (a debug build, two busy cores).
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(180);
/// The produce process's peak resident memory must stay under this, whatever the
/// input size: the soak run streams 190 MiB through it (32 MiB of producer budget,
/// four batches of 1 MiB in flight; measured: 36 MiB).
const MAX_PEAK_KB: u64 = 100 * 1024;

/// How one `actix-kafka produce` run ended.
#[derive(Debug)]
struct ProduceRun {
    status: ExitStatus,
    stderr: String,
    /// The highest `VmHWM` seen in `/proc/PID/status` while it ran, in kB.
    peak_kb: u64,
    elapsed: Duration,
}

/// Runs `actix-kafka produce ARGS` with `write_input` writing its stdin (then closing
/// it), watching its peak memory; kills it after [`PRODUCE_TIMEOUT`].
fn run_produce(args: &[&str], write_input: impl FnOnce(&mut dyn Write) + Send + 'static) -> ProduceRun {
    let started = Instant::now();
    let mut command = Command::new(BINARY);
    command.arg("produce").args(args).env("RUST_LOG", "warn");
    command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = ChildGuard(command.spawn().unwrap_or_else(|e| panic!("cannot run {BINARY}: {e}")));
    let pid = child.0.id();
    let stdin = child.0.stdin.take().expect("piped stdin");
    let writer = thread::spawn(move || {
        let mut out = BufWriter::with_capacity(1 << 16, stdin);
        write_input(&mut out);
        // A command that gave up early closes its stdin: not this thread's failure.
        let _flushed: std::io::Result<()> = out.flush();
    });
    let stderr = slurp(child.0.stderr.take().expect("piped stderr"));
    let mut peak_kb = 0;
    let status = loop {
        if let Some(kb) = status_kb(pid, "VmHWM") {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.exited() {
            break status;
        }
        if started.elapsed() > PRODUCE_TIMEOUT {
            child.kill();
            let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned();
            panic!("actix-kafka produce {args:?} ran over {PRODUCE_TIMEOUT:?}; stderr:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    writer.join().expect("stdin writer");
    let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned();
    ProduceRun { status, stderr, peak_kb, elapsed: started.elapsed() }
}

/// A field of `/proc/PID/status` in kB.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A 3-node broker with a 6-partition `topic`.
fn broker_with(topic: &str) -> BrokerProcess {
    let mut broker = BrokerProcess::start(&["--listen", "127.0.0.1:0", "--nodes", "3"]);
    broker.control(&format!("create-topic {topic} 6"));
    broker
}

/// The line the command writes when it is done.
fn summary(stderr: &str) -> &str {
    stderr.lines().find(|l| l.starts_with("produce: ") && l.contains(" records ok, ")).unwrap_or_else(|| {
        panic!("no summary line on stderr:\n{stderr}");
    })
}

/// Line i of the keyed input: key `k{i % 100}`, value `{i}:` and padding.
fn keyed_line(i: usize) -> String {
    format!("k{}:{i}:{}\n", i % 100, "p".repeat(i % 50))
}

#[test]
fn produces_100k_keyed_lines_all_acknowledged_and_in_order_per_key() {
    if require_peer(Peer::Kcat).is_none() {
        return;
    }
    const LINES: usize = 100_000;
    let broker = broker_with("lines");
    let run = run_produce(&["--brokers", broker.bootstrap(), "--topic", "lines", "--key-delimiter", ":"], |out| {
        for i in 0..LINES {
            out.write_all(keyed_line(i).as_bytes()).expect("write a line");
        }
    });
    assert!(run.status.success(), "exit {}; stderr:\n{}", run.status, run.stderr);
    let line = summary(&run.stderr);
    assert!(line.starts_with(&format!("produce: {LINES} records ok, 0 failed in ")), "{line}");
    assert!(line.ends_with(" records/s)"), "{line}");
    eprintln!("{line} (whole run {:?}, peak RSS {} MiB)", run.elapsed, run.peak_kb / 1024);

    let output = kcat_ok(
        Librdkafka::System,
        &["-C", "-b", broker.bootstrap(), "-t", "lines", "-o", "beginning", "-e", "-q", "-f", KCAT_FORMAT],
        b"",
    );
    let mut stored = parse_records(&output.stdout);
    assert_eq!(stored.len(), LINES, "records stored");
    stored.sort_by_key(|s| (s.partition, s.offset));
    // Per key: every i with i % 100 == key, in increasing order, on one partition.
    let mut last: Vec<Option<(i32, usize)>> = vec![None; 100];
    for s in &stored {
        let key: usize =
            s.key.as_deref().and_then(|k| k.strip_prefix('k')).and_then(|k| k.parse().ok()).expect("a key");
        let i: usize = s.value.split(':').next().and_then(|i| i.parse().ok()).expect("an index");
        assert_eq!(i % 100, key, "{s:?}");
        assert_eq!(format!("k{key}:{}", s.value), keyed_line(i).trim_end(), "{s:?}");
        let expected = last[key].map_or(key, |(_, previous)| previous + 100);
        assert_eq!(i, expected, "key k{key}: after {:?} comes {i} at {}@{}", last[key], s.partition, s.offset);
        if let Some((partition, _)) = last[key] {
            assert_eq!(partition, s.partition, "key k{key} moved partitions");
        }
        last[key] = Some((s.partition, i));
    }
}

#[test]
fn a_partition_that_does_not_exist_fails_every_record() {
    let broker = broker_with("six");
    let run = run_produce(&["--brokers", broker.bootstrap(), "--topic", "six", "--partition", "99"], |out| {
        for i in 0..100 {
            writeln!(out, "value {i}").expect("write a line");
        }
    });
    assert_eq!(run.status.code(), Some(1), "stderr:\n{}", run.stderr);
    assert!(summary(&run.stderr).starts_with("produce: 0 records ok, 100 failed in "), "{}", run.stderr);
    assert!(run.stderr.contains("100 of 100 records failed"), "{}", run.stderr);
}

#[test]
fn no_broker_answering_fails_every_record_by_the_delivery_timeout() {
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let brokers = format!("127.0.0.1:{port}");
    let run = run_produce(&["--brokers", &brokers, "--topic", "t", "--delivery-timeout-ms", "2000"], |out| {
        for i in 0..20 {
            writeln!(out, "value {i}").expect("write a line");
        }
    });
    assert_eq!(run.status.code(), Some(1), "stderr:\n{}", run.stderr);
    assert!(run.stderr.contains("20 of 20 records failed"), "{}", run.stderr);
    assert!(run.elapsed < Duration::from_secs(30), "took {:?} with a 2 s delivery timeout", run.elapsed);
}

#[test]
fn bad_arguments_exit_2() {
    for args in [&["--topic", "t"][..], &["--brokers", "b:1", "--topic", "t", "--acks", "2"]] {
        let output = Command::new(BINARY).arg("produce").args(args).stdin(Stdio::null()).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn memory_does_not_grow_with_the_input() {
    let lines = soak(100_000, 1_000_000);
    let broker = broker_with("memory");
    let run = run_produce(&["--brokers", broker.bootstrap(), "--topic", "memory", "--acks", "1"], move |out| {
        let padding = "m".repeat(190);
        for i in 0..lines {
            // A broken pipe means the command exited early: its status tells why.
            if writeln!(out, "{i:09}{padding}").is_err() {
                return;
            }
        }
    });
    assert!(run.status.success(), "exit {}; stderr:\n{}", run.status, run.stderr);
    assert!(summary(&run.stderr).starts_with(&format!("produce: {lines} records ok, 0 failed")), "{}", run.stderr);
    let input_mib = lines * 200 / (1 << 20);
    eprintln!("{lines} lines ({input_mib} MiB): peak RSS {} MiB in {:?}", run.peak_kb / 1024, run.elapsed);
    assert!(run.peak_kb > 0, "VmHWM was never read");
    assert!(
        run.peak_kb < MAX_PEAK_KB,
        "peak RSS {} kB for {input_mib} MiB of input (bound {MAX_PEAK_KB} kB)",
        run.peak_kb
    );
}

#[test]
fn every_codec_and_acks_0_and_1() {
    if require_peer(Peer::Kcat).is_none() {
        return;
    }
    let mut broker = broker_with("codec-none");
    for (codec, acks) in [("none", "0"), ("gzip", "1"), ("snappy", "all"), ("lz4", "1"), ("zstd", "all")] {
        let topic = format!("codec-{codec}");
        if codec != "none" {
            broker.control(&format!("create-topic {topic} 6"));
        }
        let args = ["--brokers", broker.bootstrap(), "--topic", &topic, "--compression", codec, "--acks", acks];
        let run = run_produce(&args, |out| {
            for i in 0..1000 {
                writeln!(out, "{i}:{}", "z".repeat(i % 300)).expect("write a line");
            }
        });
        assert!(run.status.success(), "{codec} acks={acks}: exit {}; stderr:\n{}", run.status, run.stderr);
        assert!(summary(&run.stderr).starts_with("produce: 1000 records ok, 0 failed"), "{}", run.stderr);
        // With acks=0 nothing says when the broker has appended: read until it has.
        let mut stored = Vec::new();
        for _ in 0..50 {
            let output = kcat_ok(
                Librdkafka::System,
                &["-C", "-b", broker.bootstrap(), "-t", &topic, "-o", "beginning", "-e", "-q", "-f", KCAT_FORMAT],
                b"",
            );
            stored = parse_records(&output.stdout);
            if stored.len() >= 1000 || acks != "0" {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(stored.len(), 1000, "{codec} acks={acks}: records stored");
        let mut values: Vec<String> = stored.into_iter().map(|s| s.value).collect();
        values.sort_by_key(|v| v.split(':').next().and_then(|i| i.parse::<usize>().ok()));
        for (i, value) in values.iter().enumerate() {
            assert_eq!(value, &format!("{i}:{}", "z".repeat(i % 300)), "{codec} acks={acks}");
        }
    }
}
