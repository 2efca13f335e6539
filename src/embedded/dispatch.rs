//! From a request frame to its answer: header, API, version, faults, handler, encode.
//!
//! Anything unreadable closes the connection (Kafka does the same): a malformed
//! header, an API key we do not know, a version outside our range (except
//! ApiVersions, which gets a v0 UNSUPPORTED_VERSION answer per KIP-511) or a body
//! that does not decode exactly. Faults are applied here, per API key, before the
//! handler runs: latency first, then an injected error instead of the handler.

use std::future::Future;

use bytes::{Bytes, BytesMut};
use tracing::Instrument;

use super::handlers::{self, Answer, Served};
use super::session::Session;
use crate::protocol::api_key::ApiKey;
use crate::protocol::frame::{decode_exact, encode_response};
use crate::protocol::header::RequestHeader;

/// What the session does after a request.
pub(crate) enum Reply {
    /// Writes this whole frame.
    Frame(BytesMut),
    /// Writes nothing (Produce with acks=0).
    Silent,
    /// Closes the connection.
    Close,
}

/// Handles one request frame (without its size prefix); `offers_sasl` adds the SASL
/// APIs to the ApiVersions answer.
pub(crate) async fn handle(session: &Session, mut frame: Bytes, offers_sasl: bool) -> Reply {
    let header = match RequestHeader::decode(&mut frame) {
        Ok(header) => header,
        Err(error) => {
            tracing::debug!(node = session.node, %error, "unreadable request header; closing connection");
            return Reply::Close;
        }
    };
    let Some(api) = ApiKey::from_i16(header.api_key) else {
        return Reply::Close;
    };
    let version = header.api_version;
    if !handlers::served(api) || !api.versions().contains(version) {
        if api == ApiKey::ApiVersions {
            return handlers::api_versions::unsupported_version(header.correlation_id);
        }
        tracing::debug!(node = session.node, %api, version, "unsupported API or version; closing connection");
        return Reply::Close;
    }
    let span = tracing::debug_span!(
        "kafka_request",
        node = session.node,
        api = %api,
        version,
        correlation_id = header.correlation_id
    );
    route(session, api, &header, frame, offers_sasl).instrument(span).await
}

async fn route(session: &Session, api: ApiKey, header: &RequestHeader, body: Bytes, offers_sasl: bool) -> Reply {
    use handlers::*;
    let v = header.api_version;
    let s = session;
    let client_id = header.client_id.as_deref().unwrap_or("");
    match api {
        ApiKey::ApiVersions => {
            let answer = |r| async move { with_sasl_apis(api_versions::handle(v, r), offers_sasl) };
            serve(s, header, body, answer).await
        }
        ApiKey::Metadata => serve(s, header, body, |r| metadata::handle(s, v, r)).await,
        ApiKey::Produce => serve(s, header, body, |r| produce::handle(s, v, r)).await,
        ApiKey::Fetch => serve(s, header, body, |r| fetch::handle(s, v, r)).await,
        ApiKey::ListOffsets => serve(s, header, body, |r| list_offsets::handle(s, v, r)).await,
        ApiKey::CreateTopics => serve(s, header, body, |r| create_topics::handle(s, v, r)).await,
        ApiKey::DeleteTopics => serve(s, header, body, |r| delete_topics::handle(s, v, r)).await,
        ApiKey::FindCoordinator => serve(s, header, body, |r| find_coordinator::handle(s, v, r)).await,
        ApiKey::InitProducerId => serve(s, header, body, |r| init_producer_id::handle(s, v, r)).await,
        ApiKey::JoinGroup => serve(s, header, body, |r| groups::join_group(s, v, client_id, r)).await,
        ApiKey::SyncGroup => serve(s, header, body, |r| groups::sync_group(s, v, r)).await,
        ApiKey::Heartbeat => serve(s, header, body, |r| groups::heartbeat(s, v, r)).await,
        ApiKey::LeaveGroup => serve(s, header, body, |r| groups::leave_group(s, v, r)).await,
        ApiKey::OffsetCommit => serve(s, header, body, |r| groups::offset_commit(s, v, r)).await,
        ApiKey::OffsetFetch => serve(s, header, body, |r| groups::offset_fetch(s, v, r)).await,
        ApiKey::DescribeGroups => serve(s, header, body, |r| groups::describe_groups(s, v, r)).await,
        ApiKey::ListGroups => serve(s, header, body, |r| groups::list_groups(s, v, r)).await,
        _ => Reply::Close,
    }
}

/// Adds SaslHandshake and SaslAuthenticate to an ApiVersions answer, on a SASL
/// listener. SaslHandshake is listed from v0, as Kafka does (librdkafka 2.0 requires
/// v0 in the list to enable SASL at all), though a v0 handshake (raw tokens after it)
/// is answered UNSUPPORTED_VERSION and closed.
fn with_sasl_apis(
    answer: Answer<crate::protocol::messages::ApiVersionsResponse>,
    offers_sasl: bool,
) -> Answer<crate::protocol::messages::ApiVersionsResponse> {
    use crate::protocol::messages::api_versions_response::ApiVersion;
    match answer {
        Answer::Respond(mut response) if offers_sasl => {
            for api in [ApiKey::SaslHandshake, ApiKey::SaslAuthenticate] {
                let range = api.versions();
                let entry = ApiVersion {
                    api_key: api as i16,
                    min_version: range.min,
                    max_version: range.max,
                    ..Default::default()
                };
                response.api_keys.push(entry);
            }
            response.api_keys.sort_by_key(|entry| entry.api_key);
            Answer::Respond(response)
        }
        other => other,
    }
}

/// Decodes the body as `R`, applies the faults, runs `handler` and encodes its answer.
async fn serve<R, F, Fut>(session: &Session, header: &RequestHeader, mut body: Bytes, handler: F) -> Reply
where
    R: Served,
    F: FnOnce(R) -> Fut,
    Fut: Future<Output = Answer<R::Response>>,
{
    let version = header.api_version;
    let request = match decode_exact::<R>(&mut body, version) {
        Ok(request) => request,
        Err(error) => {
            tracing::debug!(%error, "undecodable request; closing connection");
            return Reply::Close;
        }
    };
    let (latency, injected) = {
        let mut faults = session.shared.faults();
        (faults.latency(R::API_KEY), faults.take_error(R::API_KEY, session.node))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer = match injected {
        Some(code) if request.expects_response() => {
            tracing::debug!(code = code.name(), "answering with an injected error");
            Answer::Respond(request.error_response(version, code))
        }
        Some(_) => Answer::Silent,
        None => handler(request).await,
    };
    match answer {
        Answer::Respond(mut response) => {
            let throttle_ms = session.shared.faults().throttle(R::API_KEY);
            if throttle_ms != 0 {
                R::set_throttle(&mut response, throttle_ms);
            }
            match encode_response(&response, R::API_KEY, version, header.correlation_id) {
                Ok(frame) => Reply::Frame(frame),
                Err(error) => {
                    tracing::warn!(%error, "cannot encode an answer; closing connection");
                    Reply::Close
                }
            }
        }
        Answer::Silent => Reply::Silent,
        Answer::Close => Reply::Close,
    }
}
