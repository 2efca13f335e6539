//! The group requests, each built for the version the connection negotiated (the
//! codec refuses a value in a field the version does not have), and the parts of
//! their responses the coordinator acts on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::consumer::types::{StartPosition, TopicPartition};
use crate::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use crate::protocol::messages::leave_group_request::MemberIdentity;
use crate::protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use crate::protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use crate::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use crate::protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
};
use crate::protocol::ErrorCode;

/// The protocol type of every consumer group.
pub(super) const PROTOCOL_TYPE: &str = "consumer";

/// Who is asking: the fields every membership request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    pub(super) group: Arc<str>,
    pub(super) member_id: String,
    pub(super) generation: i32,
    pub(super) instance_id: Option<String>,
}

impl Identity {
    /// The identity of a commit or fetch outside any membership (a manual assignment
    /// with a group id): generation -1, empty member id, as the Java client sends.
    pub(super) fn simple(group: Arc<str>) -> Self {
        Self { group, member_id: String::new(), generation: -1, instance_id: None }
    }

    fn instance_id_from(&self, version: i16, first: i16) -> Option<String> {
        if version >= first {
            self.instance_id.clone()
        } else {
            None
        }
    }
}

/// FindCoordinator for a group (key type 0); v4+ batches keys, so it asks for one.
pub(super) fn find_coordinator(group: &str, version: i16) -> FindCoordinatorRequest {
    if version >= 4 {
        FindCoordinatorRequest { coordinator_keys: vec![group.to_owned()], ..Default::default() }
    } else {
        FindCoordinatorRequest { key: group.to_owned(), ..Default::default() }
    }
}

/// The coordinator's error and `host:port` from a FindCoordinator response of any
/// version (v4+ answers per key).
pub(super) fn coordinator_of(response: FindCoordinatorResponse, group: &str) -> (ErrorCode, String) {
    let (error, host, port) = match response.coordinators.into_iter().find(|c| c.key == group) {
        Some(c) => (c.error_code, c.host, c.port),
        None => (response.error_code, response.host, response.port),
    };
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    (ErrorCode::from_i16(error), addr)
}

/// Milliseconds as the wire's i32 (config validation keeps them in range).
pub(super) fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

