//! One record inside a batch, and its headers (`RECORD_BATCH.md`, "Record").
//!
//! On the wire a record stores its offset and timestamp as deltas from the batch's
//! base offset and base timestamp; [`Record`] holds the absolute values, and the batch
//! converts on the way in and out.

use bytes::{Buf, Bytes, BytesMut};

use super::error::RecordError;
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{
    read_i8, read_raw, read_varint, read_varlong, varint_len, varlong_len, write_varint,
};

/// A record header: a UTF-8 key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RecordHeader {
    /// The header's key (never null on the wire).
    pub key: String,
    /// The header's value; `None` is a null value, distinct from empty.
    pub value: Option<Bytes>,
}

/// One record: absolute offset and timestamp, key, value and headers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Record {
    /// The record's offset (the batch's base offset plus its offset delta).
    pub offset: i64,
    /// The record's timestamp in milliseconds, as written: the batch's base timestamp
    /// plus the record's delta. For a `LogAppendTime` batch, Kafka consumers report
    /// the batch's `max_timestamp` instead; see
    /// [`RecordBatch::record_timestamp`](super::RecordBatch::record_timestamp).
    pub timestamp: i64,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// The headers, in wire order.
    pub headers: Vec<RecordHeader>,
}

/// The smallest record on the wire: length, attributes, timestamp delta, offset delta,
/// key length, value length and header count, one byte each.
pub(crate) const MIN_RECORD_SIZE: usize = 7;
/// The smallest header on the wire: key length and value length.
const MIN_HEADER_SIZE: usize = 2;

/// The size of a length-prefixed byte string with a varint length; null is one byte.
fn bytes_size(value: Option<&[u8]>, what: &'static str) -> Result<usize, RecordError> {
    match value {
        None => Ok(varint_len(-1)),
        Some(b) => Ok(varint_len(length_i32(b.len(), what)?) + b.len()),
    }
}

fn length_i32(length: usize, what: &'static str) -> Result<i32, RecordError> {
    i32::try_from(length).map_err(|_| RecordError::Encode(EncodeError::TooLong { what, length }))
}

fn write_bytes(buf: &mut BytesMut, value: Option<&[u8]>, what: &'static str) -> Result<(), RecordError> {
    match value {
        None => write_varint(buf, -1),
        Some(b) => {
            write_varint(buf, length_i32(b.len(), what)?);
            buf.extend_from_slice(b);
        }
    }
    Ok(())
}

/// Reads a varint-length byte string without copying; -1 is null.
fn read_bytes(buf: &mut Bytes, what: &'static str) -> Result<Option<Bytes>, DecodeError> {
    let length = read_varint(buf, what)?;
    if length == -1 {
        return Ok(None);
    }
    match usize::try_from(length) {
        Ok(n) if n <= buf.remaining() => Ok(Some(buf.split_to(n))),
        _ => Err(DecodeError::InvalidLength { what, length: i64::from(length) }),
    }
}

/// Reads a varint count that may not be negative, bounded by what the bytes left
/// can hold at `min_size` bytes per element.
fn read_count(buf: &mut Bytes, min_size: usize, what: &'static str) -> Result<usize, DecodeError> {
    let count = read_varint(buf, what)?;
    match usize::try_from(count) {
        Ok(n) if n <= buf.remaining() / min_size => Ok(n),
        _ => Err(DecodeError::InvalidLength { what, length: i64::from(count) }),
    }
}

impl RecordHeader {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self { key: key.into(), value: Some(value.into()) }
    }

    fn encoded_len(&self) -> Result<usize, RecordError> {
        Ok(bytes_size(Some(self.key.as_bytes()), "RecordHeader.key")?
            + bytes_size(self.value.as_deref(), "RecordHeader.value")?)
    }

    fn encode(&self, buf: &mut BytesMut) -> Result<(), RecordError> {
        write_bytes(buf, Some(self.key.as_bytes()), "RecordHeader.key")?;
        write_bytes(buf, self.value.as_deref(), "RecordHeader.value")
    }

    fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let Some(key) = read_bytes(buf, "RecordHeader.key")? else {
            return Err(DecodeError::UnexpectedNull { what: "RecordHeader.key", version: 2 });
        };
        let key = String::from_utf8(key.into()).map_err(|_| DecodeError::InvalidUtf8 { what: "RecordHeader.key" })?;
        Ok(Self { key, value: read_bytes(buf, "RecordHeader.value")? })
    }
}

/// A record's deltas from its batch, computed once for both sizing and writing.
pub(crate) struct Deltas {
    pub(crate) offset: i32,
    pub(crate) timestamp: i64,
}

impl Deltas {
    /// The deltas of `record` in a batch with these bases. Timestamps wrap (every
    /// `i64` pair has a varlong delta that adds back to the same value); offsets must
    /// fit an `int32`.
    pub(crate) fn new(record: &Record, base_offset: i64, base_timestamp: i64) -> Result<Self, RecordError> {
        let offset = record
            .offset
            .checked_sub(base_offset)
            .and_then(|delta| i32::try_from(delta).ok())
            .ok_or(RecordError::OffsetDeltaOutOfRange { offset: record.offset, base_offset })?;
        Ok(Self { offset, timestamp: record.timestamp.wrapping_sub(base_timestamp) })
    }
}

