//! The embedded Kafka-compatible broker: N nodes in one process, in memory or on disk,
//! with consumer groups and fault hooks.
//!
//! [`EmbeddedCluster`] is for quickstarts, tests and benchmarks: any Kafka client
//! (ours, librdkafka, the Java client, franz-go) connects to
//! [`bootstrap`](EmbeddedCluster::bootstrap) and sees a cluster of `nodes` brokers
//! with partition leaders spread over them. Each partition has one copy of its log,
//! shared in-process, so a node going down fails its partitions over to another node
//! at once, as a replicated cluster would (leader epoch + 1), without losing a record.
//!
//! # Actors and tasks
//!
//! | piece | kind | runs on | why |
//! |---|---|---|---|
//! | controller (`controller.rs`) | actor around the plain `ClusterState` | storage arbiter | the one writer of topics, leaders, node states and producer ids; persists `cluster.meta`; publishes each new state as an immutable view on a `watch` channel, so requests read it without a round trip |
//! | partition (`partition.rs`) | actor around a [`log::PartitionLog`] | storage arbiter | appends and reads one at a time per partition; fsync and disk I/O never block a session; runs the `Interval` fsync timer; bumps the append signal fetch long polls wait on |
//! | group coordinator ([`group`]) | actors | the System arbiter | groups, members, rebalances, committed offsets |
//! | listener (`listener.rs`) | task per node | the System arbiter | accepts connections and owns its sessions, so taking a node down closes them all |
//! | session (`session.rs`) | task per connection | the System arbiter | read a frame, handle it, write the answer: requests are answered in order, one at a time, as Kafka does; a sequential loop says exactly that, an actor would need its own ordering guard |
//!
//! All partition actors share one dedicated storage `Arbiter` (thread). The
//! listeners, sessions and group actors run on the actix System that called
//! [`EmbeddedClusterBuilder::start`], which must therefore be running (for example
//! `#[actix_rt::test]` or `actix_rt::System::new().block_on(..)`).
//!
//! # What is served
//!
//! Every API of the codec, over the codec's whole version range
//! ([`ApiKey::versions`](crate::protocol::ApiKey::versions)): ApiVersions,
//! Metadata, Produce, Fetch (long polls; KIP-227 incremental fetch sessions, up to
//! 1,000 per node, least recently used evicted), ListOffsets,
//! CreateTopics, DeleteTopics, FindCoordinator, InitProducerId, and the group APIs
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
//! DescribeGroups, ListGroups). Each API's file in `handlers/` starts with its version
//! notes. Transactions are not supported: FindCoordinator for a transaction answers
//! COORDINATOR_NOT_AVAILABLE, and InitProducerId or Produce with a transactional id
//! answer TRANSACTIONAL_ID_AUTHORIZATION_FAILED (non-retriable, so a transactional
//! client stops at once with a clear cause). An ApiVersions request of a version we do
//! not know gets a v0 UNSUPPORTED_VERSION answer (KIP-511); any other request we cannot
//! read (size over [`max_frame_size`](EmbeddedClusterBuilder::max_frame_size),
//! negative size, bad header, unknown API or version, undecodable body) closes that
//! connection only.
//!
//! # Security
//!
//! [`tls`](EmbeddedClusterBuilder::tls) serves TLS (rustls) on every listener, with
//! [`tls_client_ca`](EmbeddedClusterBuilder::tls_client_ca) for mutual TLS;
//! [`sasl`](EmbeddedClusterBuilder::sasl) requires SASL PLAIN, SCRAM-SHA-256/512 (and
//! OAUTHBEARER with unsecured test tokens) before anything but ApiVersions is served,
//! in frames of at most 512 KiB until authenticated; wrong credentials get
//! SASL_AUTHENTICATION_FAILED and the connection closes.
//! [`sasl_session_lifetime`](EmbeddedClusterBuilder::sasl_session_lifetime) announces a
//! session lifetime (KIP-368) and closes connections whose session expired.
//!
//! # Fault hooks
//!
//! | hook | effect |
//! |---|---|
//! | [`node_down`](EmbeddedCluster::node_down) / [`node_up`](EmbeddedCluster::node_up) | close a node's listener and sessions, its partitions and groups fail over; listen again on the same port |
//! | [`move_leader`](EmbeddedCluster::move_leader) | move one partition's leadership (epoch + 1) |
//! | [`inject_error`](EmbeddedCluster::inject_error) | the next N requests of an API (on a node or any) are answered with an error code in every error field, and nothing else happens |
//! | [`set_latency`](EmbeddedCluster::set_latency) | a delay before answering each request of an API |
//! | [`throttle`](EmbeddedCluster::throttle) | answers of an API carry `throttle_time_ms` |
//! | [`drop_after_append`](EmbeddedCluster::drop_after_append) | the next N produce requests are appended, then the connection closes unanswered |
//! | [`forget_producer_state`](EmbeddedCluster::forget_producer_state) | every log forgets its idempotent producers (UNKNOWN_PRODUCER_ID next) |
//! | [`corrupt_fetch`](EmbeddedCluster::corrupt_fetch) | the next N fetch answers with records of a partition fail the client's CRC check (the log is intact) |
//! | [`hold_fetch`](EmbeddedCluster::hold_fetch) | the next N fetches of a partition answer no records but its true high watermark (a stalled partition) |
//! | [`control`](EmbeddedCluster::control) | the same as text commands (`down 1`, `error Produce NOT_LEADER_OR_FOLLOWER 2`), for the CLI |
//!
//! # Durability
//!
//! Without [`data_dir`](EmbeddedClusterBuilder::data_dir) everything is in memory and
//! gone when the cluster stops. With one, a produce is acknowledged only after its
//! batch is written to the segment file, so every acknowledged record survives a crash
//! of the process; what survives a crash of the machine depends on the
//! [`FsyncPolicy`]: `EveryBatch` fsyncs before acknowledging (nothing acknowledged is
//! lost), `Interval(d)` fsyncs at least every `d` (up to `d` of acknowledged records
//! can be lost), `Never` leaves it to the OS. The topic table and the producer id
//! counter (`cluster.meta`) are written atomically (temp file, fsync, rename) before
//! the change is answered; committed offsets are the group store's (fsynced per commit
//! under `EveryBatch`). [`shutdown`](EmbeddedCluster::shutdown) fsyncs everything; a
//! cluster started again on the same directory finds its topics, records, offsets and
//! committed group offsets.
//!
//! # Examples
//!
//! ```
//! use actix_kafka::embedded::EmbeddedCluster;
//! use actix_kafka::net::{BrokerConnection, ConnectionConfig};
//! use actix_kafka::protocol::messages::MetadataRequest;
//! use actix_kafka::protocol::{ApiKey, ErrorCode};
//!
//! actix_rt::System::new().block_on(async {
//!     let cluster = EmbeddedCluster::builder().nodes(3).default_partitions(3).start().await?;
//!     cluster.create_topic("orders", 6).await?;
//!
//!     let first = cluster.bootstrap().split(',').next().unwrap().to_string();
//!     let conn = BrokerConnection::connect(&first, ConnectionConfig::default()).await.unwrap();
//!     let metadata = conn.request(&MetadataRequest::default()).await.unwrap();
//!     assert_eq!(metadata.brokers.len(), 3);
//!
//!     // The next Metadata request fails, then the cluster serves normally again.
//!     cluster.inject_error(ApiKey::Metadata, ErrorCode::NotController, 1, None).await?;
//!     assert!(conn.request(&MetadataRequest::default()).await.unwrap().brokers.is_empty());
//!     assert_eq!(cluster.control("latency Fetch 5").await?, "ok latency Fetch 5");
//!
//!     cluster.node_down(2).await?; // node 2's partitions move to the other nodes
//!     assert_eq!(conn.request(&MetadataRequest::default()).await.unwrap().brokers.len(), 2);
//!     cluster.shutdown().await
//! })?;
//! # Ok::<(), actix_kafka::embedded::EmbeddedError>(())
//! ```

mod auth;
mod cluster;
mod config;
mod context;
mod control;
mod controller;
mod dispatch;
mod error;
mod faults;
mod fetch_sessions;
mod handlers;
mod listener;
mod partition;
mod session;
mod state;
#[cfg(feature = "tls")]
mod tls;

pub mod group;
pub mod log;

pub use auth::parse_users;
pub use cluster::EmbeddedCluster;
pub use config::EmbeddedClusterBuilder;
pub use error::EmbeddedError;
pub use log::FsyncPolicy;

#[cfg(test)]
mod tests {
    /// The CLI moves the cluster between tasks and shares it with a control reader.
    #[test]
    fn the_cluster_is_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::EmbeddedCluster>();
        send_sync::<super::EmbeddedError>();
    }
}
