//! The Coordinator actor against the embedded broker, with a fake consumer that
//! records what it is told and answers revokes with the offsets the test gave it.
//! Short sessions (1.5 s, heartbeats every 150 ms) keep these to seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler, MessageResult};
use tokio::sync::watch;

use super::actor::Crash;
use super::Coordinator;
use crate::client::{ClientConfig, Cluster};
use crate::consumer::assignor::{Assignor, CooperativeStickyAssignor, RangeAssignor};
use crate::consumer::config::ConsumerConfig;
use crate::consumer::error::ConsumeError;
use crate::consumer::internal::{
    Acknowledged, AssignmentListener, CommitAcknowledged, FetchCommitted, GetGroupStats, LeaveGroup,
    PartitionsAssigned, PartitionsLost, RevokePartitions, SetSubscription,
};
use crate::consumer::messages::ConsumerEvent;
use crate::consumer::stats::GroupStats;
use crate::consumer::types::{StartPosition, TopicPartition};
use crate::embedded::EmbeddedCluster;
use crate::protocol::{ApiKey, ErrorCode};

pub(super) const TOPIC: &str = "orders";
const PATIENCE: Duration = Duration::from_secs(20);

/// What one fake consumer was told.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) owned: BTreeSet<TopicPartition>,
    pub(super) assigned: Vec<(TopicPartition, StartPosition)>,
    pub(super) revoked: Vec<TopicPartition>,
    pub(super) lost: Vec<TopicPartition>,
    pub(super) errors: Vec<String>,
    /// The offsets to answer a revoke with.
    pub(super) offsets: BTreeMap<TopicPartition, (i64, i32)>,
}

/// The fake consumer: records, and bumps `changed` after each message.
struct FakeConsumer {
    seen: Arc<Mutex<Seen>>,
    changed: watch::Sender<u64>,
}

impl FakeConsumer {
    fn record<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        let result = f(&mut self.seen.lock().unwrap());
        self.changed.send_modify(|n| *n += 1);
        result
    }
}

impl Actor for FakeConsumer {
    type Context = Context<Self>;
}

impl Handler<PartitionsAssigned> for FakeConsumer {
    type Result = ();
    fn handle(&mut self, msg: PartitionsAssigned, _: &mut Context<Self>) {
        self.record(|seen| {
            for (tp, start) in msg.partitions {
                assert!(seen.owned.insert(tp.clone()), "{tp} assigned twice");
                seen.assigned.push((tp, start));
            }
        });
    }
}

impl Handler<RevokePartitions> for FakeConsumer {
    type Result = MessageResult<RevokePartitions>;
    fn handle(&mut self, msg: RevokePartitions, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.record(|seen| {
            let mut answer = BTreeMap::new();
            for tp in msg.partitions {
                assert!(seen.owned.remove(&tp), "{tp} revoked but not owned");
                if let Some(offset) = seen.offsets.get(&tp) {
                    answer.insert(tp.clone(), *offset);
                }
                seen.revoked.push(tp);
            }
            answer
        }))
    }
}

impl Handler<PartitionsLost> for FakeConsumer {
    type Result = ();
    fn handle(&mut self, msg: PartitionsLost, _: &mut Context<Self>) {
        self.record(|seen| {
            for tp in msg.partitions {
                seen.owned.remove(&tp);
                seen.lost.push(tp);
            }
        });
    }
}

impl Handler<ConsumerEvent> for FakeConsumer {
    type Result = ();
    fn handle(&mut self, msg: ConsumerEvent, _: &mut Context<Self>) {
        self.record(|seen| seen.errors.push(format!("{msg:?}")));
    }
}

/// One group member: its coordinator and what its fake consumer saw.
pub(super) struct Member {
    pub(super) coordinator: Addr<Coordinator>,
    pub(super) seen: Arc<Mutex<Seen>>,
    changed: watch::Receiver<u64>,
}

impl Member {
    pub(super) fn start(config: ConsumerConfig, cluster: &Addr<Cluster>) -> Member {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (changed, receiver) = watch::channel(0);
        let fake = FakeConsumer { seen: seen.clone(), changed }.start();
        let listener = AssignmentListener {
            assigned: fake.clone().recipient(),
            revoke: fake.clone().recipient(),
            lost: fake.clone().recipient(),
            events: fake.recipient(),
        };
        let coordinator = Coordinator::start(Arc::new(config), cluster.clone(), listener);
        Member { coordinator, seen, changed: receiver }
    }

