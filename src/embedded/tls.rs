//! The TLS side of a listener: the server certificate and key, and optionally the CA
//! whose client certificates are required (mTLS).

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use super::error::EmbeddedError;
use crate::net::{certificates, private_key, Pem};

/// A listener's TLS settings, as given to the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// The server certificate chain.
    pub certificate_chain: Pem,
    /// Its private key (never printed).
    pub private_key: Pem,
    /// When set, clients must show a certificate signed by one of these CAs.
    pub client_ca: Option<Pem>,
}

impl TlsSettings {
    /// The acceptor every connection of the listener goes through.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::InvalidConfig`] for a certificate, key or CA that cannot be
    /// read or used (the message never quotes the key).
    pub(crate) fn acceptor(&self) -> Result<TlsAcceptor, EmbeddedError> {
        let invalid = |reason: String| EmbeddedError::InvalidConfig { reason };
        let chain = certificates(&self.certificate_chain, "server certificate").map_err(|e| invalid(e.to_string()))?;
        let key = private_key(&self.private_key).map_err(|e| invalid(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("TLS protocol versions: {e}")))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                let cas = certificates(ca, "client CA").map_err(|e| invalid(e.to_string()))?;
                roots.add_parsable_certificates(cas);
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| invalid(format!("client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config =
            builder.with_single_cert(chain, key).map_err(|e| invalid(format!("server certificate and key: {e}")))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
