//! The codec check every recorded frame must pass: it decodes with our codec, using
//! every byte, and re-encodes byte for byte.

use actix_kafka::protocol::messages::*;
use actix_kafka::protocol::{ApiKey, Message, Request, RequestHeader, ResponseHeader};
use bytes::{Bytes, BytesMut};

/// Which side of an exchange a frame (without its size prefix) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A request: its header says which API and version it is.
    Request,
    /// A response to a request of this api key and version.
    Response {
        /// The request's api key.
        api_key: i16,
        /// The request's api version.
        api_version: i16,
    },
}

/// What [`check_frame`] found, short of a codec bug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Decoded with no byte left and re-encoded identically.
    Exact,
    /// Not a valid encoding, in one of the ways librdkafka's mock cluster is known to
    /// get wrong (see [`librdkafka_mock_quirk`]); says which.
    PeerQuirk(String),
    /// An API or version our codec does not implement (a peer may speak more), so
    /// there is nothing to check; says which.
    NotImplemented(String),
}

/// Checks one frame: header and body decode with no byte left, and encode back to
/// the same bytes.
///
/// # Errors
///
/// A description of the first thing that went wrong: that is a codec bug.
pub fn check_frame(frame: &Bytes, kind: FrameKind) -> Result<Checked, String> {
    let (api_key, api_version) = match kind {
        FrameKind::Request => {
            let raw = frame.get(..4).ok_or("a request shorter than 4 bytes")?;
            (i16::from_be_bytes([raw[0], raw[1]]), i16::from_be_bytes([raw[2], raw[3]]))
        }
        FrameKind::Response { api_key, api_version } => (api_key, api_version),
    };
    let Some(key) = ApiKey::from_i16(api_key) else {
        return Ok(Checked::NotImplemented(format!("api key {api_key}")));
    };
    if !key.versions().contains(api_version) {
        return Ok(Checked::NotImplemented(format!("{key} v{api_version}")));
    }
    let request = kind == FrameKind::Request;
    let checked = check_known(key, api_version, request, frame);
    match checked {
        Err(e) if !request => match librdkafka_mock_quirk(key, api_version, frame) {
            Some(quirk) => Ok(Checked::PeerQuirk(format!("{quirk} (strictly: {e})"))),
            None => Err(e),
        },
        checked => checked,
    }
}

fn check_known(key: ApiKey, api_version: i16, request: bool, frame: &Bytes) -> Result<Checked, String> {
    match key {
        ApiKey::Produce => check::<ProduceRequest>(request, key, api_version, frame),
        ApiKey::Fetch => check::<FetchRequest>(request, key, api_version, frame),
        ApiKey::ListOffsets => check::<ListOffsetsRequest>(request, key, api_version, frame),
        ApiKey::Metadata => check::<MetadataRequest>(request, key, api_version, frame),
        ApiKey::OffsetCommit => check::<OffsetCommitRequest>(request, key, api_version, frame),
        ApiKey::OffsetFetch => check::<OffsetFetchRequest>(request, key, api_version, frame),
        ApiKey::FindCoordinator => check::<FindCoordinatorRequest>(request, key, api_version, frame),
        ApiKey::JoinGroup => check::<JoinGroupRequest>(request, key, api_version, frame),
        ApiKey::Heartbeat => check::<HeartbeatRequest>(request, key, api_version, frame),
        ApiKey::LeaveGroup => check::<LeaveGroupRequest>(request, key, api_version, frame),
        ApiKey::SyncGroup => check::<SyncGroupRequest>(request, key, api_version, frame),
        ApiKey::DescribeGroups => check::<DescribeGroupsRequest>(request, key, api_version, frame),
        ApiKey::ListGroups => check::<ListGroupsRequest>(request, key, api_version, frame),
        ApiKey::SaslHandshake => check::<SaslHandshakeRequest>(request, key, api_version, frame),
        ApiKey::ApiVersions => check::<ApiVersionsRequest>(request, key, api_version, frame),
        ApiKey::CreateTopics => check::<CreateTopicsRequest>(request, key, api_version, frame),
        ApiKey::DeleteTopics => check::<DeleteTopicsRequest>(request, key, api_version, frame),
        ApiKey::InitProducerId => check::<InitProducerIdRequest>(request, key, api_version, frame),
        ApiKey::SaslAuthenticate => check::<SaslAuthenticateRequest>(request, key, api_version, frame),
        other => Ok(Checked::NotImplemented(format!("{other} (not in this check's table)"))),
    }
}

/// The request or the response side of `R`.
fn check<R: Request>(request: bool, key: ApiKey, version: i16, frame: &Bytes) -> Result<Checked, String> {
    if request {
        check_request::<R>(key, version, frame)
    } else {
        check_response::<R::Response>(key, version, frame)
    }
}

