//! Our client against the embedded broker over TLS and SASL: the producer, a consumer group member
//! and a raw `BrokerConnection` with each mechanism, wrong credentials failing fast, certificate
//! problems refused, plaintext to a TLS port, mTLS, the pre-authentication limits and
//! re-authentication (KIP-368).

#![cfg(all(feature = "embedded", feature = "tls"))]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::Actor;
use actix_kafka::client::ClientConfig;
use actix_kafka::embedded::{EmbeddedCluster, EmbeddedClusterBuilder};
use actix_kafka::net::{
    BrokerConnection, ConnectionConfig, ConnectionError, OAuthBearerToken, SaslConfig, SaslMechanism, SecurityProtocol,
    StaticToken, TlsConfig, TlsProblem,
};
use actix_kafka::producer::{Close, Produce, Producer};
use actix_kafka::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use actix_kafka::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, FetchRequest, MetadataRequest};
use actix_kafka::protocol::record::{decode_batches, DecodeOptions};
use actix_kafka::protocol::{ApiKey, Decode, ErrorCode, ResponseHeader};
use bytes::{BufMut, BytesMut};
use support::certs::TestCerts;
use support::counting_proxy::CountingProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PASSWORD: &str = "alice-Secret-42";
const ALL: [SaslMechanism; 4] =
    [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512, SaslMechanism::OAuthBearer];

fn secured(certs: &TestCerts) -> EmbeddedClusterBuilder {
    EmbeddedCluster::builder()
        .tls(certs.server.cert_pem.clone(), certs.server.key_pem.clone())
        .sasl(&ALL, [("alice", PASSWORD), ("bob", "bob-secret")])
}

fn sasl_for(mechanism: SaslMechanism, password: &str) -> SaslConfig {
    match mechanism {
        SaslMechanism::Plain => SaslConfig::plain("alice", password),
        SaslMechanism::ScramSha256 => SaslConfig::scram_sha_256("alice", password),
        SaslMechanism::ScramSha512 => SaslConfig::scram_sha_512("alice", password),
        _ => SaslConfig::oauthbearer(Arc::new(StaticToken(OAuthBearerToken::new(unsecured_jwt("alice", 3600))))),
    }
}

