//! One file per API, each headed by the versions it serves and what differs between
//! them (as kfake does); the group APIs route to the group coordinator.

pub(crate) mod api_versions;
pub(crate) mod create_topics;
pub(crate) mod delete_topics;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod groups;
pub(crate) mod init_producer_id;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod produce;

use super::controller::CreateTopic;
use super::session::Session;
use super::state::{validate_topic_name, TopicSpec};
use crate::protocol::api_key::ApiKey;
use crate::protocol::codec::Request;
use crate::protocol::error_code::ErrorCode;

/// What a handler decided.
pub(crate) enum Answer<R> {
    /// Answer with this response.
    Respond(R),
    /// Answer nothing (acks=0).
    Silent,
    /// Close the connection without answering (Produce's drop-after-append fault,
    /// or an acks=0 produce that failed, as Kafka does).
    Close,
}

/// A request the broker serves.
pub(crate) trait Served: Request {
    /// The answer carrying `code` in every error field, for injected faults.
    fn error_response(&self, version: i16, code: ErrorCode) -> Self::Response;

    /// Sets the response's `throttle_time_ms` (ignored by versions without it).
    fn set_throttle(response: &mut Self::Response, throttle_ms: i32);

    /// Whether the client waits for an answer (false for acks=0 produces).
    fn expects_response(&self) -> bool {
        true
    }
}

/// Implements [`Served::set_throttle`] for responses with a `throttle_time_ms` field.
macro_rules! throttled {
    () => {
        fn set_throttle(response: &mut Self::Response, throttle_ms: i32) {
            response.throttle_time_ms = throttle_ms;
        }
    };
}
pub(crate) use throttled;

/// Whether the broker serves `api`; SASL is not offered (no authentication), so
/// ApiVersions does not list it and such requests close the connection.
pub(crate) fn served(api: ApiKey) -> bool {
    !matches!(api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
}

/// Creates `topic` with the default partition count when auto-creation is on.
/// `Ok(())` when it exists afterwards (created here or by a racing request).
///
/// # Errors
///
/// UNKNOWN_TOPIC_OR_PARTITION when auto-creation is off, INVALID_TOPIC_EXCEPTION for
/// an illegal name, or the controller's refusal.
pub(crate) async fn auto_create(session: &Session, topic: &str) -> Result<(), ErrorCode> {
    if !session.shared.auto_create_topics {
        return Err(ErrorCode::UnknownTopicOrPartition);
    }
    validate_topic_name(topic).map_err(|_| ErrorCode::InvalidTopicException)?;
    let spec = TopicSpec { name: topic.to_string(), num_partitions: -1, replication_factor: -1, assignments: vec![] };
    match session.shared.controller.send(CreateTopic { spec, validate_only: false }).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((ErrorCode::TopicAlreadyExists, _))) => Ok(()),
        Ok(Err((code, _))) => Err(code),
        Err(_) => Err(ErrorCode::UnknownServerError),
    }
}

/// The code to answer for a partition of `topic` that this node cannot serve, given
/// its leader: None when `node` leads it.
pub(crate) fn leadership_error(leader: i32, node: i32) -> Option<ErrorCode> {
    match leader {
        -1 => Some(ErrorCode::LeaderNotAvailable),
        leader if leader != node => Some(ErrorCode::NotLeaderOrFollower),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::protocol::codec::Encode;
    use crate::protocol::messages::*;

    /// An injected error must be answerable at every version, or the fault would close
    /// the connection instead of answering.
    fn error_answers_encode<R: Served>(request: R) {
        for version in R::VERSIONS.iter() {
            for code in [ErrorCode::NotLeaderOrFollower, ErrorCode::UnknownServerError] {
                let mut response = request.error_response(version, code);
                R::set_throttle(&mut response, 100);
                let mut buf = BytesMut::new();
                let encoded = response.encode(&mut buf, version);
                assert!(encoded.is_ok(), "{} v{version}: {encoded:?}", R::NAME);
            }
        }
    }

    #[test]
    fn every_error_answer_encodes_at_every_version() {
        use crate::protocol::messages::{fetch_request as f, list_offsets_request as l, produce_request as p};
        error_answers_encode(ApiVersionsRequest::default());
        error_answers_encode(MetadataRequest {
            topics: Some(vec![metadata_request::MetadataRequestTopic { name: Some("t".into()), ..Default::default() }]),
            ..Default::default()
        });
        error_answers_encode(ProduceRequest {
            topic_data: vec![p::TopicProduceData {
                name: "t".into(),
                partition_data: vec![p::PartitionProduceData::default()],
                ..Default::default()
            }],
            ..Default::default()
        });
        error_answers_encode(FetchRequest {
            topics: vec![f::FetchTopic { partitions: vec![f::FetchPartition::default()], ..Default::default() }],
            ..Default::default()
        });
        error_answers_encode(ListOffsetsRequest {
            topics: vec![l::ListOffsetsTopic {
                partitions: vec![l::ListOffsetsPartition::default()],
                ..Default::default()
            }],
            ..Default::default()
        });
        error_answers_encode(CreateTopicsRequest {
            topics: vec![create_topics_request::CreatableTopic { name: "t".into(), ..Default::default() }],
            ..Default::default()
        });
        error_answers_encode(DeleteTopicsRequest {
            topic_names: vec!["t".into()],
            topics: vec![delete_topics_request::DeleteTopicState { name: Some("t".into()), ..Default::default() }],
            ..Default::default()
        });
        error_answers_encode(FindCoordinatorRequest {
            key: "g".into(),
            coordinator_keys: vec!["g".into(), "h".into()],
            ..Default::default()
        });
        error_answers_encode(InitProducerIdRequest::default());
        error_answers_encode(JoinGroupRequest::default());
        error_answers_encode(SyncGroupRequest::default());
        error_answers_encode(HeartbeatRequest::default());
        error_answers_encode(LeaveGroupRequest::default());
        error_answers_encode(OffsetCommitRequest::default());
        error_answers_encode(OffsetFetchRequest::default());
        error_answers_encode(DescribeGroupsRequest { groups: vec!["g".into()], ..Default::default() });
        error_answers_encode(ListGroupsRequest::default());
    }
}
