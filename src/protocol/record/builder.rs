//! Building a producer's batch one record at a time.

use bytes::{Bytes, BytesMut};

use super::batch::{seal, RecordBatch, TimestampType, HEADER_LEN};
use super::compression::{self, Compression};
use super::error::RecordError;
use super::record::{Deltas, Record, RecordHeader, RecordParts};

/// Collects records into a batch the way the Java producer does: base offset 0
/// (the broker assigns offsets), the first record's timestamp as base timestamp, and
/// the producer id, epoch and base sequence of an idempotent producer if set.
///
/// [`estimated_size`](Self::estimated_size) is the exact uncompressed size of the
/// batch so far, so a producer can close a batch before it passes `batch.size`.
///
/// # Examples
///
/// ```
/// use actix_kafka::protocol::record::{decode_batches, Compression, DecodeOptions, RecordBatchBuilder};
/// use bytes::Bytes;
///
/// let mut builder = RecordBatchBuilder::new(Compression::Lz4).producer_id(4).producer_epoch(0).base_sequence(10);
/// builder.push(1_000, None, Some(Bytes::from_static(b"a")), Vec::new()).unwrap();
/// builder.push(1_005, Some(Bytes::from_static(b"k")), None, Vec::new()).unwrap();
/// assert_eq!(builder.len(), 2);
/// let bytes = builder.finish().unwrap();
///
/// let batch = &decode_batches(bytes, &DecodeOptions::default()).unwrap()[0];
/// assert_eq!((batch.base_sequence, batch.last_offset_delta, batch.max_timestamp), (10, 1, 1_005));
/// assert_eq!(batch.records[1].offset, 1);
/// ```
///
/// Records are encoded as they are pushed, into the buffer the batch is sent from:
/// the builder keeps no per-record structures and copies each key and value once.
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    compression: Compression,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    is_transactional: bool,
    count: usize,
    base_timestamp: i64,
    max_timestamp: i64,
    /// [`HEADER_LEN`] bytes for the header (written by [`finish`](Self::finish)),
    /// then the encoded, uncompressed records.
    buf: BytesMut,
}

impl RecordBatchBuilder {
    /// An empty builder for a batch compressed with `compression`, with no producer
    /// id (-1), epoch (-1) or base sequence (-1), not transactional.
    pub fn new(compression: Compression) -> Self {
        Self::with_capacity(compression, 0)
    }

    /// As [`new`](Self::new), with room for `bytes` bytes of encoded records, so a
    /// producer that knows about how much it will push grows no buffer.
    pub fn with_capacity(compression: Compression, bytes: usize) -> Self {
        let mut buf = BytesMut::with_capacity(HEADER_LEN.saturating_add(bytes));
        buf.resize(HEADER_LEN, 0);
        Self {
            compression,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            is_transactional: false,
            count: 0,
            base_timestamp: -1,
            max_timestamp: -1,
            buf,
        }
    }

    /// Sets the idempotent producer's id (default -1, none).
    pub fn producer_id(mut self, producer_id: i64) -> Self {
        self.producer_id = producer_id;
        self
    }

    /// Sets the idempotent producer's epoch (default -1, none).
    pub fn producer_epoch(mut self, producer_epoch: i16) -> Self {
        self.producer_epoch = producer_epoch;
        self
    }

    /// Sets the sequence number of the first record (default -1, none).
    pub fn base_sequence(mut self, base_sequence: i32) -> Self {
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction (default `false`).
    pub fn transactional(mut self, is_transactional: bool) -> Self {
        self.is_transactional = is_transactional;
        self
    }

    /// Appends a record with this timestamp (milliseconds), key, value and headers.
    ///
    /// # Errors
    ///
    /// [`RecordError::TooLarge`] after 2^31 - 1 records,
    /// [`RecordError::Encode`] for a key, value or header over 2 GiB. The builder is
    /// unchanged on error.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<Bytes>,
        value: Option<Bytes>,
        headers: Vec<RecordHeader>,
    ) -> Result<(), RecordError> {
        self.push_parts(timestamp, RecordParts { key: key.as_deref(), value: value.as_deref(), headers: &headers })
    }

