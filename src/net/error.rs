//! The connection layer's one error type.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::{ApiKey, DecodeError, EncodeError, ErrorCode, VersionRange};

/// Why a connection could not be opened or a request could not be answered.
///
/// `Clone`, so that one broken connection can hand the same cause to every request
/// that was waiting on it (I/O errors are shared behind an `Arc` for that reason).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The TCP connect failed.
    #[error("cannot connect to broker {addr}: {source}")]
    Connect {
        /// The broker's `host:port`.
        addr: String,
        /// The socket error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The TCP connect and the ApiVersions handshake took longer than the connect
    /// timeout.
    #[error("connecting to broker {addr} took longer than {timeout:?}")]
    ConnectTimeout {
        /// The broker's `host:port`.
        addr: String,
        /// The configured connect timeout.
        timeout: Duration,
    },
    /// Reading or writing the socket failed, or the broker closed it while requests
    /// were waiting (`UnexpectedEof`). The connection is closed.
    #[error("I/O error on the connection to broker {addr}: {source}")]
    Io {
        /// The broker's `host:port`.
        addr: String,
        /// The socket error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The connection was already broken or closed when the request was made, or was
    /// closed by [`close`](super::BrokerConnection::close) while it waited.
    #[error("the connection to broker {addr} is closed")]
    Closed {
        /// The broker's `host:port`.
        addr: String,
    },
    /// No response within the request timeout. The connection stays open; a late
    /// response is discarded.
    #[error("{api} request {correlation_id} to broker {addr} got no response within {timeout:?}")]
    RequestTimeout {
        /// The broker's `host:port`.
        addr: String,
        /// The request's API.
        api: ApiKey,
        /// The request's correlation id.
        correlation_id: i32,
        /// The configured request timeout.
        timeout: Duration,
    },
    /// The broker announced a frame over the size limit. Nothing was allocated for it;
    /// the connection is closed.
    #[error("broker {addr} sent a frame of {size} bytes, over the {max}-byte limit")]
    FrameTooLarge {
        /// The broker's `host:port`.
        addr: String,
        /// The size the prefix announced.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The broker sent a negative size prefix; the connection is closed.
    #[error("broker {addr} sent a negative frame size {size}")]
    NegativeFrameSize {
        /// The broker's `host:port`.
        addr: String,
        /// The prefix as read.
        size: i32,
    },
    /// The request does not fit the version it was to be sent at. Nothing was sent.
    #[error("cannot encode {api} request at version {version}: {source}")]
    Encode {
        /// The request's API.
        api: ApiKey,
        /// The version asked for.
        version: i16,
        /// What the codec refused.
        #[source]
        source: EncodeError,
    },
    /// The response frame does not decode as the expected response. Frame boundaries
    /// are intact, so the connection stays open.
    #[error("cannot decode {api} response version {version} from broker {addr}: {source}")]
    Decode {
        /// The broker's `host:port`.
        addr: String,
        /// The request's API.
        api: ApiKey,
        /// The version of the request (and so of the response).
        version: i16,
        /// What the codec refused.
        #[source]
        source: DecodeError,
    },
    /// The broker and this crate share no version of the API.
    #[error("broker {addr} and this client share no version of {api} (broker: {broker:?}, client: {client})")]
    UnsupportedApi {
        /// The broker's `host:port`.
        addr: String,
        /// The API.
        api: ApiKey,
        /// The range the broker announced, if it announced the API at all.
        broker: Option<VersionRange>,
        /// The range this crate implements.
        client: VersionRange,
    },
    /// The ApiVersions handshake was answered with an error.
    #[error("broker {addr} answered ApiVersions with {error}")]
    ApiVersions {
        /// The broker's `host:port`.
        addr: String,
        /// The error code of the answer.
        error: ErrorCode,
    },
    /// A response carried a correlation id no request is waiting for (nor ever
    /// waited for). The stream cannot be trusted any more: the connection is closed.
    #[error("broker {addr} answered correlation id {received}, expected {expected:?}")]
    CorrelationMismatch {
        /// The broker's `host:port`.
        addr: String,
        /// The oldest correlation id still waiting, if any.
        expected: Option<i32>,
        /// The id the response carried.
        received: i32,
    },
    /// A response frame too short to hold a correlation id; the connection is closed.
    #[error("broker {addr} sent a {size}-byte frame, too short for a response header")]
    ShortFrame {
        /// The broker's `host:port`.
        addr: String,
        /// The frame's size.
        size: usize,
    },
}

impl ConnectionError {
    /// Whether the same request may succeed if retried, on this connection or a new
    /// one: network failures and timeouts are; encode, decode, version and protocol
    /// violations are not; a handshake error is as its error code says.
    pub fn is_retriable(&self) -> bool {
        match self {
            ConnectionError::Connect { .. }
            | ConnectionError::ConnectTimeout { .. }
            | ConnectionError::Io { .. }
            | ConnectionError::Closed { .. }
            | ConnectionError::RequestTimeout { .. } => true,
            ConnectionError::ApiVersions { error, .. } => error.is_retriable(),
            ConnectionError::FrameTooLarge { .. }
            | ConnectionError::NegativeFrameSize { .. }
            | ConnectionError::Encode { .. }
            | ConnectionError::Decode { .. }
            | ConnectionError::UnsupportedApi { .. }
            | ConnectionError::CorrelationMismatch { .. }
            | ConnectionError::ShortFrame { .. } => false,
        }
    }

    /// The I/O error kind, for [`Connect`](Self::Connect) and [`Io`](Self::Io).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            ConnectionError::Connect { source, .. } | ConnectionError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    pub(crate) fn io(addr: &str, source: io::Error) -> Self {
        ConnectionError::Io { addr: addr.to_owned(), source: Arc::new(source) }
    }

    pub(crate) fn closed(addr: &str) -> Self {
        ConnectionError::Closed { addr: addr.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_errors_are_retriable_and_protocol_errors_are_not() {
        let addr = "b:9092";
        assert!(ConnectionError::closed(addr).is_retriable());
        assert!(ConnectionError::io(addr, io::ErrorKind::ConnectionReset.into()).is_retriable());
        let timeout = ConnectionError::RequestTimeout {
            addr: addr.into(),
            api: ApiKey::Fetch,
            correlation_id: 7,
            timeout: Duration::from_secs(1),
        };
        assert!(timeout.is_retriable());
        let unsupported = ConnectionError::UnsupportedApi {
            addr: addr.into(),
            api: ApiKey::Fetch,
            broker: None,
            client: ApiKey::Fetch.versions(),
        };
        assert!(!unsupported.is_retriable());
        let encode = ConnectionError::Encode {
            api: ApiKey::Fetch,
            version: 99,
            source: EncodeError::UnsupportedVersion { what: "FetchRequest", version: 99 },
        };
        assert!(!encode.is_retriable());
        assert!(
            !ConnectionError::ApiVersions { addr: addr.into(), error: ErrorCode::UnsupportedVersion }.is_retriable()
        );
    }

    #[test]
    fn messages_name_the_broker_and_request() {
        let timeout = ConnectionError::RequestTimeout {
            addr: "b:9092".into(),
            api: ApiKey::Metadata,
            correlation_id: 42,
            timeout: Duration::from_millis(1500),
        };
        assert_eq!(timeout.to_string(), "Metadata request 42 to broker b:9092 got no response within 1.5s");
        assert_eq!(
            ConnectionError::io("b:9092", io::ErrorKind::UnexpectedEof.into()).io_kind(),
            Some(io::ErrorKind::UnexpectedEof)
        );
    }
}
