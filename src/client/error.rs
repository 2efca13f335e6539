//! [`ClientError`]: the client layer's one error type.

use std::time::Duration;

use crate::net::ConnectionError;
use crate::protocol::{ApiKey, ErrorCode};

/// Why a [`Cluster`](super::Cluster) request failed.
///
/// `Clone`, so that one failed refresh can answer every caller waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The connection failed (connect, I/O, timeout, decode...).
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The broker answered with an error code.
    #[error("broker answered {api} with {error}")]
    Kafka {
        /// The request's API.
        api: ApiKey,
        /// The error code of the answer.
        error: ErrorCode,
    },
    /// No broker answered within the request timeout: every address was tried.
    #[error("no broker answered (tried {tried:?})")]
    NoBrokerAvailable {
        /// The addresses tried, in order, without repeats.
        tried: Vec<String>,
    },
    /// The node is not in the latest metadata.
    #[error("node {node} is not in the cluster metadata")]
    UnknownNode {
        /// The node id asked for.
        node: i32,
    },
    /// A retried operation did not succeed within its time bound; `last` is the
    /// error of the last attempt.
    #[error("{operation} did not succeed within {timeout:?}: {last}")]
    Timeout {
        /// What was being done, e.g. `"InitProducerId"`.
        operation: &'static str,
        /// The bound (the request timeout).
        timeout: Duration,
        /// The last attempt's error.
        last: Box<ClientError>,
    },
    /// The [`Cluster`](super::Cluster) actor is gone.
    #[error("the cluster actor is stopped")]
    Stopped,
}

impl ClientError {
    /// Whether the same operation may succeed later (after a metadata refresh or a
    /// backoff): connection failures as [`ConnectionError::is_retriable`], Kafka codes
    /// as [`ErrorCode::is_retriable`], no broker, an unknown node and timeouts are; a
    /// stopped cluster is not.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Connection(error) => error.is_retriable(),
            ClientError::Kafka { error, .. } => error.is_retriable(),
            ClientError::NoBrokerAvailable { .. } | ClientError::UnknownNode { .. } | ClientError::Timeout { .. } => {
                true
            }
            ClientError::Stopped => false,
        }
    }
}

impl From<actix::MailboxError> for ClientError {
    fn from(_: actix::MailboxError) -> Self {
        ClientError::Stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_as_the_cause_says() {
        assert!(ClientError::Kafka { api: ApiKey::InitProducerId, error: ErrorCode::NotCoordinator }.is_retriable());
        assert!(!ClientError::Kafka { api: ApiKey::Metadata, error: ErrorCode::InvalidTopicException }.is_retriable());
        assert!(ClientError::Connection(ConnectionError::Closed { addr: "a:1".into() }).is_retriable());
        assert!(ClientError::NoBrokerAvailable { tried: vec![] }.is_retriable());
        assert!(!ClientError::Stopped.is_retriable());
        assert!(!ClientError::from(actix::MailboxError::Closed).is_retriable());
    }
}
