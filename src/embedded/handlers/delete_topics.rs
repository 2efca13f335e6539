//! DeleteTopics (key 20), versions 0-6.
//!
//! - v0: topic names, timeout. v1: throttle. v4: flexible. v5: error messages.
//! - v6: topics by name or by id (KIP-516); the answer carries both.
//!
//! Deleting a topic removes its partitions' data (files too, with a data directory).

use super::{throttled, Answer, Served};
use crate::embedded::controller::DeleteTopic;
use crate::embedded::session::Session;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::delete_topics_response::DeletableTopicResult;
use crate::protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use crate::protocol::primitives::Uuid;

impl Served for DeleteTopicsRequest {
    fn error_response(&self, version: i16, code: ErrorCode) -> DeleteTopicsResponse {
        let responses = targets(version, self).into_iter().map(|(name, id)| result(name, id, code, None)).collect();
        DeleteTopicsResponse { responses, ..Default::default() }
    }
    throttled!();
}

/// The (name, id) pairs a request names, whichever field its version uses.
fn targets(version: i16, request: &DeleteTopicsRequest) -> Vec<(Option<String>, Uuid)> {
    if version >= 6 {
        request.topics.iter().map(|t| (t.name.clone(), t.topic_id)).collect()
    } else {
        request.topic_names.iter().map(|name| (Some(name.clone()), Uuid::ZERO)).collect()
    }
}

fn result(name: Option<String>, topic_id: Uuid, code: ErrorCode, message: Option<String>) -> DeletableTopicResult {
    DeletableTopicResult { name, topic_id, error_code: code.code(), error_message: message, ..Default::default() }
}

/// Deletes each named topic through the controller.
pub(crate) async fn handle(
    session: &Session,
    version: i16,
    request: DeleteTopicsRequest,
) -> Answer<DeleteTopicsResponse> {
    let mut responses = Vec::new();
    for (name, id) in targets(version, &request) {
        let view = session.shared.view();
        let resolved = match &name {
            Some(name) => view.state.topics.get(name).map(|t| (name.clone(), t.id)),
            None => view.state.topic_name(id).map(|n| (n.to_string(), id)),
        };
        let Some((name, id)) = resolved else {
            let code = if name.is_none() { ErrorCode::UnknownTopicId } else { ErrorCode::UnknownTopicOrPartition };
            responses.push(result(name, id, code, None));
            continue;
        };
        let reply_id = if version >= 6 { id } else { Uuid::ZERO };
        responses.push(match session.shared.controller.send(DeleteTopic { name: name.clone() }).await {
            Ok(Ok(())) => result(Some(name), reply_id, ErrorCode::None, None),
            Ok(Err((code, message))) => result(Some(name), reply_id, code, Some(message)),
            Err(_) => result(Some(name), reply_id, ErrorCode::UnknownServerError, None),
        });
    }
    Answer::Respond(DeleteTopicsResponse { responses, ..Default::default() })
}
