//! SASL on a listener: which mechanisms and users, and each session's authentication
//! state as a plain state machine the session loop consults before every request.
//!
//! # Before authentication
//!
//! Only ApiVersions, SaslHandshake (v1: every SASL message then travels in a
//! SaslAuthenticate frame; a v0 handshake, which raw tokens would follow, is answered
//! UNSUPPORTED_VERSION and closed) and SaslAuthenticate are served; any other request closes the connection, and so does a frame over
//! [`PRE_AUTH_MAX_FRAME`] (Kafka's `sasl.server.max.receive.size`, 512 KiB), so an
//! unauthenticated client cannot make the broker buffer much. Wrong credentials get
//! SASL_AUTHENTICATION_FAILED with a message naming the mechanism only, then the
//! connection closes.
//!
//! # Sessions and re-authentication (KIP-368)
//!
//! With a session lifetime set, SaslAuthenticate v1+ answers carry it. The client may
//! re-authenticate on the live connection (SaslHandshake + SaslAuthenticate again, as
//! the same user); once the session has expired, any other request closes the
//! connection, as Kafka does.
//!
//! # OAUTHBEARER
//!
//! For tests, like Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler`: the token
//! must be an unsecured JWS (`alg` `none`) whose payload has a `sub` and an `exp` in
//! the future; its principal is `sub`, and the session ends at `exp` at the latest.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};

use super::error::EmbeddedError;
use crate::net::sasl::{Mechanism, SaslServer, Secret, ServerStep, StaticUsers};
use crate::net::SaslMechanism;
use crate::protocol::api_key::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::frame::{decode_exact, encode_response};
use crate::protocol::header::RequestHeader;
use crate::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

/// The largest request frame accepted before authentication, in bytes.
pub(crate) const PRE_AUTH_MAX_FRAME: usize = 512 * 1024;

/// A listener's SASL settings, as given to the builder.
#[derive(Debug, Clone)]
pub(crate) struct SaslSettings {
    pub mechanisms: Vec<SaslMechanism>,
    pub users: Vec<(String, Secret)>,
    pub session_lifetime: Option<Duration>,
}

/// Parses a users file: one `user:password` per line; blank lines and `#` comments
/// are skipped. The password is everything after the first `:`.
///
/// # Errors
///
/// [`EmbeddedError::InvalidConfig`] naming the line (never its password) when a line
/// has no `:` or an empty user name.
pub fn parse_users(text: &str) -> Result<Vec<(String, Secret)>, EmbeddedError> {
    let mut users = Vec::new();
    for (number, line) in (1..).zip(text.lines()) {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, password)) if !user.trim().is_empty() => {
                users.push((user.trim().to_owned(), Secret::new(password)));
            }
            _ => {
                return Err(EmbeddedError::InvalidConfig {
                    reason: format!("users file line {number} is not user:password"),
                })
            }
        }
    }
    Ok(users)
}

/// The SASL side of a listener, ready to serve: the user store is built (SCRAM
/// credentials derived with a random salt and 4096 iterations) once, at start.
#[derive(Debug, Clone)]
pub(crate) struct ListenerSasl {
    mechanisms: Vec<SaslMechanism>,
    store: Arc<StaticUsers>,
    session_lifetime: Option<Duration>,
}

impl ListenerSasl {
    /// Builds the store.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::InvalidConfig`] for no mechanism, or when no salt can be drawn.
    pub(crate) fn new(settings: &SaslSettings) -> Result<Self, EmbeddedError> {
        if settings.mechanisms.is_empty() {
            return Err(EmbeddedError::InvalidConfig { reason: "SASL needs at least one mechanism".to_owned() });
        }
        let passwords: HashMap<String, Secret> = settings.users.iter().cloned().collect();
        let store = StaticUsers::new(passwords)
            .map_err(|error| EmbeddedError::InvalidConfig { reason: format!("SASL users: {error}") })?;
        Ok(ListenerSasl {
            mechanisms: settings.mechanisms.clone(),
            store: Arc::new(store),
            session_lifetime: settings.session_lifetime,
        })
    }
}

