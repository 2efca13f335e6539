//! `BrokerProducer`: one per broker node. Owns the connection, assembles produce
//! requests from the batches its partitions dispatch, keeps at most `max_in_flight`
//! requests in flight, and hands each batch's outcome back to its `PartitionProducer`.
//!
//! Supervised: a broken connection or an undecodable response stops the actor, its
//! `Supervisor` restarts it, and [`restarting`](actix::Supervised::restarting) hands
//! every in-flight batch back as a retriable error (the actor is not re-created, so
//! it also drops the connection and its scheduled work). Nothing is dropped: the
//! partitions retry, and with idempotence the broker deduplicates what it had
//! appended.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use actix::prelude::*;
use tokio::time::Instant;
use tracing::Instrument;

use super::config::Acks;
use super::partition::PartitionProducer;
use super::pending::PendingRecord;
use super::request::{assemble, encode, produce_request};
use super::sequence::Batch;
use super::shared::Shared;
use crate::client::{ClientError, GetConnection};
use crate::net::{BrokerConnection, ConnectionError};
use crate::protocol::messages::ProduceResponse;
use crate::protocol::{ApiKey, ErrorCode};

/// A frozen batch for one partition, with where its outcome goes.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Dispatch {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) batch: Batch<PendingRecord>,
    pub(crate) reply_to: Addr<PartitionProducer>,
}

/// Where an acknowledged batch landed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ack {
    pub(crate) base_offset: i64,
    /// The broker's append time, or -1 (create time).
    pub(crate) log_append_time: i64,
}

/// Why a batch was not acknowledged.
#[derive(Debug, Clone)]
pub(crate) enum BatchError {
    Kafka(ErrorCode),
    Connection(ConnectionError),
    Client(ClientError),
    Timeout,
    /// The batch cannot be encoded (a key, value or header over 2 GiB).
    Encode,
}

/// A batch's outcome, sent back to its `PartitionProducer`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct BatchOutcome {
    pub(crate) batch: Batch<PendingRecord>,
    pub(crate) result: Result<Ack, BatchError>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct SendNow;

/// See the [module docs](self).
pub(crate) struct BrokerProducer {
    node: i32,
    shared: Arc<Shared>,
    connection: Option<BrokerConnection>,
    connecting: bool,
    queue: VecDeque<Dispatch>,
    in_flight: HashMap<u64, Vec<Dispatch>>,
    next_request: u64,
    send_scheduled: bool,
}

impl BrokerProducer {
    pub(crate) fn new(node: i32, shared: Arc<Shared>) -> Self {
        Self {
            node,
            shared,
            connection: None,
            connecting: false,
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
            next_request: 0,
            send_scheduled: false,
        }
    }

    fn schedule_send(&mut self, ctx: &mut Context<Self>) {
        if !self.send_scheduled {
            self.send_scheduled = true;
            ctx.notify(SendNow);
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.connecting {
            return;
        }
        self.connecting = true;
        let request = self.shared.cluster.send(GetConnection { node: self.node });
        ctx.spawn(request.into_actor(self).map(|answer, act, ctx| {
            act.connecting = false;
            match answer.unwrap_or(Err(ClientError::Stopped)) {
                Ok(connection) => {
                    act.connection = Some(connection);
                    act.schedule_send(ctx);
                }
                Err(error) => {
                    tracing::debug!(broker = act.node, %error, "no connection; batches go back to their partitions");
                    for dispatch in act.queue.drain(..) {
                        answer_batch(dispatch, Err(BatchError::Client(error.clone())));
                    }
                }
            }
        }));
    }

    fn send_requests(&mut self, ctx: &mut Context<Self>) {
        let Some(connection) = self.connection.clone() else {
            if !self.queue.is_empty() {
                self.connect(ctx);
            }
            return;
        };
        if connection.is_closed() {
            // A broken connection: the supervisor restarts the actor on a new one.
            tracing::warn!(broker = self.node, "produce connection closed; restarting");
            return ctx.stop();
        }
        let max_in_flight = usize::from(self.shared.config.max_in_flight);
        while self.in_flight.len() < max_in_flight && !self.queue.is_empty() {
            self.send_one(&connection, ctx);
        }
    }

    fn send_one(&mut self, connection: &BrokerConnection, ctx: &mut Context<Self>) {
        let config = &self.shared.config;
        let taken = assemble(
            &mut self.queue,
            config.max_request_bytes,
            |d| (d.topic.clone(), d.partition),
            |d| d.batch.records.iter().map(PendingRecord::size).sum(),
        );
        let (mut encoded, mut dispatches, mut raw_bytes) = (Vec::new(), Vec::new(), 0);
        for dispatch in taken {
            match encode(&dispatch.batch, config.compression) {
                Ok((bytes, raw)) => {
                    raw_bytes += raw;
                    encoded.push((dispatch.topic.clone(), dispatch.partition, bytes));
                    dispatches.push(dispatch);
                }
                Err(error) => {
                    tracing::warn!(topic = %dispatch.topic, partition = dispatch.partition, %error, "batch does not encode");
                    answer_batch(dispatch, Err(BatchError::Encode));
                }
            }
        }
        if dispatches.is_empty() {
            return;
        }
        let items: Vec<(&str, i32, bytes::Bytes)> = encoded.iter().map(|(t, p, b)| (&**t, *p, b.clone())).collect();
        let bytes: usize = items.iter().map(|(_, _, b)| b.len()).sum();
        let records: usize = dispatches.iter().map(|d| d.batch.records.len()).sum();
        let timeout = config.request_timeout;
        let request =
            produce_request(config.acks.code(), i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX), &items);
        let id = self.next_request;
        self.next_request += 1;
        self.in_flight.insert(id, dispatches);
        let span = tracing::debug_span!("produce_request", broker = self.node, request = id, records, bytes);
        let connection = connection.clone();
        let acks_none = config.acks == Acks::None;
        let call = async move {
            let started = Instant::now();
            let send = async {
                if acks_none {
                    let version = connection.version_for(ApiKey::Produce)?;
                    connection.send_without_response(&request, version).await.map(|()| None)
                } else {
                    connection.request(&request).await.map(Some)
                }
            };
            let answer = tokio::time::timeout(timeout, send).await.ok();
            let elapsed = started.elapsed();
            let ok = matches!(answer, Some(Ok(_)));
            tracing::debug!(
                elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                ok,
                "produce answered"
            );
            (answer, elapsed)
        };
        ctx.spawn(call.instrument(span).into_actor(self).map(move |(answer, elapsed), act, ctx| {
            act.on_answer(id, answer, raw_bytes, bytes, elapsed, ctx);
        }));
    }

