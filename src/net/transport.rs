//! The request side of a connection: encodes a request into a whole frame, registers
//! its waiter, queues the frame for the writer task and waits for the reader task to
//! hand back the response frame, all under the request timeout.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, RwLock, RwLockWriteGuard};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::config::ConnectionConfig;
use super::error::ConnectionError;
use super::shared::Shared;
use super::writer::{Outgoing, QUEUE_DEPTH};
use super::{reader, writer};
use crate::protocol::frame::{decode_response, encode_request};
use crate::protocol::{ApiKey, Request};

/// A running connection: the shared state, the writer's queue and the two tasks.
/// Dropping it closes the connection.
#[derive(Debug)]
pub(super) struct Transport {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Outgoing>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    config: ConnectionConfig,
    /// Held shared while a request's frame is queued, exclusively for a whole
    /// re-authentication: see `auth.rs` for why no frame may come in between.
    gate: RwLock<()>,
}

/// Whether a request takes the transport's gate (shared) or its caller already holds
/// it exclusively (re-authentication).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    /// Take the gate shared while queueing the frame.
    Take,
    /// The caller holds the gate exclusively.
    Held,
}

impl Transport {
    /// Starts the reader and writer tasks on the two halves of a stream (a TCP
    /// stream's owned halves, or a TLS stream split with `tokio::io::split`).
    pub(super) fn start<R, W>(read_half: R, write_half: W, addr: &str, config: ConnectionConfig) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let shared = Arc::new(Shared::new(addr));
        let (queue, queued) = mpsc::channel(QUEUE_DEPTH);
        let reader = tokio::spawn(reader::run(read_half, shared.clone(), config.max_frame_size));
        let writer = tokio::spawn(writer::run(write_half, queued, shared.clone()));
        Self { shared, queue, tasks: Mutex::new(vec![reader, writer]), config, gate: RwLock::new(()) }
    }

    /// The state shared with the I/O tasks.
    pub(super) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Waits until no request is queueing its frame and keeps every other request
    /// from queueing one until the guard is dropped.
    pub(super) async fn gate_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().await
    }

    pub(super) fn addr(&self) -> &str {
        self.shared.addr()
    }

    pub(super) fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    pub(super) fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.shared.waiting()
    }

    /// Encodes `request` as a whole frame under a fresh correlation id.
    fn encode<R: Request>(&self, request: &R, version: i16) -> Result<(i32, Bytes), ConnectionError> {
        let correlation_id = self.shared.next_correlation_id();
        let frame = encode_request(request, version, correlation_id, self.config.client_id.as_deref())
            .map_err(|source| ConnectionError::Encode { api: R::API_KEY, version, source })?;
        Ok((correlation_id, frame.freeze()))
    }

    /// The tracing span of one request.
    fn span<R: Request>(&self, version: i16, correlation_id: i32) -> tracing::Span {
        tracing::debug_span!("kafka_request", api = %R::API_KEY, version, broker = %self.addr(), correlation_id)
    }

    /// Sends `request` at `version` and returns the response frame (header and body,
    /// without the size prefix).
    pub(super) async fn call<R: Request>(&self, request: &R, version: i16) -> Result<Bytes, ConnectionError> {
        self.call_gated(request, version, Gate::Take).await
    }

    /// Like [`call`](Self::call), decoding the response.
    pub(super) async fn call_decoded<R: Request>(
        &self,
        request: &R,
        version: i16,
        gate: Gate,
    ) -> Result<R::Response, ConnectionError> {
        let frame = self.call_gated(request, version, gate).await?;
        decode_response::<R::Response>(frame, R::API_KEY, version).map(|(_, response)| response).map_err(|source| {
            ConnectionError::Decode { addr: self.addr().to_owned(), api: R::API_KEY, version, source }
        })
    }

    async fn call_gated<R: Request>(&self, request: &R, version: i16, gate: Gate) -> Result<Bytes, ConnectionError> {
        let (correlation_id, frame) = self.encode(request, version)?;
        let span = self.span::<R>(version, correlation_id);
        let started = Instant::now();
        let result = self.round_trip(R::API_KEY, correlation_id, frame, gate).instrument(span.clone()).await;
        let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        span.in_scope(|| match &result {
            Ok(response) => tracing::debug!(elapsed_us, response_bytes = response.len(), "response received"),
            Err(error) => tracing::debug!(elapsed_us, %error, "request failed"),
        });
        result
    }

    async fn round_trip(
        &self,
        api: ApiKey,
        correlation_id: i32,
        frame: Bytes,
        gate: Gate,
    ) -> Result<Bytes, ConnectionError> {
        let timeout = self.config.request_timeout;
        let exchange = async {
            let shared_gate = match gate {
                Gate::Take => Some(self.gate.read().await),
                Gate::Held => None,
            };
            let reply = self.shared.register(correlation_id, api)?;
            let mut registration = Registration { shared: &self.shared, correlation_id, handed_over: false };
            let permit = self.queue.reserve().await.map_err(|_| self.shared.close_cause())?;
            // From here on the frame is the writer's: it goes out whole even if this
            // future is dropped, and its response then finds a closed waiter.
            permit.send(Outgoing { frame, written: None });
            registration.handed_over = true;
            drop(shared_gate);
            reply.await.unwrap_or_else(|_| Err(self.shared.close_cause()))
        };
        tokio::time::timeout(timeout, exchange).await.unwrap_or_else(|_| {
            Err(ConnectionError::RequestTimeout { addr: self.addr().to_owned(), api, correlation_id, timeout })
        })
    }

    /// Sends `request` at `version` expecting no response (Produce with acks=0);
    /// returns once the frame has been flushed to the socket.
    pub(super) async fn send<R: Request>(&self, request: &R, version: i16) -> Result<(), ConnectionError> {
        let (correlation_id, frame) = self.encode(request, version)?;
        let timeout = self.config.request_timeout;
        let span = self.span::<R>(version, correlation_id);
        let exchange = async {
            if self.shared.is_closed() {
                return Err(ConnectionError::closed(self.addr()));
            }
            let (done, written) = oneshot::channel();
            let gate = self.gate.read().await;
            let permit = self.queue.reserve().await.map_err(|_| self.shared.close_cause())?;
            permit.send(Outgoing { frame, written: Some(done) });
            drop(gate);
            written.await.map_err(|_| self.shared.close_cause())
        };
        let result = tokio::time::timeout(timeout, exchange).instrument(span.clone()).await.unwrap_or_else(|_| {
            Err(ConnectionError::RequestTimeout {
                addr: self.addr().to_owned(),
                api: R::API_KEY,
                correlation_id,
                timeout,
            })
        });
        span.in_scope(|| match &result {
            Ok(()) => tracing::debug!("one-way request written"),
            Err(error) => tracing::debug!(%error, "one-way request failed"),
        });
        result
    }

    /// Closes the connection and waits for both tasks to stop. Waiting requests get
    /// `Closed`; frames still queued are not written.
    pub(super) async fn close(&self) {
        self.shared.fail(ConnectionError::closed(self.addr()));
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            if let Err(error) = task.await {
                tracing::warn!(broker = %self.addr(), %error, "connection task ended abnormally");
            }
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.shared.fail(ConnectionError::closed(self.addr()));
    }
}

/// Removes a waiter whose frame never reached the writer when its request future
/// is dropped (or times out) early. Once the frame is handed over, the waiter stays
/// until its response arrives, so that the response is recognised and discarded.
struct Registration<'a> {
    shared: &'a Shared,
    correlation_id: i32,
    handed_over: bool,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.handed_over {
            self.shared.forget(self.correlation_id);
        }
    }
}
