//! The embedded Kafka-compatible broker: placeholder until the broker lands.

pub mod group;
pub mod log;
