//! `actix-kafka perf produce` and `perf consume` end to end, against the embedded
//! cluster they start themselves (and, for consume, the `actix-kafka broker` binary):
//! each API produces every record, consume reads every record, the `--json` line has
//! the keys scripts read and its numbers agree with each other, the text summary names
//! what it measured, and bad arguments exit 2.

#![cfg(feature = "cli")]

mod broker_support;
mod support;

use broker_support::binary::BrokerProcess;

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_actix-kafka");
/// How long one small run may take (a debug build on two busy cores).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `actix-kafka perf produce ARGS`; panics when it takes longer than RUN_TIMEOUT.
fn perf(args: &[&str]) -> Output {
    perf_command("produce", args)
}

/// Runs `actix-kafka perf SUBCOMMAND ARGS`; panics when it takes longer than RUN_TIMEOUT.
fn perf_command(subcommand: &str, args: &[&str]) -> Output {
    let child = Command::new(BINARY)
        .args(["perf", subcommand])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BINARY}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(RUN_TIMEOUT) {
        Ok(output) => output.expect("the perf process's output"),
        Err(_) => {
            // Best effort: the process is stuck, the test fails either way.
            let _killed = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("perf {subcommand} {args:?} took more than {RUN_TIMEOUT:?}");
        }
    }
}

/// The value of `key` in a flat one-line JSON object: a number, or `None` for `null`.
fn number(json: &str, key: &str) -> Option<f64> {
    let pattern = format!("\"{key}\":");
    let at = json.find(&pattern).unwrap_or_else(|| panic!("no {key} in {json}")) + pattern.len();
    let text: String = json[at..].chars().take_while(|c| !matches!(c, ',' | '}')).collect();
    if text == "null" {
        return None;
    }
    Some(text.parse().unwrap_or_else(|e| panic!("{key}: {text:?}: {e}")))
}

fn json_run(api: &str, records: u64, extra: &[&str]) -> String {
    let records_arg = records.to_string();
    let mut args = vec!["--records", records_arg.as_str(), "--api", api, "--json", "--topic", "perf-test"];
    args.extend_from_slice(extra);
    let output = perf(&args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{api}: {:?}\nstdout: {stdout}\nstderr: {stderr}", output.status);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line on stdout: {stdout}");
    assert!(lines[0].starts_with('{') && lines[0].ends_with('}'), "{stdout}");
    lines[0].to_owned()
}

fn check_consistent(json: &str, records: u64, record_size: f64) {
    let n = records as f64;
    assert_eq!(number(json, "records"), Some(n), "{json}");
    assert_eq!(number(json, "ok"), Some(n), "{json}");
    assert_eq!(number(json, "failed"), Some(0.0), "{json}");
    let seconds = number(json, "seconds").expect("seconds");
    let rate = number(json, "records_per_sec").expect("records_per_sec");
    assert!(seconds > 0.0 && rate > 0.0, "{json}");
    assert!((rate * seconds - n).abs() <= n * 0.01 + 1.0, "records_per_sec × seconds = records: {json}");
    let mb = number(json, "mb_per_sec").expect("mb_per_sec");
    assert!((mb - rate * record_size / (1024.0 * 1024.0)).abs() < 1e-3 * mb.max(1.0), "{json}");
    let cpu = number(json, "cpu_seconds").expect("cpu_seconds on Linux");
    assert!(cpu >= 0.0, "{json}");
    assert!(number(json, "broker_cpu_seconds").is_some_and(|b| b >= 0.0), "the embedded broker's CPU: {json}");
    let rss = number(json, "peak_rss_bytes").expect("peak_rss_bytes on Linux");
    assert!(rss > 1e6 && rss < 64e9, "a peak RSS in bytes: {json}");
}

fn check_latency(json: &str) {
    let p50 = number(json, "p50_ms").expect("p50_ms");
    let p95 = number(json, "p95_ms").expect("p95_ms");
    let p99 = number(json, "p99_ms").expect("p99_ms");
    let max = number(json, "max_ms").expect("max_ms");
    assert!(0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "ordered percentiles: {json}");
    assert!(max < RUN_TIMEOUT.as_secs_f64() * 1e3, "{json}");
}

#[test]
fn batch_produces_every_record_and_reports_json() {
    let json = json_run("batch", 20_000, &["--batch-records", "3000"]);
    check_consistent(&json, 20_000, 100.0);
    check_latency(&json);
    assert!(json.contains("\"what\":\"produce:batch\""), "{json}");
}

#[test]
fn send_and_fire_time_every_record() {
    for api in ["send", "fire"] {
        let json = json_run(api, 5_000, &["--record-size", "32", "--window", "500", "--compression", "lz4"]);
        check_consistent(&json, 5_000, 32.0);
        check_latency(&json);
    }
}

