//! The Kafka protocol's primitive types (`FRAMING.md` §5), read from [`Bytes`] and
//! written to [`BytesMut`].
//!
//! Every reader checks the bytes left before it takes any, and every length read off
//! the wire is checked against the bytes left *before* anything is allocated: a
//! 4-byte array count of 2^31 costs an error, not 2 GiB. Readers take a `what` (the
//! message and field) only to put it in the error.
//!
//! Writers fail with [`EncodeError::TooLong`] instead of truncating a length with
//! `as`.
//!
//! # Examples
//!
//! ```
//! use actix_kafka::protocol::primitives::{read_string, write_string};
//! use bytes::{Bytes, BytesMut};
//!
//! let mut out = BytesMut::new();
//! write_string(&mut out, "orders", true, "topic").unwrap(); // compact: length + 1
//! assert_eq!(&out[..], b"\x07orders");
//! let mut input: Bytes = out.freeze();
//! assert_eq!(read_string(&mut input, true, "topic").unwrap(), "orders");
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::{DecodeError, EncodeError};

/// A 128-bit UUID as Kafka sends it: 16 bytes, big-endian (topic ids, KIP-516).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, Kafka's "no topic id".
    pub const ZERO: Uuid = Uuid([0; 16]);
}

impl std::fmt::Debug for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Fails unless `n` bytes are left.
#[inline]
pub fn need(buf: &Bytes, n: usize, what: &'static str) -> Result<(), DecodeError> {
    if buf.remaining() < n {
        return Err(DecodeError::UnexpectedEof { what, needed: n, remaining: buf.remaining() });
    }
    Ok(())
}

/// Takes the next `n` bytes without copying them.
pub fn read_raw(buf: &mut Bytes, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
    need(buf, n, what)?;
    Ok(buf.split_to(n))
}

macro_rules! fixed_width {
    ($read:ident, $write:ident, $ty:ty, $get:ident, $put:ident) => {
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $read(buf: &mut Bytes, what: &'static str) -> Result<$ty, DecodeError> {
            need(buf, std::mem::size_of::<$ty>(), what)?;
            Ok(buf.$get())
        }

        #[doc = concat!("Writes a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $write(buf: &mut BytesMut, value: $ty) {
            buf.$put(value);
        }
    };
}

fixed_width!(read_i8, write_i8, i8, get_i8, put_i8);
fixed_width!(read_i16, write_i16, i16, get_i16, put_i16);
fixed_width!(read_u16, write_u16, u16, get_u16, put_u16);
fixed_width!(read_i32, write_i32, i32, get_i32, put_i32);
fixed_width!(read_u32, write_u32, u32, get_u32, put_u32);
fixed_width!(read_i64, write_i64, i64, get_i64, put_i64);
fixed_width!(read_f64, write_f64, f64, get_f64, put_f64);

/// Reads a boolean: any non-zero byte is `true`, as Kafka reads it.
pub fn read_bool(buf: &mut Bytes, what: &'static str) -> Result<bool, DecodeError> {
    Ok(read_i8(buf, what)? != 0)
}

/// Writes a boolean as 0 or 1.
pub fn write_bool(buf: &mut BytesMut, value: bool) {
    buf.put_u8(u8::from(value));
}

/// Reads a 16-byte UUID.
pub fn read_uuid(buf: &mut Bytes, what: &'static str) -> Result<Uuid, DecodeError> {
    need(buf, 16, what)?;
    let mut id = [0u8; 16];
    buf.copy_to_slice(&mut id);
    Ok(Uuid(id))
}

/// Writes a 16-byte UUID.
pub fn write_uuid(buf: &mut BytesMut, value: Uuid) {
    buf.put_slice(&value.0);
}

/// Reads a protobuf base-128 varint of at most `max_bytes` bytes as a `u64`.
fn read_base128(buf: &mut Bytes, max_bytes: usize, what: &'static str) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        need(buf, 1, what)?;
        let byte = buf.get_u8();
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong { what, max_bytes })
}

