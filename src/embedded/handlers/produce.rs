//! Produce (key 0), versions 0-11.
//!
//! - v0-1: acks, timeout, records per partition. v1: throttle_time_ms.
//! - v2: log_append_time_ms in the answer. v3: transactional_id (record batch v2 only).
//! - v5: log_start_offset in the answer. v8: record_errors and error_message.
//! - v9: flexible. v10: current_leader and node_endpoints on NOT_LEADER_OR_FOLLOWER
//!   (KIP-951), so the client can go to the new leader without a metadata round trip.
//! - v11: same as v10.
//!
//! acks must be 0, 1 or -1 (else INVALID_REQUIRED_ACKS). With one replica per
//! partition, 1 and -1 are answered once the batch is in the log. acks=0 gets no answer
//! at all; if an acks=0 produce fails, the connection is closed (as Kafka does), the
//! only way to tell such a client. Transactions are not supported: a request with a
//! transactional id answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED per partition.

use super::{auto_create, leadership_error, throttled, Answer, Served};
use crate::embedded::partition::Append;
use crate::embedded::session::Session;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::produce_request::PartitionProduceData;
use crate::protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use crate::protocol::messages::{ProduceRequest, ProduceResponse};

impl Served for ProduceRequest {
    fn error_response(&self, _: i16, code: ErrorCode) -> ProduceResponse {
        let responses = self
            .topic_data
            .iter()
            .map(|t| TopicProduceResponse {
                name: t.name.clone(),
                partition_responses: t.partition_data.iter().map(|p| failed(p.index, code)).collect(),
                ..Default::default()
            })
            .collect();
        ProduceResponse { responses, ..Default::default() }
    }
    throttled!();

    fn expects_response(&self) -> bool {
        self.acks != 0
    }
}

fn failed(index: i32, code: ErrorCode) -> PartitionProduceResponse {
    PartitionProduceResponse { index, error_code: code.code(), base_offset: -1, ..Default::default() }
}

/// Appends every partition's records and answers per partition.
pub(crate) async fn handle(session: &Session, version: i16, request: ProduceRequest) -> Answer<ProduceResponse> {
    if !matches!(request.acks, -1..=1) {
        return Answer::Respond(request.error_response(version, ErrorCode::InvalidRequiredAcks));
    }
    if request.transactional_id.is_some() {
        return Answer::Respond(request.error_response(version, ErrorCode::TransactionalIdAuthorizationFailed));
    }
    let (mut any_error, mut appended) = (false, false);
    let mut leaders = Vec::new();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let known = session.shared.view().state.topics.contains_key(&topic.name);
        let missing = if known { None } else { auto_create(session, &topic.name).await.err() };
        let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let response = match missing {
                Some(code) => failed(data.index, code),
                None => append(session, version, &topic.name, data, &mut leaders).await,
            };
            any_error |= response.error_code != 0;
            appended |= response.error_code == 0;
            partition_responses.push(response);
        }
        responses.push(TopicProduceResponse { name: topic.name, partition_responses, ..Default::default() });
    }
    if appended && session.shared.faults().take_drop_after_append() {
        tracing::debug!("drop-after-append fault: closing the connection unanswered");
        return Answer::Close;
    }
    if request.acks == 0 {
        return if any_error { Answer::Close } else { Answer::Silent };
    }
    let node_endpoints = if version >= 10 { endpoints(session, leaders) } else { Vec::new() };
    Answer::Respond(ProduceResponse { responses, node_endpoints, ..Default::default() })
}

/// Appends one partition's records if this node leads it; a refusal from another
/// node's partition names the leader (v10+) and adds it to `leaders`.
async fn append(
    session: &Session,
    version: i16,
    topic: &str,
    data: PartitionProduceData,
    leaders: &mut Vec<i32>,
) -> PartitionProduceResponse {
    let view = session.shared.view();
    let Some((assignment, log)) = view.partition(topic, data.index) else {
        return failed(data.index, ErrorCode::UnknownTopicOrPartition);
    };
    if let Some(code) = leadership_error(assignment.leader, session.node) {
        let mut response = failed(data.index, code);
        if version >= 10 && assignment.leader >= 0 {
            response.current_leader = LeaderIdAndEpoch {
                leader_id: assignment.leader,
                leader_epoch: assignment.leader_epoch,
                ..Default::default()
            };
            leaders.push(assignment.leader);
        }
        return response;
    }
    let Some(records) = data.records else {
        return failed(data.index, ErrorCode::InvalidRecord);
    };
    match log.send(Append { records, leader_epoch: assignment.leader_epoch }).await {
        Ok(Ok(outcome)) => PartitionProduceResponse {
            index: data.index,
            base_offset: outcome.base_offset,
            log_append_time_ms: outcome.log_append_time_ms,
            log_start_offset: outcome.log_start_offset,
            ..Default::default()
        },
        Ok(Err(code)) => failed(data.index, code),
        Err(_) => failed(data.index, ErrorCode::NotLeaderOrFollower),
    }
}

fn endpoints(session: &Session, mut leaders: Vec<i32>) -> Vec<NodeEndpoint> {
    leaders.sort_unstable();
    leaders.dedup();
    let view = session.shared.view();
    leaders
        .into_iter()
        .filter_map(|id| view.node(id))
        .map(|n| NodeEndpoint {
            node_id: n.id,
            host: n.addr.ip().to_string(),
            port: i32::from(n.addr.port()),
            ..Default::default()
        })
        .collect()
}
