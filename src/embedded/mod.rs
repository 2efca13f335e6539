//! The embedded Kafka-compatible broker.

mod cluster;
mod config;
mod context;
mod control;
mod controller;
mod dispatch;
mod error;
mod faults;
mod handlers;
mod listener;
mod partition;
mod session;
mod state;

pub mod group;
pub mod log;

pub use cluster::EmbeddedCluster;
pub use config::EmbeddedClusterBuilder;
pub use error::EmbeddedError;
pub use log::FsyncPolicy;
