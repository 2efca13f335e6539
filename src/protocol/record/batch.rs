//! The record batch (magic 2): its 61-byte header, and encoding and decoding of a
//! whole batch (`RECORD_BATCH.md`, "Batch header").

use bytes::{Buf, Bytes, BytesMut};

use super::compression::{self, Compression};
use super::control::ControlRecord;
use super::error::RecordError;
use super::record::{Deltas, Record, MIN_RECORD_SIZE};
use crate::protocol::error::DecodeError;
use crate::protocol::primitives::{
    read_i16, read_i32, read_i64, read_i8, read_u32, write_i16, write_i32, write_i64, write_i8, write_u32,
};

/// The magic byte of this format.
pub const MAGIC: i8 = 2;
/// Bytes before `batchLength` counts: baseOffset and batchLength themselves.
pub const LOG_OVERHEAD: usize = 12;
/// The size of the batch header, recordsCount included.
pub const HEADER_LEN: usize = 61;
/// Where the magic byte sits in every message format version.
const MAGIC_OFFSET: usize = 16;
/// Fills in `batchLength` and the CRC-32C of one whole encoded batch (header written by
/// [`RecordBatch::write_header`], records section after it).
pub(crate) fn seal(batch: &mut [u8]) -> Result<(), RecordError> {
    let size = batch.len();
    let length = size
        .checked_sub(LOG_OVERHEAD)
        .and_then(|length| i32::try_from(length).ok())
        .ok_or(RecordError::TooLarge { what: "RecordBatch", size })?;
    let header = batch.get_mut(..ATTRIBUTES_OFFSET).ok_or(RecordError::TooLarge { what: "RecordBatch", size })?;
    header[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Where the CRC sits; it covers everything from [`ATTRIBUTES_OFFSET`] on.
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
/// The smallest valid batchLength: an empty batch.
const MIN_BATCH_LENGTH: usize = HEADER_LEN - LOG_OVERHEAD;

const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
const DELETE_HORIZON_BIT: i16 = 0x40;

/// What the record timestamps of a batch mean (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer (0).
    #[default]
    CreateTime,
    /// Set by the broker on append (1); the batch's `max_timestamp` holds it.
    LogAppendTime,
}

/// Limits and checks applied by [`RecordBatch::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// The most bytes the records of one compressed batch may decompress to; more is
    /// [`RecordError::DecompressedTooLarge`], found before that much is allocated.
    /// Default: [`DecodeOptions::DEFAULT_MAX_DECOMPRESSED_SIZE`] (64 MiB).
    pub max_decompressed_size: usize,
    /// Whether to check each batch's CRC-32C. Default: `true`.
    pub verify_crc: bool,
}

impl DecodeOptions {
    /// The default decompression limit: 64 MiB, well above Kafka's default
    /// `message.max.bytes` (1 MiB) compressed at any realistic ratio.
    pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 << 20;

    /// Sets [`max_decompressed_size`](Self::max_decompressed_size), in bytes.
    pub fn with_max_decompressed_size(mut self, bytes: usize) -> Self {
        self.max_decompressed_size = bytes;
        self
    }

    /// Sets [`verify_crc`](Self::verify_crc).
    pub fn with_verify_crc(mut self, verify: bool) -> Self {
        self.verify_crc = verify;
        self
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self { max_decompressed_size: Self::DEFAULT_MAX_DECOMPRESSED_SIZE, verify_crc: true }
    }
}

