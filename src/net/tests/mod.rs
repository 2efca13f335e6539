//! Connection tests against the scripted fake broker (`fake_broker.rs`).
//!
//! Requests are Heartbeats whose `generation_id` the fake echoes back as the
//! response's `throttle_time_ms`, so each test can tell which answer went where.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::fake_broker::{self, api_versions, FakeConnection, Received};
use super::*;
use crate::protocol::frame::{decode_exact, encode_response, DEFAULT_MAX_FRAME_SIZE};
use crate::protocol::messages::{
    ApiVersionsRequest, HeartbeatRequest, HeartbeatResponse, MetadataRequest, MetadataResponse,
};
use crate::protocol::{ApiKey, ErrorCode, VersionRange};

/// Guards every wait that would hang if the connection were wrong.
const PROMPTLY: Duration = Duration::from_secs(5);

fn heartbeat(generation_id: i32) -> HeartbeatRequest {
    HeartbeatRequest { group_id: "g".into(), generation_id, member_id: "m".into(), ..Default::default() }
}

fn generation_of(request: &Received) -> i32 {
    assert_eq!(request.api, ApiKey::Heartbeat);
    decode_exact::<HeartbeatRequest>(&mut request.body.clone(), request.header.api_version)
        .expect("a valid heartbeat")
        .generation_id
}

async fn echo(broker: &mut FakeConnection, request: &Received) {
    let response = HeartbeatResponse { throttle_time_ms: generation_of(request), ..Default::default() };
    broker.respond(request, &response).await;
}

async fn echo_next(broker: &mut FakeConnection) -> Received {
    let request = broker.expect_request().await;
    echo(broker, &request).await;
    request
}

async fn connect(addr: &str) -> BrokerConnection {
    BrokerConnection::connect(addr, ConnectionConfig::default()).await.expect("connect and handshake")
}

async fn ask(connection: &BrokerConnection, generation_id: i32) -> Result<i32, ConnectionError> {
    let response = tokio::time::timeout(PROMPTLY, connection.request(&heartbeat(generation_id)))
        .await
        .expect("an answer or an error, not a hang")?;
    Ok(response.throttle_time_ms)
}

async fn finish(broker: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(PROMPTLY, broker).await.expect("the fake broker finishes").expect("its script passes");
}

mod handshake;
mod requests;