    fn on_answer(
        &mut self,
        id: u64,
        answer: Option<Result<Option<ProduceResponse>, ConnectionError>>,
        raw_bytes: usize,
        bytes: usize,
        elapsed: std::time::Duration,
        ctx: &mut Context<Self>,
    ) {
        let Some(dispatches) = self.in_flight.remove(&id) else { return };
        match answer {
            Some(Ok(response)) => {
                self.shared.stats.request_latency(elapsed);
                let share = dispatches.len().max(1);
                for dispatch in dispatches {
                    let result = match &response {
                        None => Ok(Ack { base_offset: -1, log_append_time: -1 }),
                        Some(response) => partition_result(response, &dispatch.topic, dispatch.partition),
                    };
                    if result.is_ok() {
                        self.shared.stats.batch_sent(bytes / share, raw_bytes / share);
                    }
                    answer_batch(dispatch, result);
                }
                self.schedule_send(ctx);
            }
            Some(Err(error)) => {
                let broken = !matches!(error, ConnectionError::RequestTimeout { .. });
                for dispatch in dispatches {
                    answer_batch(dispatch, Err(BatchError::Connection(error.clone())));
                }
                if broken {
                    tracing::warn!(broker = self.node, %error, "produce connection failed; restarting");
                    ctx.stop();
                } else {
                    self.schedule_send(ctx);
                }
            }
            None => {
                for dispatch in dispatches {
                    answer_batch(dispatch, Err(BatchError::Timeout));
                }
                self.schedule_send(ctx);
            }
        }
    }
}

fn partition_result(response: &ProduceResponse, topic: &str, partition: i32) -> Result<Ack, BatchError> {
    let found = response
        .responses
        .iter()
        .filter(|t| t.name == topic)
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition);
    let Some(answer) = found else { return Err(BatchError::Kafka(ErrorCode::NetworkException)) };
    match ErrorCode::from_i16(answer.error_code) {
        ErrorCode::None => Ok(Ack { base_offset: answer.base_offset, log_append_time: answer.log_append_time_ms }),
        error => Err(BatchError::Kafka(error)),
    }
}

fn answer_batch(dispatch: Dispatch, result: Result<Ack, BatchError>) {
    dispatch.reply_to.do_send(BatchOutcome { batch: dispatch.batch, result });
}

impl Actor for BrokerProducer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if !self.queue.is_empty() {
            self.schedule_send(ctx);
        }
    }
}

impl Supervised for BrokerProducer {
    fn restarting(&mut self, _: &mut Context<Self>) {
        let in_flight: usize = self.in_flight.values().map(Vec::len).sum();
        tracing::warn!(broker = self.node, in_flight, queued = self.queue.len(), "broker producer restarting");
        self.shared.stats.broker_restarted();
        self.connection = None;
        self.connecting = false;
        self.send_scheduled = false;
        for (_, dispatches) in self.in_flight.drain() {
            for dispatch in dispatches {
                let error = ConnectionError::Closed { addr: format!("node {}", self.node) };
                answer_batch(dispatch, Err(BatchError::Connection(error)));
            }
        }
    }
}

impl Handler<Dispatch> for BrokerProducer {
    type Result = ();

    fn handle(&mut self, dispatch: Dispatch, ctx: &mut Context<Self>) {
        self.queue.push_back(dispatch);
        self.schedule_send(ctx);
    }
}

impl Handler<SendNow> for BrokerProducer {
    type Result = ();

    fn handle(&mut self, _: SendNow, ctx: &mut Context<Self>) {
        self.send_scheduled = false;
        self.send_requests(ctx);
    }
}