    /// As [`push`](Self::push), from borrowed parts: nothing is cloned.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn push_ref(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> Result<(), RecordError> {
        self.push_parts(timestamp, RecordParts { key, value, headers })
    }

    fn push_parts(&mut self, timestamp: i64, parts: RecordParts<'_>) -> Result<(), RecordError> {
        let offset = i32::try_from(self.count)
            .ok()
            .filter(|offset| *offset < i32::MAX)
            .ok_or(RecordError::TooLarge { what: "RecordBatch.recordsCount", size: self.count })?;
        let base_timestamp = if self.count == 0 { timestamp } else { self.base_timestamp };
        // Timestamps wrap, as in `Deltas::new`: every pair has a delta that adds back.
        let deltas = Deltas { offset, timestamp: timestamp.wrapping_sub(base_timestamp) };
        parts.encode(&mut self.buf, &deltas)?;
        self.base_timestamp = base_timestamp;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
        Ok(())
    }

    /// The batch's uncompressed size in bytes so far, header included. Compression
    /// usually makes the batch smaller; on incompressible data it can add a few bytes
    /// of framing per 32 KiB.
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// The number of records pushed.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The batch's header fields, with no records.
    fn header(&self) -> RecordBatch {
        RecordBatch {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression: self.compression,
            timestamp_type: TimestampType::CreateTime,
            is_transactional: self.is_transactional,
            is_control: false,
            has_delete_horizon: false,
            last_offset_delta: i32::try_from(self.count.saturating_sub(1)).unwrap_or(i32::MAX),
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            records: Vec::new(),
        }
    }

    /// The batch, unencoded: the records are read back from what was encoded (their
    /// keys and values are slices of the builder's buffer).
    pub fn build(self) -> RecordBatch {
        let mut batch = self.header();
        let mut section = self.buf.freeze().slice(HEADER_LEN..);
        while !section.is_empty() {
            // The builder wrote these bytes itself; they always decode.
            match Record::decode(&mut section, 0, batch.base_timestamp) {
                Ok(record) => batch.records.push(record),
                Err(_) => break,
            }
        }
        batch
    }

    /// Encodes the batch, ready for a `ProduceRequest`'s `records` field.
    ///
    /// # Errors
    ///
    /// As [`RecordBatch::encode`].
    pub fn finish(mut self) -> Result<Bytes, RecordError> {
        let count = i32::try_from(self.count)
            .map_err(|_| RecordError::TooLarge { what: "RecordBatch.recordsCount", size: self.count })?;
        let mut header = BytesMut::with_capacity(HEADER_LEN);
        self.header().write_header(&mut header, count);
        if self.compression == Compression::None || self.count == 0 {
            // An empty batch is a bare header, whatever its compression.
            self.buf.truncate(if self.count == 0 { HEADER_LEN } else { self.buf.len() });
            self.buf[..HEADER_LEN].copy_from_slice(&header);
            seal(&mut self.buf)?;
            return Ok(self.buf.freeze());
        }
        let mut out = header;
        out.reserve(self.buf.len() / 2);
        compression::compress(self.compression, &self.buf[HEADER_LEN..], &mut out)?;
        seal(&mut out)?;
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record::DecodeOptions;

    #[test]
    fn estimated_size_is_the_uncompressed_size() {
        let mut builder = RecordBatchBuilder::new(Compression::None);
        assert_eq!(builder.estimated_size(), 61);
        for i in 0..50i64 {
            let headers = if i % 3 == 0 { vec![RecordHeader::new("trace", vec![1u8; 9])] } else { Vec::new() };
            // Timestamps that go back and forth, so deltas are negative too.
            builder
                .push(1_000 + (i % 7) * 100 - 300, None, Some(Bytes::from(vec![b'x'; (i * 13) as usize])), headers)
                .unwrap();
        }
        let size = builder.estimated_size();
        let bytes = builder.finish().unwrap();
        assert_eq!(bytes.len(), size);
    }

    #[test]
    fn builds_what_the_java_producer_builds() {
        let mut builder = RecordBatchBuilder::new(Compression::Zstd)
            .producer_id(99)
            .producer_epoch(2)
            .base_sequence(7)
            .transactional(true);
        builder.push(500, Some(Bytes::from_static(b"k")), Some(Bytes::from_static(b"v")), Vec::new()).unwrap();
        builder.push(400, None, None, Vec::new()).unwrap();
        let bytes = builder.finish().unwrap();
        let batch = RecordBatch::decode(&mut bytes.clone(), &DecodeOptions::default()).unwrap();
        assert_eq!(batch.base_offset, 0);
        assert_eq!(batch.base_timestamp, 500);
        assert_eq!(batch.max_timestamp, 500);
        assert_eq!(batch.last_offset_delta, 1);
        assert_eq!((batch.producer_id, batch.producer_epoch, batch.base_sequence), (99, 2, 7));
        assert!(batch.is_transactional);
        assert_eq!(batch.compression, Compression::Zstd);
        assert_eq!(batch.records[1], Record { offset: 1, timestamp: 400, ..Record::default() });
    }

    #[test]
    fn borrowed_and_owned_pushes_encode_alike_and_build_reads_back() {
        let headers = vec![RecordHeader::new("h", b"v".to_vec())];
        let mut owned = RecordBatchBuilder::new(Compression::None).producer_id(3).base_sequence(5);
        let mut borrowed = RecordBatchBuilder::with_capacity(Compression::None, 4).producer_id(3).base_sequence(5);
        for i in 0..20i64 {
            let value = Bytes::from(vec![b'a' + i as u8; i as usize * 7]);
            let key = (i % 2 == 0).then(|| Bytes::from(format!("k{i}")));
            owned.push(2_000 - i * 3, key.clone(), Some(value.clone()), headers.clone()).unwrap();
            borrowed.push_ref(2_000 - i * 3, key.as_deref(), Some(&value), &headers).unwrap();
        }
        assert_eq!(owned.estimated_size(), borrowed.estimated_size());
        let built = borrowed.clone().build();
        assert_eq!(owned.finish().unwrap(), borrowed.finish().unwrap());
        assert_eq!(built.records.len(), 20);
        assert_eq!((built.base_timestamp, built.max_timestamp, built.last_offset_delta), (2_000, 2_000, 19));
        assert_eq!(built.records[19].offset, 19);
        assert_eq!(built.records[19].timestamp, 2_000 - 57);
        assert_eq!(built.records[3].headers, headers);
    }

    #[test]
    fn a_compressed_batch_decodes_to_what_was_pushed() {
        let mut builder = RecordBatchBuilder::new(Compression::Gzip);
        for i in 0..100u8 {
            builder.push_ref(i64::from(i), None, Some(&[i; 50]), &[]).unwrap();
        }
        let raw = builder.estimated_size();
        let bytes = builder.finish().unwrap();
        assert!(bytes.len() < raw, "compressed {} < raw {raw}", bytes.len());
        let batch = RecordBatch::decode(&mut bytes.clone(), &DecodeOptions::default()).unwrap();
        assert_eq!(batch.compression, Compression::Gzip);
        assert_eq!(batch.records.len(), 100);
        assert_eq!(batch.records[42].value.as_deref(), Some(&[42u8; 50][..]));
    }

    #[test]
    fn an_empty_builder_makes_an_empty_batch() {
        let builder = RecordBatchBuilder::new(Compression::Gzip);
        assert!(builder.is_empty());
        let bytes = builder.finish().unwrap();
        assert_eq!(bytes.len(), 61);
        let batch = RecordBatch::decode(&mut bytes.clone(), &DecodeOptions::default()).unwrap();
        assert!(batch.records.is_empty());
        assert_eq!(batch.base_timestamp, -1);
    }
}
