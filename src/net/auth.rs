//! SASL on a connection: the settings ([`SaslConfig`]), OAUTHBEARER's
//! [`TokenProvider`], and the SaslHandshake + SaslAuthenticate exchange that drives the
//! sans-I/O [`sasl`](super::sasl) machines.
//!
//! # The exchange
//!
//! After ApiVersions, the client sends SaslHandshake v1 naming its mechanism; the
//! broker answers with the mechanisms it has enabled (UNSUPPORTED_SASL_MECHANISM if
//! ours is not one). Then every SASL message travels in a SaslAuthenticate request
//! (v0-v2), the broker's answer in its response, until the mechanism is done. A
//! SaslHandshake v0 broker (Kafka before 1.0) would expect raw, unframed tokens: not
//! supported, it fails with [`ConnectionError::UnsupportedApi`].
//!
//! # Re-authentication (KIP-368)
//!
//! SaslAuthenticate v1+ carries `session_lifetime_ms`: past it, the broker closes the
//! connection at the next request that is not a SaslHandshake. The connection runs the
//! exchange again at a random point between 85 % and 95 % of the lifetime (as the Java
//! client does, so that many connections do not all re-authenticate at once), on the
//! live, pipelined connection.
//!
//! The broker reads the frames after a SaslHandshake as SASL until the exchange ends,
//! so nothing else may be *written* between the re-authentication's SaslHandshake and
//! its last SaslAuthenticate response. The transport guarantees it with a gate (a fair
//! `RwLock`): every request holds it shared only while its frame is queued for the
//! writer task, and re-authentication holds it exclusively for its whole exchange.
//! Requests written before the SaslHandshake are fine: a Kafka broker answers one
//! connection's requests in order, so their responses come back before the
//! handshake's, matched by correlation id as always. Requests made meanwhile wait
//! (within their request timeout) and go out after it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::error::ConnectionError;
use super::sasl::{ClientStep, Credentials, Mechanism, SaslClient, Secret};
use super::shared::Shared;
use super::transport::{Gate, Transport};
use super::versions::NegotiatedVersions;
use crate::protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use crate::protocol::{ApiKey, ErrorCode};

/// The most SaslAuthenticate round trips one exchange may take (SCRAM needs 2):
/// a broker that keeps asking is cut off.
const MAX_ROUNDS: usize = 8;

/// A SASL mechanism a client can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// PLAIN: the password in the clear (use it only under TLS).
    Plain,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
    /// OAUTHBEARER (RFC 7628, KIP-255) with tokens from a [`TokenProvider`].
    OAuthBearer,
}

impl SaslMechanism {
    /// The name sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = super::sasl::SaslError;

    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`, ignoring case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name.eq_ignore_ascii_case("OAUTHBEARER") {
            return Ok(SaslMechanism::OAuthBearer);
        }
        name.parse::<Mechanism>().map(SaslMechanism::from)
    }
}

impl From<Mechanism> for SaslMechanism {
    fn from(mechanism: Mechanism) -> Self {
        match mechanism {
            Mechanism::Plain => SaslMechanism::Plain,
            Mechanism::ScramSha256 => SaslMechanism::ScramSha256,
            Mechanism::ScramSha512 => SaslMechanism::ScramSha512,
        }
    }
}

/// An OAUTHBEARER token and its SASL extensions (KIP-342).
#[derive(Debug, Clone, Default)]
pub struct OAuthBearerToken {
    /// The bearer token (a JWT, usually); never printed.
    pub token: Secret,
    /// `key=value` SASL extensions sent with it.
    pub extensions: Vec<(String, String)>,
}

impl OAuthBearerToken {
    /// A token without extensions.
    pub fn new(token: impl Into<Secret>) -> Self {
        OAuthBearerToken { token: token.into(), extensions: Vec::new() }
    }
}

/// Why a [`TokenProvider`] has no token. Must not carry the token or a client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no OAUTHBEARER token: {reason}")]
pub struct TokenError {
    /// What went wrong.
    pub reason: String,
}

/// The future a [`TokenProvider`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<OAuthBearerToken, TokenError>> + Send + 'a>>;

/// Where OAUTHBEARER tokens come from: asked at every authentication and every
/// re-authentication, so it can refresh tokens before they expire (or cache them).
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A token valid now.
    fn token(&self) -> TokenFuture<'_>;
}

/// A [`TokenProvider`] that always hands out the same token (tests, long-lived tokens).
#[derive(Debug, Clone)]
pub struct StaticToken(pub OAuthBearerToken);

impl TokenProvider for StaticToken {
    fn token(&self) -> TokenFuture<'_> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

#[derive(Clone)]
enum Auth {
    Password(Mechanism, Credentials),
    OAuthBearer(Arc<dyn TokenProvider>),
}

/// SASL settings: the mechanism and what it authenticates with.
///
/// `Debug` never prints the password or token.
///
/// # Examples
///
/// ```
/// use actix_kafka::net::{SaslConfig, SaslMechanism};
///
/// let sasl = SaslConfig::scram_sha_512("alice", std::env::var("KAFKA_PASSWORD").unwrap_or_default());
/// assert_eq!(sasl.mechanism(), SaslMechanism::ScramSha512);
/// assert!(!format!("{sasl:?}").contains("KAFKA_PASSWORD"));
/// ```
#[derive(Clone)]
pub struct SaslConfig {
    auth: Auth,
    allow_plain_over_plaintext: bool,
}

impl SaslConfig {
    /// PLAIN with `username` and `password`.
    pub fn plain(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::password(Mechanism::Plain, Credentials::new(username, password))
    }

