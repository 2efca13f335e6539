//! [`BrokerConnection`]: the handle the client layers use.

use std::sync::Arc;

use tokio::net::TcpStream;

use super::auth::{self, SaslVersions};
use super::config::ConnectionConfig;
use super::error::ConnectionError;
use super::handshake;
use super::tls;
use super::transport::{Gate, Transport};
use super::versions::NegotiatedVersions;
use crate::protocol::frame::decode_response;
use crate::protocol::{ApiKey, Request};

/// One TCP (or TLS) connection to one broker, after the ApiVersions handshake and,
/// with SASL, authenticated.
///
/// A cheap, `Send + Sync` handle: clones share the connection, and any number of
/// requests may be in flight at once (pipelined, matched by correlation id). The
/// connection closes when [`close`](Self::close) is called, when it breaks, or when
/// the last clone is dropped. It never reconnects: a closed connection refuses every
/// request with [`ConnectionError::Closed`]; open a new one.
///
/// # Examples
///
/// ```no_run
/// use actix_kafka::net::{BrokerConnection, ConnectionConfig};
/// use actix_kafka::protocol::messages::MetadataRequest;
///
/// # async fn example() -> Result<(), actix_kafka::net::ConnectionError> {
/// let connection = BrokerConnection::connect("localhost:9092", ConnectionConfig::default()).await?;
/// let metadata = connection.request(&MetadataRequest::default()).await?;
/// assert!(!metadata.brokers.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BrokerConnection {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Shared with the re-authentication task, which holds only a `Weak`: the
    /// connection closes when the last handle goes.
    transport: Arc<Transport>,
    versions: NegotiatedVersions,
}

impl BrokerConnection {
    /// Opens a TCP connection to `addr` (`"host:port"`, resolved by the system), sets
    /// `TCP_NODELAY`, runs the TLS handshake (`ssl`, `sasl_ssl`), the ApiVersions
    /// handshake and the SASL exchange (`sasl_plaintext`, `sasl_ssl`), all within
    /// [`ConnectionConfig::connect_timeout`]. With a SASL session lifetime from the
    /// broker, the connection re-authenticates before it ends (KIP-368).
    ///
    /// # Errors
    ///
    /// [`ConnectionError::Connect`] when the socket cannot be opened,
    /// [`ConnectionError::ConnectTimeout`] after the connect timeout,
    /// [`ConnectionError::ApiVersions`] when the broker answers the handshake with an
    /// error, the security errors ([`ConnectionError::TlsHandshake`],
    /// [`ConnectionError::TlsExpected`], [`ConnectionError::SaslAuthentication`],
    /// [`ConnectionError::InsecureSasl`]...; none of them retriable), or any error of
    /// the handshakes' requests.
    pub async fn connect(addr: &str, config: ConnectionConfig) -> Result<Self, ConnectionError> {
        let timeout = config.connect_timeout;
        let span = tracing::debug_span!("kafka_connect", broker = %addr);
        tracing::Instrument::instrument(tokio::time::timeout(timeout, Self::open(addr, config)), span)
            .await
            .unwrap_or_else(|_| Err(ConnectionError::ConnectTimeout { addr: addr.to_owned(), timeout }))
    }

    async fn open(addr: &str, config: ConnectionConfig) -> Result<Self, ConnectionError> {
        config.check_security()?;
        let connect_error = |source| ConnectionError::Connect { addr: addr.to_owned(), source: Arc::new(source) };
        let stream = TcpStream::connect(addr).await.map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        let protocol = config.security_protocol;
        let sasl = config.sasl.clone().filter(|_| protocol.uses_sasl());
        // Dropped (and so closed) if a handshake fails.
        let transport = Arc::new(if protocol.uses_tls() {
            let stream = tls::connect(&config.tls, addr, stream).await?;
            let (read_half, write_half) = tokio::io::split(stream);
            Transport::start(read_half, write_half, addr, config)
        } else {
            let (read_half, write_half) = stream.into_split();
            Transport::start(read_half, write_half, addr, config)
        });
        let versions = handshake::negotiate(&transport).await.map_err(|error| match error {
            ConnectionError::FrameTooLarge { size, .. } if !protocol.uses_tls() && looks_like_tls(size) => {
                ConnectionError::TlsExpected { addr: addr.to_owned(), protocol }
            }
            other => other,
        })?;
        if let Some(sasl) = sasl {
            let sasl_versions = SaslVersions::negotiate(addr, &versions)?;
            if let Some(lifetime) = auth::authenticate(&transport, sasl_versions, &sasl, Gate::Take).await? {
                let task = auth::reauthenticate_periodically(
                    Arc::downgrade(&transport),
                    transport.shared(),
                    sasl_versions,
                    sasl,
                    lifetime,
                );
                tokio::spawn(task);
            }
        }
        Ok(Self { inner: Arc::new(Inner { transport, versions }) })
    }

