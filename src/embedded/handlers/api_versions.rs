//! ApiVersions (key 18), versions 0-3.
//!
//! - v0: error code, api keys.
//! - v1: + throttle_time_ms.
//! - v2: same as v1.
//! - v3: flexible; the request names the client software. The response header stays
//!   v0 at every version (KIP-511).
//!
//! A request at a version we do not serve is answered UNSUPPORTED_VERSION with a
//! **v0** body listing our ApiVersions range, so the client can retry (KIP-511); the
//! connection stays open.

use super::{served, throttled, Answer, Served};
use crate::embedded::dispatch::Reply;
use crate::protocol::api_key::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::frame::encode_response;
use crate::protocol::messages::api_versions_response::ApiVersion;
use crate::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

impl Served for ApiVersionsRequest {
    fn error_response(&self, _: i16, code: ErrorCode) -> ApiVersionsResponse {
        ApiVersionsResponse { error_code: code.code(), api_keys: table(), ..Default::default() }
    }
    throttled!();
}

/// Every API we serve with its whole codec range.
fn table() -> Vec<ApiVersion> {
    ApiKey::ALL
        .into_iter()
        .filter(|api| served(*api))
        .map(|api| {
            let range = api.versions();
            ApiVersion { api_key: api as i16, min_version: range.min, max_version: range.max, ..Default::default() }
        })
        .collect()
}

/// Answers ApiVersions.
pub(crate) fn handle(_version: i16, _request: ApiVersionsRequest) -> Answer<ApiVersionsResponse> {
    Answer::Respond(ApiVersionsResponse { api_keys: table(), ..Default::default() })
}

/// The v0 UNSUPPORTED_VERSION answer to an ApiVersions request of a version we lack.
pub(crate) fn unsupported_version(correlation_id: i32) -> Reply {
    let range = ApiKey::ApiVersions.versions();
    let response = ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: vec![ApiVersion {
            api_key: ApiKey::ApiVersions as i16,
            min_version: range.min,
            max_version: range.max,
            ..Default::default()
        }],
        ..Default::default()
    };
    match encode_response(&response, ApiKey::ApiVersions, 0, correlation_id) {
        Ok(frame) => Reply::Frame(frame),
        Err(_) => Reply::Close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_served_api_with_its_codec_range() {
        let table = table();
        assert_eq!(table.len(), ApiKey::ALL.len() - 2);
        let produce = table.iter().find(|a| a.api_key == 0).unwrap();
        assert_eq!((produce.min_version, produce.max_version), (0, 11));
        assert!(table.iter().all(|a| a.api_key != ApiKey::SaslHandshake as i16));
    }
}
