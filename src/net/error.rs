//! The connection layer's one error type.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::auth::{SaslMechanism, TokenError};
use super::sasl::SaslError;
use super::security::SecurityProtocol;
use super::tls::TlsProblem;
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
    /// The TLS settings cannot be used: a CA, certificate or key file that is
    /// missing or holds nothing usable. Never quotes a key.
    #[error("invalid TLS {what}: {reason}")]
    TlsConfig {
        /// Which setting.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS handshake failed: a certificate the client does not trust, a host
    /// name mismatch, a refused client certificate, or a peer that is not TLS.
    #[error("TLS handshake with broker {addr} failed: {problem} ({detail})")]
    TlsHandshake {
        /// The broker's `host:port`.
        addr: String,
        /// What went wrong, as far as it can be told.
        problem: TlsProblem,
        /// rustls' own description.
        detail: String,
    },
    /// The broker answered the first plaintext request with TLS: the port expects
    /// TLS (set the security protocol to `ssl` or `sasl_ssl`).
    #[error("broker {addr} answered with TLS: is this a TLS port? (the security protocol is {protocol})")]
    TlsExpected {
        /// The broker's `host:port`.
        addr: String,
        /// The protocol the connection was opened with.
        protocol: SecurityProtocol,
    },
    /// `ssl` or `sasl_ssl` was asked for, but this build has no `tls` feature.
    #[error("TLS was asked for, but actix-kafka was built without its `tls` feature")]
    TlsUnavailable,
    /// The security protocol and the SASL settings do not fit together: SASL asked
    /// for without a mechanism, or a mechanism set for a non-SASL protocol.
    #[error("security protocol {protocol} {problem}")]
    SecurityMismatch {
        /// The configured protocol.
        protocol: SecurityProtocol,
        /// What does not fit.
        problem: &'static str,
    },
    /// PLAIN over `sasl_plaintext` would send the password unencrypted; it needs
    /// `SaslConfig::allow_plain_over_plaintext`.
    #[error("refusing SASL {mechanism} without TLS: it would send the password in the clear (use sasl_ssl, or allow it explicitly)")]
    InsecureSasl {
        /// The mechanism.
        mechanism: SaslMechanism,
    },
    /// The broker does not offer our SASL mechanism.
    #[error("broker {addr} does not offer SASL mechanism {mechanism} (it offers {enabled:?})")]
    SaslMechanismRefused {
        /// The broker's `host:port`.
        addr: String,
        /// Our mechanism.
        mechanism: SaslMechanism,
        /// The mechanisms the broker has enabled.
        enabled: Vec<String>,
    },
    /// The broker refused the authentication (wrong credentials: SASL_AUTHENTICATION_FAILED).
    /// The message is the broker's; no password or token is ever put here.
    #[error("SASL {mechanism} authentication with broker {addr} failed: {error}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    SaslAuthentication {
        /// The broker's `host:port`.
        addr: String,
        /// Our mechanism.
        mechanism: SaslMechanism,
        /// The broker's error code.
        error: ErrorCode,
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// The client side of the SASL exchange refused the broker's messages (a SCRAM
    /// server that cannot prove it knows the password, a bad nonce, too few
    /// iterations...).
    #[error("SASL {mechanism} exchange with broker {addr} failed: {source}")]
    Sasl {
        /// The broker's `host:port`.
        addr: String,
        /// Our mechanism.
        mechanism: SaslMechanism,
        /// What the mechanism refused.
        #[source]
        source: SaslError,
    },
    /// The OAUTHBEARER token provider had no token.
    #[error("cannot authenticate to broker {addr}: {source}")]
    TokenProvider {
        /// The broker's `host:port`.
        addr: String,
        /// The provider's error.
        #[source]
        source: TokenError,
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
            // A broker that hung up mid-handshake may be restarting; certificate and
            // configuration problems will not go away by themselves.
            ConnectionError::TlsHandshake { problem, .. } => *problem == TlsProblem::NotTls,
            // A token provider may well have a token a moment later.
            ConnectionError::TokenProvider { .. } => true,
            // Authentication failures are final, so that callers fail fast instead
            // of hammering the broker with wrong credentials.
            ConnectionError::TlsConfig { .. }
            | ConnectionError::TlsExpected { .. }
            | ConnectionError::TlsUnavailable
            | ConnectionError::SecurityMismatch { .. }
            | ConnectionError::InsecureSasl { .. }
            | ConnectionError::SaslMechanismRefused { .. }
            | ConnectionError::SaslAuthentication { .. }
            | ConnectionError::Sasl { .. } => false,
            ConnectionError::FrameTooLarge { .. }
            | ConnectionError::NegativeFrameSize { .. }
            | ConnectionError::Encode { .. }
            | ConnectionError::Decode { .. }
            | ConnectionError::UnsupportedApi { .. }
            | ConnectionError::CorrelationMismatch { .. }
            | ConnectionError::ShortFrame { .. } => false,
        }
    }

    /// Whether this is an authentication or TLS trust failure: wrong credentials, a
    /// refused mechanism, a certificate not trusted. Such errors are not retriable.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(
            self,
            ConnectionError::SaslAuthentication { .. }
                | ConnectionError::SaslMechanismRefused { .. }
                | ConnectionError::Sasl { .. }
                | ConnectionError::TlsHandshake { .. }
        ) && !self.is_retriable()
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
    fn authentication_failures_are_final() {
        let refused = ConnectionError::SaslAuthentication {
            addr: "b:9092".into(),
            mechanism: SaslMechanism::ScramSha256,
            error: ErrorCode::SaslAuthenticationFailed,
            message: Some("invalid credentials".into()),
        };
        assert!(!refused.is_retriable());
        assert!(refused.is_authentication_failure());
        assert_eq!(
            refused.to_string(),
            "SASL SCRAM-SHA-256 authentication with broker b:9092 failed: SASL_AUTHENTICATION_FAILED (58): invalid credentials"
        );
        let mismatch = ConnectionError::TlsHandshake {
            addr: "b:9093".into(),
            problem: TlsProblem::NameMismatch,
            detail: "x".into(),
        };
        assert!(!mismatch.is_retriable());
        let hung_up =
            ConnectionError::TlsHandshake { addr: "b:9093".into(), problem: TlsProblem::NotTls, detail: "x".into() };
        assert!(hung_up.is_retriable());
        assert!(!ConnectionError::InsecureSasl { mechanism: SaslMechanism::Plain }.is_retriable());
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
