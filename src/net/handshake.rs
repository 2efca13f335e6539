//! The ApiVersions handshake every connection starts with (`FRAMING.md` §4).
//!
//! We ask at ApiVersions v3 (KIP-511: it carries our software name and version). A
//! broker that does not know v3 answers UNSUPPORTED_VERSION (35) with a **v0** body
//! under the (always v0) ApiVersions response header, listing the ApiVersions range it
//! does support; we ask again at the highest version both sides know. Both librdkafka
//! mock clusters (ApiVersions 0-2) take that path.

use bytes::{Buf, Bytes};

use super::error::ConnectionError;
use super::transport::Transport;
use super::versions::NegotiatedVersions;
use crate::protocol::frame::decode_exact;
use crate::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::{ApiKey, DecodeError, ErrorCode, ResponseHeader};

/// The ApiVersions version we ask at first.
pub(super) const FIRST_VERSION: i16 = 3;

/// What one ApiVersions answer says.
#[derive(Debug, PartialEq)]
pub(super) enum Answer {
    /// The broker answered at the version asked.
    Versions(ApiVersionsResponse),
    /// UNSUPPORTED_VERSION: the broker speaks ApiVersions up to `broker_max` (`None`
    /// when its answer did not say).
    Unsupported {
        /// The broker's highest ApiVersions version, from its answer.
        broker_max: Option<i16>,
    },
}

/// Runs the handshake on a fresh transport.
pub(super) async fn negotiate(transport: &Transport) -> Result<NegotiatedVersions, ConnectionError> {
    let config = transport.config();
    let request = ApiVersionsRequest {
        client_software_name: config.client_software_name.clone(),
        client_software_version: config.client_software_version.clone(),
        ..Default::default()
    };
    let ours = ApiKey::ApiVersions.versions();
    let mut version = FIRST_VERSION.min(ours.max);
    loop {
        let frame = transport.call(&request, version).await?;
        let answer = read_answer(frame, version).map_err(|source| ConnectionError::Decode {
            addr: transport.addr().to_owned(),
            api: ApiKey::ApiVersions,
            version,
            source,
        })?;
        match answer {
            Answer::Versions(response) => {
                if let Err(error) = ErrorCode::from_i16(response.error_code).ok() {
                    return Err(ConnectionError::ApiVersions { addr: transport.addr().to_owned(), error });
                }
                tracing::debug!(broker = %transport.addr(), version, apis = response.api_keys.len(), "ApiVersions handshake done");
                return Ok(NegotiatedVersions::from_api_keys(&response.api_keys).with_handshake_version(version));
            }
            Answer::Unsupported { broker_max } => {
                // Without a range in the answer, v0 is what every broker reads.
                let next = broker_max.unwrap_or(0).min(ours.max);
                if next >= version || next < ours.min {
                    return Err(ConnectionError::ApiVersions {
                        addr: transport.addr().to_owned(),
                        error: ErrorCode::UnsupportedVersion,
                    });
                }
                tracing::debug!(broker = %transport.addr(), refused = version, retry = next, "broker refused ApiVersions version, retrying lower");
                version = next;
            }
        }
    }
}

/// Reads an ApiVersions response frame (without its size prefix) for a request sent
/// at `version`.
///
/// The header is v0 whatever the version. An UNSUPPORTED_VERSION answer is read as a
/// v0 body (what Kafka sends), or at `version` if it does not parse as v0; if it
/// parses neither way it is still a refusal, without a range.
///
/// # Errors
///
/// [`DecodeError`] when the frame parses neither way.
pub(super) fn read_answer(mut frame: Bytes, version: i16) -> Result<Answer, DecodeError> {
    ResponseHeader::decode(&mut frame, ApiKey::ApiVersions.response_header_version(version))?;
    let unsupported = ErrorCode::UnsupportedVersion.code();
    if version > 0 && frame.len() >= 2 && (&frame[..2]).get_i16() == unsupported {
        let readable =
            [0, version].into_iter().find_map(|at| decode_exact::<ApiVersionsResponse>(&mut frame.clone(), at).ok());
        // An unreadable refusal still says "not this version"; v0 is what every
        // broker reads. (librdkafka's mock writes an i8 count and no tagged fields:
        // neither v0 nor v3.)
        return Ok(Answer::Unsupported { broker_max: readable.as_ref().and_then(api_versions_max) });
    }
    let response = decode_exact::<ApiVersionsResponse>(&mut frame, version)?;
    if response.error_code == unsupported {
        return Ok(Answer::Unsupported { broker_max: api_versions_max(&response) });
    }
    Ok(Answer::Versions(response))
}

