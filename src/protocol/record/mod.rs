//! Record batches: Kafka's message format v2 ("magic 2"), with compression.
//!
//! A `records` field of a Produce request or Fetch response holds zero or more
//! [`RecordBatch`]es back to back (`RECORD_BATCH.md`). A batch is a 61-byte header
//! (offsets, timestamps, producer id/epoch/sequence, attributes, a CRC-32C over
//! everything after the CRC) followed by its records, compressed together as one
//! block when the batch has a codec.
//!
//! # Layout of this module
//!
//! - `batch`: the header and whole-batch [`RecordBatch::encode`] /
//!   [`RecordBatch::decode`], with [`DecodeOptions`];
//! - `record`: one [`Record`] and its [`RecordHeader`]s (varint deltas on the wire,
//!   absolute offsets and timestamps in the structs);
//! - `batches`: [`RecordBatches`] and [`decode_batches`], every batch of a `records` field;
//! - `control`: [`ControlRecord`], transaction markers in control batches;
//! - `builder`: [`RecordBatchBuilder`], a producer's batch, one record at a time;
//! - `compression`: [`Compression`], gzip, snappy (xerial-framed), lz4 (frame format) and zstd,
//!   each behind its cargo feature.
//!
//! # Zero copy
//!
//! Decoding an uncompressed batch copies no record data: keys, values and header
//! values are [`Bytes`](bytes::Bytes) slices of the input, which keep the response
//! buffer alive while any of them is. A compressed batch is decompressed once into a
//! new buffer, and its records are sliced from that.
//!
//! # Legacy formats
//!
//! Message sets of magic 0 and 1 are refused with
//! [`RecordError::LegacyMessageFormat`]. Kafka 0.11 introduced magic 2, 2.1+ writes
//! it by default, and 4.0 removed the old formats altogether; the magic byte sits at
//! offset 16 in every format, so it is checked before anything else.
//!
//! # Decompression limit
//!
//! The compressed size of a batch is bounded by the fetch size, but its decompressed
//! size is not: a few kilobytes of zeros can claim gigabytes. Every decompressor writes
//! into a buffer capped at [`DecodeOptions::max_decompressed_size`] (64 MiB by
//! default) and fails with [`RecordError::DecompressedTooLarge`] before passing it;
//! sizes that snappy blocks and lz4 frames declare up front are checked before
//! anything is allocated. Record and header counts are checked against the bytes left
//! before any vector is sized from them.

mod batch;
mod batches;
mod builder;
mod compression;
mod control;
mod error;
#[allow(clippy::module_inception)] // record/record.rs holds one record, as batch.rs holds one batch
mod record;

#[cfg(test)]
mod tests;

pub use batch::{DecodeOptions, RecordBatch, TimestampType, HEADER_LEN, LOG_OVERHEAD, MAGIC};
pub use batches::{decode_batches, RecordBatches};
pub use builder::RecordBatchBuilder;
pub use compression::{Compression, ParseCompressionError};
pub use control::ControlRecord;
pub use error::RecordError;
pub use record::{Record, RecordHeader};