/// Zig-zag varints gathered on the stack (room for a record's widest run of them:
/// length, attributes, timestamp delta, offset delta and key length, 26 bytes).
#[derive(Default)]
struct Varints {
    bytes: [u8; 32],
    len: usize,
}

impl Varints {
    fn push(&mut self, byte: u8) {
        // Callers write at most 26 bytes between `take`s; a longer run is a bug that
        // must not corrupt memory, so it is dropped here and caught by the tests.
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn base128(&mut self, mut raw: u64) {
        while raw >= 0x80 {
            self.push((raw as u8) | 0x80);
            raw >>= 7;
        }
        self.push(raw as u8);
    }

    fn varint(&mut self, value: i32) {
        self.base128(u64::from(((value << 1) ^ (value >> 31)) as u32));
    }

    fn varlong(&mut self, value: i64) {
        self.base128(((value << 1) ^ (value >> 63)) as u64);
    }

    /// A byte string's length, -1 for null.
    fn length(&mut self, bytes: Option<&[u8]>, what: &'static str) -> Result<(), RecordError> {
        self.varint(bytes.map_or(Ok(-1), |b| length_i32(b.len(), what))?);
        Ok(())
    }

    /// The bytes gathered so far; starts over.
    fn take(&mut self) -> &[u8] {
        let len = std::mem::take(&mut self.len);
        &self.bytes[..len]
    }
}

/// A record's parts, borrowed: what a producer encodes straight from its own
/// records, without building a [`Record`] (and counting references) per record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordParts<'a> {
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: &'a [RecordHeader],
}

impl RecordParts<'_> {
    /// The size of the record's body (everything after its length prefix).
    fn body_len(&self, deltas: &Deltas) -> Result<usize, RecordError> {
        let mut size = 1 // attributes
            + varlong_len(deltas.timestamp)
            + varint_len(deltas.offset)
            + bytes_size(self.key, "Record.key")?
            + bytes_size(self.value, "Record.value")?
            + varint_len(length_i32(self.headers.len(), "Record.headers")?);
        for header in self.headers {
            size += header.encoded_len()?;
        }
        Ok(size)
    }

    /// Writes the record with the given deltas; its body is `body_len` bytes (from
    /// [`body_len`](Self::body_len), computed once by the caller).
    ///
    /// The varints around the key and value are gathered on the stack and written
    /// with one copy each, instead of a call per varint byte.
    fn encode_body(&self, buf: &mut BytesMut, deltas: &Deltas, body_len: usize) -> Result<(), RecordError> {
        let mut head = Varints::default();
        head.varint(length_i32(body_len, "Record")?);
        head.push(0); // attributes: unused
        head.varlong(deltas.timestamp);
        head.varint(deltas.offset);
        head.length(self.key, "Record.key")?;
        buf.extend_from_slice(head.take());
        if let Some(key) = self.key {
            buf.extend_from_slice(key);
        }
        head.length(self.value, "Record.value")?;
        buf.extend_from_slice(head.take());
        if let Some(value) = self.value {
            buf.extend_from_slice(value);
        }
        head.varint(length_i32(self.headers.len(), "Record.headers")?);
        buf.extend_from_slice(head.take());
        self.headers.iter().try_for_each(|header| header.encode(buf))
    }

    /// Writes the record with the given deltas, reserving its room first; returns the
    /// bytes written. Nothing is written on error.
    pub(crate) fn encode(&self, buf: &mut BytesMut, deltas: &Deltas) -> Result<usize, RecordError> {
        let body = self.body_len(deltas)?;
        let size = varint_len(length_i32(body, "Record")?) + body;
        buf.reserve(size);
        let start = buf.len();
        let written = self.encode_body(buf, deltas, body);
        if written.is_err() {
            buf.truncate(start);
        }
        written.map(|()| size)
    }
}

