//! kcat (librdkafka 2.16 and Debian's 2.0.2) produces to and consumes from the
//! embedded broker over `sasl_ssl`, with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN, the CA
//! made in the test; and a wrong password is refused.
//!
//! librdkafka 2.0.2's SCRAM client-final repeats its own nonce in front of the combined
//! one (`r=<client><client><server>`): Kafka accepted that until it started checking
//! the nonce (CVE-2024-56128), and so does not our broker, which checks it. So on
//! 2.0.2 only PLAIN round-trips, and SCRAM must be refused; 2.16 is fixed.

#![cfg(all(feature = "embedded", feature = "tls"))]

mod support;

use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::net::SaslMechanism;
use support::certs::TestCerts;
use support::kcat::{kcat, kcat_ok};
use support::{require_peer, Librdkafka, Peer};

const PASSWORD: &str = "kcat-Secret-7";
const RECORDS: usize = 200;

fn peers_present(lib: Librdkafka) -> bool {
    require_peer(Peer::Kcat).is_some() && require_peer(Peer::Librdkafka(lib)).is_some()
}

fn security_args(certs: &TestCerts, mechanism: &str, password: &str) -> Vec<String> {
    [
        "security.protocol=sasl_ssl".to_owned(),
        format!("sasl.mechanisms={mechanism}"),
        "sasl.username=alice".to_owned(),
        format!("sasl.password={password}"),
        format!("ssl.ca.location={}", certs.path_str("ca.pem")),
    ]
    .into_iter()
    .flat_map(|setting| ["-X".to_owned(), setting])
    .collect()
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.expect("blocking task")
}

async fn run_kcat(lib: Librdkafka, bootstrap: &str, security: &[String], extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    args.extend(["-b".to_owned(), bootstrap.to_owned()]);
    args.extend(security.iter().cloned());
    blocking(move || kcat(lib, &args.iter().map(String::as_str).collect::<Vec<_>>(), b"")).await
}

async fn round_trips_over_sasl_ssl(lib: Librdkafka, mechanisms: &[SaslMechanism], refused: &[SaslMechanism]) {
    if !peers_present(lib) {
        return;
    }
    // `RUST_LOG=actix_kafka=debug` shows the broker's side of a failed login.
    let _already =
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let certs = TestCerts::generate();
    let all = [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];
    let cluster = EmbeddedCluster::builder()
        .tls(certs.server.cert_pem.clone(), certs.server.key_pem.clone())
        .sasl(&all, [("alice", PASSWORD)])
        .start()
        .await
        .unwrap();
    // librdkafka checks the host name: connect to localhost, which the certificate names.
    let port = cluster.node_addrs()[0].1.port();
    let bootstrap = format!("localhost:{port}");
    for &mechanism in mechanisms {
        let topic = format!("kcat-{}", mechanism.name().to_lowercase());
        cluster.create_topic(&topic, 1).await.unwrap();
        let lines: String = (0..RECORDS).map(|i| format!("{mechanism}-{i}\n")).collect();
        let security = security_args(&certs, mechanism.name(), PASSWORD);
        let (b, t, s, input) = (bootstrap.clone(), topic.clone(), security.clone(), lines.clone());
        blocking(move || {
            let mut args: Vec<&str> = vec!["-P", "-b", &b, "-t", &t];
            args.extend(s.iter().map(String::as_str));
            kcat_ok(lib, &args, input.as_bytes());
        })
        .await;
        let (b, t, s) = (bootstrap.clone(), topic.clone(), security.clone());
        let output = blocking(move || {
            let mut args: Vec<&str> = vec!["-C", "-e", "-o", "beginning", "-b", &b, "-t", &t];
            args.extend(s.iter().map(String::as_str));
            kcat_ok(lib, &args, b"")
        })
        .await;
        assert_eq!(String::from_utf8(output.stdout).unwrap(), lines, "{} {mechanism}", lib.label());
    }
    let wrong = security_args(&certs, "SCRAM-SHA-256", "wrong");
    let mut refusals = vec![("a wrong password", wrong)];
    refusals.extend(refused.iter().map(|m| ("a broken client nonce", security_args(&certs, m.name(), PASSWORD))));
    for (why, security) in refusals {
        let output = run_kcat(lib, &bootstrap, &security, &["-L", "-m", "5"]).await;
        assert!(!output.status.success(), "{}: {why} must not list metadata", lib.label());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.to_lowercase().contains("authentication"), "{}: {why}: {stderr}", lib.label());
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn kcat_on_librdkafka_2_16_round_trips_over_sasl_ssl() {
    let all = [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];
    round_trips_over_sasl_ssl(Librdkafka::V2_16, &all, &[]).await;
}

#[actix_rt::test]
async fn kcat_on_librdkafka_2_0_2_round_trips_over_sasl_ssl() {
    let scram = [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];
    round_trips_over_sasl_ssl(Librdkafka::System, &[SaslMechanism::Plain], &scram).await;
}
