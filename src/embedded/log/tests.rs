//! Tests of the whole log: memory and disk, idempotence, recovery, fuzzing.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::protocol::record::{decode_batches, Compression, DecodeOptions, RecordBatch, RecordBatchBuilder};
use crate::protocol::ErrorCode;

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("actix-kafka-log-{}-{name}-{n}", std::process::id()));
        let _ignored = fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "removing {}", self.0.display());
        }
    }
}

fn disk(dir: &Path) -> LogConfig {
    LogConfig { dir: Some(dir.to_path_buf()), fsync: FsyncPolicy::EveryBatch, ..LogConfig::default() }
}

fn open(config: LogConfig) -> (PartitionLog, RecoveryReport) {
    PartitionLog::open(config).unwrap()
}

/// A batch of `count` records with timestamps `ts, ts + 1, ...`.
fn batch_with(count: i64, ts: i64, producer: Option<(i64, i16, i32)>) -> Bytes {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    if let Some((id, epoch, sequence)) = producer {
        builder = builder.producer_id(id).producer_epoch(epoch).base_sequence(sequence);
    }
    for i in 0..count {
        builder.push(ts + i, None, Some(Bytes::from(format!("value {ts} {i}"))), Vec::new()).unwrap();
    }
    builder.finish().unwrap()
}

fn batch(count: i64) -> Bytes {
    batch_with(count, 1_000, None)
}

fn idempotent(id: i64, epoch: i16, sequence: i32, count: i64) -> Bytes {
    batch_with(count, 1_000, Some((id, epoch, sequence)))
}

fn decode_all(records: Bytes) -> Vec<RecordBatch> {
    decode_batches(records, &DecodeOptions::default()).unwrap()
}

fn base_offsets(log: &PartitionLog, from: i64) -> Vec<i64> {
    decode_all(log.read(from, usize::MAX, true).unwrap().records).iter().map(|b| b.base_offset).collect()
}

/// Appends batches of 1, 2, 3 records: offsets 0, 1..=2, 3..=5.
fn append_three(log: &mut PartitionLog) {
    for (count, base) in [(1, 0), (2, 1), (3, 3)] {
        let outcome = log.append(batch(count), 7).unwrap();
        assert_eq!((outcome.base_offset, outcome.last_offset), (base, base + count - 1));
        assert_eq!((outcome.log_append_time_ms, outcome.log_start_offset, outcome.duplicate), (-1, 0, false));
    }
}

fn check_roundtrip(log: &PartitionLog) {
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 6));
    let read = log.read(0, usize::MAX, false).unwrap();
    assert_eq!((read.high_watermark, read.log_start_offset), (6, 0));
    // decode verifies every CRC: rewriting the offset and epoch left them valid.
    let batches = decode_all(read.records);
    assert_eq!(batches.iter().map(|b| b.base_offset).collect::<Vec<_>>(), [0, 1, 3]);
    assert!(batches.iter().all(|b| b.partition_leader_epoch == 7));
    let offsets: Vec<i64> = batches.iter().flat_map(|b| b.records.iter().map(|r| r.offset)).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn memory_roundtrip_assigns_offsets_and_keeps_crcs_valid() {
    let (mut log, report) = open(LogConfig::default());
    assert_eq!(report, RecoveryReport { segments: 1, batches: 0, truncated_bytes: 0, next_offset: 0 });
    append_three(&mut log);
    check_roundtrip(&log);
}

#[test]
fn disk_roundtrip_survives_reopen() {
    let dir = TempDir::new("roundtrip");
    let (mut log, _) = open(disk(&dir.0));
    append_three(&mut log);
    check_roundtrip(&log);
    let before = log.read(0, usize::MAX, false).unwrap().records;
    drop(log);
    assert!(dir.0.join("00000000000000000000.log").exists());
    assert!(dir.0.join("00000000000000000000.index").exists());
    let (mut log, report) = open(disk(&dir.0));
    assert_eq!(report, RecoveryReport { segments: 1, batches: 3, truncated_bytes: 0, next_offset: 6 });
    check_roundtrip(&log);
    assert_eq!(log.read(0, usize::MAX, false).unwrap().records, before);
    assert_eq!(log.append(batch(1), 7).unwrap().base_offset, 6);
}

