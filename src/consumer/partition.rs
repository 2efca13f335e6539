//! `PartitionConsumer`: one per assigned partition. A thin shell over
//! [`PartitionState`]: it resolves the start position (ListOffsets for a reset), finds
//! the partition's leader and registers with that broker's `BrokerConsumer`, takes the
//! fetched records, delivers them to the subscriber one [`Records`] at a time (the
//! next waits for the reply), acknowledges, redelivers after an `Err`, follows leader
//! changes and applies the reset policy, and watches itself for stalls.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::broker::{BrokerConsumer, FetchResult, NextWant, RestartBroker, Unwant, Want};
use super::config::OffsetReset;
use super::error::ConsumeError;
use super::internal::Acknowledged;
use super::list_offsets::{self, EARLIEST, LATEST};
use super::messages::{ConsumerEvent, Records};
use super::position::{FetchOutcome, Halt, PartitionSettings, PartitionState};
use super::shared::{Counters, Shared};
use super::stall::{StallDetector, StallInputs};
use super::types::{StartPosition, TopicPartition};
use crate::client::{ClientError, GetMetadata};
use crate::protocol::primitives::Uuid;
use crate::protocol::{ApiKey, ErrorCode};

/// Where a partition's deliveries and events go.
#[derive(Clone)]
pub(crate) struct Subscriber {
    pub(crate) records: Recipient<Records>,
    pub(crate) events: Option<Recipient<ConsumerEvent>>,
    /// Where acknowledgements go, with a group.
    pub(crate) coordinator: Option<Recipient<Acknowledged>>,
}

impl Subscriber {
    pub(crate) fn event(&self, event: ConsumerEvent) {
        match &self.events {
            Some(events) => events.do_send(event),
            None => tracing::warn!(?event, "consumer event (no event recipient)"),
        }
    }
}

#[path = "partition_handlers.rs"]
mod handlers;

pub(crate) use handlers::{Drain, GetPartitionStats, SeekPartition, SetPaused, StopPartition};

struct Route {
    broker: Addr<BrokerConsumer>,
    topic_id: Uuid,
}

/// See the [module docs](self).
pub(crate) struct PartitionConsumer {
    shared: Arc<Shared>,
    state: PartitionState,
    start: Option<StartPosition>,
    subscriber: Subscriber,
    route: Option<Route>,
    routing: bool,
    registered: bool,
    waiting_room: bool,
    subscriber_gone: bool,
    draining: bool,
    drained: Vec<oneshot::Sender<()>>,
    /// A delivery was answered `Err` and waits out the redelivery backoff: nothing is
    /// in flight at the subscriber, so a drain need not wait for it.
    redelivery_pending: bool,
    stall: StallDetector,
    stalls_in_a_row: u32,
    redeliver_on_start: bool,
}

