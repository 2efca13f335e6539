//! The consumer's plain data types: [`TopicPartition`], [`ConsumerRecord`] and
//! [`StartPosition`].

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::protocol::record::{RecordHeader, TimestampType};

/// A topic and one of its partitions.
///
/// Ordered by topic then partition, so maps and sets of them iterate in the order
/// Kafka's tools print them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`-`partition`.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self { topic: topic.into(), partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

impl<T: Into<Arc<str>>> From<(T, i32)> for TopicPartition {
    fn from((topic, partition): (T, i32)) -> Self {
        Self::new(topic, partition)
    }
}

/// One record as a consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The timestamp in milliseconds since the epoch: the producer's (`CreateTime`) or
    /// the broker's append time (`LogAppendTime`), as Kafka consumers report it.
    pub timestamp: i64,
    /// What [`timestamp`](Self::timestamp) means.
    pub timestamp_type: TimestampType,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in wire order.
    pub headers: Vec<RecordHeader>,
    /// The leader epoch of the batch the record came in; -1 when unknown.
    pub leader_epoch: i32,
}

/// Where a newly assigned partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// At this offset (a committed offset, or one the user chose with `Seek`).
    Offset {
        /// The next offset to consume.
        offset: i64,
        /// The leader epoch committed with it, -1 when unknown.
        leader_epoch: i32,
    },
    /// Nothing committed: apply the consumer's [`OffsetReset`](super::OffsetReset).
    Reset,
    /// The log start (the earliest offset still stored).
    Earliest,
    /// The log end (only records produced from now on).
    Latest,
}