#[test]
fn reads_return_whole_batches_within_max_bytes() {
    for dir in [None, Some(TempDir::new("reads"))] {
        let config = dir.as_ref().map_or_else(LogConfig::default, |d| disk(&d.0));
        let (mut log, _) = open(config);
        append_three(&mut log);
        let sizes: Vec<usize> = [1, 2, 3].iter().map(|&n| batch(n).len()).collect();
        // Mid-batch: the whole batch holding offset 4 (base 3).
        assert_eq!(base_offsets(&log, 4), [3]);
        assert_eq!(base_offsets(&log, 2), [1, 3]);
        // max_bytes cuts at whole batches.
        let read = log.read(0, sizes[0] + sizes[1] + sizes[2] - 1, false).unwrap();
        assert_eq!(read.records.len(), sizes[0] + sizes[1]);
        // Too small for the first batch: nothing, unless min_one.
        assert!(log.read(1, sizes[1] - 1, false).unwrap().records.is_empty());
        assert_eq!(log.read(1, 1, true).unwrap().records.len(), sizes[1]);
        assert_eq!(log.read(1, 0, true).unwrap().records.len(), sizes[1]);
        // At the log end: empty. Outside the log: out of range.
        assert!(log.read(6, 1 << 20, true).unwrap().records.is_empty());
        for offset in [-1, 7, i64::MAX, i64::MIN] {
            let err = log.read(offset, 100, true).unwrap_err();
            assert!(matches!(err, ReadError::OffsetOutOfRange { log_start: 0, log_end: 6, .. }), "{err:?}");
            assert_eq!(err.error_code(), ErrorCode::OffsetOutOfRange);
        }
    }
}

#[test]
fn invalid_batches_are_refused_with_their_error_codes_and_nothing_is_appended() {
    let (mut log, _) = open(LogConfig { max_message_bytes: 200, ..LogConfig::default() });
    log.append(batch(1), 0).unwrap();
    let good = batch(1);
    let mut legacy = BytesMut::from(&good[..]);
    legacy[16] = 1;
    let mut bad_crc = BytesMut::from(&good[..]);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    let mut control = RecordBatch::decode(&mut good.clone(), &DecodeOptions::default()).unwrap();
    control.is_control = true;
    let mut control_bytes = BytesMut::new();
    control.encode(&mut control_bytes).unwrap();
    let cases: Vec<(Bytes, ErrorCode)> = vec![
        (Bytes::new(), ErrorCode::InvalidRecord),
        (legacy.freeze(), ErrorCode::UnsupportedForMessageFormat),
        (bad_crc.freeze(), ErrorCode::CorruptMessage),
        (good.slice(..good.len() - 1), ErrorCode::CorruptMessage),
        (good.slice(..10), ErrorCode::CorruptMessage),
        (batch(20), ErrorCode::MessageTooLarge),
        (control_bytes.freeze(), ErrorCode::InvalidRecord),
        (RecordBatchBuilder::new(Compression::None).finish().unwrap(), ErrorCode::InvalidRecord),
        (idempotent(1, 0, -1, 1), ErrorCode::InvalidRecord),
    ];
    for (i, (records, code)) in cases.into_iter().enumerate() {
        // Also behind a good batch, to check all-or-nothing (an empty tail is no batch).
        let mut both = BytesMut::from(&good[..]);
        both.extend_from_slice(&records);
        let inputs = if records.is_empty() { vec![records] } else { vec![records, both.freeze()] };
        for input in inputs {
            let err = log.append(input, 0).unwrap_err();
            assert_eq!(err.error_code(), code, "case {i}: {err}");
            assert_eq!(log.log_end_offset(), 1, "case {i}");
        }
    }
}

#[test]
fn several_batches_in_one_append_get_consecutive_offsets() {
    let (mut log, _) = open(LogConfig::default());
    let mut records = BytesMut::new();
    for bytes in [idempotent(9, 0, 0, 2), idempotent(9, 0, 2, 3), batch(1)] {
        records.extend_from_slice(&bytes);
    }
    let outcome = log.append(records.freeze(), 0).unwrap();
    assert_eq!((outcome.base_offset, outcome.last_offset), (0, 5));
    assert_eq!(base_offsets(&log, 0), [0, 2, 5]);
    // The second batch was checked against the state the first one left.
    assert_eq!(log.append(idempotent(9, 0, 5, 1), 0).unwrap().base_offset, 6);
}

