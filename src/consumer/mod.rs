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
mod config;
mod consumer;
pub(crate) mod coordinator;
mod error;
pub(crate) mod internal;
mod messages;
mod stats;
mod types;

pub use config::{ConfigError, ConsumerBuilder, ConsumerConfig, IsolationLevel, OffsetReset};
pub use consumer::Consumer;
pub use error::{ConsumeError, HandlerError};
pub use messages::{
    Assign, Close, Commit, CommitOffsets, ConsumerEvent, GetConsumerStats, Pause, Records, Resume, Seek, Subscribe,
    Topics,
};
pub use stats::{ConsumerStats, GroupStats, PartitionStats};
pub use types::{ConsumerRecord, StartPosition, TopicPartition};