/// A record batch in format v2 (magic 2): header fields and records.
///
/// [`encode`](Self::encode) writes the header fields as they are and computes each
/// record's deltas from `base_offset` and `base_timestamp`; [`RecordBatchBuilder`]
/// fills the header in for producers.
///
/// [`RecordBatchBuilder`]: super::RecordBatchBuilder
///
/// # Examples
///
/// ```
/// use actix_kafka::protocol::record::{DecodeOptions, Record, RecordBatch};
/// use bytes::{Bytes, BytesMut};
///
/// let batch = RecordBatch {
///     base_timestamp: 1_700_000_000_000,
///     max_timestamp: 1_700_000_000_000,
///     records: vec![Record {
///         offset: 0,
///         timestamp: 1_700_000_000_000,
///         value: Some(Bytes::from_static(b"hello")),
///         ..Record::default()
///     }],
///     ..RecordBatch::default()
/// };
/// let mut buf = BytesMut::new();
/// batch.encode(&mut buf).unwrap();
/// let decoded = RecordBatch::decode(&mut buf.freeze(), &DecodeOptions::default()).unwrap();
/// assert_eq!(decoded, batch);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordBatch {
    /// The offset of the first record (0 from producers; the broker assigns offsets).
    pub base_offset: i64,
    /// The leader epoch the broker appended the batch in; -1 when unknown.
    pub partition_leader_epoch: i32,
    /// How the records are compressed.
    pub compression: Compression,
    /// What the timestamps mean.
    pub timestamp_type: TimestampType,
    /// Part of a transaction.
    pub is_transactional: bool,
    /// Holds a control record (a transaction marker, or a KRaft record).
    pub is_control: bool,
    /// `base_timestamp` holds a delete horizon set by log compaction.
    pub has_delete_horizon: bool,
    /// The last record's offset minus `base_offset`.
    pub last_offset_delta: i32,
    /// The first record's timestamp (or the delete horizon); -1 for an empty batch.
    pub base_timestamp: i64,
    /// The largest record timestamp, or the append time for `LogAppendTime`.
    pub max_timestamp: i64,
    /// The idempotent producer's id; -1 when none.
    pub producer_id: i64,
    /// The idempotent producer's epoch; -1 when none.
    pub producer_epoch: i16,
    /// The first record's sequence number; -1 when none.
    pub base_sequence: i32,
    /// The records, with absolute offsets and timestamps.
    pub records: Vec<Record>,
}

impl Default for RecordBatch {
    /// An empty, uncompressed, non-idempotent batch at offset 0.
    fn default() -> Self {
        Self {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            is_transactional: false,
            is_control: false,
            has_delete_horizon: false,
            last_offset_delta: 0,
            base_timestamp: -1,
            max_timestamp: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records: Vec::new(),
        }
    }
}

/// What the front of a `records` field holds.
pub(crate) enum Frame {
    /// A whole batch of this many bytes.
    Complete(usize),
    /// The start of a batch that needs this many bytes, fewer being left.
    Truncated(usize),
}

/// Looks at the batch at the front of `buf`: checks its magic byte first, then its
/// `batchLength`, and says whether all of it is there.
pub(crate) fn frame(buf: &[u8]) -> Result<Frame, RecordError> {
    let Some(&magic) = buf.get(MAGIC_OFFSET) else {
        return Ok(Frame::Truncated(MAGIC_OFFSET + 1));
    };
    match i8::from_be_bytes([magic]) {
        MAGIC => {}
        magic @ (0 | 1) => return Err(RecordError::LegacyMessageFormat { magic }),
        magic => return Err(RecordError::InvalidMagic { magic }),
    }
    let length = buf.get(8..12).and_then(|b| b.try_into().ok()).map_or(0, i32::from_be_bytes);
    let total = match usize::try_from(length) {
        Ok(n) if n >= MIN_BATCH_LENGTH => n + LOG_OVERHEAD,
        _ => {
            let error = DecodeError::InvalidLength { what: "RecordBatch.batchLength", length: length.into() };
            return Err(error.into());
        }
    };
    Ok(if total <= buf.len() { Frame::Complete(total) } else { Frame::Truncated(total) })
}