fn api_versions_max(response: &ApiVersionsResponse) -> Option<i16> {
    let key = ApiKey::ApiVersions as i16;
    response.api_keys.iter().find(|k| k.api_key == key).map(|k| k.max_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_response;
    use crate::protocol::messages::api_versions_response::ApiVersion;

    fn response(error_code: i16, api_keys: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse {
            error_code,
            api_keys: api_keys
                .iter()
                .map(|&(key, min, max)| ApiVersion {
                    api_key: key as i16,
                    min_version: min,
                    max_version: max,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn frame(response: &ApiVersionsResponse, version: i16) -> Bytes {
        let framed = encode_response(response, ApiKey::ApiVersions, version, 1).unwrap();
        Bytes::copy_from_slice(&framed[4..])
    }

    #[test]
    fn a_v3_answer_is_read_at_v3() {
        let answer = response(0, &[(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 12)]);
        assert_eq!(read_answer(frame(&answer, 3), 3).unwrap(), Answer::Versions(answer));
    }

    #[test]
    fn unsupported_version_is_read_as_a_v0_body() {
        // What Kafka and both librdkafka mocks send for a v3 request they do not know.
        let refusal = response(35, &[(ApiKey::ApiVersions, 0, 2)]);
        let bytes = frame(&refusal, 0);
        assert!(decode_exact::<ApiVersionsResponse>(&mut bytes.slice(4..), 3).is_err(), "not a valid v3 body");
        assert_eq!(read_answer(bytes, 3).unwrap(), Answer::Unsupported { broker_max: Some(2) });
    }

    #[test]
    fn unsupported_version_at_the_version_asked_is_understood_too() {
        let refusal = response(35, &[(ApiKey::ApiVersions, 0, 1)]);
        assert_eq!(read_answer(frame(&refusal, 2), 2).unwrap(), Answer::Unsupported { broker_max: Some(1) });
        let silent = response(35, &[]);
        assert_eq!(read_answer(frame(&silent, 0), 3).unwrap(), Answer::Unsupported { broker_max: None });
    }

    /// Captured from librdkafka 2.0.2's and 2.16's mock clusters answering an
    /// ApiVersions v3 request (correlation id 1): error 35, an INT8 count of 1, one
    /// untagged entry (ApiVersions 0-2), ThrottleTimeMs, no tagged section.
    const LIBRDKAFKA_MOCK_REFUSAL: [u8; 17] = [0, 0, 0, 1, 0, 0x23, 1, 0, 0x12, 0, 0, 0, 2, 0, 0, 0, 0];

    #[test]
    fn the_librdkafka_mock_refusal_is_unreadable_but_still_a_refusal() {
        let bytes = Bytes::from_static(&LIBRDKAFKA_MOCK_REFUSAL);
        for version in [0, 3] {
            assert!(decode_exact::<ApiVersionsResponse>(&mut bytes.slice(4..), version).is_err());
        }
        assert_eq!(read_answer(bytes, 3).unwrap(), Answer::Unsupported { broker_max: None });
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(read_answer(Bytes::from_static(&[0, 0, 0, 1, 0]), 3).is_err());
        assert!(read_answer(Bytes::from_static(&[0, 0]), 3).is_err());
    }
}
