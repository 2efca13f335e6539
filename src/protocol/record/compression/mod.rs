//! The five compression codecs of attribute bits 0-2, and the one place that
//! dispatches to them.
//!
//! Every decompressor writes into a buffer that never grows past the caller's limit
//! (see [`CappedSink`]), so a few kilobytes of hostile input cannot make us allocate
//! gigabytes: the limit is checked before the bytes are kept, not after.

use std::fmt;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};

use super::error::RecordError;

#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

/// The compression codec of a record batch (attribute bits 0-2).
///
/// # Examples
///
/// ```
/// use actix_kafka::protocol::record::Compression;
///
/// let codec: Compression = "lz4".parse().unwrap();
/// assert_eq!(codec, Compression::Lz4);
/// assert_eq!(codec.id(), 3);
/// assert_eq!(codec.to_string(), "lz4");
/// assert_eq!(Compression::from_attributes(0x0013).unwrap(), Compression::Lz4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (0).
    #[default]
    None,
    /// gzip (1).
    Gzip,
    /// Snappy (2), written in the xerial framing Kafka's Java client uses.
    Snappy,
    /// LZ4 frame format (3).
    Lz4,
    /// Zstandard (4), Kafka 2.1+.
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    /// The mask of the codec bits in a batch's attributes.
    pub const ATTRIBUTE_MASK: i16 = 0x07;

    /// The codec named by bits 0-2 of a batch's `attributes`.
    ///
    /// # Errors
    ///
    /// [`RecordError::UnknownCompression`] for ids 5-7.
    pub fn from_attributes(attributes: i16) -> Result<Self, RecordError> {
        match attributes & Self::ATTRIBUTE_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            id => Err(RecordError::UnknownCompression { id }),
        }
    }

    /// The codec id, as it goes into attribute bits 0-2.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The name Kafka's `compression.type` setting uses.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Whether this build can compress and decompress with the codec (its cargo
    /// feature is on).
    pub fn is_available(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A compression name that is none of `none`, `gzip`, `snappy`, `lz4`, `zstd`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression type {name:?}: expected none, gzip, snappy, lz4 or zstd")]
pub struct ParseCompressionError {
    /// The name given.
    pub name: String,
}

impl FromStr for Compression {
    type Err = ParseCompressionError;

    /// Parses a `compression.type` name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseCompressionError { name: s.to_owned() })
    }
}