/// What the session does with a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Dispatch it as usual.
    Serve,
    /// A SASL request: [`Authenticator::handle`] answers it.
    Sasl,
    /// Close the connection without answering.
    Close(&'static str),
}

/// An answer to a SASL request, and whether to close the connection after it.
pub(crate) struct SaslAnswer {
    pub frame: Option<BytesMut>,
    pub close: bool,
}

enum Exchange {
    /// Boxed: the server state is large and the other variant a flag.
    Password(Box<SaslServer>),
    /// Waiting for the client's `%x01` after an OAUTHBEARER error challenge.
    OAuthBearer { failed: bool },
}

enum State {
    /// The listener has no SASL: everything is served.
    Open,
    AwaitingHandshake,
    Authenticating {
        mechanism: SaslMechanism,
        exchange: Exchange,
        previous: Option<String>,
    },
    Authenticated {
        user: String,
        expires: Option<Instant>,
    },
}

/// One connection's authentication state.
pub(crate) struct Authenticator {
    sasl: Option<ListenerSasl>,
    state: State,
}

impl Authenticator {
    /// The state of a new connection on a listener with (or without) SASL.
    pub(crate) fn new(sasl: Option<ListenerSasl>) -> Self {
        let state = if sasl.is_some() { State::AwaitingHandshake } else { State::Open };
        Authenticator { sasl, state }
    }

    /// Whether the listener offers SASL (ApiVersions then lists the SASL APIs).
    pub(crate) fn offers_sasl(&self) -> bool {
        self.sasl.is_some()
    }

    /// The largest frame to read next: [`PRE_AUTH_MAX_FRAME`] until authenticated.
    pub(crate) fn max_frame_size(&self, configured: usize) -> usize {
        match self.state {
            State::Open | State::Authenticated { .. } => configured,
            _ => configured.min(PRE_AUTH_MAX_FRAME),
        }
    }

