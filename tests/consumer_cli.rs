//! The `actix-kafka consume` command against the `actix-kafka broker` binary, as a
//! script would use it: what it prints (the default format, every token), when it
//! stops and with which exit code (`--count`, `--timeout-ms`, a closed stdout, SIGTERM,
//! bad arguments), where it starts (`--from-beginning` or the log end), what a group
//! commits (exactly what was printed), `--partition`, and records written by kcat in
//! every codec read back equal to what kcat itself reads.

#![cfg(feature = "cli")]

mod broker_support;
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use broker_support::binary::{BrokerProcess, BINARY};
use support::kcat::kcat_ok;
use support::process::{lines, slurp, ChildGuard};
use support::{require_peer, Librdkafka, Peer};

/// How long one `actix-kafka consume` or `produce` run may take (a debug build on two
/// busy cores; a run normally takes well under a second).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// How one process run ended.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn stdout_lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.stdout).lines().map(str::to_owned).collect()
    }
}

/// Runs `actix-kafka ARGS` with `stdin` on its standard input; kills it and panics
/// after [`RUN_TIMEOUT`].
fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut command = Command::new(BINARY);
    command.args(args).env("RUST_LOG", "warn");
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = ChildGuard(command.spawn().unwrap_or_else(|e| panic!("cannot run {BINARY}: {e}")));
    let mut pipe = child.0.stdin.take().expect("piped stdin");
    let input = stdin.to_vec();
    // A command that does not read its stdin (consume) may exit first: not a failure.
    let writer = thread::spawn(move || pipe.write_all(&input));
    let stdout = slurp(child.0.stdout.take().expect("piped stdout"));
    let stderr = slurp(child.0.stderr.take().expect("piped stderr"));
    let status = child.wait_timeout(RUN_TIMEOUT);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned();
    let _written: std::io::Result<()> = writer.join().expect("stdin writer");
    let Some(status) = status else { panic!("actix-kafka {args:?} ran over {RUN_TIMEOUT:?}; stderr:\n{stderr}") };
    Run { status, stdout, stderr }
}

/// `actix-kafka consume --brokers B --topic T ARGS`.
fn consume(broker: &BrokerProcess, topic: &str, args: &[&str]) -> Run {
    let mut all = vec!["consume", "--brokers", broker.bootstrap(), "--topic", topic];
    all.extend_from_slice(args);
    run(&all, b"")
}

/// Like [`consume`], and asserts exit code 0.
fn consume_ok(broker: &BrokerProcess, topic: &str, args: &[&str]) -> Run {
    let run = consume(broker, topic, args);
    assert!(run.status.success(), "consume {args:?}: {}; stderr:\n{}", run.status, run.stderr);
    run
}

/// Produces `lines` (one record each) with `actix-kafka produce ARGS`.
fn produce(broker: &BrokerProcess, topic: &str, args: &[&str], lines: &[String]) {
    let mut all = vec!["produce", "--brokers", broker.bootstrap(), "--topic", topic];
    all.extend_from_slice(args);
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let run = run(&all, input.as_bytes());
    assert!(run.status.success(), "produce {args:?}: {}; stderr:\n{}", run.status, run.stderr);
}

/// A 1-node broker with `topics` (name, partitions).
fn broker_with(topics: &[(&str, i32)]) -> BrokerProcess {
    let mut broker = BrokerProcess::start(&["--listen", "127.0.0.1:0"]);
    for (topic, partitions) in topics {
        broker.control(&format!("create-topic {topic} {partitions}"));
    }
    broker
}

/// Produces `per_partition` records into each of `partitions`, valued `{p}:{i}`.
fn fill_partitions(broker: &BrokerProcess, topic: &str, partitions: i32, per_partition: usize) {
    for p in 0..partitions {
        let values: Vec<String> = (0..per_partition).map(|i| format!("{p}:{i}")).collect();
        produce(broker, topic, &["--partition", &p.to_string()], &values);
    }
}

