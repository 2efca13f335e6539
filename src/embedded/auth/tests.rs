use super::*;
use crate::net::sasl::{ClientStep, Credentials, SaslClient};
use crate::protocol::frame::encode_request;

fn listener(mechanisms: &[SaslMechanism], lifetime: Option<Duration>) -> ListenerSasl {
    let settings = SaslSettings {
        mechanisms: mechanisms.to_vec(),
        users: vec![("alice".to_owned(), Secret::new("pw"))],
        session_lifetime: lifetime,
    };
    ListenerSasl::new(&settings).unwrap()
}

fn frame<R: crate::protocol::Request>(request: &R, version: i16) -> Bytes {
    let framed = encode_request(request, version, 1, Some("test")).unwrap();
    Bytes::copy_from_slice(&framed[4..])
}

fn answer<R: crate::protocol::Decode>(answer: &SaslAnswer, api: ApiKey, version: i16) -> R {
    let mut bytes = Bytes::copy_from_slice(&answer.frame.as_ref().expect("an answer")[4..]);
    crate::protocol::ResponseHeader::decode(&mut bytes, api.response_header_version(version)).unwrap();
    R::decode(&mut bytes, version).unwrap()
}

/// Runs a whole SCRAM login through the authenticator; the last answer.
fn login(auth: &mut Authenticator, password: &str, now: Instant) -> SaslAuthenticateResponse {
    let handshake = SaslHandshakeRequest { mechanism: "SCRAM-SHA-256".into() };
    let reply = auth.handle(frame(&handshake, 1), now);
    assert!(!reply.close);
    let mut client = SaslClient::new(Mechanism::ScramSha256, Credentials::new("alice", password));
    let mut message = client.first_message().unwrap();
    loop {
        let request = SaslAuthenticateRequest { auth_bytes: Bytes::from(message), ..Default::default() };
        let reply = auth.handle(frame(&request, 2), now);
        let response: SaslAuthenticateResponse = answer(&reply, ApiKey::SaslAuthenticate, 2);
        if response.error_code != 0 {
            assert!(reply.close, "a refusal closes the connection");
            return response;
        }
        match client.on_server_message(&response.auth_bytes).unwrap() {
            ClientStep::Send(next) => message = next,
            ClientStep::Done => return response,
        }
    }
}

#[test]
fn only_sasl_and_api_versions_are_admitted_before_authentication() {
    let auth = Authenticator::new(Some(listener(&[SaslMechanism::ScramSha256], None)));
    let now = Instant::now();
    assert_eq!(auth.admit(ApiKey::ApiVersions, now), Admit::Serve);
    assert_eq!(auth.admit(ApiKey::SaslHandshake, now), Admit::Sasl);
    assert!(matches!(auth.admit(ApiKey::Metadata, now), Admit::Close(_)));
    assert!(matches!(auth.admit(ApiKey::Produce, now), Admit::Close(_)));
    assert_eq!(auth.max_frame_size(100 << 20), PRE_AUTH_MAX_FRAME);
    let open = Authenticator::new(None);
    assert_eq!(open.admit(ApiKey::Metadata, now), Admit::Serve);
    assert_eq!(open.max_frame_size(100 << 20), 100 << 20);
}

#[test]
fn a_scram_login_authenticates_and_a_wrong_password_is_refused_without_secrets() {
    let now = Instant::now();
    let mut auth = Authenticator::new(Some(listener(&[SaslMechanism::ScramSha256], None)));
    let done = login(&mut auth, "pw", now);
    assert_eq!((done.error_code, done.session_lifetime_ms), (0, 0));
    assert_eq!(auth.admit(ApiKey::Metadata, now), Admit::Serve);
    assert_eq!(auth.max_frame_size(100 << 20), 100 << 20);

    let mut refused = Authenticator::new(Some(listener(&[SaslMechanism::ScramSha256], None)));
    let failed = login(&mut refused, "not-the-password", now);
    assert_eq!(failed.error_code, ErrorCode::SaslAuthenticationFailed.code());
    let message = failed.error_message.unwrap();
    assert!(!message.contains("not-the-password") && !message.contains("pw"), "{message}");
}

