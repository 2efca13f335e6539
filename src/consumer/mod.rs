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
//! # The actors
//!
//! - [`Consumer`] (the front): starts the client's `Cluster` actor, holds the
//!   subscription or the manual assignment, starts one `PartitionConsumer` per assigned
//!   partition, and answers [`Subscribe`], [`Assign`], [`Seek`], [`Pause`], [`Resume`],
//!   [`Commit`], [`Close`] and [`GetConsumerStats`]. Without a `group_id` a
//!   subscription takes every partition of its topics and follows new partitions and,
//!   for a pattern, new topics at each metadata refresh (`metadata_max_age`); nothing
//!   is committed. With one, it starts the group `Coordinator`, which assigns the
//!   partitions and stores the offsets.
//! - `PartitionConsumer`, one per assigned partition, under [`actix::Supervisor`]: a
//!   thin shell over a plain state machine (`position.rs`) holding the position, the
//!   prefetch buffer, the delivery in flight and the acknowledged offset. It resolves
//!   the start (`StartPosition::Earliest`/`Latest`, or the reset policy, through
//!   ListOffsets on the leader), finds the leader, registers with that broker's
//!   `BrokerConsumer` while it has room, and delivers [`Records`] (at most
//!   `max_records_per_delivery`) to the subscriber.
//! - `BrokerConsumer`, one per broker node, under [`actix::Supervisor`]: one Fetch in
//!   flight for every partition it leads that wants data (min bytes, max wait, max
//!   bytes, per-partition max bytes, current leader epoch, isolation level), incremental
//!   fetch sessions (KIP-227) where the broker offers them, decoding (decompression,
//!   CRC-32C when `check_crcs`) and handing each partition its records. Records are
//!   [`Bytes`](bytes::Bytes) slices of the response (or of one decompressed block):
//!   nothing is copied per record, and no actor message is sent per record.
//!
//! The plain parts are unit-tested on their own: the fetch session's transitions, the
//! FetchRequest of every version, decoding (records below the fetch offset, control
//! batches, aborted transactions, `LogAppendTime`, truncated tails), the partition
//! state, the prefetch budget and the stall detector.
//!
//! # Guarantees
//!
//! - **At least once, in order.** Each partition's records reach the subscriber in
//!   offset order, each delivery only after the reply to the previous one
//!   (backpressure). `Ok` acknowledges the delivery: its offsets become committable
//!   (the coordinator commits them on its timer, on [`Commit`], on revoke and on
//!   close). `Err` redelivers the same records after `redelivery_backoff`. So nothing
//!   acknowledged is delivered again by this consumer, and nothing unacknowledged is
//!   committed.
//! - **Bounded memory.** Fetched, unacknowledged records are charged to one budget
//!   (`buffer_bytes`); a partition whose buffer is full, or any partition while the
//!   budget is, is left out of fetches until room is made.
//! - **Bad input is typed.** A batch that does not decode (CRC mismatch...) is not
//!   delivered; it is fetched again, and after `corrupt_batch_retries` it becomes
//!   [`ConsumeError::CorruptBatch`] in a [`ConsumerEvent::Error`] and the partition
//!   stops at its offset until a [`Seek`]. OFFSET_OUT_OF_RANGE follows the reset
//!   policy (`OffsetReset::None` → [`ConsumeError::OffsetOutOfRange`], waiting for a
//!   seek). A record larger than `max_partition_fetch_bytes` still arrives: brokers
//!   answer the first batch whole (KIP-74), and when one answers only part of it the
//!   partition doubles its request size until it fits.
//! - **Leaders move.** NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
//!   UNKNOWN_TOPIC_OR_PARTITION and other retriable errors make the partition look its
//!   leader up again (a metadata refresh) and register with that broker's consumer.
//! - **Stalls are caught.** A partition that is assigned, not paused, has lag, room in
//!   its buffer and no delivery waiting, yet receives nothing for `stall_timeout`, is
//!   reported as [`ConsumerEvent::Stalled`] and healed: it registers afresh with its
//!   (re-looked-up) leader, and the broker consumer is restarted if it stalls again.
//!   Counted in [`ConsumerStats::stalls_healed`].
//! - **Rebalances drain.** On a revoke, the partitions stop fetching, the delivery in
//!   flight finishes (bounded by `drain_timeout`), the subscriber handles
//!   [`ConsumerEvent::Revoked`] (bounded the same way), and the coordinator commits the
//!   final acknowledged offsets before it rejoins. [`Close`] drains the same way,
//!   then the coordinator commits and leaves the group.
//!
//! # Supervision
//!
//! A failed fetch (a broken connection, a timeout, an undecodable answer) stops the
//! `BrokerConsumer`; its supervisor restarts it and `restarting()` drops the session
//! and hands every partition's want back. The partitions still hold their positions,
//! so they look their leader up again and register anew: nothing is lost and nothing
//! is delivered twice. Restarts are counted in [`ConsumerStats::broker_restarts`].
//!
//! # Tracing
//!
//! A debug span `fetch_request` per Fetch (broker, request number, version, partitions,
//! partitions sent, session id) ends with an event carrying the bytes and records
//! fetched; the connection's `kafka_request` span inside it carries the correlation id.
//! Assignment changes log at info; restarts, stalls, corrupt batches and halted
//! partitions at warn.
//!
//! # Examples
//!
//! ```
//! use actix::prelude::*;
//! use actix_kafka::consumer::{Close, Consumer, HandlerError, OffsetReset, Records, Subscribe};
//! use actix_kafka::embedded::EmbeddedCluster;
//! use actix_kafka::producer::{ProduceBatch, Producer, ProducerRecord};
//!
//! struct Billing(tokio::sync::mpsc::UnboundedSender<usize>);
//! impl Actor for Billing {
//!     type Context = Context<Self>;
//! }
//! impl Handler<Records> for Billing {
//!     type Result = Result<(), HandlerError>;
//!     fn handle(&mut self, delivery: Records, _: &mut Context<Self>) -> Self::Result {
//!         for record in &delivery.records {
//!             std::str::from_utf8(record.value.as_deref().unwrap_or_default())?;
//!         }
//!         let _ = self.0.send(delivery.records.len());
//!         Ok(()) // acknowledges the delivery
//!     }
//! }
//!
//! actix_rt::System::new().block_on(async {
//!     let cluster = EmbeddedCluster::builder().start().await.unwrap();
//!     cluster.create_topic("orders", 3).await.unwrap();
//!     let producer = Producer::builder().bootstrap(&cluster.bootstrap()).build().unwrap().start();
//!     let records = (0..100).map(|i| ProducerRecord::new(format!("order {i}")));
//!     producer.send(ProduceBatch::to("orders").records(records)).await.unwrap().unwrap();
//!
//!     let (counts, mut received) = tokio::sync::mpsc::unbounded_channel();
//!     let billing = Billing(counts).start();
//!     let consumer = Consumer::builder()
//!         .bootstrap(&cluster.bootstrap())
//!         .offset_reset(OffsetReset::Earliest)
//!         .build()
//!         .unwrap()
//!         .start();
//!     consumer.send(Subscribe::topics(["orders"]).to(billing.recipient())).await.unwrap().unwrap();
//!     let mut total = 0;
//!     while total < 100 {
//!         total += received.recv().await.unwrap();
//!     }
//!     consumer.send(Close).await.unwrap().unwrap();
//!     cluster.shutdown().await.unwrap();
//! });
//! ```

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
    Assign, Close, Commit, CommitOffsets, ConsumerEvent, GetConsumerStats, Pause, Records, Resume, Seek, Subscribe,
    Topics,
};
pub use stats::{ConsumerStats, GroupStats, PartitionStats};
pub use types::{ConsumerRecord, StartPosition, TopicPartition};