    /// SCRAM-SHA-256 with `username` and `password`.
    pub fn scram_sha_256(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::password(Mechanism::ScramSha256, Credentials::new(username, password))
    }

    /// SCRAM-SHA-512 with `username` and `password`.
    pub fn scram_sha_512(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::password(Mechanism::ScramSha512, Credentials::new(username, password))
    }

    /// A password mechanism (PLAIN or SCRAM) with `credentials`.
    pub fn password(mechanism: Mechanism, credentials: Credentials) -> Self {
        SaslConfig { auth: Auth::Password(mechanism, credentials), allow_plain_over_plaintext: false }
    }

    /// OAUTHBEARER with tokens from `provider`.
    pub fn oauthbearer(provider: Arc<dyn TokenProvider>) -> Self {
        SaslConfig { auth: Auth::OAuthBearer(provider), allow_plain_over_plaintext: false }
    }

    /// Lets PLAIN run over `sasl_plaintext`, sending the password unencrypted.
    /// Default: `false` (the connect fails with [`ConnectionError::InsecureSasl`]).
    pub fn allow_plain_over_plaintext(mut self, allow: bool) -> Self {
        self.allow_plain_over_plaintext = allow;
        self
    }

    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        match &self.auth {
            Auth::Password(mechanism, _) => (*mechanism).into(),
            Auth::OAuthBearer(_) => SaslMechanism::OAuthBearer,
        }
    }

    /// The user name, for the password mechanisms.
    pub fn username(&self) -> Option<&str> {
        match &self.auth {
            Auth::Password(_, credentials) => Some(&credentials.username),
            Auth::OAuthBearer(_) => None,
        }
    }

    /// Whether PLAIN may run without TLS.
    pub fn allows_plain_over_plaintext(&self) -> bool {
        self.allow_plain_over_plaintext
    }
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("SaslConfig");
        out.field("mechanism", &self.mechanism());
        match &self.auth {
            Auth::Password(_, credentials) => out.field("username", &credentials.username).field("password", &"***"),
            Auth::OAuthBearer(provider) => out.field("token_provider", provider),
        };
        out.field("allow_plain_over_plaintext", &self.allow_plain_over_plaintext).finish()
    }
}

impl PartialEq for SaslConfig {
    /// Same mechanism, user and password (or the same provider instance).
    fn eq(&self, other: &Self) -> bool {
        let same_auth = match (&self.auth, &other.auth) {
            (Auth::Password(m1, c1), Auth::Password(m2, c2)) => {
                m1 == m2 && c1.username == c2.username && c1.password.expose() == c2.password.expose()
            }
            (Auth::OAuthBearer(p1), Auth::OAuthBearer(p2)) => Arc::ptr_eq(p1, p2),
            _ => false,
        };
        same_auth && self.allow_plain_over_plaintext == other.allow_plain_over_plaintext
    }
}

impl Eq for SaslConfig {}

/// The SASL versions of a connection, fixed by its ApiVersions answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct SaslVersions {
    handshake: i16,
    authenticate: i16,
}

impl SaslVersions {
    /// The versions to use with this broker.
    ///
    /// # Errors
    ///
    /// [`ConnectionError::UnsupportedApi`] when the broker lists no SaslHandshake v1+
    /// or no SaslAuthenticate (not a SASL listener, or Kafka before 1.0).
    pub(super) fn negotiate(addr: &str, versions: &NegotiatedVersions) -> Result<Self, ConnectionError> {
        let unsupported = |api: ApiKey| ConnectionError::UnsupportedApi {
            addr: addr.to_owned(),
            api,
            broker: versions.broker_range(api),
            client: api.versions(),
        };
        let handshake = versions.version_for(ApiKey::SaslHandshake).filter(|v| *v >= 1);
        let handshake = handshake.ok_or_else(|| unsupported(ApiKey::SaslHandshake))?;
        let authenticate =
            versions.version_for(ApiKey::SaslAuthenticate).ok_or_else(|| unsupported(ApiKey::SaslAuthenticate))?;
        Ok(SaslVersions { handshake, authenticate })
    }
}

