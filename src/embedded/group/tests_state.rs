//! `Group` state machine tests: explicit time, no actors, no sleeps.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::member::{Protocol, Token};
use super::membership::{LeavingMember, SyncInput};
use super::offsets::CommittedOffset;
use super::state::{Group, GroupState, JoinInput, JoinOutcome, Limits, Reply, SyncOutcome};
use crate::protocol::ErrorCode;

const SESSION: Duration = Duration::from_secs(1);
const REBALANCE: Duration = Duration::from_secs(2);

fn group(initial_delay: Duration) -> Group {
    let limits = Limits {
        min_session_timeout: Duration::from_millis(100),
        max_session_timeout: Duration::from_secs(60),
        initial_rebalance_delay: initial_delay,
    };
    Group::new("g", limits)
}

fn input(member_id: &str, version: i16, protocols: &[&str]) -> JoinInput {
    JoinInput {
        version,
        member_id: member_id.to_owned(),
        instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|n| Protocol { name: (*n).into(), metadata: Bytes::from(format!("{n}-meta")) })
            .collect(),
    }
}

fn join_of(replies: &[Reply], token: Token) -> Option<JoinOutcome> {
    replies.iter().find_map(|r| match r {
        Reply::Join(t, o) if *t == token => Some(o.clone()),
        _ => None,
    })
}

fn sync_of(replies: &[Reply], token: Token) -> Option<SyncOutcome> {
    replies.iter().find_map(|r| match r {
        Reply::Sync(t, o) if *t == token => Some(o.clone()),
        _ => None,
    })
}

fn sync_input(member_id: &str, generation_id: i32, assignments: &[(&str, &'static str)]) -> SyncInput {
    SyncInput {
        member_id: member_id.to_owned(),
        generation_id,
        assignments: assignments.iter().map(|(m, a)| ((*m).to_owned(), Bytes::from_static(a.as_bytes()))).collect(),
        ..Default::default()
    }
}

/// Joins one v3 member into a fresh group (no initial delay): it leads generation 1.
fn joined_alone(g: &mut Group, now: Instant) -> String {
    let replies = g.join(now, 1, input("", 3, &["range"]));
    join_of(&replies, 1).expect("answered at once").member_id
}

/// Two v3 members, Stable at generation 2 (a, b), with assignments "A" and "B".
fn stable_pair(g: &mut Group, now: Instant) -> (String, String) {
    let a = joined_alone(g, now);
    let replies = g.join(now, 2, input("", 3, &["range"]));
    assert!(join_of(&replies, 2).is_none(), "b waits for a to rejoin");
    let b = g.members.keys().find(|id| **id != a).cloned().expect("b added");
    let replies = g.join(now, 3, input(&a, 3, &["range"]));
    assert_eq!(join_of(&replies, 3).expect("a").members.len(), 2);
    assert_eq!(join_of(&replies, 2).expect("b").generation_id, 2);
    let replies = g.sync(now, 4, sync_input(&a, 2, &[(&a, "A"), (&b, "B")]));
    assert_eq!(sync_of(&replies, 4).expect("leader synced").assignment, "A");
    let replies = g.sync(now, 5, sync_input(&b, 2, &[]));
    assert_eq!(sync_of(&replies, 5).expect("b synced in Stable").assignment, "B");
    assert_eq!(g.state, GroupState::Stable);
    (a, b)
}

#[test]
fn one_member_joins_syncs_and_heartbeats() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    let replies = g.join(now, 1, input("", 3, &["range"]));
    let joined = join_of(&replies, 1).expect("answered at once");
    assert_eq!(joined.error, ErrorCode::None);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, "range-meta");
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let id = joined.member_id;
    let replies = g.sync(now, 2, sync_input(&id, 1, &[(&id, "mine")]));
    assert_eq!(sync_of(&replies, 2).expect("synced").assignment, "mine");
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(g.heartbeat(now + Duration::from_millis(500), &id, None, 1), ErrorCode::None);
    assert_eq!(g.next_deadline(), Some(now + Duration::from_millis(500) + SESSION));
}

