//! TLS for a broker connection: what to trust, which client certificate to show, and
//! the handshake itself (rustls through tokio-rustls, behind the `tls` feature).
//!
//! # Trust
//!
//! By default the broker's certificate must chain to the operating system's roots
//! (`rustls-native-certs`: the same store OpenSSL reads, which is what librdkafka and
//! most JVM setups end up trusting), and must be valid for the host name the
//! connection was opened to (or an IP address SAN for an IP). A private CA is given
//! with [`TlsConfig::ca_file`] or [`TlsConfig::ca_pem`] and then replaces the system
//! roots, as librdkafka's `ssl.ca.location` does. There is deliberately no switch to
//! turn verification off.
//!
//! # Cost
//!
//! Loading the system roots reads and parses a few hundred kilobytes; the built
//! rustls config is cached in the [`TlsConfig`] (shared by its clones), so a client
//! with many connections loads it once.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
#[cfg(feature = "tls")]
use std::sync::Arc;

use super::error::ConnectionError;

/// Where PEM data comes from: a file read at connect time, or bytes in memory.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A PEM file's path.
    File(PathBuf),
    /// PEM bytes.
    Inline(Vec<u8>),
}

impl Pem {
    /// The PEM bytes (the file is read now).
    ///
    /// # Errors
    ///
    /// The file cannot be read.
    pub fn read(&self) -> io::Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            Pem::File(path) => std::fs::read(path).map(std::borrow::Cow::Owned),
            Pem::Inline(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
        }
    }

    /// Where it comes from, for error messages: the path, or `inline PEM`.
    pub fn describe(&self) -> String {
        match self {
            Pem::File(path) => path.display().to_string(),
            Pem::Inline(_) => "inline PEM".to_owned(),
        }
    }
}

impl fmt::Debug for Pem {
    /// Never prints the bytes: they may be a private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(path) => f.debug_tuple("File").field(path).finish(),
            Pem::Inline(bytes) => write!(f, "Inline(<{} bytes>)", bytes.len()),
        }
    }
}

/// Which certificate authorities the client trusts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustAnchors {
    /// The operating system's roots (the default).
    #[default]
    System,
    /// Only the CA certificates in this PEM (librdkafka's `ssl.ca.location`).
    Pem(Pem),
}

/// A client certificate chain and its private key, for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The client certificate, then any intermediates, as PEM.
    pub certificate_chain: Pem,
    /// The private key (PKCS#8, PKCS#1 or SEC1), as PEM; never printed.
    pub private_key: Pem,
}

/// TLS settings for `ssl` and `sasl_ssl` connections.
///
/// Every field has a builder-style setter documenting its default.
///
/// # Examples
///
/// ```
/// use actix_kafka::net::{TlsConfig, TrustAnchors};
///
/// let tls = TlsConfig::default().ca_file("/etc/kafka/ca.pem").client_identity("client.pem", "client.key");
/// assert!(matches!(tls.trust, TrustAnchors::Pem(_)));
/// assert!(tls.client_identity.is_some());
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Which CAs the broker's certificate must chain to.
    pub trust: TrustAnchors,
    /// The certificate shown to a broker that asks for one (mTLS).
    pub client_identity: Option<ClientIdentity>,
    /// The name the broker's certificate must be valid for (and sent as SNI);
    /// `None` uses the host of the address connected to.
    pub server_name: Option<String>,
    #[cfg(feature = "tls")]
    cache: Cache,
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.trust == other.trust
            && self.client_identity == other.client_identity
            && self.server_name == other.server_name
    }
}

impl Eq for TlsConfig {}

impl TlsConfig {
    /// Trusts only the CA certificates in the PEM file at `path` (read at connect).
    /// Default: the system roots.
    pub fn ca_file(self, path: impl Into<PathBuf>) -> Self {
        self.trust(TrustAnchors::Pem(Pem::File(path.into())))
    }

    /// Trusts only the CA certificates in `pem`. Default: the system roots.
    pub fn ca_pem(self, pem: impl Into<Vec<u8>>) -> Self {
        self.trust(TrustAnchors::Pem(Pem::Inline(pem.into())))
    }

    /// Which CAs to trust. Default: [`TrustAnchors::System`].
    pub fn trust(mut self, trust: TrustAnchors) -> Self {
        self.trust = trust;
        self.invalidate();
        self
    }