/// One client-side mechanism in progress.
enum Exchange {
    Password(SaslClient),
    /// OAUTHBEARER: the initial response is sent; an error challenge gets `%x01`.
    OAuthBearer {
        answered_error: bool,
    },
}

/// Runs the whole exchange on `transport` and returns the session lifetime the
/// broker announced (`None`: no lifetime, no re-authentication).
///
/// `gate` says whether the caller holds the transport's gate exclusively
/// (re-authentication) or the requests take it shared as usual.
pub(super) async fn authenticate(
    transport: &Transport,
    versions: SaslVersions,
    config: &SaslConfig,
    gate: Gate,
) -> Result<Option<Duration>, ConnectionError> {
    let addr = transport.addr();
    let mechanism = config.mechanism();
    let handshake = SaslHandshakeRequest { mechanism: mechanism.name().to_owned() };
    let answer = transport.call_decoded(&handshake, versions.handshake, gate).await?;
    match ErrorCode::from_i16(answer.error_code) {
        ErrorCode::None => {}
        ErrorCode::UnsupportedSaslMechanism => {
            return Err(ConnectionError::SaslMechanismRefused {
                addr: addr.to_owned(),
                mechanism,
                enabled: answer.mechanisms,
            })
        }
        error => return Err(sasl_refused(addr, mechanism, error, None)),
    }
    let (mut exchange, mut message) = start(config, addr).await?;
    for _ in 0..MAX_ROUNDS {
        let request = SaslAuthenticateRequest { auth_bytes: Bytes::from(message), ..Default::default() };
        let response = transport.call_decoded(&request, versions.authenticate, gate).await?;
        let error = ErrorCode::from_i16(response.error_code);
        if error != ErrorCode::None {
            return Err(sasl_refused(addr, mechanism, error, response.error_message));
        }
        match step(&mut exchange, &response.auth_bytes).map_err(|source| ConnectionError::Sasl {
            addr: addr.to_owned(),
            mechanism,
            source,
        })? {
            Some(next) => message = next,
            None => {
                let lifetime = u64::try_from(response.session_lifetime_ms).ok().filter(|ms| *ms > 0);
                tracing::debug!(broker = %addr, %mechanism, session_lifetime_ms = lifetime, "SASL authenticated");
                return Ok(lifetime.map(Duration::from_millis));
            }
        }
    }
    Err(ConnectionError::Sasl {
        addr: addr.to_owned(),
        mechanism,
        source: super::sasl::SaslError::InvalidMessage { reason: "too many SASL round trips" },
    })
}

fn sasl_refused(addr: &str, mechanism: SaslMechanism, error: ErrorCode, message: Option<String>) -> ConnectionError {
    ConnectionError::SaslAuthentication { addr: addr.to_owned(), mechanism, error, message }
}

/// The mechanism's state and its first message.
async fn start(config: &SaslConfig, addr: &str) -> Result<(Exchange, Vec<u8>), ConnectionError> {
    match &config.auth {
        Auth::Password(mechanism, credentials) => {
            let mut client = SaslClient::new(*mechanism, credentials.clone());
            let first = client.first_message().map_err(|source| ConnectionError::Sasl {
                addr: addr.to_owned(),
                mechanism: config.mechanism(),
                source,
            })?;
            Ok((Exchange::Password(client), first))
        }
        Auth::OAuthBearer(provider) => {
            let token = provider
                .token()
                .await
                .map_err(|source| ConnectionError::TokenProvider { addr: addr.to_owned(), source })?;
            Ok((Exchange::OAuthBearer { answered_error: false }, oauthbearer_initial_response(&token)))
        }
    }
}

/// RFC 7628 §3.1: `n,,` `%x01` `auth=Bearer <token>` (`%x01` `key=value`)* `%x01%x01`.
fn oauthbearer_initial_response(token: &OAuthBearerToken) -> Vec<u8> {
    let mut message = format!("n,,\x01auth=Bearer {}", token.token.expose());
    for (key, value) in &token.extensions {
        message.push('\x01');
        message.push_str(key);
        message.push('=');
        message.push_str(value);
    }
    message.push_str("\x01\x01");
    message.into_bytes()
}