    pub(super) async fn subscribe(&self, topic: &str) {
        let topics = BTreeSet::from([topic.to_owned()]);
        self.coordinator.send(SetSubscription { topics }).await.unwrap().unwrap();
    }

    pub(super) fn owned(&self) -> BTreeSet<TopicPartition> {
        self.seen.lock().unwrap().owned.clone()
    }

    /// Waits (on the fake consumer's changes, not a sleep) until `condition` holds.
    pub(super) async fn wait_for(&mut self, what: &str, condition: impl Fn(&Seen) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if condition(&self.seen.lock().unwrap()) {
                return;
            }
            match tokio::time::timeout_at(deadline, self.changed.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("timed out waiting for {what}: {:?}", self.seen.lock().unwrap()),
            }
        }
    }
}

pub(super) fn config(bootstrap: &str, assignor: Arc<dyn Assignor>, instance_id: Option<&str>) -> ConsumerConfig {
    ConsumerConfig {
        client: ClientConfig::new(bootstrap).request_timeout(Duration::from_secs(5)),
        group_id: Some("billing".into()),
        group_instance_id: instance_id.map(str::to_owned),
        assignors: vec![assignor],
        session_timeout: Duration::from_millis(1500),
        heartbeat_interval: Duration::from_millis(150),
        rebalance_timeout: Duration::from_secs(3),
        auto_commit: false,
        request_timeout: Duration::from_secs(5),
        retry_backoff: Duration::from_millis(50),
        retry_backoff_max: Duration::from_millis(500),
        ..ConsumerConfig::default()
    }
}

async fn cluster_with(partitions: i32) -> (EmbeddedCluster, Addr<Cluster>) {
    let broker = EmbeddedCluster::builder()
        .nodes(2)
        .group_initial_rebalance_delay(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    broker.create_topic(TOPIC, partitions).await.unwrap();
    let cluster = Cluster::start(ClientConfig::new(&broker.bootstrap())).unwrap();
    (broker, cluster)
}

pub(super) fn all(partitions: i32) -> BTreeSet<TopicPartition> {
    (0..partitions).map(|p| TopicPartition::new(TOPIC, p)).collect()
}

/// Waits until `members` own every partition exactly once, each `per_member`.
pub(super) async fn wait_split(members: &mut [&mut Member], partitions: i32, per_member: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let owned: Vec<BTreeSet<TopicPartition>> = members.iter().map(|m| m.owned()).collect();
        let union: BTreeSet<TopicPartition> = owned.iter().flatten().cloned().collect();
        let total: usize = owned.iter().map(BTreeSet::len).sum();
        if union == all(partitions) && total == union.len() && owned.iter().all(|o| o.len() == per_member) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no clean split: {owned:?}");
        let _ = tokio::time::timeout(Duration::from_millis(100), members[0].changed.changed()).await;
    }
}