/// `(partition, offset)` of each line printed with `--format '%p %o\n'`.
fn positions(run: &Run) -> Vec<(i32, i64)> {
    run.stdout_lines()
        .iter()
        .map(|line| {
            let (p, o) = line.split_once(' ').unwrap_or_else(|| panic!("not '%p %o': {line:?}"));
            (p.parse().expect("a partition"), o.parse().expect("an offset"))
        })
        .collect()
}

/// Each partition's offsets, in the order printed.
fn by_partition(positions: &[(i32, i64)]) -> BTreeMap<i32, Vec<i64>> {
    let mut map: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, o) in positions {
        map.entry(*p).or_default().push(*o);
    }
    map
}

#[test]
fn the_default_format_prints_each_value_on_its_own_line() {
    let broker = broker_with(&[("values", 3)]);
    let values: Vec<String> = (0..300).map(|i| format!("value {i} with spaces\tand a tab")).collect();
    produce(&broker, "values", &[], &values);
    let run = consume_ok(&broker, "values", &["--from-beginning", "--count", "300"]);
    let mut printed = run.stdout_lines();
    assert_eq!(printed.len(), 300, "{}", run.stderr);
    printed.sort();
    let mut expected = values.clone();
    expected.sort();
    assert_eq!(printed, expected);
    let summary = run.stderr.lines().find(|l| l.starts_with("consume: ")).expect("a summary line");
    assert!(summary.starts_with("consume: 300 records in ") && summary.ends_with(" records/s)"), "{summary}");
}

#[test]
fn format_tokens_print_exact_lines() {
    let broker = broker_with(&[("fmt", 2)]);
    let lines: Vec<String> = (0..40).map(|i| format!("k{i}:v{i}")).collect();
    produce(&broker, "fmt", &["--partition", "1", "--key-delimiter", ":"], &lines);
    let before = now_ms();
    let run = consume_ok(
        &broker,
        "fmt",
        &["--partition", "1", "--from-beginning", "--count", "40", "--format", "%t %p %o %k %v|%T\\n"],
    );
    let after = now_ms();
    let printed = run.stdout_lines();
    assert_eq!(printed.len(), 40);
    for (i, line) in printed.iter().enumerate() {
        let (fixed, timestamp) = line.rsplit_once('|').expect("the timestamp after |");
        assert_eq!(fixed, format!("fmt 1 {i} k{i} v{i}"));
        // Produced (CreateTime) within this test, before the consume run ended.
        let timestamp: i64 = timestamp.parse().expect("a timestamp");
        assert!(timestamp > before - 120_000 && timestamp <= after, "{timestamp} not near {before}..{after}");
    }
    // `%%` and the escapes: a literal percent sign, a tab, no key for keyless records.
    produce(&broker, "fmt", &["--partition", "0"], &["plain".to_owned()]);
    let run =
        consume_ok(&broker, "fmt", &["--partition", "0", "--from-beginning", "-c", "1", "-f", "100%%\\t[%k]%v\\n"]);
    assert_eq!(run.stdout, b"100%\t[]plain\n");
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    i64::try_from(since.as_millis()).expect("a sane clock")
}

#[test]
fn count_stops_after_exactly_n_records() {
    let broker = broker_with(&[("count", 3)]);
    fill_partitions(&broker, "count", 3, 200);
    for n in [1usize, 7, 450] {
        let run = consume_ok(&broker, "count", &["--from-beginning", "--count", &n.to_string(), "-f", "%p %o\\n"]);
        let printed = positions(&run);
        assert_eq!(printed.len(), n, "--count {n}");
        // Whatever partitions they came from, each is read from its start, in order.
        for (p, offsets) in by_partition(&printed) {
            assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>(), "partition {p}");
        }
    }
}