/// Feeds the broker's answer to the mechanism: the next message, or `None` when done.
fn step(exchange: &mut Exchange, answer: &[u8]) -> Result<Option<Vec<u8>>, super::sasl::SaslError> {
    match exchange {
        Exchange::Password(client) => match client.on_server_message(answer)? {
            ClientStep::Send(next) => Ok(Some(next)),
            ClientStep::Done => Ok(None),
        },
        // Success is an empty answer; an error challenge (JSON) is acknowledged with
        // %x01, after which the broker answers with the error (RFC 7628 §3.2.2).
        Exchange::OAuthBearer { answered_error } if answer.is_empty() && !*answered_error => Ok(None),
        Exchange::OAuthBearer { answered_error } if !*answered_error => {
            *answered_error = true;
            Ok(Some(vec![0x01]))
        }
        Exchange::OAuthBearer { .. } => Err(super::sasl::SaslError::AuthenticationFailed),
    }
}

/// When to re-authenticate a session of `lifetime`: at `(85 + jitter % 11) %` of it.
pub(super) fn reauthentication_delay(lifetime: Duration, jitter: u8) -> Duration {
    let percent = 85 + u32::from(jitter % 11);
    lifetime * percent / 100
}

/// Re-authenticates the connection before each session expires, until the
/// connection closes or its last handle is gone. A failed re-authentication closes
/// the connection with its cause.
pub(super) async fn reauthenticate_periodically(
    transport: Weak<Transport>,
    shared: Arc<Shared>,
    versions: SaslVersions,
    config: SaslConfig,
    mut lifetime: Duration,
) {
    let mut shutdown = shared.shutdown_signal();
    loop {
        let jitter = super::sasl::random_bytes::<1>().map_or(5, |[byte]| byte);
        let delay = reauthentication_delay(lifetime, jitter);
        tokio::select! {
            _ = shutdown.wait_for(|closed| *closed) => return,
            () = tokio::time::sleep(delay) => {}
        }
        let Some(transport) = transport.upgrade() else { return };
        let result = {
            let _exclusive = transport.gate_exclusive().await;
            tracing::debug!(broker = %transport.addr(), "re-authenticating (KIP-368)");
            authenticate(&transport, versions, &config, Gate::Held).await
        };
        match result {
            Ok(Some(next)) => lifetime = next,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(broker = %transport.addr(), %error, "re-authentication failed: closing the connection");
                shared.fail(error);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reauthentication_is_due_between_85_and_95_percent_of_the_lifetime() {
        let lifetime = Duration::from_secs(100);
        let delays: Vec<_> = (0..=255u8).map(|jitter| reauthentication_delay(lifetime, jitter)).collect();
        assert_eq!(delays.iter().min(), Some(&Duration::from_secs(85)));
        assert_eq!(delays.iter().max(), Some(&Duration::from_secs(95)));
    }

    #[test]
    fn the_oauthbearer_initial_response_follows_rfc_7628() {
        let token = OAuthBearerToken {
            token: Secret::new("abc.def."),
            extensions: vec![("traceId".to_owned(), "42".to_owned())],
        };
        assert_eq!(oauthbearer_initial_response(&token), b"n,,\x01auth=Bearer abc.def.\x01traceId=42\x01\x01");
        let mut exchange = Exchange::OAuthBearer { answered_error: false };
        assert_eq!(step(&mut exchange, b"").unwrap(), None);
        let mut failing = Exchange::OAuthBearer { answered_error: false };
        assert_eq!(step(&mut failing, br#"{"status":"invalid_token"}"#).unwrap(), Some(vec![1]));
        assert!(step(&mut failing, b"").is_err());
    }

    #[test]
    fn debug_hides_the_password_and_equality_compares_it() {
        let sasl = SaslConfig::scram_sha_256("alice", "hunter2");
        let printed = format!("{sasl:?}");
        assert!(printed.contains("alice") && !printed.contains("hunter2"), "{printed}");
        assert_eq!(sasl, SaslConfig::scram_sha_256("alice", "hunter2"));
        assert_ne!(sasl, SaslConfig::scram_sha_256("alice", "other"));
        assert_ne!(sasl, SaslConfig::scram_sha_512("alice", "hunter2"));
    }

    #[test]
    fn mechanism_names_parse() {
        assert_eq!("oauthbearer".parse::<SaslMechanism>(), Ok(SaslMechanism::OAuthBearer));
        assert_eq!("scram-sha-512".parse::<SaslMechanism>(), Ok(SaslMechanism::ScramSha512));
        assert!("GSSAPI".parse::<SaslMechanism>().is_err());
    }
}