impl RecordBatch {
    /// The attributes field for this batch's flags.
    pub fn attributes(&self) -> i16 {
        let mut attributes = self.compression.id();
        for (set, bit) in [
            (self.timestamp_type == TimestampType::LogAppendTime, TIMESTAMP_TYPE_BIT),
            (self.is_transactional, TRANSACTIONAL_BIT),
            (self.is_control, CONTROL_BIT),
            (self.has_delete_horizon, DELETE_HORIZON_BIT),
        ] {
            if set {
                attributes |= bit;
            }
        }
        attributes
    }

    /// The offset of the batch's last record (`base_offset + last_offset_delta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The timestamp a consumer reports for `record`: the batch's `max_timestamp`
    /// for `LogAppendTime` batches (the broker does not rewrite the records), the
    /// record's own timestamp otherwise.
    pub fn record_timestamp(&self, record: &Record) -> i64 {
        match self.timestamp_type {
            TimestampType::LogAppendTime => self.max_timestamp,
            TimestampType::CreateTime => record.timestamp,
        }
    }

    /// Parses a record of a control batch (`is_control`) as a [`ControlRecord`].
    ///
    /// # Errors
    ///
    /// [`RecordError::InvalidControlRecord`] when its key or value is malformed.
    pub fn control_record(record: &Record) -> Result<ControlRecord, RecordError> {
        ControlRecord::parse(record)
    }

