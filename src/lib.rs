//! # actix-kafka
//!
//! A Kafka client framework in which producers and consumers are actix actors, with an
//! embedded Kafka-compatible broker for quickstarts, tests and benchmarks.
//!
//! This release holds the foundation every other layer stands on:
//!
//! - [`protocol`]: the Kafka wire codec, written from the Kafka 3.8.0 protocol
//!   schemas: primitives, headers, 19 APIs in both directions at every version, record
//!   batches with all five compression codecs. Pure functions, no I/O, no panics on
//!   any input.
//! - [`net`]: one broker connection over tokio: size-prefixed frames, pipelined
//!   requests matched by correlation id, per-request timeouts, ApiVersions
//!   negotiation on connect.
//!
//! The layers depend downward only: `net` uses `protocol`, never the reverse.

#![deny(unsafe_code)]
#![warn(rust_2018_idioms, missing_docs)]

#[macro_use]
mod macros;

#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod consumer;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod net;
pub mod producer;
pub mod protocol;