#[test]
fn three_members_leader_gets_all_metadata_followers_wait_for_the_leader_sync() {
    let mut g = group(Duration::from_secs(3));
    let t0 = Instant::now();
    for token in 1..=3 {
        assert!(g.join(t0, token, input("", 3, &["range"])).is_empty(), "parked in the initial delay");
    }
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.next_deadline(), Some(t0 + Duration::from_secs(3)));
    assert!(g.tick(t0 + Duration::from_secs(2)).is_empty());
    let replies = g.tick(t0 + Duration::from_secs(3));
    let outcomes: Vec<JoinOutcome> = (1..=3).map(|t| join_of(&replies, t).expect("answered")).collect();
    let leader = outcomes[0].leader.clone();
    for outcome in &outcomes {
        assert_eq!(outcome.generation_id, 1);
        assert_eq!(outcome.leader, leader);
        let expected = if outcome.member_id == leader { 3 } else { 0 };
        assert_eq!(outcome.members.len(), expected);
    }
    let now = t0 + Duration::from_secs(3);
    let followers: Vec<String> = outcomes.iter().map(|o| o.member_id.clone()).filter(|m| *m != leader).collect();
    assert!(g.sync(now, 10, sync_input(&followers[0], 1, &[])).is_empty());
    assert!(g.sync(now, 11, sync_input(&followers[1], 1, &[])).is_empty());
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let assignments = [(leader.as_str(), "L"), (followers[0].as_str(), "F0"), (followers[1].as_str(), "F1")];
    let replies = g.sync(now, 12, sync_input(&leader, 1, &assignments));
    assert_eq!(replies.len(), 3);
    assert_eq!(sync_of(&replies, 10).expect("f0").assignment, "F0");
    assert_eq!(sync_of(&replies, 11).expect("f1").assignment, "F1");
    assert_eq!(sync_of(&replies, 12).expect("leader").assignment, "L");
    assert_eq!(g.state, GroupState::Stable);
}

#[test]
fn a_leaving_member_starts_a_rebalance() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    let (a, b) = stable_pair(&mut g, now);
    let (codes, replies) = g.leave(now, &[LeavingMember { member_id: b.clone(), instance_id: None }]);
    assert_eq!(codes, vec![ErrorCode::None]);
    assert!(replies.is_empty());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.heartbeat(now, &a, None, 2), ErrorCode::RebalanceInProgress);
    let replies = g.join(now, 7, input(&a, 3, &["range"]));
    let joined = join_of(&replies, 7).expect("a alone completes the rebalance");
    assert_eq!((joined.generation_id, joined.members.len()), (3, 1));
    let (codes, _) = g.leave(now, &[LeavingMember { member_id: b, instance_id: None }]);
    assert_eq!(codes, vec![ErrorCode::UnknownMemberId]);
}

#[test]
fn the_last_member_leaving_empties_the_group() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    let a = joined_alone(&mut g, now);
    g.leave(now, &[LeavingMember { member_id: a, instance_id: None }]);
    assert_eq!((g.state, g.generation, g.protocol_name.clone()), (GroupState::Empty, 2, None));
}

#[test]
fn session_expiry_removes_a_silent_member() {
    let mut g = group(Duration::ZERO);
    let t0 = Instant::now();
    let (a, b) = stable_pair(&mut g, t0);
    let later = t0 + Duration::from_millis(800);
    assert_eq!(g.heartbeat(later, &a, None, 2), ErrorCode::None);
    assert_eq!(g.next_deadline(), Some(t0 + SESSION), "b's session ends first");
    assert!(g.tick(t0 + SESSION - Duration::from_millis(1)).is_empty());
    assert!(g.members.contains_key(&b));
    g.tick(t0 + SESSION);
    assert!(!g.members.contains_key(&b));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.heartbeat(t0 + SESSION, &b, None, 2), ErrorCode::UnknownMemberId);
}

#[test]
fn the_rebalance_timeout_removes_a_member_that_did_not_rejoin() {
    let mut g = group(Duration::ZERO);
    let t0 = Instant::now();
    let (a, b) = stable_pair(&mut g, t0);
    assert!(g.join(t0, 20, input("", 3, &["range"])).is_empty(), "c starts a rebalance");
    assert!(g.join(t0, 21, input(&a, 3, &["range"])).is_empty(), "a rejoined, b has not");
    // b stays alive (heartbeats are answered "rejoin"), but never rejoins.
    for ms in [900, 1800] {
        let at = t0 + Duration::from_millis(ms);
        assert!(g.tick(at).is_empty());
        assert_eq!(g.heartbeat(at, &b, None, 2), ErrorCode::RebalanceInProgress);
    }
    assert_eq!(g.next_deadline(), Some(t0 + REBALANCE));
    let replies = g.tick(t0 + REBALANCE);
    let joined_a = join_of(&replies, 21).expect("a answered");
    let joined_c = join_of(&replies, 20).expect("c answered");
    assert_eq!((joined_a.generation_id, joined_c.generation_id), (3, 3));
    assert!(!g.members.contains_key(&b));
    assert_eq!(g.members.len(), 2);
}

