//! [`PartitionLog`]: one partition's batches, producer state and files.

use std::path::PathBuf;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::config::{FsyncPolicy, LogConfig};
use super::error::{AppendError, LogError, ReadError};
use super::header::{set_max_timestamp, BASE_OFFSET_RANGE, LEADER_EPOCH_RANGE};
use super::producer_state::{ProducerState, SequenceCheck, StagedProducers};
use super::recovery::{recover, RecoveryReport};
use super::segment::{sync_dir, BatchEntry, Segment};
use super::validate::{check_batches, CheckedBatch};
use crate::protocol::record::{DecodeOptions, RecordBatch};

/// The result of a successful [`PartitionLog::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The offset of the first record (for a duplicate, where it was first appended).
    pub base_offset: i64,
    /// The offset of the last record.
    pub last_offset: i64,
    /// The broker time stamped on the batches, or -1: the log keeps CreateTime.
    pub log_append_time_ms: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// Every batch was a retry of one already appended: nothing was written.
    pub duplicate: bool,
}

/// The result of a [`PartitionLog::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches back to back, as a Fetch response carries them.
    pub records: Bytes,
    /// The high watermark: the log end offset (there is no replication).
    pub high_watermark: i64,
    /// The log start offset.
    pub log_start_offset: i64,
}

/// One partition's log: batches with offsets assigned, in memory or in segment files,
/// and the idempotent producers' state. See the [module docs](super) for the layout.
#[derive(Debug)]
pub struct PartitionLog {
    config: LogConfig,
    /// In offset order; never empty. The last one takes appends.
    segments: Vec<Segment>,
    producers: ProducerState,
    max_timestamp: Option<(i64, i64)>,
    /// Segments from this one on may hold data not yet fsynced.
    unsynced_from: usize,
    last_sync: Instant,
    offline: bool,
}

/// One batch ready to be written.
struct Planned {
    /// Where it sits in the produce's `records`, and its size.
    start: usize,
    size: usize,
    /// The offset of its first record with the largest timestamp.
    max_timestamp_offset: i64,
    /// The client's maxTimestamp is not the largest record timestamp
    /// (`entry.max_timestamp`): [`stamp`] corrects it, as Kafka does.
    rewrite_max_timestamp: bool,
    entry: BatchEntry,
}

/// What an append will do, worked out before anything is written.
#[derive(Default)]
struct Plan {
    batches: Vec<Planned>,
    staged: StagedProducers,
    /// The offsets of the first and last record, duplicates included.
    range: Option<(i64, i64)>,
}

impl PartitionLog {
    /// Opens the log `config` describes: an empty memory log, or the directory's
    /// segments, recovered (see the [module docs](super)).
    ///
    /// # Errors
    ///
    /// [`LogError::InvalidConfig`] for a `segment_bytes` of 0 or over `u32::MAX`;
    /// [`LogError::Io`]; [`LogError::Corrupt`] for an invalid batch before the last
    /// segment, or segments that do not follow each other.
    pub fn open(config: LogConfig) -> Result<(PartitionLog, RecoveryReport), LogError> {
        if config.segment_bytes == 0 || config.segment_bytes > u64::from(u32::MAX) {
            return Err(LogError::InvalidConfig { reason: "segment_bytes must be between 1 and u32::MAX" });
        }
        let (segments, producers, max_timestamp, report) = match &config.dir {
            None => {
                let report = RecoveryReport { segments: 1, ..RecoveryReport::default() };
                (vec![Segment::memory(0)], ProducerState::default(), None, report)
            }
            Some(dir) => {
                let recovered = recover(dir, config.index_interval_bytes)?;
                (recovered.segments, recovered.producers, recovered.max_timestamp, recovered.report)
            }
        };
        let unsynced_from = segments.len() - 1;
        let log = PartitionLog {
            config,
            segments,
            producers,
            max_timestamp,
            unsynced_from,
            last_sync: Instant::now(),
            offline: false,
        };
        Ok((log, report))
    }

    /// Validates and appends the batches of one produce (see the [module docs](super)
    /// for the checks), assigning offsets from the log end and stamping `leader_epoch`.
    ///
    /// # Errors
    ///
    /// Any [`AppendError`]; nothing of `records` is appended then.
    pub fn append(&mut self, records: Bytes, leader_epoch: i32) -> Result<AppendOutcome, AppendError> {
        if self.offline {
            return Err(LogError::Offline.into());
        }
        let checked = check_batches(&records, self.config.max_message_bytes)?;
        let plan = self.plan(&checked)?;
        self.write(stamp(records, &plan.batches, leader_epoch))?;
        self.producers.commit(plan.staged);
        for batch in &plan.batches {
            let candidate = (batch.max_timestamp_offset, batch.entry.max_timestamp);
            if self.max_timestamp.map_or(true, |(_, timestamp)| candidate.1 > timestamp) {
                self.max_timestamp = Some(candidate);
            }
        }
        if !plan.batches.is_empty() {
            self.sync_per_policy()?;
        }
        let end = self.log_end_offset();
        let (base_offset, last_offset) = plan.range.unwrap_or((end, end - 1));
        Ok(AppendOutcome {
            base_offset,
            last_offset,
            log_append_time_ms: -1,
            log_start_offset: self.log_start_offset(),
            duplicate: plan.batches.is_empty(),
        })
    }

