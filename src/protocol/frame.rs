//! Whole frames: the int32 size prefix around a header and a body (`FRAMING.md` §1).
//!
//! Sans I/O, like mini-redis's `Frame::check` then `parse`: [`frame_length`] says
//! whether a buffer holds a whole frame (and refuses an over-large one before a byte of
//! it is buffered), then the encode and decode functions turn frames into headers and
//! messages. The connection in `net/` owns the socket.

use bytes::{BufMut, Bytes, BytesMut};

use super::api_key::ApiKey;
use super::codec::{Message, Request};
use super::error::{DecodeError, EncodeError};
use super::header::{RequestHeader, ResponseHeader};

/// The largest frame accepted by default: 100 MiB, as Kafka's `socket.request.max.bytes`.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// A size prefix that cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("frame size {0} is negative")]
    NegativeSize(i32),
    /// The frame is larger than the configured maximum; nothing was allocated for it.
    #[error("frame of {size} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The size the prefix announced.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
}

/// Whether `buf` starts with a whole frame: `Ok(Some(n))` when the first `4 + n`
/// bytes are one (`n` the size prefix), `Ok(None)` when more bytes are needed.
///
/// # Errors
///
/// [`FrameError`] for a negative size or one over `max_size`, as soon as the prefix is
/// read.
pub fn frame_length(buf: &[u8], max_size: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let size = usize::try_from(size).map_err(|_| FrameError::NegativeSize(size))?;
    if size > max_size {
        return Err(FrameError::TooLarge { size, max: max_size });
    }
    Ok((buf.len() >= 4 + size).then_some(size))
}

/// Room for everything in a frame but its record data: headers, names, and a few
/// bytes per partition; a frame with more grows once.
const FRAME_OVERHEAD: usize = 4096;

/// Writes the size prefix in front of what `body` appends, in a buffer sized for
/// `records_len` bytes of record data.
fn framed(
    records_len: usize,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<BytesMut, EncodeError> {
    let capacity = if records_len == 0 { 64 } else { records_len.saturating_add(FRAME_OVERHEAD) };
    let mut buf = BytesMut::with_capacity(capacity);
    buf.put_i32(0);
    body(&mut buf)?;
    let size = buf.len() - 4;
    let size = i32::try_from(size).map_err(|_| EncodeError::TooLong { what: "frame", length: size })?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf)
}

/// Encodes a whole request frame (size prefix, header, body) at `version`.
///
/// # Errors
///
/// [`EncodeError`] when the request does not fit the version.
pub fn encode_request<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
) -> Result<BytesMut, EncodeError> {
    let header = RequestHeader {
        api_key: R::API_KEY as i16,
        api_version: version,
        correlation_id,
        client_id: client_id.map(str::to_owned),
        unknown_tagged_fields: Vec::new(),
    };
    framed(request.records_len(), |buf| {
        header.encode(buf, R::API_KEY.request_header_version(version))?;
        request.encode(buf, version)
    })
}

/// Encodes a whole response frame answering `api_key` at `version`.
///
/// # Errors
///
/// [`EncodeError`] when the response does not fit the version.
pub fn encode_response<M: Message>(
    response: &M,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Result<BytesMut, EncodeError> {
    let header = ResponseHeader { correlation_id, unknown_tagged_fields: Vec::new() };
    framed(response.records_len(), |buf| {
        header.encode(buf, api_key.response_header_version(version))?;
        response.encode(buf, version)
    })
}

/// Reads the correlation id at the front of a response frame (without its prefix),
/// which is where every response header version puts it.
///
/// # Errors
///
/// [`DecodeError::UnexpectedEof`] for a frame shorter than 4 bytes.
pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, DecodeError> {
    match frame.get(..4) {
        Some(b) => Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => {
            Err(DecodeError::UnexpectedEof { what: "ResponseHeader.correlation_id", needed: 4, remaining: frame.len() })
        }
    }
}

/// Decodes a response frame (without its prefix) for a request of `api_key` at
/// `version`.
///
/// Bytes after the body are ignored, as Kafka's Java client and librdkafka ignore
/// them: librdkafka 2.16's mock cluster appends a stray byte to every flexible Metadata
/// response, and a client that refused those answers would be useless against it.
/// (Requests, which a broker reads, go through the strict [`decode_exact`].)
///
/// # Errors
///
/// [`DecodeError`] for a malformed header or body.
pub fn decode_response<M: Message>(
    mut frame: Bytes,
    api_key: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, M), DecodeError> {
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))?;
    let body = M::decode(&mut frame, version)?;
    Ok((header, body))
}

