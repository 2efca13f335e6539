//! A scripted fake broker for the connection tests: a `TcpListener` on
//! `127.0.0.1:0` that accepts one connection and hands it to a test's script, which
//! reads requests and answers (or misbehaves) as it likes.

use std::future::Future;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::protocol::frame::{encode_response, frame_length, DEFAULT_MAX_FRAME_SIZE};
use crate::protocol::messages::api_versions_response::ApiVersion;
use crate::protocol::messages::ApiVersionsResponse;
use crate::protocol::{ApiKey, Message, RequestHeader};

/// Starts a broker that runs `script` on its first connection; returns its address
/// and the task (await it to see the script's panics).
pub(super) async fn start<F, Fut>(script: F) -> (String, JoinHandle<()>)
where
    F: FnOnce(FakeConnection) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr").to_string();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        script(FakeConnection { stream, buf: BytesMut::new() }).await;
    });
    (addr, task)
}

/// A request as the broker saw it.
#[derive(Debug)]
pub(super) struct Received {
    pub(super) header: RequestHeader,
    pub(super) api: ApiKey,
    /// The body, after the header.
    pub(super) body: Bytes,
}

/// The broker's side of one connection.
pub(super) struct FakeConnection {
    stream: TcpStream,
    buf: BytesMut,
}

impl FakeConnection {
    /// The next request, or `None` when the client closed the connection.
    pub(super) async fn next_request(&mut self) -> Option<Received> {
        loop {
            if let Some(size) = frame_length(&self.buf, DEFAULT_MAX_FRAME_SIZE).expect("a sane size prefix") {
                let mut frame = self.buf.split_to(4 + size).freeze().split_off(4);
                let header = RequestHeader::decode(&mut frame).expect("a valid request header");
                let api = ApiKey::from_i16(header.api_key).expect("a known api key");
                return Some(Received { header, api, body: frame });
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next request, which must be there.
    pub(super) async fn expect_request(&mut self) -> Received {
        self.next_request().await.expect("a request before the client closed")
    }

    /// Answers `request` with `response` at the request's version.
    pub(super) async fn respond<M: Message>(&mut self, request: &Received, response: &M) {
        let frame = encode_response(response, request.api, request.header.api_version, request.header.correlation_id)
            .expect("encodable response");
        self.write_raw(&frame).await;
    }

    /// Writes raw bytes.
    pub(super) async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to the client");
    }

    /// Serves the ApiVersions v3 handshake, advertising every API at the codec's
    /// whole range.
    pub(super) async fn handshake(&mut self) {
        let request = self.expect_request().await;
        assert_eq!((request.api, request.header.api_version), (ApiKey::ApiVersions, 3));
        self.respond(&request, &api_versions(0, &all_apis())).await;
    }

    /// Reads the rest of the stream until the client closes it.
    pub(super) async fn drain(mut self) {
        while self.next_request().await.is_some() {}
    }
}

/// Every API at the codec's whole range.
pub(super) fn all_apis() -> Vec<(ApiKey, i16, i16)> {
    ApiKey::ALL.iter().map(|&key| (key, key.versions().min, key.versions().max)).collect()
}

/// An ApiVersions answer.
pub(super) fn api_versions(error_code: i16, apis: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
    let api_keys = apis
        .iter()
        .map(|&(key, min, max)| ApiVersion {
            api_key: key as i16,
            min_version: min,
            max_version: max,
            ..Default::default()
        })
        .collect();
    ApiVersionsResponse { error_code, api_keys, ..Default::default() }
}
