//! Request and response headers (`RequestHeader.json`, `ResponseHeader.json`).
//!
//! The header version is not on the wire: it follows from the API key and version
//! (see [`ApiKey::request_header_version`]). A request header is therefore read in two
//! steps: the fixed api key and version first, then the rest.

use bytes::{Bytes, BytesMut};

use super::api_key::ApiKey;
use super::error::{DecodeError, EncodeError};
use super::primitives::{read_i16, read_i32, read_nullable_string, write_i16, write_i32, write_nullable_string};
use super::tagged::{read_section, RawTaggedField, SectionWriter};

/// The header in front of every request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// The API key of the request.
    pub api_key: i16,
    /// The API version of the request.
    pub api_version: i16,
    /// Echoed in the response, to match it to the request.
    pub correlation_id: i32,
    /// The client's id (header v1+). A classic nullable string even in header v2, so
    /// that any broker can read the header of any ApiVersions request.
    pub client_id: Option<String>,
    /// Tagged fields (header v2), kept as they came.
    pub unknown_tagged_fields: Vec<RawTaggedField>,
}

impl RequestHeader {
    /// Writes the header at `header_version` (0, 1 or 2).
    ///
    /// # Errors
    ///
    /// [`EncodeError`] for an unknown header version or an over-long client id.
    pub fn encode(&self, buf: &mut BytesMut, header_version: i16) -> Result<(), EncodeError> {
        if !(0..=2).contains(&header_version) {
            return Err(EncodeError::UnsupportedVersion { what: "RequestHeader", version: header_version });
        }
        write_i16(buf, self.api_key);
        write_i16(buf, self.api_version);
        write_i32(buf, self.correlation_id);
        if header_version >= 1 {
            write_nullable_string(buf, self.client_id.as_deref(), false, "RequestHeader.client_id")?;
        }
        if header_version >= 2 {
            SectionWriter::new().finish(buf, &self.unknown_tagged_fields, "RequestHeader")?;
        }
        Ok(())
    }

    /// Reads a header whose version the caller knows.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for a truncated or malformed header.
    pub fn decode_version(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        if !(0..=2).contains(&header_version) {
            return Err(DecodeError::UnsupportedVersion { what: "RequestHeader", version: header_version });
        }
        let mut header = RequestHeader {
            api_key: read_i16(buf, "RequestHeader.api_key")?,
            api_version: read_i16(buf, "RequestHeader.api_version")?,
            correlation_id: read_i32(buf, "RequestHeader.correlation_id")?,
            ..Default::default()
        };
        if header_version >= 1 {
            header.client_id = read_nullable_string(buf, false, "RequestHeader.client_id")?;
        }
        if header_version >= 2 {
            header.unknown_tagged_fields = read_section(buf, "RequestHeader", |_, _| Ok(false))?;
        }
        Ok(header)
    }

    /// Reads a request header as a broker does: the api key and version decide the
    /// header version. A version of a known API outside the codec's range is read
    /// with the header of the nearest version (the broker then answers
    /// UNSUPPORTED_VERSION, which needs the correlation id).
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnknownApiKey`] for an API this codec does not know, or any
    /// error reading the header.
    pub fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut peek = buf.clone();
        let api_key = read_i16(&mut peek, "RequestHeader.api_key")?;
        let api_version = read_i16(&mut peek, "RequestHeader.api_version")?;
        let key = ApiKey::from_i16(api_key).ok_or(DecodeError::UnknownApiKey { api_key })?;
        let range = key.versions();
        let nearest = api_version.clamp(range.min, range.max);
        Self::decode_version(buf, key.request_header_version(nearest))
    }
}

/// The header in front of every response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: i32,
    /// Tagged fields (header v1), kept as they came.
    pub unknown_tagged_fields: Vec<RawTaggedField>,
}

impl ResponseHeader {
    /// Writes the header at `header_version` (0 or 1).
    ///
    /// # Errors
    ///
    /// [`EncodeError`] for an unknown header version.
    pub fn encode(&self, buf: &mut BytesMut, header_version: i16) -> Result<(), EncodeError> {
        if !(0..=1).contains(&header_version) {
            return Err(EncodeError::UnsupportedVersion { what: "ResponseHeader", version: header_version });
        }
        write_i32(buf, self.correlation_id);
        if header_version >= 1 {
            SectionWriter::new().finish(buf, &self.unknown_tagged_fields, "ResponseHeader")?;
        }
        Ok(())
    }

    /// Reads a header at `header_version` (0 or 1).
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for a truncated or malformed header.
    pub fn decode(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        if !(0..=1).contains(&header_version) {
            return Err(DecodeError::UnsupportedVersion { what: "ResponseHeader", version: header_version });
        }
        let mut header =
            ResponseHeader { correlation_id: read_i32(buf, "ResponseHeader.correlation_id")?, ..Default::default() };
        if header_version >= 1 {
            header.unknown_tagged_fields = read_section(buf, "ResponseHeader", |_, _| Ok(false))?;
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of `FRAMING.md` §7, without its size prefix.
    #[test]
    fn api_versions_v3_request_header_matches_the_framing_example() {
        let header = RequestHeader {
            api_key: 18,
            api_version: 3,
            correlation_id: 1,
            client_id: Some("c".into()),
            ..Default::default()
        };
        let mut out = BytesMut::new();
        header.encode(&mut out, 2).unwrap();
        assert_eq!(&out[..], &[0x00, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0x00, 0x01, b'c', 0x00]);
        let decoded = RequestHeader::decode(&mut out.freeze()).unwrap();
        assert_eq!(decoded, header);
    }

    #[test]
    fn an_unknown_api_key_is_a_typed_error() {
        let mut input = Bytes::from_static(&[0x01, 0x00, 0, 0, 0, 0, 0, 1]);
        assert_eq!(RequestHeader::decode(&mut input), Err(DecodeError::UnknownApiKey { api_key: 256 }));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let input = Bytes::from(bytes);
            let _ = RequestHeader::decode(&mut input.clone());
            let _ = ResponseHeader::decode(&mut input.clone(), 1);
        }
    }
}
