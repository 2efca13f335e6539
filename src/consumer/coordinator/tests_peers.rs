//! The Coordinator with third-party peers, through the integration tests' own
//! harness: groups on librdkafka's mock cluster, and mixed groups of ours and
//! `kcat -G` (librdkafka) members on the embedded broker.
//!
//! What the mock supports, as seen here and in its source: FindCoordinator,
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit and OffsetFetch. Its
//! group is simplified: the protocol is the leader's first one, there is no
//! MEMBER_ID_REQUIRED and no fencing of static members, and a member parked in
//! JoinGroup still expires at its session timeout, so the session must outlast the
//! initial rebalance delay (3 s on 2.0.2, which has no knob; we use Kafka's minimum,
//! 6 s).
//!
//! Only the 2.0.2 mock is tested: the 2.16 mock advertises JoinGroup v6 but reads
//! its flexible protocol array's count as an INT32 and closes the connection (the
//! librdkafka client itself sends v5 at most); its other flexible group handlers
//! look the same. A version cap per connection would let us test it; the net layer
//! has none yet.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::tests_actor::{all, config, wait_split, Member, TOPIC};
use crate::client::{ClientConfig, Cluster};
use crate::consumer::assignor::{CooperativeStickyAssignor, RangeAssignor};
use crate::consumer::config::ConsumerConfig;
use crate::consumer::internal::{Acknowledged, CommitAcknowledged, FetchCommitted, LeaveGroup};
use crate::consumer::types::{StartPosition, TopicPartition};

// The integration tests' harness; its modules reach each other as `super::peers`
// and `super::process`.
#[allow(dead_code, unused_imports)]
#[path = "../../../tests/support/kcat.rs"]
mod kcat;
#[allow(dead_code, unused_imports)]
#[path = "../../../tests/support/mock.rs"]
mod mock;
#[allow(dead_code, unused_imports)]
#[path = "../../../tests/support/peers.rs"]
mod peers;
#[allow(dead_code, unused_imports)]
#[path = "../../../tests/support/process.rs"]
mod process;

use mock::MockCluster;
use peers::{require_peer, Librdkafka, Peer};
use process::{lines, ChildGuard};

async fn group_over(lib: Librdkafka, cooperative: bool) {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let Some(mock) = MockCluster::start(3, &[(TOPIC, 6)], lib) else { return };
    let cluster = Cluster::start(ClientConfig::new(mock.bootstrap())).unwrap();
    let assignor = || -> Arc<dyn crate::consumer::assignor::Assignor> {
        if cooperative {
            Arc::new(CooperativeStickyAssignor)
        } else {
            Arc::new(RangeAssignor)
        }
    };
    let config = || ConsumerConfig {
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_millis(500),
        rebalance_timeout: Duration::from_secs(10),
        ..config(mock.bootstrap(), assignor(), None)
    };
    let mut a = Member::start(config(), &cluster);
    let mut b = Member::start(config(), &cluster);
    a.subscribe(TOPIC).await;
    b.subscribe(TOPIC).await;
    wait_split(&mut [&mut a, &mut b], 6, 3).await;

    let owned: Vec<TopicPartition> = b.owned().into_iter().collect();
    for tp in &owned {
        b.coordinator.do_send(Acknowledged { partition: tp.clone(), offset: 5, leader_epoch: -1 });
    }
    b.coordinator.send(CommitAcknowledged).await.unwrap().unwrap();
    let committed = a.coordinator.send(FetchCommitted { partitions: owned.clone() }).await.unwrap().unwrap();
    assert!(committed.values().all(|s| matches!(s, StartPosition::Offset { offset: 5, .. })), "{committed:?}");

    b.coordinator.send(LeaveGroup).await.unwrap().unwrap();
    a.wait_for("a to own everything", |seen| seen.owned == all(6)).await;
    let seen = a.seen.lock().unwrap();
    let moved: BTreeSet<&TopicPartition> =
        seen.assigned.iter().filter(|(tp, _)| owned.contains(tp)).map(|(tp, _)| tp).collect();
    assert_eq!(moved.len(), 3);
    for (tp, start) in seen.assigned.iter().filter(|(tp, _)| owned.contains(tp)) {
        assert!(matches!(start, StartPosition::Offset { offset: 5, .. }), "{tp} starts at b's commit: {start:?}");
    }
    if cooperative {
        assert!(seen.revoked.is_empty(), "cooperative: a kept its own: {seen:?}");
    }
}