#[test]
fn member_id_required_then_admitted_and_pending_ids_expire() {
    let mut g = group(Duration::ZERO);
    let t0 = Instant::now();
    let replies = g.join(t0, 1, input("", 4, &["range"]));
    let first = join_of(&replies, 1).expect("answered");
    assert_eq!(first.error, ErrorCode::MemberIdRequired);
    assert!(first.member_id.starts_with("client-"));
    assert_eq!(g.state, GroupState::Empty);
    let replies = g.join(t0, 2, input(&first.member_id, 4, &["range"]));
    let second = join_of(&replies, 2).expect("admitted");
    assert_eq!((second.error, second.member_id.clone(), second.generation_id), (ErrorCode::None, first.member_id, 1));
    let replies = g.join(t0, 3, input("", 4, &["range"]));
    let pending = join_of(&replies, 3).expect("answered").member_id;
    g.tick(t0 + SESSION);
    let replies = g.join(t0 + SESSION, 4, input(&pending, 4, &["range"]));
    assert_eq!(join_of(&replies, 4).expect("answered").error, ErrorCode::UnknownMemberId);
}

#[test]
fn the_protocol_is_chosen_by_votes_among_common_protocols() {
    let mut g = group(Duration::from_secs(1));
    let t0 = Instant::now();
    g.join(t0, 1, input("", 3, &["range", "roundrobin", "sticky"]));
    g.join(t0, 2, input("", 3, &["roundrobin", "range"]));
    g.join(t0, 3, input("", 3, &["sticky", "roundrobin", "range"]));
    let replies = g.tick(t0 + Duration::from_secs(1));
    let leader = (1..=3).filter_map(|t| join_of(&replies, t)).find(|o| !o.members.is_empty()).expect("leader");
    // Common: range, roundrobin. Votes: range 1, roundrobin 2 (the third member's
    // favourite, sticky, is not common, so it votes its next choice).
    assert_eq!(leader.protocol_name.as_deref(), Some("roundrobin"));
    assert!(leader.members.iter().all(|m| m.metadata == "roundrobin-meta"));
}

#[test]
fn inconsistent_protocols_and_bad_session_timeouts_are_refused() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    joined_alone(&mut g, now);
    let code = |g: &mut Group, input| join_of(&g.join(now, 9, input), 9).expect("answered").error;
    assert_eq!(code(&mut g, input("", 3, &["roundrobin"])), ErrorCode::InconsistentGroupProtocol);
    let mut other_type = input("", 3, &["range"]);
    other_type.protocol_type = "connect".into();
    assert_eq!(code(&mut g, other_type), ErrorCode::InconsistentGroupProtocol);
    assert_eq!(code(&mut g, input("", 3, &[])), ErrorCode::InconsistentGroupProtocol);
    let mut short = input("", 3, &["range"]);
    short.session_timeout = Duration::from_millis(99);
    assert_eq!(code(&mut g, short), ErrorCode::InvalidSessionTimeout);
    let mut long = input("", 3, &["range"]);
    long.session_timeout = Duration::from_secs(61);
    assert_eq!(code(&mut g, long), ErrorCode::InvalidSessionTimeout);
    assert_eq!(g.members.len(), 1);
}

fn static_input(member_id: &str, instance: &str, version: i16) -> JoinInput {
    JoinInput { instance_id: Some(instance.to_owned()), ..input(member_id, version, &["range"]) }
}

/// Static members a (leader) and b, Stable at generation 2 with assignments A and B.
fn static_pair(g: &mut Group, now: Instant) -> (String, String) {
    let a = join_of(&g.join(now, 1, static_input("", "i-a", 5)), 1).expect("a").member_id;
    assert!(g.join(now, 2, static_input("", "i-b", 5)).is_empty());
    let b = g.static_members["i-b"].clone();
    g.join(now, 3, static_input(&a, "i-a", 5));
    g.sync(now, 4, sync_input(&b, 2, &[]));
    g.sync(now, 5, sync_input(&a, 2, &[(&a, "A"), (&b, "B")]));
    assert_eq!(g.state, GroupState::Stable);
    (a, b)
}

