//! The consumer: Kafka's consumer-group model, as actix actors.
//!
//! ```text
//! user ─Subscribe{topics, recipient}─▶ Consumer ─SetSubscription─▶ Coordinator[group] ══ Find/Join/Sync/Heartbeat/Leave/OffsetCommit/OffsetFetch ══▶ coordinator broker
//!                                         ▲  │ ◀─PartitionsAssigned / RevokePartitions / PartitionsLost─┘
//!                                         │  └─starts─▶ PartitionConsumer[t,p] ─Records─▶ user's actor (reply = acknowledgement)
//!                                         │                 ▲ fetched records
//!                                         └──────────── BrokerConsumer[node] ══Fetch══▶ partition leaders
//! ```
//!
//! (Work in progress: the actors land with the consumer issue.)

pub mod assignor;
mod broker;
mod budget;
mod config;
#[allow(clippy::module_inception)] // consumer/consumer.rs holds the Consumer actor, as producer/producer.rs does
mod consumer;
pub(crate) mod coordinator;
mod decode;
mod error;
mod fetch_request;
mod fetch_session;
pub(crate) mod internal;
mod list_offsets;
mod messages;
mod partition;
mod position;
mod shared;
mod stall;
mod stats;
mod subscription;
mod types;

pub use config::{ConfigError, ConsumerBuilder, ConsumerConfig, IsolationLevel, OffsetReset};
pub use consumer::Consumer;
pub use error::{ConsumeError, HandlerError};
pub use messages::{
    Assign, Close, Commit, ConsumerEvent, GetConsumerStats, Pause, Records, Resume, Seek, Subscribe, Topics,
};
pub use stats::{ConsumerStats, GroupStats, PartitionStats};
pub use types::{ConsumerRecord, StartPosition, TopicPartition};
