//! The producer: placeholder until it lands.

pub mod budget;
pub mod partitioner;
