//! [`SecurityArgs`]: the TLS and SASL flags every client command (`produce`, and
//! `consume` and `perf` after it) takes with `#[command(flatten)]`.
//!
//! The password is never a flag (it would show in `ps` and shell history): it is read
//! from the environment variable named by `--sasl-password-env`
//! (`ACTIX_KAFKA_PASSWORD` by default).

use std::path::PathBuf;

use clap::Args;

use crate::client::ClientConfig;
use crate::net::{SaslConfig, SaslMechanism, SecurityProtocol, TlsConfig};

/// The default of `--sasl-password-env`.
pub const DEFAULT_PASSWORD_ENV: &str = "ACTIX_KAFKA_PASSWORD";

/// How a client command secures its connections.
#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// plaintext, ssl, sasl_plaintext or sasl_ssl.
    #[arg(long, value_name = "PROTOCOL", default_value = "plaintext", value_parser = parse_protocol)]
    pub security_protocol: SecurityProtocol,

    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with sasl_plaintext or sasl_ssl).
    #[arg(long, value_name = "MECHANISM", value_parser = parse_mechanism)]
    pub sasl_mechanism: Option<SaslMechanism>,

    /// The SASL user name.
    #[arg(long, value_name = "USER")]
    pub sasl_username: Option<String>,

    /// The environment variable holding the SASL password (never a flag).
    #[arg(long, value_name = "VAR", default_value = DEFAULT_PASSWORD_ENV)]
    pub sasl_password_env: String,

    /// Let PLAIN run over sasl_plaintext, sending the password unencrypted.
    #[arg(long)]
    pub sasl_allow_plain_over_plaintext: bool,

    /// Trust only the CA certificates in this PEM file [default: the system roots].
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Client certificate chain (PEM) for mutual TLS; needs --client-key.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub client_cert: Option<PathBuf>,

    /// Private key (PEM) of --client-cert.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

/// Why the security flags cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityArgsError {
    /// SASL without `--sasl-mechanism` or `--sasl-username`.
    #[error("--security-protocol {protocol} needs --sasl-mechanism and --sasl-username")]
    MissingSasl {
        /// The protocol given.
        protocol: SecurityProtocol,
    },
    /// SASL flags with a protocol that does not use them.
    #[error("--sasl-mechanism and --sasl-username need --security-protocol sasl_plaintext or sasl_ssl")]
    UnusedSasl,
    /// The password variable is not set (or not UTF-8).
    #[error("the SASL password environment variable {variable} is not set")]
    MissingPassword {
        /// Its name.
        variable: String,
    },
    /// OAUTHBEARER needs a token provider, which the command line has none of.
    #[error("SASL mechanism {0} is not available on the command line")]
    UnsupportedMechanism(SaslMechanism),
}

impl SecurityArgs {
    /// `client` with these security settings, the password read from the environment.
    ///
    /// # Errors
    ///
    /// [`SecurityArgsError`] for missing or unused SASL flags, or an unset password
    /// variable.
    pub fn apply(&self, client: ClientConfig) -> Result<ClientConfig, SecurityArgsError> {
        self.apply_with(client, |variable| std::env::var(variable).ok())
    }