#[test]
fn a_paced_run_takes_as_long_as_its_rate_says() {
    // 600 records at 2,000/s: at least 0.3 s, whatever the machine.
    let json = json_run("send", 600, &["--throughput", "2000", "--acks", "1"]);
    check_consistent(&json, 600, 100.0);
    assert!(number(&json, "seconds").expect("seconds") >= 0.29, "{json}");
}

#[test]
fn the_text_summary_names_rate_latency_and_cpu() {
    let output = perf(&["--records", "2000", "--partitions", "2", "--nodes", "1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("produce:batch: 2000 records (2000 ok, 0 failed) of 100 B in "), "{stdout}");
    for part in ["records/s", "MB/s", "latency ms: avg", "p99.9", "client cpu:", "µs per record"] {
        assert!(stdout.contains(part), "{part} in {stdout}");
    }
}

#[test]
fn bad_arguments_exit_2() {
    for args in [&["--api", "stream"][..], &["--records", "0"], &["--acks", "2"], &["--compression", "brotli"]] {
        let output = perf(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

/// The one JSON line of a successful `perf consume ARGS --json`.
fn consume_json(args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.push("--json");
    let output = perf_command("consume", &all);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "consume {args:?}: {:?}\nstdout: {stdout}\nstderr: {stderr}", output.status);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line on stdout: {stdout}");
    lines[0].to_owned()
}

/// The numbers of a consume run agree with each other; no latency (see `perf consume`).
fn check_consumed(json: &str, records: u64, record_size: f64) {
    let n = records as f64;
    assert_eq!((number(json, "records"), number(json, "ok"), number(json, "failed")), (Some(n), Some(n), Some(0.0)));
    assert_eq!(number(json, "record_size"), Some(record_size), "the mean size received: {json}");
    let seconds = number(json, "seconds").expect("seconds");
    let rate = number(json, "records_per_sec").expect("records_per_sec");
    assert!(seconds > 0.0 && (rate * seconds - n).abs() <= n * 0.01 + 1.0, "{json}");
    let mb = number(json, "mb_per_sec").expect("mb_per_sec");
    assert!((mb - rate * record_size / (1024.0 * 1024.0)).abs() < 1e-3 * mb.max(1.0), "{json}");
    assert!(number(json, "cpu_seconds").is_some_and(|cpu| cpu >= 0.0), "{json}");
    assert!(number(json, "cpu_us_per_record").is_some(), "{json}");
    for key in ["p50_ms", "p99_ms", "max_ms"] {
        assert_eq!(number(json, key), None, "{key}: latency is not measured when consuming: {json}");
    }
}

#[test]
fn consume_reads_every_record_it_filled_and_reports_json() {
    let json = consume_json(&["--records", "30000", "--record-size", "64", "--topic", "c"]);
    check_consumed(&json, 30_000, 64.0);
    assert!(json.contains("\"what\":\"consume\""), "{json}");
    assert!(number(&json, "broker_cpu_seconds").is_some_and(|b| b >= 0.0), "the embedded broker's CPU: {json}");
    let json =
        consume_json(&["--records", "5000", "--group", "perf", "--partitions", "3", "--delivery-records", "2000"]);
    check_consumed(&json, 5000, 100.0);
    assert!(json.contains("\"what\":\"consume:group\""), "{json}");
}

#[test]
fn consume_text_summary_says_latency_is_not_measured() {
    let output = perf_command("consume", &["--records", "2000", "--nodes", "1", "--partitions", "2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("consume: 2000 records (2000 ok, 0 failed) of 100 B in "), "{stdout}");
    for part in ["records/s", "MB/s", "latency: not measured", "client cpu:", "µs per record"] {
        assert!(stdout.contains(part), "{part} in {stdout}");
    }
}

#[test]
fn consume_from_brokers_fills_with_fill_and_fails_when_records_are_missing() {
    let mut broker = BrokerProcess::start(&["--listen", "127.0.0.1:0", "--nodes", "2"]);
    broker.control("create-topic filled 3");
    let target = ["--brokers", broker.bootstrap(), "--topic", "filled"];
    let json = consume_json(&[&target[..], &["--records", "3000", "--fill", "--record-size", "10"]].concat());
    check_consumed(&json, 3000, 10.0);
    assert_eq!(number(&json, "broker_cpu_seconds"), None, "no broker in this process: {json}");
    // The topic holds 3000: asking for one more ends at the idle timeout, exit 1.
    let output =
        perf_command("consume", &[&target[..], &["--records", "3001", "--idle-timeout-ms", "1000", "--json"]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!((number(&stdout, "records"), number(&stdout, "ok")), (Some(3001.0), Some(3000.0)), "{stdout}");
}

#[test]
fn consume_bad_arguments_exit_2() {
    for args in [&["--records", "0"][..], &["--idle-timeout-ms", "0"], &["--delivery-records", "0"], &["--acks", "1"]] {
        assert_eq!(perf_command("consume", args).status.code(), Some(2), "{args:?}");
    }
}
