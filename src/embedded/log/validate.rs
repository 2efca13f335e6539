//! Checking the batches of a produce before anything is appended.

use bytes::Bytes;

use super::error::AppendError;
use super::header::{BatchHeader, HeaderFault};
use crate::protocol::error::DecodeError;
use crate::protocol::record::{DecodeOptions, RecordBatch, RecordError};

/// Kafka's `RecordBatch.NO_TIMESTAMP`.
const NO_TIMESTAMP: i64 = -1;

/// One batch of a produce that passed every check.
#[derive(Debug, Clone)]
pub(crate) struct CheckedBatch {
    /// Where it sits in the produce's `records`.
    pub start: usize,
    pub header: BatchHeader,
    /// The largest record timestamp, which the log stores as the batch's
    /// maxTimestamp whatever the client wrote there (see [`check_rules`]).
    pub max_timestamp: i64,
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
        let (max_timestamp, max_timestamp_delta) =
            check_rules(&batch).map_err(|reason| AppendError::InvalidRecord { batch: index, reason })?;
        checked.push(CheckedBatch { start, header, max_timestamp, max_timestamp_delta });
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

/// The rules Kafka's `LogValidator` applies to a client's batch; returns the largest
/// record timestamp and the offset delta of the first record that has it.
///
/// The batch's own maxTimestamp is not a rule: Kafka overwrites it with the largest
/// record timestamp (`setMaxTimestamp` in `LogValidator`), and real clients rely on
/// that. sarama 1.22 never sets it (it sends -1); rskafka truncates the record
/// deltas and the maximum to milliseconds separately, so its maxTimestamp can be 1 ms
/// past the largest record. Refusing those batches lost their records. As in Kafka,
/// the maximum starts at NO_TIMESTAMP (-1).
fn check_rules(batch: &RecordBatch) -> Result<(i64, i32), &'static str> {
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
    let mut max = (NO_TIMESTAMP, 0i32);
    for (delta, record) in (0i32..).zip(&batch.records) {
        if Some(record.offset) != batch.base_offset.checked_add(i64::from(delta)) {
            return Err("record offset deltas do not count up from 0");
        }
        let timestamp = batch.record_timestamp(record);
        if timestamp > max.0 {
            max = (timestamp, delta);
        }
    }
    Ok(max)
}