fn check_request<R: Message>(key: ApiKey, version: i16, frame: &Bytes) -> Result<Checked, String> {
    let mut buf = frame.clone();
    let header = RequestHeader::decode(&mut buf).map_err(|e| format!("{key} v{version} request header: {e}"))?;
    let header_version = key.request_header_version(version);
    let header_len = frame.len() - buf.len();
    let body = R::decode(&mut buf, version).map_err(|e| format!("{} v{version}: {e}", R::NAME))?;
    if !buf.is_empty() {
        return Err(format!("{} v{version}: {} bytes left after the body", R::NAME, buf.len()));
    }
    let mut out = BytesMut::new();
    header.encode(&mut out, header_version).map_err(|e| format!("{key} v{version} request header: {e}"))?;
    body.encode(&mut out, version).map_err(|e| format!("{} v{version} encode: {e}", R::NAME))?;
    same_bytes(R::NAME, version, header_len, frame, &out)?;
    Ok(Checked::Exact)
}

fn check_response<M: Message>(key: ApiKey, version: i16, frame: &Bytes) -> Result<Checked, String> {
    match check_response_at::<M>(key, version, frame) {
        Err(e) if fall_back_to_v0(key, version, frame) => {
            check_response_at::<M>(key, 0, frame).map_err(|v0| format!("{e}; and read as v0: {v0}"))
        }
        result => result,
    }
}

fn check_response_at<M: Message>(key: ApiKey, version: i16, frame: &Bytes) -> Result<Checked, String> {
    let header_version = key.response_header_version(version);
    let mut buf = frame.clone();
    let header = ResponseHeader::decode(&mut buf, header_version)
        .map_err(|e| format!("{key} v{version} response header: {e}"))?;
    let header_len = frame.len() - buf.len();
    let body = M::decode(&mut buf, version).map_err(|e| format!("{} v{version}: {e}", M::NAME))?;
    if !buf.is_empty() {
        return Err(format!("{} v{version}: {} bytes left after the body", M::NAME, buf.len()));
    }
    let mut out = BytesMut::new();
    header.encode(&mut out, header_version).map_err(|e| format!("{key} v{version} response header: {e}"))?;
    body.encode(&mut out, version).map_err(|e| format!("{} v{version} encode: {e}", M::NAME))?;
    same_bytes(M::NAME, version, header_len, frame, &out)?;
    Ok(Checked::Exact)
}

/// Recognises, exactly, the two malformed answers librdkafka's mock clusters send, so
/// that a test can accept them from the mock and from no other peer:
///
/// - ApiVersions refused with UNSUPPORTED_VERSION (35) (both mocks, to a v3 request):
///   error code, an int8 (!) count, that many (key, min, max) int16 triples, an int32
///   throttle time, nothing else. Neither v0 nor v3 (a client can only use the error
///   code and retry lower).
/// - A flexible Metadata answer (2.16 mock) followed by one extra 0x00 byte: the body
///   without that byte must pass the full check.
pub fn librdkafka_mock_quirk(key: ApiKey, version: i16, frame: &Bytes) -> Option<String> {
    if key == ApiKey::ApiVersions {
        let body = frame.get(4..)?;
        let count = usize::from(*body.get(2)?);
        let well_formed = body.get(..2) == Some(&35i16.to_be_bytes()[..]) && body.len() == 3 + count * 6 + 4;
        return well_formed
            .then(|| format!("ApiVersions v{version} UNSUPPORTED_VERSION answer with an int8 array count"));
    }
    if key == ApiKey::Metadata && key.is_flexible(version) && frame.last() == Some(&0) {
        let trimmed = frame.slice(..frame.len() - 1);
        let exact = matches!(check_known(key, version, false, &trimmed), Ok(Checked::Exact));
        return exact.then(|| format!("Metadata v{version} answer with one extra 0x00 byte after the body"));
    }
    None
}

/// Whether a response that does not read at its request's version should be read
/// as v0: a broker refusing an ApiVersions version answers UNSUPPORTED_VERSION (35),
/// and KIP-511 lets it do so in a v0 body, which clients must be ready to read (Kafka's
/// own client tries the request's version first, then v0).
fn fall_back_to_v0(key: ApiKey, version: i16, frame: &[u8]) -> bool {
    const UNSUPPORTED_VERSION: [u8; 2] = 35i16.to_be_bytes();
    key == ApiKey::ApiVersions && version > 0 && frame.get(4..6) == Some(&UNSUPPORTED_VERSION[..])
}

fn same_bytes(name: &str, version: i16, header_len: usize, expected: &[u8], actual: &[u8]) -> Result<(), String> {
    if expected == actual {
        return Ok(());
    }
    let at = expected.iter().zip(actual).position(|(a, b)| a != b).unwrap_or(expected.len().min(actual.len()));
    let window =
        |bytes: &[u8]| format!("{:02x?}", &bytes[at.saturating_sub(8).min(bytes.len())..(at + 8).min(bytes.len())]);
    Err(format!(
        "{name} v{version} re-encodes differently: {} bytes recorded, {} re-encoded, first difference at byte {at} \
         (body offset {}): recorded {} re-encoded {}",
        expected.len(),
        actual.len(),
        at as isize - header_len as isize,
        window(expected),
        window(actual)
    ))
}

/// `ApiVersions` -> `api_versions`: the API's name in fixture file names.
pub fn snake_name(key: ApiKey) -> String {
    let mut out = String::new();
    for (i, c) in key.name().chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The API whose [`snake_name`] is `name`.
pub fn api_key_by_snake_name(name: &str) -> Option<ApiKey> {
    ApiKey::ALL.into_iter().find(|k| snake_name(*k) == name)
}
