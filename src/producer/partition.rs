//! `PartitionProducer`: one per (topic, partition). Batches the partition's records
//! (the accumulator and its linger timer), knows the partition's leader, holds
//! batches while the leader is unknown or moving, owns the partition's retry state and
//! sequence numbers, and dispatches frozen batches to the leader's `BrokerProducer`.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::time::Instant;

use super::accumulator::Accumulator;
use super::broker::{Ack, BatchError, BatchOutcome, BrokerProducer, Dispatch};
use super::error::ProduceError;
use super::messages::RecordMetadata;
use super::pending::{complete_all, PendingRecord};
use super::request::REQUEST_OVERHEAD;
use super::retry::{decide, Decision};
use super::sequence::{Batch, Next, PartitionQueue, ProducerIdentity};
use super::shared::Shared;
use crate::client::{Backoff, GetMetadata, RefreshMetadata};
use crate::protocol::record::HEADER_LEN;

/// Records for this partition, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Records(pub(crate) Vec<PendingRecord>);

/// The granularity of tokio's timers, which round a delay up to the next millisecond
/// tick. The linger timer is armed a tick early and a batch due within the tick
/// leaves then: `linger` is the most a batch waits, as the Java client's `linger.ms`
/// is an upper bound, rather than up to a tick more (a batch at 5 ms left after 6.5
/// ms on average).
const TIMER_TICK: Duration = Duration::from_millis(1);

/// Sends the open batch now instead of lingering.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub(crate) struct FlushNow;

/// Stops the actor (after a flush); what it still holds is answered `Closed`.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

/// See the [module docs](self).
pub(crate) struct PartitionProducer {
    topic: Arc<str>,
    partition: i32,
    shared: Arc<Shared>,
    accumulator: Accumulator<PendingRecord>,
    queue: PartitionQueue<PendingRecord>,
    linger_timer: Option<(SpawnHandle, Instant)>,
    leader: Option<Addr<BrokerProducer>>,
    looking_up: bool,
    renewing: bool,
    backing_off: bool,
    backoff: Backoff,
}

impl PartitionProducer {
    pub(crate) fn new(topic: Arc<str>, partition: i32, shared: Arc<Shared>) -> Self {
        let config = &shared.config;
        let max_batch = config.max_request_bytes.saturating_sub(REQUEST_OVERHEAD + HEADER_LEN + topic.len());
        Self {
            accumulator: Accumulator::new(config.batch_bytes, max_batch, config.linger),
            queue: PartitionQueue::new(config.partition_in_flight(), config.idempotence),
            backoff: Backoff::new(config.retry_backoff, config.retry_backoff_max),
            topic,
            partition,
            shared,
            linger_timer: None,
            leader: None,
            looking_up: false,
            renewing: false,
            backing_off: false,
        }
    }

    fn fail_batch(&self, batch: Batch<PendingRecord>, error: &ProduceError) {
        let results = batch.records.into_iter().map(|record| (record, Err(error.clone())));
        self.complete_all(results);
    }

    fn complete_all(&self, results: impl IntoIterator<Item = (PendingRecord, Result<RecordMetadata, ProduceError>)>) {
        let shared = &self.shared;
        complete_all(results, &self.topic, Some(self.partition), &shared.outstanding, &shared.stats);
    }

    /// Moves frozen batches to the queue and keeps the linger timer on the open
    /// batch's deadline (cancelled when a size trigger froze the batch it was for).
    fn after_accumulate(&mut self, ctx: &mut Context<Self>) {
        for records in self.accumulator.take_ready() {
            self.queue.push(records);
        }
        let wanted = self.accumulator.deadline();
        if self.linger_timer.map(|(_, at)| at) != wanted {
            if let Some((handle, _)) = self.linger_timer.take() {
                ctx.cancel_future(handle);
            }
            if let Some(at) = wanted {
                let delay = at.saturating_duration_since(Instant::now()).saturating_sub(TIMER_TICK);
                let handle = ctx.run_later(delay, |act, ctx| {
                    act.linger_timer = None;
                    act.accumulator.on_linger(Instant::now() + TIMER_TICK);
                    act.after_accumulate(ctx);
                    act.pump(ctx);
                });
                self.linger_timer = Some((handle, at));
            }
        }
    }

