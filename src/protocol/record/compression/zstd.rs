//! Zstandard (codec 4), through the `zstd` crate.
//!
//! Written at level 3 (zstd's default, and Java's) in one frame. Read through the
//! streaming decoder into a capped sink; the decoder's window is limited too, so a
//! frame header asking for a huge window is refused instead of allocated.

use bytes::{BufMut, BytesMut};

use super::{CappedSink, Compression};
use crate::protocol::record::error::RecordError;

/// The compression level: zstd's default.
const LEVEL: i32 = 3;

/// The smallest and largest window (log2 bytes) we accept. 8 MiB covers every level
/// up to 19; 128 MiB is zstd's own default limit.
const MIN_WINDOW_LOG: u32 = 23;
const MAX_WINDOW_LOG: u32 = 27;

fn decompress_error(e: std::io::Error) -> RecordError {
    RecordError::Decompress { codec: Compression::Zstd, reason: e.to_string() }
}

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), RecordError> {
    let mut encoder = ::zstd::stream::write::Encoder::new(out.writer(), LEVEL)
        .map_err(|e| RecordError::Compress { codec: Compression::Zstd, reason: e.to_string() })?;
    // The size is known, so put it in the frame header (as `zstd::bulk` would).
    let pledged = u64::try_from(input.len()).ok();
    encoder
        .set_pledged_src_size(pledged)
        .and_then(|()| std::io::Write::write_all(&mut encoder, input))
        .and_then(|()| encoder.finish().map(drop))
        .map_err(|e| RecordError::Compress { codec: Compression::Zstd, reason: e.to_string() })
}

/// The window limit for an output limit: the limit's log2 rounded up, clamped.
fn window_log_max(limit: usize) -> u32 {
    let log = usize::BITS - limit.saturating_sub(1).leading_zeros();
    log.clamp(MIN_WINDOW_LOG, MAX_WINDOW_LOG)
}

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut decoder = ::zstd::stream::read::Decoder::with_buffer(input).map_err(decompress_error)?;
    decoder.window_log_max(window_log_max(limit)).map_err(decompress_error)?;
    CappedSink::read_all(limit, decoder, Compression::Zstd)
}

#[cfg(test)]
mod tests {
    #[test]
    fn window_limits() {
        assert_eq!(super::window_log_max(1 << 20), 23);
        assert_eq!(super::window_log_max(64 << 20), 26);
        assert_eq!(super::window_log_max((64 << 20) + 1), 27);
        assert_eq!(super::window_log_max(usize::MAX), 27);
        assert_eq!(super::window_log_max(0), 23);
    }
}
