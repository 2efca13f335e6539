//! Crash recovery: the `actix-kafka broker` binary with `--data-dir` is killed with
//! SIGKILL while our producer (acks=all, three partitions, one batch in flight per
//! partition) is writing; restarted on the same directory it still has every
//! acknowledged record at its acknowledged offset, and appends after them.

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

fn start(dir: &str) -> BrokerProcess {
    BrokerProcess::start(&["--listen", "127.0.0.1:0", "--nodes", "1", "--data-dir", dir])
}

#[tokio::test(flavor = "current_thread")]
async fn acknowledged_records_survive_sigkill() {
    let dir = std::env::temp_dir().join(format!("actix-kafka-crash-{}", std::process::id()));
    remove_dir(&dir);
    let dir_text = dir.to_str().expect("a UTF-8 temp dir").to_string();
    let mut broker = start(&dir_text);
    broker.control(&format!("create-topic {TOPIC} {PARTITIONS}"));

    let conn = connect(broker.bootstrap()).await;
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut producers = Vec::new();
    for partition in 0..PARTITIONS {
        let (conn, acked) = (conn.clone(), Arc::clone(&acked));
        producers.push(tokio::spawn(async move {
            for n in 0.. {
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
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broker.kill();
    for producer in producers {
        let stopped_by = producer.await.expect("producer task");
        eprintln!("producer stopped by: {stopped_by}");
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!("{} batches ({} records) acknowledged before SIGKILL", acked.len(), acked.len() * BATCH);

    let broker = start(&dir_text);
    let conn = connect(broker.bootstrap()).await;
    let (topic_id, partitions) = describe(&conn, TOPIC).await;
    assert_eq!(partitions, PARTITIONS as usize, "partitions after the restart");
    for partition in 0..PARTITIONS {
        let (records, high_watermark) = read_partition(&conn, TOPIC, topic_id, partition).await;
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as i64, "partition {partition}: offsets 0, 1, 2 ... after recovery");
        }
        let mine: Vec<&Acked> = acked.iter().filter(|a| a.partition == partition).collect();
        for a in &mine {
            for (i, (key, value)) in a.records.iter().enumerate() {
                let offset = a.base_offset + i as i64;
                let r = records.get(offset as usize).unwrap_or_else(|| {
                    panic!("partition {partition}: acknowledged offset {offset} lost (high watermark {high_watermark})")
                });
                assert_eq!(
                    (r.key.as_ref(), r.value.as_ref()),
                    (Some(key), Some(value)),
                    "partition {partition} offset {offset}"
                );
            }
        }
        // The recovered log takes appends right after what it kept.
        let next = produce(&conn, TOPIC, partition, &batch(partition, 1_000_000)).await.expect("produce after restart");
        assert_eq!(next, high_watermark, "partition {partition}: the first append after the restart");
        eprintln!(
            "partition {partition}: {} acknowledged batches all there; {} records kept, high watermark {high_watermark}",
            mine.len(),
            records.len()
        );
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
