//! Opening a log directory: scan every segment, cut a torn tail off the last one,
//! rebuild indexes and producer state.

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::error::LogError;
use super::header::{crc_matches, BatchHeader};
use super::index::OffsetIndex;
use super::producer_state::ProducerState;
use super::segment::{open_file, segment_paths, sync_dir, BatchEntry, Segment, SegmentFiles};
use crate::protocol::record::{DecodeOptions, RecordBatch, HEADER_LEN};

/// What [`PartitionLog::open`](super::PartitionLog::open) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// Segments opened (a new log has one, empty).
    pub segments: usize,
    /// Whole, CRC-checked batches found.
    pub batches: u64,
    /// Bytes cut off the end of the last segment: a batch torn by a crash while it
    /// was being written (never acknowledged), or garbage after the last batch.
    pub truncated_bytes: u64,
    /// The log end offset: where the next append goes.
    pub next_offset: i64,
}

/// Everything recovery rebuilt.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub segments: Vec<Segment>,
    pub producers: ProducerState,
    /// (offset, timestamp) of the record with the largest timestamp.
    pub max_timestamp: Option<(i64, i64)>,
    pub report: RecoveryReport,
}

/// What a scan of one segment found.
struct Scan {
    batches: Vec<BatchEntry>,
    index: OffsetIndex,
    /// Where the valid batches end, and why they end there if before the file's end.
    end: u64,
    fault: Option<&'static str>,
}

/// Opens (creating if need be) the log in `dir`.
pub(crate) fn recover(dir: &Path, index_interval: u32) -> Result<Recovered, LogError> {
    fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
    let bases = list_segments(dir)?;
    let mut producers = ProducerState::default();
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
    let mut report = RecoveryReport::default();
    let mut max: Option<(i64, usize, usize)> = None; // (timestamp, segment, batch)
    for (i, &base) in bases.iter().enumerate() {
        let (log_path, index_path) = segment_paths(dir, base);
        if let Some(previous) = segments.last() {
            if previous.next_offset != base {
                let reason = "the segment's base offset does not follow the previous segment's last offset";
                return Err(LogError::Corrupt { path: log_path, position: 0, reason });
            }
        }
        let log = open_file(&log_path, false)?;
        let len = log.metadata().map_err(|e| LogError::io(&log_path, e))?.len();
        let scan = scan_segment(&log, &log_path, (base, len), index_interval, &mut producers)?;
        if let Some(reason) = scan.fault {
            if i + 1 < bases.len() {
                return Err(LogError::Corrupt { path: log_path, position: scan.end, reason });
            }
            tracing::warn!(path = %log_path.display(), position = scan.end, cut = len - scan.end, reason, "truncating the log's torn tail");
            log.set_len(scan.end).and_then(|()| log.sync_all()).map_err(|e| LogError::io(&log_path, e))?;
            report.truncated_bytes = len - scan.end;
        }
        for (j, batch) in scan.batches.iter().enumerate() {
            if max.map_or(true, |(timestamp, _, _)| batch.max_timestamp > timestamp) {
                max = Some((batch.max_timestamp, i, j));
            }
        }
        report.batches += scan.batches.len() as u64;
        let index = write_index_if_stale(&index_path, &scan.index, i + 1 == bases.len())?;
        let files = SegmentFiles { log_path, index_path, log, index };
        segments.push(Segment::recovered(base, scan.batches, scan.index, files));
    }
    if segments.is_empty() {
        segments.push(Segment::create(dir, 0)?);
        sync_dir(dir)?;
    }
    let max_timestamp = match max {
        Some((timestamp, s, b)) => Some((offset_of_timestamp(&segments[s], b, timestamp)?, timestamp)),
        None => None,
    };
    report.segments = segments.len();
    report.next_offset = segments.last().map_or(0, |s| s.next_offset);
    Ok(Recovered { segments, producers, max_timestamp, report })
}