    /// Dispatches whatever the queue allows.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.queue.drained() {
            // A retry waits for every in-flight batch to come back. Whichever outcome
            // brought the last one back (an ack, a failure, a retry), it is time to
            // back off and resume; checking here covers every path to this point.
            return self.back_off(ctx);
        }
        if self.shared.is_fenced() {
            for batch in self.queue.expire(Instant::now() + Duration::from_secs(1 << 30), |_| Instant::now()) {
                self.fail_batch(batch, &ProduceError::Fenced);
            }
            return;
        }
        loop {
            let Some(leader) = self.leader.clone() else {
                if self.queue.queued() > 0 {
                    self.look_up_leader(false, ctx);
                }
                return;
            };
            let identity = if self.shared.config.idempotence { self.shared.identity() } else { None };
            match self.queue.next(identity) {
                Next::Send(batch) => {
                    let (topic, partition) = (self.topic.clone(), self.partition);
                    leader.do_send(Dispatch { topic, partition, batch, reply_to: ctx.address() });
                }
                Next::Idle | Next::Wait => return,
                Next::NeedIdentity => return self.renew_identity(None, ctx),
                Next::NeedBump(stale) => return self.renew_identity(Some(stale), ctx),
            }
        }
    }

    fn renew_identity(&mut self, stale: Option<ProducerIdentity>, ctx: &mut Context<Self>) {
        if self.renewing {
            return;
        }
        self.renewing = true;
        let renew = self.shared.clone().renew_identity(stale);
        ctx.spawn(renew.into_actor(self).map(|answer, act, ctx| {
            act.renewing = false;
            match answer {
                Ok(_) => act.pump(ctx),
                Err(error) => {
                    tracing::debug!(topic = %act.topic, partition = act.partition, %error, "no producer id yet");
                    act.back_off(ctx);
                }
            }
        }));
    }

    fn look_up_leader(&mut self, refresh: bool, ctx: &mut Context<Self>) {
        if self.looking_up || self.backing_off {
            return;
        }
        self.looking_up = true;
        let request = self.shared.cluster.send(GetMetadata { topics: vec![self.topic.to_string()], refresh });
        ctx.spawn(request.into_actor(self).map(|answer, act, ctx| {
            act.looking_up = false;
            let node = match answer {
                Ok(Ok(metadata)) => metadata.leader(&act.topic, act.partition).map(|broker| broker.id),
                Ok(Err(error)) => {
                    tracing::debug!(topic = %act.topic, partition = act.partition, %error, "leader lookup failed");
                    None
                }
                Err(_) => None,
            };
            match node {
                Some(node) => {
                    act.leader = Some(act.shared.broker(node));
                    act.pump(ctx);
                }
                None => act.back_off(ctx),
            }
        }));
    }

    /// Waits the next backoff, then refreshes the leader and sends again.
    fn back_off(&mut self, ctx: &mut Context<Self>) {
        if self.backing_off {
            return;
        }
        self.backing_off = true;
        ctx.run_later(self.backoff.next_delay(), |act, ctx| {
            act.backing_off = false;
            act.queue.resume();
            if act.leader.is_none() {
                act.look_up_leader(true, ctx);
            } else {
                act.pump(ctx);
            }
        });
    }

    fn acknowledged(&mut self, batch: Batch<PendingRecord>, ack: Ack) {
        self.queue.acknowledged();
        self.backoff.reset();
        let results = (0i64..).zip(batch.records).map(|(index, record)| {
            let offset = if ack.base_offset < 0 { -1 } else { ack.base_offset + index };
            let timestamp = if ack.log_append_time >= 0 { ack.log_append_time } else { record.timestamp };
            let metadata = RecordMetadata { topic: self.topic.clone(), partition: self.partition, offset, timestamp };
            (record, Ok(metadata))
        });
        self.complete_all(results);
    }

    fn on_error(&mut self, batch: Batch<PendingRecord>, error: BatchError) {
        let decision = match &error {
            BatchError::Kafka(code) => decide(*code),
            BatchError::Connection(_) | BatchError::Timeout => Decision::RefreshAndRetry,
            BatchError::Client(e) if e.is_retriable() => Decision::RefreshAndRetry,
            BatchError::Client(_) | BatchError::Encode => Decision::Fail,
        };
        let typed = || match &error {
            BatchError::Kafka(code) => {
                ProduceError::Kafka { topic: self.topic.clone(), partition: self.partition, error: *code }
            }
            BatchError::Connection(e) => ProduceError::Connection(e.clone()),
            BatchError::Client(e) => ProduceError::Client(e.clone()),
            BatchError::Timeout | BatchError::Encode => {
                ProduceError::DeliveryTimeout { topic: self.topic.clone(), partition: Some(self.partition) }
            }
        };
        let expired = batch.records.first().is_some_and(|r| r.deadline <= Instant::now());
        match decision {
            Decision::Duplicate => self.acknowledged(batch, Ack { base_offset: -1, log_append_time: -1 }),
            Decision::Fenced => {
                self.shared.fence();
                self.queue.failed(&batch);
                self.fail_batch(batch, &ProduceError::Fenced);
            }
            Decision::Fail => {
                self.queue.failed(&batch);
                self.fail_batch(batch, &typed());
            }
            _ if expired => {
                self.queue.failed(&batch);
                let timeout =
                    ProduceError::DeliveryTimeout { topic: self.topic.clone(), partition: Some(self.partition) };
                self.fail_batch(batch, &timeout);
            }
            retry => {
                tracing::debug!(topic = %self.topic, partition = self.partition, ?error, ?retry, "retrying batch");
                self.shared.stats.retried(batch.records.len());
                if retry == Decision::RefreshAndRetry {
                    self.leader = None;
                    self.shared.cluster.do_send(RefreshMetadata);
                }
                if retry == Decision::ResetSequence {
                    self.queue.retry_after_bump(batch);
                } else {
                    self.queue.retry(batch);
                }
            }
        }
    }

    /// Fails the queued batches past their delivery deadline.
    fn expire(&mut self, ctx: &mut Context<Self>) {
        let error = ProduceError::DeliveryTimeout { topic: self.topic.clone(), partition: Some(self.partition) };
        for batch in self.queue.expire(Instant::now(), |r| r.deadline) {
            self.fail_batch(batch, &error);
        }
        self.pump(ctx);
    }
}

