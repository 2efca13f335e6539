//! Version-correct responses: outcomes of the state machine rendered at a request's
//! version, and the fault-injection `*_error` responses (valid at every version: they
//! follow the request's shape, and set no field a version lacks).

use super::state::{JoinOutcome, SyncOutcome};
use crate::protocol::messages::describe_groups_response::DescribedGroup;
use crate::protocol::messages::join_group_response::JoinGroupResponseMember;
use crate::protocol::messages::leave_group_response::MemberResponse;
use crate::protocol::messages::list_groups_response::ListGroupsResponse;
use crate::protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use crate::protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use crate::protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use crate::protocol::ErrorCode;

/// `JoinOutcome` at `version`: protocol type from v7, a null protocol name only from
/// v7, `skip_assignment` from v9, instance ids from v5.
pub(crate) fn join_response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    let members = outcome
        .members
        .into_iter()
        .map(|m| JoinGroupResponseMember {
            member_id: m.member_id,
            group_instance_id: if version >= 5 { m.instance_id } else { None },
            metadata: m.metadata,
            ..Default::default()
        })
        .collect();
    JoinGroupResponse {
        error_code: outcome.error.code(),
        generation_id: outcome.generation_id,
        protocol_type: if version >= 7 { outcome.protocol_type } else { None },
        protocol_name: if version >= 7 {
            outcome.protocol_name
        } else {
            Some(outcome.protocol_name.unwrap_or_default())
        },
        leader: outcome.leader,
        skip_assignment: version >= 9 && outcome.skip_assignment,
        member_id: outcome.member_id,
        members,
        ..Default::default()
    }
}

/// `SyncOutcome` at `version`: protocol type and name from v5.
pub(crate) fn sync_response(outcome: SyncOutcome, version: i16) -> SyncGroupResponse {
    let v5 = version >= 5;
    SyncGroupResponse {
        error_code: outcome.error.code(),
        protocol_type: if v5 { outcome.protocol_type } else { None },
        protocol_name: if v5 { outcome.protocol_name } else { None },
        assignment: outcome.assignment,
        ..Default::default()
    }
}

/// The JoinGroup response carrying `code`, echoing the request's member id.
pub(crate) fn join_group_error(req: &JoinGroupRequest, code: ErrorCode) -> JoinGroupResponse {
    JoinGroupResponse { error_code: code.code(), member_id: req.member_id.clone(), ..Default::default() }
}

/// The SyncGroup response carrying `code`.
pub(crate) fn sync_group_error(_req: &SyncGroupRequest, code: ErrorCode) -> SyncGroupResponse {
    SyncGroupResponse { error_code: code.code(), ..Default::default() }
}

/// The Heartbeat response carrying `code`.
pub(crate) fn heartbeat_error(_req: &HeartbeatRequest, code: ErrorCode) -> HeartbeatResponse {
    HeartbeatResponse { error_code: code.code(), ..Default::default() }
}

/// The LeaveGroup response carrying `code` at the top and, from v3, for every member.
pub(crate) fn leave_group_error(req: &LeaveGroupRequest, code: ErrorCode) -> LeaveGroupResponse {
    let members = req
        .members
        .iter()
        .map(|m| MemberResponse {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            error_code: code.code(),
            ..Default::default()
        })
        .collect();
    LeaveGroupResponse { error_code: code.code(), members, ..Default::default() }
}

/// The OffsetCommit response with `code` for every partition of the request.
pub(crate) fn offset_commit_error(req: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
    let codes = req.topics.iter().map(|t| vec![code; t.partitions.len()]).collect();
    offset_commit_response(req, codes)
}

/// The OffsetCommit response for `codes` (per topic, per partition, in request order).
pub(crate) fn offset_commit_response(req: &OffsetCommitRequest, codes: Vec<Vec<ErrorCode>>) -> OffsetCommitResponse {
    let topics = req
        .topics
        .iter()
        .zip(codes)
        .map(|(topic, codes)| OffsetCommitResponseTopic {
            name: topic.name.clone(),
            partitions: topic
                .partitions
                .iter()
                .zip(codes)
                .map(|(p, code)| OffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: code.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    OffsetCommitResponse { topics, ..Default::default() }
}

/// An unanswerable partition in an OffsetFetch response (v0-7).
pub(crate) fn fetch_partition_error(partition: i32, code: ErrorCode) -> OffsetFetchResponsePartition {
    OffsetFetchResponsePartition {
        partition_index: partition,
        committed_offset: -1,
        error_code: code.code(),
        ..Default::default()
    }
}

/// An OffsetFetch group (v8+) failing with `code` at the group level.
pub(crate) fn fetch_group_error(group_id: &str, code: ErrorCode) -> OffsetFetchResponseGroup {
    OffsetFetchResponseGroup { group_id: group_id.to_owned(), error_code: code.code(), ..Default::default() }
}

/// The OffsetFetch response carrying `code`: per group from v8 (the request has
/// groups), else at the top level and for every requested partition.
pub(crate) fn offset_fetch_error(req: &OffsetFetchRequest, code: ErrorCode) -> OffsetFetchResponse {
    if !req.groups.is_empty() {
        let groups = req
            .groups
            .iter()
            .map(|g| OffsetFetchResponseGroup {
                group_id: g.group_id.clone(),
                error_code: code.code(),
                topics: g
                    .topics
                    .iter()
                    .flatten()
                    .map(|t| OffsetFetchResponseTopics {
                        name: t.name.clone(),
                        partitions: t
                            .partition_indexes
                            .iter()
                            .map(|p| OffsetFetchResponsePartitions {
                                partition_index: *p,
                                committed_offset: -1,
                                error_code: code.code(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        return OffsetFetchResponse { groups, ..Default::default() };
    }
    let topics = req
        .topics
        .iter()
        .flatten()
        .map(|t| OffsetFetchResponseTopic {
            name: t.name.clone(),
            partitions: t.partition_indexes.iter().map(|p| fetch_partition_error(*p, code)).collect(),
            ..Default::default()
        })
        .collect();
    OffsetFetchResponse { topics, error_code: code.code(), ..Default::default() }
}

/// A DescribeGroups entry failing with `code`.
pub(crate) fn described_error(group_id: &str, code: ErrorCode) -> DescribedGroup {
    DescribedGroup { error_code: code.code(), group_id: group_id.to_owned(), ..Default::default() }
}

/// The DescribeGroups response with `code` for every group.
pub(crate) fn describe_groups_error(req: &DescribeGroupsRequest, code: ErrorCode) -> DescribeGroupsResponse {
    let groups = req.groups.iter().map(|g| described_error(g, code)).collect();
    DescribeGroupsResponse { groups, ..Default::default() }
}

/// The ListGroups response carrying `code`.
pub(crate) fn list_groups_error(_req: &ListGroupsRequest, code: ErrorCode) -> ListGroupsResponse {
    ListGroupsResponse { error_code: code.code(), ..Default::default() }
}
