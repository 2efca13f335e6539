//! How a [`BrokerConnection`](super::BrokerConnection) talks: client id, frame limit,
//! timeouts, and security (TLS, SASL).

use std::time::Duration;

use super::auth::{SaslConfig, SaslMechanism};
use super::error::ConnectionError;
use super::security::SecurityProtocol;
use super::tls::TlsConfig;
use crate::protocol::frame::DEFAULT_MAX_FRAME_SIZE;

/// The client id sent by default in every request header.
pub const DEFAULT_CLIENT_ID: &str = "actix-kafka";

/// Settings for one broker connection.
///
/// Every field has a builder-style setter that documents its default and unit; the
/// fields are public so a caller can also fill the struct directly.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_kafka::net::ConnectionConfig;
///
/// let config = ConnectionConfig::default()
///     .client_id(Some("billing".to_owned()))
///     .request_timeout(Duration::from_secs(5));
/// assert_eq!(config.request_timeout, Duration::from_secs(5));
/// assert_eq!(config.connect_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// The `client_id` of every request header; `None` sends a null id.
    pub client_id: Option<String>,
    /// `ClientSoftwareName` of ApiVersions v3+ (KIP-511).
    pub client_software_name: String,
    /// `ClientSoftwareVersion` of ApiVersions v3+ (KIP-511).
    pub client_software_version: String,
    /// The largest response frame accepted, in bytes, not counting the 4-byte prefix.
    pub max_frame_size: usize,
    /// How long one request waits for its response.
    pub request_timeout: Duration,
    /// How long the TCP connect, the TLS handshake, ApiVersions and the SASL
    /// exchange may take together.
    pub connect_timeout: Duration,
    /// Kafka's `security.protocol`: whether to use TLS and SASL.
    pub security_protocol: SecurityProtocol,
    /// What to trust and which client certificate to show, for `ssl` and `sasl_ssl`.
    pub tls: TlsConfig,
    /// The SASL mechanism and credentials, for `sasl_plaintext` and `sasl_ssl`.
    pub sasl: Option<SaslConfig>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            client_id: Some(DEFAULT_CLIENT_ID.to_owned()),
            client_software_name: "actix-kafka".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            security_protocol: SecurityProtocol::Plaintext,
            tls: TlsConfig::default(),
            sasl: None,
        }
    }
}

impl ConnectionConfig {
    /// The `client_id` header field. Default: `Some("actix-kafka")`.
    pub fn client_id(mut self, client_id: Option<String>) -> Self {
        self.client_id = client_id;
        self
    }

    /// The software name and version reported in ApiVersions v3+ (KIP-511).
    /// Default: `"actix-kafka"` and this crate's version.
    pub fn client_software(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.client_software_name = name.into();
        self.client_software_version = version.into();
        self
    }

    /// The largest response frame accepted, in bytes (the size prefix's value). A
    /// larger or negative prefix closes the connection before anything is allocated
    /// for the frame. Default: 100 MiB ([`DEFAULT_MAX_FRAME_SIZE`]).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// How long each request waits for its response before failing with
    /// `RequestTimeout`; the connection stays open. Default: 30 seconds.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long [`BrokerConnection::connect`](super::BrokerConnection::connect) may
    /// take for the TCP connect, the TLS handshake, ApiVersions and SASL together.
    /// Default: 10 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Kafka's `security.protocol`. Default: [`SecurityProtocol::Plaintext`].
    pub fn security_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.security_protocol = protocol;
        self
    }

    /// The TLS settings used by `ssl` and `sasl_ssl`. Default: trust the system
    /// roots, no client certificate, check the host name.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// The SASL mechanism and credentials used by `sasl_plaintext` and `sasl_ssl`.
    /// Default: none.
    pub fn sasl(mut self, sasl: SaslConfig) -> Self {
        self.sasl = Some(sasl);
        self
    }

    /// Checks that the security protocol and the SASL settings fit together.
    ///
    /// # Errors
    ///
    /// [`ConnectionError::SecurityMismatch`] for SASL without a mechanism or a
    /// mechanism without SASL, [`ConnectionError::InsecureSasl`] for PLAIN over
    /// `sasl_plaintext` unless explicitly allowed.
    pub fn check_security(&self) -> Result<(), ConnectionError> {
        let protocol = self.security_protocol;
        match (&self.sasl, protocol.uses_sasl()) {
            (None, true) => Err(ConnectionError::SecurityMismatch { protocol, problem: "needs a SASL mechanism" }),
            (Some(_), false) => {
                Err(ConnectionError::SecurityMismatch { protocol, problem: "does not use the SASL settings given" })
            }
            (Some(sasl), true)
                if sasl.mechanism() == SaslMechanism::Plain
                    && !protocol.uses_tls()
                    && !sasl.allows_plain_over_plaintext() =>
            {
                Err(ConnectionError::InsecureSasl { mechanism: SaslMechanism::Plain })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_as_documented() {
        let config = ConnectionConfig::default();
        assert_eq!(config.client_id.as_deref(), Some("actix-kafka"));
        assert_eq!(config.client_software_name, "actix-kafka");
        assert_eq!(config.client_software_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(config.max_frame_size, 100 * 1024 * 1024);
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(config.connect_timeout, Duration::from_secs(10));
        assert_eq!(config.security_protocol, SecurityProtocol::Plaintext);
        assert_eq!(config.tls, TlsConfig::default());
        assert!(config.sasl.is_none());
        assert!(config.check_security().is_ok());
    }

    #[test]
    fn security_settings_must_fit_together() {
        let sasl_ssl = ConnectionConfig::default().security_protocol(SecurityProtocol::SaslSsl);
        assert!(matches!(sasl_ssl.check_security(), Err(ConnectionError::SecurityMismatch { .. })));
        assert!(sasl_ssl.clone().sasl(SaslConfig::plain("u", "p")).check_security().is_ok());
        let stray = ConnectionConfig::default().sasl(SaslConfig::scram_sha_256("u", "p"));
        assert!(matches!(stray.check_security(), Err(ConnectionError::SecurityMismatch { .. })));
        let plain = ConnectionConfig::default().security_protocol(SecurityProtocol::SaslPlaintext);
        let refused = plain.clone().sasl(SaslConfig::plain("u", "p"));
        assert!(matches!(refused.check_security(), Err(ConnectionError::InsecureSasl { .. })));
        assert!(plain
            .clone()
            .sasl(SaslConfig::plain("u", "p").allow_plain_over_plaintext(true))
            .check_security()
            .is_ok());
        assert!(
            plain.sasl(SaslConfig::scram_sha_512("u", "p")).check_security().is_ok(),
            "SCRAM never sends the password"
        );
    }
}