    /// Sends `request` at the highest version both sides support and waits for the
    /// response, up to [`ConnectionConfig::request_timeout`].
    ///
    /// Cancellation-safe: dropping the future never leaves part of a frame on the
    /// wire, and the response of a dropped request is discarded.
    ///
    /// # Errors
    ///
    /// [`ConnectionError::UnsupportedApi`] when there is no common version (nothing is
    /// sent), and otherwise as [`request_at`](Self::request_at).
    pub async fn request<R: Request>(&self, request: &R) -> Result<R::Response, ConnectionError> {
        let version = self.version_for(R::API_KEY)?;
        self.request_at(request, version).await
    }

    /// Sends `request` at `version` and waits for the response, up to
    /// [`ConnectionConfig::request_timeout`]. The version is not checked against the
    /// broker's range (a broker answers an unknown one with UNSUPPORTED_VERSION or by
    /// closing the connection).
    ///
    /// # Errors
    ///
    /// [`ConnectionError::Encode`] when the request does not fit `version` (nothing is
    /// sent), [`ConnectionError::Closed`] on a closed connection,
    /// [`ConnectionError::RequestTimeout`] (the connection stays open),
    /// [`ConnectionError::Decode`] for a response that does not parse (the connection
    /// stays open), or the cause that broke the connection while the request waited.
    pub async fn request_at<R: Request>(&self, request: &R, version: i16) -> Result<R::Response, ConnectionError> {
        let frame = self.inner.transport.call(request, version).await?;
        decode_response::<R::Response>(frame, R::API_KEY, version).map(|(_, response)| response).map_err(|source| {
            ConnectionError::Decode { addr: self.addr().to_owned(), api: R::API_KEY, version, source }
        })
    }

    /// Sends `request` at `version` when the broker sends no response to it (Produce
    /// with `acks = 0`), and returns once the frame is flushed to the socket, waiting
    /// no longer than [`ConnectionConfig::request_timeout`]. Dropping the future after
    /// the frame was queued does not stop it from being written.
    ///
    /// Sending a request that does get a response this way breaks the connection: the
    /// response arrives with a correlation id nobody waits for.
    ///
    /// # Errors
    ///
    /// As [`request_at`](Self::request_at), without the decode error.
    pub async fn send_without_response<R: Request>(&self, request: &R, version: i16) -> Result<(), ConnectionError> {
        self.inner.transport.send(request, version).await
    }

    /// The highest version of `api` both this crate and the broker support.
    ///
    /// # Errors
    ///
    /// [`ConnectionError::UnsupportedApi`] when there is none.
    pub fn version_for(&self, api: ApiKey) -> Result<i16, ConnectionError> {
        self.inner.versions.version_for(api).ok_or_else(|| ConnectionError::UnsupportedApi {
            addr: self.addr().to_owned(),
            api,
            broker: self.inner.versions.broker_range(api),
            client: api.versions(),
        })
    }

    /// What the handshake negotiated.
    pub fn versions(&self) -> &NegotiatedVersions {
        &self.inner.versions
    }

    /// The address the connection was opened to, as given to
    /// [`connect`](Self::connect).
    pub fn addr(&self) -> &str {
        self.inner.transport.addr()
    }

    /// Whether the connection is closed (by [`close`](Self::close) or by a failure);
    /// a closed connection refuses every request.
    pub fn is_closed(&self) -> bool {
        self.inner.transport.is_closed()
    }

    /// Closes the connection for every clone and waits for its tasks to stop.
    /// Requests still waiting get [`ConnectionError::Closed`]; frames not yet written
    /// are dropped.
    pub async fn close(&self) {
        self.inner.transport.close().await;
    }

    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.inner.transport.waiting()
    }
}

/// Whether a size prefix is really the start of a TLS record (content type 21 alert
/// or 22 handshake, version 3.x): a TLS port answering a plaintext request.
fn looks_like_tls(size: usize) -> bool {
    let Ok(prefix) = u32::try_from(size) else { return false };
    let [content_type, major, _, _] = prefix.to_be_bytes();
    matches!(content_type, 0x15 | 0x16) && major == 0x03
}

#[cfg(test)]
mod tls_hint_tests {
    use super::looks_like_tls;

    #[test]
    fn a_tls_alert_read_as_a_size_prefix_is_recognised() {
        assert!(looks_like_tls(u32::from_be_bytes([0x15, 0x03, 0x03, 0x00]) as usize));
        assert!(looks_like_tls(u32::from_be_bytes([0x16, 0x03, 0x01, 0x02]) as usize));
        assert!(!looks_like_tls(200 * 1024 * 1024));
    }
}