#[test]
fn a_duplicate_gets_its_original_offsets_and_appends_nothing() {
    let (mut log, _) = open(LogConfig::default());
    log.append(batch(2), 0).unwrap();
    let first = log.append(idempotent(1, 0, 0, 3), 0).unwrap();
    assert_eq!((first.base_offset, first.last_offset, first.duplicate), (2, 4, false));
    log.append(idempotent(1, 0, 3, 1), 0).unwrap();
    let retry = log.append(idempotent(1, 0, 0, 3), 0).unwrap();
    assert_eq!((retry.base_offset, retry.last_offset, retry.duplicate), (2, 4, true));
    assert_eq!(log.log_end_offset(), 6);
}

#[test]
fn sequence_and_epoch_errors() {
    let (mut log, _) = open(LogConfig::default());
    log.append(idempotent(1, 2, 0, 2), 0).unwrap();
    let gap = log.append(idempotent(1, 2, 5, 1), 0).unwrap_err();
    assert!(matches!(gap, AppendError::OutOfOrderSequenceNumber { expected: 2, found: 5, .. }), "{gap:?}");
    assert_eq!(gap.error_code(), ErrorCode::OutOfOrderSequenceNumber);
    let fenced = log.append(idempotent(1, 1, 2, 1), 0).unwrap_err();
    assert_eq!(fenced.error_code(), ErrorCode::InvalidProducerEpoch);
    assert_eq!(log.append(idempotent(1, 3, 1, 1), 0).unwrap_err().error_code(), ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(log.append(idempotent(1, 3, 0, 1), 0).unwrap().base_offset, 2);
    let unknown = log.append(idempotent(2, 0, 4, 1), 0).unwrap_err();
    assert_eq!(unknown.error_code(), ErrorCode::UnknownProducerId);
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn forgotten_producers_must_start_over() {
    let (mut log, _) = open(LogConfig::default());
    log.append(idempotent(1, 0, 0, 2), 0).unwrap();
    log.forget_producers();
    assert_eq!(log.append(idempotent(1, 0, 2, 1), 0).unwrap_err().error_code(), ErrorCode::UnknownProducerId);
    // Not a duplicate any more either: sequence 0 starts afresh.
    let again = log.append(idempotent(1, 0, 0, 2), 0).unwrap();
    assert_eq!((again.base_offset, again.duplicate), (2, false));
}

#[test]
fn producer_state_is_rebuilt_on_reopen() {
    let dir = TempDir::new("producers");
    let (mut log, _) = open(disk(&dir.0));
    for sequence in 0..7 {
        log.append(idempotent(4, 1, sequence * 2, 2), 0).unwrap();
    }
    drop(log);
    let (mut log, _) = open(disk(&dir.0));
    let retry = log.append(idempotent(4, 1, 12, 2), 0).unwrap();
    assert_eq!((retry.base_offset, retry.duplicate), (12, true));
    assert!(matches!(log.append(idempotent(4, 1, 0, 2), 0), Err(AppendError::OutOfOrderSequenceNumber { .. })));
    assert!(matches!(log.append(idempotent(4, 0, 14, 1), 0), Err(AppendError::InvalidProducerEpoch { .. })));
    assert_eq!(log.append(idempotent(4, 1, 14, 1), 0).unwrap().base_offset, 14);
}

fn segment_file(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

#[test]
fn a_torn_tail_is_truncated_and_appends_continue_after_the_whole_batches() {
    let dir = TempDir::new("torn");
    let (mut log, _) = open(disk(&dir.0));
    append_three(&mut log);
    drop(log);
    let path = segment_file(&dir.0, 0, "log");
    let len = fs::metadata(&path).unwrap().len();
    let cut = batch(3).len() as u64 / 2;
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - cut).unwrap();
    let (mut log, report) = open(disk(&dir.0));
    assert_eq!(
        report,
        RecoveryReport { segments: 1, batches: 2, truncated_bytes: batch(3).len() as u64 - cut, next_offset: 3 }
    );
    assert_eq!(base_offsets(&log, 0), [0, 1]);
    assert_eq!(log.append(batch(1), 0).unwrap().base_offset, 3);
    drop(log);

    // Garbage after the last batch.
    let before = fs::metadata(&path).unwrap().len();
    let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, &[0xab; 100]).unwrap();
    let (log, report) = open(disk(&dir.0));
    assert_eq!((report.batches, report.truncated_bytes, report.next_offset), (3, 100, 4));
    assert_eq!(fs::metadata(&path).unwrap().len(), before);
    assert_eq!(base_offsets(&log, 0), [0, 1, 3]);
}

fn rolling(dir: &Path) -> LogConfig {
    LogConfig { segment_bytes: 250, index_interval_bytes: 50, ..disk(dir) }
}

#[test]
fn segments_roll_and_reads_cross_them() {
    let dir = TempDir::new("roll");
    let (mut log, _) = open(rolling(&dir.0));
    for _ in 0..10 {
        log.append(batch(2), 0).unwrap();
    }
    let segments: Vec<_> =
        fs::read_dir(&dir.0).unwrap().filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "log").collect();
    assert!(segments.len() >= 4, "{} segments", segments.len());
    assert_eq!(base_offsets(&log, 0), (0..10).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(base_offsets(&log, 7), (3..10).map(|i| i * 2).collect::<Vec<_>>());
    // A budget spanning a segment boundary returns whole batches from both.
    let size = batch(2).len();
    assert_eq!(log.read(0, size * 5, false).unwrap().records.len(), size * 5);
    drop(log);
    let (log, report) = open(rolling(&dir.0));
    assert_eq!((report.segments, report.batches, report.next_offset), (segments.len(), 10, 20));
    assert_eq!(base_offsets(&log, 0).len(), 10);
}

#[test]
fn a_missing_or_corrupt_index_is_rebuilt() {
    let dir = TempDir::new("index");
    let (mut log, _) = open(LogConfig { segment_bytes: 2_000, index_interval_bytes: 100, ..disk(&dir.0) });
    for _ in 0..40 {
        log.append(batch(2), 0).unwrap();
    }
    drop(log);
    let index = segment_file(&dir.0, 0, "index");
    let expected = fs::read(&index).unwrap();
    assert!(expected.len() >= 16 && expected.len() % 8 == 0, "{} index bytes", expected.len());
    // Relative offsets and positions both go up.
    let entries: Vec<(u32, u32)> = expected
        .chunks(8)
        .map(|e| (u32::from_be_bytes(e[..4].try_into().unwrap()), u32::from_be_bytes(e[4..].try_into().unwrap())))
        .collect();
    assert!(entries.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1), "{entries:?}");
    fs::remove_file(&index).unwrap();
    drop(open(LogConfig { segment_bytes: 2_000, index_interval_bytes: 100, ..disk(&dir.0) }));
    assert_eq!(fs::read(&index).unwrap(), expected);
    fs::write(&index, [0xff; 12]).unwrap();
    let (log, _) = open(LogConfig { segment_bytes: 2_000, index_interval_bytes: 100, ..disk(&dir.0) });
    assert_eq!(fs::read(&index).unwrap(), expected);
    assert_eq!(base_offsets(&log, 0).len(), 40);
}

