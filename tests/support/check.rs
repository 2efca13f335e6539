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
        check_request::<R>(key, version, frame)?;
    } else {
        check_response::<R::Response>(key, version, frame)?;
    }
    Ok(Checked::Exact)
}

fn check_request<R: Message>(key: ApiKey, version: i16, frame: &Bytes) -> Result<(), String> {
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
    same_bytes(R::NAME, version, header_len, frame, &out)
}

fn check_response<M: Message>(key: ApiKey, version: i16, frame: &Bytes) -> Result<(), String> {
    let version = response_body_version(key, version, frame);
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
    same_bytes(M::NAME, version, header_len, frame, &out)
}

/// The version a response body is written at: the request's, except that a broker
/// refusing an ApiVersions version answers UNSUPPORTED_VERSION (35) in a v0 body
/// (KIP-511), which every client must be ready to read.
pub fn response_body_version(key: ApiKey, version: i16, frame: &[u8]) -> i16 {
    const UNSUPPORTED_VERSION: [u8; 2] = 35i16.to_be_bytes();
    if key == ApiKey::ApiVersions && frame.get(4..6) == Some(&UNSUPPORTED_VERSION[..]) {
        0
    } else {
        version
    }
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
