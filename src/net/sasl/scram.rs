//! SCRAM (RFC 5802) pieces both sides share: the key derivation, the attribute syntax,
//! user name escaping and constant-time comparison.

use std::fmt;

use base64::Engine;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroize;

use super::{Mechanism, SaslError, Secret};

/// The hash a SCRAM mechanism runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    /// The hash of a SCRAM mechanism; PLAIN has none.
    pub(super) fn of(mechanism: Mechanism) -> Result<Hash, SaslError> {
        match mechanism {
            Mechanism::ScramSha256 => Ok(Hash::Sha256),
            Mechanism::ScramSha512 => Ok(Hash::Sha512),
            Mechanism::Plain => Err(SaslError::UnsupportedMechanism { name: "PLAIN".to_owned() }),
        }
    }

    /// `H(data)`.
    pub(super) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, data)`.
    pub(super) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => hmac_with::<Hmac<Sha256>>(key, data),
            Hash::Sha512 => hmac_with::<Hmac<Sha512>>(key, data),
        }
    }

    /// `Hi(password, salt, iterations)`: PBKDF2 with this hash's HMAC.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0; self.length()];
        match self {
            Hash::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
            Hash::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out),
        }
        out
    }

    fn length(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha512 => 64,
        }
    }
}

fn hmac_with<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// What a server stores for a SCRAM user: never the password itself.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The salt the client derives its keys with.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(ClientKey)`: checks the client's proof.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`: signs the server-final message.
    pub server_key: Vec<u8>,
}

impl ScramCredential {
    /// Derives the credential for `password` (RFC 5802 §3).
    ///
    /// # Errors
    ///
    /// [`SaslError::UnsupportedMechanism`] for PLAIN, which has no SCRAM credential.
    pub fn from_password(
        mechanism: Mechanism,
        password: &Secret,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self, SaslError> {
        let hash = Hash::of(mechanism)?;
        let keys = ClientKeys::derive(hash, password, salt, iterations);
        Ok(ScramCredential {
            salt: salt.to_vec(),
            iterations,
            stored_key: hash.digest(&keys.client_key),
            server_key: keys.server_key.clone(),
        })
    }
}

impl Drop for ScramCredential {
    fn drop(&mut self) {
        self.stored_key.zeroize();
        self.server_key.zeroize();
    }
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("salt", &base64_encode(&self.salt))
            .field("iterations", &self.iterations)
            .field("stored_key", &"***")
            .field("server_key", &"***")
            .finish()
    }
}

/// The client's keys, derived from the password; zeroed on drop.
pub(super) struct ClientKeys {
    pub(super) client_key: Vec<u8>,
    pub(super) server_key: Vec<u8>,
}

impl ClientKeys {
    pub(super) fn derive(hash: Hash, password: &Secret, salt: &[u8], iterations: u32) -> Self {
        let mut salted = hash.salted_password(password.expose().as_bytes(), salt, iterations);
        let keys =
            ClientKeys { client_key: hash.hmac(&salted, b"Client Key"), server_key: hash.hmac(&salted, b"Server Key") };
        salted.zeroize();
        keys
    }
}

impl Drop for ClientKeys {
    fn drop(&mut self) {
        self.client_key.zeroize();
        self.server_key.zeroize();
    }
}

/// `a XOR b`, for equal-length `a` and `b`.
pub(super) fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Compares in time that depends only on the lengths, never on where the bytes differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) fn base64_decode(text: &str) -> Result<Vec<u8>, SaslError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SaslError::InvalidMessage { reason: "invalid base64" })
}

/// The message as UTF-8.
pub(super) fn utf8(message: &[u8]) -> Result<&str, SaslError> {
    std::str::from_utf8(message).map_err(|_| SaslError::InvalidMessage { reason: "not UTF-8" })
}

/// Splits `attribute=value` off the front of `rest`, requiring the attribute `name`.
/// Returns the value and what follows the next comma, if anything.
pub(super) fn take_attribute<'a>(
    rest: Option<&'a str>,
    name: char,
    reason: &'static str,
) -> Result<(&'a str, Option<&'a str>), SaslError> {
    let rest = rest.ok_or(SaslError::InvalidMessage { reason })?;
    let (field, tail) = match rest.split_once(',') {
        Some((field, tail)) => (field, Some(tail)),
        None => (rest, None),
    };
    let mut chars = field.chars();
    match (chars.next(), chars.next()) {
        (Some(found), Some('=')) if found == name => Ok((chars.as_str(), tail)),
        (Some('e'), Some('=')) => Err(SaslError::AuthenticationFailed),
        _ => Err(SaslError::InvalidMessage { reason }),
    }
}

/// A nonce is printable ASCII without a comma (RFC 5802 §7) and not empty.
pub(super) fn check_nonce(nonce: &str) -> Result<(), SaslError> {
    let printable = nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',');
    if nonce.is_empty() || !printable {
        return Err(SaslError::InvalidMessage { reason: "nonce is not printable ASCII" });
    }
    Ok(())
}

/// Escapes a user name for `n=`: `,` as `=2C`, `=` as `=3D`.
pub(super) fn escape_username(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// Reverses [`escape_username`]; any other `=` sequence is invalid.
pub(super) fn unescape_username(escaped: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3);
        out.push(match code {
            Some("2C") => ',',
            Some("3D") => '=',
            _ => return Err(SaslError::InvalidMessage { reason: "bad escape in user name" }),
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}
