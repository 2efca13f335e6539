//! gzip (codec 1), through `flate2`.
//!
//! Written as one gzip member at the default level with a zero modification time, so
//! the output is deterministic. Read with a multi-member decoder, as Java's
//! `GZIPInputStream` reads.

use std::io::Write;

use bytes::{BufMut, BytesMut};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{CappedSink, Compression};
use crate::protocol::record::error::RecordError;

fn compress_error(e: std::io::Error) -> RecordError {
    RecordError::Compress { codec: Compression::Gzip, reason: e.to_string() }
}

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), RecordError> {
    let mut encoder = GzEncoder::new(out.writer(), flate2::Compression::default());
    encoder.write_all(input).map_err(compress_error)?;
    encoder.finish().map_err(compress_error)?;
    Ok(())
}

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    CappedSink::read_all(limit, MultiGzDecoder::new(input), Compression::Gzip)
}
