//! No password in any log line: every tracing event at TRACE, from client and broker,
//! during successful and failed PLAIN and SCRAM logins, is captured and searched.

#![cfg(all(feature = "embedded", feature = "tls"))]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::net::{BrokerConnection, ConnectionConfig, SaslConfig, SaslMechanism, SecurityProtocol, TlsConfig};
use support::certs::TestCerts;

const PASSWORD: &str = "Pa55-word-in-no-log";
const WRONG: &str = "Wr0ng-word-in-no-log";

/// A `MakeWriter` appending everything to one buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[actix_rt::test]
async fn no_password_reaches_a_log_line_an_error_or_a_debug_output() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");

    let certs = TestCerts::generate();
    let mechanisms = [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];
    let cluster = EmbeddedCluster::builder()
        .tls(certs.server.cert_pem.clone(), certs.server.key_pem.clone())
        .sasl(&mechanisms, [("alice", PASSWORD)])
        .start()
        .await
        .unwrap();
    let addr = cluster.bootstrap();
    let mut shown = String::new();
    for mechanism in mechanisms {
        for password in [PASSWORD, WRONG] {
            let sasl = match mechanism {
                SaslMechanism::Plain => SaslConfig::plain("alice", password),
                SaslMechanism::ScramSha256 => SaslConfig::scram_sha_256("alice", password),
                _ => SaslConfig::scram_sha_512("alice", password),
            };
            shown.push_str(&format!("{sasl:?}\n"));
            let config = ConnectionConfig::default()
                .security_protocol(SecurityProtocol::SaslSsl)
                .tls(TlsConfig::default().ca_pem(certs.ca_pem.clone()))
                .sasl(sasl);
            shown.push_str(&format!("{config:?}\n"));
            match BrokerConnection::connect(&addr, config).await {
                Ok(connection) => {
                    assert_eq!(password, PASSWORD, "{mechanism}: a wrong password was accepted");
                    shown.push_str(&format!("{connection:?}\n"));
                    connection.close().await;
                }
                Err(error) => {
                    assert_eq!(password, WRONG, "{mechanism}: the right password was refused: {error}");
                    shown.push_str(&format!("{error}\n{error:?}\n"));
                }
            }
        }
    }
    cluster.shutdown().await.unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("SASL authenticated"), "the capture works (it saw the logins)");
    assert!(log.contains("SASL authentication failed"), "the broker's side of the failed logins is in it");
    assert!(log.contains("response received"), "so are the client's requests");
    for secret in [PASSWORD, WRONG] {
        assert!(!log.contains(secret), "a password in the log:\n{log}");
        assert!(!shown.contains(secret), "a password in an error or Debug output:\n{shown}");
    }
}
