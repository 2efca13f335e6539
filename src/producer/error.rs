//! [`ProduceError`]: why a record was not delivered.

use std::sync::Arc;

use crate::client::ClientError;
use crate::net::ConnectionError;
use crate::protocol::ErrorCode;

/// Why one record was not delivered. Every record sent to a
/// [`Producer`](super::Producer) gets either its [`RecordMetadata`](super::RecordMetadata)
/// or one of these, by its delivery timeout at the latest.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The memory budget had no room and the record was sent with
    /// [`TryProduce`](super::TryProduce): nothing was queued. Retry later or use
    /// [`Produce`](super::Produce), which waits for room.
    #[error("the producer's memory budget is full: {bytes} bytes needed, {available} available")]
    BufferFull {
        /// The record's charge.
        bytes: usize,
        /// What the budget had left.
        available: usize,
    },
    /// The record alone is bigger than `max_request_bytes` (or the whole memory
    /// budget); it was refused before anything was queued.
    #[error("the record takes {size} bytes, over the limit of {max}")]
    RecordTooLarge {
        /// The record's size in bytes.
        size: usize,
        /// The limit it passed.
        max: usize,
    },
    /// The delivery timeout passed before the broker acknowledged the record. The
    /// record may or may not have been written.
    #[error("delivery timeout for {topic}/{partition:?}")]
    DeliveryTimeout {
        /// The topic.
        topic: Arc<str>,
        /// The partition, when one was chosen.
        partition: Option<i32>,
    },
    /// The broker refused the record with a non-retriable error, or retries were
    /// exhausted by the delivery timeout with this error last.
    #[error("{topic}/{partition}: broker answered {}", error.name())]
    Kafka {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: i32,
        /// The broker's error code.
        error: ErrorCode,
    },
    /// A connection failed and the delivery timeout passed before a retry succeeded.
    #[error("connection failed: {0}")]
    Connection(#[from] ConnectionError),
    /// The client layer failed (no broker reachable, metadata failed) by the delivery
    /// timeout.
    #[error("client failed: {0}")]
    Client(#[from] ClientError),
    /// The topic was still unknown to the cluster when the delivery timeout passed.
    #[error("unknown topic {topic}")]
    UnknownTopic {
        /// The topic.
        topic: Arc<str>,
    },
    /// The [`Manual`](super::partitioner::Partitioner::Manual) partitioner needs
    /// every record to name its partition.
    #[error("the manual partitioner needs a partition on every record")]
    PartitionRequired,
    /// The record names a partition the topic does not have.
    #[error("partition {partition} does not exist; the topic has {partitions}")]
    InvalidPartition {
        /// The partition asked for.
        partition: i32,
        /// How many the topic has.
        partitions: i32,
    },
    /// The topic name is not a valid Kafka topic name.
    #[error("invalid topic name {topic:?}")]
    InvalidTopic {
        /// The name.
        topic: String,
    },
    /// The producer was closed (by [`Close`](super::Close)) before the record came.
    #[error("the producer is closed")]
    Closed,
    /// Another producer with the same id and a newer epoch exists: this one is fenced
    /// and fails every record from now on.
    #[error("the producer's epoch was fenced")]
    Fenced,
    /// The producer's configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] super::ConfigError),
}