#[test]
fn a_group_run_with_count_commits_exactly_what_it_printed() {
    const PER_PARTITION: usize = 100;
    let broker = broker_with(&[("shared", 3)]);
    fill_partitions(&broker, "shared", 3, PER_PARTITION);
    let group_run =
        || positions(&consume_ok(&broker, "shared", &["-G", "g1", "--from-beginning", "-c", "70", "-f", "%p %o\\n"]));
    let runs = [group_run(), group_run(), group_run()];
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(run.len(), 70, "run {i}");
    }
    // Per partition, each run starts right where the previous run's printing ended
    // (the committed offset): the runs' offsets, one after the other, are 0, 1, 2...
    // with no gap and no repeat. 210 of the 300 records were read in all.
    let mut next = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for (p, offsets) in by_partition(run) {
            let start = *next.get(&p).unwrap_or(&0);
            let expected: Vec<i64> = (start..start + offsets.len() as i64).collect();
            assert_eq!(offsets, expected, "run {i}, partition {p}: starts at the commit of the runs before");
            next.insert(p, start + offsets.len() as i64);
        }
    }
    assert_eq!(next.values().sum::<i64>(), 210);
    // The rest: exactly the 90 records no run printed, then nothing more.
    let rest = consume(&broker, "shared", &["-G", "g1", "-c", "91", "--timeout-ms", "3000", "-f", "%p %o\\n"]);
    assert_eq!(rest.status.code(), Some(1), "91 of 90 records: the timeout is a failure; {}", rest.stderr);
    let rest = by_partition(&positions(&rest));
    for p in 0..3 {
        let start = *next.get(&p).unwrap_or(&0);
        let expected: Vec<i64> = (start..PER_PARTITION as i64).collect();
        assert_eq!(rest.get(&p).cloned().unwrap_or_default(), expected, "the rest of partition {p}");
    }
}

#[test]
fn partition_reads_only_that_partition() {
    let broker = broker_with(&[("parts", 3)]);
    fill_partitions(&broker, "parts", 3, 50);
    let run = consume_ok(&broker, "parts", &["--partition", "1", "--from-beginning", "--timeout-ms", "3000"]);
    let expected: Vec<String> = (0..50).map(|i| format!("1:{i}")).collect();
    assert_eq!(run.stdout_lines(), expected, "partition 1, whole and in order, nothing else");
}

#[test]
fn without_from_beginning_only_records_produced_after_the_start_are_read() {
    let broker = broker_with(&[("late", 2)]);
    let old: Vec<String> = (0..50).map(|i| format!("old-{i}")).collect();
    produce(&broker, "late", &[], &old);
    let args = ["consume", "--brokers", broker.bootstrap(), "--topic", "late", "-c", "5", "--timeout-ms", "50000"];
    let mut command = Command::new(BINARY);
    command.args(args).env("RUST_LOG", "warn").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = ChildGuard(command.spawn().expect("run consume"));
    let stdout = slurp(child.0.stdout.take().expect("piped stdout"));
    let stderr = slurp(child.0.stderr.take().expect("piped stderr"));
    // The consumer starts at the log end at some moment we cannot see: produce a few
    // new records at a time until it has read 5 of them.
    let started = Instant::now();
    let mut round = 0;
    let status = loop {
        if let Some(status) = child.exited() {
            break status;
        }
        assert!(started.elapsed() < RUN_TIMEOUT, "consume did not get 5 new records in {round} rounds");
        let new: Vec<String> = (0..3).map(|i| format!("new-{round}-{i}")).collect();
        produce(&broker, "late", &[], &new);
        round += 1;
    };
    let printed = String::from_utf8(stdout.join().expect("stdout")).expect("utf-8");
    let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
    assert!(status.success(), "{status}: {stderr}");
    let printed: Vec<&str> = printed.lines().collect();
    assert_eq!(printed.len(), 5, "{printed:?}");
    assert!(printed.iter().all(|v| v.starts_with("new-")), "only records produced after the start: {printed:?}");
}

