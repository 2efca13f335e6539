//! [`SecurityProtocol`]: Kafka's `security.protocol`, as a typed enum.

use std::fmt;
use std::str::FromStr;

/// How a connection is secured: Kafka's `security.protocol` setting.
///
/// TLS comes first (right after the TCP connect), SASL after the ApiVersions
/// handshake; see [`BrokerConnection::connect`](super::BrokerConnection::connect).
///
/// # Examples
///
/// ```
/// use actix_kafka::net::SecurityProtocol;
///
/// let protocol: SecurityProtocol = "SASL_SSL".parse().unwrap();
/// assert_eq!(protocol, SecurityProtocol::SaslSsl);
/// assert!(protocol.uses_tls() && protocol.uses_sasl());
/// assert_eq!(protocol.to_string(), "sasl_ssl");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityProtocol {
    /// Neither TLS nor SASL (the default, as in Kafka).
    #[default]
    Plaintext,
    /// TLS, no SASL (a client certificate may still authenticate the client).
    Ssl,
    /// SASL over a plain TCP connection: PLAIN is refused here unless explicitly
    /// allowed, since it would send the password in the clear.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Every protocol, in Kafka's documentation order.
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Whether the connection runs over TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether the connection authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }

    /// The name Kafka and librdkafka use, lower case: `plaintext`, `ssl`,
    /// `sasl_plaintext`, `sasl_ssl`.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `security.protocol` value that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown security protocol {name:?} (expected plaintext, ssl, sasl_plaintext or sasl_ssl)")]
pub struct UnknownSecurityProtocol {
    /// The value as given.
    pub name: String,
}

impl FromStr for SecurityProtocol {
    type Err = UnknownSecurityProtocol;

    /// Parses a protocol name ignoring ASCII case, as Kafka does (`SASL_SSL`,
    /// `sasl_ssl`); `-` is taken for `_` too.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let normalized = name.trim().replace('-', "_");
        SecurityProtocol::ALL
            .into_iter()
            .find(|protocol| protocol.name().eq_ignore_ascii_case(&normalized))
            .ok_or_else(|| UnknownSecurityProtocol { name: name.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_any_case() {
        for protocol in SecurityProtocol::ALL {
            assert_eq!(protocol.name().parse::<SecurityProtocol>(), Ok(protocol));
            assert_eq!(protocol.name().to_uppercase().parse::<SecurityProtocol>(), Ok(protocol));
        }
        assert_eq!("sasl-ssl".parse::<SecurityProtocol>(), Ok(SecurityProtocol::SaslSsl));
        assert!("tls".parse::<SecurityProtocol>().is_err());
        assert_eq!(SecurityProtocol::default(), SecurityProtocol::Plaintext);
    }

    #[test]
    fn tls_and_sasl_are_as_named() {
        let flags: Vec<_> = SecurityProtocol::ALL.iter().map(|p| (p.uses_tls(), p.uses_sasl())).collect();
        assert_eq!(flags, [(false, false), (true, false), (false, true), (true, true)]);
    }
}
