//! Snappy (codec 2), through `snap::raw`, in two framings.
//!
//! # What we write: xerial framing
//!
//! Kafka's Java client writes snappy through snappy-java's `SnappyOutputStream`,
//! the "xerial" framing: a 16-byte header (`\x82SNAPPY\0`, then version 1 and
//! minimum-compatible version 1 as big-endian int32s) followed by blocks of
//! `[int32 BE compressed length][raw snappy block]`, each block compressing at most
//! 32 KiB of input. We write the same, because it is the one form every peer reads:
//!
//! - Java (the broker validating a produce, and Java consumers) reads through
//!   `SnappyInputStream`, whose native format this is; raw snappy only works there
//!   through a fallback path for headerless input;
//! - librdkafka, sarama, franz-go and kafka-python all look for the xerial magic
//!   first and only then try raw snappy, because Java-produced data is xerial.
//!
//! (librdkafka and franz-go's one-shot compressor write *raw* snappy, which is why
//! we must read both.) Small blocks also bound what a decoder allocates per block.
//!
//! # What we read: both
//!
//! Input that starts with the xerial magic is read block by block; anything else is
//! one raw snappy block. Either way the decompressed length each block declares is
//! checked against the limit before anything is allocated for it.

use bytes::{BufMut, BytesMut};
use snap::raw::{decompress_len, max_compress_len, Decoder, Encoder};

use super::{CappedSink, Compression};
use crate::protocol::record::error::RecordError;

/// The first 8 bytes of a xerial stream.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// The version and minimum compatible version snappy-java writes.
const XERIAL_VERSION: i32 = 1;
const XERIAL_COMPATIBLE_VERSION: i32 = 1;
/// Magic + version + compatible version.
const XERIAL_HEADER_LEN: usize = 16;
/// Input bytes per block (snappy-java's default block size).
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

fn decompress_error(e: impl std::fmt::Display) -> RecordError {
    RecordError::Decompress { codec: Compression::Snappy, reason: e.to_string() }
}

fn compress_error(e: impl std::fmt::Display) -> RecordError {
    RecordError::Compress { codec: Compression::Snappy, reason: e.to_string() }
}

/// Writes `input` as a xerial-framed snappy stream.
pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), RecordError> {
    out.put_slice(XERIAL_MAGIC);
    out.put_i32(XERIAL_VERSION);
    out.put_i32(XERIAL_COMPATIBLE_VERSION);
    let mut encoder = Encoder::new();
    let mut block = vec![0u8; max_compress_len(XERIAL_BLOCK_SIZE)];
    for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
        let n = encoder.compress(chunk, &mut block).map_err(compress_error)?;
        let written = block.get(..n).ok_or_else(|| compress_error("snappy wrote past its buffer"))?;
        let length = i32::try_from(n).map_err(compress_error)?;
        out.put_i32(length);
        out.put_slice(written);
    }
    Ok(())
}

/// Decompresses xerial-framed or raw snappy, whichever `input` is.
pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut sink = CappedSink::new(limit);
    match input.strip_prefix(XERIAL_MAGIC.as_slice()) {
        Some(_) if input.len() >= XERIAL_HEADER_LEN => {
            let mut blocks = input.get(XERIAL_HEADER_LEN..).unwrap_or_default();
            while !blocks.is_empty() {
                let (length, rest) =
                    blocks.split_first_chunk::<4>().ok_or_else(|| decompress_error("truncated block length"))?;
                let length = usize::try_from(i32::from_be_bytes(*length))
                    .map_err(|_| decompress_error("negative block length"))?;
                let block = rest.get(..length).ok_or_else(|| decompress_error("truncated block"))?;
                blocks = rest.get(length..).unwrap_or_default();
                decompress_block(block, &mut sink)?;
            }
        }
        _ => decompress_block(input, &mut sink)?,
    }
    Ok(sink.into_vec())
}

/// Appends one raw snappy block to `sink`, checking its declared length first.
fn decompress_block(block: &[u8], sink: &mut CappedSink) -> Result<(), RecordError> {
    let declared = decompress_len(block).map_err(decompress_error)?;
    let start = sink.len();
    let written = Decoder::new().decompress(block, sink.zeroed(declared)?).map_err(decompress_error)?;
    sink.truncate(start + written.min(declared));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_xerial_header_and_32k_blocks() {
        let input = vec![b'a'; 70_000];
        let mut out = BytesMut::new();
        compress(&input, &mut out).unwrap();
        assert_eq!(&out[..16], b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01");
        // Three blocks: 32768 + 32768 + 4464 bytes of input.
        let mut rest = &out[16..];
        let mut blocks = 0;
        while !rest.is_empty() {
            let n = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            rest = &rest[4 + n..];
            blocks += 1;
        }
        assert_eq!(blocks, 3);
        assert_eq!(decompress(&out, 70_000).unwrap(), input);
    }

    #[test]
    fn reads_raw_snappy_too() {
        let input = b"raw snappy as librdkafka writes it".repeat(10);
        let raw = Encoder::new().compress_vec(&input).unwrap();
        assert_eq!(decompress(&raw, 1 << 20).unwrap(), input);
        assert_eq!(decompress(&raw, 10), Err(RecordError::DecompressedTooLarge { limit: 10 }));
    }

    #[test]
    fn a_claimed_size_over_the_limit_allocates_nothing() {
        // A raw block claiming 2^32 - 1 bytes (varint ff ff ff ff 0f) and holding none.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert_eq!(decompress(&claim, 1 << 20), Err(RecordError::DecompressedTooLarge { limit: 1 << 20 }));
    }
}