#[test]
fn timeout_exits_0_without_count_and_1_with_an_unmet_count() {
    let broker = broker_with(&[("few", 1)]);
    produce(&broker, "few", &[], &["a".to_owned(), "b".to_owned()]);
    let run = consume_ok(&broker, "few", &["--from-beginning", "--timeout-ms", "1500"]);
    assert_eq!(run.stdout, b"a\nb\n");
    let run = consume(&broker, "few", &["--from-beginning", "--count", "3", "--timeout-ms", "1500"]);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert_eq!(run.stdout, b"a\nb\n", "what arrived is printed all the same");
    assert!(run.stderr.contains("timed out after 2 of 3 records"), "{}", run.stderr);
}

#[test]
fn bad_arguments_exit_2() {
    let bad: [&[&str]; 5] = [
        &["--format", "%x"],
        &["--format", "%v\\"],
        &["--count", "0"],
        &["--partition", "-1"],
        &["--partition", "0", "--group", "g"],
    ];
    for args in bad {
        let mut all = vec!["consume", "--brokers", "127.0.0.1:1", "--topic", "t"];
        all.extend_from_slice(args);
        let run = run(&all, b"");
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_closed_stdout_ends_the_command_with_0() {
    let broker = broker_with(&[("big", 2)]);
    // Far more than a pipe holds, so the command writes into the closed pipe.
    let values: Vec<String> = (0..20_000).map(|i| format!("{i:08}-{}", "x".repeat(90))).collect();
    produce(&broker, "big", &[], &values);
    let script = format!(
        "set -o pipefail; {BINARY} consume --brokers {} --topic big --from-beginning | head -n 5",
        broker.bootstrap()
    );
    let mut command = Command::new("bash");
    command.args(["-c", &script]).env("RUST_LOG", "warn");
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = ChildGuard(command.spawn().expect("run bash"));
    let stdout = slurp(child.0.stdout.take().expect("piped stdout"));
    let stderr = slurp(child.0.stderr.take().expect("piped stderr"));
    let status = child.wait_timeout(RUN_TIMEOUT);
    let stdout = String::from_utf8_lossy(&stdout.join().expect("stdout")).into_owned();
    let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
    let status = status.unwrap_or_else(|| panic!("consume | head -n 5 hung; stderr:\n{stderr}"));
    assert!(status.success(), "consume's exit status through pipefail: {status}; stderr:\n{stderr}");
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
}

#[test]
fn sigterm_commits_what_a_group_consumer_printed_and_exits_0() {
    let broker = broker_with(&[("term", 3)]);
    fill_partitions(&broker, "term", 3, 40);
    let mut command = Command::new(BINARY);
    command.args(["consume", "--brokers", broker.bootstrap(), "--topic", "term", "-G", "g", "--from-beginning"]);
    command.env("RUST_LOG", "warn").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = ChildGuard(command.spawn().expect("run consume"));
    let printed = lines(child.0.stdout.take().expect("piped stdout"));
    let stderr = slurp(child.0.stderr.take().expect("piped stderr"));
    let mut seen = Vec::new();
    while seen.len() < 120 {
        match printed.recv_timeout(RUN_TIMEOUT) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("{e} after {} lines", seen.len()),
        }
    }
    let status = Command::new("kill").args(["-s", "TERM", &child.0.id().to_string()]).status().expect("kill(1)");
    assert!(status.success());
    let status = child.wait_timeout(RUN_TIMEOUT);
    let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "after SIGTERM; stderr:\n{stderr}");
    seen.sort();
    let mut expected: Vec<String> = (0..3).flat_map(|p| (0..40).map(move |i| format!("{p}:{i}"))).collect();
    expected.sort();
    assert_eq!(seen, expected);
    // Everything printed was committed: the group's next run reads only newer records.
    let newer: Vec<String> = (0..10).map(|i| format!("newer-{i}")).collect();
    produce(&broker, "term", &["--partition", "2"], &newer);
    let run = consume_ok(&broker, "term", &["-G", "g", "--from-beginning", "-c", "10"]);
    assert_eq!(run.stdout_lines(), newer);
}