/// Compresses `input` with `codec`, appending the result to `out`.
///
/// `Compression::None` appends `input` as it is.
pub(crate) fn compress(codec: Compression, input: &[u8], out: &mut BytesMut) -> Result<(), RecordError> {
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::compress(input, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::compress(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::compress(input, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::compress(input, out),
        #[allow(unreachable_patterns)]
        codec => Err(RecordError::CompressionUnavailable { codec }),
    }
}

/// Decompresses `input`, failing with [`RecordError::DecompressedTooLarge`] as soon as
/// the output would pass `limit` bytes.
///
/// `Compression::None` returns `input` unchanged (no copy, no limit).
#[cfg_attr(not(any(feature = "gzip", feature = "snappy", feature = "lz4", feature = "zstd")), allow(unused_variables))]
pub(crate) fn decompress(codec: Compression, input: Bytes, limit: usize) -> Result<Bytes, RecordError> {
    match codec {
        Compression::None => Ok(input),
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::decompress(&input, limit).map(Bytes::from),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::decompress(&input, limit).map(Bytes::from),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::decompress(&input, limit).map(Bytes::from),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::decompress(&input, limit).map(Bytes::from),
        #[allow(unreachable_patterns)]
        codec => Err(RecordError::CompressionUnavailable { codec }),
    }
}

/// An output buffer that refuses to hold more than `limit` bytes, and whose capacity
/// never exceeds `limit` either (it grows by doubling, clamped at the limit).
#[cfg_attr(not(any(feature = "gzip", feature = "snappy", feature = "lz4", feature = "zstd")), allow(dead_code))]
pub(crate) struct CappedSink {
    out: Vec<u8>,
    limit: usize,
}

// Which helpers are used depends on the codecs compiled in.
#[cfg_attr(not(all(feature = "gzip", feature = "snappy", feature = "lz4", feature = "zstd")), allow(dead_code))]
impl CappedSink {
    pub(crate) fn new(limit: usize) -> Self {
        Self { out: Vec::new(), limit }
    }

    /// Bytes that may still be added.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.out.len())
    }

    fn too_large(&self) -> RecordError {
        RecordError::DecompressedTooLarge { limit: self.limit }
    }

    /// Makes room for `n` more bytes, or fails if they would pass the limit.
    pub(crate) fn reserve(&mut self, n: usize) -> Result<(), RecordError> {
        if n > self.room() {
            return Err(self.too_large());
        }
        let spare = self.out.capacity().saturating_sub(self.out.len());
        if spare < n {
            let grow = self.out.len().max(n).max(4096).min(self.room());
            self.out.reserve_exact(grow);
        }
        Ok(())
    }

    /// Appends `bytes`, or fails if they would pass the limit.
    pub(crate) fn extend(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        self.reserve(bytes.len())?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// Appends `n` zero bytes and returns them to be filled in.
    pub(crate) fn zeroed(&mut self, n: usize) -> Result<&mut [u8], RecordError> {
        self.reserve(n)?;
        let start = self.out.len();
        self.out.resize(start + n, 0);
        Ok(self.out.get_mut(start..).unwrap_or_default())
    }

    /// Drops the last bytes so that `len` are kept.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
    }

    pub(crate) fn len(&self) -> usize {
        self.out.len()
    }

    /// Reads `reader` to its end into the sink, a 16 KiB chunk at a time.
    pub(crate) fn read_from(&mut self, mut reader: impl std::io::Read, codec: Compression) -> Result<(), RecordError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RecordError::Decompress { codec, reason: e.to_string() }),
            };
            let read = chunk.get(..n).ok_or_else(|| RecordError::Decompress {
                codec,
                reason: format!("reader returned {n} bytes for a {}-byte buffer", chunk.len()),
            })?;
            self.extend(read)?;
        }
    }

    /// Reads `reader` to its end into a new sink of `limit` bytes.
    pub(crate) fn read_all(
        limit: usize,
        reader: impl std::io::Read,
        codec: Compression,
    ) -> Result<Vec<u8>, RecordError> {
        let mut sink = CappedSink::new(limit);
        sink.read_from(reader, codec)?;
        Ok(sink.into_vec())
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_roundtrip() {
        for codec in Compression::ALL {
            assert_eq!(codec.name().parse::<Compression>().unwrap(), codec);
            assert_eq!(Compression::from_attributes(codec.id() | 0x38).unwrap(), codec);
            assert!(codec.is_available());
        }
        assert_eq!("GZIP".parse::<Compression>().unwrap(), Compression::Gzip);
        assert!("brotli".parse::<Compression>().is_err());
        assert_eq!(Compression::from_attributes(5), Err(RecordError::UnknownCompression { id: 5 }));
        assert_eq!(Compression::default(), Compression::None);
    }

    #[test]
    fn every_codec_roundtrips_and_is_deterministic() {
        let input: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_be_bytes()).collect();
        for codec in Compression::ALL {
            let mut a = BytesMut::new();
            compress(codec, &input, &mut a).unwrap();
            let mut b = BytesMut::new();
            compress(codec, &input, &mut b).unwrap();
            assert_eq!(a, b, "{codec} output is not deterministic");
            let back = decompress(codec, a.freeze(), input.len()).unwrap();
            assert_eq!(&back[..], &input[..], "{codec}");
        }
    }

    #[test]
    fn the_limit_is_exact() {
        let input = vec![7u8; 10_000];
        for codec in Compression::ALL.into_iter().skip(1) {
            let mut packed = BytesMut::new();
            compress(codec, &input, &mut packed).unwrap();
            let packed = packed.freeze();
            assert_eq!(decompress(codec, packed.clone(), 10_000).unwrap().len(), 10_000, "{codec}");
            assert_eq!(
                decompress(codec, packed, 9_999),
                Err(RecordError::DecompressedTooLarge { limit: 9_999 }),
                "{codec}"
            );
        }
    }

    #[test]
    fn capped_sink_capacity_stays_under_the_limit() {
        let mut sink = CappedSink::new(10_000);
        for _ in 0..9 {
            sink.extend(&[1; 1111]).unwrap();
        }
        assert!(sink.out.capacity() <= 10_000);
        assert!(sink.extend(&[1; 1001]).is_err());
        assert_eq!(sink.len(), 9999);
    }
}
