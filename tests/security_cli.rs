//! `actix-kafka broker --tls-cert --tls-key --sasl ... --users FILE` with
//! `actix-kafka produce --security-protocol sasl_ssl ...`, the password in an
//! environment variable; then the records read back with kcat over sasl_ssl, and a
//! wrong password failing fast with exit code 1.

#![cfg(feature = "cli")]

mod broker_support;
mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use broker_support::binary::{BrokerProcess, BINARY};
use support::certs::TestCerts;
use support::kcat::kcat_ok;
use support::process::ChildGuard;
use support::{require_peer, Librdkafka, Peer};

const PASSWORD: &str = "cli-Secret-9";

/// Runs `actix-kafka produce ARGS` with `input` on stdin and `ACTIX_KAFKA_PASSWORD`.
fn produce(args: &[&str], password: &str, input: &str) -> Output {
    let mut command = Command::new(BINARY);
    command.arg("produce").args(args).env("ACTIX_KAFKA_PASSWORD", password).env("RUST_LOG", "warn");
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = ChildGuard(command.spawn().expect("run actix-kafka produce"));
    child.0.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let status = child.wait_timeout(Duration::from_secs(60)).expect("produce finished within 60 s");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut stderr).unwrap();
    Output { status, stdout: Vec::new(), stderr: stderr.into_bytes() }
}

#[test]
fn the_cli_broker_and_producer_speak_sasl_ssl() {
    let certs = TestCerts::generate();
    let users = certs.dir.join("users.txt");
    std::fs::write(&users, format!("# test users\nalice:{PASSWORD}\nbob:other\n")).unwrap();
    let broker = BrokerProcess::start(&[
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &certs.path_str("server.pem"),
        "--tls-key",
        &certs.path_str("server.key"),
        "--sasl",
        "plain,scram-sha-256,scram-sha-512",
        "--users",
        users.to_str().unwrap(),
    ]);
    let port = broker.bootstrap().rsplit_once(':').unwrap().1.to_owned();
    let bootstrap = format!("localhost:{port}");
    let lines: String = (0..100).map(|i| format!("secure-{i}\n")).collect();
    let ca = certs.path_str("ca.pem");
    let security = |mechanism: &'static str| {
        vec![
            "--security-protocol".to_owned(),
            "sasl_ssl".to_owned(),
            "--sasl-mechanism".to_owned(),
            mechanism.to_owned(),
            "--sasl-username".to_owned(),
            "alice".to_owned(),
            "--ca-file".to_owned(),
            ca.clone(),
        ]
    };
    let mut args = vec!["-b".to_owned(), bootstrap.clone(), "-t".to_owned(), "cli-secure".to_owned()];
    args.extend(security("SCRAM-SHA-256"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = produce(&args, PASSWORD, &lines);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "produce over sasl_ssl failed: {stderr}");
    assert!(!stderr.contains(PASSWORD));

    let started = Instant::now();
    let output = produce(&args, "wrong", "never\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "a wrong password fails the run: {stderr}");
    assert!(stderr.contains("SASL"), "the cause is named: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "fails fast: {:?}", started.elapsed());

    let missing = Command::new(BINARY)
        .arg("produce")
        .args(&args)
        .env_remove("ACTIX_KAFKA_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2), "no password variable is a usage error");

    if require_peer(Peer::Kcat).is_some() {
        let consume = [
            "-C",
            "-e",
            "-o",
            "beginning",
            "-b",
            &bootstrap,
            "-t",
            "cli-secure",
            "-X",
            "security.protocol=sasl_ssl",
            "-X",
            "sasl.mechanisms=SCRAM-SHA-512",
            "-X",
            "sasl.username=alice",
            "-X",
            &format!("sasl.password={PASSWORD}"),
            "-X",
            &format!("ssl.ca.location={ca}"),
        ];
        let output = kcat_ok(Librdkafka::V2_16, &consume, b"");
        assert_eq!(String::from_utf8(output.stdout).unwrap(), lines);
    }
    drop(broker);
}
