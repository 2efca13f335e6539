use std::sync::{Arc, OnceLock};

use proptest::prelude::*;

use super::*;

const PASSWORD: &str = "Tr0ub4dor&3-distinctive";

/// One store for every test: deriving credentials costs PBKDF2 rounds.
fn store() -> Arc<StaticUsers> {
    static STORE: OnceLock<Arc<StaticUsers>> = OnceLock::new();
    STORE
        .get_or_init(|| Arc::new(StaticUsers::from_pairs([("alice", PASSWORD), ("bob,=x", "bob-pw")]).unwrap()))
        .clone()
}

fn new_server(mechanism: Mechanism) -> SaslServer {
    SaslServer::new(mechanism, store())
}

fn new_client(mechanism: Mechanism, user: &str, password: &str) -> SaslClient {
    SaslClient::new(mechanism, Credentials::new(user, password))
}

fn send(step: Result<ClientStep, SaslError>) -> Vec<u8> {
    match step.unwrap() {
        ClientStep::Send(bytes) => bytes,
        ClientStep::Done => panic!("expected a message"),
    }
}

fn server_send(step: Result<ServerStep, SaslError>) -> Vec<u8> {
    match step.unwrap() {
        ServerStep::Send(bytes) => bytes,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Runs a full exchange; returns the authenticated user or the first error, with its side.
fn exchange(mechanism: Mechanism, user: &str, password: &str) -> Result<String, (&'static str, SaslError)> {
    let mut client = new_client(mechanism, user, password);
    let mut server = new_server(mechanism);
    let mut message = client.first_message().map_err(|e| ("client", e))?;
    loop {
        match server.on_client_message(&message).map_err(|e| ("server", e))? {
            ServerStep::Send(bytes) => {
                message = match client.on_server_message(&bytes).map_err(|e| ("client", e))? {
                    ClientStep::Send(bytes) => bytes,
                    ClientStep::Done => panic!("client done before the server"),
                };
            }
            ServerStep::Done { user, answer } => {
                let step = client.on_server_message(&answer).map_err(|e| ("client", e))?;
                assert_eq!(step, ClientStep::Done);
                return Ok(user);
            }
        }
    }
}

const ALL: [Mechanism; 3] = [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512];

#[test]
fn rfc7677_scram_sha_256_test_vector() {
    let credentials = Credentials::new("user", "pencil");
    let mut client = SaslClient::with_nonce(Mechanism::ScramSha256, credentials, "rOprNGfwEbeRWgbNEkqO");
    assert_eq!(client.first_message().unwrap(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final = send(client.on_server_message(server_first));
    assert_eq!(
        String::from_utf8(client_final).unwrap(),
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    let server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    assert_eq!(client.on_server_message(server_final).unwrap(), ClientStep::Done);
}

#[test]
fn rfc7677_bad_server_signature_is_refused() {
    let credentials = Credentials::new("user", "pencil");
    let mut client = SaslClient::with_nonce(Mechanism::ScramSha256, credentials, "rOprNGfwEbeRWgbNEkqO");
    client.first_message().unwrap();
    let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    send(client.on_server_message(server_first));
    let forged = b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    assert_eq!(client.on_server_message(forged), Err(SaslError::ServerSignatureMismatch));
}

#[test]
fn round_trips_authenticate() {
    for mechanism in ALL {
        assert_eq!(exchange(mechanism, "alice", PASSWORD), Ok("alice".to_owned()), "{mechanism}");
        assert_eq!(exchange(mechanism, "bob,=x", "bob-pw"), Ok("bob,=x".to_owned()), "{mechanism}");
    }
}

#[test]
fn wrong_password_fails_on_the_server() {
    for mechanism in ALL {
        assert_eq!(
            exchange(mechanism, "alice", "wrong"),
            Err(("server", SaslError::AuthenticationFailed)),
            "{mechanism}"
        );
    }
}

#[test]
fn client_fails_when_the_server_knows_another_password() {
    // The server's credential is for PASSWORD; a client with another password that somehow
    // got a server-final signed with the real key must still reject it, and vice versa.
    for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
        let mut real = new_client(mechanism, "alice", PASSWORD);
        let mut other = new_client(mechanism, "alice", "wrong");
        let mut server = new_server(mechanism);
        let first = real.first_message().unwrap();
        let server_first = server_send(server.on_client_message(&first));
        send(real.on_server_message(&server_first));
        // `other` never saw this exchange: replaying server messages to it fails.
        let other_first = other.first_message().unwrap();
        assert_ne!(other_first, first);
        assert_eq!(other.on_server_message(&server_first), Err(SaslError::NonceMismatch));
        // The server's `e=` answer is an authentication failure for the client.
        let mut failed = new_client(mechanism, "alice", PASSWORD);
        failed.first_message().unwrap();
        assert_eq!(failed.on_server_message(b"e=invalid-proof"), Err(SaslError::AuthenticationFailed));
    }
}

#[test]
fn unknown_user_gets_a_plausible_server_first_then_fails() {
    for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
        let first_of = |user: &str| {
            let mut client = new_client(mechanism, user, "whatever");
            let mut server = new_server(mechanism);
            let first = server_send(server.on_client_message(&client.first_message().unwrap()));
            (client, server, String::from_utf8(first).unwrap())
        };
        let (_, _, real) = first_of("alice");
        let (mut client, mut server, fake) = first_of("mallory");
        let shape = |message: &str| {
            let parts: Vec<&str> = message.split(',').collect();
            assert_eq!(parts.len(), 3, "{message}");
            (parts[0].len(), parts[1].len(), parts[2].to_owned())
        };
        assert_eq!(shape(&real), shape(&fake));
        // The fake salt is stable, as a real one is.
        let salt = |message: &str| message.split(',').nth(1).unwrap().to_owned();
        assert_eq!(salt(&fake), salt(&first_of("mallory").2));
        let client_final = send(client.on_server_message(fake.as_bytes()));
        assert_eq!(server.on_client_message(&client_final), Err(SaslError::AuthenticationFailed));
    }
    assert_eq!(exchange(Mechanism::Plain, "mallory", ""), Err(("server", SaslError::AuthenticationFailed)));
}

/// Starts a SCRAM-SHA-256 exchange for alice; returns the client, server, client nonce
/// and server-first.
fn started() -> (SaslClient, SaslServer, String, String) {
    let mut client = new_client(Mechanism::ScramSha256, "alice", PASSWORD);
    let mut server = new_server(Mechanism::ScramSha256);
    let first = String::from_utf8(client.first_message().unwrap()).unwrap();
    let nonce = first.rsplit_once("r=").unwrap().1.to_owned();
    let server_first = server_send(server.on_client_message(first.as_bytes()));
    (client, server, nonce, String::from_utf8(server_first).unwrap())
}

#[test]
fn tampered_server_nonce_is_refused() {
    let (mut client, _, nonce, server_first) = started();
    let tampered = server_first.replacen(&nonce[..4], "AAAA", 1);
    assert_ne!(tampered, server_first);
    assert_eq!(client.on_server_message(tampered.as_bytes()), Err(SaslError::NonceMismatch));
    let (mut client, _, nonce, _) = started();
    let echoed = format!("r={nonce},s=QUJD,i=4096");
    assert_eq!(client.on_server_message(echoed.as_bytes()), Err(SaslError::NonceMismatch));
}

#[test]
fn too_few_iterations_are_refused() {
    let (mut client, _, _, server_first) = started();
    let weak = server_first.replace("i=4096", "i=1000");
    assert_eq!(client.on_server_message(weak.as_bytes()), Err(SaslError::TooFewIterations { iterations: 1000 }));
    let (mut client, _, _, server_first) = started();
    let slow = server_first.replace("i=4096", "i=4000000");
    assert!(matches!(client.on_server_message(slow.as_bytes()), Err(SaslError::InvalidMessage { .. })));
}

#[test]
fn client_final_with_another_nonce_is_refused_cve_2024_56128() {
    let (mut client, mut server, nonce, server_first) = started();
    let client_final = String::from_utf8(send(client.on_server_message(server_first.as_bytes()))).unwrap();
    // Drop the server's part of the nonce: the proof is computed over the message as sent.
    let combined = server_first.split(',').next().unwrap().trim_start_matches("r=").to_owned();
    let short = client_final.replace(&combined, &nonce);
    assert_ne!(short, client_final);
    assert_eq!(server.on_client_message(short.as_bytes()), Err(SaslError::NonceMismatch));
    // The exchange is over after a failure, even for the genuine message.
    assert!(server.on_client_message(client_final.as_bytes()).is_err());
}

#[test]
fn bad_channel_binding_and_gs2_flags_are_refused() {
    let (mut client, mut server, _, server_first) = started();
    let client_final = String::from_utf8(send(client.on_server_message(server_first.as_bytes()))).unwrap();
    let rebound = client_final.replace("c=biws", "c=eSws");
    assert!(matches!(server.on_client_message(rebound.as_bytes()), Err(SaslError::InvalidMessage { .. })));
    for first in ["p=tls-unique,,n=alice,r=abc", "x,,n=alice,r=abc", "n,,m=ext,n=alice,r=abc"] {
        assert!(matches!(
            new_server(Mechanism::ScramSha256).on_client_message(first.as_bytes()),
            Err(SaslError::InvalidMessage { .. })
        ));
    }
    let other_authzid = b"n,a=bob,n=alice,r=abc";
    assert_eq!(
        new_server(Mechanism::ScramSha256).on_client_message(other_authzid),
        Err(SaslError::AuthenticationFailed)
    );
    assert!(new_server(Mechanism::ScramSha256).on_client_message(b"n,a=alice,n=alice,r=abc").is_ok());
}

#[test]
fn plain_authzid_must_be_empty_or_the_user() {
    let plain = |message: &[u8]| new_server(Mechanism::Plain).on_client_message(message);
    let with_self = format!("alice\0alice\0{PASSWORD}");
    assert!(matches!(plain(with_self.as_bytes()), Ok(ServerStep::Done { .. })));
    let with_other = format!("bob,=x\0alice\0{PASSWORD}");
    assert_eq!(plain(with_other.as_bytes()), Err(SaslError::AuthenticationFailed));
    assert!(matches!(plain(b"\0alice"), Err(SaslError::InvalidMessage { .. })));
}

#[test]
fn usernames_are_escaped() {
    assert_eq!(scram::escape_username("a,b=c"), "a=2Cb=3Dc");
    assert_eq!(scram::unescape_username("a=2Cb=3Dc").unwrap(), "a,b=c");
    assert!(scram::unescape_username("a=2").is_err());
    assert!(scram::unescape_username("a=41").is_err());
}

#[test]
fn mechanism_names_parse_case_insensitively() {
    for mechanism in ALL {
        assert_eq!(mechanism.name().to_lowercase().parse::<Mechanism>().unwrap(), mechanism);
    }
    assert_eq!("GSSAPI".parse::<Mechanism>(), Err(SaslError::UnsupportedMechanism { name: "GSSAPI".to_owned() }));
}

#[test]
fn nothing_prints_the_password() {
    let secret = Secret::new(PASSWORD);
    let credentials = Credentials::new("alice", PASSWORD);
    let credential = store().scram(Mechanism::ScramSha256, "alice").unwrap();
    let (client, server, _, _) = started();
    let errors = [
        SaslError::AuthenticationFailed,
        SaslError::InvalidMessage { reason: "x" },
        SaslError::NonceMismatch,
        SaslError::TooFewIterations { iterations: 1 },
        SaslError::ServerSignatureMismatch,
        SaslError::UnsupportedMechanism { name: "X".to_owned() },
        SaslError::Random,
    ];
    let mut printed = vec![
        format!("{secret:?}"),
        format!("{secret}"),
        format!("{credentials:?}"),
        format!("{credential:?}"),
        format!("{client:?}"),
        format!("{server:?}"),
        format!("{:?}", store()),
    ];
    printed.extend(errors.iter().flat_map(|e| [format!("{e}"), format!("{e:?}")]));
    // Errors from real failed exchanges, too.
    for mechanism in ALL {
        if let Err((_, error)) = exchange(mechanism, "alice", "wrong") {
            printed.push(format!("{error} {error:?}"));
        }
    }
    assert_eq!(format!("{secret:?}"), "***");
    let stored = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &credential.stored_key);
    for text in printed {
        assert!(!text.contains(PASSWORD) && !text.contains("Tr0ub"), "{text}");
        assert!(!text.contains(&stored), "{text}");
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for mechanism in ALL {
            let _ = new_server(mechanism).on_client_message(&bytes);
            let (_, mut server, _, _) = started();
            let _ = server.on_client_message(&bytes);
            let _ = new_client(mechanism, "alice", PASSWORD).on_server_message(&bytes);
            let mut client = new_client(mechanism, "alice", PASSWORD);
            client.first_message().unwrap();
            let _ = client.on_server_message(&bytes);
        }
        // Past server-first: the client waits for server-final.
        let (mut client, _, _, server_first) = started();
        send(client.on_server_message(server_first.as_bytes()));
        let _ = client.on_server_message(&bytes);
    }

    #[test]
    fn scram_shaped_random_text_never_panics(text in "[rscivpne=,a-zA-Z0-9+/]{0,80}") {
        let (mut client, mut server, _, _) = started();
        let _ = client.on_server_message(text.as_bytes());
        let _ = server.on_client_message(text.as_bytes());
        let _ = new_server(Mechanism::ScramSha512).on_client_message(text.as_bytes());
    }
}
