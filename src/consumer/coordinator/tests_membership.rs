//! The membership state machine under explicit time: join, sync and heartbeat
//! transitions, each error code's handling, eager vs cooperative revocation.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::membership::{HeartbeatDue, JoinOutcome, Membership, Phase, Step, Verdict};
use super::protocol::JoinedMember;
use crate::consumer::assignor::RebalanceProtocol;
use crate::consumer::types::TopicPartition;
use crate::protocol::ErrorCode;

const SESSION: Duration = Duration::from_secs(10);

fn membership(protocol: RebalanceProtocol) -> Membership {
    let name = if protocol == RebalanceProtocol::Eager { "range" } else { "cooperative-sticky" };
    let mut m = Membership::new("g".into(), None, SESSION, vec![(name.to_owned(), protocol)]);
    m.subscribe(BTreeSet::from(["t".to_owned()]));
    m
}

fn tps(partitions: &[i32]) -> Vec<TopicPartition> {
    partitions.iter().map(|&p| TopicPartition::new("t", p)).collect()
}

fn set(partitions: &[i32]) -> BTreeSet<TopicPartition> {
    tps(partitions).into_iter().collect()
}

fn joined(member: &str, generation: i32, leader: &str) -> JoinOutcome {
    JoinOutcome {
        error: ErrorCode::None,
        generation,
        member_id: member.into(),
        protocol: None, // as if the group chose the first protocol offered
        leader: leader.into(),
        skip_assignment: false,
        members: vec![JoinedMember { member_id: member.into(), instance_id: None, metadata: Bytes::new() }],
    }
}

fn error(code: ErrorCode, member: &str) -> JoinOutcome {
    JoinOutcome { error: code, generation: -1, ..joined(member, -1, "") }
}

/// Joins as follower `m1` at `generation` and gets `assignment`; returns the steps
/// taken after the sync.
fn join_and_sync(m: &mut Membership, generation: i32, assignment: &[i32], now: Instant) -> Vec<Step> {
    assert_eq!(m.next_step(), Step::Join);
    assert_eq!(m.on_join(Some(joined("m1", generation, "m0"))), Verdict::Continue);
    assert_eq!(m.next_step(), Step::Sync { leader_of: None });
    assert_eq!(m.on_sync(Some(ErrorCode::None), Some(set(assignment)), now), Verdict::Continue);
    let mut steps = Vec::new();
    loop {
        let step = m.next_step();
        match &step {
            Step::Revoke(p) => m.revoked(&p.clone()),
            Step::Assign(p) => m.assigned(p.clone(), true),
            _ => {
                steps.push(step);
                return steps;
            }
        }
        steps.push(step);
    }
}

#[test]
fn member_id_required_rejoins_with_the_given_id_then_the_leader_syncs_its_members() {
    let mut m = membership(RebalanceProtocol::Eager);
    assert_eq!(m.next_step(), Step::Join);
    assert_eq!(m.next_step(), Step::Wait, "one step at a time");
    assert_eq!(m.on_join(Some(error(ErrorCode::MemberIdRequired, "m1"))), Verdict::Continue);
    assert_eq!(m.identity().member_id, "m1");
    assert_eq!(m.next_step(), Step::Join);
    assert_eq!(m.on_join(Some(joined("m1", 1, "m1"))), Verdict::Continue);
    assert!(m.leader);
    match m.next_step() {
        Step::Sync { leader_of: Some(members) } => assert_eq!(members[0].member_id, "m1"),
        other => panic!("expected a leader's sync, got {other:?}"),
    }
    assert!(m.is_rebalancing());
    let now = Instant::now();
    assert_eq!(m.on_sync(Some(ErrorCode::None), Some(set(&[0, 1])), now), Verdict::Continue);
    assert_eq!(m.next_step(), Step::Assign(tps(&[0, 1])));
    m.assigned(tps(&[0, 1]), true);
    assert_eq!(m.next_step(), Step::Wait);
    assert_eq!((m.phase.clone(), m.owned.clone(), m.generation), (Phase::Stable, set(&[0, 1]), 1));
    assert_eq!((m.joins, m.rebalances), (2, 1));
}

#[test]
fn eager_revokes_everything_before_it_rejoins() {
    let mut m = membership(RebalanceProtocol::Eager);
    let now = Instant::now();
    join_and_sync(&mut m, 1, &[0, 1, 2], now);
    assert_eq!(m.on_heartbeat(1, Some(ErrorCode::RebalanceInProgress), now), Verdict::Continue);
    assert_eq!(m.next_step(), Step::Revoke(tps(&[0, 1, 2])));
    assert!(matches!(m.heartbeat_due(now), HeartbeatDue::Send(_)), "heartbeats go on while revoking");
    m.revoked(&tps(&[0, 1, 2]));
    // The new assignment is handed over whole: nothing is owned any more.
    let steps = join_and_sync(&mut m, 2, &[1, 2], now);
    assert_eq!(steps, [Step::Assign(tps(&[1, 2])), Step::Wait]);
}

