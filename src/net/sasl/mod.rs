//! SASL mechanisms as sans-I/O state machines, client and server side.
//!
//! Nothing here touches a socket: the connection handshake (SaslHandshake, then one
//! SaslAuthenticate round trip per message) feeds the peer's bytes in and sends back
//! whatever the state machine answers.
//!
//! # Mechanisms
//!
//! - **PLAIN** (RFC 4616): the client sends `authzid NUL authcid NUL passwd` once, in the
//!   clear — use it only under TLS. The server compares the password in constant time
//!   (over SHA-256 digests, so not even the length leaks) and accepts an authzid only when
//!   it is empty or names the user itself: we have no proxy authorization.
//! - **SCRAM-SHA-256 / SCRAM-SHA-512** (RFC 5802, RFC 7677, Kafka KIP-84): a salted
//!   challenge-response that proves knowledge of the password without sending it and that
//!   authenticates the server to the client too. Channel binding is not supported (`n,,`).
//!
//! # What is checked, and why
//!
//! The client refuses a server nonce that does not extend its own (a replayed or
//! spliced exchange), fewer than 4096 iterations (Kafka's floor: a server could otherwise
//! make the proof cheap to brute force), more than 16384 (Kafka's ceiling: a server could
//! otherwise make the client spin), any `e=` error, and a server signature that does not
//! verify (the server does not know the password). Comparisons of secrets are constant-time.
//!
//! The server refuses `p=` channel binding and mandatory extensions, a client-final whose
//! channel binding does not echo the GS2 header, and a client-final whose nonce is not
//! exactly client nonce + server nonce — Kafka missed that last check (CVE-2024-56128).
//! An unknown user still gets a plausible server-first (a salt derived from the user name
//! under a process-wide random key, so it is stable across attempts) and fails only at
//! client-final, so the exchange does not reveal which users exist.
//!
//! Passwords are not SASLprep-normalized: Kafka uses the raw UTF-8 bytes, and so do we.
//! No error message or `Debug` output carries a password, key, proof or token.

mod client;
mod scram;
mod secret;
mod server;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use client::{ClientStep, SaslClient};
pub use scram::ScramCredential;
pub use secret::Secret;
pub use server::{SaslServer, ServerStep};
pub use store::{StaticUsers, UserStore};

/// Kafka's minimum SCRAM iteration count.
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka's maximum SCRAM iteration count.
pub const MAX_ITERATIONS: u32 = 16384;

/// A SASL mechanism this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616 PLAIN.
    Plain,
    /// RFC 7677 SCRAM-SHA-256.
    ScramSha256,
    /// SCRAM-SHA-512, as Kafka defines it (KIP-84).
    ScramSha512,
}

impl Mechanism {
    /// The name used in SaslHandshake: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = SaslError;

    /// Parses a mechanism name, ignoring ASCII case.
    ///
    /// # Errors
    ///
    /// [`SaslError::UnsupportedMechanism`] for any other name.
    fn from_str(name: &str) -> Result<Self, SaslError> {
        [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512]
            .into_iter()
            .find(|mechanism| mechanism.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| SaslError::UnsupportedMechanism { name: name.to_owned() })
    }
}

/// A user name and its password.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user to authenticate as.
    pub username: String,
    /// The password; never printed.
    pub password: Secret,
}

impl Credentials {
    /// Credentials for `username` with `password`.
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credentials { username: username.into(), password: password.into() }
    }
}

/// Why a SASL exchange failed. Never carries a password, key, proof or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// Wrong password, unknown user, or the server said no.
    #[error("SASL authentication failed")]
    AuthenticationFailed,
    /// The peer's message does not parse, or came when none was expected.
    #[error("invalid SASL message: {reason}")]
    InvalidMessage {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The SCRAM nonce does not extend (client) or equal (server) the one agreed on.
    #[error("SCRAM nonce mismatch")]
    NonceMismatch,
    /// The server asked for fewer SCRAM iterations than Kafka's minimum of 4096.
    #[error("SCRAM iteration count {iterations} is below the minimum of 4096")]
    TooFewIterations {
        /// The count the server sent.
        iterations: u32,
    },
    /// The server's SCRAM signature does not verify: it does not know the credential.
    #[error("SCRAM server signature mismatch")]
    ServerSignatureMismatch,
    /// A mechanism name this crate does not speak.
    #[error("unsupported SASL mechanism {name:?}")]
    UnsupportedMechanism {
        /// The name as given.
        name: String,
    },
    /// `/dev/urandom` could not be read for a nonce or salt.
    #[error("could not read random bytes from /dev/urandom")]
    Random,
}

/// `N` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], SaslError> {
    use std::io::Read;
    let mut bytes = [0; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .map_err(|_| SaslError::Random)?;
    Ok(bytes)
}

/// A fresh SCRAM nonce: 18 random bytes, base64 (24 printable characters, no comma).
fn random_nonce() -> Result<String, SaslError> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD.encode(random_bytes::<18>()?))
}
