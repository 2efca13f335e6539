//! ListOffsets (key 2), versions 0-8.
//!
//! - v0: max_num_offsets; the answer's offsets are a list (`old_style_offsets`).
//! - v1: one timestamp and one offset per partition.
//! - v2: isolation level, throttle. v4: current leader epoch; leader epoch in the
//!   answer. v6: flexible. v7: -3 asks for the offset of the largest timestamp
//!   (KIP-734). v8: -4 (tiered storage) is refused as INVALID_REQUEST.
//!
//! -2 is the log start, -1 the log end (high watermark); any other timestamp finds
//! the first offset whose record timestamp is at least it, or offset -1 when none is.

use super::{leadership_error, throttled, Answer, Served};
use crate::embedded::partition::ListOffset;
use crate::embedded::session::Session;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use crate::protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

impl Served for ListOffsetsRequest {
    fn error_response(&self, _: i16, code: ErrorCode) -> ListOffsetsResponse {
        let topics = self
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t.partitions.iter().map(|p| failed(p.partition_index, code)).collect(),
                ..Default::default()
            })
            .collect();
        ListOffsetsResponse { topics, ..Default::default() }
    }
    throttled!();
}

fn failed(partition_index: i32, code: ErrorCode) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse { partition_index, error_code: code.code(), ..Default::default() }
}

/// Looks every partition's offset up in its log.
pub(crate) async fn handle(
    session: &Session,
    version: i16,
    request: ListOffsetsRequest,
) -> Answer<ListOffsetsResponse> {
    let view = session.shared.view();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in topic.partitions {
            let index = wanted.partition_index;
            let Some((assignment, log)) = view.partition(&topic.name, index) else {
                partitions.push(failed(index, ErrorCode::UnknownTopicOrPartition));
                continue;
            };
            if let Some(code) = leadership_error(assignment.leader, session.node) {
                partitions.push(failed(index, code));
                continue;
            }
            let timestamp = wanted.timestamp;
            if (timestamp == -3 && version < 7) || timestamp < -3 {
                partitions.push(failed(index, ErrorCode::InvalidRequest));
                continue;
            }
            partitions.push(match log.send(ListOffset { timestamp }).await {
                Ok(Ok((_, offset))) if version == 0 => ListOffsetsPartitionResponse {
                    partition_index: index,
                    old_style_offsets: if offset >= 0 { vec![offset] } else { Vec::new() },
                    ..Default::default()
                },
                Ok(Ok((timestamp, offset))) => ListOffsetsPartitionResponse {
                    partition_index: index,
                    timestamp,
                    offset,
                    leader_epoch: if version >= 4 { assignment.leader_epoch } else { -1 },
                    ..Default::default()
                },
                Ok(Err(code)) => failed(index, code),
                Err(_) => failed(index, ErrorCode::NotLeaderOrFollower),
            });
        }
        topics.push(ListOffsetsTopicResponse { name: topic.name, partitions, ..Default::default() });
    }
    Answer::Respond(ListOffsetsResponse { topics, ..Default::default() })
}