/// The base offsets of the `{base_offset:020}.log` files in `dir`, in order.
fn list_segments(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let path = entry.map_err(|e| LogError::io(dir, e))?.path();
        let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let reason = "the segment file name is not an offset";
        bases.push(stem.parse::<i64>().map_err(|_| LogError::Corrupt { path: path.clone(), position: 0, reason })?);
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Reads every batch of a segment file (`base` offset, `len` bytes), checking
/// framing, CRC and offsets, up to the first that fails; replays each valid batch
/// into `producers`.
fn scan_segment(
    log: &fs::File,
    path: &Path,
    (base, len): (i64, u64),
    index_interval: u32,
    producers: &mut ProducerState,
) -> Result<Scan, LogError> {
    let mut scan = Scan { batches: Vec::new(), index: OffsetIndex::default(), end: 0, fault: None };
    let mut next_offset = base;
    while scan.end < len {
        let available = len - scan.end;
        let mut head = vec![0u8; usize::try_from(available.min(HEADER_LEN as u64)).unwrap_or(HEADER_LEN)];
        log.read_exact_at(&mut head, scan.end).map_err(|e| LogError::io(path, e))?;
        let header = match BatchHeader::parse(&head, usize::try_from(available).unwrap_or(usize::MAX)) {
            Ok(header) => header,
            Err(_) => {
                scan.fault = Some("a torn or malformed batch header");
                break;
            }
        };
        let mut batch = vec![0u8; header.size];
        log.read_exact_at(&mut batch, scan.end).map_err(|e| LogError::io(path, e))?;
        let last_offset = match check_batch(&batch, &header, next_offset) {
            Ok(last_offset) => last_offset,
            Err(reason) => {
                scan.fault = Some(reason);
                break;
            }
        };
        let size = header.size as u64;
        let relative_last = u64::try_from(last_offset - base).unwrap_or(u64::MAX);
        scan.index.on_append(index_interval, relative_last, scan.end, size);
        producers.replay(&header, last_offset);
        let max_timestamp = header.max_timestamp;
        scan.batches.push(BatchEntry {
            base_offset: header.base_offset,
            last_offset,
            max_timestamp,
            position: scan.end,
            size,
        });
        scan.end += size;
        next_offset = last_offset + 1;
    }
    Ok(scan)
}

/// The last offset of a whole batch read back from a segment, if it is valid there.
fn check_batch(batch: &[u8], header: &BatchHeader, next_offset: i64) -> Result<i64, &'static str> {
    if !crc_matches(batch) {
        return Err("a batch whose CRC does not match");
    }
    if header.base_offset != next_offset {
        return Err("a batch whose base offset does not follow the previous batch");
    }
    if header.last_offset_delta < 0 {
        return Err("a batch with a negative lastOffsetDelta");
    }
    header.last_offset().filter(|last| *last < i64::MAX).ok_or("a batch whose last offset overflows")
}

/// Opens a segment's index, rewriting it from the scan when it is the last segment's
/// (which may just have been cut) or does not hold what the scan expects.
fn write_index_if_stale(path: &PathBuf, index: &OffsetIndex, always: bool) -> Result<fs::File, LogError> {
    let expected = index.encode();
    let current_len = fs::metadata(path).map(|m| m.len()).ok();
    let fresh = !always
        && current_len == Some(expected.len() as u64)
        && fs::read(path).map_err(|e| LogError::io(path, e))? == expected;
    let file = open_file(path, true)?;
    if !fresh {
        if !always {
            tracing::warn!(path = %path.display(), "rebuilding a missing or stale offset index");
        }
        file.set_len(0)
            .and_then(|()| (&file).write_all(&expected))
            .and_then(|()| file.sync_data())
            .map_err(|e| LogError::io(path, e))?;
    }
    Ok(file)
}

/// The offset of the first record of `segment.batches[batch]` with `timestamp`.
fn offset_of_timestamp(segment: &Segment, batch: usize, timestamp: i64) -> Result<i64, LogError> {
    let entry = segment.batches[batch];
    let mut bytes: Bytes = segment.read_batch(batch)?;
    Ok(RecordBatch::decode(&mut bytes, &DecodeOptions::default())
        .ok()
        .and_then(|b| b.records.iter().find(|r| b.record_timestamp(r) == timestamp).map(|r| r.offset))
        .unwrap_or(entry.last_offset))
}
