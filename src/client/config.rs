//! [`ClientConfig`]: what every client actor shares (bootstrap list, client id,
//! connection and security settings, metadata ages, retry backoff), and
//! [`ConfigError`].

use std::time::Duration;

use crate::net::{ConnectionConfig, ConnectionError, SaslConfig, SecurityProtocol, TlsConfig, DEFAULT_CLIENT_ID};

/// Settings shared by the [`Cluster`](super::Cluster) actor and the producers and
/// consumers built on it.
///
/// Every field has a builder-style setter that documents its default and unit;
/// [`validate`](Self::validate) checks the whole (and
/// [`Cluster::start`](super::Cluster::start) calls it).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_kafka::client::ClientConfig;
///
/// let config = ClientConfig::new("k1:9092, k2:9092")
///     .client_id("billing")
///     .metadata_max_age(Duration::from_secs(60));
/// assert_eq!(config.bootstrap, ["k1:9092", "k2:9092"]);
/// assert_eq!(config.connection.client_id.as_deref(), Some("billing"));
/// assert!(config.validate().is_ok());
/// ```
///
/// A secured cluster (SASL/SCRAM over TLS, a private CA):
///
/// ```
/// use actix_kafka::client::ClientConfig;
/// use actix_kafka::net::{SaslConfig, SecurityProtocol, TlsConfig};
///
/// let config = ClientConfig::new("kafka.example.com:9093")
///     .security_protocol(SecurityProtocol::SaslSsl)
///     .tls(TlsConfig::default().ca_file("ca.pem"))
///     .sasl(SaslConfig::scram_sha_512("alice", "alice-secret"));
/// assert!(config.validate().is_ok());
/// assert!(!format!("{config:?}").contains("alice-secret"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The `host:port` addresses tried, in order, to learn the cluster.
    pub bootstrap: Vec<String>,
    /// The client id of every request header (also in [`connection`](Self::connection)).
    pub client_id: String,
    /// How each broker connection talks; its `request_timeout` also bounds every wait
    /// of the client layer (a metadata refresh, a bootstrap, an InitProducerId).
    pub connection: ConnectionConfig,
    /// How old the cached metadata may grow before a periodic refresh.
    pub metadata_max_age: Duration,
    /// Refreshes asked for closer together than this are coalesced into the next one.
    pub metadata_min_interval: Duration,
    /// The first retry delay; it doubles on each further attempt.
    pub retry_backoff: Duration,
    /// The largest retry delay.
    pub retry_backoff_max: Duration,
    /// Whether Metadata requests (v4+) let the broker auto-create the topics they name.
    pub allow_auto_topic_creation: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            bootstrap: Vec::new(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            connection: ConnectionConfig::default(),
            metadata_max_age: Duration::from_secs(300),
            metadata_min_interval: Duration::from_millis(100),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            allow_auto_topic_creation: true,
        }
    }
}

impl ClientConfig {
    /// The default config with `bootstrap`, a comma-separated `host:port` list
    /// (blanks around entries are trimmed, empty entries dropped).
    pub fn new(bootstrap: &str) -> Self {
        Self::default().bootstrap(bootstrap)
    }

    /// Replaces the bootstrap list with the comma-separated `host:port` list.
    /// Default: empty (which [`validate`](Self::validate) refuses).
    pub fn bootstrap(mut self, bootstrap: &str) -> Self {
        self.bootstrap =
            bootstrap.split(',').map(str::trim).filter(|addr| !addr.is_empty()).map(str::to_owned).collect();
        self
    }

