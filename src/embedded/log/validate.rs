//! Checking the batches of a produce before anything is appended.

use bytes::Bytes;

use super::error::AppendError;
use super::header::{BatchHeader, HeaderFault};
use crate::protocol::error::DecodeError;
use crate::protocol::record::{DecodeOptions, RecordBatch, RecordError, TimestampType};

/// One batch of a produce that passed every check.
#[derive(Debug, Clone)]
pub(crate) struct CheckedBatch {
    /// Where it sits in the produce's `records`.
    pub start: usize,
    pub header: BatchHeader,
    /// The offset delta of its first record with the largest timestamp.
    pub max_timestamp_delta: i32,
}

/// Checks every batch in `records`: framing, magic, size, CRC, record structure
/// (decompressing if need be), and the log's rules.
pub(crate) fn check_batches(records: &Bytes, max_message_bytes: usize) -> Result<Vec<CheckedBatch>, AppendError> {
    if records.is_empty() {
        return Err(AppendError::InvalidRecord { batch: 0, reason: "the produce holds no record batch" });
    }
    let opts = DecodeOptions::default();
    let mut checked = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let index = checked.len();
        let rest = &records[start..];
        let header = BatchHeader::parse(rest, rest.len()).map_err(|fault| framing_error(index, fault, rest.len()))?;
        if header.size > max_message_bytes {
            return Err(AppendError::MessageTooLarge { batch: index, size: header.size, max: max_message_bytes });
        }
        let mut bytes = records.slice(start..start + header.size);
        let batch = RecordBatch::decode(&mut bytes, &opts).map_err(|error| record_error(index, error))?;
        let max_timestamp_delta =
            check_rules(&batch).map_err(|reason| AppendError::InvalidRecord { batch: index, reason })?;
        checked.push(CheckedBatch { start, header, max_timestamp_delta });
        start += header.size;
    }
    Ok(checked)
}

fn framing_error(batch: usize, fault: HeaderFault, remaining: usize) -> AppendError {
    let source = match fault {
        HeaderFault::Magic(magic @ (0 | 1)) => return AppendError::UnsupportedForMessageFormat { batch, magic },
        HeaderFault::Magic(magic) => RecordError::InvalidMagic { magic },
        HeaderFault::Truncated => DecodeError::UnexpectedEof { what: "RecordBatch", needed: 61, remaining }.into(),
        HeaderFault::Length => DecodeError::InvalidLength { what: "RecordBatch.batchLength", length: -1 }.into(),
    };
    AppendError::CorruptMessage { batch, source }
}

fn record_error(batch: usize, source: RecordError) -> AppendError {
    match source {
        RecordError::LegacyMessageFormat { magic } => AppendError::UnsupportedForMessageFormat { batch, magic },
        source @ RecordError::CompressionUnavailable { .. } => {
            AppendError::UnsupportedCompressionType { batch, source }
        }
        source => AppendError::CorruptMessage { batch, source },
    }
}

/// The rules Kafka's `LogValidator` applies to a client's batch; returns the offset
/// delta of the first record with the largest timestamp.
fn check_rules(batch: &RecordBatch) -> Result<i32, &'static str> {
    if batch.is_control {
        return Err("clients may not write control batches");
    }
    if batch.records.is_empty() {
        return Err("the batch has no records");
    }
    if usize::try_from(batch.last_offset_delta).ok().and_then(|delta| delta.checked_add(1)) != Some(batch.records.len())
    {
        return Err("the record count does not match lastOffsetDelta");
    }
    if batch.producer_id >= 0 && batch.base_sequence < 0 {
        return Err("an idempotent batch without a base sequence");
    }
    if batch.producer_id < 0 && batch.is_transactional {
        return Err("a transactional batch without a producer id");
    }
    let mut max = (i64::MIN, 0i32);
    for (delta, record) in (0i32..).zip(&batch.records) {
        if Some(record.offset) != batch.base_offset.checked_add(i64::from(delta)) {
            return Err("record offset deltas do not count up from 0");
        }
        let timestamp = batch.record_timestamp(record);
        if timestamp > max.0 {
            max = (timestamp, delta);
        }
    }
    if batch.timestamp_type == TimestampType::CreateTime && max.0 != batch.max_timestamp {
        return Err("maxTimestamp is not the largest record timestamp");
    }
    Ok(max.1)
}