impl Actor for PartitionProducer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let period =
            (self.shared.config.delivery_timeout / 20).clamp(Duration::from_millis(10), Duration::from_secs(1));
        ctx.run_interval(period, |act, ctx| act.expire(ctx));
        self.look_up_leader(false, ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.accumulator.freeze();
        for records in self.accumulator.take_ready() {
            self.queue.push(records);
        }
        for batch in self.queue.expire(Instant::now() + Duration::from_secs(1 << 30), |_| Instant::now()) {
            self.fail_batch(batch, &ProduceError::Closed);
        }
    }
}

impl Handler<Records> for PartitionProducer {
    type Result = ();

    fn handle(&mut self, Records(records): Records, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let mut frozen = self.accumulator.push_all(records, now);
        // With a zero linger the records that came together leave together, now.
        frozen |= self.accumulator.on_linger(now);
        self.after_accumulate(ctx);
        if frozen {
            self.pump(ctx);
        }
    }
}

impl Handler<FlushNow> for PartitionProducer {
    type Result = ();

    fn handle(&mut self, _: FlushNow, ctx: &mut Context<Self>) {
        self.accumulator.freeze();
        self.after_accumulate(ctx);
        self.pump(ctx);
    }
}

impl Handler<BatchOutcome> for PartitionProducer {
    type Result = ();

    fn handle(&mut self, outcome: BatchOutcome, ctx: &mut Context<Self>) {
        match outcome.result {
            Ok(ack) => self.acknowledged(outcome.batch, ack),
            Err(error) => self.on_error(outcome.batch, error),
        }
        self.pump(ctx);
    }
}

impl Handler<Shutdown> for PartitionProducer {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