#[test]
fn cooperative_keeps_what_it_owns_and_revokes_only_what_moved_then_rejoins() {
    let mut m = membership(RebalanceProtocol::Cooperative);
    let now = Instant::now();
    join_and_sync(&mut m, 1, &[0, 1, 2, 3], now);
    assert_eq!(m.on_heartbeat(1, Some(ErrorCode::RebalanceInProgress), now), Verdict::Continue);
    assert_eq!(m.next_step(), Step::Join, "no revoke before joining");
    assert_eq!(m.owned, set(&[0, 1, 2, 3]));
    assert_eq!(m.on_join(Some(joined("m1", 2, "m0"))), Verdict::Continue);
    assert_eq!(m.next_step(), Step::Sync { leader_of: None });
    assert_eq!(m.on_sync(Some(ErrorCode::None), Some(set(&[0, 1, 4])), now), Verdict::Continue);
    assert_eq!(m.next_step(), Step::Revoke(tps(&[2, 3])));
    m.revoked(&tps(&[2, 3]));
    assert_eq!(m.next_step(), Step::Assign(tps(&[4])), "only the new partition");
    m.assigned(tps(&[4]), true);
    assert_eq!(m.next_step(), Step::Join, "having revoked, it rejoins at once");
    assert_eq!(m.owned, set(&[0, 1, 4]));
}

#[test]
fn a_failed_offset_fetch_assigns_the_same_partitions_again() {
    let mut m = membership(RebalanceProtocol::Eager);
    let now = Instant::now();
    assert_eq!(m.next_step(), Step::Join);
    m.on_join(Some(joined("m1", 1, "m0")));
    m.next_step();
    m.on_sync(Some(ErrorCode::None), Some(set(&[0])), now);
    assert_eq!(m.next_step(), Step::Assign(tps(&[0])));
    m.assigned(tps(&[0]), false);
    assert_eq!(m.next_step(), Step::Assign(tps(&[0])));
}

#[test]
fn heartbeat_errors_lose_partitions_or_rejoin() {
    let now = Instant::now();
    for (code, keeps_member_id) in [(ErrorCode::UnknownMemberId, false), (ErrorCode::IllegalGeneration, true)] {
        let mut m = membership(RebalanceProtocol::Cooperative);
        join_and_sync(&mut m, 1, &[0, 1], now);
        let epoch = m.epoch;
        assert_eq!(m.on_heartbeat(1, Some(code), now), Verdict::Lost(tps(&[0, 1])), "{code:?}");
        assert_eq!(m.member_id == "m1", keeps_member_id, "{code:?}");
        assert_eq!((m.generation, m.epoch), (-1, epoch + 1), "in-flight steps become stale");
        assert_eq!(m.next_step(), Step::Join);
    }
    let mut m = membership(RebalanceProtocol::Eager);
    join_and_sync(&mut m, 1, &[0], now);
    assert_eq!(m.on_heartbeat(1, Some(ErrorCode::NotCoordinator), now), Verdict::Rediscover);
    assert_eq!(m.on_heartbeat(1, None, now), Verdict::Rediscover, "a failed request");
    assert_eq!(m.owned, set(&[0]), "a moved coordinator loses nothing");
    assert_eq!(
        m.on_heartbeat(1, Some(ErrorCode::FencedInstanceId), now),
        Verdict::Fatal(ErrorCode::FencedInstanceId, tps(&[0]))
    );
    assert_eq!(m.phase, Phase::Failed(ErrorCode::FencedInstanceId));
    assert_eq!(m.next_step(), Step::Wait, "a fenced member stops joining");
    m.subscribe(BTreeSet::from(["u".to_owned()]));
    assert_eq!(m.next_step(), Step::Join, "a new subscription starts over");
}

#[test]
fn a_stale_heartbeat_answer_is_ignored() {
    let now = Instant::now();
    let mut m = membership(RebalanceProtocol::Eager);
    join_and_sync(&mut m, 2, &[0], now);
    assert_eq!(m.on_heartbeat(1, Some(ErrorCode::IllegalGeneration), now), Verdict::Continue);
    assert_eq!(m.owned, set(&[0]));
    m.subscribe(BTreeSet::from(["t".to_owned(), "u".to_owned()]));
    assert_eq!(m.next_step(), Step::Revoke(tps(&[0])));
    m.revoked(&tps(&[0]));
    assert_eq!(m.next_step(), Step::Join);
    assert_eq!(m.heartbeat_due(now), HeartbeatDue::Skip, "no heartbeats while a join is parked");
    assert_eq!(m.on_heartbeat(2, Some(ErrorCode::RebalanceInProgress), now), Verdict::Continue);
}