fn write_base128(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Reads an UNSIGNED_VARINT (at most 5 bytes, a `u32`).
pub fn read_unsigned_varint(buf: &mut Bytes, what: &'static str) -> Result<u32, DecodeError> {
    let value = read_base128(buf, 5, what)?;
    u32::try_from(value).map_err(|_| DecodeError::VarintTooLong { what, max_bytes: 5 })
}

/// Writes an UNSIGNED_VARINT.
pub fn write_unsigned_varint(buf: &mut BytesMut, value: u32) {
    write_base128(buf, u64::from(value));
}

/// The number of bytes [`write_unsigned_varint`] writes for `value`.
pub fn unsigned_varint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Reads a zig-zag VARINT (an `i32`, at most 5 bytes), as record batches use.
pub fn read_varint(buf: &mut Bytes, what: &'static str) -> Result<i32, DecodeError> {
    let raw = read_unsigned_varint(buf, what)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Writes a zig-zag VARINT.
pub fn write_varint(buf: &mut BytesMut, value: i32) {
    write_unsigned_varint(buf, ((value << 1) ^ (value >> 31)) as u32);
}

/// The number of bytes [`write_varint`] writes for `value`.
pub fn varint_len(value: i32) -> usize {
    unsigned_varint_len(((value << 1) ^ (value >> 31)) as u32)
}

/// Reads a zig-zag VARLONG (an `i64`, at most 10 bytes).
pub fn read_varlong(buf: &mut Bytes, what: &'static str) -> Result<i64, DecodeError> {
    let raw = read_base128(buf, 10, what)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Writes a zig-zag VARLONG.
pub fn write_varlong(buf: &mut BytesMut, value: i64) {
    write_base128(buf, ((value << 1) ^ (value >> 63)) as u64);
}

/// The number of bytes [`write_varlong`] writes for `value`.
pub fn varlong_len(value: i64) -> usize {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    let mut n = 1;
    while raw >= 0x80 {
        raw >>= 7;
        n += 1;
    }
    n
}

/// Reads the length prefix of a string, bytes or array: `None` for null, otherwise
/// a length that is at most the bytes left (so it is safe to allocate for).
///
/// `width` is 2 for classic strings, 4 for classic bytes and arrays; flexible forms
/// use an unsigned varint holding length + 1.
fn read_length(buf: &mut Bytes, flexible: bool, width: u8, what: &'static str) -> Result<Option<usize>, DecodeError> {
    let length: i64 = if flexible {
        i64::from(read_unsigned_varint(buf, what)?) - 1
    } else if width == 2 {
        i64::from(read_i16(buf, what)?)
    } else {
        i64::from(read_i32(buf, what)?)
    };
    if length == -1 {
        return Ok(None);
    }
    match usize::try_from(length) {
        Ok(n) if n <= buf.remaining() => Ok(Some(n)),
        _ => Err(DecodeError::InvalidLength { what, length }),
    }
}

/// Writes a length prefix; `None` writes the null marker.
fn write_length(
    buf: &mut BytesMut,
    length: Option<usize>,
    flexible: bool,
    width: u8,
    what: &'static str,
) -> Result<(), EncodeError> {
    let too_long = |length| EncodeError::TooLong { what, length };
    match (length, flexible) {
        (None, true) => write_unsigned_varint(buf, 0),
        (None, false) if width == 2 => write_i16(buf, -1),
        (None, false) => write_i32(buf, -1),
        // Kafka reads compact lengths into an int, so length + 1 must fit an i32.
        (Some(n), true) => match i32::try_from(n).ok().and_then(|n| n.checked_add(1)) {
            Some(n_plus_1) => write_unsigned_varint(buf, n_plus_1 as u32),
            None => return Err(too_long(n)),
        },
        (Some(n), false) if width == 2 => write_i16(buf, i16::try_from(n).map_err(|_| too_long(n))?),
        (Some(n), false) => write_i32(buf, i32::try_from(n).map_err(|_| too_long(n))?),
    }
    Ok(())
}

fn to_string(raw: Bytes, what: &'static str) -> Result<String, DecodeError> {
    String::from_utf8(raw.into()).map_err(|_| DecodeError::InvalidUtf8 { what })
}

/// Reads a STRING (or COMPACT_STRING when `flexible`); null is an error.
pub fn read_string(buf: &mut Bytes, flexible: bool, what: &'static str) -> Result<String, DecodeError> {
    match read_nullable_string(buf, flexible, what)? {
        Some(s) => Ok(s),
        None => Err(DecodeError::UnexpectedNull { what, version: -1 }),
    }
}

/// Reads a NULLABLE_STRING (or COMPACT_NULLABLE_STRING when `flexible`).
pub fn read_nullable_string(
    buf: &mut Bytes,
    flexible: bool,
    what: &'static str,
) -> Result<Option<String>, DecodeError> {
    match read_length(buf, flexible, 2, what)? {
        None => Ok(None),
        Some(n) => to_string(buf.split_to(n), what).map(Some),
    }
}

/// Writes a STRING (or COMPACT_STRING when `flexible`).
pub fn write_string(buf: &mut BytesMut, value: &str, flexible: bool, what: &'static str) -> Result<(), EncodeError> {
    write_length(buf, Some(value.len()), flexible, 2, what)?;
    buf.put_slice(value.as_bytes());
    Ok(())
}

/// Writes a NULLABLE_STRING (or COMPACT_NULLABLE_STRING when `flexible`).
pub fn write_nullable_string(
    buf: &mut BytesMut,
    value: Option<&str>,
    flexible: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match value {
        Some(s) => write_string(buf, s, flexible, what),
        None => write_length(buf, None, flexible, 2, what),
    }
}

/// Reads BYTES (or COMPACT_BYTES when `flexible`) without copying; null is an error.
pub fn read_bytes(buf: &mut Bytes, flexible: bool, what: &'static str) -> Result<Bytes, DecodeError> {
    match read_nullable_bytes(buf, flexible, what)? {
        Some(b) => Ok(b),
        None => Err(DecodeError::UnexpectedNull { what, version: -1 }),
    }
}

/// Reads NULLABLE_BYTES (or COMPACT_NULLABLE_BYTES when `flexible`) without copying.
pub fn read_nullable_bytes(buf: &mut Bytes, flexible: bool, what: &'static str) -> Result<Option<Bytes>, DecodeError> {
    Ok(read_length(buf, flexible, 4, what)?.map(|n| buf.split_to(n)))
}

/// Writes BYTES (or COMPACT_BYTES when `flexible`).
pub fn write_bytes(buf: &mut BytesMut, value: &[u8], flexible: bool, what: &'static str) -> Result<(), EncodeError> {
    write_length(buf, Some(value.len()), flexible, 4, what)?;
    buf.put_slice(value);
    Ok(())
}

/// Writes NULLABLE_BYTES (or COMPACT_NULLABLE_BYTES when `flexible`).
pub fn write_nullable_bytes(
    buf: &mut BytesMut,
    value: Option<&[u8]>,
    flexible: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match value {
        Some(b) => write_bytes(buf, b, flexible, what),
        None => write_length(buf, None, flexible, 4, what),
    }
}

/// Reads an ARRAY (or COMPACT_ARRAY when `flexible`) of elements read by `element`;
/// null is an error.
///
/// The count is checked against the bytes left (every element takes at least one
/// byte in every message this codec knows), so the vector allocated up front is never
/// larger than the input.
pub fn read_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    what: &'static str,
    element: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    match read_nullable_array(buf, flexible, what, element)? {
        Some(v) => Ok(v),
        None => Err(DecodeError::UnexpectedNull { what, version: -1 }),
    }
}

/// Reads a nullable ARRAY (or COMPACT_ARRAY when `flexible`).
pub fn read_nullable_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    what: &'static str,
    mut element: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Option<Vec<T>>, DecodeError> {
    let Some(count) = read_length(buf, flexible, 4, what)? else {
        return Ok(None);
    };
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(element(buf)?);
    }
    Ok(Some(items))
}

/// Writes an ARRAY (or COMPACT_ARRAY when `flexible`), each element by `element`.
pub fn write_array<T>(
    buf: &mut BytesMut,
    items: &[T],
    flexible: bool,
    what: &'static str,
    mut element: impl FnMut(&mut BytesMut, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    write_length(buf, Some(items.len()), flexible, 4, what)?;
    items.iter().try_for_each(|item| element(buf, item))
}

/// Writes a nullable ARRAY (or COMPACT_ARRAY when `flexible`).
pub fn write_nullable_array<T>(
    buf: &mut BytesMut,
    items: Option<&[T]>,
    flexible: bool,
    what: &'static str,
    element: impl FnMut(&mut BytesMut, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    match items {
        Some(items) => write_array(buf, items, flexible, what, element),
        None => write_length(buf, None, flexible, 4, what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut b = BytesMut::new();
        f(&mut b);
        b.to_vec()
    }

    #[test]
    fn varints_match_the_framing_examples() {
        for (v, bytes) in [(0u32, &[0x00][..]), (127, &[0x7f]), (128, &[0x80, 0x01]), (300, &[0xac, 0x02])] {
            assert_eq!(encoded(|b| write_unsigned_varint(b, v)), bytes);
            assert_eq!(unsigned_varint_len(v), bytes.len());
        }
        for (v, bytes) in
            [(0i32, &[0x00][..]), (-1, &[0x01]), (1, &[0x02]), (-2, &[0x03]), (-64, &[0x7f]), (64, &[0x80, 0x01])]
        {
            assert_eq!(encoded(|b| write_varint(b, v)), bytes);
            assert_eq!(read_varint(&mut Bytes::copy_from_slice(bytes), "t").unwrap(), v);
        }
    }

    #[test]
    fn compact_forms_of_empty_and_null() {
        assert_eq!(encoded(|b| write_string(b, "", true, "s").unwrap()), [0x01]);
        assert_eq!(encoded(|b| write_nullable_string(b, None, true, "s").unwrap()), [0x00]);
        assert_eq!(encoded(|b| write_nullable_string(b, None, false, "s").unwrap()), [0xff, 0xff]);
        assert_eq!(encoded(|b| write_nullable_bytes(b, None, false, "s").unwrap()), [0xff; 4]);
    }

    #[test]
    fn a_huge_array_count_allocates_nothing() {
        let mut input = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
        let err = read_array(&mut input, false, "a", |b| read_i32(b, "e")).unwrap_err();
        assert_eq!(err, DecodeError::InvalidLength { what: "a", length: i64::from(i32::MAX) });
    }

    #[test]
    fn a_negative_length_other_than_null_is_an_error() {
        let mut input = Bytes::from_static(&[0xff, 0xfe]);
        assert!(matches!(
            read_nullable_string(&mut input, false, "s"),
            Err(DecodeError::InvalidLength { length: -2, .. })
        ));
    }

    #[test]
    fn over_long_varints_are_refused() {
        let mut input = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(read_unsigned_varint(&mut input, "v"), Err(DecodeError::VarintTooLong { .. })));
        let mut input = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(matches!(read_unsigned_varint(&mut input, "v"), Err(DecodeError::VarintTooLong { .. })));
    }

    #[test]
    fn too_long_strings_are_an_encode_error_not_a_truncation() {
        let long = "x".repeat(40_000);
        let err = write_string(&mut BytesMut::new(), &long, false, "s").unwrap_err();
        assert_eq!(err, EncodeError::TooLong { what: "s", length: 40_000 });
        assert!(write_string(&mut BytesMut::new(), &long, true, "s").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn varlong_roundtrip(v: i64) {
            let bytes = encoded(|b| write_varlong(b, v));
            proptest::prop_assert_eq!(bytes.len(), varlong_len(v));
            proptest::prop_assert_eq!(read_varlong(&mut Bytes::from(bytes), "v").unwrap(), v);
        }

        #[test]
        fn varint_roundtrip(v: i32) {
            let bytes = encoded(|b| write_varint(b, v));
            proptest::prop_assert_eq!(bytes.len(), varint_len(v));
            proptest::prop_assert_eq!(read_varint(&mut Bytes::from(bytes), "v").unwrap(), v);
        }

        #[test]
        fn nullable_string_roundtrip(s: Option<String>, flexible: bool) {
            let bytes = encoded(|b| write_nullable_string(b, s.as_deref(), flexible, "s").unwrap());
            proptest::prop_assert_eq!(read_nullable_string(&mut Bytes::from(bytes), flexible, "s").unwrap(), s);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>, flexible: bool) {
            let input = Bytes::from(bytes);
            let _ = read_nullable_string(&mut input.clone(), flexible, "s");
            let _ = read_nullable_bytes(&mut input.clone(), flexible, "b");
            let _ = read_nullable_array(&mut input.clone(), flexible, "a", |b| read_string(b, flexible, "e"));
            let _ = read_varlong(&mut input.clone(), "v");
        }
    }
}
