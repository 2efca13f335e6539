//! CreateTopics (key 19), versions 0-7.
//!
//! - v0: topics (name, partitions, replication factor, assignments, configs), timeout.
//! - v1: validate_only; error_message in the answer. v2: throttle.
//! - v4: num_partitions and replication_factor may be -1 (broker defaults).
//! - v5: flexible; the answer repeats partitions, replication factor and configs.
//! - v7: topic id in the answer.
//!
//! -1 partitions takes the cluster's default. The replication factor must be -1 or
//! 1..=nodes (we keep one replica either way). Manual assignments make the first
//! broker of each partition its leader. A name twice in one request answers
//! INVALID_REQUEST for each. Topic configs are accepted and ignored.

use super::{throttled, Answer, Served};
use crate::embedded::controller::CreateTopic;
use crate::embedded::session::Session;
use crate::embedded::state::TopicSpec;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::create_topics_response::CreatableTopicResult;
use crate::protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

impl Served for CreateTopicsRequest {
    fn error_response(&self, version: i16, code: ErrorCode) -> CreateTopicsResponse {
        let topics = self.topics.iter().map(|t| failed(version, &t.name, code, None)).collect();
        CreateTopicsResponse { topics, ..Default::default() }
    }
    throttled!();
}

fn failed(version: i16, name: &str, code: ErrorCode, message: Option<String>) -> CreatableTopicResult {
    CreatableTopicResult {
        name: name.to_string(),
        error_code: code.code(),
        error_message: message,
        topic_config_error_code: if version >= 5 { code.code() } else { 0 },
        configs: None,
        ..Default::default()
    }
}

/// Creates each topic through the controller.
pub(crate) async fn handle(
    session: &Session,
    version: i16,
    request: CreateTopicsRequest,
) -> Answer<CreateTopicsResponse> {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        if request.topics.iter().filter(|t| t.name == topic.name).count() > 1 {
            let message = format!("topic {} is named more than once", topic.name);
            topics.push(failed(version, &topic.name, ErrorCode::InvalidRequest, Some(message)));
            continue;
        }
        let spec = TopicSpec {
            name: topic.name.clone(),
            num_partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
            assignments: topic.assignments.iter().map(|a| (a.partition_index, a.broker_ids.clone())).collect(),
        };
        let replication_factor = topic.replication_factor.max(1);
        let create = CreateTopic { spec, validate_only: request.validate_only };
        topics.push(match session.shared.controller.send(create).await {
            Ok(Ok((topic_id, num_partitions))) => CreatableTopicResult {
                name: topic.name.clone(),
                topic_id,
                error_message: None,
                num_partitions,
                replication_factor,
                ..Default::default()
            },
            Ok(Err((code, message))) => failed(version, &topic.name, code, Some(message)),
            Err(_) => failed(version, &topic.name, ErrorCode::UnknownServerError, None),
        });
    }
    Answer::Respond(CreateTopicsResponse { topics, ..Default::default() })
}
