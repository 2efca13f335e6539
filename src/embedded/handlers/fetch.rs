//! Fetch (key 1), versions 0-16.
//!
//! - v0-2: max_wait, min_bytes, per-partition offset and max bytes. v1: throttle.
//! - v3: overall max_bytes; the first batch of the first partition with data is
//!   returned even when larger than either limit (KIP-74), so consumers progress.
//! - v4: isolation level; last stable offset and aborted transactions in the answer.
//! - v5: log start offset. v7: fetch sessions (KIP-227). v9: current leader epoch.
//! - v11: rack id, preferred read replica. v12: flexible; current_leader on
//!   NOT_LEADER_OR_FOLLOWER. v13: topics by id (UNKNOWN_TOPIC_ID). v15: replica state.
//! - v16: node endpoints.
//!
//! The wait is a real long poll: when fewer than min_bytes are ready, the request
//! waits on the cluster-wide append signal until data arrives or max_wait passes,
//! reading again after each append; no timer polling. Fetch sessions are declined
//! (session id 0 in every answer; KIP-227 allows it), so clients keep sending full
//! fetches; an incremental fetch naming a session answers FETCH_SESSION_ID_NOT_FOUND.
//! Without transactions the last stable offset is the high watermark.

use std::time::Duration;

use bytes::Bytes;

use super::{leadership_error, throttled, Answer, Served};
use crate::embedded::partition::Read;
use crate::embedded::session::Session;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::fetch_request::FetchTopic;
use crate::protocol::messages::fetch_response::{FetchableTopicResponse, LeaderIdAndEpoch, PartitionData};
use crate::protocol::messages::{FetchRequest, FetchResponse};

impl Served for FetchRequest {
    fn error_response(&self, version: i16, code: ErrorCode) -> FetchResponse {
        let responses = self
            .topics
            .iter()
            .map(|t| topic_response(t, t.partitions.iter().map(|p| failed(p.partition, code)).collect()))
            .collect();
        let error_code = if version >= 7 { code.code() } else { 0 };
        FetchResponse { error_code, responses, ..Default::default() }
    }
    throttled!();
}

fn topic_response(topic: &FetchTopic, partitions: Vec<PartitionData>) -> FetchableTopicResponse {
    FetchableTopicResponse { topic: topic.topic.clone(), topic_id: topic.topic_id, partitions, ..Default::default() }
}

fn failed(partition_index: i32, code: ErrorCode) -> PartitionData {
    PartitionData {
        partition_index,
        error_code: code.code(),
        high_watermark: -1,
        records: Some(Bytes::new()),
        ..Default::default()
    }
}

/// Answers a fetch once min_bytes are ready, an error occurs, or max_wait passes.
pub(crate) async fn handle(session: &Session, version: i16, request: FetchRequest) -> Answer<FetchResponse> {
    if version >= 7 && request.session_id != 0 {
        let error_code = ErrorCode::FetchSessionIdNotFound.code();
        return Answer::Respond(FetchResponse { error_code, ..Default::default() });
    }
    let max_wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let deadline = tokio::time::Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let mut appended = session.shared.appended.subscribe();
    loop {
        // Mark the current count seen before reading, so no append is missed between
        // the read and the wait.
        appended.borrow_and_update();
        let (response, bytes, failed) = read_once(session, version, &request).await;
        if bytes >= min_bytes || failed || tokio::time::Instant::now() >= deadline {
            return Answer::Respond(response);
        }
        match tokio::time::timeout_at(deadline, appended.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Answer::Respond(response),
        }
    }
}

/// One pass over the requested partitions: the answer, its record bytes, and whether
/// any partition failed.
async fn read_once(session: &Session, version: i16, request: &FetchRequest) -> (FetchResponse, usize, bool) {
    let view = session.shared.view();
    let mut budget = if version >= 3 { usize::try_from(request.max_bytes).unwrap_or(0) } else { usize::MAX };
    let (mut total, mut any_failed) = (0usize, false);
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = if version >= 13 { view.state.topic_name(topic.topic_id) } else { Some(topic.topic.as_str()) };
        let unknown = if version >= 13 { ErrorCode::UnknownTopicId } else { ErrorCode::UnknownTopicOrPartition };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in &topic.partitions {
            let Some((assignment, log)) = name.and_then(|name| view.partition(name, wanted.partition)) else {
                any_failed = true;
                partitions.push(failed(wanted.partition, unknown));
                continue;
            };
            if let Some(code) = leadership_error(assignment.leader, session.node) {
                any_failed = true;
                let mut data = failed(wanted.partition, code);
                if version >= 12 && assignment.leader >= 0 {
                    data.current_leader = LeaderIdAndEpoch {
                        leader_id: assignment.leader,
                        leader_epoch: assignment.leader_epoch,
                        ..Default::default()
                    };
                }
                partitions.push(data);
                continue;
            }
            let max_bytes = usize::try_from(wanted.partition_max_bytes).unwrap_or(0).min(budget);
            let read = Read { offset: wanted.fetch_offset, max_bytes, min_one: total == 0 };
            let data = match log.send(read).await {
                Ok(Ok(result)) => {
                    total += result.records.len();
                    budget = budget.saturating_sub(result.records.len());
                    PartitionData {
                        partition_index: wanted.partition,
                        high_watermark: result.high_watermark,
                        last_stable_offset: result.high_watermark,
                        log_start_offset: result.log_start_offset,
                        records: Some(result.records),
                        ..Default::default()
                    }
                }
                Ok(Err(code)) => failed(wanted.partition, code),
                Err(_) => failed(wanted.partition, ErrorCode::NotLeaderOrFollower),
            };
            any_failed |= data.error_code != 0;
            partitions.push(data);
        }
        responses.push(topic_response(topic, partitions));
    }
    (FetchResponse { responses, ..Default::default() }, total, any_failed)
}