    /// Shows the certificate chain and key in these PEM files to a broker that asks
    /// for a client certificate (mTLS). Default: none.
    pub fn client_identity(self, certificate_chain: impl AsRef<Path>, private_key: impl AsRef<Path>) -> Self {
        self.identity(ClientIdentity {
            certificate_chain: Pem::File(certificate_chain.as_ref().to_owned()),
            private_key: Pem::File(private_key.as_ref().to_owned()),
        })
    }

    /// The client certificate and key for mTLS, from any [`Pem`] source. Default: none.
    pub fn identity(mut self, identity: ClientIdentity) -> Self {
        self.client_identity = Some(identity);
        self.invalidate();
        self
    }

    /// The name the broker's certificate is checked against (and the SNI sent).
    /// Default: `None`, the host part of the address connected to.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    fn invalidate(&mut self) {
        #[cfg(feature = "tls")]
        {
            self.cache = Cache::default();
        }
    }
}

#[cfg_attr(not(feature = "tls"), allow(dead_code))] // used by the TLS connect only
/// The host part of `host:port` (`[::1]:9092` gives `::1`).
pub(super) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// Why a TLS handshake failed, as far as it can be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsProblem {
    /// The broker's certificate does not chain to a trusted CA.
    UnknownIssuer,
    /// The broker's certificate is not valid for the name connected to.
    NameMismatch,
    /// The broker's certificate has expired or is not valid yet.
    NotValidNow,
    /// Another problem with the broker's certificate.
    BadCertificate,
    /// The broker refused the handshake (a TLS alert: often our client certificate
    /// is missing or not trusted).
    RefusedByBroker,
    /// The peer closed the connection or sent something that is not TLS (is this a
    /// plaintext port?).
    NotTls,
    /// Anything else rustls refused.
    Other,
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsProblem::UnknownIssuer => "the certificate is not signed by a trusted CA",
            TlsProblem::NameMismatch => "the certificate is not valid for this host name",
            TlsProblem::NotValidNow => "the certificate is expired or not yet valid",
            TlsProblem::BadCertificate => "the certificate is invalid",
            TlsProblem::RefusedByBroker => "the broker refused the handshake (is a client certificate required?)",
            TlsProblem::NotTls => "the peer does not speak TLS (is this a plaintext port?)",
            TlsProblem::Other => "the TLS handshake failed",
        })
    }
}

#[cfg(feature = "tls")]
pub(super) use enabled::connect;

#[cfg(not(feature = "tls"))]
pub(super) async fn connect(
    _config: &TlsConfig,
    _addr: &str,
    _tcp: tokio::net::TcpStream,
) -> Result<tokio::net::TcpStream, ConnectionError> {
    Err(ConnectionError::TlsUnavailable)
}

/// The cached rustls client config of one [`TlsConfig`] and its clones.
#[cfg(feature = "tls")]
#[derive(Clone, Default)]
struct Cache(Arc<std::sync::OnceLock<Arc<rustls::ClientConfig>>>);

#[cfg(feature = "tls")]
impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() { "Cache(built)" } else { "Cache(empty)" })
    }
}

#[cfg(feature = "tls")]
mod enabled {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::{CertificateError, RootCertStore};
    use tokio::net::TcpStream;
    use tokio_rustls::client::TlsStream;

    use super::*;

    /// Runs the TLS handshake over `tcp` to the broker at `addr`.
    pub(in crate::net) async fn connect(
        config: &TlsConfig,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, ConnectionError> {
        let client_config = config.client_config()?;
        let name = config.server_name.as_deref().unwrap_or_else(|| host_of(addr));
        let server_name = ServerName::try_from(name.to_owned()).map_err(|_| ConnectionError::TlsConfig {
            what: "server name",
            reason: format!("{name:?} is not a DNS name or IP address"),
        })?;
        let connector = tokio_rustls::TlsConnector::from(client_config);
        connector.connect(server_name, tcp).await.map_err(|error| handshake_error(addr, &error))
    }

    impl TlsConfig {
        /// The rustls config, built once per `TlsConfig` (and its clones).
        pub(in crate::net) fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, ConnectionError> {
            if let Some(built) = self.cache.0.get() {
                return Ok(built.clone());
            }
            let built = Arc::new(self.build()?);
            Ok(self.cache.0.get_or_init(|| built).clone())
        }

        fn build(&self) -> Result<rustls::ClientConfig, ConnectionError> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|error| ConnectionError::TlsConfig { what: "protocol versions", reason: error.to_string() })?
                .with_root_certificates(self.roots()?);
            match &self.client_identity {
                None => Ok(builder.with_no_client_auth()),
                Some(identity) => {
                    let chain = certificates(&identity.certificate_chain, "client certificate")?;
                    let key = private_key(&identity.private_key)?;
                    builder.with_client_auth_cert(chain, key).map_err(|error| ConnectionError::TlsConfig {
                        what: "client certificate",
                        reason: error.to_string(),
                    })
                }
            }
        }