    /// The client id, copied into [`connection`](Self::connection).
    /// Default: `"actix-kafka"`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self.connection.client_id = Some(self.client_id.clone());
        self
    }

    /// The connection settings; its client id is replaced by this config's.
    /// Default: [`ConnectionConfig::default`] (30 s request timeout, 10 s connect).
    pub fn connection(mut self, connection: ConnectionConfig) -> Self {
        self.connection = connection.client_id(Some(self.client_id.clone()));
        self
    }

    /// Shortcut for the connection's request timeout, which also bounds every wait of
    /// the client layer. Default: 30 seconds.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.connection.request_timeout = timeout;
        self
    }

    /// Shortcut for the connection's connect timeout (TCP connect plus ApiVersions).
    /// Default: 10 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connection.connect_timeout = timeout;
        self
    }

    /// Kafka's `security.protocol`, for every connection of every client built on
    /// this config. Default: [`SecurityProtocol::Plaintext`].
    pub fn security_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.connection.security_protocol = protocol;
        self
    }

    /// The TLS settings of `ssl` and `sasl_ssl` connections. Default: trust the
    /// system roots, no client certificate, verify the host name.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.connection.tls = tls;
        self
    }

    /// The SASL mechanism and credentials of `sasl_plaintext` and `sasl_ssl`
    /// connections. Default: none.
    pub fn sasl(mut self, sasl: SaslConfig) -> Self {
        self.connection.sasl = Some(sasl);
        self
    }

    /// The age after which the metadata is refreshed even if nobody asks.
    /// Default: 5 minutes.
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.metadata_max_age = age;
        self
    }

    /// The least time between two metadata refreshes; requests in between are
    /// coalesced into the next one. Default: 100 milliseconds.
    pub fn metadata_min_interval(mut self, interval: Duration) -> Self {
        self.metadata_min_interval = interval;
        self
    }

    /// The first retry delay (doubling, ±20 % jitter). Default: 100 milliseconds.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// The largest retry delay. Default: 1 second.
    pub fn retry_backoff_max(mut self, backoff: Duration) -> Self {
        self.retry_backoff_max = backoff;
        self
    }

    /// Whether Metadata requests let the broker auto-create the topics they name
    /// (sent from Metadata v4; older brokers decide alone). Default: `true`.
    pub fn allow_auto_topic_creation(mut self, allow: bool) -> Self {
        self.allow_auto_topic_creation = allow;
        self
    }

    /// Checks the config.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyBootstrap`], [`ConfigError::InvalidAddress`] for an entry
    /// that is not `host:port` with a port in 1-65535, [`ConfigError::Invalid`] for a
    /// zero timeout or max age, or a backoff whose initial delay exceeds its maximum,
    /// or [`ConfigError::Security`] when the security protocol and the SASL settings
    /// do not fit (SASL without a mechanism, PLAIN without TLS unless allowed).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bootstrap.is_empty() {
            return Err(ConfigError::EmptyBootstrap);
        }
        if let Some(addr) = self.bootstrap.iter().find(|addr| !is_host_port(addr)) {
            return Err(ConfigError::InvalidAddress { addr: addr.clone() });
        }
        let invalid = |field, reason| Err(ConfigError::Invalid { field, reason });
        if self.connection.request_timeout.is_zero() {
            return invalid("connection.request_timeout", "must be above zero");
        }
        if self.connection.connect_timeout.is_zero() {
            return invalid("connection.connect_timeout", "must be above zero");
        }
        if self.metadata_max_age.is_zero() {
            return invalid("metadata_max_age", "must be above zero");
        }
        if self.retry_backoff_max.is_zero() || self.retry_backoff > self.retry_backoff_max {
            return invalid("retry_backoff", "must be at most retry_backoff_max, which must be above zero");
        }
        self.connection.check_security().map_err(|source| ConfigError::Security { source })
    }
}

/// `host:port` with a non-empty host and a port in 1-65535 (IPv6 as `[::1]:9092`).
fn is_host_port(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            let host_ok = !host.is_empty() && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')));
            host_ok && port.parse::<u16>().is_ok_and(|port| port > 0)
        }
        None => false,
    }
}