#[test]
fn a_corrupt_batch_in_an_earlier_segment_is_an_error() {
    let dir = TempDir::new("corrupt");
    let (mut log, _) = open(rolling(&dir.0));
    for _ in 0..6 {
        log.append(batch(2), 0).unwrap();
    }
    drop(log);
    let path = segment_file(&dir.0, 0, "log");
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    fs::write(&path, &bytes).unwrap();
    let err = PartitionLog::open(rolling(&dir.0)).unwrap_err();
    assert!(matches!(&err, LogError::Corrupt { path: p, .. } if *p == path), "{err:?}");
}

#[test]
fn timestamps_find_records_in_memory_and_after_reopen() {
    let dir = TempDir::new("timestamps");
    for config in [LogConfig::default(), rolling(&dir.0)] {
        let (mut log, _) = open(config.clone());
        assert_eq!(log.max_timestamp(), None);
        assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
        log.append(batch_with(3, 100, None), 0).unwrap(); // offsets 0..=2, ts 100..=102
        log.append(batch_with(3, 500, None), 0).unwrap(); // 3..=5, 500..=502
        log.append(batch_with(2, 300, None), 0).unwrap(); // 6..=7, 300..=301
        let check = |log: &PartitionLog| {
            assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 100)));
            assert_eq!(log.offset_for_timestamp(102).unwrap(), Some((2, 102)));
            assert_eq!(log.offset_for_timestamp(103).unwrap(), Some((3, 500)));
            assert_eq!(log.offset_for_timestamp(501).unwrap(), Some((4, 501)));
            assert_eq!(log.offset_for_timestamp(503).unwrap(), None);
            assert_eq!(log.max_timestamp(), Some((5, 502)));
        };
        check(&log);
        drop(log);
        if config.dir.is_some() {
            check(&open(config).0);
        }
    }
}

