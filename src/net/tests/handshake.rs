//! The ApiVersions handshake: v3 first, the fallbacks, errors, negotiation.

use super::*;

#[tokio::test]
async fn the_handshake_sends_api_versions_v3_and_negotiates_every_api() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        let request = broker.expect_request().await;
        assert_eq!((request.api, request.header.api_version), (ApiKey::ApiVersions, 3));
        assert_eq!(request.header.client_id.as_deref(), Some("actix-kafka"));
        let body = decode_exact::<ApiVersionsRequest>(&mut request.body.clone(), 3).unwrap();
        assert_eq!(body.client_software_name, "actix-kafka");
        assert_eq!(body.client_software_version, env!("CARGO_PKG_VERSION"));
        let mut apis = fake_broker::all_apis();
        apis.retain(|(key, _, _)| *key != ApiKey::Metadata);
        apis.push((ApiKey::Metadata, 0, 7));
        broker.respond(&request, &api_versions(0, &apis)).await;
        let request = echo_next(&mut broker).await;
        assert_eq!(request.header.api_version, 4, "Heartbeat at our max");
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    assert_eq!(connection.addr(), addr);
    assert_eq!(connection.versions().handshake_version(), 3);
    assert_eq!(connection.version_for(ApiKey::Metadata).unwrap(), 7);
    assert_eq!(connection.version_for(ApiKey::Fetch).unwrap(), ApiKey::Fetch.versions().max);
    assert_eq!(ask(&connection, 42).await.unwrap(), 42);
    drop(connection);
    finish(broker).await;
}

/// `FRAMING.md` §4, as both librdkafka mock clusters do it: a v0 body under a v0
/// header, error 35, ApiVersions 0-2; then the v2 request is accepted.
#[tokio::test]
async fn a_refused_v3_handshake_is_retried_at_the_version_the_v0_body_names() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        let request = broker.expect_request().await;
        assert_eq!(request.header.api_version, 3);
        let refusal = api_versions(ErrorCode::UnsupportedVersion.code(), &[(ApiKey::ApiVersions, 0, 2)]);
        let v0 = encode_response(&refusal, ApiKey::ApiVersions, 0, request.header.correlation_id).unwrap();
        broker.write_raw(&v0).await;
        let request = broker.expect_request().await;
        assert_eq!((request.api, request.header.api_version), (ApiKey::ApiVersions, 2));
        let apis = [(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 2), (ApiKey::Heartbeat, 0, 3)];
        broker.respond(&request, &api_versions(0, &apis)).await;
        let request = broker.expect_request().await;
        assert_eq!((request.api, request.header.api_version), (ApiKey::Metadata, 2));
        broker.respond(&request, &MetadataResponse::default()).await;
        let request = echo_next(&mut broker).await;
        assert_eq!(request.header.api_version, 3);
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    assert_eq!(connection.versions().handshake_version(), 2);
    assert_eq!(connection.versions().broker_range(ApiKey::Metadata), Some(VersionRange::new(0, 2)));
    assert_eq!(connection.version_for(ApiKey::Metadata).unwrap(), 2);
    connection.request(&MetadataRequest::default()).await.expect("Metadata v2");
    assert_eq!(ask(&connection, 5).await.unwrap(), 5);
    drop(connection);
    finish(broker).await;
}

/// What librdkafka's mock clusters really send (bytes captured from 2.0.2 and 2.16):
/// a refusal that is neither a v0 nor a v3 body. We then ask at v0.
#[tokio::test]
async fn an_unreadable_refusal_is_retried_at_v0() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        let request = broker.expect_request().await;
        assert_eq!(request.header.api_version, 3);
        let mut refusal = vec![0, 0, 0, 17];
        refusal.extend(request.header.correlation_id.to_be_bytes());
        refusal.extend([0, 0x23, 1, 0, 0x12, 0, 0, 0, 2, 0, 0, 0, 0]);
        broker.write_raw(&refusal).await;
        let request = broker.expect_request().await;
        assert_eq!((request.api, request.header.api_version), (ApiKey::ApiVersions, 0));
        let apis = [(ApiKey::ApiVersions, 0, 2), (ApiKey::Heartbeat, 0, 3)];
        broker.respond(&request, &api_versions(0, &apis)).await;
        echo_next(&mut broker).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    assert_eq!(connection.versions().handshake_version(), 0);
    assert_eq!(connection.version_for(ApiKey::Heartbeat).unwrap(), 3);
    assert_eq!(ask(&connection, 8).await.unwrap(), 8);
    drop(connection);
    finish(broker).await;
}

#[tokio::test]
async fn a_handshake_answered_with_an_error_fails_the_connect() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        let request = broker.expect_request().await;
        broker.respond(&request, &api_versions(ErrorCode::ClusterAuthorizationFailed.code(), &[])).await;
        broker.drain().await;
    })
    .await;
    match BrokerConnection::connect(&addr, ConnectionConfig::default()).await {
        Err(ConnectionError::ApiVersions { error: ErrorCode::ClusterAuthorizationFailed, .. }) => {}
        other => panic!("expected an ApiVersions error, got {other:?}"),
    }
    finish(broker).await;
}

#[tokio::test]
async fn an_api_without_a_common_version_is_refused_without_sending() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        let request = broker.expect_request().await;
        let apis = [(ApiKey::ApiVersions, 0, 3), (ApiKey::Heartbeat, 0, 4), (ApiKey::Metadata, 20, 30)];
        broker.respond(&request, &api_versions(0, &apis)).await;
        echo_next(&mut broker).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    match connection.request(&MetadataRequest::default()).await {
        Err(ConnectionError::UnsupportedApi { api: ApiKey::Metadata, broker: Some(range), .. }) => {
            assert_eq!(range, VersionRange::new(20, 30));
        }
        other => panic!("expected UnsupportedApi, got {other:?}"),
    }
    assert!(matches!(connection.version_for(ApiKey::Fetch), Err(ConnectionError::UnsupportedApi { broker: None, .. })));
    assert_eq!(ask(&connection, 1).await.unwrap(), 1, "the next frame the broker sees is the heartbeat");
    drop(connection);
    finish(broker).await;
}
