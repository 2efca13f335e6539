//! Batches exactly as real clients send them, which Kafka accepts and the log must
//! too. The `fixtures/` files are the `records` of one Produce partition, recorded
//! (with `strace`) from the clients of `benches/peers/run.sh` against the embedded
//! broker:
//!
//! - `sarama-1.22_{none,lz4,idempotent}_batch.bin`: Debian's sarama 1.22 AsyncProducer,
//!   5 records of 100 bytes; sarama never sets maxTimestamp and sends -1;
//! - `rskafka-0.6_lz4_batch.bin`: rskafka 0.6, 1,000 records whose maxTimestamp is
//!   1 ms past the largest record timestamp (rskafka truncates the maximum and the
//!   record deltas to milliseconds separately).
//!
//! Both were refused with INVALID_RECORD before the log learned to correct
//! maxTimestamp as Kafka's `LogValidator` does.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::protocol::record::{decode_batches, Compression, DecodeOptions, RecordBatch, RecordBatchBuilder};

const SARAMA_NONE: &[u8] = include_bytes!("fixtures/sarama-1.22_none_batch.bin");
const SARAMA_IDEMPOTENT: &[u8] = include_bytes!("fixtures/sarama-1.22_idempotent_batch.bin");
#[cfg(feature = "lz4")]
const SARAMA_LZ4: &[u8] = include_bytes!("fixtures/sarama-1.22_lz4_batch.bin");
#[cfg(feature = "lz4")]
const RSKAFKA_LZ4: &[u8] = include_bytes!("fixtures/rskafka-0.6_lz4_batch.bin");

fn decode_one(bytes: &[u8]) -> RecordBatch {
    let mut batches = decode_batches(Bytes::copy_from_slice(bytes), &DecodeOptions::default()).unwrap();
    assert_eq!(batches.len(), 1);
    batches.remove(0)
}

fn largest_record_timestamp(batch: &RecordBatch) -> (i64, i64) {
    let mut max = (i64::MIN, -1);
    for record in &batch.records {
        if record.timestamp > max.0 {
            max = (record.timestamp, record.offset);
        }
    }
    max
}

/// Appends `sent` (after one batch of 3 records, so offsets move) to a memory log and
/// a disk log, and checks what is stored: every record, the CRC valid, maxTimestamp
/// the largest record timestamp; the disk log also after a reopen (whose recovery
/// checks each CRC).
fn appends_and_stores_corrected(sent: &[u8], records: usize) {
    let original = decode_one(sent);
    assert_eq!(original.records.len(), records);
    let (largest, _) = largest_record_timestamp(&original);
    assert_ne!(original.max_timestamp, largest, "the fixture has the client's wrong maxTimestamp");
    let dir = std::env::temp_dir().join(format!("actix-kafka-log-peers-{}-{largest}", std::process::id()));
    let _ignored = std::fs::remove_dir_all(&dir);
    for config in [LogConfig::default(), LogConfig { dir: Some(dir.clone()), ..LogConfig::default() }] {
        let (mut log, _) = PartitionLog::open(config.clone()).unwrap();
        log.append(three_records(), 0).unwrap();
        let outcome = log.append(Bytes::copy_from_slice(sent), 4).unwrap();
        let last = 3 + i64::try_from(records).unwrap() - 1;
        assert_eq!((outcome.base_offset, outcome.last_offset, outcome.duplicate), (3, last, false));
        check_stored(&log, &original, largest);
        drop(log);
        if config.dir.is_some() {
            let (log, report) = PartitionLog::open(config).unwrap();
            assert_eq!(report.truncated_bytes, 0, "recovery found the rewritten batch valid");
            check_stored(&log, &original, largest);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn check_stored(log: &PartitionLog, original: &RecordBatch, largest: i64) {
    let stored = decode_one(&log.read(3, usize::MAX, true).unwrap().records);
    assert_eq!(stored.max_timestamp, largest);
    assert_eq!((stored.base_offset, stored.partition_leader_epoch), (3, 4));
    assert_eq!(stored.records.len(), original.records.len());
    for (kept, sent) in stored.records.iter().zip(&original.records) {
        assert_eq!((&kept.value, kept.timestamp, kept.offset), (&sent.value, sent.timestamp, sent.offset + 3));
    }
    let (_, first_at_largest) = largest_record_timestamp(original);
    assert_eq!(log.max_timestamp(), Some((first_at_largest + 3, largest)));
    assert_eq!(log.offset_for_timestamp(largest).unwrap().map(|(_, ts)| ts), Some(largest));
}

fn three_records() -> Bytes {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    for i in 0..3 {
        builder.push(i, None, Some(Bytes::from_static(b"first")), Vec::new()).unwrap();
    }
    builder.finish().unwrap()
}

#[test]
fn sarama_batches_without_max_timestamp_are_stored() {
    appends_and_stores_corrected(SARAMA_NONE, 5);
    #[cfg(feature = "lz4")]
    appends_and_stores_corrected(SARAMA_LZ4, 5);
}

#[test]
fn sarama_idempotent_batch_is_stored_once() {
    appends_and_stores_corrected(SARAMA_IDEMPOTENT, 5);
    let (mut log, _) = PartitionLog::open(LogConfig::default()).unwrap();
    let first = log.append(Bytes::from_static(SARAMA_IDEMPOTENT), 0).unwrap();
    let retry = log.append(Bytes::from_static(SARAMA_IDEMPOTENT), 0).unwrap();
    assert_eq!((retry.base_offset, retry.last_offset, retry.duplicate), (first.base_offset, first.last_offset, true));
    assert_eq!(log.log_end_offset(), 5);
}

#[cfg(feature = "lz4")]
#[test]
fn rskafka_batch_with_max_timestamp_past_its_records_is_stored() {
    appends_and_stores_corrected(RSKAFKA_LZ4, 1_000);
}

/// rskafka's shape, uncompressed: a maxTimestamp 1 ms past the last record's.
#[test]
fn max_timestamp_past_the_records_is_corrected_uncompressed() {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    for (i, timestamp) in [(0u8, 1_000), (1, 1_001), (2, 1_001)] {
        builder.push(timestamp, None, Some(Bytes::from(vec![i; 10])), Vec::new()).unwrap();
    }
    let mut bytes = BytesMut::from(&builder.finish().unwrap()[..]);
    header::set_max_timestamp(&mut bytes, 1_002);
    appends_and_stores_corrected(&bytes, 3);
}

/// A batch whose maxTimestamp is right is stored as sent, CRC untouched.
#[test]
fn a_right_max_timestamp_is_left_alone() {
    let sent = three_records();
    let (mut log, _) = PartitionLog::open(LogConfig::default()).unwrap();
    log.append(sent.clone(), 0).unwrap();
    let stored = log.read(0, usize::MAX, true).unwrap().records;
    assert_eq!(stored[17..], sent[17..]);
}
