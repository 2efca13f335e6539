//! FindCoordinator (key 10), versions 0-5.
//!
//! - v0: one group id. v1: key type (0 group, 1 transaction); throttle and error
//!   message. v3: flexible.
//! - v4: a batch of keys (KIP-699), one coordinator per key in the answer.
//! - v5: same as v4.
//!
//! A group's coordinator is `up_nodes[fnv1a(group) % up_nodes.len()]`, the same
//! rule the group APIs check. Transactions are not supported: key type 1 answers
//! COORDINATOR_NOT_AVAILABLE; other key types INVALID_REQUEST.

use super::{throttled, Answer, Served};
use crate::embedded::session::Session;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::find_coordinator_response::Coordinator;
use crate::protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};

impl Served for FindCoordinatorRequest {
    fn error_response(&self, version: i16, code: ErrorCode) -> FindCoordinatorResponse {
        let coordinators = keys(version, self).into_iter().map(|key| failed(key, code)).collect();
        respond(version, coordinators)
    }
    throttled!();
}

fn keys(version: i16, request: &FindCoordinatorRequest) -> Vec<String> {
    if version >= 4 {
        request.coordinator_keys.clone()
    } else {
        vec![request.key.clone()]
    }
}

fn failed(key: String, code: ErrorCode) -> Coordinator {
    Coordinator { key, node_id: -1, host: String::new(), port: -1, error_code: code.code(), ..Default::default() }
}

/// Puts the coordinators where the version wants them: the batch (v4+) or the
/// top-level fields of the one key.
fn respond(version: i16, mut coordinators: Vec<Coordinator>) -> FindCoordinatorResponse {
    if version >= 4 {
        return FindCoordinatorResponse { coordinators, error_message: None, ..Default::default() };
    }
    let one = coordinators.pop().unwrap_or_else(|| failed(String::new(), ErrorCode::InvalidRequest));
    FindCoordinatorResponse {
        error_code: one.error_code,
        error_message: one.error_message,
        node_id: one.node_id,
        host: one.host,
        port: one.port,
        ..Default::default()
    }
}

/// Finds each key's coordinator.
pub(crate) async fn handle(
    session: &Session,
    version: i16,
    request: FindCoordinatorRequest,
) -> Answer<FindCoordinatorResponse> {
    let view = session.shared.view();
    let coordinators = keys(version, &request)
        .into_iter()
        .map(|key| match request.key_type {
            0 => match view.state.coordinator(&key).and_then(|id| view.node(id)) {
                Some(node) => Coordinator {
                    key,
                    node_id: node.id,
                    host: node.addr.ip().to_string(),
                    port: i32::from(node.addr.port()),
                    error_message: None,
                    ..Default::default()
                },
                None => failed(key, ErrorCode::CoordinatorNotAvailable),
            },
            1 => failed(key, ErrorCode::CoordinatorNotAvailable),
            _ => failed(key, ErrorCode::InvalidRequest),
        })
        .collect();
    Answer::Respond(respond(version, coordinators))
}
