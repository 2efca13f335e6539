//! The messages a [`Producer`](super::Producer) answers, and what they answer.

use std::sync::Arc;
use std::time::Duration;

use actix::{Message, Recipient};
use bytes::Bytes;

use super::error::ProduceError;
use crate::protocol::record::RecordHeader;

/// Where a delivered record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset; -1 with `Acks::None`.
    pub offset: i64,
    /// The record's timestamp (ms): its create time, or the broker's append time on a
    /// topic with `LogAppendTime`.
    pub timestamp: i64,
}

/// One record of a [`ProduceBatch`] (or of a [`Produce`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The key; records with the same key go to the same partition.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<RecordHeader>,
    /// The partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The create time in ms since the epoch; `None` is "now" when the producer
    /// takes the record.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with this value and nothing else.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Self { value: Some(value.into()), ..Self::default() }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Appends a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(RecordHeader::new(key, value));
        self
    }

    /// Sends the record to this partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the create time (ms since the epoch).
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// What the record costs the memory budget: key, value, header keys and values,
    /// plus 70 bytes of overhead.
    pub fn charge(&self) -> usize {
        let headers: usize = self.headers.iter().map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len)).sum();
        self.key.as_ref().map_or(0, Bytes::len) + self.value.as_ref().map_or(0, Bytes::len) + headers + 70
    }
}

/// Sends one record; the reply is where it landed, once the broker acknowledged it.
///
/// Waits (stopping the producer's mailbox, so order is kept) while the memory budget
/// is full; see [`TryProduce`] for the non-waiting form.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<RecordMetadata, ProduceError>")]
pub struct Produce {
    /// The topic. An `Arc` so that a sender of many records clones a pointer, not the
    /// name, per record.
    pub topic: Arc<str>,
    /// The record.
    pub record: ProducerRecord,
    /// Who also gets a [`DeliveryReport`] (for `do_send`, which drops the reply).
    pub report_to: Option<Recipient<DeliveryReport>>,
}

impl Produce {
    /// A record for `topic`, with no key, value or header yet.
    pub fn to(topic: impl TopicName) -> Self {
        Self { topic: topic.into_topic(), record: ProducerRecord::default(), report_to: None }
    }

    /// Sets the whole record at once (key, value, headers, partition, timestamp).
    pub fn record(mut self, record: ProducerRecord) -> Self {
        self.record = record;
        self
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.record.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.record.value = Some(value.into());
        self
    }

    /// Appends a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.record.headers.push(RecordHeader::new(key, value));
        self
    }

    /// Sends to this partition instead of the partitioner's choice.
    pub fn partition(mut self, partition: i32) -> Self {
        self.record.partition = Some(partition);
        self
    }

    /// Sets the create time in ms since the epoch. Default: now.
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.record.timestamp = Some(timestamp);
        self
    }

    /// Also sends a [`DeliveryReport`] to `recipient` when the record is done.
    pub fn report_to(mut self, recipient: Recipient<DeliveryReport>) -> Self {
        self.report_to = Some(recipient);
        self
    }

    /// The non-waiting form: [`ProduceError::BufferFull`] at once when the budget is full.
    pub fn try_now(self) -> TryProduce {
        TryProduce(self)
    }
}

/// [`Produce`], but failing at once with [`ProduceError::BufferFull`] instead of
/// waiting when the memory budget is full.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<RecordMetadata, ProduceError>")]
pub struct TryProduce(pub Produce);

/// The outcome of one record, sent to the [`Produce::report_to`] recipient.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct DeliveryReport {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition, once one was chosen.
    pub partition: Option<i32>,
    /// Where the record landed, or why it did not.
    pub result: Result<RecordMetadata, ProduceError>,
    /// The record's key.
    pub key: Option<Bytes>,
    /// The record's value (a cheap clone of the `Bytes` that was sent), so that a
    /// report can be matched to its record without a key.
    pub value: Option<Bytes>,
}

/// Many records for one topic as one message: the fast path. The records cross each
/// actor hop together, and the reply holds one result per record, in order.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<Result<RecordMetadata, ProduceError>>, ProduceError>")]
pub struct ProduceBatch {
    /// The topic.
    pub topic: Arc<str>,
    /// The records, in order.
    pub records: Vec<ProducerRecord>,
}

impl ProduceBatch {
    /// An empty batch for `topic`.
    pub fn to(topic: impl TopicName) -> Self {
        Self { topic: topic.into_topic(), records: Vec::new() }
    }

    /// Appends records.
    pub fn records(mut self, records: impl IntoIterator<Item = ProducerRecord>) -> Self {
        if self.records.is_empty() {
            // Collecting a `Vec`'s own iterator keeps its buffer: the records are not
            // copied (extending an empty `Vec` would copy every one).
            self.records = records.into_iter().collect();
        } else {
            self.records.extend(records);
        }
        self
    }
}

/// Resolves once every record sent before it has its reply; open batches are sent
/// at once instead of lingering.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ProduceError>")]
pub struct Flush;

/// Flushes, then stops every actor of the pipeline; later sends get
/// [`ProduceError::Closed`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ProduceError>")]
pub struct Close;

/// Asks for the producer's [`ProducerStats`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "ProducerStats")]
pub struct Stats;

/// Counters since the producer started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerStats {
    /// Records acknowledged by the broker.
    pub records_sent: u64,
    /// Records that got an error reply.
    pub records_failed: u64,
    /// Record sends retried (a record retried twice counts twice).
    pub records_retried: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Bytes of batches acknowledged, as sent (compressed).
    pub bytes_sent: u64,
    /// Uncompressed bytes over sent bytes, of acknowledged batches (1.0 without
    /// compression).
    pub compression_ratio: f64,
    /// Bytes the memory budget holds for records not yet answered.
    pub buffered_bytes: u64,
    /// Median produce request latency.
    pub request_latency_p50: Duration,
    /// 99th percentile produce request latency.
    pub request_latency_p99: Duration,
    /// How many `BrokerProducer`s were started (one per broker node used).
    pub broker_starts: u64,
    /// How many times a `BrokerProducer` was restarted by its supervisor.
    pub broker_restarts: u64,
}

/// A topic name as [`Produce::to`] and [`ProduceBatch::to`] take it: `&str`,
/// `String`, `&String`, or an `Arc<str>` (shared as is, without a copy; the producer
/// keeps topic names as `Arc<str>`).
pub trait TopicName {
    /// The name as the producer keeps it.
    fn into_topic(self) -> Arc<str>;
}

impl TopicName for &str {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl TopicName for String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl TopicName for &String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self.as_str())
    }
}

impl TopicName for Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self
    }
}

impl TopicName for &Arc<str> {
    fn into_topic(self) -> Arc<str> {
        Arc::clone(self)
    }
}