#[test]
fn a_static_member_rejoins_a_stable_group_without_a_rebalance() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    let (a, old_b) = static_pair(&mut g, now);
    let replies = g.join(now, 10, static_input("", "i-b", 5));
    let rejoined = join_of(&replies, 10).expect("answered at once");
    assert_eq!(rejoined.error, ErrorCode::None);
    assert_ne!(rejoined.member_id, old_b);
    assert_eq!((rejoined.generation_id, rejoined.leader.clone(), rejoined.members.len()), (2, a.clone(), 0));
    assert_eq!(g.state, GroupState::Stable);
    let new_b = rejoined.member_id;
    let sync = SyncInput { instance_id: Some("i-b".into()), ..sync_input(&new_b, 2, &[]) };
    assert_eq!(sync_of(&g.sync(now, 11, sync), 11).expect("synced").assignment, "B");
    assert_eq!(g.heartbeat(now, &old_b, Some("i-b"), 2), ErrorCode::FencedInstanceId);
    assert_eq!(g.heartbeat(now, &new_b, Some("i-b"), 2), ErrorCode::None);
    // The former leader rejoining: before v9 it is told the old leader id (its own old
    // id), so it syncs as a follower; the group keeps its assignment.
    let replies = g.join(now, 12, static_input("", "i-a", 8));
    let leader = join_of(&replies, 12).expect("answered");
    assert_eq!((leader.leader.clone(), leader.members.len(), leader.skip_assignment), (a, 0, false));
    assert_eq!(g.leader.as_deref(), Some(leader.member_id.as_str()));
    let replies = g.join(now, 13, static_input("", "i-a", 9));
    let leader = join_of(&replies, 13).expect("answered");
    assert_eq!(leader.leader, leader.member_id);
    assert!(leader.skip_assignment);
    assert_eq!(leader.members.len(), 2);
    assert_eq!(g.state, GroupState::Stable);
}

#[test]
fn a_static_member_with_changed_protocols_rebalances_and_its_old_id_is_fenced() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    let (_a, old_b) = static_pair(&mut g, now);
    let changed = JoinInput { instance_id: Some("i-b".into()), ..input("", 5, &["range", "sticky"]) };
    assert!(g.join(now, 10, changed).is_empty());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let replies = g.join(now, 11, static_input(&old_b, "i-b", 5));
    assert_eq!(join_of(&replies, 11).expect("answered").error, ErrorCode::FencedInstanceId);
}

#[test]
fn wrong_generation_and_unknown_members_are_refused() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    let (a, _b) = stable_pair(&mut g, now);
    assert_eq!(sync_of(&g.sync(now, 1, sync_input(&a, 1, &[])), 1).expect("x").error, ErrorCode::IllegalGeneration);
    assert_eq!(sync_of(&g.sync(now, 2, sync_input("nobody", 2, &[])), 2).expect("x").error, ErrorCode::UnknownMemberId);
    assert_eq!(g.heartbeat(now, &a, None, 7), ErrorCode::IllegalGeneration);
    assert_eq!(g.heartbeat(now, "nobody", None, 2), ErrorCode::UnknownMemberId);
    let join = join_of(&g.join(now, 3, input("nobody", 3, &["range"])), 3).expect("x");
    assert_eq!(join.error, ErrorCode::UnknownMemberId);
    let typed = SyncInput { protocol_name: Some("roundrobin".into()), ..sync_input(&a, 2, &[]) };
    assert_eq!(sync_of(&g.sync(now, 4, typed), 4).expect("x").error, ErrorCode::InconsistentGroupProtocol);
    g.join(now, 5, input("", 3, &["range"]));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let during = sync_of(&g.sync(now, 6, sync_input(&a, 2, &[])), 6).expect("x");
    assert_eq!(during.error, ErrorCode::RebalanceInProgress);
}

#[test]
fn a_rebalance_answers_parked_syncs_with_rebalance_in_progress() {
    let mut g = group(Duration::from_secs(1));
    let t0 = Instant::now();
    g.join(t0, 1, input("", 3, &["range"]));
    g.join(t0, 2, input("", 3, &["range"]));
    let replies = g.tick(t0 + Duration::from_secs(1));
    let follower = (1..=2).filter_map(|t| join_of(&replies, t)).find(|o| o.members.is_empty()).expect("follower");
    let now = t0 + Duration::from_secs(1);
    assert!(g.sync(now, 3, sync_input(&follower.member_id, 1, &[])).is_empty());
    let replies = g.join(now, 4, input("", 3, &["range"]));
    assert_eq!(sync_of(&replies, 3).expect("released").error, ErrorCode::RebalanceInProgress);
}

