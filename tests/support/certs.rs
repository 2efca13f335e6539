//! Test certificates made with rcgen at test time: a CA, a server certificate for
//! `localhost` and 127.0.0.1, one for another host name, one from an unknown CA, and a
//! client certificate for mTLS; written to a fresh directory for kcat and the CLI.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its private key, as PEM.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Everything a TLS test needs, in memory and as files under [`dir`](Self::dir).
#[derive(Debug, Clone)]
pub struct TestCerts {
    /// The CA every good certificate chains to.
    pub ca_pem: String,
    /// Server certificate for `localhost` and `127.0.0.1`, signed by the CA.
    pub server: Pair,
    /// Server certificate for `wrong.example` only, signed by the CA.
    pub wrong_host: Pair,
    /// Server certificate for `localhost`/127.0.0.1 signed by another, unknown CA.
    pub unknown_ca: Pair,
    /// Client certificate (CN `client`) signed by the CA, for mTLS.
    pub client: Pair,
    /// A directory holding `ca.pem`, `server.pem`, `server.key`, `client.pem`,
    /// `client.key`.
    pub dir: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA certificate")
}

fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> Pair {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, names.first().map_or("client", String::as_str));
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("leaf certificate");
    Pair { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

impl TestCerts {
    /// Fresh certificates in a fresh directory under the system temp dir.
    pub fn generate() -> TestCerts {
        let authority = ca("actix-kafka test CA");
        let stranger = ca("unknown CA");
        let server_names = ["localhost", "127.0.0.1"];
        let certs = TestCerts {
            ca_pem: authority.pem(),
            server: leaf(&authority, &server_names, ExtendedKeyUsagePurpose::ServerAuth),
            wrong_host: leaf(&authority, &["wrong.example"], ExtendedKeyUsagePurpose::ServerAuth),
            unknown_ca: leaf(&stranger, &server_names, ExtendedKeyUsagePurpose::ServerAuth),
            client: leaf(&authority, &["client"], ExtendedKeyUsagePurpose::ClientAuth),
            dir: fresh_dir(),
        };
        certs.write();
        certs
    }

    fn write(&self) {
        let files = [
            ("ca.pem", &self.ca_pem),
            ("server.pem", &self.server.cert_pem),
            ("server.key", &self.server.key_pem),
            ("client.pem", &self.client.cert_pem),
            ("client.key", &self.client.key_pem),
        ];
        for (name, contents) in files {
            std::fs::write(self.dir.join(name), contents).expect("write a certificate file");
        }
    }

    /// The path of one of the files in [`dir`](Self::dir).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// [`path`](Self::path) as a `&str` for command lines.
    pub fn path_str(&self, name: &str) -> String {
        self.path(name).to_str().expect("UTF-8 temp path").to_owned()
    }
}

fn fresh_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let unique = format!("actix-kafka-certs-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let dir = std::env::temp_dir().join(unique);
    std::fs::create_dir_all(&dir).expect("create the certificate directory");
    dir
}

/// The directory goes when the test is done with it, passed or failed (best effort).
impl Drop for TestCerts {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("could not remove {}: {error}", self.dir.display());
        }
    }
}