impl Record {
    fn parts(&self) -> RecordParts<'_> {
        RecordParts { key: self.key.as_deref(), value: self.value.as_deref(), headers: &self.headers }
    }

    /// The record's size on the wire, length prefix included.
    #[cfg(test)]
    pub(crate) fn encoded_len(&self, deltas: &Deltas) -> Result<usize, RecordError> {
        let body = self.parts().body_len(deltas)?;
        Ok(varint_len(length_i32(body, "Record")?) + body)
    }

    /// Writes the record with the given deltas.
    pub(crate) fn encode(&self, buf: &mut BytesMut, deltas: &Deltas) -> Result<(), RecordError> {
        self.parts().encode(buf, deltas).map(|_| ())
    }

    /// Reads one record from the front of `buf`; its key, value and header values are
    /// slices of `buf`, not copies.
    pub(crate) fn decode(buf: &mut Bytes, base_offset: i64, base_timestamp: i64) -> Result<Self, DecodeError> {
        let length = read_varint(buf, "Record.length")?;
        let length = usize::try_from(length)
            .map_err(|_| DecodeError::InvalidLength { what: "Record.length", length: length.into() })?;
        let mut body = read_raw(buf, length, "Record")?;
        let _attributes = read_i8(&mut body, "Record.attributes")?;
        let timestamp_delta = read_varlong(&mut body, "Record.timestampDelta")?;
        let offset_delta = read_varint(&mut body, "Record.offsetDelta")?;
        let key = read_bytes(&mut body, "Record.key")?;
        let value = read_bytes(&mut body, "Record.value")?;
        let count = read_count(&mut body, MIN_HEADER_SIZE, "Record.headers")?;
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            headers.push(RecordHeader::decode(&mut body)?);
        }
        if body.has_remaining() {
            return Err(DecodeError::TrailingBytes { what: "Record", remaining: body.remaining() });
        }
        Ok(Record {
            offset: base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp: base_timestamp.wrapping_add(timestamp_delta),
            key,
            value,
            headers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_varints_match_the_primitives_at_the_extremes() {
        for (int, long) in [(0, 0), (-1, -1), (i32::MAX, i64::MAX), (i32::MIN, i64::MIN), (300, -70_000)] {
            let mut expected = BytesMut::new();
            write_varint(&mut expected, i32::MAX);
            crate::protocol::primitives::write_varlong(&mut expected, long);
            write_varint(&mut expected, int);
            write_varint(&mut expected, i32::MIN);
            let mut head = Varints::default();
            head.varint(i32::MAX);
            head.varlong(long);
            head.varint(int);
            head.length(None, "k").unwrap();
            head.varint(i32::MIN);
            let mut got = head.take().to_vec();
            // `length(None)` is a -1 between them.
            let minus_one = got.remove(got.len() - 6);
            assert_eq!((minus_one, got.as_slice()), (1, &expected[..]));
            assert!(head.take().is_empty());
        }
    }

    fn record() -> Record {
        Record {
            offset: 7,
            timestamp: 1_000,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: vec![RecordHeader { key: "h".into(), value: None }, RecordHeader::new("k", "x")],
        }
    }

    #[test]
    fn encodes_the_documented_layout() {
        let r = record();
        let deltas = Deltas::new(&r, 5, 990).unwrap();
        let mut buf = BytesMut::new();
        r.encode(&mut buf, &deltas).unwrap();
        #[rustfmt::skip]
        let expected = [
            0x1c,             // length 14 (zig-zag)
            0x00,             // attributes
            0x14,             // timestampDelta 10
            0x04,             // offsetDelta 2
            0x01,             // key null (-1)
            0x02, b'v',       // value "v"
            0x04,             // 2 headers
            0x02, b'h', 0x01, // "h" => null
            0x02, b'k', 0x02, b'x', // "k" => "x"
        ];
        assert_eq!(&buf[..], &expected);
        assert_eq!(r.encoded_len(&deltas).unwrap(), expected.len());
        let mut input = buf.freeze();
        assert_eq!(Record::decode(&mut input, 5, 990).unwrap(), r);
        assert!(input.is_empty());
    }

    #[test]
    fn decoded_values_share_the_input() {
        let r = record();
        let mut buf = BytesMut::new();
        r.encode(&mut buf, &Deltas::new(&r, 0, 0).unwrap()).unwrap();
        let input = buf.freeze();
        let decoded = Record::decode(&mut input.clone(), 0, 0).unwrap();
        let value = decoded.value.unwrap();
        let range = input.as_ptr_range();
        assert!(range.contains(&value.as_ptr()), "value was copied");
    }

    #[test]
    fn an_offset_delta_over_i32_is_an_error() {
        let r = Record { offset: i64::from(i32::MAX) + 1, ..record() };
        assert!(matches!(Deltas::new(&r, 0, 0), Err(RecordError::OffsetDeltaOutOfRange { .. })));
        assert!(Deltas::new(&Record { offset: i64::MIN, ..record() }, 1, 0).is_err());
    }

    #[test]
    fn bad_records_are_errors() {
        // Trailing byte inside the record's length.
        let mut input = Bytes::from_static(&[0x0e, 0, 0, 0, 1, 1, 0, 0x55]);
        assert!(matches!(Record::decode(&mut input, 0, 0), Err(DecodeError::TrailingBytes { .. })));
        // Null header key.
        let mut input = Bytes::from_static(&[0x10, 0, 0, 0, 1, 1, 2, 1, 1]);
        assert!(matches!(Record::decode(&mut input, 0, 0), Err(DecodeError::UnexpectedNull { .. })));
        // A header count far beyond the bytes left.
        let mut input = Bytes::from_static(&[0x14, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f]);
        assert!(Record::decode(&mut input, 0, 0).is_err());
    }
}