impl PartialEq for ConfigError {
    /// Field by field; two security errors are equal when they read the same
    /// ([`ConnectionError`] has no `PartialEq`).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ConfigError::EmptyBootstrap, ConfigError::EmptyBootstrap) => true,
            (ConfigError::InvalidAddress { addr: a }, ConfigError::InvalidAddress { addr: b }) => a == b,
            (ConfigError::Invalid { field: f1, reason: r1 }, ConfigError::Invalid { field: f2, reason: r2 }) => {
                f1 == f2 && r1 == r2
            }
            (ConfigError::Security { source: a }, ConfigError::Security { source: b }) => {
                a.to_string() == b.to_string()
            }
            _ => false,
        }
    }
}

impl Eq for ConfigError {}

/// Why a [`ClientConfig`] was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No bootstrap address was given.
    #[error("the bootstrap list is empty")]
    EmptyBootstrap,
    /// A bootstrap entry is not `host:port`.
    #[error("bootstrap address {addr:?} is not host:port")]
    InvalidAddress {
        /// The entry as given.
        addr: String,
    },
    /// A setting is out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The security settings do not fit together.
    #[error("invalid security settings: {source}")]
    Security {
        /// What [`ConnectionConfig::check_security`] refused.
        #[source]
        source: ConnectionError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_as_documented() {
        let config = ClientConfig::default();
        assert_eq!(config.client_id, "actix-kafka");
        assert_eq!(config.metadata_max_age, Duration::from_secs(300));
        assert_eq!(config.metadata_min_interval, Duration::from_millis(100));
        assert_eq!(config.retry_backoff, Duration::from_millis(100));
        assert_eq!(config.retry_backoff_max, Duration::from_secs(1));
        assert!(config.allow_auto_topic_creation);
        assert_eq!(config.validate(), Err(ConfigError::EmptyBootstrap));
    }

    #[test]
    fn bootstrap_splits_on_commas_and_is_checked() {
        assert_eq!(ClientConfig::new("a:1,b:2,,").bootstrap, ["a:1", "b:2"]);
        assert!(ClientConfig::new("[::1]:9092,localhost:9092").validate().is_ok());
        for bad in ["a", "a:", ":9092", "a:0", "a:70000", "::1:9092"] {
            assert_eq!(
                ClientConfig::new(bad).validate(),
                Err(ConfigError::InvalidAddress { addr: bad.to_owned() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn client_id_reaches_the_connection_and_bad_durations_are_refused() {
        let config = ClientConfig::new("a:1").client_id("x").connection(ConnectionConfig::default());
        assert_eq!(config.connection.client_id.as_deref(), Some("x"));
        let refused = |c: ClientConfig| matches!(c.validate(), Err(ConfigError::Invalid { .. }));
        assert!(refused(ClientConfig::new("a:1").request_timeout(Duration::ZERO)));
        assert!(refused(ClientConfig::new("a:1").metadata_max_age(Duration::ZERO)));
        assert!(refused(ClientConfig::new("a:1").retry_backoff(Duration::from_secs(5))));
    }

    #[test]
    fn security_reaches_the_connection_and_is_checked() {
        let config = ClientConfig::new("a:1")
            .security_protocol(SecurityProtocol::SaslSsl)
            .tls(TlsConfig::default().ca_file("ca.pem"))
            .sasl(SaslConfig::scram_sha_256("u", "p"));
        assert_eq!(config.connection.security_protocol, SecurityProtocol::SaslSsl);
        assert_eq!(config.connection.tls, TlsConfig::default().ca_file("ca.pem"));
        assert!(config.validate().is_ok());
        let no_mechanism = ClientConfig::new("a:1").security_protocol(SecurityProtocol::SaslPlaintext);
        assert!(matches!(no_mechanism.validate(), Err(ConfigError::Security { .. })));
        let plain = no_mechanism.sasl(SaslConfig::plain("u", "p"));
        assert!(matches!(
            plain.validate(),
            Err(ConfigError::Security { source: ConnectionError::InsecureSasl { .. } })
        ));
    }
}
