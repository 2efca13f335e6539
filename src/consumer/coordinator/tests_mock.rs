//! The Coordinator against librdkafka's mock cluster (both librdkafka versions the
//! peers install), through the integration tests' own harness.
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

// The integration tests' harness; `mock` reaches its siblings as `super::peers` and
// `super::process`.
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
use peers::Librdkafka;

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