impl PartitionConsumer {
    /// Starts the partition's consumer under a `Supervisor`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        tp: TopicPartition,
        start: StartPosition,
        subscriber: Subscriber,
    ) -> Addr<Self> {
        Supervisor::start(move |_| {
            let config = &shared.config;
            let settings = PartitionSettings {
                partition_max_bytes: config.max_partition_fetch_bytes,
                buffer_limit: usize::try_from(config.max_partition_fetch_bytes).unwrap_or(1 << 20).saturating_mul(4),
                corrupt_retries: config.corrupt_batch_retries,
            };
            PartitionConsumer {
                state: PartitionState::new(tp, shared.budget.clone(), settings),
                stall: StallDetector::new(config.stall_timeout, Instant::now()),
                shared,
                start: Some(start),
                subscriber,
                route: None,
                routing: false,
                registered: false,
                waiting_room: false,
                subscriber_gone: false,
                draining: false,
                drained: Vec::new(),
                redelivery_pending: false,
                stalls_in_a_row: 0,
                redeliver_on_start: false,
            }
        })
    }

    fn tp(&self) -> &TopicPartition {
        self.state.topic_partition()
    }

    fn active(&self) -> bool {
        !self.subscriber_gone && !self.draining
    }

    // ---- position -----------------------------------------------------------------

    fn resolve(&mut self, start: StartPosition, ctx: &mut Context<Self>) {
        match start {
            StartPosition::Offset { offset, leader_epoch } => {
                self.unwant();
                self.state.seek(offset, leader_epoch);
                self.register(ctx);
            }
            StartPosition::Earliest => self.lookup(EARLIEST, ctx),
            StartPosition::Latest => self.lookup(LATEST, ctx),
            StartPosition::Reset => self.reset(-1, ctx),
        }
    }

    /// Applies the reset policy; `offset` is the position that was out of range (-1
    /// when there was none).
    fn reset(&mut self, offset: i64, ctx: &mut Context<Self>) {
        match self.shared.config.offset_reset {
            OffsetReset::Earliest => self.lookup(EARLIEST, ctx),
            OffsetReset::Latest => self.lookup(LATEST, ctx),
            OffsetReset::None => {
                self.unwant();
                self.state.halt(Halt::OutOfRange { offset });
                let tp = self.tp().clone();
                tracing::warn!(partition = %tp, offset, "offset out of range and reset policy none; waiting for a seek");
                let error = ConsumeError::OffsetOutOfRange { topic: tp.topic, partition: tp.partition, offset };
                self.subscriber.event(ConsumerEvent::Error(error));
            }
        }
    }

    fn lookup(&mut self, timestamp: i64, ctx: &mut Context<Self>) {
        self.unwant();
        self.state.unset_position();
        let seq = self.state.seq();
        let (shared, tp) = (self.shared.clone(), self.tp().clone());
        let lookup = async move { list_offsets::lookup(&shared, &tp, timestamp).await };
        ctx.spawn(lookup.into_actor(self).map(move |answer, act, ctx| {
            if act.state.seq() != seq {
                return; // a seek meanwhile
            }
            match answer {
                Ok(offset) => {
                    tracing::debug!(partition = %act.tp(), offset, timestamp, "position reset");
                    act.state.seek(offset, -1);
                    act.register(ctx);
                }
                Err(error) => {
                    tracing::warn!(partition = %act.tp(), %error, "ListOffsets failed; trying again");
                    act.subscriber.event(ConsumerEvent::Error(error));
                    ctx.run_later(act.shared.config.retry_backoff_max, move |act, ctx| {
                        if act.state.seq() == seq {
                            act.lookup(timestamp, ctx);
                        }
                    });
                }
            }
        }));
    }

    // ---- leader and registration ----------------------------------------------------

    fn unwant(&mut self) {
        if self.registered {
            if let Some(route) = &self.route {
                route.broker.do_send(Unwant { tp: self.tp().clone() });
            }
            self.registered = false;
        }
    }

    fn route(&mut self, refresh: bool, ctx: &mut Context<Self>) {
        if self.routing {
            return;
        }
        self.unwant();
        self.route = None;
        self.routing = true;
        let topic = self.tp().topic.to_string();
        let request = self.shared.cluster.send(GetMetadata { topics: vec![topic], refresh });
        ctx.spawn(request.into_actor(self).map(|answer, act, ctx| {
            act.routing = false;
            let metadata = match answer.map_err(ClientError::from).and_then(|r| r) {
                Ok(metadata) => metadata,
                Err(error) => {
                    tracing::debug!(partition = %act.tp(), %error, "no metadata; trying again");
                    return act.route_later(ctx);
                }
            };
            let tp = act.tp();
            let topic = metadata.topics.get(&*tp.topic);
            let partition = topic.and_then(|t| t.partitions.iter().find(|p| p.id == tp.partition));
            match (metadata.leader(&tp.topic, tp.partition), topic, partition) {
                (Some(leader), Some(topic), Some(partition)) => {
                    let (node, epoch, topic_id) = (leader.id, partition.leader_epoch, topic.id);
                    tracing::debug!(partition = %tp, leader = node, epoch, "leader found");
                    act.state.set_leader_epoch(epoch);
                    act.route = Some(Route { broker: act.shared.broker(node), topic_id });
                    act.register(ctx);
                }
                _ => act.route_later(ctx),
            }
        }));
    }

    /// The broker consumer dropped our want (an error, a restart): forget the route so
    /// that nothing registers with it again, and look the leader up after the backoff.
    fn reroute(&mut self, ctx: &mut Context<Self>) {
        self.registered = false;
        self.route = None;
        self.route_later(ctx);
    }

    fn route_later(&mut self, ctx: &mut Context<Self>) {
        ctx.run_later(self.shared.config.retry_backoff, |act, ctx| act.route(true, ctx));
    }

    /// The want to register now, if any; marks it registered.
    fn next_want(&mut self, ctx: &mut Context<Self>) -> Option<NextWant> {
        if self.registered || self.route.is_none() || !self.active() {
            return None;
        }
        match self.state.want() {
            Some(fetch) => {
                self.registered = true;
                Some(NextWant { seq: self.state.seq(), fetch })
            }
            None => {
                self.wait_for_room(ctx);
                None
            }
        }
    }

    /// Whether the partition would want data but for room (its buffer or the
    /// consumer's budget is full): it wants again as soon as its records are taken.
    pub(super) fn held_back(&self) -> bool {
        !self.registered && self.route.is_some() && self.active() && self.state.held_back()
    }

    fn register(&mut self, ctx: &mut Context<Self>) {
        let Some(next) = self.next_want(ctx) else { return };
        let Some(route) = &self.route else { return };
        route.broker.do_send(Want {
            tp: self.tp().clone(),
            topic_id: route.topic_id,
            next,
            reply_to: ctx.address().downgrade(),
        });
    }

    /// Left out because the consumer's budget is full: ask again when room is made.
    fn wait_for_room(&mut self, ctx: &mut Context<Self>) {
        if self.waiting_room || self.shared.budget.has_room() || self.state.fetch_position().is_none() {
            return;
        }
        self.waiting_room = true;
        let budget = self.shared.budget.clone();
        ctx.spawn(async move { budget.room().await }.into_actor(self).map(|(), act, ctx| {
            act.waiting_room = false;
            act.register(ctx);
        }));
    }

    // ---- fetched data -----------------------------------------------------------------

    fn on_data(&mut self, seq: u64, result: FetchResult, ctx: &mut Context<Self>) {
        match result {
            FetchResult::Data { decoded, high_watermark } => {
                match self.state.on_fetched(seq, decoded, high_watermark) {
                    FetchOutcome::Stale => {}
                    FetchOutcome::Buffered { records } => {
                        if records > 0 {
                            self.stall.on_records(Instant::now());
                            self.stalls_in_a_row = 0;
                        }
                    }
                    FetchOutcome::CorruptRetry { offset, tries } => {
                        Counters::add(&self.shared.stats.corrupt_batches, 1);
                        tracing::warn!(partition = %self.tp(), offset, tries, "corrupt batch; fetching it again");
                    }
                    FetchOutcome::CorruptHalt { offset, tries, error } => {
                        Counters::add(&self.shared.stats.corrupt_batches, 1);
                        let tp = self.tp().clone();
                        tracing::warn!(partition = %tp, offset, tries, %error, "batch stays corrupt; partition halted");
                        let (topic, partition) = (tp.topic, tp.partition);
                        let error = ConsumeError::CorruptBatch { topic, partition, offset, tries, error };
                        self.subscriber.event(ConsumerEvent::Error(error));
                    }
                }
                self.deliver(ctx);
            }
            FetchResult::Error(code) if seq == self.state.seq() => self.on_fetch_error(code, ctx),
            FetchResult::Error(_) => {}
            FetchResult::Reroute => self.reroute(ctx),
        }
    }

    fn on_fetch_error(&mut self, code: ErrorCode, ctx: &mut Context<Self>) {
        let tp = self.tp().clone();
        if code == ErrorCode::OffsetOutOfRange {
            let offset = self.state.fetch_position().unwrap_or(-1);
            tracing::info!(partition = %tp, offset, "offset out of range; applying the reset policy");
            return self.reset(offset, ctx);
        }
        if code.is_retriable() {
            tracing::debug!(partition = %tp, error = code.name(), "fetch error; looking the leader up again");
            return self.reroute(ctx);
        }
        tracing::warn!(partition = %tp, error = code.name(), "fetch refused; partition halted until a seek");
        self.state.halt(Halt::Refused);
        let error =
            ConsumeError::Partition { topic: tp.topic, partition: tp.partition, api: ApiKey::Fetch, error: code };
        self.subscriber.event(ConsumerEvent::Error(error));
    }

    // ---- deliveries -------------------------------------------------------------------

    fn deliver(&mut self, ctx: &mut Context<Self>) {
        if !self.active() {
            return;
        }
        if let Some(records) = self.state.next_delivery(self.shared.config.max_records_per_delivery) {
            self.send_delivery(records, ctx);
        }
    }

    fn send_delivery(&mut self, records: Vec<super::types::ConsumerRecord>, ctx: &mut Context<Self>) {
        let count = records.len() as u64;
        Counters::add(&self.shared.stats.records_delivered, count);
        let tp = self.tp();
        let delivery = Records {
            topic: tp.topic.clone(),
            partition: tp.partition,
            records,
            high_watermark: self.state.high_watermark(),
        };
        let send = self.subscriber.records.send(delivery);
        ctx.spawn(send.into_actor(self).map(move |answer, act, ctx| act.on_answer(answer, count, ctx)));
    }

    fn on_answer(
        &mut self,
        answer: Result<Result<(), super::error::HandlerError>, MailboxError>,
        count: u64,
        ctx: &mut Context<Self>,
    ) {
        match answer {
            Ok(Ok(())) => {
                let (acked, _) = self.state.on_answer(true);
                Counters::add(&self.shared.stats.records_acknowledged, count);
                if let (Some((offset, leader_epoch)), Some(coordinator)) = (acked, &self.subscriber.coordinator) {
                    coordinator.do_send(Acknowledged { partition: self.tp().clone(), offset, leader_epoch });
                }
            }
            Ok(Err(error)) => {
                Counters::add(&self.shared.stats.handler_errors, 1);
                tracing::debug!(partition = %self.tp(), %error, "the subscriber failed a delivery; redelivering");
                let (_, redeliver) = self.state.on_answer(false);
                if redeliver && self.draining {
                    // Being given up: the failed delivery is finished, unacknowledged;
                    // whoever owns the partition next reads it again.
                    self.notify_drained();
                    return;
                }
                if redeliver {
                    self.redelivery_pending = true;
                    ctx.run_later(self.shared.config.redelivery_backoff, |act, ctx| {
                        act.redelivery_pending = false;
                        match act.state.redelivery() {
                            Some(records) if !act.draining => act.send_delivery(records, ctx),
                            _ => act.after_delivery(ctx),
                        }
                    });
                    return;
                }
            }
            Err(_) => {
                tracing::warn!(partition = %self.tp(), "the subscriber's mailbox is closed; delivering no more");
                self.state.abandon_delivery();
                self.unwant();
                self.subscriber_gone = true;
            }
        }
        self.after_delivery(ctx);
    }

    fn after_delivery(&mut self, ctx: &mut Context<Self>) {
        if !self.state.delivering() {
            self.notify_drained();
        }
        self.deliver(ctx);
        self.register(ctx);
    }

    /// Whether a delivery is at the subscriber, its answer awaited (a drain waits for
    /// it); a failed one waiting out its redelivery backoff is not.
    pub(super) fn awaiting_answer(&self) -> bool {
        self.state.delivering() && !self.redelivery_pending
    }

    fn notify_drained(&mut self) {
        for waiter in self.drained.drain(..) {
            let _drain_gone = waiter.send(());
        }
    }

    // ---- stalls -----------------------------------------------------------------------

    fn check_stall(&mut self, ctx: &mut Context<Self>) {
        let inputs = StallInputs {
            lag: self.state.lag(),
            fetchable: self.active() && self.state.fetchable(),
            delivering: self.state.delivering(),
        };
        let Some(stalled_for) = self.stall.check(inputs, Instant::now()) else { return };
        let tp = self.tp().clone();
        tracing::warn!(partition = %tp, lag = inputs.lag, ?stalled_for, "partition stalled; healing");
        Counters::add(&self.shared.stats.stalls_healed, 1);
        self.subscriber.event(ConsumerEvent::Stalled { partition: tp, lag: inputs.lag, stalled_for });
        self.stalls_in_a_row += 1;
        if self.stalls_in_a_row >= 2 {
            if let Some(route) = &self.route {
                route.broker.do_send(RestartBroker);
            }
        }
        // Whatever the broker consumer believes, register afresh with the current leader.
        self.registered = true;
        self.unwant();
        self.route(true, ctx);
    }
}

impl Actor for PartitionConsumer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let interval = (self.shared.config.stall_timeout / 4).max(std::time::Duration::from_millis(10));
        ctx.run_interval(interval, |act, ctx| act.check_stall(ctx));
        match self.start.take() {
            Some(start) => {
                tracing::debug!(partition = %self.tp(), ?start, "partition consumer started");
                self.resolve(start, ctx);
                self.route(false, ctx);
            }
            None => self.route(true, ctx),
        }
        if std::mem::take(&mut self.redeliver_on_start) {
            if let Some(records) = self.state.redelivery() {
                self.send_delivery(records, ctx);
            }
        }
    }
}

impl Supervised for PartitionConsumer {
    /// Spawned work is gone: forget the registration (its broker consumer drops a
    /// want whose reply fails) and redeliver what was in flight.
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!(partition = %self.tp(), "partition consumer restarting");
        self.unwant();
        self.route = None;
        self.routing = false;
        self.waiting_room = false;
        self.redeliver_on_start = self.state.delivering();
    }
}