#[test]
fn a_leader_that_never_syncs_is_removed_at_the_sync_deadline() {
    let mut g = group(Duration::from_secs(1));
    let t0 = Instant::now();
    g.join(t0, 1, input("", 3, &["range"]));
    g.join(t0, 2, input("", 3, &["range"]));
    let replies = g.tick(t0 + Duration::from_secs(1));
    let follower = (1..=2).filter_map(|t| join_of(&replies, t)).find(|o| o.members.is_empty()).expect("follower");
    let now = t0 + Duration::from_secs(1);
    g.sync(now, 3, sync_input(&follower.member_id, 1, &[]));
    // The leader heartbeats (keeping its session) but never syncs.
    let leader = follower.leader.clone();
    assert_eq!(g.heartbeat(now + Duration::from_millis(900), &leader, None, 1), ErrorCode::None);
    let replies = g.tick(now + REBALANCE);
    assert_eq!(sync_of(&replies, 3).expect("released").error, ErrorCode::RebalanceInProgress);
    assert!(!g.members.contains_key(&leader));
}

fn offset(value: i64) -> CommittedOffset {
    CommittedOffset { offset: value, leader_epoch: 1, metadata: Some("meta".into()), commit_timestamp_ms: 0 }
}

#[test]
fn offsets_simple_commits_and_member_commits() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    assert_eq!(g.check_commit(now, "", None, -1), Ok(()), "simple commit to an Empty group");
    assert_eq!(g.commit_offset("t", 0, offset(5)), ErrorCode::None);
    assert_eq!(g.committed("t", 0), Some(&offset(5)));
    assert_eq!(g.committed("t", 1), None);
    let (a, _b) = stable_pair(&mut g, now);
    assert_eq!(g.check_commit(now, "", None, -1), Err(ErrorCode::UnknownMemberId), "the group has members");
    assert_eq!(g.check_commit(now, &a, None, 2), Ok(()));
    assert_eq!(g.check_commit(now, &a, None, 1), Err(ErrorCode::IllegalGeneration));
    assert_eq!(g.check_commit(now, "nobody", None, 2), Err(ErrorCode::UnknownMemberId));
    g.commit_offset("t", 0, offset(9));
    g.commit_offset("u", 3, offset(1));
    assert_eq!(g.committed_topics(), vec![("t".to_owned(), vec![0]), ("u".to_owned(), vec![3])]);
    g.join(now, 30, input("", 3, &["range"]));
    assert_eq!(g.check_commit(now, &a, None, 2), Ok(()), "commits allowed while preparing a rebalance");
    let big = CommittedOffset { metadata: Some("x".repeat(5000)), ..offset(1) };
    assert_eq!(g.commit_offset("t", 0, big), ErrorCode::OffsetMetadataTooLarge);
    assert_eq!(g.committed("t", 0), Some(&offset(9)));
}

#[test]
fn commits_during_completing_rebalance_are_refused() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    let a = joined_alone(&mut g, now);
    assert_eq!(g.state, GroupState::CompletingRebalance);
    assert_eq!(g.check_commit(now, &a, None, 1), Err(ErrorCode::RebalanceInProgress));
}

#[test]
fn close_answers_every_parked_request() {
    let mut g = group(Duration::from_secs(5));
    let now = Instant::now();
    g.join(now, 1, input("", 3, &["range"]));
    let replies = g.close(ErrorCode::CoordinatorNotAvailable);
    assert_eq!(join_of(&replies, 1).expect("answered").error, ErrorCode::CoordinatorNotAvailable);
}

#[test]
fn describe_shows_metadata_and_assignments_only_when_stable() {
    let mut g = group(Duration::ZERO);
    let now = Instant::now();
    let a = joined_alone(&mut g, now);
    let described = g.describe();
    assert_eq!((described.group_state.as_str(), described.protocol_data.as_str()), ("CompletingRebalance", ""));
    assert!(described.members[0].member_metadata.is_empty());
    g.sync(now, 2, sync_input(&a, 1, &[(&a, "A")]));
    let described = g.describe();
    assert_eq!((described.group_state.as_str(), described.protocol_data.as_str()), ("Stable", "range"));
    assert_eq!(
        (described.members[0].member_metadata.as_ref(), described.members[0].member_assignment.as_ref()),
        (&b"range-meta"[..], &b"A"[..])
    );
    assert_eq!(described.protocol_type, "consumer");
}
