//! The producer: sarama's asynchronous pipeline, as actix actors.
//!
//! (Module docs are completed below.)

mod accumulator;
mod broker;
pub mod budget;
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
    TryProduce,
};
pub use partitioner::Partitioner;
pub use producer::Producer;