#[test]
fn records_kcat_wrote_in_every_codec_read_back_as_kcat_reads_them() {
    if require_peer(Peer::Kcat).is_none() {
        return;
    }
    const FORMAT: &str = "%p|%o|%k|%s\n";
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    let topics: Vec<(String, i32)> = codecs.iter().map(|c| (format!("codec-{c}"), 3)).collect();
    let topics: Vec<(&str, i32)> = topics.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    let broker = broker_with(&topics);
    let input: String = (0..1000).map(|i| format!("key-{}\tvalue {i} {}\n", i % 13, "z".repeat(i % 61))).collect();
    for codec in codecs {
        let topic = format!("codec-{codec}");
        kcat_ok(
            Librdkafka::System,
            &["-P", "-b", broker.bootstrap(), "-t", &topic, "-z", codec, "-K", "\t", "-X", "linger.ms=20"],
            input.as_bytes(),
        );
        let theirs = kcat_ok(
            Librdkafka::System,
            &["-C", "-b", broker.bootstrap(), "-t", &topic, "-o", "beginning", "-e", "-q", "-f", FORMAT],
            b"",
        );
        let ours = consume_ok(&broker, &topic, &["--from-beginning", "-c", "1000", "-f", "%p|%o|%k|%v\\n"]);
        let sorted = |bytes: &[u8]| {
            let mut lines: Vec<String> = String::from_utf8_lossy(bytes).lines().map(str::to_owned).collect();
            lines.sort();
            lines
        };
        let theirs = sorted(&theirs.stdout);
        assert_eq!(theirs.len(), 1000, "{codec}: kcat read them all");
        assert_eq!(sorted(&ours.stdout), theirs, "{codec}");
    }
}

/// A subscriber that refuses every delivery, counting them.
struct Refuser(tokio::sync::watch::Sender<usize>);

impl actix::Actor for Refuser {
    type Context = actix::Context<Self>;
}

impl actix::Handler<actix_kafka::consumer::Records> for Refuser {
    type Result = Result<(), actix_kafka::consumer::HandlerError>;

    fn handle(&mut self, _: actix_kafka::consumer::Records, _: &mut Self::Context) -> Self::Result {
        self.0.send_modify(|n| *n += 1);
        Err(actix_kafka::consumer::HandlerError::msg("refused"))
    }
}

/// Regression (found by this file: every `consume --group --count` exit took 30 s): a
/// delivery answered `Err` used to stay "in flight" while it waited for its
/// redelivery, also once `Close` was draining, so `Close` waited out the whole
/// `drain_timeout` (30 s by default). A drain counts an `Err` answer as the
/// delivery's end (the records stay unacknowledged) and redelivers nothing more.
#[actix_rt::test]
async fn close_does_not_wait_out_the_drain_timeout_after_a_refused_delivery() {
    use actix::Actor;
    use actix_kafka::consumer::{Close, Consumer, Subscribe};
    let cluster = broker_support::start_cluster(1, &[("refused", 1)]).await;
    let producer = actix_kafka::producer::Producer::builder().bootstrap(&cluster.bootstrap()).build().unwrap().start();
    let record = actix_kafka::producer::ProducerRecord::new(bytes::Bytes::from_static(b"one"));
    producer.send(actix_kafka::producer::Produce::to("refused").record(record)).await.unwrap().unwrap();
    let consumer = Consumer::builder()
        .bootstrap(&cluster.bootstrap())
        .group_id("refusing")
        .offset_reset(actix_kafka::consumer::OffsetReset::Earliest)
        .build()
        .unwrap()
        .start();
    let (count, mut deliveries) = tokio::sync::watch::channel(0);
    let refuser = Refuser(count).start();
    consumer.send(Subscribe::topics(["refused"]).to(refuser.recipient())).await.unwrap().unwrap();
    deliveries.wait_for(|n| *n >= 1).await.unwrap();
    let started = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(60), consumer.send(Close)).await;
    assert!(matches!(closed, Ok(Ok(Ok(())))), "{closed:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "Close took {:?}", started.elapsed());
}
