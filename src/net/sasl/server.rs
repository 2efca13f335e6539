//! The server side: PLAIN and SCRAM as a state machine fed with the client's messages.

use std::fmt;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

use super::scram::{self, Hash};
use super::store::{DEFAULT_ITERATIONS, SALT_LENGTH};
use super::{random_bytes, Mechanism, SaslError, ScramCredential, UserStore};

/// What the server does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    /// Send these bytes in the SaslAuthenticate response; the exchange goes on.
    Send(Vec<u8>),
    /// `user` is authenticated; send `answer` (SCRAM's server-final, PLAIN's nothing).
    Done {
        /// The authenticated user.
        user: String,
        /// The last bytes to send.
        answer: Vec<u8>,
    },
}

/// A server's SASL exchange, one per connection.
pub struct SaslServer {
    mechanism: Mechanism,
    store: Arc<dyn UserStore + Send + Sync>,
    state: State,
}

enum State {
    Initial,
    FirstSent(Exchange),
    Over,
}

/// What the server remembers between server-first and client-final.
struct Exchange {
    hash: Hash,
    user: String,
    /// `false` for an unknown user: the exchange goes on with a fake credential and fails.
    known: bool,
    credential: ScramCredential,
    gs2_header: String,
    combined_nonce: String,
    /// `client-first-bare "," server-first`, the start of the AuthMessage.
    auth_prefix: String,
}

impl SaslServer {
    /// A server for `mechanism` checking users against `store`.
    pub fn new(mechanism: Mechanism, store: Arc<dyn UserStore + Send + Sync>) -> Self {
        SaslServer { mechanism, store, state: State::Initial }
    }

    /// Answers the client's `message`.
    ///
    /// # Errors
    ///
    /// [`SaslError::AuthenticationFailed`] for a wrong password or unknown user,
    /// [`SaslError::NonceMismatch`] for a client-final that does not carry exactly the
    /// combined nonce, [`SaslError::Random`], or [`SaslError::InvalidMessage`] for anything
    /// malformed or unexpected. After an error the exchange is over.
    pub fn on_client_message(&mut self, message: &[u8]) -> Result<ServerStep, SaslError> {
        match std::mem::replace(&mut self.state, State::Over) {
            State::Initial if self.mechanism == Mechanism::Plain => self.on_plain(message),
            State::Initial => self.on_client_first(message),
            State::FirstSent(exchange) => on_client_final(message, &exchange),
            State::Over => Err(SaslError::InvalidMessage { reason: "exchange is over" }),
        }
    }

    fn on_plain(&self, message: &[u8]) -> Result<ServerStep, SaslError> {
        const REASON: &str = "PLAIN is not authzid NUL authcid NUL passwd";
        let mut parts = message.split(|&b| b == 0);
        let (Some(authzid), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SaslError::InvalidMessage { reason: REASON });
        };
        let user = scram::utf8(user)?;
        if user.is_empty() {
            return Err(SaslError::InvalidMessage { reason: "PLAIN user name is empty" });
        }
        if !authzid.is_empty() && authzid != user.as_bytes() {
            return Err(SaslError::AuthenticationFailed);
        }
        let expected = self.store.plain_password(user);
        // Compare digests so that neither the content nor the length leaks through timing.
        let expected_digest = Sha256::digest(expected.map_or("", |secret| secret.expose()));
        let matches = scram::constant_time_eq(&expected_digest, &Sha256::digest(password));
        if expected.is_none() || !matches {
            return Err(SaslError::AuthenticationFailed);
        }
        Ok(ServerStep::Done { user: user.to_owned(), answer: Vec::new() })
    }

    fn on_client_first(&mut self, message: &[u8]) -> Result<ServerStep, SaslError> {
        const REASON: &str = "client-first is not gs2-header n=…,r=…";
        let hash = Hash::of(self.mechanism)?;
        let client_first = scram::utf8(message)?;
        let (flag, rest) = client_first.split_once(',').ok_or(SaslError::InvalidMessage { reason: REASON })?;
        match flag {
            "n" | "y" => {}
            _ if flag.starts_with("p=") => {
                return Err(SaslError::InvalidMessage { reason: "channel binding not supported" })
            }
            _ => return Err(SaslError::InvalidMessage { reason: "bad GS2 channel binding flag" }),
        }
        let (authzid, bare) = rest.split_once(',').ok_or(SaslError::InvalidMessage { reason: REASON })?;
        if bare.starts_with("m=") {
            return Err(SaslError::InvalidMessage { reason: "mandatory extension not supported" });
        }
        let (user, tail) = scram::take_attribute(Some(bare), 'n', REASON)?;
        let (client_nonce, _extensions) = scram::take_attribute(tail, 'r', REASON)?;
        let user = scram::unescape_username(user)?;
        scram::check_nonce(client_nonce)?;
        if !authzid.is_empty() {
            let authzid = authzid.strip_prefix("a=").ok_or(SaslError::InvalidMessage { reason: REASON })?;
            if scram::unescape_username(authzid)? != user {
                return Err(SaslError::AuthenticationFailed);
            }
        }
        let (known, credential) = match self.store.scram(self.mechanism, &user) {
            Some(credential) => (true, credential),
            None => (false, fake_credential(self.mechanism, hash, &user)?),
        };
        let combined_nonce = format!("{client_nonce}{}", super::random_nonce()?);
        let server_first =
            format!("r={combined_nonce},s={},i={}", scram::base64_encode(&credential.salt), credential.iterations);
        self.state = State::FirstSent(Exchange {
            hash,
            user,
            known,
            credential,
            gs2_header: client_first[..flag.len() + authzid.len() + 2].to_owned(),
            combined_nonce,
            auth_prefix: format!("{bare},{server_first}"),
        });
        Ok(ServerStep::Send(server_first.into_bytes()))
    }
}

