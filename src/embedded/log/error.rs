//! The log layer's error types: one for opening and storage, one per operation.

use std::io;
use std::path::PathBuf;

use crate::protocol::record::RecordError;
use crate::protocol::ErrorCode;

/// Opening, recovering or writing the log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A file system operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A segment that is not the last holds an invalid batch, or the directory's
    /// segments do not fit together. Recovery truncates only the last segment's tail;
    /// anything earlier is acknowledged data and is never dropped silently.
    #[error("corrupt log segment {} at byte {position}: {reason}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Where in the file the problem starts.
        position: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The configuration cannot be used.
    #[error("invalid log configuration: {reason}")]
    InvalidConfig {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The next offset would pass `i64::MAX`.
    #[error("offset overflow: the log ends at {next_offset}")]
    OffsetOverflow {
        /// The log end offset.
        next_offset: i64,
    },
    /// An earlier write failed and could not be rolled back; the log refuses further
    /// appends until it is reopened (which recovers it).
    #[error("the log is offline after a failed write; reopen it to recover")]
    Offline,
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io { path: path.into(), source }
    }
}

/// A produce that was refused; nothing of it was appended.
///
/// `batch` fields count the batches of the `records` passed to
/// [`append`](super::PartitionLog::append) from 0.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// A batch whose bytes do not hold together: its CRC, its length, its structure.
    #[error("corrupt batch {batch}: {source}")]
    CorruptMessage {
        /// Which batch.
        batch: usize,
        /// What the record layer found.
        #[source]
        source: RecordError,
    },
    /// A well-formed batch that breaks a rule of the log: no batches at all, a record
    /// count that disagrees with the offset range, a control batch from a client, an
    /// idempotent batch without a sequence.
    #[error("invalid batch {batch}: {reason}")]
    InvalidRecord {
        /// Which batch.
        batch: usize,
        /// The rule broken.
        reason: &'static str,
    },
    /// A batch larger than `max_message_bytes`.
    #[error("batch {batch} is {size} bytes, more than the {max}-byte limit")]
    MessageTooLarge {
        /// Which batch.
        batch: usize,
        /// Its size, log overhead included.
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// A legacy message set (magic 0 or 1).
    #[error("batch {batch} has message format magic {magic}; only magic 2 is accepted")]
    UnsupportedForMessageFormat {
        /// Which batch.
        batch: usize,
        /// The magic byte found.
        magic: i8,
    },
    /// A compression codec this build cannot decompress to validate.
    #[error("batch {batch} uses a compression codec that is not compiled in: {source}")]
    UnsupportedCompressionType {
        /// Which batch.
        batch: usize,
        /// What the record layer found.
        #[source]
        source: RecordError,
    },
    /// An idempotent batch whose first sequence does not follow the producer's last.
    #[error("producer {producer_id} epoch {epoch}: sequence {found}, expected {expected}")]
    OutOfOrderSequenceNumber {
        /// The producer.
        producer_id: i64,
        /// Its epoch.
        epoch: i16,
        /// The sequence that would have been in order.
        expected: i32,
        /// The batch's first sequence.
        found: i32,
    },
    /// An idempotent batch from an epoch older than the producer's current one: the
    /// producer was fenced.
    #[error("producer {producer_id}: epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The epoch the log knows.
        current: i16,
    },
    /// An idempotent batch with a sequence other than 0 from a producer the log does
    /// not know (never seen, or forgotten).
    #[error("unknown producer {producer_id} sent sequence {sequence}")]
    UnknownProducerId {
        /// The producer.
        producer_id: i64,
        /// The batch's first sequence.
        sequence: i32,
    },
    /// Writing failed.
    #[error(transparent)]
    Storage(#[from] LogError),
}

impl AppendError {
    /// The Kafka error code for the produce response.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AppendError::CorruptMessage { .. } => ErrorCode::CorruptMessage,
            AppendError::InvalidRecord { .. } => ErrorCode::InvalidRecord,
            AppendError::MessageTooLarge { .. } => ErrorCode::MessageTooLarge,
            AppendError::UnsupportedForMessageFormat { .. } => ErrorCode::UnsupportedForMessageFormat,
            AppendError::UnsupportedCompressionType { .. } => ErrorCode::UnsupportedCompressionType,
            AppendError::OutOfOrderSequenceNumber { .. } => ErrorCode::OutOfOrderSequenceNumber,
            AppendError::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            AppendError::UnknownProducerId { .. } => ErrorCode::UnknownProducerId,
            AppendError::Storage(_) => ErrorCode::KafkaStorageError,
        }
    }
}

/// A read that cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The offset is before the log start or after the log end.
    #[error("offset {offset} is outside the log [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The log start offset.
        log_start: i64,
        /// The log end offset.
        log_end: i64,
    },
    /// Reading the segment failed.
    #[error(transparent)]
    Storage(#[from] LogError),
}

impl ReadError {
    /// The Kafka error code for the fetch response.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ReadError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            ReadError::Storage(_) => ErrorCode::KafkaStorageError,
        }
    }
}
