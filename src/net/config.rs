//! How a [`BrokerConnection`](super::BrokerConnection) talks: client id, frame limit,
//! timeouts.

use std::time::Duration;

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
    /// How long the TCP connect and the ApiVersions handshake may take together.
    pub connect_timeout: Duration,
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
    /// take for the TCP connect and the ApiVersions handshake together.
    /// Default: 10 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
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
    }
}
