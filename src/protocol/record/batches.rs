//! The batches of a `records` field, one after another.
//!
//! A broker answering a Fetch stops copying a partition's log at the request's byte
//! limit, which can cut the last batch short. That partial batch is not an error: the
//! consumer fetches it whole from its offset next time. [`RecordBatches`] stops at
//! it and reports it through [`RecordBatches::truncated_tail`]; a malformed batch
//! before the end is an error.

use bytes::Bytes;

use super::batch::{frame, DecodeOptions, Frame, RecordBatch};
use super::error::RecordError;

/// An iterator over the record batches in a `records` field.
///
/// Yields each batch in order; after an error it yields nothing more.
///
/// # Examples
///
/// ```
/// use actix_kafka::protocol::record::{DecodeOptions, RecordBatch, RecordBatches};
/// use bytes::BytesMut;
///
/// let mut buf = BytesMut::new();
/// RecordBatch::default().encode(&mut buf).unwrap();
/// RecordBatch { base_offset: 1, ..RecordBatch::default() }.encode(&mut buf).unwrap();
/// let cut = buf.len() - 10;
/// let records = buf.freeze().slice(..cut); // as a Fetch byte limit would
///
/// let opts = DecodeOptions::default();
/// let mut batches = RecordBatches::new(records, &opts);
/// assert_eq!(batches.next().unwrap().unwrap().base_offset, 0);
/// assert!(batches.next().is_none());
/// assert!(batches.truncated_tail());
/// ```
#[derive(Debug)]
pub struct RecordBatches<'a> {
    remaining: Bytes,
    opts: &'a DecodeOptions,
    truncated_tail: bool,
    done: bool,
}

impl<'a> RecordBatches<'a> {
    /// Iterates over the batches in `records`.
    pub fn new(records: Bytes, opts: &'a DecodeOptions) -> Self {
        Self { remaining: records, opts, truncated_tail: false, done: false }
    }

    /// Whether iteration stopped at a partial batch at the end of the input (known
    /// once the iterator has returned `None`).
    pub fn truncated_tail(&self) -> bool {
        self.truncated_tail
    }

    /// The bytes not yet decoded: the partial tail once iteration has ended.
    pub fn remaining(&self) -> &Bytes {
        &self.remaining
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, RecordError> {
        if self.remaining.is_empty() {
            return Ok(None);
        }
        match frame(&self.remaining)? {
            Frame::Complete(size) => RecordBatch::decode_whole(self.remaining.split_to(size), self.opts).map(Some),
            Frame::Truncated(_) => {
                self.truncated_tail = true;
                Ok(None)
            }
        }
    }
}

impl Iterator for RecordBatches<'_> {
    type Item = Result<RecordBatch, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_batch().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// Decodes every whole batch in a `records` field; a partial batch at the end is
/// dropped (use [`RecordBatches`] to know whether there was one).
///
/// # Errors
///
/// The first batch that fails to decode, as [`RecordBatch::decode`] describes.
pub fn decode_batches(records: Bytes, opts: &DecodeOptions) -> Result<Vec<RecordBatch>, RecordError> {
    RecordBatches::new(records, opts).collect()
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::protocol::record::{Compression, Record};

    fn batch(base_offset: i64, compression: Compression) -> RecordBatch {
        let records = (0..3)
            .map(|i| Record {
                offset: base_offset + i,
                timestamp: 100 + i,
                value: Some(Bytes::from(format!("value {i}"))),
                ..Record::default()
            })
            .collect();
        RecordBatch {
            base_offset,
            compression,
            last_offset_delta: 2,
            base_timestamp: 100,
            max_timestamp: 102,
            records,
            ..RecordBatch::default()
        }
    }

    fn two_batches(compression: Compression) -> (BytesMut, usize) {
        let mut buf = BytesMut::new();
        batch(0, compression).encode(&mut buf).unwrap();
        let first = buf.len();
        batch(3, compression).encode(&mut buf).unwrap();
        (buf, first)
    }

    #[test]
    fn a_truncated_final_batch_ends_iteration_and_is_flagged() {
        for compression in Compression::ALL {
            let (buf, first) = two_batches(compression);
            let cut = first + (buf.len() - first) / 2;
            let opts = DecodeOptions::default();
            let mut batches = RecordBatches::new(buf.freeze().slice(..cut), &opts);
            assert_eq!(batches.next().unwrap().unwrap(), batch(0, compression));
            assert!(batches.next().is_none());
            assert!(batches.truncated_tail());
            assert_eq!(batches.remaining().len(), cut - first);
        }
    }

    #[test]
    fn tails_shorter_than_the_magic_byte_are_truncated_too() {
        let (buf, first) = two_batches(Compression::None);
        for cut in [first + 1, first + 12, first + 16] {
            let opts = DecodeOptions::default();
            let mut batches = RecordBatches::new(buf.clone().freeze().slice(..cut), &opts);
            assert!(batches.next().unwrap().is_ok());
            assert!(batches.next().is_none());
            assert!(batches.truncated_tail(), "cut at {cut}");
        }
        let all = decode_batches(buf.freeze(), &DecodeOptions::default()).unwrap();
        assert_eq!(all, vec![batch(0, Compression::None), batch(3, Compression::None)]);
    }

    #[test]
    fn a_corrupt_first_batch_is_an_error() {
        let (mut buf, _) = two_batches(Compression::None);
        buf[17] ^= 0x01; // the CRC
        let opts = DecodeOptions::default();
        let mut batches = RecordBatches::new(buf.freeze(), &opts);
        assert!(matches!(batches.next(), Some(Err(RecordError::CrcMismatch { .. }))));
        assert!(batches.next().is_none());
        assert!(!batches.truncated_tail());
    }

    #[test]
    fn a_corrupt_middle_batch_fails_the_whole_decode() {
        let (mut buf, first) = two_batches(Compression::Lz4);
        let last = buf.len() - 1;
        buf[last] ^= 0xff;
        let err = decode_batches(buf.clone().freeze(), &DecodeOptions::default()).unwrap_err();
        assert!(matches!(err, RecordError::CrcMismatch { .. }));
        // The length says the batch is shorter than a header.
        buf[first + 8..first + 12].copy_from_slice(&10i32.to_be_bytes());
        let err = decode_batches(buf.freeze(), &DecodeOptions::default()).unwrap_err();
        assert!(matches!(err, RecordError::Decode(_)), "{err:?}");
    }

    #[test]
    fn an_empty_field_has_no_batches() {
        let opts = DecodeOptions::default();
        let mut batches = RecordBatches::new(Bytes::new(), &opts);
        assert!(batches.next().is_none());
        assert!(!batches.truncated_tail());
    }
}
