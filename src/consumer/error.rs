//! [`ConsumeError`], what goes wrong while consuming, and [`HandlerError`], what a
//! subscriber answers when it could not process a delivery.

use std::fmt;
use std::sync::Arc;

use crate::client::ClientError;
use crate::net::ConnectionError;
use crate::protocol::record::RecordError;
use crate::protocol::{ApiKey, ErrorCode};

/// Why a consumer request failed, or what went wrong for a partition (reported in a
/// [`ConsumerEvent::Error`](super::ConsumerEvent::Error)).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The request needs a `group_id` (Commit, a group subscription).
    #[error("this needs a group_id, and the consumer has none")]
    NoGroup,
    /// The partition is not assigned to this consumer.
    #[error("{topic}-{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: i32,
    },
    /// The request does not fit the consumer's state (say, `Assign` while subscribed
    /// to a group); the message says why.
    #[error("{0}")]
    InvalidState(&'static str),
    /// The position is out of the log's range and the reset policy is `None`.
    #[error("{topic}-{partition}: offset {offset} is out of range and the reset policy is none")]
    OffsetOutOfRange {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: i32,
        /// The position that was out of range.
        offset: i64,
    },
    /// A fetched batch stayed undecodable (a CRC mismatch, say) after this many
    /// fetches; it was never delivered, and the partition stopped at its offset.
    #[error("{topic}-{partition}: the batch at offset {offset} is corrupt after {tries} fetches: {error}")]
    CorruptBatch {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: i32,
        /// The offset fetched.
        offset: i64,
        /// How many fetches returned it corrupt.
        tries: u32,
        /// The decode error of the last one.
        error: RecordError,
    },
    /// A broker answered a partition's request with a non-retriable error.
    #[error("{topic}-{partition}: {api:?} answered {}", error.name())]
    Partition {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: i32,
        /// The API that failed.
        api: ApiKey,
        /// The broker's error code.
        error: ErrorCode,
    },
    /// The group coordinator answered a group request with a non-retriable error
    /// (GROUP_AUTHORIZATION_FAILED, FENCED_INSTANCE_ID, INCONSISTENT_GROUP_PROTOCOL...).
    #[error("group {group}: {api:?} answered {}", error.name())]
    Group {
        /// The group id.
        group: Arc<str>,
        /// The API that failed.
        api: ApiKey,
        /// The coordinator's error code.
        error: ErrorCode,
    },
    /// Retries of a request ran out of time.
    #[error("{what} timed out")]
    Timeout {
        /// What timed out.
        what: &'static str,
    },
    /// The client layer failed (no broker reachable, metadata failed).
    #[error("client failed: {0}")]
    Client(#[from] ClientError),
    /// A broker connection failed.
    #[error("connection failed: {0}")]
    Connection(#[from] ConnectionError),
    /// The consumer is closed, or an actor it needed has stopped.
    #[error("the consumer is closed")]
    Closed,
}

/// What a subscriber answers when it could not process a [`Records`](super::Records)
/// delivery: the records are not acknowledged (so not committed) and are delivered
/// again after the consumer's `redelivery_backoff`.
///
/// Any `std::error::Error` converts into it, so a handler can use `?`. Like
/// `anyhow::Error`, it deliberately does not implement `std::error::Error` itself
/// (that would clash with the blanket conversion).
///
/// # Examples
///
/// ```
/// use actix_kafka::consumer::HandlerError;
///
/// fn process(value: &[u8]) -> Result<(), HandlerError> {
///     let text = std::str::from_utf8(value)?; // Utf8Error -> HandlerError
///     if text.is_empty() {
///         return Err(HandlerError::msg("empty record"));
///     }
///     Ok(())
/// }
/// assert!(process(b"ok").is_ok());
/// assert_eq!(process(b"").unwrap_err().to_string(), "empty record");
/// ```
pub struct HandlerError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl HandlerError {
    /// An error made of a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self(message.into().into())
    }

    /// The underlying error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self(Box::new(error))
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