/// Decodes a request body of a known type whose header has been read.
///
/// # Errors
///
/// [`DecodeError`] for a malformed body or bytes left over.
pub fn decode_exact<M: Message>(frame: &mut Bytes, version: i16) -> Result<M, DecodeError> {
    let body = M::decode(frame, version)?;
    if !frame.is_empty() {
        return Err(DecodeError::TrailingBytes { what: M::NAME, remaining: frame.len() });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::Encode;
    use crate::protocol::messages::api_versions_response::ApiVersion;
    use crate::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

    /// A produce request's buffer is sized for its record data up front: it is never
    /// grown (each growth copied every record again).
    #[test]
    fn a_produce_frame_is_sized_for_its_records_once() {
        use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use crate::protocol::messages::ProduceRequest;
        let partition = |index, len| PartitionProduceData {
            index,
            records: Some(Bytes::from(vec![7u8; len])),
            ..Default::default()
        };
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: (0..6).map(|i| partition(i, 200_000)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(request.records_len(), 1_200_000);
        for version in [3, 9, 11] {
            let frame = encode_request(&request, version, 1, Some("c")).unwrap();
            assert!(frame.len() > 1_200_000, "v{version}");
            assert_eq!(frame.capacity(), 1_200_000 + FRAME_OVERHEAD, "v{version}: the buffer grew");
        }
        let empty = ApiVersionsRequest::default();
        assert_eq!(empty.records_len(), 0);
    }

    /// `FRAMING.md` §7, byte for byte.
    #[test]
    fn the_worked_example_encodes_byte_for_byte() {
        let request = ApiVersionsRequest {
            client_software_name: "k".into(),
            client_software_version: "1".into(),
            ..Default::default()
        };
        let frame = encode_request(&request, 3, 1, Some("c")).unwrap();
        assert_eq!(&frame[..], &[0, 0, 0, 0x11, 0, 0x12, 0, 3, 0, 0, 0, 1, 0, 1, b'c', 0, 2, b'k', 2, b'1', 0]);

        let response = ApiVersionsResponse {
            api_keys: vec![ApiVersion { api_key: 18, min_version: 0, max_version: 3, ..Default::default() }],
            ..Default::default()
        };
        let frame = encode_response(&response, ApiKey::ApiVersions, 3, 1).unwrap();
        let expected = [0, 0, 0, 0x13, 0, 0, 0, 1, 0, 0, 2, 0, 0x12, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0];
        assert_eq!(&frame[..], &expected);
        let (header, decoded) =
            decode_response::<ApiVersionsResponse>(Bytes::copy_from_slice(&expected[4..]), ApiKey::ApiVersions, 3)
                .unwrap();
        assert_eq!((header.correlation_id, decoded), (1, response));
    }

    /// The attack that aborts the `kafka-protocol` crate: a tiny request whose array
    /// count claims 2^31 elements. Ours answers with an error and allocates nothing.
    #[test]
    fn a_tiny_request_claiming_two_billion_elements_is_an_error() {
        use crate::protocol::messages::ProduceRequest;
        // acks, timeout_ms, then topic_data's count: i32::MAX, and no elements.
        let body = Bytes::from_static(&[0xff, 0xff, 0, 0, 0x75, 0x30, 0x7f, 0xff, 0xff, 0xff]);
        let err = decode_exact::<ProduceRequest>(&mut body.clone(), 0).unwrap_err();
        assert!(matches!(err, DecodeError::InvalidLength { length: 2147483647, .. }), "{err}");
        // The same in a flexible version: a compact count of 2^32 - 2.
        let body = Bytes::from_static(&[0x00, 0xff, 0xff, 0, 0, 0x75, 0x30, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        let err = decode_exact::<ProduceRequest>(&mut body.clone(), 9).unwrap_err();
        assert!(matches!(err, DecodeError::InvalidLength { .. } | DecodeError::VarintTooLong { .. }), "{err}");
    }

    #[test]
    fn bytes_after_the_body_are_an_error() {
        use crate::protocol::messages::HeartbeatResponse;
        let mut body = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 9, 9]); // throttle, error code, then 2 stray bytes
        let err = decode_exact::<HeartbeatResponse>(&mut body, 1).unwrap_err();
        assert_eq!(err, DecodeError::TrailingBytes { what: "HeartbeatResponse", remaining: 2 });
    }

    proptest::proptest! {
        #[test]
        fn frame_length_never_panics(bytes: Vec<u8>, max in 0usize..1 << 20) {
            if let Ok(Some(n)) = frame_length(&bytes, max) {
                proptest::prop_assert!(n <= max && 4 + n <= bytes.len());
            }
        }
    }

    #[test]
    fn frame_length_refuses_large_and_negative_sizes_early() {
        assert_eq!(frame_length(&[0, 0], 100), Ok(None));
        assert_eq!(frame_length(&[0, 0, 0, 5, 1], 100), Ok(None));
        assert_eq!(frame_length(&[0, 0, 0, 1, 1], 100), Ok(Some(1)));
        assert_eq!(
            frame_length(&[0x7f, 0xff, 0xff, 0xff], 100),
            Err(FrameError::TooLarge { size: i32::MAX as usize, max: 100 })
        );
        assert_eq!(frame_length(&[0xff, 0xff, 0xff, 0xff], 100), Err(FrameError::NegativeSize(-1)));
    }
}