/// Checks client-final: channel binding, nonce (CVE-2024-56128), then the proof.
fn on_client_final(message: &[u8], exchange: &Exchange) -> Result<ServerStep, SaslError> {
    const REASON: &str = "client-final is not c=…,r=…,p=…";
    let client_final = scram::utf8(message)?;
    let (binding, rest) = scram::take_attribute(Some(client_final), 'c', REASON)?;
    let (nonce, _) = scram::take_attribute(rest, 'r', REASON)?;
    let (without_proof, proof) = client_final.rsplit_once(",p=").ok_or(SaslError::InvalidMessage { reason: REASON })?;
    if scram::base64_decode(binding)? != exchange.gs2_header.as_bytes() {
        return Err(SaslError::InvalidMessage { reason: "channel binding does not echo the GS2 header" });
    }
    if nonce != exchange.combined_nonce {
        return Err(SaslError::NonceMismatch);
    }
    let proof = scram::base64_decode(proof)?;
    let hash = exchange.hash;
    let credential = &exchange.credential;
    let auth_message = format!("{},{without_proof}", exchange.auth_prefix);
    let client_signature = hash.hmac(&credential.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return Err(SaslError::AuthenticationFailed);
    }
    let client_key = scram::xor(&proof, &client_signature);
    let matches = scram::constant_time_eq(&hash.digest(&client_key), &credential.stored_key);
    if !(matches && exchange.known) {
        return Err(SaslError::AuthenticationFailed);
    }
    let signature = hash.hmac(&credential.server_key, auth_message.as_bytes());
    let answer = format!("v={}", scram::base64_encode(&signature)).into_bytes();
    Ok(ServerStep::Done { user: exchange.user.clone(), answer })
}

/// A credential for a user that does not exist, stable across attempts (so probing twice
/// does not give it away) and useless: its keys are not derived from any password.
fn fake_credential(mechanism: Mechanism, hash: Hash, user: &str) -> Result<ScramCredential, SaslError> {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let key = match KEY.get() {
        Some(key) => key,
        None => {
            let fresh = random_bytes::<32>()?;
            KEY.get_or_init(|| fresh)
        }
    };
    let seed = hash.hmac(key, format!("{}\0{user}", mechanism.name()).as_bytes());
    Ok(ScramCredential {
        salt: seed[..SALT_LENGTH].to_vec(),
        iterations: DEFAULT_ITERATIONS,
        stored_key: hash.hmac(&seed, b"stored key"),
        server_key: hash.hmac(&seed, b"server key"),
    })
}

impl fmt::Debug for SaslServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslServer").field("mechanism", &self.mechanism).finish_non_exhaustive()
    }
}