    /// Runs the producer checks on each batch in turn and assigns offsets.
    fn plan(&self, checked: &[CheckedBatch]) -> Result<Plan, AppendError> {
        let mut plan = Plan::default();
        let mut next_offset = self.log_end_offset();
        for batch in checked {
            let mut header = batch.header;
            if header.is_idempotent() {
                if let SequenceCheck::Duplicate(original) = self.producers.check(&plan.staged, &header)? {
                    plan.range = Some((plan.range.map_or(original.base_offset, |r| r.0), original.last_offset));
                    continue;
                }
            }
            let overflow = || LogError::OffsetOverflow { next_offset };
            let last_offset = next_offset.checked_add(i64::from(header.last_offset_delta)).ok_or_else(overflow)?;
            header.base_offset = next_offset;
            if header.is_idempotent() {
                self.producers.stage(&mut plan.staged, &header, last_offset);
            }
            let max_timestamp = batch.max_timestamp;
            plan.batches.push(Planned {
                start: batch.start,
                size: header.size,
                max_timestamp_offset: next_offset + i64::from(batch.max_timestamp_delta),
                rewrite_max_timestamp: max_timestamp != header.max_timestamp,
                entry: BatchEntry { base_offset: next_offset, last_offset, max_timestamp, position: 0, size: 0 },
            });
            plan.range = Some((plan.range.map_or(next_offset, |r| r.0), last_offset));
            next_offset = last_offset.checked_add(1).ok_or_else(overflow)?;
        }
        Ok(plan)
    }

    /// Writes batches, rolling segments as needed; all or none.
    fn write(&mut self, batches: Vec<(Bytes, BatchEntry)>) -> Result<(), LogError> {
        let segments_before = self.segments.len();
        let mark = self.active().mark();
        let result = batches.into_iter().try_for_each(|(bytes, entry)| self.write_one(bytes, entry));
        if let Err(error) = result {
            if let Err(rollback) = self.rollback(segments_before, mark) {
                tracing::error!(%error, %rollback, "a failed append could not be rolled back; the log is offline");
                self.offline = true;
            }
            return Err(error);
        }
        Ok(())
    }

    fn write_one(&mut self, bytes: Bytes, entry: BatchEntry) -> Result<(), LogError> {
        if self.active().should_roll(self.config.segment_bytes, bytes.len() as u64, entry.last_offset) {
            self.roll(entry.base_offset)?;
        }
        let interval = self.config.index_interval_bytes;
        self.active_mut().append(bytes, entry, interval)
    }

    /// Starts a new segment at `base_offset`; the old one is synced unless the policy
    /// is `Never`.
    fn roll(&mut self, base_offset: i64) -> Result<(), LogError> {
        let durable = self.config.fsync != FsyncPolicy::Never;
        let segment = match &self.config.dir {
            None => Segment::memory(base_offset),
            Some(dir) => {
                if durable {
                    self.active().sync()?;
                    self.unsynced_from = self.segments.len();
                }
                let segment = Segment::create(dir, base_offset)?;
                if durable {
                    sync_dir(dir)?;
                }
                segment
            }
        };
        tracing::debug!(base_offset, "rolled to a new segment");
        self.segments.push(segment);
        Ok(())
    }

    fn rollback(&mut self, segments_before: usize, mark: super::segment::SegmentMark) -> Result<(), LogError> {
        while self.segments.len() > segments_before {
            if let Some(segment) = self.segments.pop() {
                segment.delete()?;
            }
        }
        self.unsynced_from = self.unsynced_from.min(self.segments.len() - 1);
        self.active_mut().rollback(mark)
    }

    fn sync_per_policy(&mut self) -> Result<(), LogError> {
        match self.config.fsync {
            FsyncPolicy::EveryBatch => self.sync(),
            FsyncPolicy::Interval(interval) if self.last_sync.elapsed() >= interval => self.sync(),
            FsyncPolicy::Interval(_) | FsyncPolicy::Never => Ok(()),
        }
    }

    fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Whole batches from the one holding `offset`, at most `max_bytes` in all; with
    /// `min_one` the first batch comes whatever its size (KIP-74). At the log end the
    /// records are empty.
    ///
    /// # Errors
    ///
    /// [`ReadError::OffsetOutOfRange`] below the log start or past the log end;
    /// [`ReadError::Storage`] if the segment file cannot be read.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadResult, ReadError> {
        let (log_start, log_end) = (self.log_start_offset(), self.log_end_offset());
        if offset < log_start || offset > log_end {
            return Err(ReadError::OffsetOutOfRange { offset, log_start, log_end });
        }
        let mut chunks = Vec::new();
        let (mut budget, mut take_first) = (max_bytes, min_one);
        let mut s = self.segments.partition_point(|segment| segment.next_offset <= offset);
        let mut from = self.segments.get(s).map_or(0, |segment| segment.find(offset));
        while let Some(segment) = self.segments.get(s) {
            let (read, stopped) = segment.read(from, budget, take_first, &mut chunks)?;
            budget = budget.saturating_sub(read);
            take_first &= read == 0;
            if stopped {
                break;
            }
            (s, from) = (s + 1, 0);
        }
        let records = match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.swap_remove(0),
            _ => {
                let mut all = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
                chunks.iter().for_each(|chunk| all.extend_from_slice(chunk));
                all.freeze()
            }
        };
        Ok(ReadResult { records, high_watermark: log_end, log_start_offset: log_start })
    }

    /// The first offset in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.segments[0].base_offset
    }

    /// The offset the next append gets; also the high watermark (no replication).
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// ListOffsets by timestamp: the first record (in offset order) whose timestamp is
    /// at least `timestamp`, as (offset, record timestamp); `None` if there is none.
    /// The special timestamps -1 (latest), -2 (earliest) and -3 (max) are the caller's
    /// to map to [`log_end_offset`](Self::log_end_offset),
    /// [`log_start_offset`](Self::log_start_offset) and
    /// [`max_timestamp`](Self::max_timestamp).
    ///
    /// Finds the batch from the in-memory batch list, then reads and decodes that one
    /// batch.
    ///
    /// # Errors
    ///
    /// [`LogError::Io`] reading the batch, [`LogError::Corrupt`] if it does not decode.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        for segment in &self.segments {
            let Some(i) = segment.batches.iter().position(|b| b.max_timestamp >= timestamp) else {
                continue;
            };
            let mut bytes = segment.read_batch(i)?;
            let batch = RecordBatch::decode(&mut bytes, &DecodeOptions::default()).map_err(|_| LogError::Corrupt {
                path: self.config.dir.clone().unwrap_or_default(),
                position: segment.batches[i].position,
                reason: "a batch in the log does not decode",
            })?;
            let found = batch.records.iter().map(|r| (r.offset, batch.record_timestamp(r))).find(|r| r.1 >= timestamp);
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// (offset, timestamp) of the first record with the largest timestamp in the log
    /// (ListOffsets -3, KIP-734); `None` for an empty log.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.max_timestamp
    }

    /// Fault hook: forgets every producer, as a broker that lost its producer state
    /// would. The next idempotent batch with a sequence other than 0 gets
    /// [`AppendError::UnknownProducerId`].
    pub fn forget_producers(&mut self) {
        self.producers.clear();
    }

    /// Fsyncs what was written since the last sync (what the owner's `Interval` timer
    /// calls). A memory log has nothing to sync.
    ///
    /// # Errors
    ///
    /// [`LogError::Io`].
    pub fn sync(&mut self) -> Result<(), LogError> {
        for segment in &self.segments[self.unsynced_from..] {
            segment.sync()?;
        }
        self.unsynced_from = self.segments.len() - 1;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Removes the partition's segment and index files, and its directory if that is
    /// then empty (DeleteTopics).
    ///
    /// # Errors
    ///
    /// [`LogError::Io`] if a file cannot be removed.
    pub fn delete(mut self) -> Result<(), LogError> {
        for segment in std::mem::take(&mut self.segments) {
            segment.delete()?;
        }
        if let Some(dir) = self.config.dir.take() {
            remove_dir_if_empty(dir)?;
        }
        Ok(())
    }
}

/// Sets each planned batch's base offset and leader epoch in `records` (in place
/// when nothing else shares the buffer), and its maxTimestamp where the client's was
/// wrong (the CRC is then recomputed), and cuts it into the batches to write.
fn stamp(records: Bytes, batches: &[Planned], leader_epoch: i32) -> Vec<(Bytes, BatchEntry)> {
    let mut buf = records.try_into_mut().unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    for batch in batches {
        let bytes = &mut buf[batch.start..batch.start + batch.size];
        bytes[BASE_OFFSET_RANGE].copy_from_slice(&batch.entry.base_offset.to_be_bytes());
        bytes[LEADER_EPOCH_RANGE].copy_from_slice(&leader_epoch.to_be_bytes());
        if batch.rewrite_max_timestamp {
            set_max_timestamp(bytes, batch.entry.max_timestamp);
        }
    }
    let buf = buf.freeze();
    batches.iter().map(|batch| (buf.slice(batch.start..batch.start + batch.size), batch.entry)).collect()
}

fn remove_dir_if_empty(dir: PathBuf) -> Result<(), LogError> {
    let mut entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LogError::io(dir, e)),
    };
    if entries.next().is_some() {
        tracing::debug!(dir = %dir.display(), "partition directory holds other files; left in place");
        return Ok(());
    }
    std::fs::remove_dir(&dir).map_err(|e| LogError::io(dir, e))
}

impl Drop for PartitionLog {
    /// Syncs a disk log on the way out unless the policy is `Never`.
    fn drop(&mut self) {
        if self.segments.is_empty() || self.config.fsync == FsyncPolicy::Never {
            return;
        }
        if let Err(error) = self.sync() {
            tracing::warn!(%error, "syncing the partition log on drop failed");
        }
    }
}
