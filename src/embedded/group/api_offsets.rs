//! OffsetCommit and OffsetFetch, as the broker's request dispatch calls them.

use std::time::{SystemTime, UNIX_EPOCH};

use super::actor::{Commit, Fetch, FetchedOffsets};
use super::offsets::CommittedOffset;
use super::responses::{fetch_group_error, fetch_partition_error, offset_commit_error, offset_commit_response};
use super::Groups;
use crate::protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use crate::protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse};
use crate::protocol::ErrorCode;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Handles an OffsetCommit. Generation < 0 is a "simple" commit (standalone consumer,
/// v0's only kind), accepted while the group has no members and creating the group if
/// needed; a member commit to a group that does not exist gets ILLEGAL_GENERATION
/// (Kafka's rule). Offsets are written to the store before the answer.
pub(crate) async fn offset_commit(
    groups: &Groups,
    is_coordinator: impl Fn(&str) -> bool,
    version: i16,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    if req.group_id.is_empty() {
        return offset_commit_error(&req, ErrorCode::InvalidGroupId);
    }
    if !is_coordinator(&req.group_id) {
        return offset_commit_error(&req, ErrorCode::NotCoordinator);
    }
    let generation_id = if version >= 1 { req.generation_id_or_member_epoch } else { -1 };
    let addr = match groups.coordinator(&req.group_id, generation_id < 0).await {
        Ok(Some(addr)) => addr,
        Ok(None) => return offset_commit_error(&req, ErrorCode::IllegalGeneration),
        Err(code) => return offset_commit_error(&req, code),
    };
    let now = now_ms();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let offset = CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                        metadata: p.committed_metadata.clone(),
                        commit_timestamp_ms: if version == 1 && p.commit_timestamp >= 0 {
                            p.commit_timestamp
                        } else {
                            now
                        },
                    };
                    (p.partition_index, offset)
                })
                .collect();
            (t.name.clone(), partitions)
        })
        .collect();
    let msg = Commit {
        member_id: if version >= 1 { req.member_id.clone() } else { String::new() },
        instance_id: req.group_instance_id.clone().filter(|_| version >= 7),
        generation_id,
        topics,
    };
    match addr.send(msg).await {
        Ok(codes) => offset_commit_response(&req, codes),
        Err(_) => offset_commit_error(&req, ErrorCode::CoordinatorNotAvailable),
    }
}

/// Handles an OffsetFetch: -1 for a partition without a committed offset (and for every
/// partition of an unknown group, with no error); null topics (v2+) mean every committed
/// partition; from v8 each group of the request is answered on its own.
pub(crate) async fn offset_fetch(
    groups: &Groups,
    is_coordinator: impl Fn(&str) -> bool,
    version: i16,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if version >= 8 {
        let mut answered = Vec::with_capacity(req.groups.len());
        for group in &req.groups {
            let wanted =
                group.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.clone(), t.partition_indexes.clone())));
            let fetched = fetch(groups, &is_coordinator, &group.group_id, wanted.map(Iterator::collect)).await;
            answered.push(match fetched {
                Ok(topics) => OffsetFetchResponseGroup {
                    group_id: group.group_id.clone(),
                    topics: topics.into_iter().map(topics_v8).collect(),
                    ..Default::default()
                },
                Err(code) => fetch_group_error(&group.group_id, code),
            });
        }
        return OffsetFetchResponse { groups: answered, ..Default::default() };
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> =
        req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.clone(), t.partition_indexes.clone())).collect());
    match fetch(groups, &is_coordinator, &req.group_id, wanted.clone()).await {
        Ok(topics) => OffsetFetchResponse {
            topics: topics.into_iter().map(|t| topic_v0(t, version)).collect(),
            ..Default::default()
        },
        Err(code) => {
            // Before v2 there is no top-level error code: every partition carries it.
            let topics = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(name, ps)| OffsetFetchResponseTopic {
                    name,
                    partitions: ps.into_iter().map(|p| fetch_partition_error(p, code)).collect(),
                    ..Default::default()
                })
                .collect();
            let error_code = if version >= 2 { code.code() } else { 0 };
            OffsetFetchResponse { topics, error_code, ..Default::default() }
        }
    }
}

async fn fetch(
    groups: &Groups,
    is_coordinator: &impl Fn(&str) -> bool,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> Result<FetchedOffsets, ErrorCode> {
    if !is_coordinator(group_id) {
        return Err(ErrorCode::NotCoordinator);
    }
    match groups.coordinator(group_id, false).await? {
        Some(addr) => addr.send(Fetch(wanted)).await.map_err(|_| ErrorCode::CoordinatorNotAvailable),
        None => {
            let none = |(topic, ps): (String, Vec<i32>)| (topic, ps.into_iter().map(|p| (p, None)).collect());
            Ok(wanted.unwrap_or_default().into_iter().map(none).collect())
        }
    }
}

/// Kafka answers a missing offset as -1 with empty metadata, and null metadata as "".
fn parts(offset: Option<CommittedOffset>) -> (i64, i32, String) {
    match offset {
        Some(o) => (o.offset, o.leader_epoch, o.metadata.unwrap_or_default()),
        None => (-1, -1, String::new()),
    }
}

fn topic_v0(
    (name, partitions): (String, Vec<(i32, Option<CommittedOffset>)>),
    version: i16,
) -> OffsetFetchResponseTopic {
    let partition = |(index, offset)| {
        let (committed_offset, epoch, metadata) = parts(offset);
        OffsetFetchResponsePartition {
            partition_index: index,
            committed_offset,
            committed_leader_epoch: if version >= 5 { epoch } else { -1 },
            metadata: Some(metadata),
            ..Default::default()
        }
    };
    OffsetFetchResponseTopic { name, partitions: partitions.into_iter().map(partition).collect(), ..Default::default() }
}

fn topics_v8((name, partitions): (String, Vec<(i32, Option<CommittedOffset>)>)) -> OffsetFetchResponseTopics {
    let partition = |(index, offset)| {
        let (committed_offset, committed_leader_epoch, metadata) = parts(offset);
        OffsetFetchResponsePartitions {
            partition_index: index,
            committed_offset,
            committed_leader_epoch,
            metadata: Some(metadata),
            ..Default::default()
        }
    };
    OffsetFetchResponseTopics {
        name,
        partitions: partitions.into_iter().map(partition).collect(),
        ..Default::default()
    }
}