#[test]
fn delete_removes_the_partition_files() {
    let dir = TempDir::new("delete");
    let (mut log, _) = open(rolling(&dir.0));
    for _ in 0..5 {
        log.append(batch(2), 0).unwrap();
    }
    log.delete().unwrap();
    assert!(!dir.0.exists());
}

#[test]
fn every_fsync_policy_writes_before_acknowledging() {
    for fsync in [FsyncPolicy::Never, FsyncPolicy::default(), FsyncPolicy::Interval(std::time::Duration::ZERO)] {
        let dir = TempDir::new("fsync");
        let (mut log, _) = open(LogConfig { fsync, ..rolling(&dir.0) });
        append_three(&mut log);
        log.sync().unwrap();
        // A second handle, as a restarted process would see the files.
        let (other, report) = open(LogConfig { fsync: FsyncPolicy::Never, ..rolling(&dir.0) });
        assert_eq!(report.next_offset, 6);
        check_roundtrip(&other);
        drop(log);
    }
}

#[test]
fn bad_configs_are_refused() {
    for segment_bytes in [0, u64::from(u32::MAX) + 1] {
        let err = PartitionLog::open(LogConfig { segment_bytes, ..LogConfig::default() }).unwrap_err();
        assert!(matches!(err, LogError::InvalidConfig { .. }));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_append(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (mut log, _) = open(LogConfig::default());
        let _outcome = log.append(Bytes::from(bytes), 0);
    }

    #[test]
    fn mutated_batches_never_panic_append(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let (mut log, _) = open(LogConfig::default());
        let mut bytes = BytesMut::from(&idempotent(3, 0, 0, 3)[..]);
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        if log.append(bytes.freeze(), 0).is_ok() {
            decode_all(log.read(0, usize::MAX, true).unwrap().records);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn garbage_segment_files_open_with_an_error_or_a_clean_truncation(
        files in proptest::collection::vec((0i64..400, proptest::collection::vec(any::<u8>(), 0..200)), 0..4),
        keep_valid in any::<bool>(),
    ) {
        let dir = TempDir::new("garbage");
        if keep_valid {
            let (mut log, _) = open(rolling(&dir.0));
            for _ in 0..3 {
                log.append(batch(2), 0).unwrap();
            }
        }
        fs::create_dir_all(&dir.0).unwrap();
        for (base, bytes) in &files {
            let path = segment_file(&dir.0, *base, "log");
            let mut existing = fs::read(&path).unwrap_or_default();
            existing.extend_from_slice(bytes);
            fs::write(&path, existing).unwrap();
            fs::write(segment_file(&dir.0, *base, "index"), bytes).unwrap();
        }
        if let Ok((mut log, report)) = PartitionLog::open(rolling(&dir.0)) {
            prop_assert_eq!(report.next_offset, log.log_end_offset());
            let whole = log.read(log.log_start_offset(), usize::MAX, true).unwrap();
            let batches = decode_batches(whole.records, &DecodeOptions::default().with_verify_crc(true));
            prop_assert!(batches.is_ok());
            let end = log.log_end_offset();
            prop_assert_eq!(log.append(batch(1), 0).unwrap().base_offset, end);
        }
    }
}
