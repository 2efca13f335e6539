//! The cluster builder: typed settings, each with its documented default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::auth::{ListenerSasl, SaslSettings};
use super::cluster::EmbeddedCluster;
use super::error::EmbeddedError;
use super::log::FsyncPolicy;
#[cfg(feature = "tls")]
use super::tls::TlsSettings;
use crate::net::sasl::Secret;
use crate::net::{Pem, SaslMechanism};
use crate::protocol::frame::DEFAULT_MAX_FRAME_SIZE;

/// Builds an [`EmbeddedCluster`]; get one from [`EmbeddedCluster::builder`].
#[derive(Debug, Clone)]
pub struct EmbeddedClusterBuilder {
    pub(crate) nodes: u32,
    pub(crate) default_partitions: i32,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) fsync: FsyncPolicy,
    pub(crate) listen: SocketAddr,
    pub(crate) auto_create_topics: bool,
    pub(crate) group_initial_rebalance_delay: Duration,
    pub(crate) max_frame_size: usize,
    pub(crate) tls: Option<ListenerTls>,
    pub(crate) sasl: Option<SaslSettings>,
}

/// The TLS settings given to the builder (kept even without the `tls` feature, so
/// that `start` can refuse them with a clear error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListenerTls {
    pub certificate_chain: Pem,
    pub private_key: Pem,
    pub client_ca: Option<Pem>,
}

/// What every listener of a cluster secures its connections with, ready to serve.
#[derive(Clone, Default)]
pub(crate) struct ListenerSecurity {
    #[cfg(feature = "tls")]
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub sasl: Option<ListenerSasl>,
}

impl ListenerSecurity {
    /// Loads the certificates and derives the SCRAM credentials.
    pub(crate) fn new(builder: &EmbeddedClusterBuilder) -> Result<Self, EmbeddedError> {
        let sasl = builder.sasl.as_ref().map(ListenerSasl::new).transpose()?;
        #[cfg(feature = "tls")]
        {
            let tls = builder.tls.as_ref().map(|tls| {
                TlsSettings {
                    certificate_chain: tls.certificate_chain.clone(),
                    private_key: tls.private_key.clone(),
                    client_ca: tls.client_ca.clone(),
                }
                .acceptor()
            });
            Ok(ListenerSecurity { tls: tls.transpose()?, sasl })
        }
        #[cfg(not(feature = "tls"))]
        {
            if builder.tls.is_some() {
                let reason = "TLS asked for, but actix-kafka was built without its `tls` feature".to_owned();
                return Err(EmbeddedError::InvalidConfig { reason });
            }
            Ok(ListenerSecurity { sasl })
        }
    }
}

impl Default for EmbeddedClusterBuilder {
    fn default() -> Self {
        Self {
            nodes: 1,
            default_partitions: 1,
            data_dir: None,
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            auto_create_topics: true,
            group_initial_rebalance_delay: Duration::ZERO,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            tls: None,
            sasl: None,
        }
    }
}

impl EmbeddedClusterBuilder {
    /// How many broker nodes run, with ids `0..nodes`. Default 1; must be 1 or more.
    pub fn nodes(mut self, nodes: u32) -> Self {
        self.nodes = nodes;
        self
    }

    /// How many partitions an auto-created topic (or a CreateTopics entry asking for
    /// -1) gets. Default 1; must be 1 or more.
    pub fn default_partitions(mut self, partitions: i32) -> Self {
        self.default_partitions = partitions;
        self
    }

