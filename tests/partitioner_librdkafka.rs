//! Our murmur2 partitioner against librdkafka's: the same partition for every key.
//!
//! librdkafka's `rd_kafka_msg_partitioner_murmur2_random` is the Java-compatible
//! partitioner of every librdkafka-based client (confluent-kafka-python, -go, -dotnet),
//! so agreeing with it keeps keys co-partitioned with those producers. Its answers come
//! from the real library, loaded with ctypes by `tests/peers/librdkafka_partition.py`:
//! both Debian's 2.0.2 and the 2.16 from the confluent-kafka wheel.

mod support;

use std::io::{BufWriter, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use actix_kafka::producer::partitioner::{murmur2_partition, Partitioner};
use support::process::{lines, ChildGuard};
use support::{require_peer, Librdkafka, Peer};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/librdkafka_partition.py");
const KEYS: usize = 10_000;
const PARTITION_COUNTS: [i32; 5] = [1, 3, 6, 12, 100];
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// `KEYS` deterministic keys of lengths 0..64: `key-{i}` followed by bytes from a
/// fixed-seed xorshift, cut to a random length (so short keys are cut-off prefixes, and
/// long ones carry arbitrary non-ASCII bytes).
fn keys() -> Vec<Vec<u8>> {
    let mut state: u64 = 0x00c0_ffee_d15e_a5e5;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..KEYS)
        .map(|i| {
            let len = (next() % 64) as usize;
            let mut key = format!("key-{i}").into_bytes();
            while key.len() < len {
                key.extend_from_slice(&next().to_le_bytes());
            }
            key.truncate(len);
            key
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// librdkafka's partition of each key for each of `PARTITION_COUNTS`, and the version
/// the script reports for the library it loaded.
fn librdkafka_partitions(lib: Librdkafka, keys: &[Vec<u8>]) -> Option<(String, Vec<Vec<i32>>)> {
    require_peer(Peer::Python)?;
    let so = require_peer(Peer::Librdkafka(lib))?;
    let mut command = Command::new("python3");
    command.arg(SCRIPT).arg("--lib").arg(lib.shared_object());
    command.args(PARTITION_COUNTS.iter().map(i32::to_string));
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = ChildGuard(command.spawn().unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}")));
    let answers = lines(child.0.stdout.take().expect("piped stdout"));
    // Written on a thread: the script answers as it reads, and neither pipe may fill up
    // while the other side waits.
    let stdin = child.0.stdin.take().expect("piped stdin");
    let input: Vec<String> = keys.iter().map(|key| hex(key)).collect();
    let writer = thread::spawn(move || {
        let mut stdin = BufWriter::new(stdin);
        for line in input {
            writeln!(stdin, "{line}").expect("writing a key to the script");
        }
        // Dropping stdin closes it: the script exits at EOF.
    });
    let recv = |what: &str| {
        answers
            .recv_timeout(ANSWER_TIMEOUT)
            .unwrap_or_else(|e| panic!("{}: no answer for {what} from {}: {e}", lib.label(), so.display()))
    };
    let version = recv("the version");
    let partitions = (0..keys.len())
        .map(|i| {
            let line = recv(&format!("key {i}"));
            line.split(' ').map(|p| p.parse().unwrap_or_else(|e| panic!("bad answer {line:?}: {e}"))).collect()
        })
        .collect();
    writer.join().expect("the writer thread");
    let status = child.wait_timeout(ANSWER_TIMEOUT).expect("the script exits at EOF");
    assert!(status.success(), "{SCRIPT} failed: {status}");
    Some((version, partitions))
}

fn check(lib: Librdkafka, expected_version: &str) {
    let keys = keys();
    let Some((version, theirs)) = librdkafka_partitions(lib, &keys) else { return };
    assert!(version.starts_with(expected_version), "{} loaded {version:?}", lib.label());
    let mut topic = Partitioner::Murmur2.for_topic(16 * 1024);
    let mut compared = 0;
    for (key, theirs) in keys.iter().zip(&theirs) {
        assert_eq!(theirs.len(), PARTITION_COUNTS.len(), "{version}: answer for {key:02x?}");
        for (&partitions, &their) in PARTITION_COUNTS.iter().zip(theirs) {
            let ours = murmur2_partition(key, partitions);
            assert_eq!(ours, their, "{version}: key {key:02x?}, {partitions} partitions");
            assert_eq!(topic.partition("t", Some(key), key.len(), partitions), Ok(ours));
            compared += 1;
        }
    }
    assert_eq!(compared, KEYS * PARTITION_COUNTS.len());
    eprintln!(
        "{version}: {} keys x {} partition counts agree ({compared} partitions)",
        keys.len(),
        PARTITION_COUNTS.len()
    );
}

#[test]
fn the_keys_cover_every_length_and_non_ascii_bytes() {
    let keys = keys();
    for len in 0..64 {
        assert!(keys.iter().any(|key| key.len() == len), "no key of length {len}");
    }
    assert!(keys.iter().any(|key| key.iter().any(|&b| b >= 0x80)));
    assert!(keys.iter().any(|key| key.starts_with(b"key-")));
}

#[test]
fn murmur2_partition_matches_librdkafka_2_0_2() {
    check(Librdkafka::System, "librdkafka 2.0.");
}

#[test]
fn murmur2_partition_matches_librdkafka_2_16() {
    check(Librdkafka::V2_16, "librdkafka 2.16");
}