/// JoinGroup with one protocol per assignor, in order of preference.
pub(super) fn join_group(
    id: &Identity,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: &[(String, Bytes)],
    version: i16,
) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: id.group.to_string(),
        session_timeout_ms: millis(session_timeout),
        rebalance_timeout_ms: if version >= 1 { millis(rebalance_timeout) } else { -1 },
        member_id: id.member_id.clone(),
        group_instance_id: id.instance_id_from(version, 5),
        protocol_type: PROTOCOL_TYPE.to_owned(),
        protocols: protocols
            .iter()
            .map(|(name, metadata)| JoinGroupRequestProtocol {
                name: name.clone(),
                metadata: metadata.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// SyncGroup: the leader's assignments (member id, Assignment blob); empty for a
/// follower. v5 names the protocol type and name, which the broker checks.
pub(super) fn sync_group(
    id: &Identity,
    protocol: &str,
    assignments: Vec<(String, Bytes)>,
    version: i16,
) -> SyncGroupRequest {
    SyncGroupRequest {
        group_id: id.group.to_string(),
        generation_id: id.generation,
        member_id: id.member_id.clone(),
        group_instance_id: id.instance_id_from(version, 3),
        protocol_type: (version >= 5).then(|| PROTOCOL_TYPE.to_owned()),
        protocol_name: (version >= 5).then(|| protocol.to_owned()),
        assignments: assignments
            .into_iter()
            .map(|(member_id, assignment)| SyncGroupRequestAssignment { member_id, assignment, ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

pub(super) fn heartbeat(id: &Identity, version: i16) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: id.group.to_string(),
        generation_id: id.generation,
        member_id: id.member_id.clone(),
        group_instance_id: id.instance_id_from(version, 3),
        ..Default::default()
    }
}

/// LeaveGroup: the member id up to v2, a one-member batch from v3.
pub(super) fn leave_group(id: &Identity, version: i16) -> LeaveGroupRequest {
    if version >= 3 {
        let member = MemberIdentity {
            member_id: id.member_id.clone(),
            group_instance_id: id.instance_id.clone(),
            reason: (version >= 5).then(|| "the consumer is closing".to_owned()),
            ..Default::default()
        };
        LeaveGroupRequest { group_id: id.group.to_string(), members: vec![member], ..Default::default() }
    } else {
        LeaveGroupRequest { group_id: id.group.to_string(), member_id: id.member_id.clone(), ..Default::default() }
    }
}

/// OffsetCommit of `offsets` (next offset to consume, leader epoch), grouped by topic.
pub(super) fn offset_commit(
    id: &Identity,
    offsets: &BTreeMap<TopicPartition, (i64, i32)>,
    version: i16,
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (tp, &(offset, epoch)) in offsets {
        let partition = OffsetCommitRequestPartition {
            partition_index: tp.partition,
            committed_offset: offset,
            committed_leader_epoch: if version >= 6 { epoch } else { -1 },
            committed_metadata: Some(String::new()),
            ..Default::default()
        };
        match topics.last_mut() {
            Some(topic) if topic.name == *tp.topic => topic.partitions.push(partition),
            _ => topics.push(OffsetCommitRequestTopic {
                name: tp.topic.to_string(),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    OffsetCommitRequest {
        group_id: id.group.to_string(),
        generation_id_or_member_epoch: id.generation,
        member_id: id.member_id.clone(),
        group_instance_id: id.instance_id_from(version, 7),
        topics,
        ..Default::default()
    }
}

/// Each partition's error in an OffsetCommit response.
pub(super) fn commit_errors(response: &OffsetCommitResponse) -> Vec<(TopicPartition, ErrorCode)> {
    response
        .topics
        .iter()
        .flat_map(|t| {
            let topic: Arc<str> = Arc::from(t.name.as_str());
            t.partitions.iter().map(move |p| {
                (
                    TopicPartition { topic: topic.clone(), partition: p.partition_index },
                    ErrorCode::from_i16(p.error_code),
                )
            })
        })
        .collect()
}

/// OffsetFetch of `partitions`; v8+ asks in a one-group batch.
pub(super) fn offset_fetch(
    group: &str,
    partitions: &[TopicPartition],
    require_stable: bool,
    version: i16,
) -> OffsetFetchRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let require_stable = require_stable && version >= 7;
    if version >= 8 {
        let topics = by_topic
            .into_iter()
            .map(|(name, partition_indexes)| OffsetFetchRequestTopics {
                name: name.to_owned(),
                partition_indexes,
                ..Default::default()
            })
            .collect();
        let group = OffsetFetchRequestGroup { group_id: group.to_owned(), topics: Some(topics), ..Default::default() };
        return OffsetFetchRequest { groups: vec![group], require_stable, ..Default::default() };
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partition_indexes)| OffsetFetchRequestTopic {
            name: name.to_owned(),
            partition_indexes,
            ..Default::default()
        })
        .collect();
    OffsetFetchRequest { group_id: group.to_owned(), topics: Some(topics), require_stable, ..Default::default() }
}

/// The committed positions in an OffsetFetch response of any version: an offset of
/// -1 (nothing committed) is `StartPosition::Reset`.
///
/// # Errors
///
/// The group-level error, else the first partition-level one.
pub(super) fn fetched_offsets(
    response: OffsetFetchResponse,
) -> Result<BTreeMap<TopicPartition, StartPosition>, ErrorCode> {
    let mut group_error = ErrorCode::from_i16(response.error_code);
    let mut rows: Vec<(String, i32, i64, i32, i16)> = Vec::new();
    for t in response.topics {
        rows.extend(
            t.partitions.into_iter().map(|p| {
                (t.name.clone(), p.partition_index, p.committed_offset, p.committed_leader_epoch, p.error_code)
            }),
        );
    }
    for g in response.groups {
        if group_error.is_ok() {
            group_error = ErrorCode::from_i16(g.error_code);
        }
        for t in g.topics {
            rows.extend(t.partitions.into_iter().map(|p| {
                (t.name.clone(), p.partition_index, p.committed_offset, p.committed_leader_epoch, p.error_code)
            }));
        }
    }
    group_error.ok()?;
    let mut positions = BTreeMap::new();
    for (topic, partition, offset, leader_epoch, error) in rows {
        ErrorCode::from_i16(error).ok()?;
        let start = if offset < 0 { StartPosition::Reset } else { StartPosition::Offset { offset, leader_epoch } };
        positions.insert(TopicPartition::new(topic, partition), start);
    }
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::Encode;
    use crate::protocol::messages::find_coordinator_response::Coordinator;
    use crate::protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
    };

    fn id() -> Identity {
        Identity { group: "g".into(), member_id: "m".into(), generation: 3, instance_id: Some("i".into()) }
    }

    fn encodes<T: Encode>(value: &T, version: i16) {
        let mut buf = bytes::BytesMut::new();
        value.encode(&mut buf, version).unwrap_or_else(|e| panic!("version {version}: {e}"));
    }

    #[test]
    fn every_version_of_every_request_encodes() {
        let offsets = BTreeMap::from([(TopicPartition::new("t", 0), (5, 2)), (TopicPartition::new("t", 1), (7, 2))]);
        let tps = [TopicPartition::new("t", 0), TopicPartition::new("u", 1)];
        let protocols = [("range".to_owned(), Bytes::from_static(b"x"))];
        let second = Duration::from_secs(1);
        for v in 0..=5 {
            encodes(&find_coordinator("g", v), v);
            encodes(&sync_group(&id(), "range", vec![("m".into(), Bytes::new())], v), v);
            encodes(&leave_group(&id(), v), v);
        }
        for v in 0..=9 {
            encodes(&join_group(&id(), second, second, &protocols, v), v);
            encodes(&offset_commit(&id(), &offsets, v), v);
            encodes(&offset_fetch("g", &tps, true, v), v);
        }
        for v in 0..=4 {
            encodes(&heartbeat(&id(), v), v);
        }
        let commit = offset_commit(&id(), &offsets, 8);
        assert_eq!(commit.topics.len(), 1, "grouped by topic");
        assert_eq!(commit.topics[0].partitions[1].committed_leader_epoch, 2);
        assert_eq!(offset_commit(&id(), &offsets, 5).topics[0].partitions[0].committed_leader_epoch, -1);
    }

    #[test]
    fn coordinator_is_read_from_either_layout() {
        let old = FindCoordinatorResponse { host: "h".into(), port: 9, ..Default::default() };
        assert_eq!(coordinator_of(old, "g"), (ErrorCode::None, "h:9".into()));
        let batched = FindCoordinatorResponse {
            coordinators: vec![Coordinator {
                key: "g".into(),
                host: "::1".into(),
                port: 9,
                error_code: 15,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(coordinator_of(batched, "g"), (ErrorCode::CoordinatorNotAvailable, "[::1]:9".into()));
    }

    #[test]
    fn fetched_offsets_map_minus_one_to_reset() {
        let partition = |index, offset, error| OffsetFetchResponsePartitions {
            partition_index: index,
            committed_offset: offset,
            committed_leader_epoch: 4,
            error_code: error,
            ..Default::default()
        };
        let response = |error| OffsetFetchResponse {
            groups: vec![OffsetFetchResponseGroup {
                group_id: "g".into(),
                topics: vec![OffsetFetchResponseTopics {
                    name: "t".into(),
                    partitions: vec![partition(0, 10, 0), partition(1, -1, error)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let got = fetched_offsets(response(0)).unwrap();
        assert_eq!(got[&TopicPartition::new("t", 0)], StartPosition::Offset { offset: 10, leader_epoch: 4 });
        assert_eq!(got[&TopicPartition::new("t", 1)], StartPosition::Reset);
        assert_eq!(fetched_offsets(response(88)), Err(ErrorCode::UnstableOffsetCommit));
    }
}