    /// Keeps the logs, the topic table and the committed offsets in this directory, so a
    /// cluster started again on it finds them. Default: none, everything in memory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// When partition logs are fsynced (only with a data directory). Default
    /// [`FsyncPolicy::Interval`] of 1 second.
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }

    /// The address node 0 listens on; node `i` listens on port + `i`. With port 0
    /// (the default, `127.0.0.1:0`) every node gets its own ephemeral port.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Whether Metadata (with `allow_auto_topic_creation`) and Produce create unknown
    /// topics, with [`default_partitions`](Self::default_partitions). Default true.
    pub fn auto_create_topics(mut self, enabled: bool) -> Self {
        self.auto_create_topics = enabled;
        self
    }

    /// How long a new group waits for more members before its first rebalance
    /// (Kafka's `group.initial.rebalance.delay.ms`). Default zero.
    pub fn group_initial_rebalance_delay(mut self, delay: Duration) -> Self {
        self.group_initial_rebalance_delay = delay;
        self
    }

    /// The largest request frame accepted, in bytes; a larger size prefix closes the
    /// connection. Default 100 MiB ([`DEFAULT_MAX_FRAME_SIZE`]).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Serves TLS on every node's listener with this certificate chain and private
    /// key (PEM bytes). Default: plaintext.
    pub fn tls(self, certificate_chain_pem: impl Into<Vec<u8>>, private_key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls_from(Pem::Inline(certificate_chain_pem.into()), Pem::Inline(private_key_pem.into()))
    }

    /// Serves TLS with the certificate chain and private key in these PEM files (read
    /// at start). Default: plaintext.
    pub fn tls_files(self, certificate_chain: impl Into<PathBuf>, private_key: impl Into<PathBuf>) -> Self {
        self.tls_from(Pem::File(certificate_chain.into()), Pem::File(private_key.into()))
    }

    fn tls_from(mut self, certificate_chain: Pem, private_key: Pem) -> Self {
        let client_ca = self.tls.take().and_then(|tls| tls.client_ca);
        self.tls = Some(ListenerTls { certificate_chain, private_key, client_ca });
        self
    }

    /// Requires every TLS client to show a certificate signed by a CA in this PEM
    /// (mutual TLS). Only with [`tls`](Self::tls); default: no client certificate.
    pub fn tls_client_ca(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        if let Some(tls) = &mut self.tls {
            tls.client_ca = Some(Pem::Inline(ca_pem.into()));
        }
        self
    }

    /// Requires SASL on every listener with these mechanisms and `(user, password)`
    /// pairs (see [`parse_users`](super::parse_users) for a users file). SCRAM
    /// credentials are derived at start with a random salt and 4096 iterations; no
    /// password is kept for SCRAM logins. Default: no SASL.
    pub fn sasl<U, P>(mut self, mechanisms: &[SaslMechanism], users: impl IntoIterator<Item = (U, P)>) -> Self
    where
        U: Into<String>,
        P: Into<Secret>,
    {
        let users = users.into_iter().map(|(user, password)| (user.into(), password.into())).collect();
        let session_lifetime = self.sasl.take().and_then(|sasl| sasl.session_lifetime);
        self.sasl = Some(SaslSettings { mechanisms: mechanisms.to_vec(), users, session_lifetime });
        self
    }

    /// The SASL session lifetime announced in SaslAuthenticate v1+ (KIP-368): the
    /// client must re-authenticate before it ends, or its connection is closed at its
    /// next request. Only with [`sasl`](Self::sasl); default: none (sessions last as
    /// long as the connection).
    pub fn sasl_session_lifetime(mut self, lifetime: Duration) -> Self {
        if let Some(sasl) = &mut self.sasl {
            sasl.session_lifetime = Some(lifetime);
        }
        self
    }

    /// Checks the settings and returns each node's listen address.
    pub(crate) fn node_listen_addrs(&self) -> Result<Vec<SocketAddr>, EmbeddedError> {
        let invalid = |reason: String| Err(EmbeddedError::InvalidConfig { reason });
        if self.nodes == 0 || self.nodes > 1024 {
            return invalid(format!("nodes must be 1-1024, not {}", self.nodes));
        }
        if self.default_partitions < 1 {
            return invalid(format!("default_partitions must be positive, not {}", self.default_partitions));
        }
        if self.max_frame_size < 1024 || i32::try_from(self.max_frame_size).is_err() {
            return invalid(format!("max_frame_size {} is not 1 KiB-2 GiB", self.max_frame_size));
        }
        if self.sasl.as_ref().is_some_and(|sasl| sasl.session_lifetime.is_some_and(|l| l < Duration::from_millis(100)))
        {
            return invalid("sasl_session_lifetime must be at least 100 ms".to_owned());
        }
        (0..self.nodes)
            .map(|i| {
                let mut addr = self.listen;
                if addr.port() != 0 {
                    let port = u16::try_from(u32::from(addr.port()) + i).map_err(|_| EmbeddedError::InvalidConfig {
                        reason: format!("node {i}'s port would be over 65535"),
                    })?;
                    addr.set_port(port);
                }
                Ok(addr)
            })
            .collect()
    }

    /// Starts the cluster: binds every node's listener, recovers the data directory,
    /// starts the actors.
    ///
    /// Must be called inside a running actix `System` (`#[actix::test]`,
    /// `#[actix_rt::test]`, `actix_rt::System::new().block_on(..)`): the cluster's
    /// tasks and actors live in it, and stop with it.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::InvalidConfig`] for bad settings, [`EmbeddedError::Bind`] when a
    /// port is taken, [`EmbeddedError::Io`], [`EmbeddedError::Log`] or
    /// [`EmbeddedError::Group`] when the data directory cannot be recovered.
    pub async fn start(self) -> Result<EmbeddedCluster, EmbeddedError> {
        EmbeddedCluster::start(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_listen_on_consecutive_ports_or_ephemeral_ones() {
        let builder = EmbeddedCluster::builder().nodes(3);
        assert!(builder.node_listen_addrs().unwrap().iter().all(|a| a.port() == 0));
        let fixed = builder.listen("127.0.0.1:9092".parse().unwrap()).node_listen_addrs().unwrap();
        assert_eq!(fixed.iter().map(|a| a.port()).collect::<Vec<_>>(), [9092, 9093, 9094]);
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = |b: EmbeddedClusterBuilder| matches!(b.node_listen_addrs(), Err(EmbeddedError::InvalidConfig { .. }));
        assert!(bad(EmbeddedCluster::builder().nodes(0)));
        assert!(bad(EmbeddedCluster::builder().default_partitions(0)));
        assert!(bad(EmbeddedCluster::builder().max_frame_size(10)));
        assert!(bad(EmbeddedCluster::builder().nodes(3).listen("127.0.0.1:65534".parse().unwrap())));
    }
}
