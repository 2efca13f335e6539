//! The record layer's error type.

use super::compression::Compression;
use crate::protocol::error::{DecodeError, EncodeError};

/// A record batch that cannot be decoded, or a batch that cannot be encoded.
///
/// Like [`DecodeError`], no variant is caused by anything but the input: a caller that
/// gets one for a fetched batch can report it and carry on with the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A field of the batch header or of a record does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A length that does not fit its prefix while encoding.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The CRC-32C stored in the batch does not match its bytes.
    #[error("record batch CRC mismatch: stored {expected:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC stored in the batch header.
        expected: u32,
        /// The CRC of the bytes from `attributes` to the end of the batch.
        computed: u32,
    },
    /// The magic byte is not one of the known message formats (0, 1, 2).
    #[error("invalid record batch magic {magic}")]
    InvalidMagic {
        /// The magic byte found at offset 16.
        magic: i8,
    },
    /// A legacy message set (magic 0 or 1), which this crate does not read.
    #[error("legacy message format (magic {magic}) is not supported; only record batches (magic 2) are")]
    LegacyMessageFormat {
        /// The magic byte found at offset 16.
        magic: i8,
    },
    /// Compression bits 5, 6 or 7, which Kafka does not define.
    #[error("unknown compression codec id {id}")]
    UnknownCompression {
        /// The value of attribute bits 0-2.
        id: i16,
    },
    /// The codec's cargo feature is switched off in this build.
    #[error("{codec} compression is not compiled in (enable the `{codec}` cargo feature)")]
    CompressionUnavailable {
        /// The codec the batch uses.
        codec: Compression,
    },
    /// The records of a compressed batch decompress to more than
    /// [`DecodeOptions::max_decompressed_size`](super::DecodeOptions::max_decompressed_size).
    #[error("records decompress to more than the {limit}-byte limit")]
    DecompressedTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The codec library refused the compressed records.
    #[error("{codec} decompression failed: {reason}")]
    Decompress {
        /// The codec.
        codec: Compression,
        /// The library's message.
        reason: String,
    },
    /// The codec library failed to compress the records.
    #[error("{codec} compression failed: {reason}")]
    Compress {
        /// The codec.
        codec: Compression,
        /// The library's message.
        reason: String,
    },
    /// A control record whose key or value does not have the documented layout.
    #[error("invalid control record: {reason}")]
    InvalidControlRecord {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A record's offset is more than `i32` away from the batch's base offset, or below it.
    #[error("record offset {offset} cannot be written as a delta from base offset {base_offset}")]
    OffsetDeltaOutOfRange {
        /// The record's offset.
        offset: i64,
        /// The batch's base offset.
        base_offset: i64,
    },
    /// A batch, or its record count, too large for the `int32` fields that hold it.
    #[error("{what} is {size}, more than an int32 holds")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
        /// Its size.
        size: usize,
    },
}