#[test]
fn an_unknown_mechanism_is_answered_with_the_enabled_ones_and_closed() {
    let mut auth = Authenticator::new(Some(listener(&[SaslMechanism::ScramSha512], None)));
    let handshake = SaslHandshakeRequest { mechanism: "PLAIN".into() };
    let reply = auth.handle(frame(&handshake, 1), Instant::now());
    assert!(reply.close);
    let response: SaslHandshakeResponse = answer(&reply, ApiKey::SaslHandshake, 1);
    assert_eq!(response.error_code, ErrorCode::UnsupportedSaslMechanism.code());
    assert_eq!(response.mechanisms, ["SCRAM-SHA-512"]);
    let v0 = auth.handle(frame(&SaslHandshakeRequest { mechanism: "SCRAM-SHA-512".into() }, 0), Instant::now());
    assert!(v0.close, "raw v0 tokens are not served");
    let refusal: SaslHandshakeResponse = answer(&v0, ApiKey::SaslHandshake, 0);
    assert_eq!(refusal.error_code, ErrorCode::UnsupportedVersion.code());
}

#[test]
fn an_expired_session_admits_only_reauthentication() {
    let lifetime = Duration::from_secs(60);
    let mut auth = Authenticator::new(Some(listener(&[SaslMechanism::ScramSha256], Some(lifetime))));
    let start = Instant::now();
    assert_eq!(login(&mut auth, "pw", start).session_lifetime_ms, 60_000);
    assert_eq!(auth.admit(ApiKey::Fetch, start + lifetime / 2), Admit::Serve);
    let later = start + lifetime + Duration::from_millis(1);
    assert!(matches!(auth.admit(ApiKey::Fetch, later), Admit::Close(_)));
    assert_eq!(auth.admit(ApiKey::SaslHandshake, later), Admit::Sasl);
    assert_eq!(login(&mut auth, "pw", later).error_code, 0, "re-authentication on the same connection");
    assert_eq!(auth.admit(ApiKey::Fetch, later), Admit::Serve, "a new session");
}

#[test]
fn unsecured_oauthbearer_tokens_are_checked() {
    use base64::Engine;
    let encode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let now = SystemTime::now();
    let exp = now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 100;
    let token =
        |header: &str, payload: &str| format!("n,,\x01auth=Bearer {}.{}.\x01\x01", encode(header), encode(payload));
    let good = token(r#"{"alg":"none"}"#, &format!(r#"{{"sub": "alice", "exp": {exp}}}"#));
    let (user, expires) = validate_unsecured_token(good.as_bytes(), now).unwrap();
    assert_eq!(user, "alice");
    assert!(expires > now);
    let expired = token(r#"{"alg":"none"}"#, r#"{"sub":"alice","exp":1000}"#);
    assert_eq!(validate_unsecured_token(expired.as_bytes(), now), Err("token expired"));
    let signed = token(r#"{"alg":"RS256"}"#, &format!(r#"{{"sub":"alice","exp":{exp}}}"#));
    assert!(validate_unsecured_token(signed.as_bytes(), now).is_err());
    assert!(validate_unsecured_token(b"garbage", now).is_err());
}

#[test]
fn users_files_parse_and_bad_lines_are_named_without_their_password() {
    let users = parse_users("# users\nalice:pw:with:colons\n\n bob :x\r\n").unwrap();
    let names: Vec<_> = users.iter().map(|(u, p)| (u.as_str(), p.expose())).collect();
    assert_eq!(names, [("alice", "pw:with:colons"), ("bob", "x")]);
    let error = parse_users("alice:ok\nno-colon-secret\n").unwrap_err().to_string();
    assert!(error.contains("line 2") && !error.contains("no-colon-secret"), "{error}");
}