        fn roots(&self) -> Result<RootCertStore, ConnectionError> {
            let mut roots = RootCertStore::empty();
            let certs = match &self.trust {
                TrustAnchors::Pem(pem) => certificates(pem, "CA file")?,
                TrustAnchors::System => {
                    let loaded = rustls_native_certs::load_native_certs();
                    for error in &loaded.errors {
                        tracing::debug!(%error, "could not load some system root certificates");
                    }
                    loaded.certs
                }
            };
            let (added, ignored) = roots.add_parsable_certificates(certs);
            if ignored > 0 {
                tracing::debug!(added, ignored, "some CA certificates could not be parsed");
            }
            if roots.is_empty() {
                let reason = "no usable CA certificate found".to_owned();
                return Err(ConnectionError::TlsConfig { what: "trust anchors", reason });
            }
            Ok(roots)
        }
    }

    /// Every certificate in `pem`; at least one.
    pub(crate) fn certificates(pem: &Pem, what: &'static str) -> Result<Vec<CertificateDer<'static>>, ConnectionError> {
        let bad = |reason: String| ConnectionError::TlsConfig { what, reason: format!("{}: {reason}", pem.describe()) };
        let bytes = pem.read().map_err(|error| bad(error.to_string()))?;
        let certs: Vec<_> =
            CertificateDer::pem_slice_iter(&bytes).collect::<Result<_, _>>().map_err(|error| bad(error.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no CERTIFICATE in it".to_owned()));
        }
        Ok(certs)
    }

    /// The first private key in `pem`. The error never quotes the key.
    pub(crate) fn private_key(pem: &Pem) -> Result<PrivateKeyDer<'static>, ConnectionError> {
        let bad = |reason: &str| ConnectionError::TlsConfig {
            what: "private key",
            reason: format!("{}: {reason}", pem.describe()),
        };
        let bytes = pem.read().map_err(|error| bad(&error.to_string()))?;
        PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| bad("no readable PRIVATE KEY in it"))
    }

    /// Tells a certificate problem, a refusal and a non-TLS peer apart.
    fn handshake_error(addr: &str, error: &io::Error) -> ConnectionError {
        let rustls_error = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let problem = match rustls_error {
            Some(rustls::Error::InvalidCertificate(certificate)) => match certificate {
                CertificateError::UnknownIssuer => TlsProblem::UnknownIssuer,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    TlsProblem::NameMismatch
                }
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => TlsProblem::NotValidNow,
                _ => TlsProblem::BadCertificate,
            },
            Some(rustls::Error::AlertReceived(_)) => TlsProblem::RefusedByBroker,
            Some(rustls::Error::InvalidMessage(_)) => TlsProblem::NotTls,
            Some(_) => TlsProblem::Other,
            None if matches!(error.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) => {
                TlsProblem::NotTls
            }
            None => return ConnectionError::io(addr, io::Error::new(error.kind(), error.to_string())),
        };
        ConnectionError::TlsHandshake { addr: addr.to_owned(), problem, detail: error.to_string() }
    }
}

#[cfg(feature = "tls")]
pub(crate) use enabled::{certificates, private_key};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_taken_from_the_address() {
        assert_eq!(host_of("localhost:9092"), "localhost");
        assert_eq!(host_of("10.0.0.1:9093"), "10.0.0.1");
        assert_eq!(host_of("[::1]:9092"), "::1");
    }

    #[test]
    fn debug_never_prints_pem_bytes() {
        let identity = ClientIdentity {
            certificate_chain: Pem::File("c.pem".into()),
            private_key: Pem::Inline(b"-----BEGIN PRIVATE KEY-----SECRETKEY".to_vec()),
        };
        let printed = format!("{:?}", TlsConfig::default().identity(identity));
        assert!(!printed.contains("SECRETKEY"), "{printed}");
        assert!(printed.contains("c.pem"), "{printed}");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_missing_or_empty_ca_is_a_config_error() {
        let missing = TlsConfig::default().ca_file("/nonexistent/ca.pem");
        assert!(matches!(missing.client_config(), Err(ConnectionError::TlsConfig { what: "CA file", .. })));
        let empty = TlsConfig::default().ca_pem(b"not pem".to_vec());
        assert!(matches!(empty.client_config(), Err(ConnectionError::TlsConfig { .. })));
    }
}
