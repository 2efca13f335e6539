//! The producer: sarama's asynchronous pipeline, as actix actors.
//!
//! ```text
//! user ─Produce / ProduceBatch─▶ Producer ─▶ TopicProducer[topic] ─▶ PartitionProducer[topic, p] ─Dispatch─▶ BrokerProducer[node] ══▶ broker
//!   ◀── Result<RecordMetadata, ProduceError> per record ◀── BatchOutcome (ack or error) per batch ◀──────────────┘
//! ```
//!
//! # The actors
//!
//! - [`Producer`] (the dispatcher): checks each record (topic name, partition ≥ 0, size
//!   against `max_request_bytes` and the budget), charges the memory budget, and routes
//!   by topic to a `TopicProducer` it starts on first use. It starts the client's
//!   `Cluster` actor and answers [`Flush`], [`Close`] and [`Stats`].
//! - `TopicProducer`: the topic's partition count (from `Cluster` metadata; records wait
//!   while the topic is unknown, up to their delivery timeout, then fail with
//!   [`ProduceError::UnknownTopic`]), the [`Partitioner`], and routing: records that came
//!   as one [`ProduceBatch`] travel on as one message per partition.
//! - `PartitionProducer`: the partition's open batch and linger timer (the accumulator),
//!   its leader, its frozen batches, its retry state and, with idempotence, its sequence
//!   numbers. Holds batches while the leader is unknown or moving.
//! - `BrokerProducer`, one per broker node, started under [`actix::Supervisor`]: the
//!   connection, request assembly (one batch per partition, within
//!   `max_request_bytes`), the in-flight limit per connection, compression, acks=0
//!   writes, and the answers: each batch's outcome goes back to its partition.
//!
//! The plain state machines the actors wrap are unit-tested on their own: the
//! accumulator (size, request-limit, linger and flush triggers, under explicit time),
//! the partition queue (window, sequences, retries, epoch changes, expiry), the retry
//! decision, request assembly and the latency histogram.
//!
//! **Where the open batch lives.** The architecture page puts the open batch and the
//! linger timer in `BrokerProducer`. They live in `PartitionProducer` here, because the
//! partition owns the sequence numbers and they must be assigned when a batch is frozen
//! for sending, by their single owner, with no state shared between actors. The broker
//! actor still batches *requests*: every frozen batch waiting for a connection slot is
//! sent in the next request, up to `max_request_bytes`.
//!
//! # Guarantees
//!
//! - **Every record gets one reply**, by its delivery timeout at the latest: its
//!   [`RecordMetadata`] (the offset it really got) or a typed [`ProduceError`]. So
//!   [`Flush`] (which waits for the records sent before it) and [`Close`] never hang.
//! - **Order per partition.** Without idempotence one batch per partition is in flight.
//!   With it, up to `max_in_flight` (≤ 5): after a retriable error nothing new leaves
//!   until every in-flight batch is back, then the returned batches go first, in
//!   sequence order.
//! - **Idempotence** (on by default): the producer id comes from InitProducerId before
//!   the first send. A batch gets its sequence numbers when it is first dispatched and
//!   keeps them across retries, so the broker deduplicates a retry of a batch it had
//!   appended (a lost answer, a dropped connection). A batch that fails for good never
//!   keeps sequence numbers later batches depend on (sarama #1430 / #3354): the
//!   partition waits for its in-flight batches, the epoch is bumped (KIP-360), and the
//!   unacknowledged batches are renumbered from 0. OUT_OF_ORDER_SEQUENCE_NUMBER and
//!   UNKNOWN_PRODUCER_ID do the same and retry; DUPLICATE_SEQUENCE_NUMBER is success;
//!   INVALID_PRODUCER_EPOCH / PRODUCER_FENCED fail with [`ProduceError::Fenced`].
//!   An epoch change is adopted by each partition once nothing of the old epoch is in
//!   flight. Limitation: a batch whose outcome is unknown (a timeout) and that is
//!   renumbered under a new epoch may be written twice.
//! - **Backpressure**: every record is charged its size to one memory budget
//!   (`buffer_bytes`) until its reply. When the budget is full, [`Produce`] stops the
//!   producer's mailbox (`ctx.wait`) until there is room, so order is kept; records
//!   already taken are forwarded first so they can free room. [`TryProduce`] fails at
//!   once with [`ProduceError::BufferFull`] instead.
//! - **Supervision**: a broken connection or an undecodable answer stops the
//!   `BrokerProducer`; its supervisor restarts it, and `restarting()` hands every
//!   in-flight batch back to its partition as a retriable error (the actor is not
//!   re-created: the connection and scheduled work are reset too). Restarts are counted
//!   in [`ProducerStats::broker_restarts`].
//!
//! # Tracing
//!
//! A debug span `produce_request` per request (broker, request number, records, bytes)
//! ends with an event carrying the elapsed microseconds; the connection's own
//! `kafka_request` span inside it carries the correlation id. Restarts log at warn,
//! producer id changes at info.
//!
//! # Examples
//!
//! ```
//! use actix::Actor;
//! use actix_kafka::embedded::EmbeddedCluster;
//! use actix_kafka::producer::{Close, Produce, ProduceBatch, Producer, ProducerRecord};
//!
//! actix_rt::System::new().block_on(async {
//!     let cluster = EmbeddedCluster::builder().nodes(3).start().await.unwrap();
//!     cluster.create_topic("orders", 3).await.unwrap();
//!
//!     let producer = Producer::builder().bootstrap(&cluster.bootstrap()).build().unwrap().start();
//!     let meta = producer.send(Produce::to("orders").key("k").value("v")).await.unwrap().unwrap();
//!     assert!(meta.offset >= 0);
//!
//!     let records = (0..100).map(|i| ProducerRecord::new(format!("record {i}")));
//!     let results = producer.send(ProduceBatch::to("orders").records(records)).await.unwrap().unwrap();
//!     assert!(results.iter().all(Result::is_ok));
//!
//!     producer.send(Close).await.unwrap().unwrap();
//!     cluster.shutdown().await.unwrap();
//! });
//! ```

mod accumulator;
mod broker;
pub mod budget;
mod clock;
mod config;
mod error;
mod messages;
mod partition;
pub mod partitioner;
mod pending;
#[allow(clippy::module_inception)]
mod producer;
mod request;
mod retry;
mod sequence;
mod shared;
mod stats;
mod topic;

pub use config::{Acks, ConfigError, ProducerBuilder, ProducerConfig};
pub use error::ProduceError;
pub use messages::{
    Close, DeliveryReport, Flush, Produce, ProduceBatch, ProducerRecord, ProducerStats, RecordMetadata, Stats,
    TopicName, TryProduce,
};
pub use partitioner::Partitioner;
pub use producer::Producer;
