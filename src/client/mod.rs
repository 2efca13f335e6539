//! The client layer: shared configuration, retry backoff, and the [`Cluster`] actor
//! that every producer and consumer asks about the cluster.
//!
//! # The `Cluster` actor
//!
//! One `Cluster` per client knows the cluster: it bootstraps from
//! [`ClientConfig::bootstrap`] (each address in order, then again after a
//! [`Backoff`], until one answers), caches the [`ClusterMetadata`], and owns one
//! [`BrokerConnection`](crate::net::BrokerConnection) per broker node. Producers and
//! consumers ask it with messages:
//!
//! - [`GetMetadata`] answers from the cache when it knows every topic asked for, and
//!   otherwise waits for a refresh. Every refresh asks for the union of all topics
//!   ever asked for, so one response serves every caller.
//! - [`RefreshMetadata`] asks for a refresh without waiting (after
//!   NOT_LEADER_OR_FOLLOWER, say). The metadata is also refreshed every
//!   [`ClientConfig::metadata_max_age`].
//! - [`GetConnection`] / [`GetAnyConnection`] hand out pooled connections.
//! - [`InitProducerId`] gets or bumps an idempotent producer id.
//!
//! ## Coalescing
//!
//! A hundred partition producers that all see NOT_LEADER_OR_FOLLOWER at once must not
//! send a hundred MetadataRequests. So at most one refresh is in flight; callers that
//! ask meanwhile wait for the *next* one (the one in flight may predate what they need
//! to see), which starts when the current one ends, and no sooner than
//! [`ClientConfig::metadata_min_interval`] after it. All of them get its result. The
//! decisions live in a plain state machine (`refresh.rs`) tested under explicit time.
//!
//! ## Bounded waits
//!
//! A refresh takes a connection to any broker and sends the request; a connection
//! that fails is dropped from the pool and another broker tried, with the backoff in
//! between, for at most the connection's `request_timeout`. A refresh that fails
//! answers its waiters *and* those queued for the next one with the error, so a
//! [`GetMetadata`] is answered within about twice the request timeout even when no
//! broker is up.
//!
//! ## Pooling
//!
//! Kafka brokers expect few, long-lived, pipelined connections per client, and the
//! connection's handshake (TCP + ApiVersions) is worth doing once. The pool keeps one
//! connection per node id (address from the latest metadata) plus one to "any broker"
//! for bootstrap; concurrent callers for the same node share one connect, and a
//! closed connection is replaced on the next request for it.
//!
//! ## Supervision
//!
//! `Cluster` runs under an [`actix::Supervisor`]. Should it restart, `restarting`
//! drops the cache and the connections but keeps every waiting caller, whose refresh
//! or connect starts again.

mod backoff;
mod cluster;
mod config;
mod error;
mod messages;
mod metadata;
mod pool;
mod refresh;
mod tasks;

pub use backoff::Backoff;
pub use cluster::Cluster;
pub use config::{ClientConfig, ConfigError};
pub use error::ClientError;
pub use messages::{
    ClusterStats, GetAnyConnection, GetConnection, GetMetadata, GetStats, InitProducerId, RefreshMetadata,
};
pub use metadata::{BrokerInfo, ClusterMetadata, PartitionMetadata, TopicMetadata};
