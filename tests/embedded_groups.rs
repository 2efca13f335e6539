//! The group APIs through the broker: FindCoordinator's answer is the node that serves
//! the group, two members join and sync, other nodes answer NOT_COORDINATOR, commits
//! are fetched back, and the group follows its coordinator when that node goes down.

#![cfg(feature = "embedded")]

use std::time::Duration;

use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::net::{BrokerConnection, ConnectionConfig};
use actix_kafka::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use actix_kafka::protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use actix_kafka::protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use actix_kafka::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use actix_kafka::protocol::messages::*;
use actix_kafka::protocol::ErrorCode;
use bytes::Bytes;

const GROUP: &str = "orders-readers";

async fn connect(addr: &str) -> BrokerConnection {
    let config = ConnectionConfig::default().request_timeout(Duration::from_secs(10));
    BrokerConnection::connect(addr, config).await.expect("connect")
}

async fn coordinator(cluster: &EmbeddedCluster, via: &BrokerConnection) -> (i32, BrokerConnection) {
    let found = via.request_at(&FindCoordinatorRequest { key: GROUP.into(), ..Default::default() }, 3).await.unwrap();
    assert_eq!(found.error_code, 0);
    let addr = cluster.node_addrs().into_iter().find(|(id, _)| *id == found.node_id).unwrap().1;
    assert_eq!(format!("{}:{}", found.host, found.port), addr.to_string());
    (found.node_id, connect(&addr.to_string()).await)
}

fn join(member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: GROUP.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 3_000,
        member_id: member_id.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"m"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Joins at v9: the first JoinGroup answers MEMBER_ID_REQUIRED with the id to use.
async fn join_member(conn: &BrokerConnection) -> JoinGroupResponse {
    let first = conn.request_at(&join(""), 9).await.unwrap();
    assert_eq!(ErrorCode::from_i16(first.error_code), ErrorCode::MemberIdRequired);
    conn.request_at(&join(&first.member_id), 9).await.unwrap()
}

#[actix_rt::test]
async fn two_members_join_and_sync_through_the_coordinator_node() {
    let delay = Duration::from_millis(300);
    let cluster = EmbeddedCluster::builder().nodes(3).group_initial_rebalance_delay(delay).start().await.unwrap();
    let bootstrap = connect(cluster.bootstrap().split(',').next().unwrap()).await;
    let (node, first) = coordinator(&cluster, &bootstrap).await;
    let second = connect(&cluster.node_addrs()[node as usize].1.to_string()).await;

    let (a, b) = tokio::join!(join_member(&first), join_member(&second));
    assert_eq!((a.error_code, b.error_code), (0, 0));
    assert_eq!(a.generation_id, b.generation_id);
    assert_eq!(a.leader, b.leader);
    let (leader, follower, leader_conn, follower_conn) =
        if a.leader == a.member_id { (&a, &b, &first, &second) } else { (&b, &a, &second, &first) };
    assert_eq!(leader.members.len(), 2);

    let assignments = leader
        .members
        .iter()
        .map(|m| SyncGroupRequestAssignment {
            member_id: m.member_id.clone(),
            assignment: Bytes::from(m.member_id.clone()),
            ..Default::default()
        })
        .collect();
    let sync = |member: &JoinGroupResponse, assignments| SyncGroupRequest {
        group_id: GROUP.into(),
        generation_id: member.generation_id,
        member_id: member.member_id.clone(),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments,
        ..Default::default()
    };
    let (leader_sync, follower_sync) = (sync(leader, assignments), sync(follower, Vec::new()));
    let (led, followed) =
        tokio::join!(leader_conn.request_at(&leader_sync, 5), follower_conn.request_at(&follower_sync, 5));
    let (led, followed) = (led.unwrap(), followed.unwrap());
    assert_eq!((led.error_code, followed.error_code), (0, 0));
    assert_eq!(led.assignment, Bytes::from(leader.member_id.clone()));
    assert_eq!(followed.assignment, Bytes::from(follower.member_id.clone()));

    // Another node is not the coordinator.
    let other = connect(&cluster.node_addrs()[((node + 1) % 3) as usize].1.to_string()).await;
    let refused = other.request_at(&join(""), 9).await.unwrap();
    assert_eq!(ErrorCode::from_i16(refused.error_code), ErrorCode::NotCoordinator);

    // Commit, then fetch the offset back.
    let commit = OffsetCommitRequest {
        group_id: GROUP.into(),
        generation_id_or_member_epoch: leader.generation_id,
        member_id: leader.member_id.clone(),
        topics: vec![OffsetCommitRequestTopic {
            name: "orders".into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 42,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let committed = leader_conn.request_at(&commit, 8).await.unwrap();
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    let fetch = OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup {
            group_id: GROUP.into(),
            topics: Some(vec![OffsetFetchRequestTopics {
                name: "orders".into(),
                partition_indexes: vec![0],
                ..Default::default()
            }]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let fetched = leader_conn.request_at(&fetch, 8).await.unwrap();
    assert_eq!(fetched.groups[0].topics[0].partitions[0].committed_offset, 42);

    // The coordinator goes down: the group moves to an up node, offsets included.
    cluster.node_down(node).await.unwrap();
    let (moved_to, moved) = coordinator(&cluster, &other).await;
    assert_ne!(moved_to, node);
    let fetched = moved.request_at(&fetch, 8).await.unwrap();
    assert_eq!(fetched.groups[0].topics[0].partitions[0].committed_offset, 42);
    cluster.shutdown().await.unwrap();
}