#[test]
fn no_successful_heartbeat_for_a_session_loses_the_partitions() {
    let t0 = Instant::now();
    let mut m = membership(RebalanceProtocol::Eager);
    join_and_sync(&mut m, 1, &[0, 1], t0);
    assert!(matches!(m.heartbeat_due(t0 + SESSION / 2), HeartbeatDue::Send(id) if id.generation == 1));
    assert_eq!(m.on_heartbeat(1, Some(ErrorCode::None), t0 + SESSION / 2), Verdict::Continue);
    // Failures do not count as heartbeats.
    assert_eq!(m.on_heartbeat(1, None, t0 + SESSION), Verdict::Rediscover);
    assert!(matches!(m.heartbeat_due(t0 + SESSION), HeartbeatDue::Send(_)));
    assert_eq!(m.heartbeat_due(t0 + SESSION * 3 / 2), HeartbeatDue::Expired(tps(&[0, 1])));
    assert_eq!((m.generation, m.owned.len()), (-1, 0));
    assert_eq!(m.next_step(), Step::Join);
    assert_eq!(m.heartbeat_due(t0 + SESSION * 2), HeartbeatDue::Skip);
}

#[test]
fn join_and_sync_errors() {
    let now = Instant::now();
    let mut m = membership(RebalanceProtocol::Eager);
    m.next_step();
    assert_eq!(m.on_join(Some(error(ErrorCode::CoordinatorLoadInProgress, ""))), Verdict::Backoff);
    m.next_step();
    assert_eq!(m.on_join(Some(error(ErrorCode::NotCoordinator, ""))), Verdict::Rediscover);
    m.next_step();
    assert_eq!(m.on_join(None), Verdict::Rediscover, "the request failed");
    m.next_step();
    assert_eq!(m.on_join(Some(error(ErrorCode::RebalanceInProgress, ""))), Verdict::Continue);
    assert_eq!(m.next_step(), Step::Join);
    m.on_join(Some(joined("m1", 1, "m0")));
    m.next_step();
    assert_eq!(m.on_sync(Some(ErrorCode::RebalanceInProgress), None, now), Verdict::Continue);
    assert_eq!(m.next_step(), Step::Join);
    m.on_join(Some(joined("m1", 2, "m0")));
    m.next_step();
    assert_eq!(m.on_sync(Some(ErrorCode::None), None, now), Verdict::Backoff, "an undecodable assignment");
    assert_eq!(m.next_step(), Step::Join);
    m.on_join(Some(joined("m1", 3, "m0")));
    m.next_step();
    assert_eq!(m.on_sync(Some(ErrorCode::UnknownMemberId), None, now), Verdict::Lost(Vec::new()));
    assert_eq!(m.identity().member_id, "");
    m.next_step();
    let fatal = m.on_join(Some(error(ErrorCode::InconsistentGroupProtocol, "")));
    assert_eq!(fatal, Verdict::Fatal(ErrorCode::InconsistentGroupProtocol, Vec::new()));
}

#[test]
fn a_static_leader_told_to_skip_assignment_syncs_as_a_follower() {
    let mut m =
        Membership::new("g".into(), Some("i".into()), SESSION, vec![("range".into(), RebalanceProtocol::Eager)]);
    m.subscribe(BTreeSet::from(["t".to_owned()]));
    m.next_step();
    let outcome = JoinOutcome { skip_assignment: true, ..joined("m1", 4, "m1") };
    assert_eq!(m.on_join(Some(outcome)), Verdict::Continue);
    assert_eq!(m.next_step(), Step::Sync { leader_of: None });
    assert_eq!(m.identity().instance_id.as_deref(), Some("i"));
    assert!(m.is_static());
}

#[test]
fn a_subscription_change_while_joining_rejoins_after_the_rebalance() {
    let now = Instant::now();
    let mut m = membership(RebalanceProtocol::Cooperative);
    assert_eq!(m.next_step(), Step::Join);
    m.subscribe(BTreeSet::from(["u".to_owned()]));
    m.on_join(Some(joined("m1", 1, "m0")));
    m.next_step();
    m.on_sync(Some(ErrorCode::None), Some(set(&[0])), now);
    assert_eq!(m.next_step(), Step::Assign(tps(&[0])));
    m.assigned(tps(&[0]), true);
    assert_eq!(m.next_step(), Step::Join);
    m.subscribe(BTreeSet::from(["u".to_owned()]));
    assert_eq!(m.next_step(), Step::Wait, "an unchanged subscription changes nothing");
}