    /// Appends the encoded batch to `buf`: the 61-byte header, then the records,
    /// compressed as one block unless `compression` is `None`; then fills in
    /// `batchLength` and the CRC-32C. The output depends only on `self`.
    ///
    /// An empty batch is written as a bare header, whatever its compression (as log
    /// compaction leaves them).
    ///
    /// # Errors
    ///
    /// [`RecordError::OffsetDeltaOutOfRange`] for a record more than `i32` away from
    /// `base_offset`, [`RecordError::TooLarge`] for a batch over 2 GiB,
    /// [`RecordError::CompressionUnavailable`] for a codec not compiled in. On error
    /// `buf` is left as it was.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), RecordError> {
        let start = buf.len();
        let result = self.encode_at(buf, start);
        if result.is_err() {
            buf.truncate(start);
        }
        result
    }

    fn encode_at(&self, buf: &mut BytesMut, start: usize) -> Result<(), RecordError> {
        let count = self.records.len();
        let count = i32::try_from(count)
            .map_err(|_| RecordError::TooLarge { what: "RecordBatch.recordsCount", size: count })?;
        self.write_header(buf, count);
        if !self.records.is_empty() {
            if self.compression == Compression::None {
                self.encode_records(buf)?;
            } else {
                let mut raw = BytesMut::new();
                self.encode_records(&mut raw)?;
                compression::compress(self.compression, &raw, buf)?;
            }
        }
        seal(&mut buf[start..])
    }

    /// Writes the batch's header ([`HEADER_LEN`] bytes) for `count` records, with
    /// `batchLength` and the CRC left 0 for [`seal`]. `self.records` is not looked at.
    pub(crate) fn write_header(&self, buf: &mut BytesMut, count: i32) {
        write_i64(buf, self.base_offset);
        write_i32(buf, 0); // batchLength, filled in by `seal`
        write_i32(buf, self.partition_leader_epoch);
        write_i8(buf, MAGIC);
        write_u32(buf, 0); // crc, filled in by `seal`
        write_i16(buf, self.attributes());
        write_i32(buf, self.last_offset_delta);
        write_i64(buf, self.base_timestamp);
        write_i64(buf, self.max_timestamp);
        write_i64(buf, self.producer_id);
        write_i16(buf, self.producer_epoch);
        write_i32(buf, self.base_sequence);
        write_i32(buf, count);
    }

    fn encode_records(&self, buf: &mut BytesMut) -> Result<(), RecordError> {
        for record in &self.records {
            let deltas = Deltas::new(record, self.base_offset, self.base_timestamp)?;
            record.encode(buf, &deltas)?;
        }
        Ok(())
    }

    /// Reads one batch from the front of `buf`, advancing it past the batch.
    ///
    /// The magic byte (offset 16, where every format version has it) is checked
    /// first. Legacy message sets (magic 0 and 1) are refused with
    /// [`RecordError::LegacyMessageFormat`]: Kafka 2.1+ writes magic 2 by default,
    /// and Kafka 4.0 removed the old formats, so a broker we talk to only returns
    /// them for logs written before 0.11 that were never converted.
    ///
    /// Uncompressed records are not copied: keys, values and header values are
    /// slices of `buf`. Compressed records are decompressed into one buffer, at most
    /// `opts.max_decompressed_size` bytes, and sliced from it.
    ///
    /// # Errors
    ///
    /// [`RecordError::Decode`] for a truncated or malformed batch,
    /// [`RecordError::CrcMismatch`], [`RecordError::InvalidMagic`],
    /// [`RecordError::LegacyMessageFormat`], [`RecordError::DecompressedTooLarge`],
    /// [`RecordError::Decompress`], [`RecordError::CompressionUnavailable`]. Never a
    /// panic, whatever the bytes.
    pub fn decode(buf: &mut Bytes, opts: &DecodeOptions) -> Result<RecordBatch, RecordError> {
        match frame(buf)? {
            Frame::Complete(size) => Self::decode_whole(buf.split_to(size), opts),
            Frame::Truncated(needed) => {
                Err(DecodeError::UnexpectedEof { what: "RecordBatch", needed, remaining: buf.len() }.into())
            }
        }
    }

    /// Decodes exactly one batch whose frame was checked by [`frame`].
    pub(crate) fn decode_whole(mut buf: Bytes, opts: &DecodeOptions) -> Result<RecordBatch, RecordError> {
        let computed = crc32c::crc32c(buf.get(ATTRIBUTES_OFFSET..).unwrap_or_default());
        let base_offset = read_i64(&mut buf, "RecordBatch.baseOffset")?;
        let _length = read_i32(&mut buf, "RecordBatch.batchLength")?;
        let partition_leader_epoch = read_i32(&mut buf, "RecordBatch.partitionLeaderEpoch")?;
        let _magic = read_i8(&mut buf, "RecordBatch.magic")?;
        let expected = read_u32(&mut buf, "RecordBatch.crc")?;
        if opts.verify_crc && expected != computed {
            return Err(RecordError::CrcMismatch { expected, computed });
        }
        let attributes = read_i16(&mut buf, "RecordBatch.attributes")?;
        let mut batch = RecordBatch {
            base_offset,
            partition_leader_epoch,
            compression: Compression::from_attributes(attributes)?,
            timestamp_type: match attributes & TIMESTAMP_TYPE_BIT {
                0 => TimestampType::CreateTime,
                _ => TimestampType::LogAppendTime,
            },
            is_transactional: attributes & TRANSACTIONAL_BIT != 0,
            is_control: attributes & CONTROL_BIT != 0,
            has_delete_horizon: attributes & DELETE_HORIZON_BIT != 0,
            last_offset_delta: read_i32(&mut buf, "RecordBatch.lastOffsetDelta")?,
            base_timestamp: read_i64(&mut buf, "RecordBatch.baseTimestamp")?,
            max_timestamp: read_i64(&mut buf, "RecordBatch.maxTimestamp")?,
            producer_id: read_i64(&mut buf, "RecordBatch.producerId")?,
            producer_epoch: read_i16(&mut buf, "RecordBatch.producerEpoch")?,
            base_sequence: read_i32(&mut buf, "RecordBatch.baseSequence")?,
            records: Vec::new(),
        };
        let count = read_i32(&mut buf, "RecordBatch.recordsCount")?;
        let count = usize::try_from(count)
            .map_err(|_| DecodeError::InvalidLength { what: "RecordBatch.recordsCount", length: count.into() })?;
        batch.records = batch.decode_records(buf, count, opts)?;
        Ok(batch)
    }

    /// Reads `count` records from the records section.
    ///
    /// As in Kafka's `DefaultRecordBatch`, the records of a compressed batch with a
    /// count of 0 (an empty batch left by compaction) are not decompressed.
    fn decode_records(&self, section: Bytes, count: usize, opts: &DecodeOptions) -> Result<Vec<Record>, RecordError> {
        if count == 0 && self.compression != Compression::None {
            return Ok(Vec::new());
        }
        let mut data = compression::decompress(self.compression, section, opts.max_decompressed_size)?;
        if count > data.remaining() / MIN_RECORD_SIZE {
            let length = i64::try_from(count).unwrap_or(i64::MAX);
            return Err(DecodeError::InvalidLength { what: "RecordBatch.recordsCount", length }.into());
        }
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            records.push(Record::decode(&mut data, self.base_offset, self.base_timestamp)?);
        }
        if data.has_remaining() {
            return Err(DecodeError::TrailingBytes { what: "RecordBatch.records", remaining: data.remaining() }.into());
        }
        Ok(records)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::BufMut;

    use super::*;
    use crate::protocol::record::{RecordBatches, RecordHeader};

    /// A batch from its raw parts, with a correct batchLength and CRC.
    pub(crate) fn assemble(attributes: i16, count: i32, section: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i64(0);
        buf.put_i32(i32::try_from(MIN_BATCH_LENGTH + section.len()).unwrap());
        buf.put_i32(-1);
        buf.put_i8(MAGIC);
        buf.put_u32(0);
        buf.put_i16(attributes);
        buf.put_i32(0);
        buf.put_i64(0);
        buf.put_i64(0);
        buf.put_i64(-1);
        buf.put_i16(-1);
        buf.put_i32(-1);
        buf.put_i32(count);
        buf.put_slice(section);
        let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..]);
        buf[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
        buf.freeze()
    }

    const TS: i64 = 1_600_000_000_000;

    fn fixture_batch() -> RecordBatch {
        RecordBatch {
            base_offset: 16,
            partition_leader_epoch: 5,
            last_offset_delta: 1,
            base_timestamp: TS,
            max_timestamp: TS + 5,
            records: vec![
                Record {
                    offset: 16,
                    timestamp: TS,
                    key: Some(Bytes::from_static(b"k")),
                    value: Some(Bytes::from_static(b"v1")),
                    headers: vec![],
                },
                Record {
                    offset: 17,
                    timestamp: TS + 5,
                    key: None,
                    value: Some(Bytes::from_static(b"v2")),
                    headers: vec![RecordHeader { key: "h".into(), value: None }],
                },
            ],
            ..RecordBatch::default()
        }
    }

    /// The fixture's bytes, field by field from the table in `RECORD_BATCH.md`.
    fn fixture_bytes() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&16i64.to_be_bytes()); // baseOffset
        b.extend_from_slice(&71i32.to_be_bytes()); // batchLength = 49 + 22 bytes of records
        b.extend_from_slice(&5i32.to_be_bytes()); // partitionLeaderEpoch
        b.push(2); // magic
        b.extend_from_slice(&0x6be4_3653u32.to_be_bytes()); // crc, computed independently (see below)
        b.extend_from_slice(&0i16.to_be_bytes()); // attributes: none, CreateTime
        b.extend_from_slice(&1i32.to_be_bytes()); // lastOffsetDelta
        b.extend_from_slice(&0x0000_0174_876e_8000i64.to_be_bytes()); // baseTimestamp = TS
        b.extend_from_slice(&0x0000_0174_876e_8005i64.to_be_bytes()); // maxTimestamp = TS + 5
        b.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
        b.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
        b.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
        b.extend_from_slice(&2i32.to_be_bytes()); // recordsCount
        #[rustfmt::skip]
        b.extend_from_slice(&[
            // record 0: length 9, attributes, timestampDelta 0, offsetDelta 0,
            // key "k", value "v1", no headers
            0x12, 0x00, 0x00, 0x00, 0x02, b'k', 0x04, b'v', b'1', 0x00,
            // record 1: length 11, attributes, timestampDelta 5, offsetDelta 1,
            // key null, value "v2", 1 header "h" => null
            0x16, 0x00, 0x0a, 0x02, 0x01, 0x04, b'v', b'2', 0x02, 0x02, b'h', 0x01,
        ]);
        b
    }

    /// A bitwise CRC-32C (reflected polynomial 0x82F63B78), to check the crate against.
    fn reference_crc32c(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(reference_crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(reference_crc32c(&fixture_bytes()[21..]), 0x6be4_3653);
    }

    #[test]
    fn byte_exact_fixture() {
        let expected = fixture_bytes();
        let mut buf = BytesMut::new();
        fixture_batch().encode(&mut buf).unwrap();
        assert_eq!(&buf[..], &expected[..]);

        let mut input = Bytes::from(expected);
        let decoded = RecordBatch::decode(&mut input, &DecodeOptions::default()).unwrap();
        assert!(input.is_empty());
        assert_eq!(decoded, fixture_batch());
        assert_eq!(decoded.last_offset(), 17);
    }

    #[test]
    fn encode_appends_and_sets_every_attribute_bit() {
        let batch = RecordBatch {
            compression: Compression::Snappy,
            timestamp_type: TimestampType::LogAppendTime,
            is_transactional: true,
            is_control: true,
            has_delete_horizon: true,
            ..fixture_batch()
        };
        assert_eq!(batch.attributes(), 0x7a);
        let mut buf = BytesMut::from(&b"prefix"[..]);
        batch.encode(&mut buf).unwrap();
        let mut input = buf.freeze().slice(6..);
        let decoded = RecordBatch::decode(&mut input, &DecodeOptions::default()).unwrap();
        assert_eq!(decoded, batch);
        assert_eq!(decoded.record_timestamp(&decoded.records[0]), TS + 5);
    }

    #[test]
    fn a_failed_encode_leaves_the_buffer_as_it_was() {
        let mut batch = fixture_batch();
        batch.records[1].offset = i64::MAX;
        let mut buf = BytesMut::from(&b"prefix"[..]);
        assert!(matches!(batch.encode(&mut buf), Err(RecordError::OffsetDeltaOutOfRange { .. })));
        assert_eq!(&buf[..], b"prefix");
    }

    #[test]
    fn legacy_and_unknown_magic_are_refused_first() {
        let mut legacy = fixture_bytes();
        legacy[16] = 1;
        let err = RecordBatch::decode(&mut Bytes::from(legacy.clone()), &DecodeOptions::default()).unwrap_err();
        assert_eq!(err, RecordError::LegacyMessageFormat { magic: 1 });
        // Even when the rest would not parse as a batch at all.
        legacy.truncate(20);
        let err = decode_batches_err(legacy);
        assert_eq!(err, RecordError::LegacyMessageFormat { magic: 1 });

        let mut v0 = fixture_bytes();
        v0[16] = 0;
        assert_eq!(decode_batches_err(v0), RecordError::LegacyMessageFormat { magic: 0 });
        let mut v3 = fixture_bytes();
        v3[16] = 3;
        assert_eq!(decode_batches_err(v3), RecordError::InvalidMagic { magic: 3 });
    }

    fn decode_batches_err(bytes: Vec<u8>) -> RecordError {
        crate::protocol::record::decode_batches(Bytes::from(bytes), &DecodeOptions::default()).unwrap_err()
    }

    #[test]
    fn crc_mismatch_and_skipping_the_check() {
        let mut bytes = fixture_bytes();
        bytes[60] ^= 0x01; // recordsCount 2 -> 3
        let err = RecordBatch::decode(&mut Bytes::from(bytes.clone()), &DecodeOptions::default()).unwrap_err();
        assert!(matches!(err, RecordError::CrcMismatch { expected: 0x6be4_3653, .. }));
        let opts = DecodeOptions::default().with_verify_crc(false);
        // Without the check the count mismatch is still found.
        assert!(RecordBatch::decode(&mut Bytes::from(bytes), &opts).is_err());
        // The leader epoch is outside the CRC.
        let mut bytes = fixture_bytes();
        bytes[12] = 0x7f;
        assert!(RecordBatch::decode(&mut Bytes::from(bytes), &DecodeOptions::default()).is_ok());
    }

    #[test]
    fn a_huge_record_count_allocates_nothing() {
        let section = &fixture_bytes()[61..];
        for count in [i32::MAX, 1 << 30, 3, -1] {
            let err = RecordBatch::decode(&mut assemble(0, count, section), &DecodeOptions::default()).unwrap_err();
            assert!(matches!(err, RecordError::Decode(_)), "{count}: {err:?}");
        }
        // Compressed: checked against the decompressed bytes.
        let mut packed = BytesMut::new();
        compression::compress(Compression::Zstd, section, &mut packed).unwrap();
        let err = RecordBatch::decode(&mut assemble(4, i32::MAX, &packed), &DecodeOptions::default()).unwrap_err();
        assert!(matches!(err, RecordError::Decode(DecodeError::InvalidLength { .. })), "{err:?}");
    }

    #[test]
    fn trailing_bytes_after_the_records_are_an_error() {
        let mut section = fixture_bytes()[61..].to_vec();
        section.push(0);
        let err = RecordBatch::decode(&mut assemble(0, 2, &section), &DecodeOptions::default()).unwrap_err();
        assert!(matches!(err, RecordError::Decode(DecodeError::TrailingBytes { .. })), "{err:?}");
    }

    #[test]
    fn an_empty_compressed_batch_is_not_decompressed() {
        // As compaction leaves them: compression bits set, no records section.
        let batch = RecordBatch::decode(&mut assemble(2, 0, &[]), &DecodeOptions::default()).unwrap();
        assert_eq!(batch.compression, Compression::Snappy);
        assert!(batch.records.is_empty());
        let mut buf = BytesMut::new();
        batch.encode(&mut buf).unwrap();
        assert_eq!(buf.len(), HEADER_LEN);
    }

    #[test]
    fn unknown_codec_ids_are_errors() {
        let err = RecordBatch::decode(&mut assemble(6, 0, &[]), &DecodeOptions::default()).unwrap_err();
        assert_eq!(err, RecordError::UnknownCompression { id: 6 });
    }

    /// 64 MiB of zeros in each codec, built from one compressed MiB repeated (gzip
    /// members, lz4 and zstd frames, and xerial blocks all concatenate), so the test
    /// never holds the 64 MiB itself.
    fn bomb(codec: Compression) -> Vec<u8> {
        let mut one = BytesMut::new();
        compression::compress(codec, &vec![0u8; 1 << 20], &mut one).unwrap();
        let (header, body) = if codec == Compression::Snappy { one.split_at(16) } else { one.split_at(0) };
        let mut out = header.to_vec();
        for _ in 0..64 {
            out.extend_from_slice(body);
        }
        out
    }

    #[test]
    fn decompression_bombs_stop_at_the_limit() {
        let opts = DecodeOptions::default().with_max_decompressed_size(1 << 20);
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let section = bomb(codec);
            let input = assemble(codec.id(), 1, &section);
            let err = RecordBatch::decode(&mut input.clone(), &opts).unwrap_err();
            assert_eq!(err, RecordError::DecompressedTooLarge { limit: 1 << 20 }, "{codec}");
            // The same bomb within a larger limit is merely a bad record.
            let opts = DecodeOptions::default().with_max_decompressed_size(65 << 20);
            let err = RecordBatch::decode(&mut input.clone(), &opts).unwrap_err();
            assert!(matches!(err, RecordError::Decode(_)), "{codec}: {err:?}");
            let mut batches = RecordBatches::new(input, &opts);
            assert!(batches.next().unwrap().is_err());
        }
    }
}
