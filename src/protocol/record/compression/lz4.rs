//! LZ4 (codec 3): the LZ4 *frame* format, through `lz4_flex::frame`.
//!
//! Kafka 0.10+ (magic 1 and 2) writes standard frames with a correct header
//! checksum; we write what Java's `KafkaLZ4BlockOutputStream` writes: 64 KiB
//! independent blocks, no block or content checksums, no content size.
//!
//! Decoding goes through a capped sink, frame after frame. A frame that declares its content size is
//! refused up front when that size is over the limit; otherwise the decoder holds at
//! most one block (the frame's maximum block size, at most a few MiB) at a time.

use std::io::Write;

use bytes::{BufMut, BytesMut};
use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

use super::{CappedSink, Compression};
use crate::protocol::record::error::RecordError;

/// The frame magic number, little-endian on the wire.
const FRAME_MAGIC: u32 = 0x184D_2204;
/// FLG bit 3: the frame descriptor holds an 8-byte content size.
const FLG_CONTENT_SIZE: u8 = 0x08;

fn compress_error(e: impl std::fmt::Display) -> RecordError {
    RecordError::Compress { codec: Compression::Lz4, reason: e.to_string() }
}

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), RecordError> {
    let info = FrameInfo::new().block_size(BlockSize::Max64KB).block_mode(BlockMode::Independent);
    let mut encoder = FrameEncoder::with_frame_info(info, out.writer());
    encoder.write_all(input).map_err(compress_error)?;
    encoder.finish().map_err(compress_error)?;
    Ok(())
}

/// The content size a frame header declares, if the input starts with one.
fn declared_content_size(input: &[u8]) -> Option<u64> {
    let magic = u32::from_le_bytes(input.get(0..4)?.try_into().ok()?);
    let flg = *input.get(4)?;
    if magic != FRAME_MAGIC || flg & FLG_CONTENT_SIZE == 0 {
        return None;
    }
    Some(u64::from_le_bytes(input.get(6..14)?.try_into().ok()?))
}

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut sink = CappedSink::new(limit);
    let mut rest = input;
    // The frame format allows frames back to back; read them all.
    while !rest.is_empty() {
        if let Some(size) = declared_content_size(rest) {
            if usize::try_from(size).map_or(true, |size| size > sink.room()) {
                return Err(RecordError::DecompressedTooLarge { limit });
            }
        }
        let before = rest.len();
        sink.read_from(FrameDecoder::new(&mut rest), Compression::Lz4)?;
        if rest.len() == before {
            return Err(RecordError::Decompress { codec: Compression::Lz4, reason: "no frame in the input".into() });
        }
    }
    Ok(sink.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_content_size_over_the_limit_is_refused_before_decoding() {
        let info = FrameInfo::new().content_size(Some(5000));
        let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
        encoder.write_all(&[0u8; 5000]).unwrap();
        let frame = encoder.finish().unwrap();
        assert_eq!(declared_content_size(&frame), Some(5000));
        assert_eq!(decompress(&frame, 4999), Err(RecordError::DecompressedTooLarge { limit: 4999 }));
        assert_eq!(decompress(&frame, 5000).unwrap().len(), 5000);
    }
}
