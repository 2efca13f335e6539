//! Shared by the `broker_*` tests: an in-process [`EmbeddedCluster`] for tests that
//! drive third-party clients, the `actix-kafka broker` binary as a child process
//! (`binary`, with the `cli` feature), and the exactly-once check of what came back.
//!
//! Include it after the peer harness: `mod support; mod broker_support;`.
//!
//! In-process tests run under `#[actix_rt::test]`: the broker's actors live on the
//! test's thread, so every blocking call (kcat, python) goes through [`blocking`],
//! which keeps the broker serving meanwhile.

// Each test crate uses its own part of the harness.
#![allow(dead_code, unused_imports)]

#[cfg(feature = "cli")]
pub mod binary;
pub mod clients;
pub mod ours;
pub mod records;

use std::time::Duration;

use actix_kafka::embedded::EmbeddedCluster;

pub use clients::{kcat_consume_all, kcat_produce, python_roundtrip};
pub use records::{assert_exactly_once, generate, KafkaRecord};

/// `normal`, or `soak` when `ACTIX_KAFKA_SOAK=1`: the default run stays well under a
/// minute on two cores; a soak run scales the record counts, cycles and connections.
pub fn soak<T>(normal: T, soak: T) -> T {
    if std::env::var("ACTIX_KAFKA_SOAK").is_ok_and(|v| v == "1") {
        soak
    } else {
        normal
    }
}

/// Runs `f` (a kcat or python run, a wait on child processes) on tokio's blocking
/// pool and awaits it, so the in-process broker keeps serving. A panic in `f` is
/// re-raised here with its own message.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking task: {e}"),
    }
}

/// Starts `nodes` nodes on free loopback ports (groups rebalance without the initial
/// delay) and creates `topics` (name, partitions).
pub async fn start_cluster(nodes: u32, topics: &[(&str, i32)]) -> EmbeddedCluster {
    let cluster = EmbeddedCluster::builder()
        .nodes(nodes)
        .listen("127.0.0.1:0".parse().expect("an address"))
        .group_initial_rebalance_delay(Duration::ZERO)
        .start()
        .await
        .expect("the embedded cluster starts");
    for (name, partitions) in topics {
        cluster.create_topic(name, *partitions).await.unwrap_or_else(|e| panic!("create topic {name}: {e}"));
    }
    cluster
}
