//! Partition logs: the embedded broker's storage, one [`PartitionLog`] per partition.
//!
//! Plain synchronous structs, no actors and no async: the partition actor owns a
//! `PartitionLog` and calls it.
//!
//! # Layout
//!
//! A log is a run of *segments*, each holding whole record batches back to back,
//! exactly the wire bytes of the Produce request with `baseOffset` and
//! `partitionLeaderEpoch` set by the log (both sit outside the CRC, so the batch stays
//! valid without recomputing it). As in Kafka, a client's `maxTimestamp` that is not
//! its largest record timestamp is corrected, and only then is the CRC recomputed.
//! Without a directory ([`LogConfig::dir`] `None`) the batches stay in memory as
//! [`Bytes`](bytes::Bytes). With one, the layout is Kafka's:
//!
//! - `{base_offset:020}.log`: the segment's batches;
//! - `{base_offset:020}.index`: a sparse offset index of 8-byte entries, (offset
//!   relative to the segment's base: u32 BE, file position: u32 BE), one per
//!   [`LogConfig::index_interval_bytes`] of log.
//!
//! A new segment starts when a batch would take the current one past
//! [`LogConfig::segment_bytes`]. The log also keeps, per batch, its offsets, max
//! timestamp, position and size in memory (32 bytes a batch), so a read is a binary
//! search and one `read_at` per segment touched, and a timestamp look-up decodes one
//! batch.
//!
//! # Durability: [`FsyncPolicy`]
//!
//! An acknowledged batch has always been written (`write(2)`) before
//! [`PartitionLog::append`] returns, so it survives a crash of the broker *process*
//! under every policy. [`FsyncPolicy::EveryBatch`] also survives an OS crash or power
//! loss; [`FsyncPolicy::Interval`] loses at most that interval on one;
//! [`FsyncPolicy::Never`] leaves write-back to the OS. A segment is synced when the
//! log rolls past it (except under `Never`), and on drop.
//!
//! # Recovery
//!
//! [`PartitionLog::open`] with a directory scans every segment, checking each batch's
//! framing, CRC-32C and offsets. The first invalid or torn batch of the *last* segment
//! ends the log: the file is truncated there ([`RecoveryReport::truncated_bytes`]).
//! Such a batch was never acknowledged, since acknowledgment follows the write. An
//! invalid batch in an earlier segment is [`LogError::Corrupt`]: that data was
//! acknowledged, and the log does not silently drop it. The last segment's index, and
//! any index that is missing or does not match the scan, is rewritten. Producer state
//! is rebuilt from the batch headers.
//!
//! # Appends and idempotent producers
//!
//! [`PartitionLog::append`] takes the `records` of one Produce partition and checks
//! every batch before anything is written: magic 2 (0 and 1 are
//! [`AppendError::UnsupportedForMessageFormat`]), length and CRC
//! ([`AppendError::CorruptMessage`]), size ([`AppendError::MessageTooLarge`]), and
//! Kafka's `LogValidator` rules ([`AppendError::InvalidRecord`]: the records decode,
//! their count matches `lastOffsetDelta`, no control batches from clients; a wrong
//! `maxTimestamp` is no error, Kafka overwrites it, and so does the log). Then the
//! idempotent-producer checks, per producer id, against the epoch and the last five
//! batches kept for it (Kafka's rules):
//!
//! - producer id -1: not idempotent, appended;
//! - an epoch older than the current one: [`AppendError::InvalidProducerEpoch`];
//!   a newer one must start at sequence 0 ([`AppendError::OutOfOrderSequenceNumber`]);
//! - same epoch, first and last sequence equal to one of the five cached batches: a
//!   duplicate, answered with the original offsets and `duplicate: true`, nothing
//!   appended; otherwise the first sequence must follow the newest cached batch's last
//!   (wrapping from `i32::MAX` to 0), else `OutOfOrderSequenceNumber`;
//! - a producer not known (never seen, or dropped by
//!   [`PartitionLog::forget_producers`]): sequence 0 is accepted, anything else is
//!   [`AppendError::UnknownProducerId`].
//!
//! The batches of one call are checked in order, each against the state the ones
//! before it leave, and the call is all-or-nothing. Transactions are not implemented:
//! a transactional batch is kept as an idempotent one.
//!
//! # Examples
//!
//! ```
//! use actix_kafka::embedded::log::{LogConfig, PartitionLog};
//! use actix_kafka::protocol::record::{Compression, RecordBatchBuilder};
//! use bytes::Bytes;
//!
//! let (mut log, _report) = PartitionLog::open(LogConfig::default()).unwrap();
//! let mut batch = RecordBatchBuilder::new(Compression::None);
//! batch.push(1_000, None, Some(Bytes::from_static(b"hello")), Vec::new()).unwrap();
//! let outcome = log.append(batch.finish().unwrap(), 0).unwrap();
//! assert_eq!((outcome.base_offset, log.log_end_offset()), (0, 1));
//! assert!(!log.read(0, 1 << 20, true).unwrap().records.is_empty());
//! ```

mod config;
mod error;
mod header;
mod index;
mod partition;
mod producer_state;
mod recovery;
mod segment;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_peers;

pub use config::{FsyncPolicy, LogConfig};
pub use error::{AppendError, LogError, ReadError};
pub use partition::{AppendOutcome, PartitionLog, ReadResult};
pub use recovery::RecoveryReport;