    /// Whether and how to serve a request of `api` arriving at `now`.
    pub(crate) fn admit(&self, api: ApiKey, now: Instant) -> Admit {
        let sasl_api = matches!(api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
        match &self.state {
            State::Open => Admit::Serve,
            State::Authenticated { expires, .. } => match api {
                ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => Admit::Sasl,
                _ if expires.is_some_and(|at| now >= at) => Admit::Close("the SASL session expired"),
                _ => Admit::Serve,
            },
            State::AwaitingHandshake if api == ApiKey::ApiVersions => Admit::Serve,
            State::AwaitingHandshake | State::Authenticating { .. } if sasl_api => Admit::Sasl,
            _ => Admit::Close("request before SASL authentication"),
        }
    }

    /// Answers a SaslHandshake or SaslAuthenticate request (frame without its size
    /// prefix) arriving at `now`.
    pub(crate) fn handle(&mut self, mut frame: Bytes, now: Instant) -> SaslAnswer {
        let close = SaslAnswer { frame: None, close: true };
        let Ok(header) = RequestHeader::decode(&mut frame) else { return close };
        let version = header.api_version;
        match ApiKey::from_i16(header.api_key) {
            // v0 would mean raw SASL tokens after the handshake: not served.
            Some(ApiKey::SaslHandshake) if version == 0 => {
                handshake_answer(&header, ErrorCode::UnsupportedVersion, Vec::new(), true)
            }
            Some(ApiKey::SaslHandshake) => match decode_exact::<SaslHandshakeRequest>(&mut frame, version) {
                Ok(request) => self.on_handshake(&header, &request),
                Err(_) => close,
            },
            Some(ApiKey::SaslAuthenticate) => match decode_exact::<SaslAuthenticateRequest>(&mut frame, version) {
                Ok(request) => self.on_authenticate(&header, &request.auth_bytes, now),
                Err(_) => close,
            },
            _ => close,
        }
    }

    fn on_handshake(&mut self, header: &RequestHeader, request: &SaslHandshakeRequest) -> SaslAnswer {
        let Some(sasl) = &self.sasl else { return SaslAnswer { frame: None, close: true } };
        let enabled: Vec<String> = sasl.mechanisms.iter().map(|m| m.name().to_owned()).collect();
        let previous = match &self.state {
            State::AwaitingHandshake => None,
            State::Authenticated { user, .. } => Some(user.clone()),
            _ => return handshake_answer(header, ErrorCode::IllegalSaslState, enabled, true),
        };
        let chosen = request.mechanism.parse::<SaslMechanism>().ok().filter(|m| sasl.mechanisms.contains(m));
        let Some(mechanism) = chosen else {
            return handshake_answer(header, ErrorCode::UnsupportedSaslMechanism, enabled, true);
        };
        let exchange = match password_mechanism(mechanism) {
            Some(password) => Exchange::Password(Box::new(SaslServer::new(password, sasl.store.clone()))),
            None => Exchange::OAuthBearer { failed: false },
        };
        self.state = State::Authenticating { mechanism, exchange, previous };
        handshake_answer(header, ErrorCode::None, enabled, false)
    }

    fn on_authenticate(&mut self, header: &RequestHeader, message: &[u8], now: Instant) -> SaslAnswer {
        let lifetime = self.sasl.as_ref().and_then(|sasl| sasl.session_lifetime);
        let State::Authenticating { mechanism, exchange, previous } = &mut self.state else {
            return authenticate_answer(header, Err((ErrorCode::IllegalSaslState, "no SaslHandshake first")), None);
        };
        let mechanism = *mechanism;
        let step = match exchange {
            Exchange::Password(server) => match server.on_client_message(message) {
                Ok(ServerStep::Send(next)) => Step::Continue(next),
                Ok(ServerStep::Done { user, answer }) => Step::Done { user, answer, expires_at: None },
                Err(error) => {
                    tracing::debug!(%mechanism, %error, "SASL authentication failed");
                    Step::Failed
                }
            },
            Exchange::OAuthBearer { failed } if *failed => Step::Failed,
            Exchange::OAuthBearer { failed } => match validate_unsecured_token(message, SystemTime::now()) {
                Ok((user, expires_at)) => Step::Done { user, answer: Vec::new(), expires_at: Some(expires_at) },
                Err(reason) => {
                    tracing::debug!(reason, "OAUTHBEARER token refused");
                    *failed = true;
                    Step::Continue(br#"{"status":"invalid_token"}"#.to_vec())
                }
            },
        };
        match step {
            Step::Continue(next) => authenticate_answer(header, Ok(next), None),
            Step::Done { user, .. } if previous.as_ref().is_some_and(|p| *p != user) => {
                let refusal = (ErrorCode::SaslAuthenticationFailed, "re-authentication must keep the same user");
                authenticate_answer(header, Err(refusal), None)
            }
            Step::Done { user, answer, expires_at } => {
                let token_left = expires_at.map(|at| at.duration_since(SystemTime::now()).unwrap_or_default());
                let session = match (lifetime, token_left) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                tracing::debug!(%mechanism, %user, "SASL authenticated");
                self.state = State::Authenticated { user, expires: session.map(|s| now + s) };
                authenticate_answer(header, Ok(answer), session)
            }
            Step::Failed => {
                let message = match mechanism {
                    SaslMechanism::OAuthBearer => "invalid OAUTHBEARER token",
                    _ => "invalid credentials",
                };
                authenticate_answer(header, Err((ErrorCode::SaslAuthenticationFailed, message)), None)
            }
        }
    }
}

enum Step {
    Continue(Vec<u8>),
    Done { user: String, answer: Vec<u8>, expires_at: Option<SystemTime> },
    Failed,
}

fn password_mechanism(mechanism: SaslMechanism) -> Option<Mechanism> {
    match mechanism {
        SaslMechanism::Plain => Some(Mechanism::Plain),
        SaslMechanism::ScramSha256 => Some(Mechanism::ScramSha256),
        SaslMechanism::ScramSha512 => Some(Mechanism::ScramSha512),
        _ => None,
    }
}

fn handshake_answer(header: &RequestHeader, error: ErrorCode, mechanisms: Vec<String>, close: bool) -> SaslAnswer {
    let response = SaslHandshakeResponse { error_code: error.code(), mechanisms };
    let frame = encode_response(&response, ApiKey::SaslHandshake, header.api_version, header.correlation_id).ok();
    SaslAnswer { close: close || frame.is_none(), frame }
}

/// A SaslAuthenticate answer: the next server message, or a refusal (then close).
fn authenticate_answer(
    header: &RequestHeader,
    result: Result<Vec<u8>, (ErrorCode, &'static str)>,
    session: Option<Duration>,
) -> SaslAnswer {
    let (response, close) = match result {
        Ok(bytes) => {
            let session_lifetime_ms = session.map_or(0, |s| i64::try_from(s.as_millis()).unwrap_or(i64::MAX));
            (
                SaslAuthenticateResponse { auth_bytes: Bytes::from(bytes), session_lifetime_ms, ..Default::default() },
                false,
            )
        }
        Err((error, reason)) => {
            let message = format!("Authentication failed: {reason}");
            (
                SaslAuthenticateResponse {
                    error_code: error.code(),
                    error_message: Some(message),
                    ..Default::default()
                },
                true,
            )
        }
    };
    let frame = encode_response(&response, ApiKey::SaslAuthenticate, header.api_version, header.correlation_id).ok();
    SaslAnswer { close: close || frame.is_none(), frame }
}

/// Checks an OAUTHBEARER initial response carrying an unsecured JWS; returns its
/// `sub` and `exp`.
fn validate_unsecured_token(message: &[u8], now: SystemTime) -> Result<(String, SystemTime), &'static str> {
    use base64::Engine;
    let message = std::str::from_utf8(message).map_err(|_| "not UTF-8")?;
    let rest = message.strip_prefix("n,").ok_or("no GS2 header")?;
    let (_authzid, rest) = rest.split_once(',').ok_or("no GS2 header")?;
    let token = rest.split('\x01').find_map(|pair| pair.strip_prefix("auth=Bearer ")).ok_or("no auth=Bearer")?;
    let mut parts = token.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else { return Err("not a JWS") };
    let decode = |part: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('='));
    let header = String::from_utf8(decode(header).map_err(|_| "bad header")?).map_err(|_| "bad header")?;
    let payload = String::from_utf8(decode(payload).map_err(|_| "bad payload")?).map_err(|_| "bad payload")?;
    if json_string(&header, "alg").as_deref() != Some("none") {
        return Err("alg is not none");
    }
    let subject = json_string(&payload, "sub").filter(|s| !s.is_empty()).ok_or("no sub")?;
    let expires = json_number(&payload, "exp").ok_or("no exp")?;
    // `exp` is in seconds (Kafka's unsecured tokens may carry a fraction).
    let expires_at = UNIX_EPOCH + Duration::try_from_secs_f64(expires).map_err(|_| "bad exp")?;
    if expires_at <= now {
        return Err("token expired");
    }
    Ok((subject, expires_at))
}

/// The string value of `"key": "value"` in a flat JSON object (no escapes).
fn json_string(json: &str, key: &str) -> Option<String> {
    let value = json_value(json, key)?.strip_prefix('"')?;
    value.split_once('"').map(|(s, _)| s.to_owned())
}

/// The number value of `"key": 123.4` in a flat JSON object.
fn json_number(json: &str, key: &str) -> Option<f64> {
    let value = json_value(json, key)?;
    let end =
        value.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+'))).unwrap_or(value.len());
    value[..end].parse().ok()
}

fn json_value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    let at = json.find(&quoted)? + quoted.len();
    json[at..].trim_start().strip_prefix(':').map(str::trim_start)
}

#[cfg(test)]
mod tests;
