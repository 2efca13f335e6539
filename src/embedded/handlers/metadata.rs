//! Metadata (key 3), versions 0-12.
//!
//! - v0: topics (empty array = all); brokers; topics with partitions.
//! - v1: null topics = all, empty = none; controller id; is_internal; broker rack.
//! - v2: cluster id.
//! - v3: throttle_time_ms.
//! - v4: allow_auto_topic_creation (before v4, a named topic is always auto-created
//!   when the broker allows it).
//! - v5: offline replicas per partition.
//! - v7: leader epoch per partition.
//! - v8-10: authorized operations (we answer the "not requested" default).
//! - v9: flexible.
//! - v10: topic ids (and topics may be asked for by id from v12).
//! - v11: cluster authorized operations removed. v12: topic name nullable.
//!
//! Brokers are the nodes that are up; the controller is the first of them. Each
//! partition has one replica, its leader; a partition whose every node is down
//! answers LEADER_NOT_AVAILABLE with leader -1.

use super::{auto_create, throttled, Answer, Served};
use crate::embedded::controller::ClusterView;
use crate::embedded::session::Session;
use crate::embedded::state::validate_topic_name;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::protocol::messages::{MetadataRequest, MetadataResponse};
use crate::protocol::primitives::Uuid;

impl Served for MetadataRequest {
    fn error_response(&self, _: i16, code: ErrorCode) -> MetadataResponse {
        let topics = self
            .topics
            .iter()
            .flatten()
            .map(|t| MetadataResponseTopic {
                error_code: code.code(),
                name: t.name.clone(),
                topic_id: t.topic_id,
                ..Default::default()
            })
            .collect();
        MetadataResponse { topics, ..Default::default() }
    }
    throttled!();
}

/// Answers Metadata, auto-creating the named topics that are missing when allowed.
pub(crate) async fn handle(session: &Session, version: i16, request: MetadataRequest) -> Answer<MetadataResponse> {
    // Before v1 an empty list meant "all topics".
    let requested = match request.topics {
        Some(topics) if version == 0 && topics.is_empty() => None,
        other => other,
    };
    let allow_create = version < 4 || request.allow_auto_topic_creation;
    let mut creation_errors = Vec::new();
    if let Some(topics) = &requested {
        let view = session.shared.view();
        for name in topics.iter().filter_map(|t| t.name.as_deref()) {
            if !view.state.topics.contains_key(name) && allow_create && session.shared.auto_create_topics {
                if let Err(code) = auto_create(session, name).await {
                    creation_errors.push((name.to_string(), code));
                }
            }
        }
    }
    let view = session.shared.view();
    let topics = match requested {
        None => view.state.topics.keys().map(|name| describe(&view, name, None)).collect(),
        Some(topics) => topics
            .iter()
            .map(|t| match (&t.name, t.topic_id) {
                (Some(name), _) => {
                    let failed = creation_errors.iter().find(|(n, _)| n == name).map(|(_, code)| *code);
                    describe(&view, name, failed)
                }
                (None, id) => match view.state.topic_name(id) {
                    Some(name) => describe(&view, name, None),
                    None => error_topic(None, id, ErrorCode::UnknownTopicId),
                },
            })
            .collect(),
    };
    Answer::Respond(MetadataResponse {
        brokers: brokers(&view),
        cluster_id: Some(view.state.cluster_id.clone()),
        controller_id: view.controller_id(),
        topics,
        ..Default::default()
    })
}

fn brokers(view: &ClusterView) -> Vec<MetadataResponseBroker> {
    view.state
        .nodes
        .iter()
        .filter(|n| n.up)
        .map(|n| MetadataResponseBroker {
            node_id: n.id,
            host: n.addr.ip().to_string(),
            port: i32::from(n.addr.port()),
            ..Default::default()
        })
        .collect()
}

fn error_topic(name: Option<String>, id: Uuid, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic { error_code: code.code(), name, topic_id: id, ..Default::default() }
}

fn describe(view: &ClusterView, name: &str, creation_error: Option<ErrorCode>) -> MetadataResponseTopic {
    let Some(topic) = view.state.topics.get(name) else {
        let code = match creation_error {
            Some(code) => code,
            None if validate_topic_name(name).is_err() => ErrorCode::InvalidTopicException,
            None => ErrorCode::UnknownTopicOrPartition,
        };
        return error_topic(Some(name.to_string()), Uuid::ZERO, code);
    };
    let partitions = topic
        .partitions
        .iter()
        .zip(0..)
        .map(|(p, index)| {
            let replicas = if p.leader >= 0 { vec![p.leader] } else { Vec::new() };
            MetadataResponsePartition {
                error_code: if p.leader >= 0 { 0 } else { ErrorCode::LeaderNotAvailable.code() },
                partition_index: index,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: replicas.clone(),
                isr_nodes: replicas,
                ..Default::default()
            }
        })
        .collect();
    MetadataResponseTopic { name: Some(name.to_string()), topic_id: topic.id, partitions, ..Default::default() }
}
