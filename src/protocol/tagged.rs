//! Tagged-field sections (KIP-482), which end every structure in a flexible version.
//!
//! A section is `count`, then `count` times `{tag, size, data}`, all unsigned varints
//! but the data. Tags come in strictly increasing order. A reader hands each known tag
//! to the structure's decoder and keeps unknown ones as [`RawTaggedField`]s, so a
//! message from a newer peer re-encodes byte-identically.

use bytes::{Bytes, BytesMut};

use super::error::{DecodeError, EncodeError};
use super::primitives::{read_raw, read_unsigned_varint, write_unsigned_varint};

/// A tagged field this codec does not know: its tag and its undecoded bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawTaggedField {
    /// The field's tag.
    pub tag: u32,
    /// The field's encoded value.
    pub data: Bytes,
}

/// Reads a tagged-field section.
///
/// `known` is called with each tag and its bytes; it decodes the tags it knows and
/// returns `Ok(false)` for the others, which are returned as raw fields. A known tag
/// must consume its bytes exactly. The generated decoders also return `Ok(false)` for a
/// known tag whose value is its default: Kafka never writes those, but some peers do
/// (tansu), and keeping the raw bytes lets the structure re-encode byte-identically.
pub fn read_section(
    buf: &mut Bytes,
    what: &'static str,
    mut known: impl FnMut(u32, &mut Bytes) -> Result<bool, DecodeError>,
) -> Result<Vec<RawTaggedField>, DecodeError> {
    let count = read_unsigned_varint(buf, what)?;
    let mut unknown = Vec::new();
    let mut previous: Option<u32> = None;
    for _ in 0..count {
        let tag = read_unsigned_varint(buf, what)?;
        if let Some(previous) = previous.filter(|&p| tag <= p) {
            return Err(DecodeError::TaggedFieldOrder { what, previous, tag });
        }
        previous = Some(tag);
        let size = read_unsigned_varint(buf, what)?;
        let size = usize::try_from(size).map_err(|_| DecodeError::InvalidLength { what, length: i64::from(size) })?;
        let raw = read_raw(buf, size, what)?;
        let mut data = raw.clone();
        if known(tag, &mut data)? {
            if !data.is_empty() {
                return Err(DecodeError::TrailingBytes { what, remaining: data.len() });
            }
        } else {
            unknown.push(RawTaggedField { tag, data: raw });
        }
    }
    Ok(unknown)
}

/// Collects the tagged fields of one structure, then writes them as a section in tag
/// order, merged with the unknown fields the structure carried in.
#[derive(Default)]
pub struct SectionWriter {
    fields: Vec<(u32, Bytes)>,
}

impl SectionWriter {
    /// An empty section.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a known field, written by `write`.
    pub fn field(
        &mut self,
        tag: u32,
        write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let mut data = BytesMut::new();
        write(&mut data)?;
        self.fields.push((tag, data.freeze()));
        Ok(())
    }

    /// Writes the section: the known fields and the raw `unknown` ones, sorted by tag.
    /// A raw field with the tag of a known field written here is dropped: it is that
    /// field at its default as a peer sent it, and the caller has since set the field.
    pub fn finish(
        mut self,
        buf: &mut BytesMut,
        unknown: &[RawTaggedField],
        what: &'static str,
    ) -> Result<(), EncodeError> {
        if self.fields.is_empty() && unknown.is_empty() {
            write_unsigned_varint(buf, 0);
            return Ok(());
        }
        let known_count = self.fields.len();
        for field in unknown {
            if !self.fields[..known_count].iter().any(|(tag, _)| *tag == field.tag) {
                self.fields.push((field.tag, field.data.clone()));
            }
        }
        self.fields.sort_by_key(|(tag, _)| *tag);
        if let Some(w) = self.fields.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(EncodeError::InvalidValue { what, value: i64::from(w[0].0) });
        }
        let count =
            u32::try_from(self.fields.len()).map_err(|_| EncodeError::TooLong { what, length: self.fields.len() })?;
        write_unsigned_varint(buf, count);
        for (tag, data) in &self.fields {
            let size = u32::try_from(data.len()).map_err(|_| EncodeError::TooLong { what, length: data.len() })?;
            write_unsigned_varint(buf, *tag);
            write_unsigned_varint(buf, size);
            buf.extend_from_slice(data);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_kept_and_rewritten_in_order() {
        let mut w = SectionWriter::new();
        w.field(1, |b| {
            b.extend_from_slice(b"k");
            Ok(())
        })
        .unwrap();
        let unknown =
            [RawTaggedField { tag: 0, data: Bytes::from_static(b"a") }, RawTaggedField { tag: 7, data: Bytes::new() }];
        let mut out = BytesMut::new();
        w.finish(&mut out, &unknown, "t").unwrap();
        assert_eq!(&out[..], &[3, 0, 1, b'a', 1, 1, b'k', 7, 0]);

        let mut seen = Vec::new();
        let kept = read_section(&mut out.freeze(), "t", |tag, data| {
            if tag == 1 {
                seen.push(data.split_to(1));
                return Ok(true);
            }
            Ok(false)
        })
        .unwrap();
        assert_eq!(seen, [Bytes::from_static(b"k")]);
        assert_eq!(kept, unknown);
    }

    #[test]
    fn a_known_field_replaces_a_raw_field_of_the_same_tag() {
        let mut w = SectionWriter::new();
        w.field(2, |b| {
            b.extend_from_slice(b"new");
            Ok(())
        })
        .unwrap();
        let raw = [RawTaggedField { tag: 2, data: Bytes::from_static(b"old") }];
        let mut out = BytesMut::new();
        w.finish(&mut out, &raw, "t").unwrap();
        assert_eq!(&out[..], &[1, 2, 3, b'n', b'e', b'w']);
    }

    #[test]
    fn decreasing_tags_are_refused() {
        let mut input = Bytes::from_static(&[2, 5, 0, 4, 0]);
        assert!(matches!(
            read_section(&mut input, "t", |_, _| Ok(false)),
            Err(DecodeError::TaggedFieldOrder { previous: 5, tag: 4, .. })
        ));
    }

    #[test]
    fn a_known_field_must_consume_its_bytes() {
        let mut input = Bytes::from_static(&[1, 0, 2, 9, 9]);
        let err = read_section(&mut input, "t", |_, data| {
            let _first = data.split_to(1);
            Ok(true)
        });
        assert!(matches!(err, Err(DecodeError::TrailingBytes { remaining: 1, .. })));
    }
}