#[actix_rt::test]
async fn three_members_split_twelve_partitions_and_a_leaver_moves_only_its_own() {
    let (broker, cluster) = cluster_with(12).await;
    let bootstrap = broker.bootstrap();
    let mut members: Vec<Member> = (0..3)
        .map(|_| Member::start(config(&bootstrap, Arc::new(CooperativeStickyAssignor), None), &cluster))
        .collect();
    for member in &members {
        member.subscribe(TOPIC).await;
    }
    {
        let mut refs: Vec<&mut Member> = members.iter_mut().collect();
        wait_split(&mut refs, 12, 4).await;
    }
    let before: Vec<BTreeSet<TopicPartition>> = members.iter().map(Member::owned).collect();
    let stats = members[0].coordinator.send(GetGroupStats).await.unwrap();
    assert_eq!(stats.protocol.as_deref(), Some("cooperative-sticky"));
    assert!(stats.generation_id >= 1 && !stats.member_id.is_empty());

    let leaver = members.pop().unwrap();
    leaver.coordinator.send(LeaveGroup).await.unwrap().unwrap();
    {
        let mut refs: Vec<&mut Member> = members.iter_mut().collect();
        wait_split(&mut refs, 12, 6).await;
    }
    for (member, before) in members.iter().zip(&before) {
        let seen = member.seen.lock().unwrap();
        assert!(seen.revoked.is_empty() && seen.lost.is_empty(), "cooperative: the stayers keep theirs: {seen:?}");
        assert!(before.is_subset(&seen.owned));
        assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    }
    assert!(leaver.coordinator.send(GetGroupStats).await.is_err(), "the leaver stopped");
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_member_that_stops_heartbeating_loses_its_partitions_to_the_other() {
    let (broker, cluster) = cluster_with(4).await;
    let bootstrap = broker.bootstrap();
    let mut a = Member::start(config(&bootstrap, Arc::new(RangeAssignor), None), &cluster);
    let mut b = Member::start(config(&bootstrap, Arc::new(RangeAssignor), None), &cluster);
    a.subscribe(TOPIC).await;
    b.subscribe(TOPIC).await;
    wait_split(&mut [&mut a, &mut b], 4, 2).await;

    let a_first = a.owned();
    a.seen.lock().unwrap().offsets = a_first.iter().map(|tp| (tp.clone(), (50, 0))).collect();

    // Without a LeaveGroup: the coordinator only notices the missing heartbeats.
    let Member { coordinator, .. } = b;
    drop(coordinator);
    a.wait_for("a to own everything", |seen| seen.owned == all(4)).await;
    {
        let seen = a.seen.lock().unwrap();
        assert_eq!(seen.revoked.len(), 2, "eager: a revoked its two before rejoining: {seen:?}");
        assert!(seen.lost.is_empty());
        for (tp, start) in seen.assigned.iter().skip(2) {
            let expected = if a_first.contains(tp) {
                StartPosition::Offset { offset: 50, leader_epoch: 0 }
            } else {
                StartPosition::Reset
            };
            assert_eq!(*start, expected, "{tp}: committed on revoke, during the rebalance");
        }
    }
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn cooperative_sticky_revokes_only_the_moved_partitions_and_commits_them() {
    let (broker, cluster) = cluster_with(12).await;
    let bootstrap = broker.bootstrap();
    let mut a = Member::start(config(&bootstrap, Arc::new(CooperativeStickyAssignor), None), &cluster);
    a.subscribe(TOPIC).await;
    a.wait_for("a to own everything", |seen| seen.owned == all(12)).await;
    {
        let mut seen = a.seen.lock().unwrap();
        assert!(seen.assigned.iter().all(|(_, start)| *start == StartPosition::Reset), "nothing committed yet");
        seen.offsets = all(12).into_iter().map(|tp| (tp.clone(), (100 + i64::from(tp.partition), 0))).collect();
    }
    let mut b = Member::start(config(&bootstrap, Arc::new(CooperativeStickyAssignor), None), &cluster);
    b.subscribe(TOPIC).await;
    wait_split(&mut [&mut a, &mut b], 12, 6).await;

    {
        let a_seen = a.seen.lock().unwrap();
        let b_seen = b.seen.lock().unwrap();
        let revoked: BTreeSet<TopicPartition> = a_seen.revoked.iter().cloned().collect();
        assert_eq!(revoked, b_seen.owned, "a revoked exactly what moved to b");
        assert_eq!(a_seen.revoked.len(), 6);
        for (tp, start) in &b_seen.assigned {
            let expected = StartPosition::Offset { offset: 100 + i64::from(tp.partition), leader_epoch: 0 };
            assert_eq!(*start, expected, "{tp}: b starts where a's revoke committed");
        }
    }
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn commits_are_seen_by_the_next_member_and_by_simple_fetches() {
    let (broker, cluster) = cluster_with(2).await;
    let bootstrap = broker.bootstrap();
    let mut a = Member::start(config(&bootstrap, Arc::new(RangeAssignor), None), &cluster);
    a.subscribe(TOPIC).await;
    a.wait_for("a to own everything", |seen| seen.owned == all(2)).await;
    let tp0 = TopicPartition::new(TOPIC, 0);
    a.coordinator.do_send(Acknowledged { partition: tp0.clone(), offset: 42, leader_epoch: 0 });
    a.coordinator.send(CommitAcknowledged).await.unwrap().unwrap();
    a.coordinator.send(CommitAcknowledged).await.unwrap().unwrap();
    let stats = a.coordinator.send(GetGroupStats).await.unwrap();
    assert_eq!((stats.commits, stats.commit_failures), (1, 0), "the second commit had nothing new");
    a.coordinator.do_send(Acknowledged { partition: TopicPartition::new(TOPIC, 1), offset: 7, leader_epoch: 0 });
    a.coordinator.send(LeaveGroup).await.unwrap().unwrap();

    // A member outside the group (a manual assignment) reads them.
    let simple = Member::start(config(&bootstrap, Arc::new(RangeAssignor), None), &cluster);
    let partitions = vec![tp0.clone(), TopicPartition::new(TOPIC, 1)];
    let committed = simple.coordinator.send(FetchCommitted { partitions }).await.unwrap().unwrap();
    assert_eq!(committed[&tp0], StartPosition::Offset { offset: 42, leader_epoch: 0 });
    assert_eq!(committed[&TopicPartition::new(TOPIC, 1)], StartPosition::Offset { offset: 7, leader_epoch: 0 });

    let mut b = Member::start(config(&bootstrap, Arc::new(RangeAssignor), None), &cluster);
    b.subscribe(TOPIC).await;
    b.wait_for("b to own everything", |seen| seen.owned == all(2)).await;
    let assigned: BTreeMap<_, _> = b.seen.lock().unwrap().assigned.iter().cloned().collect();
    assert_eq!(assigned[&tp0], StartPosition::Offset { offset: 42, leader_epoch: 0 });
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_static_member_restarting_within_its_session_keeps_its_assignment() {
    let (broker, cluster) = cluster_with(4).await;
    let bootstrap = broker.bootstrap();
    let mut a = Member::start(config(&bootstrap, Arc::new(RangeAssignor), Some("a")), &cluster);
    let mut b = Member::start(config(&bootstrap, Arc::new(RangeAssignor), Some("b")), &cluster);
    a.subscribe(TOPIC).await;
    b.subscribe(TOPIC).await;
    wait_split(&mut [&mut a, &mut b], 4, 2).await;
    let b_owned = b.owned();
    let a_generation = a.coordinator.send(GetGroupStats).await.unwrap().generation_id;

    // A static member's LeaveGroup sends no LeaveGroup request (KIP-345).
    b.coordinator.send(LeaveGroup).await.unwrap().unwrap();
    let mut b2 = Member::start(config(&bootstrap, Arc::new(RangeAssignor), Some("b")), &cluster);
    b2.subscribe(TOPIC).await;
    b2.wait_for("b's successor to be assigned", |seen| !seen.owned.is_empty()).await;
    assert_eq!(b2.owned(), b_owned, "the same partitions, no rebalance");
    let stats = a.coordinator.send(GetGroupStats).await.unwrap();
    assert_eq!(stats.generation_id, a_generation, "a saw no rebalance");
    {
        let seen = a.seen.lock().unwrap();
        assert!(seen.revoked.is_empty() && seen.lost.is_empty(), "{seen:?}");
    }
    broker.shutdown().await.unwrap();
}

/// Polls `coordinator`'s stats (real sockets: there is nothing to await) until
/// `condition` holds.
async fn wait_stats(
    coordinator: &Addr<Coordinator>,
    what: &str,
    condition: impl Fn(&GroupStats) -> bool,
) -> GroupStats {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let stats = coordinator.send(GetGroupStats).await.unwrap();
        if condition(&stats) {
            return stats;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {stats:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn a_restarted_coordinator_reports_its_partitions_lost_and_rejoins() {
    let (broker, cluster) = cluster_with(3).await;
    let mut a = Member::start(config(&broker.bootstrap(), Arc::new(RangeAssignor), None), &cluster);
    a.subscribe(TOPIC).await;
    a.wait_for("a to own everything", |seen| seen.owned == all(3)).await;
    let before = a.coordinator.send(GetGroupStats).await.unwrap();

    a.coordinator.send(Crash).await.unwrap();
    a.wait_for("the partitions lost, then assigned again", |seen| seen.lost.len() == 3 && seen.owned == all(3)).await;
    let after = wait_stats(&a.coordinator, "a new generation", |s| s.rebalances > before.rebalances).await;
    assert!(after.generation_id > before.generation_id);
    assert_eq!(after.member_id, before.member_id, "it rejoined under its member id");
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn auto_commit_commits_what_changed_and_reports_a_failure() {
    let (broker, cluster) = cluster_with(2).await;
    let auto = ConsumerConfig {
        auto_commit: true,
        auto_commit_interval: Duration::from_millis(100),
        ..config(&broker.bootstrap(), Arc::new(RangeAssignor), None)
    };
    let mut a = Member::start(auto, &cluster);
    a.subscribe(TOPIC).await;
    a.wait_for("a to own everything", |seen| seen.owned == all(2)).await;
    let tp0 = TopicPartition::new(TOPIC, 0);
    a.coordinator.do_send(Acknowledged { partition: tp0.clone(), offset: 9, leader_epoch: 0 });
    wait_stats(&a.coordinator, "an auto-commit", |s| s.commits == 1).await;
    let committed = a.coordinator.send(FetchCommitted { partitions: vec![tp0.clone()] }).await.unwrap().unwrap();
    assert_eq!(committed[&tp0], StartPosition::Offset { offset: 9, leader_epoch: 0 });

    broker.inject_error(ApiKey::OffsetCommit, ErrorCode::GroupAuthorizationFailed, 1, None).await.unwrap();
    a.coordinator.do_send(Acknowledged { partition: tp0.clone(), offset: 10, leader_epoch: 0 });
    a.wait_for("the failed auto-commit's event", |seen| {
        seen.errors.iter().any(|e| e.contains("GroupAuthorizationFailed"))
    })
    .await;
    let stats = wait_stats(&a.coordinator, "the retry on the next tick", |s| s.commits == 2).await;
    assert_eq!(stats.commit_failures, 1);
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_fenced_static_member_loses_its_partitions_and_reports_it() {
    let (broker, cluster) = cluster_with(2).await;
    let bootstrap = broker.bootstrap();
    let mut first = Member::start(config(&bootstrap, Arc::new(RangeAssignor), Some("same")), &cluster);
    first.subscribe(TOPIC).await;
    first.wait_for("the first to own everything", |seen| seen.owned == all(2)).await;

    // A second process with the same instance id takes the identity over.
    let mut second = Member::start(config(&bootstrap, Arc::new(RangeAssignor), Some("same")), &cluster);
    second.subscribe(TOPIC).await;
    second.wait_for("the second to own everything", |seen| seen.owned == all(2)).await;
    first.wait_for("the first to be fenced", |seen| seen.lost.len() == 2 && !seen.errors.is_empty()).await;
    let errors = first.seen.lock().unwrap().errors.clone();
    assert!(errors.iter().any(|e| e.contains("FencedInstanceId")), "{errors:?}");
    broker.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_commit_in_flight_is_answered_across_a_restart() {
    let (broker, cluster) = cluster_with(1).await;
    let mut a = Member::start(config(&broker.bootstrap(), Arc::new(RangeAssignor), None), &cluster);
    a.subscribe(TOPIC).await;
    a.wait_for("a to own its partition", |seen| seen.owned == all(1)).await;
    let tp0 = TopicPartition::new(TOPIC, 0);
    a.coordinator.do_send(Acknowledged { partition: tp0.clone(), offset: 3, leader_epoch: 0 });
    broker.set_latency(ApiKey::OffsetCommit, Duration::from_millis(300)).await.unwrap();
    let commit = a.coordinator.send(CommitAcknowledged); // queued now, awaited below
    a.coordinator.send(Crash).await.unwrap();
    // Answered, not dropped by the restart: done, or refused for the generation the
    // restart ended (Java's semantics for a commit racing a rebalance).
    match commit.await.expect("an answer") {
        Ok(()) => {}
        Err(ConsumeError::Group {
            api: ApiKey::OffsetCommit,
            error: ErrorCode::IllegalGeneration | ErrorCode::RebalanceInProgress,
            ..
        }) => {}
        Err(error) => panic!("unexpected {error}"),
    }
    broker.set_latency(ApiKey::OffsetCommit, Duration::ZERO).await.unwrap();
    a.wait_for("the partition back after the restart", |seen| seen.lost.len() == 1 && seen.owned == all(1)).await;
    a.coordinator.do_send(Acknowledged { partition: tp0.clone(), offset: 3, leader_epoch: 0 });
    a.coordinator.send(CommitAcknowledged).await.unwrap().unwrap();
    let committed = a.coordinator.send(FetchCommitted { partitions: vec![tp0.clone()] }).await.unwrap().unwrap();
    assert_eq!(committed[&tp0], StartPosition::Offset { offset: 3, leader_epoch: 0 });
    broker.shutdown().await.unwrap();
}
