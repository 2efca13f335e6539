//! The Kafka wire codec: pure functions over `bytes`, no I/O, no actix, no tokio.
//!
//! - [`primitives`] and [`tagged`]: the protocol's types (`FRAMING.md`);
//! - [`messages`]: every request and response this crate speaks, generated from Kafka
//!   3.8.0's JSON schemas, with [`Encode`] / [`Decode`] at every version;
//! - [`header`], [`frame`]: request and response headers, and whole frames;
//! - [`api_key`]: the API keys and the one table of versions we implement;
//! - [`error_code`]: Kafka's error codes;
//! - [`record`]: record batches (magic 2) and their compression; legacy message sets
//!   (magic 0 and 1) are refused with a typed error.
//!
//! Every decoder returns a [`DecodeError`] for bad bytes, never a panic, and allocates
//! nothing larger than the input it was given.

pub mod api_key;
pub mod codec;
pub mod consumer_protocol;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod header;
pub mod messages;
pub mod primitives;
pub mod record;
pub mod tagged;

#[cfg(test)]
pub(crate) mod test_utils;

pub use api_key::ApiKey;
pub use codec::{Decode, Encode, Message, Request, VersionRange};
pub use error::{DecodeError, EncodeError};
pub use error_code::ErrorCode;
pub use header::{RequestHeader, ResponseHeader};
