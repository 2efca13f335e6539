//! The client side: PLAIN and SCRAM as a state machine fed with the server's messages.

use std::fmt;

use hmac::Mac;

use super::scram::{self, ClientKeys, Hash};
use super::{Credentials, Mechanism, SaslError, MAX_ITERATIONS, MIN_ITERATIONS};

/// What the client does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStep {
    /// Send these bytes in the next SaslAuthenticate request.
    Send(Vec<u8>),
    /// Authenticated; the server is verified too (SCRAM).
    Done,
}

/// A client's SASL exchange, one per connection.
///
/// # Examples
///
/// ```
/// use actix_kafka::net::sasl::{Credentials, Mechanism, SaslClient, ClientStep};
///
/// let mut client = SaslClient::new(Mechanism::Plain, Credentials::new("alice", "secret"));
/// assert_eq!(client.first_message().unwrap(), b"\0alice\0secret");
/// assert_eq!(client.on_server_message(b"").unwrap(), ClientStep::Done);
/// ```
pub struct SaslClient {
    mechanism: Mechanism,
    credentials: Credentials,
    /// Set only by tests, to replay published test vectors.
    fixed_nonce: Option<String>,
    state: State,
}

enum State {
    Initial,
    PlainSent,
    FirstSent {
        nonce: String,
        client_first_bare: String,
    },
    FinalSent {
        hash: Hash,
        keys: ClientKeys,
        auth_message: String,
    },
    /// Done or failed: no more messages are expected.
    Over,
}

impl SaslClient {
    /// A client for `mechanism` authenticating with `credentials`.
    pub fn new(mechanism: Mechanism, credentials: Credentials) -> Self {
        SaslClient { mechanism, credentials, fixed_nonce: None, state: State::Initial }
    }

    /// A client with a fixed SCRAM nonce, to replay the RFC test vectors.
    #[cfg(test)]
    pub(crate) fn with_nonce(mechanism: Mechanism, credentials: Credentials, nonce: &str) -> Self {
        SaslClient { fixed_nonce: Some(nonce.to_owned()), ..SaslClient::new(mechanism, credentials) }
    }

    /// The mechanism this client speaks.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The first client message: PLAIN's only one, or SCRAM's client-first.
    ///
    /// # Errors
    ///
    /// [`SaslError::Random`] if no nonce can be drawn; [`SaslError::InvalidMessage`] if
    /// called twice.
    pub fn first_message(&mut self) -> Result<Vec<u8>, SaslError> {
        if !matches!(self.state, State::Initial) {
            return Err(SaslError::InvalidMessage { reason: "first message already sent" });
        }
        self.state = State::Over;
        let Credentials { username, password } = &self.credentials;
        if self.mechanism == Mechanism::Plain {
            self.state = State::PlainSent;
            return Ok(format!("\0{username}\0{}", password.expose()).into_bytes());
        }
        let nonce = match &self.fixed_nonce {
            Some(nonce) => nonce.clone(),
            None => super::random_nonce()?,
        };
        let client_first_bare = format!("n={},r={nonce}", scram::escape_username(username));
        let message = format!("n,,{client_first_bare}").into_bytes();
        self.state = State::FirstSent { nonce, client_first_bare };
        Ok(message)
    }

    /// Answers the server's `message`.
    ///
    /// SCRAM: server-first gets client-final; server-final is verified and ends the
    /// exchange. PLAIN: the server's empty answer ends it.
    ///
    /// # Errors
    ///
    /// [`SaslError::AuthenticationFailed`] on a server `e=` error,
    /// [`SaslError::NonceMismatch`], [`SaslError::TooFewIterations`],
    /// [`SaslError::ServerSignatureMismatch`], or [`SaslError::InvalidMessage`] for
    /// anything malformed or unexpected. After an error the exchange is over.
    pub fn on_server_message(&mut self, message: &[u8]) -> Result<ClientStep, SaslError> {
        match std::mem::replace(&mut self.state, State::Over) {
            State::PlainSent if message.is_empty() => Ok(ClientStep::Done),
            State::PlainSent => Err(SaslError::InvalidMessage { reason: "PLAIN expects no data" }),
            State::FirstSent { nonce, client_first_bare } => self.on_server_first(message, &nonce, &client_first_bare),
            State::FinalSent { hash, keys, auth_message } => {
                on_server_final(message, hash, &keys, &auth_message)?;
                Ok(ClientStep::Done)
            }
            State::Initial | State::Over => Err(SaslError::InvalidMessage { reason: "no server message expected" }),
        }
    }

    fn on_server_first(
        &mut self,
        message: &[u8],
        nonce: &str,
        client_first_bare: &str,
    ) -> Result<ClientStep, SaslError> {
        const REASON: &str = "server-first is not r=…,s=…,i=…";
        let server_first = scram::utf8(message)?;
        let (combined_nonce, rest) = scram::take_attribute(Some(server_first), 'r', REASON)?;
        let (salt, rest) = scram::take_attribute(rest, 's', REASON)?;
        let (iterations, _extensions) = scram::take_attribute(rest, 'i', REASON)?;
        scram::check_nonce(combined_nonce)?;
        if combined_nonce.len() <= nonce.len() || !combined_nonce.starts_with(nonce) {
            return Err(SaslError::NonceMismatch);
        }
        let salt = scram::base64_decode(salt)?;
        let iterations: u32 =
            iterations.parse().map_err(|_| SaslError::InvalidMessage { reason: "iteration count is not a number" })?;
        if iterations < MIN_ITERATIONS {
            return Err(SaslError::TooFewIterations { iterations });
        }
        if iterations > MAX_ITERATIONS {
            return Err(SaslError::InvalidMessage { reason: "iteration count above 16384" });
        }
        let hash = Hash::of(self.mechanism)?;
        let keys = ClientKeys::derive(hash, &self.credentials.password, &salt, iterations);
        let without_proof = format!("c=biws,r={combined_nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = hash.hmac(&hash.digest(&keys.client_key), auth_message.as_bytes());
        let proof = scram::xor(&keys.client_key, &client_signature);
        let client_final = format!("{without_proof},p={}", scram::base64_encode(&proof));
        self.state = State::FinalSent { hash, keys, auth_message };
        Ok(ClientStep::Send(client_final.into_bytes()))
    }
}

/// Checks server-final's `v=` signature in constant time.
fn on_server_final(message: &[u8], hash: Hash, keys: &ClientKeys, auth_message: &str) -> Result<(), SaslError> {
    let server_final = scram::utf8(message)?;
    let (signature, _extensions) = scram::take_attribute(Some(server_final), 'v', "server-final is not v=…")?;
    let signature = scram::base64_decode(signature)?;
    let verified = match hash {
        Hash::Sha256 => verify::<hmac::Hmac<sha2::Sha256>>(keys, auth_message, &signature),
        Hash::Sha512 => verify::<hmac::Hmac<sha2::Sha512>>(keys, auth_message, &signature),
    };
    verified.then_some(()).ok_or(SaslError::ServerSignatureMismatch)
}

fn verify<M: Mac + hmac::digest::KeyInit>(keys: &ClientKeys, data: &str, signature: &[u8]) -> bool {
    <M as Mac>::new_from_slice(&keys.server_key)
        .map(|mac| mac.chain_update(data.as_bytes()).verify_slice(signature).is_ok())
        .unwrap_or(false)
}

impl fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslClient")
            .field("mechanism", &self.mechanism)
            .field("username", &self.credentials.username)
            .finish_non_exhaustive()
    }
}
