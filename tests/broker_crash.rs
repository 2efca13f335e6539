//! Crash recovery: the `actix-kafka broker` binary with `--data-dir` is killed with
//! SIGKILL while our producer (acks=all, three partitions, one batch in flight per
//! partition) is writing; restarted on the same directory it still has every
//! acknowledged record at its acknowledged offset, and appends after them. Three
//! cycles on one directory, each under another `--fsync` policy.

#![cfg(feature = "cli")]

mod broker_support;
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker_support::binary::BrokerProcess;
use broker_support::ours::{connect, describe, produce, read_partition};
use bytes::Bytes;

const TOPIC: &str = "crash";
const PARTITIONS: i32 = 3;
const BATCH: usize = 50;
/// Acknowledged batches before the kill (over all partitions).
const ACKED_BEFORE_KILL: usize = 150;
/// Kill-and-restart cycles on the same data directory: 3 (30 with
/// `ACTIX_KAFKA_SOAK=1`).
fn cycles() -> usize {
    broker_support::soak(3, 30)
}

/// One acknowledged batch.
#[derive(Debug, Clone)]
struct Acked {
    partition: i32,
    base_offset: i64,
    records: Vec<(Bytes, Bytes)>,
}

fn batch(partition: i32, n: usize) -> Vec<(Bytes, Bytes)> {
    (0..BATCH)
        .map(|i| {
            let key = format!("p{partition}-b{n}-r{i}");
            let value = format!("{key}-{}", "v".repeat((n * 7 + i) % 90));
            (Bytes::from(key), Bytes::from(value))
        })
        .collect()
}

/// The broker on `dir`, each cycle with another fsync policy: a SIGKILL loses no
/// acknowledged write whatever the policy (the page cache outlives the process).
fn start(dir: &str, cycle: usize) -> BrokerProcess {
    let fsync = ["interval", "always", "never"][cycle % 3];
    BrokerProcess::start(&["--listen", "127.0.0.1:0", "--nodes", "1", "--data-dir", dir, "--fsync", fsync])
}

/// Produces on every partition (one batch in flight each) until
/// [`ACKED_BEFORE_KILL`] batches are acknowledged, SIGKILLs the broker, and returns
/// the acknowledged batches.
async fn produce_until_killed(broker: &mut BrokerProcess, cycle: usize) -> Vec<Acked> {
    let conn = connect(broker.bootstrap()).await;
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut producers = Vec::new();
    for partition in 0..PARTITIONS {
        let (conn, acked) = (conn.clone(), Arc::clone(&acked));
        producers.push(tokio::spawn(async move {
            for n in cycle * 1_000_000.. {
                let records = batch(partition, n);
                match produce(&conn, TOPIC, partition, &records).await {
                    Ok(base_offset) => acked.lock().unwrap().push(Acked { partition, base_offset, records }),
                    Err(e) => return e,
                }
            }
            unreachable!()
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL {
        assert!(Instant::now() < deadline, "only {} batches acknowledged in 60 s", acked.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    broker.kill();
    for producer in producers {
        let stopped_by = producer.await.expect("producer task");
        assert!(!stopped_by.contains("produce error"), "the broker refused a batch: {stopped_by}");
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!("cycle {cycle}: {} batches acknowledged before SIGKILL", acked.len());
    acked
}

/// Checks that the restarted broker holds every batch of `acked` at its offset, with
/// offsets 0, 1, 2 ... and no torn tail, then appends one batch per partition (added
/// to `acked`) right after what it kept.
async fn check_recovered(broker: &BrokerProcess, acked: &mut Vec<Acked>, cycle: usize) {
    let conn = connect(broker.bootstrap()).await;
    let (topic_id, partitions) = describe(&conn, TOPIC).await;
    assert_eq!(partitions, PARTITIONS as usize, "partitions after restart {cycle}");
    for partition in 0..PARTITIONS {
        let (records, high_watermark) = read_partition(&conn, TOPIC, topic_id, partition).await;
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as i64, "partition {partition}: offsets 0, 1, 2 ... after restart {cycle}");
        }
        let mine: Vec<&Acked> = acked.iter().filter(|a| a.partition == partition).collect();
        for a in &mine {
            for (i, (key, value)) in a.records.iter().enumerate() {
                let offset = a.base_offset + i as i64;
                let r = records.get(offset as usize).unwrap_or_else(|| {
                    panic!("restart {cycle}, partition {partition}: acknowledged offset {offset} lost (high watermark {high_watermark})")
                });
                let what = format!("restart {cycle}, partition {partition}, offset {offset}");
                assert_eq!((r.key.as_ref(), r.value.as_ref()), (Some(key), Some(value)), "{what}");
            }
        }
        let records_after = batch(partition, cycle * 1_000_000 + 999_999);
        let next = produce(&conn, TOPIC, partition, &records_after).await.expect("produce after the restart");
        assert_eq!(next, high_watermark, "restart {cycle}, partition {partition}: the first append after the restart");
        eprintln!(
            "restart {cycle}, partition {partition}: {} acknowledged batches all there, high watermark {high_watermark}",
            mine.len()
        );
        acked.push(Acked { partition, base_offset: next, records: records_after });
    }
}

#[tokio::test(flavor = "current_thread")]
async fn acknowledged_records_survive_sigkill() {
    let dir = std::env::temp_dir().join(format!("actix-kafka-crash-{}", std::process::id()));
    remove_dir(&dir);
    let dir_text = dir.to_str().expect("a UTF-8 temp dir").to_string();
    let mut broker = start(&dir_text, 0);
    broker.control(&format!("create-topic {TOPIC} {PARTITIONS}"));
    let mut acked = Vec::new();
    for cycle in 0..cycles() {
        acked.extend(produce_until_killed(&mut broker, cycle).await);
        broker = start(&dir_text, cycle + 1);
        check_recovered(&broker, &mut acked, cycle).await;
    }
    drop(broker);
    remove_dir(&dir);
}

/// Removes `dir` if it exists.
fn remove_dir(dir: &std::path::Path) {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("remove {}: {e}", dir.display()),
        _ => {}
    }
}