/// An unsecured JWS (`alg` none) for `subject`, expiring in `seconds` (negative: expired).
fn unsecured_jwt(subject: &str, seconds: i64) -> String {
    use base64::Engine;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let encode = |json: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let header = encode(r#"{"alg":"none"}"#.to_owned());
    let payload = encode(format!(r#"{{"sub":"{subject}","iat":{now},"exp":{}}}"#, now + seconds));
    format!("{header}.{payload}.")
}

fn connection_config(certs: &TestCerts, sasl: SaslConfig) -> ConnectionConfig {
    ConnectionConfig::default()
        .security_protocol(SecurityProtocol::SaslSsl)
        .tls(TlsConfig::default().ca_pem(certs.ca_pem.clone()))
        .sasl(sasl)
        .connect_timeout(Duration::from_secs(10))
}

fn first_addr(cluster: &EmbeddedCluster) -> String {
    cluster.bootstrap().split(',').next().unwrap().to_owned()
}

/// `localhost:port` of the first node, so the host name check has a name to check.
fn localhost_addr(cluster: &EmbeddedCluster) -> String {
    format!("localhost:{}", cluster.node_addrs()[0].1.port())
}

fn fetch_request(topic: &str) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 100,
        min_bytes: 1,
        max_bytes: 1 << 20,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn fetched_values(connection: &BrokerConnection, topic: &str) -> Vec<String> {
    let response = connection.request_at(&fetch_request(topic), 12).await.expect("fetch");
    let data = &response.responses[0].partitions[0];
    assert_eq!(ErrorCode::from_i16(data.error_code), ErrorCode::None);
    let batches = decode_batches(data.records.clone().unwrap_or_default(), &DecodeOptions::default()).unwrap();
    batches
        .into_iter()
        .flat_map(|b| b.records)
        .map(|r| String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap())
        .collect()
}

#[actix_rt::test]
async fn the_producer_and_a_connection_work_over_sasl_ssl_with_every_mechanism() {
    let certs = TestCerts::generate();
    let cluster = secured(&certs).start().await.unwrap();
    for mechanism in ALL {
        let topic = format!("secured-{}", mechanism.name().to_lowercase());
        cluster.create_topic(&topic, 1).await.unwrap();
        let client = ClientConfig::new(&localhost_addr(&cluster))
            .security_protocol(SecurityProtocol::SaslSsl)
            .tls(TlsConfig::default().ca_pem(certs.ca_pem.clone()))
            .sasl(sasl_for(mechanism, PASSWORD));
        let producer = Producer::builder().client(client).build().unwrap().start();
        for i in 0..3 {
            let sent = producer.send(Produce::to(&topic).value(format!("{mechanism}-{i}"))).await.unwrap();
            assert_eq!(sent.expect("acknowledged").offset, i, "{mechanism}");
        }
        producer.send(Close).await.unwrap().unwrap();
        let config = connection_config(&certs, sasl_for(mechanism, PASSWORD));
        let connection = BrokerConnection::connect(&localhost_addr(&cluster), config).await.expect("connect");
        let expected: Vec<String> = (0..3).map(|i| format!("{mechanism}-{i}")).collect();
        assert_eq!(fetched_values(&connection, &topic).await, expected, "{mechanism}");
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_wrong_password_fails_fast_with_a_typed_error_and_no_retry_storm() {
    let certs = TestCerts::generate();
    let cluster = secured(&certs).start().await.unwrap();
    for mechanism in [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
        let config = connection_config(&certs, sasl_for(mechanism, "wrong-password"));
        let error = BrokerConnection::connect(&first_addr(&cluster), config).await.unwrap_err();
        match &error {
            ConnectionError::SaslAuthentication {
                error: ErrorCode::SaslAuthenticationFailed, mechanism: m, ..
            } => {
                assert_eq!(*m, mechanism)
            }
            other => panic!("{mechanism}: expected SaslAuthentication, got {other:?}"),
        }
        assert!(!error.is_retriable() && error.is_authentication_failure());
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("wrong-password") && !shown.contains(PASSWORD), "{shown}");
    }
    let proxy = CountingProxy::start(cluster.node_addrs()[0].1).await;
    let client = ClientConfig::new(&proxy.addr.to_string())
        .security_protocol(SecurityProtocol::SaslSsl)
        .tls(TlsConfig::default().ca_pem(certs.ca_pem.clone()))
        .sasl(SaslConfig::scram_sha_256("alice", "wrong-password"));
    let producer = Producer::builder().client(client).build().unwrap().start();
    let started = Instant::now();
    let sent = producer.send(Produce::to("orders").value("never")).await.unwrap();
    let elapsed = started.elapsed();
    let error = sent.expect_err("a wrong password cannot produce");
    eprintln!("producer failed after {elapsed:?} with: {error}");
    assert!(elapsed < Duration::from_secs(10), "failed fast, not after the delivery timeout: {elapsed:?}");
    assert!(error.to_string().contains("SASL"), "the cause is named: {error}");
    let connections = proxy.connections();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(connections <= 4, "{connections} connection attempts for one record");
    assert_eq!(proxy.connections(), connections, "nothing keeps retrying in the background");
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_host_name_mismatch_and_an_unknown_ca_are_refused() {
    let certs = TestCerts::generate();
    for (pair, problem) in
        [(&certs.wrong_host, TlsProblem::NameMismatch), (&certs.unknown_ca, TlsProblem::UnknownIssuer)]
    {
        let cluster =
            EmbeddedCluster::builder().tls(pair.cert_pem.clone(), pair.key_pem.clone()).start().await.unwrap();
        let config = ConnectionConfig::default()
            .security_protocol(SecurityProtocol::Ssl)
            .tls(TlsConfig::default().ca_pem(certs.ca_pem.clone()));
        for addr in [localhost_addr(&cluster), first_addr(&cluster)] {
            match BrokerConnection::connect(&addr, config.clone()).await {
                Err(ConnectionError::TlsHandshake { problem: got, .. }) => assert_eq!(got, problem, "{addr}"),
                other => panic!("{addr}: expected a {problem:?} TLS error, got {other:?}"),
            }
        }
        cluster.shutdown().await.unwrap();
    }
}

#[actix_rt::test]
async fn plaintext_to_a_tls_port_is_a_clear_error_not_a_hang() {
    let certs = TestCerts::generate();
    let cluster = secured(&certs).start().await.unwrap();
    let started = Instant::now();
    let config = ConnectionConfig::default().connect_timeout(Duration::from_secs(5));
    let error = BrokerConnection::connect(&first_addr(&cluster), config).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "answered before the connect timeout");
    assert!(matches!(error, ConnectionError::TlsExpected { .. }), "{error:?}");
    assert!(error.to_string().contains("is this a TLS port?"), "{error}");
    assert!(!error.is_retriable());
    // And TLS to a plaintext port.
    let plain = EmbeddedCluster::builder().start().await.unwrap();
    let config = ConnectionConfig::default()
        .security_protocol(SecurityProtocol::Ssl)
        .tls(TlsConfig::default().ca_pem(certs.ca_pem.clone()))
        .connect_timeout(Duration::from_secs(5));
    let error = BrokerConnection::connect(&first_addr(&plain), config).await.unwrap_err();
    assert!(
        matches!(error, ConnectionError::TlsHandshake { problem: TlsProblem::NotTls, .. }),
        "TLS to a plaintext port: {error:?}"
    );
    plain.shutdown().await.unwrap();
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn mutual_tls_needs_a_client_certificate_from_the_ca() {
    let certs = TestCerts::generate();
    let cluster = EmbeddedCluster::builder()
        .tls(certs.server.cert_pem.clone(), certs.server.key_pem.clone())
        .tls_client_ca(certs.ca_pem.clone())
        .start()
        .await
        .unwrap();
    let tls = TlsConfig::default().ca_file(certs.path("ca.pem"));
    let config = ConnectionConfig::default().security_protocol(SecurityProtocol::Ssl).tls(tls.clone());
    let with_cert = config.clone().tls(tls.client_identity(certs.path("client.pem"), certs.path("client.key")));
    let connection = BrokerConnection::connect(&localhost_addr(&cluster), with_cert).await.expect("mTLS connect");
    assert!(!connection.request(&MetadataRequest::default()).await.unwrap().brokers.is_empty());
    let refused = BrokerConnection::connect(&localhost_addr(&cluster), config).await;
    assert!(refused.is_err(), "no client certificate, no connection: {refused:?}");
    eprintln!("without a client certificate: {}", refused.unwrap_err());
    cluster.shutdown().await.unwrap();
}

/// A raw request frame: size, header v1 (api, version, correlation id, client id), body.
fn raw_frame(api: ApiKey, version: i16, body: &[u8]) -> BytesMut {
    let mut frame = BytesMut::new();
    frame.put_i32((2 + 2 + 4 + 2 + body.len()) as i32);
    frame.put_i16(api as i16);
    frame.put_i16(version);
    frame.put_i32(7);
    frame.put_i16(-1);
    frame.put_slice(body);
    frame
}

/// Reads until EOF (or 5 s) and says whether the broker closed the connection.
async fn closed_by_broker(stream: &mut TcpStream) -> bool {
    let mut sink = vec![0; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut sink)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
    false
}

#[actix_rt::test]
async fn before_authentication_only_sasl_apis_are_served_in_small_frames() {
    let cluster =
        EmbeddedCluster::builder().sasl(&[SaslMechanism::ScramSha256], [("alice", PASSWORD)]).start().await.unwrap();
    let addr = first_addr(&cluster);
    // ApiVersions is served, and lists the SASL APIs.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(&raw_frame(ApiKey::ApiVersions, 0, &[])).await.unwrap();
    let size = stream.read_i32().await.unwrap();
    let mut body = vec![0; size as usize];
    stream.read_exact(&mut body).await.unwrap();
    let mut body = bytes::Bytes::from(body);
    ResponseHeader::decode(&mut body, 0).unwrap();
    let versions = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    let handshake = versions.api_keys.iter().find(|k| k.api_key == ApiKey::SaslHandshake as i16).expect("listed");
    assert_eq!((handshake.min_version, handshake.max_version), (0, 1));
    // Metadata before authentication closes the connection.
    stream.write_all(&raw_frame(ApiKey::Metadata, 1, &[0xff, 0xff, 0xff, 0xff])).await.unwrap();
    assert!(closed_by_broker(&mut stream).await, "Metadata before SASL closes the connection");
    // A frame over 512 KiB before authentication is refused from its size prefix.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(&(600 * 1024i32).to_be_bytes()).await.unwrap();
    stream.write_all(&raw_frame(ApiKey::SaslAuthenticate, 0, &[0; 1000])[4..]).await.unwrap();
    assert!(closed_by_broker(&mut stream).await, "a 600 KiB frame before SASL closes the connection");
    // The same request in a 1 KiB frame is no reason to close: it is answered.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(&raw_frame(ApiKey::ApiVersions, 0, &[])).await.unwrap();
    assert!(stream.read_i32().await.unwrap() > 0);
    // After authentication everything is served (a plain SCRAM connection).
    let config = ConnectionConfig::default()
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .sasl(SaslConfig::scram_sha_256("alice", PASSWORD));
    let connection = BrokerConnection::connect(&addr, config).await.expect("SCRAM over plaintext");
    assert!(!connection.request(&MetadataRequest::default()).await.unwrap().brokers.is_empty());
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn plain_without_tls_needs_explicit_permission() {
    let cluster =
        EmbeddedCluster::builder().sasl(&[SaslMechanism::Plain], [("alice", PASSWORD)]).start().await.unwrap();
    let config = ConnectionConfig::default().security_protocol(SecurityProtocol::SaslPlaintext);
    let refused =
        BrokerConnection::connect(&first_addr(&cluster), config.clone().sasl(SaslConfig::plain("alice", PASSWORD)))
            .await;
    assert!(matches!(refused, Err(ConnectionError::InsecureSasl { mechanism: SaslMechanism::Plain })), "{refused:?}");
    let allowed = config.sasl(SaslConfig::plain("alice", PASSWORD).allow_plain_over_plaintext(true));
    let connection = BrokerConnection::connect(&first_addr(&cluster), allowed).await.expect("allowed explicitly");
    assert!(connection.request(&ApiVersionsRequest::default()).await.is_ok());
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn an_expired_or_unsecured_less_oauthbearer_token_is_refused() {
    let certs = TestCerts::generate();
    let cluster = secured(&certs).start().await.unwrap();
    let expired = StaticToken(OAuthBearerToken::new(unsecured_jwt("alice", -60)));
    let config = connection_config(&certs, SaslConfig::oauthbearer(Arc::new(expired)));
    let error = BrokerConnection::connect(&first_addr(&cluster), config).await.unwrap_err();
    assert!(!error.is_retriable(), "{error:?}");
    assert!(error.to_string().contains("OAUTHBEARER"), "{error}");
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn reauthentication_keeps_connections_and_a_producer_working_across_session_lifetimes() {
    let certs = TestCerts::generate();
    let lifetime = Duration::from_millis(600);
    let cluster = secured(&certs).sasl_session_lifetime(lifetime).start().await.unwrap();
    cluster.create_topic("reauth", 1).await.unwrap();
    for mechanism in [SaslMechanism::ScramSha512, SaslMechanism::OAuthBearer] {
        let config = connection_config(&certs, sasl_for(mechanism, PASSWORD));
        let idle = BrokerConnection::connect(&first_addr(&cluster), config.clone()).await.expect("connect");
        let busy = BrokerConnection::connect(&first_addr(&cluster), config).await.expect("connect");
        let started = Instant::now();
        // The busy connection keeps requests pipelined throughout, so re-authentication
        // happens between other requests' frames.
        while started.elapsed() < lifetime * 4 {
            let requests: Vec<_> = (0..8)
                .map(|_| {
                    let busy = busy.clone();
                    tokio::spawn(async move { busy.request(&MetadataRequest::default()).await })
                })
                .collect();
            for request in requests {
                let result = request.await.expect("request task");
                result.unwrap_or_else(|e| panic!("{mechanism}: a request failed during re-authentication: {e}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The idle one slept through several lifetimes and still works.
        idle.request(&MetadataRequest::default()).await.unwrap_or_else(|e| panic!("{mechanism}: idle connection: {e}"));
    }
    let client = ClientConfig::new(&first_addr(&cluster))
        .security_protocol(SecurityProtocol::SaslSsl)
        .tls(TlsConfig::default().ca_pem(certs.ca_pem.clone()))
        .sasl(SaslConfig::scram_sha_256("alice", PASSWORD));
    let producer = Producer::builder().client(client).build().unwrap().start();
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < lifetime * 5 {
        producer.send(Produce::to("reauth").value(format!("r{sent}"))).await.unwrap().expect("acknowledged");
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    producer.send(Close).await.unwrap().unwrap();
    assert!(sent >= 20, "{sent} records over five session lifetimes");
    cluster.shutdown().await.unwrap();
}

/// Forwards every delivered value to a channel, acknowledging it.
struct Forward(tokio::sync::mpsc::UnboundedSender<String>);

impl Actor for Forward {
    type Context = actix::Context<Self>;
}

impl actix::Handler<actix_kafka::consumer::Records> for Forward {
    type Result = Result<(), actix_kafka::consumer::HandlerError>;

    fn handle(&mut self, delivery: actix_kafka::consumer::Records, _: &mut Self::Context) -> Self::Result {
        for record in delivery.records {
            let value = String::from_utf8(record.value.unwrap_or_default().to_vec())?;
            self.0.send(value).map_err(|_| actix_kafka::consumer::HandlerError::msg("test ended"))?;
        }
        Ok(())
    }
}

#[actix_rt::test]
async fn a_consumer_group_member_reads_and_commits_over_sasl_ssl() {
    use actix_kafka::consumer::{Close as CloseConsumer, Commit, Consumer, GetConsumerStats, OffsetReset, Subscribe};
    let certs = TestCerts::generate();
    let cluster = secured(&certs).start().await.unwrap();
    cluster.create_topic("secured-group", 2).await.unwrap();
    let client = || {
        ClientConfig::new(&localhost_addr(&cluster))
            .security_protocol(SecurityProtocol::SaslSsl)
            .tls(TlsConfig::default().ca_pem(certs.ca_pem.clone()))
            .sasl(SaslConfig::scram_sha_512("alice", PASSWORD))
    };
    let producer = Producer::builder().client(client()).build().unwrap().start();
    for i in 0..20 {
        producer.send(Produce::to("secured-group").key(format!("k{i}")).value(format!("v{i}"))).await.unwrap().unwrap();
    }
    producer.send(Close).await.unwrap().unwrap();

    let consumer = Consumer::builder()
        .client(client())
        .group_id("secured")
        .offset_reset(OffsetReset::Earliest)
        .heartbeat_interval(Duration::from_millis(200))
        .session_timeout(Duration::from_secs(3))
        .build()
        .unwrap()
        .start();
    let (sender, mut values) = tokio::sync::mpsc::unbounded_channel();
    let forward = Forward(sender).start();
    consumer.send(Subscribe::topics(["secured-group"]).to(forward.recipient())).await.unwrap().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 20 {
        let value = tokio::time::timeout(Duration::from_secs(30), values.recv()).await.expect("records within 30 s");
        assert!(seen.insert(value.expect("open")), "no record twice");
    }
    assert_eq!(seen, (0..20).map(|i| format!("v{i}")).collect());
    consumer.send(Commit).await.unwrap().unwrap();
    let stats = consumer.send(GetConsumerStats).await.unwrap();
    assert!(stats.group.is_some_and(|g| g.commits >= 1), "the group's coordinator answered over sasl_ssl");
    consumer.send(CloseConsumer).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}