#[actix_rt::test]
async fn an_eager_group_over_the_2_0_2_mock() {
    group_over(Librdkafka::System, false).await;
}

#[actix_rt::test]
async fn a_cooperative_group_over_the_2_0_2_mock() {
    group_over(Librdkafka::System, true).await;
}

/// Our member and a `kcat -G` member in one group split the partitions: each of the
/// four partitions is read by exactly one of them. Whichever is elected leader, the
/// other must read its Subscription or Assignment bytes.
async fn mixed_group_with_kcat(lib: Librdkafka, strategy: &str) {
    if require_peer(Peer::Kcat).is_none() || (lib == Librdkafka::V2_16 && require_peer(Peer::Librdkafka(lib)).is_none())
    {
        return;
    }
    let broker = crate::embedded::EmbeddedCluster::builder().start().await.unwrap();
    broker.create_topic(TOPIC, 4).await.unwrap();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(ClientConfig::new(&bootstrap)).unwrap();
    let assignor: Arc<dyn crate::consumer::assignor::Assignor> = match strategy {
        "range" => Arc::new(RangeAssignor),
        _ => Arc::new(CooperativeStickyAssignor),
    };
    let config = ConsumerConfig {
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_millis(300),
        ..config(&bootstrap, assignor, None)
    };
    let mut ours = Member::start(config, &cluster);
    ours.subscribe(TOPIC).await;
    ours.wait_for("our member to own everything", |seen| seen.owned == all(4)).await;

    let member = kcat_member(lib, &bootstrap, strategy);
    let mut kcat_partitions = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    ours.wait_for("a rebalance giving kcat two partitions", |seen| seen.owned.len() == 2).await;
    // One record per partition; kcat prints the partitions it reads.
    for partition in 0..4 {
        let (p, b) = (partition.to_string(), bootstrap.clone());
        // Off the test's thread: the embedded broker runs on it.
        let produce = move || kcat::kcat_ok(lib, &["-b", &b, "-P", "-t", TOPIC, "-p", &p], b"after\n");
        tokio::task::spawn_blocking(produce).await.unwrap();
    }
    while kcat_partitions.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "kcat read only {kcat_partitions:?}");
        match member.1.try_recv() {
            Ok(line) => {
                kcat_partitions.insert(line.trim().parse::<i32>().expect("a partition number"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let ours_partitions: BTreeSet<i32> = ours.owned().iter().map(|tp| tp.partition).collect();
    assert_eq!(ours_partitions.len(), 2, "{ours_partitions:?}");
    assert!(ours_partitions.is_disjoint(&kcat_partitions), "ours {ours_partitions:?}, kcat {kcat_partitions:?}");
    drop(member);
    broker.shutdown().await.unwrap();
}

/// `kcat -G billing` printing the partition of each record it reads.
fn kcat_member(lib: Librdkafka, bootstrap: &str, strategy: &str) -> (ChildGuard, std::sync::mpsc::Receiver<String>) {
    let mut command = std::process::Command::new("kcat");
    command.args(["-b", bootstrap, "-G", "billing", "-q", "-u", "-f", "%p\\n", "-o", "beginning"]);
    command.args(["-X", &format!("partition.assignment.strategy={strategy}")]);
    command.args(["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=300", TOPIC]);
    command.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped());
    if let Some(dir) = lib.library_dir() {
        command.env("LD_LIBRARY_PATH", dir);
    }
    let mut child = ChildGuard(command.spawn().expect("kcat starts"));
    let output = lines(child.0.stdout.take().expect("piped stdout"));
    (child, output)
}

#[actix_rt::test]
async fn a_mixed_range_group_with_kcat_2_0_2() {
    mixed_group_with_kcat(Librdkafka::System, "range").await;
}

#[actix_rt::test]
async fn a_mixed_cooperative_group_with_kcat_2_16() {
    mixed_group_with_kcat(Librdkafka::V2_16, "cooperative-sticky").await;
}

#[actix_rt::test]
async fn a_mixed_range_group_with_kcat_2_16() {
    mixed_group_with_kcat(Librdkafka::V2_16, "range").await;
}

#[actix_rt::test]
async fn a_mixed_cooperative_group_with_kcat_2_0_2() {
    mixed_group_with_kcat(Librdkafka::System, "cooperative-sticky").await;
}
