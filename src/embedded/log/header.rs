//! The raw batch header: the few fields the log reads and writes without decoding
//! records (`RECORD_BATCH.md`, "Batch header").

use crate::protocol::record::{HEADER_LEN, LOG_OVERHEAD, MAGIC};

/// Where the magic byte sits in every message format.
const MAGIC_OFFSET: usize = 16;
/// Where the CRC-32C sits; it covers every byte from [`ATTRIBUTES_OFFSET`] on.
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
/// maxTimestamp: inside the CRC.
const MAX_TIMESTAMP_RANGE: std::ops::Range<usize> = 35..43;
const CONTROL_BIT: i16 = 0x20;
/// baseOffset: outside the CRC, set by the log on append.
pub(crate) const BASE_OFFSET_RANGE: std::ops::Range<usize> = 0..8;
/// partitionLeaderEpoch: outside the CRC, set by the log on append.
pub(crate) const LEADER_EPOCH_RANGE: std::ops::Range<usize> = 12..16;

/// The header fields of a batch that the log keeps or checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    /// The whole batch, log overhead included.
    pub size: usize,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

/// Why the bytes at a position are not a whole, valid batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderFault {
    /// Fewer bytes than the header or the batch length claims.
    Truncated,
    /// Magic other than 2.
    Magic(i8),
    /// batchLength shorter than an empty batch.
    Length,
}

fn be<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[at..at + N]);
    out
}

impl BatchHeader {
    /// Reads the header at the front of `buf`, which holds `available` bytes of
    /// batch from there on (`buf` may be just the header). Checks the magic byte
    /// first, then that batchLength is sane and fits in `available`.
    pub(crate) fn parse(buf: &[u8], available: usize) -> Result<BatchHeader, HeaderFault> {
        let Some(&magic) = buf.get(MAGIC_OFFSET) else {
            return Err(HeaderFault::Truncated);
        };
        let magic = i8::from_be_bytes([magic]);
        if magic != MAGIC {
            return Err(HeaderFault::Magic(magic));
        }
        if buf.len() < HEADER_LEN {
            return Err(HeaderFault::Truncated);
        }
        let length = i32::from_be_bytes(be(buf, 8));
        let size = match usize::try_from(length) {
            Ok(n) if n >= HEADER_LEN - LOG_OVERHEAD => n + LOG_OVERHEAD,
            _ => return Err(HeaderFault::Length),
        };
        if size > available {
            return Err(HeaderFault::Truncated);
        }
        Ok(BatchHeader {
            base_offset: i64::from_be_bytes(be(buf, 0)),
            size,
            attributes: i16::from_be_bytes(be(buf, ATTRIBUTES_OFFSET)),
            last_offset_delta: i32::from_be_bytes(be(buf, 23)),
            max_timestamp: i64::from_be_bytes(be(buf, MAX_TIMESTAMP_RANGE.start)),
            producer_id: i64::from_be_bytes(be(buf, 43)),
            producer_epoch: i16::from_be_bytes(be(buf, 51)),
            base_sequence: i32::from_be_bytes(be(buf, 53)),
        })
    }

    /// The offset of the batch's last record.
    pub(crate) fn last_offset(&self) -> Option<i64> {
        self.base_offset.checked_add(i64::from(self.last_offset_delta))
    }

    /// Whether the batch comes from an idempotent (or transactional) producer.
    pub(crate) fn is_idempotent(&self) -> bool {
        self.producer_id >= 0 && self.attributes & CONTROL_BIT == 0
    }

    /// The sequence number of the batch's last record.
    pub(crate) fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// `sequence + increment`, wrapping from `i32::MAX` to 0 as Kafka's sequences do.
/// A negative increment (never valid in a checked batch) counts as 0.
pub(crate) fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    let increment = increment.max(0);
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Whether the CRC-32C stored in the whole batch `batch` matches its bytes.
pub(crate) fn crc_matches(batch: &[u8]) -> bool {
    match (batch.get(CRC_OFFSET..ATTRIBUTES_OFFSET), batch.get(ATTRIBUTES_OFFSET..)) {
        (Some(stored), Some(covered)) => stored == crc32c::crc32c(covered).to_be_bytes(),
        _ => false,
    }
}

/// Writes `max_timestamp` into the whole batch `batch` and recomputes its CRC-32C,
/// which covers that field. Does nothing to a slice shorter than a batch header.
pub(crate) fn set_max_timestamp(batch: &mut [u8], max_timestamp: i64) {
    if batch.len() < HEADER_LEN {
        return;
    }
    batch[MAX_TIMESTAMP_RANGE].copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(i32::MAX, 0), i32::MAX);
    }

    #[test]
    fn short_and_bad_headers_are_faults_not_panics() {
        assert_eq!(BatchHeader::parse(&[], 0), Err(HeaderFault::Truncated));
        let mut buf = [0u8; 61];
        assert_eq!(BatchHeader::parse(&buf, 61), Err(HeaderFault::Magic(0)));
        buf[16] = 2;
        assert_eq!(BatchHeader::parse(&buf[..30], 30), Err(HeaderFault::Truncated));
        assert_eq!(BatchHeader::parse(&buf, 61), Err(HeaderFault::Length));
        buf[8..12].copy_from_slice(&49i32.to_be_bytes());
        assert_eq!(BatchHeader::parse(&buf, 61).map(|h| h.size), Ok(61));
        assert_eq!(BatchHeader::parse(&buf, 60), Err(HeaderFault::Truncated));
        assert!(!crc_matches(&buf[..10]));
    }
}
