//! One broker connection over tokio: size-prefixed frames, pipelined requests matched
//! by correlation id, per-request timeouts, and the ApiVersions handshake on connect.
//!
//! # Layout
//!
//! A [`BrokerConnection`] is a cheap handle (an `Arc`) over three parts:
//!
//! - **the writer task** (`writer.rs`) owns the socket's write half. It takes whole,
//!   already-encoded frames from a bounded channel and writes each one completely,
//!   batching what is queued into one flush;
//! - **the reader task** (`reader.rs`) owns the read half. It checks each 4-byte size
//!   prefix against [`ConnectionConfig::max_frame_size`] before buffering the frame,
//!   then hands the frame to the waiter registered under its correlation id;
//! - **the pending map** (`shared.rs`): correlation id → `oneshot` sender, and the
//!   connection's closed state, under one lock. When either task fails (EOF, I/O
//!   error, an over-large or negative prefix, an id nobody sent) every waiter gets
//!   the cause at once, new requests get [`ConnectionError::Closed`], and both tasks
//!   stop.
//!
//! A request (`transport.rs`) encodes its whole frame into `Bytes` with a fresh,
//! increasing (wrapping) correlation id, registers its waiter, queues the frame and
//! awaits the response frame under [`ConnectionConfig::request_timeout`]; decoding
//! happens in the caller's future.
//!
//! # Cancellation safety
//!
//! Only the writer task touches the write half, and only with whole frames, so a
//! request future dropped at any point leaves either its whole frame or nothing on the
//! wire. A waiter whose frame was never queued is removed; one whose frame was queued
//! stays in the map with a closed `oneshot`, so that its late response (after a drop
//! or a timeout) is recognised and discarded quietly rather than taken for a
//! correlation mismatch. A timed-out request leaves the connection usable.
//!
//! # ApiVersions negotiation
//!
//! [`BrokerConnection::connect`] sends ApiVersions v3 (with
//! [`ConnectionConfig::client_software_name`] and version). A broker that does not
//! know v3 (both librdkafka mock clusters serve 0-2) answers UNSUPPORTED_VERSION (35)
//! with a **v0** body under the v0 header, listing the ApiVersions range it supports;
//! the handshake reads that body as v0 and asks again at `min(broker max, 3)`. A
//! refusal that parses neither as v0 nor at the version asked (librdkafka's mock
//! writes an INT8 array count and no tagged fields) makes it ask again at v0, which
//! every broker reads. The answer becomes [`NegotiatedVersions`], and
//! [`BrokerConnection::request`] sends each API at the highest version both sides
//! support.
//!
//! # Security
//!
//! [`ConnectionConfig::security_protocol`] picks plaintext, TLS (`tls.rs`, rustls),
//! SASL (`auth.rs`, driving the sans-I/O [`sasl`] machines) or both. The order on
//! connect is TCP, then TLS, then ApiVersions, then SaslHandshake and
//! SaslAuthenticate; with a session lifetime from the broker the connection
//! re-authenticates before it ends (KIP-368, see `auth.rs` for how that stays safe on a
//! pipelined connection). Authentication and certificate failures are typed and not
//! retriable, so callers fail fast. No password or token appears in any `Debug`
//! output, error or log line.
//!
//! # Tracing
//!
//! Each request runs in a debug-level `kafka_request` span (api, version, broker,
//! correlation id) that ends with an event carrying the elapsed microseconds.

mod auth;
mod config;
mod connection;
mod error;
mod handshake;
mod reader;
pub mod sasl;
mod security;
mod shared;
mod tls;
mod transport;
mod versions;
mod writer;

#[cfg(test)]
mod fake_broker;
#[cfg(test)]
mod tests;

pub use auth::{OAuthBearerToken, SaslConfig, SaslMechanism, StaticToken, TokenError, TokenFuture, TokenProvider};
pub use config::{ConnectionConfig, DEFAULT_CLIENT_ID};
pub use connection::BrokerConnection;
pub use error::ConnectionError;
pub use security::{SecurityProtocol, UnknownSecurityProtocol};
#[cfg(feature = "tls")]
pub(crate) use tls::{certificates, private_key};
pub use tls::{ClientIdentity, Pem, TlsConfig, TlsProblem, TrustAnchors};
pub use versions::NegotiatedVersions;
