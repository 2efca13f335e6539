//! Actor-level tests through the async fns the broker's dispatch calls, with short
//! timeouts, and every response encoded at its request's version.

use std::path::PathBuf;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use crate::protocol::messages::leave_group_request::MemberIdentity;
use crate::protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use crate::protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use crate::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use crate::protocol::messages::*;
use crate::protocol::{ErrorCode, Message};

fn yes(_: &str) -> bool {
    true
}

fn no(_: &str) -> bool {
    false
}

fn encodes<M: Message>(message: &M, version: i16) {
    let mut buf = BytesMut::new();
    if let Err(error) = message.encode(&mut buf, version) {
        panic!("{} v{version} does not encode: {error}\n{message:?}", M::NAME);
    }
}

fn code(error_code: i16) -> ErrorCode {
    ErrorCode::from_i16(error_code)
}

fn join_request(group: &str, member_id: &str, session_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: session_ms,
        rebalance_timeout_ms: 1_000,
        member_id: member_id.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"sub"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Joins at `version`, following MEMBER_ID_REQUIRED when it comes.
async fn join(groups: &Groups, version: i16, group: &str, session_ms: i32) -> JoinGroupResponse {
    let first = join_group(groups, yes, version, "c", "/127.0.0.1", join_request(group, "", session_ms)).await;
    encodes(&first, version);
    if code(first.error_code) != ErrorCode::MemberIdRequired {
        return first;
    }
    let second = join_group(groups, yes, version, "c", "/127.0.0.1", join_request(group, &first.member_id, session_ms));
    let second = second.await;
    encodes(&second, version);
    second
}

fn sync_request(group: &str, joined: &JoinGroupResponse, assignments: &[(&str, &'static str)]) -> SyncGroupRequest {
    SyncGroupRequest {
        group_id: group.into(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        assignments: assignments
            .iter()
            .map(|(m, a)| SyncGroupRequestAssignment {
                member_id: (*m).into(),
                assignment: Bytes::from_static(a.as_bytes()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn heartbeat_request(group: &str, joined: &JoinGroupResponse) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: group.into(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        ..Default::default()
    }
}

fn commit_request(group: &str, offset: i64) -> OffsetCommitRequest {
    let partition =
        |p| OffsetCommitRequestPartition { partition_index: p, committed_offset: offset, ..Default::default() };
    OffsetCommitRequest {
        group_id: group.into(),
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![partition(0), partition(1)],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn fetch_request(group: &str, version: i16) -> OffsetFetchRequest {
    if version >= 8 {
        let topics =
            vec![OffsetFetchRequestTopics { name: "t".into(), partition_indexes: vec![0, 1, 2], ..Default::default() }];
        let group = OffsetFetchRequestGroup { group_id: group.into(), topics: Some(topics), ..Default::default() };
        return OffsetFetchRequest { group_id: String::new(), groups: vec![group], ..Default::default() };
    }
    let topics =
        vec![OffsetFetchRequestTopic { name: "t".into(), partition_indexes: vec![0, 1, 2], ..Default::default() }];
    OffsetFetchRequest { group_id: group.into(), topics: Some(topics), ..Default::default() }
}

/// (offset, error) of partitions 0..=2 of topic "t", whatever the version's shape.
fn fetched(response: &OffsetFetchResponse) -> Vec<(i64, i16)> {
    match response.groups.first() {
        Some(group) => group.topics[0].partitions.iter().map(|p| (p.committed_offset, p.error_code)).collect(),
        None => response.topics[0].partitions.iter().map(|p| (p.committed_offset, p.error_code)).collect(),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("actix-kafka-groups-{name}-{}", std::process::id()));
    let _ignored = std::fs::remove_dir_all(&dir);
    dir
}

fn config_in(dir: &std::path::Path) -> GroupConfig {
    GroupConfig { data_dir: Some(dir.to_owned()), ..GroupConfig::default() }
}

#[actix_rt::test]
async fn two_members_joining_concurrently_both_get_answers_and_assignments() {
    let config = GroupConfig { initial_rebalance_delay: Duration::from_millis(100), ..GroupConfig::default() };
    let groups = Groups::start(config).expect("start");
    let (a, b) = tokio::join!(join(&groups, 9, "g", 10_000), join(&groups, 9, "g", 10_000));
    assert_eq!((code(a.error_code), code(b.error_code)), (ErrorCode::None, ErrorCode::None));
    assert_eq!((a.generation_id, b.generation_id), (1, 1));
    assert_eq!(a.leader, b.leader);
    let (leader, follower) = if a.leader == a.member_id { (a, b) } else { (b, a) };
    assert_eq!((leader.members.len(), follower.members.len()), (2, 0));
    let assignments = [(leader.member_id.as_str(), "L"), (follower.member_id.as_str(), "F")];
    let (synced_follower, synced_leader) = tokio::join!(
        sync_group(&groups, yes, 5, sync_request("g", &follower, &[])),
        sync_group(&groups, yes, 5, sync_request("g", &leader, &assignments)),
    );
    assert_eq!((synced_follower.assignment.as_ref(), synced_leader.assignment.as_ref()), (&b"F"[..], &b"L"[..]));
    assert_eq!(synced_follower.protocol_name.as_deref(), Some("range"));
    let described =
        describe_groups(&groups, yes, 5, DescribeGroupsRequest { groups: vec!["g".into()], ..Default::default() });
    let described = described.await;
    assert_eq!(described.groups[0].group_state, "Stable");
    assert_eq!(described.groups[0].members.len(), 2);
    groups.shutdown().await;
}

#[actix_rt::test]
async fn a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() {
    let config = GroupConfig { initial_rebalance_delay: Duration::from_millis(50), ..GroupConfig::default() };
    let groups = Groups::start(config).expect("start");
    let (a, b) = tokio::join!(join(&groups, 5, "g", 300), join(&groups, 5, "g", 300));
    let (leader, follower) = if a.leader == a.member_id { (a, b) } else { (b, a) };
    let assignments = [(leader.member_id.as_str(), "L"), (follower.member_id.as_str(), "F")];
    let _both = tokio::join!(
        sync_group(&groups, yes, 3, sync_request("g", &follower, &[])),
        sync_group(&groups, yes, 3, sync_request("g", &leader, &assignments)),
    );
    // Only the leader heartbeats, like a client's heartbeat thread would.
    let mut rebalancing = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let beat = heartbeat(&groups, yes, 3, heartbeat_request("g", &leader)).await;
        if code(beat.error_code) == ErrorCode::RebalanceInProgress {
            rebalancing = true;
            break;
        }
        assert_eq!(code(beat.error_code), ErrorCode::None);
    }
    assert!(rebalancing, "the silent follower's expiry starts a rebalance");
    let beat = heartbeat(&groups, yes, 3, heartbeat_request("g", &follower)).await;
    assert_eq!(code(beat.error_code), ErrorCode::UnknownMemberId);
    let rejoined = join_group(&groups, yes, 5, "c", "h", join_request("g", &leader.member_id, 300)).await;
    assert_eq!((code(rejoined.error_code), rejoined.generation_id, rejoined.members.len()), (ErrorCode::None, 2, 1));
    groups.shutdown().await;
}

#[actix_rt::test]
async fn committed_offsets_survive_a_restart() {
    let dir = temp_dir("restart");
    let groups = Groups::start(config_in(&dir)).expect("start");
    let committed = offset_commit(&groups, yes, 8, commit_request("g", 42)).await;
    assert!(committed.topics[0].partitions.iter().all(|p| p.error_code == 0));
    let joined = join(&groups, 5, "members", 10_000).await;
    let mut member_commit = commit_request("members", 7);
    member_commit.generation_id_or_member_epoch = joined.generation_id;
    member_commit.member_id = joined.member_id.clone();
    let refused = offset_commit(&groups, yes, 8, member_commit.clone()).await;
    assert_eq!(code(refused.topics[0].partitions[0].error_code), ErrorCode::RebalanceInProgress);
    sync_group(&groups, yes, 3, sync_request("members", &joined, &[])).await;
    let accepted = offset_commit(&groups, yes, 8, member_commit).await;
    assert_eq!(code(accepted.topics[0].partitions[0].error_code), ErrorCode::None);
    groups.shutdown().await;
    let after = offset_commit(&groups, yes, 8, commit_request("g", 1)).await;
    assert_eq!(code(after.topics[0].partitions[0].error_code), ErrorCode::CoordinatorNotAvailable);
    drop(groups);

    let groups = Groups::start(config_in(&dir)).expect("restart");
    let fetched_g = offset_fetch(&groups, yes, 8, fetch_request("g", 8)).await;
    assert_eq!(fetched(&fetched_g), vec![(42, 0), (42, 0), (-1, 0)]);
    let fetched_members = offset_fetch(&groups, yes, 5, fetch_request("members", 5)).await;
    assert_eq!(fetched(&fetched_members), vec![(7, 0), (7, 0), (-1, 0)]);
    let listed = list_groups(&groups, yes, 5, ListGroupsRequest::default()).await;
    let names: Vec<(&str, &str)> =
        listed.groups.iter().map(|g| (g.group_id.as_str(), g.group_state.as_str())).collect();
    assert_eq!(names, vec![("g", "Empty"), ("members", "Empty")]);
    let rejoined = join(&groups, 5, "members", 10_000).await;
    assert_eq!(rejoined.generation_id, joined.generation_id + 1, "generations keep counting after a restart");
    groups.shutdown().await;
    let _ignored = std::fs::remove_dir_all(&dir);
}

#[actix_rt::test]
async fn a_torn_store_tail_is_cut_on_open() {
    let dir = temp_dir("torn");
    let groups = Groups::start(config_in(&dir)).expect("start");
    offset_commit(&groups, yes, 2, commit_request("g", 5)).await;
    offset_commit(&groups, yes, 2, commit_request("g", 6)).await;
    groups.shutdown().await;
    drop(groups);
    let file = std::fs::read_dir(dir.join("__consumer_offsets")).expect("dir").next().expect("a file").expect("entry");
    let bytes = std::fs::read(file.path()).expect("read");
    // The last record loses its final bytes, as if the process died mid-write.
    std::fs::write(file.path(), &bytes[..bytes.len() - 3]).expect("tear");

    let groups = Groups::start(config_in(&dir)).expect("restart");
    let fetched_g = offset_fetch(&groups, yes, 1, fetch_request("g", 1)).await;
    let offsets: Vec<i64> = fetched(&fetched_g).into_iter().map(|(o, _)| o).collect();
    assert_eq!(offsets, vec![6, 5, -1], "partition 1's torn second commit is gone, the rest stays");
    offset_commit(&groups, yes, 2, commit_request("g", 9)).await;
    groups.shutdown().await;
    drop(groups);
    let groups = Groups::start(config_in(&dir)).expect("restart again");
    let fetched_g = offset_fetch(&groups, yes, 8, fetch_request("g", 8)).await;
    assert_eq!(fetched(&fetched_g), vec![(9, 0), (9, 0), (-1, 0)], "appends after the cut read back");
    groups.shutdown().await;
    let _ignored = std::fs::remove_dir_all(&dir);
}

#[actix_rt::test]
async fn a_parked_join_is_answered_when_the_coordinator_goes_away() {
    let config = GroupConfig { initial_rebalance_delay: Duration::from_secs(30), ..GroupConfig::default() };
    let groups = Groups::start(config).expect("start");
    let handle = groups.clone();
    let parked = actix_rt::spawn(async move { join(&handle, 3, "g", 10_000).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    groups.shutdown().await;
    let answer = parked.await.expect("join task");
    assert_eq!(code(answer.error_code), ErrorCode::CoordinatorNotAvailable);
}

#[actix_rt::test]
async fn groups_this_node_does_not_coordinate_get_not_coordinator() {
    let groups = Groups::start(GroupConfig::default()).expect("start");
    let joined = join_group(&groups, no, 5, "c", "h", join_request("g", "", 10_000)).await;
    assert_eq!(code(joined.error_code), ErrorCode::NotCoordinator);
    let fetched_g = offset_fetch(&groups, no, 8, fetch_request("g", 8)).await;
    assert_eq!(code(fetched_g.groups[0].error_code), ErrorCode::NotCoordinator);
    let committed = offset_commit(&groups, no, 8, commit_request("g", 1)).await;
    assert_eq!(code(committed.topics[0].partitions[1].error_code), ErrorCode::NotCoordinator);
    let described =
        describe_groups(&groups, yes, 5, DescribeGroupsRequest { groups: vec!["nope".into()], ..Default::default() });
    let described = described.await;
    assert_eq!((described.groups[0].error_code, described.groups[0].group_state.as_str()), (0, "Dead"));
    assert!(list_groups(&groups, yes, 5, ListGroupsRequest::default()).await.groups.is_empty(), "nothing was created");
    assert!(Groups::start(GroupConfig::default()).is_ok());
}

#[test]
fn start_outside_a_system_is_an_error() {
    assert!(matches!(Groups::start(GroupConfig::default()), Err(GroupError::NoSystem)));
}

#[actix_rt::test]
async fn every_response_encodes_at_every_version_of_its_api() {
    let groups = Groups::start(GroupConfig::default()).expect("start");
    for version in JoinGroupResponse::VERSIONS.iter() {
        let group = format!("join-{version}");
        let joined = join(&groups, version, &group, 10_000).await;
        assert_eq!(code(joined.error_code), ErrorCode::None, "v{version}");
        encodes(&join_group(&groups, no, version, "c", "h", join_request(&group, "", 10_000)).await, version);
        encodes(&join_group_error(&join_request(&group, "", 10_000), ErrorCode::NotCoordinator), version);
    }
    for version in SyncGroupResponse::VERSIONS.iter() {
        let group = format!("sync-{version}");
        let joined = join(&groups, 3, &group, 10_000).await;
        let request = sync_request(&group, &joined, &[(joined.member_id.as_str(), "A")]);
        let synced = sync_group(&groups, yes, version, request.clone()).await;
        assert_eq!((code(synced.error_code), synced.assignment.as_ref()), (ErrorCode::None, &b"A"[..]));
        encodes(&synced, version);
        encodes(&sync_group_error(&request, ErrorCode::NotCoordinator), version);
        let beat = heartbeat(&groups, yes, version.min(4), heartbeat_request(&group, &joined)).await;
        assert_eq!(code(beat.error_code), ErrorCode::None);
        encodes(&beat, version.min(4));
        encodes(&heartbeat_error(&heartbeat_request(&group, &joined), ErrorCode::NotCoordinator), version.min(4));
    }
    for version in LeaveGroupResponse::VERSIONS.iter() {
        let group = format!("leave-{version}");
        let joined = join(&groups, 3, &group, 10_000).await;
        let request = if version >= 3 {
            let members = vec![
                MemberIdentity { member_id: joined.member_id.clone(), group_instance_id: None, ..Default::default() },
                MemberIdentity { member_id: "unknown".into(), group_instance_id: None, ..Default::default() },
            ];
            LeaveGroupRequest { group_id: group.clone(), members, ..Default::default() }
        } else {
            LeaveGroupRequest { group_id: group.clone(), member_id: joined.member_id.clone(), ..Default::default() }
        };
        let left = leave_group(&groups, yes, version, request.clone()).await;
        if version >= 3 {
            let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
            assert_eq!(codes, vec![0, ErrorCode::UnknownMemberId.code()]);
        } else {
            assert_eq!(left.error_code, 0);
        }
        encodes(&left, version);
        encodes(&leave_group_error(&request, ErrorCode::NotCoordinator), version);
    }
    for version in OffsetCommitResponse::VERSIONS.iter() {
        let committed = offset_commit(&groups, yes, version, commit_request("offsets", i64::from(version))).await;
        assert!(committed.topics[0].partitions.iter().all(|p| p.error_code == 0), "v{version}");
        encodes(&committed, version);
        encodes(&offset_commit_error(&commit_request("offsets", 0), ErrorCode::NotCoordinator), version);
    }
    for version in OffsetFetchResponse::VERSIONS.iter() {
        let fetched_offsets = offset_fetch(&groups, yes, version, fetch_request("offsets", version)).await;
        assert_eq!(fetched(&fetched_offsets), vec![(9, 0), (9, 0), (-1, 0)], "v{version}");
        encodes(&fetched_offsets, version);
        let unknown = offset_fetch(&groups, yes, version, fetch_request("unknown", version)).await;
        assert_eq!(fetched(&unknown), vec![(-1, 0), (-1, 0), (-1, 0)]);
        encodes(&unknown, version);
        encodes(&offset_fetch(&groups, no, version, fetch_request("offsets", version)).await, version);
        encodes(&offset_fetch_error(&fetch_request("offsets", version), ErrorCode::NotCoordinator), version);
        if (2..8).contains(&version) {
            let all = OffsetFetchRequest { group_id: "offsets".into(), topics: None, ..Default::default() };
            let all = offset_fetch(&groups, yes, version, all).await;
            assert_eq!(all.topics.len(), 1);
            encodes(&all, version);
        }
    }
    for version in DescribeGroupsResponse::VERSIONS.iter() {
        let request = DescribeGroupsRequest {
            groups: vec!["sync-5".into(), "offsets".into(), "missing".into()],
            include_authorized_operations: version >= 3,
            ..Default::default()
        };
        let described = describe_groups(&groups, yes, version, request.clone()).await;
        let states: Vec<&str> = described.groups.iter().map(|g| g.group_state.as_str()).collect();
        assert_eq!(states, vec!["Stable", "Empty", "Dead"]);
        encodes(&described, version);
        encodes(&describe_groups_error(&request, ErrorCode::NotCoordinator), version);
    }
    for version in ListGroupsResponse::VERSIONS.iter() {
        let request = ListGroupsRequest {
            states_filter: if version >= 4 { vec!["stable".into()] } else { Vec::new() },
            types_filter: if version >= 5 { vec!["Classic".into()] } else { Vec::new() },
            ..Default::default()
        };
        let listed = list_groups(&groups, yes, version, request.clone()).await;
        let stable = listed.groups.iter().filter(|g| g.group_id.starts_with("sync-")).count();
        assert_eq!(stable, 6, "v{version}");
        if version >= 4 {
            assert!(listed.groups.iter().all(|g| g.group_state == "Stable"));
        }
        encodes(&listed, version);
        encodes(&list_groups_error(&request, ErrorCode::NotCoordinator), version);
    }
    groups.shutdown().await;
}