    /// As [`apply`](Self::apply), with `lookup` as the environment.
    pub fn apply_with(
        &self,
        client: ClientConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ClientConfig, SecurityArgsError> {
        let protocol = self.security_protocol;
        let mut client = client.security_protocol(protocol);
        if protocol.uses_tls() {
            let mut tls = TlsConfig::default();
            if let Some(ca) = &self.ca_file {
                tls = tls.ca_file(ca);
            }
            if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
                tls = tls.client_identity(cert, key);
            }
            client = client.tls(tls);
        }
        match (protocol.uses_sasl(), self.sasl_mechanism, &self.sasl_username) {
            (false, None, None) => Ok(client),
            (false, _, _) => Err(SecurityArgsError::UnusedSasl),
            (true, Some(mechanism), Some(username)) => {
                let variable = &self.sasl_password_env;
                let password = lookup(variable)
                    .ok_or_else(|| SecurityArgsError::MissingPassword { variable: variable.clone() })?;
                let sasl = match mechanism {
                    SaslMechanism::Plain => SaslConfig::plain(username.as_str(), password),
                    SaslMechanism::ScramSha256 => SaslConfig::scram_sha_256(username.as_str(), password),
                    SaslMechanism::ScramSha512 => SaslConfig::scram_sha_512(username.as_str(), password),
                    other => return Err(SecurityArgsError::UnsupportedMechanism(other)),
                };
                Ok(client.sasl(sasl.allow_plain_over_plaintext(self.sasl_allow_plain_over_plaintext)))
            }
            (true, _, _) => Err(SecurityArgsError::MissingSasl { protocol }),
        }
    }
}

fn parse_protocol(text: &str) -> Result<SecurityProtocol, String> {
    text.parse().map_err(|e: crate::net::UnknownSecurityProtocol| e.to_string())
}

fn parse_mechanism(text: &str) -> Result<SaslMechanism, String> {
    match text.parse() {
        Ok(SaslMechanism::OAuthBearer) | Err(_) => {
            Err(format!("unknown SASL mechanism {text:?} (expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"))
        }
        Ok(mechanism) => Ok(mechanism),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        security: SecurityArgs,
    }

    fn parse(args: &[&str]) -> Result<SecurityArgs, clap::Error> {
        Command::try_parse_from(std::iter::once("test").chain(args.iter().copied())).map(|c| c.security)
    }

    #[test]
    fn the_default_is_plaintext_without_sasl() {
        let args = parse(&[]).unwrap();
        let client = args.apply_with(ClientConfig::new("a:1"), |_| None).unwrap();
        assert_eq!(client.connection.security_protocol, SecurityProtocol::Plaintext);
        assert!(client.connection.sasl.is_none());
    }

    #[test]
    fn sasl_ssl_reads_the_password_from_the_named_variable() {
        let args = parse(&[
            "--security-protocol",
            "SASL_SSL",
            "--sasl-mechanism",
            "scram-sha-512",
            "--sasl-username",
            "alice",
            "--sasl-password-env",
            "MY_PW",
            "--ca-file",
            "ca.pem",
        ])
        .unwrap();
        let env = |name: &str| (name == "MY_PW").then(|| "s3cret".to_owned());
        let client = args.apply_with(ClientConfig::new("a:1"), env).unwrap();
        assert_eq!(client.connection.sasl, Some(SaslConfig::scram_sha_512("alice", "s3cret")));
        assert_eq!(client.connection.tls, TlsConfig::default().ca_file("ca.pem"));
        assert!(client.validate().is_ok());
        let missing = args.apply_with(ClientConfig::new("a:1"), |_| None).unwrap_err();
        assert_eq!(missing, SecurityArgsError::MissingPassword { variable: "MY_PW".into() });
    }

    #[test]
    fn inconsistent_flags_are_refused() {
        let no_mechanism = parse(&["--security-protocol", "sasl_ssl"]).unwrap();
        assert!(matches!(
            no_mechanism.apply_with(ClientConfig::new("a:1"), |_| None),
            Err(SecurityArgsError::MissingSasl { .. })
        ));
        let unused = parse(&["--sasl-mechanism", "PLAIN", "--sasl-username", "u"]).unwrap();
        assert_eq!(unused.apply_with(ClientConfig::new("a:1"), |_| None).unwrap_err(), SecurityArgsError::UnusedSasl);
        assert!(parse(&["--sasl-mechanism", "GSSAPI"]).is_err());
        assert!(parse(&["--client-cert", "c.pem"]).is_err(), "a certificate needs its key");
        assert!(parse(&["--sasl-password", "x"]).is_err(), "no password flag");
    }
}
