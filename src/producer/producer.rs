//! `Producer`: the dispatcher. Validates each record, charges the memory budget
//! (waiting for room with the mailbox stopped, so order is kept), and routes by topic
//! to a `TopicProducer` started on first use. Answers `Flush`, `Close` and `Stats`.

use std::collections::HashMap;
use std::sync::Arc;

use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;
use tokio::sync::oneshot;

use super::budget::{BudgetError, BudgetPermit, MemoryBudget};
use super::clock::Clock;
use super::config::{ConfigError, ProducerBuilder, ProducerConfig};
use super::error::ProduceError;
use super::messages::{Close, Flush, Produce, ProduceBatch, ProducerRecord, ProducerStats, Stats, TryProduce};
use super::partition::FlushNow;
use super::partition::Shutdown;
use super::pending::{BatchCollector, PendingRecord, RecordResult, Reply, ReplySlot};
use super::request::REQUEST_OVERHEAD;
use super::shared::Shared;
use super::topic::{TopicProducer, TopicRecords};
use crate::client::Cluster;
use crate::protocol::record::HEADER_LEN;

/// The producer actor; see the [module docs](super) for the pipeline behind it.
///
/// Build it with [`Producer::builder`], start it with [`Actor::start`], and send it
/// [`Produce`], [`TryProduce`], [`ProduceBatch`], [`Flush`], [`Close`] and [`Stats`].
pub struct Producer {
    config: ProducerConfig,
    shared: Option<Arc<Shared>>,
    start_error: Option<ConfigError>,
    topics: HashMap<Arc<str>, Addr<TopicProducer>>,
    /// Records taken and not yet forwarded, per topic (its name and actor): see
    /// [`ForwardTaken`].
    taken: Vec<(Arc<str>, Addr<TopicProducer>, Vec<PendingRecord>)>,
    forward_scheduled: bool,
    clock: Clock,
    closed: bool,
}

/// Forwards the records taken since the last forward, one message per topic.
///
/// Why: a `Produce` per record would otherwise cost a message per record on every hop
/// behind the producer. actix handles every message already in the mailbox before it
/// polls the actor's own futures (where a `notify` waits), so the records of a burst
/// of sends travel on together. Anything that must see them forwarded first (a flush,
/// a wait for budget, a shutdown) forwards them itself.
#[derive(Message)]
#[rtype(result = "()")]
struct ForwardTaken;

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("config", &self.config).field("closed", &self.closed).finish_non_exhaustive()
    }
}

/// Messages the producer's mailbox holds before `send` waits for room. Large on
/// purpose: past the capacity a `send` waits inside its future until polled, so sends
/// created first and awaited in order would reach the producer one per reply, each
/// waiting out the linger. Memory stays bounded by what the caller holds, and a full
/// budget still stops the mailbox (backpressure).
const MAILBOX_CAPACITY: usize = 1 << 20;

/// How a record waits for the memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Wait,
    Try,
}

impl Producer {
    /// A builder with every default.
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    pub(crate) fn new(config: ProducerConfig) -> Self {
        Self {
            config,
            shared: None,
            start_error: None,
            topics: HashMap::new(),
            taken: Vec::new(),
            forward_scheduled: false,
            clock: Clock::default(),
            closed: false,
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    fn topic_producer(&mut self, shared: &Arc<Shared>, topic: &Arc<str>) -> Addr<TopicProducer> {
        if let Some(known) = self.topics.get(topic) {
            return known.clone();
        }
        let started = TopicProducer::new(topic.clone(), shared.clone()).start();
        self.topics.insert(topic.clone(), started.clone());
        started
    }

    /// Why no record can be taken at all, if so.
    fn refusal(&self) -> Option<ProduceError> {
        if self.closed {
            return Some(ProduceError::Closed);
        }
        self.start_error.clone().map(ProduceError::Config)
    }

    /// Checks one record (its topic is checked once per call of [`take`](Self::take));
    /// the error is its reply.
    fn check(&self, topic: &str, record: &ProducerRecord) -> Result<usize, ProduceError> {
        if let Some(partition) = record.partition.filter(|p| *p < 0) {
            return Err(ProduceError::InvalidPartition { partition, partitions: 0 });
        }
        let charge = record.charge();
        let max = self.config.max_request_bytes;
        if charge + HEADER_LEN + REQUEST_OVERHEAD + topic.len() > max {
            return Err(ProduceError::RecordTooLarge { size: charge, max });
        }
        if charge > self.config.buffer_bytes {
            return Err(ProduceError::RecordTooLarge { size: charge, max: self.config.buffer_bytes });
        }
        Ok(charge)
    }

    /// Takes records for `topic`: checks each, charges the budget, forwards them in
    /// order. With [`Admission::Wait`], a full budget stops the mailbox until there is
    /// room (bounded by each record's delivery timeout).
    fn take(
        &mut self,
        topic_name: &Arc<str>,
        records: impl ExactSizeIterator<Item = (ProducerRecord, Reply)>,
        admission: Admission,
        ctx: &mut Context<Self>,
    ) {
        let Some(shared) = self.shared.clone() else { return };
        let topic: &str = topic_name;
        let (now_ms, now) = self.clock.now();
        let deadline = now + self.config.delivery_timeout;
        let (destination, mut ready) = self.taken_for(&shared, topic_name);
        ready.reserve(records.len());
        let mut rest = Vec::new();
        let mut ids = shared.outstanding.register_many(records.len());
        let mut reserve = Reserve::new(records.len());
        for ((record, reply), id) in records.zip(&mut ids) {
            let timestamp = record.timestamp.unwrap_or(now_ms);
            let checked = match destination {
                Some(_) => self.check(topic, &record),
                None => Err(ProduceError::InvalidTopic { topic: topic.to_owned() }),
            };
            let mut pending = PendingRecord { id, record, timestamp, reply, permit: None, deadline };
            let charge = match checked {
                Ok(charge) => charge,
                Err(error) => {
                    pending.complete(topic_name, None, Err(error), &shared.outstanding, &shared.stats);
                    continue;
                }
            };
            if !rest.is_empty() {
                rest.push((pending, charge));
                continue;
            }
            match reserve.take(&shared.budget, charge) {
                Ok(permit) => {
                    pending.permit = Some(permit);
                    ready.push(pending);
                }
                Err(BudgetError::Full { bytes, available }) if admission == Admission::Try => {
                    let error = ProduceError::BufferFull { bytes, available };
                    pending.complete(topic_name, None, Err(error), &shared.outstanding, &shared.stats);
                }
                Err(BudgetError::Full { .. }) => rest.push((pending, charge)),
                Err(error) => fail_on_budget(pending, topic_name, error, &shared),
            }
        }
        // Unused ids (an iterator that said more than it gave) are answered at once.
        if !ids.is_empty() {
            shared.outstanding.done_many(ids);
        }
        drop(reserve);
        // Records only get this far with a destination (a valid topic).
        let Some(destination) = destination else { return };
        let slow = (!rest.is_empty()).then(|| destination.clone());
        if !ready.is_empty() {
            self.taken.push((topic_name.clone(), destination, ready));
        }
        if let Some(destination) = slow {
            // The records ahead must be on their way to free the budget.
            self.forward_taken();
            ctx.wait(acquire_slowly(shared, topic_name.clone(), destination, rest).into_actor(self));
        } else if !self.forward_scheduled && !self.taken.is_empty() {
            self.forward_scheduled = true;
            ctx.notify(ForwardTaken);
        }
    }

    /// The topic's actor (`None` for an invalid name) and its taken records, taken out
    /// of [`Self::taken`] (the caller puts them back, so the per-topic order is kept).
    ///
    /// Why not look the actor up each time: cloning and dropping an `Addr` per call
    /// cost more than the rest of taking a record; a topic already in the burst is
    /// known valid and its actor is at hand.
    fn taken_for(
        &mut self,
        shared: &Arc<Shared>,
        topic: &Arc<str>,
    ) -> (Option<Addr<TopicProducer>>, Vec<PendingRecord>) {
        let found = self.taken.iter().position(|(name, _, _)| Arc::ptr_eq(name, topic) || **name == **topic);
        if let Some(at) = found {
            let (_, destination, records) = self.taken.swap_remove(at);
            return (Some(destination), records);
        }
        (valid_topic(topic).then(|| self.topic_producer(shared, topic)), Vec::new())
    }

    /// Sends the taken records on, one message per topic.
    fn forward_taken(&mut self) {
        self.clock.forget();
        for (_, destination, records) in self.taken.drain(..) {
            destination.do_send(TopicRecords(records));
        }
    }
}

impl Handler<ForwardTaken> for Producer {
    type Result = ();

    fn handle(&mut self, _: ForwardTaken, _: &mut Context<Self>) {
        self.forward_scheduled = false;
        self.forward_taken();
    }
}

/// The reply to a [`Produce`] or [`TryProduce`]: the record's [`ReplySlot`], which
/// takes actix's reply channel when the handler returns.
///
/// Public only as the `Result` of the handlers; it cannot be named outside the crate.
#[derive(Debug)]
pub struct ProduceReply(Arc<ReplySlot>);

impl MessageResponse<Producer, Produce> for ProduceReply {
    fn handle(self, _: &mut Context<Producer>, sender: Option<OneshotSender<RecordResult>>) {
        self.0.attach(sender);
    }
}

impl MessageResponse<Producer, TryProduce> for ProduceReply {
    fn handle(self, _: &mut Context<Producer>, sender: Option<OneshotSender<RecordResult>>) {
        self.0.attach(sender);
    }
}

/// Budget taken ahead for the records of one call, split off per record.
///
/// Why: a `try_acquire` per record costs a compare-and-swap on the budget's semaphore
/// and two reference counts. Taking the charge of the records still to come at once
/// (guessed from the current record's) and splitting it costs one of those per call;
/// what is left over goes back when the reserve drops. A record the guess does not
/// cover asks for its own charge, exactly as before, so a full budget still refuses
/// (or holds back) exactly the records that do not fit.
struct Reserve {
    left: usize,
    permit: Option<BudgetPermit>,
}

impl Reserve {
    fn new(records: usize) -> Self {
        Self { left: records, permit: None }
    }

    /// A permit of `charge` bytes for the next record.
    fn take(&mut self, budget: &MemoryBudget, charge: usize) -> Result<BudgetPermit, BudgetError> {
        let ahead = self.left;
        self.left = self.left.saturating_sub(1);
        if let Some(permit) = self.permit.as_mut().and_then(|held| held.try_split(charge)) {
            return Ok(permit);
        }
        // The old reserve is too small for this record: give it back first, so the
        // bytes it holds count towards the new one.
        self.permit = None;
        if ahead > 1 {
            if let Ok(mut permit) = budget.try_acquire(charge.saturating_mul(ahead)) {
                let own = permit.split(charge);
                self.permit = Some(permit);
                return Ok(own);
            }
        }
        budget.try_acquire(charge)
    }
}

/// Acquires budget for each record in turn, forwarding what has room before waiting,
/// so that the records ahead can complete and free the budget.
async fn acquire_slowly(
    shared: Arc<Shared>,
    topic: Arc<str>,
    destination: Addr<TopicProducer>,
    records: Vec<(PendingRecord, usize)>,
) {
    let mut chunk = Vec::new();
    for (mut pending, charge) in records {
        let permit = match shared.budget.try_acquire(charge) {
            Ok(permit) => Ok(permit),
            Err(BudgetError::Full { .. }) => {
                if !chunk.is_empty() {
                    destination.do_send(TopicRecords(std::mem::take(&mut chunk)));
                }
                match tokio::time::timeout_at(pending.deadline, shared.budget.acquire(charge)).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        let error = ProduceError::DeliveryTimeout { topic: topic.clone(), partition: None };
                        pending.complete(&topic, None, Err(error), &shared.outstanding, &shared.stats);
                        continue;
                    }
                }
            }
            Err(error) => Err(error),
        };
        match permit {
            Ok(permit) => {
                pending.permit = Some(permit);
                chunk.push(pending);
            }
            Err(error) => fail_on_budget(pending, &topic, error, &shared),
        }
    }
    if !chunk.is_empty() {
        destination.do_send(TopicRecords(chunk));
    }
}

fn fail_on_budget(pending: PendingRecord, topic: &Arc<str>, error: BudgetError, shared: &Shared) {
    let error = match error {
        BudgetError::Full { bytes, available } => ProduceError::BufferFull { bytes, available },
        BudgetError::TooLarge { bytes, total } => ProduceError::RecordTooLarge { size: bytes, max: total },
        _ => ProduceError::Closed,
    };
    pending.complete(topic, None, Err(error), &shared.outstanding, &shared.stats);
}

/// Kafka's rule: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn valid_topic(topic: &str) -> bool {
    (1..=249).contains(&topic.len())
        && topic != "."
        && topic != ".."
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl Actor for Producer {
    type Context = Context<Self>;

    /// Starts the producer with its [`MAILBOX_CAPACITY`] already set: set in
    /// `started`, it would apply only once the actor first runs, after the sends a
    /// caller creates right after `start()` (actix's default capacity is 16).
    fn start(self) -> Addr<Self> {
        let mut ctx = Context::new();
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        ctx.run(self)
    }

    fn started(&mut self, _: &mut Context<Self>) {
        match Cluster::start(self.config.client.clone()) {
            Ok(cluster) => self.shared = Some(Arc::new(Shared::new(self.config.clone(), cluster))),
            Err(error) => self.start_error = Some(ConfigError::Client(error)),
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.shut_down();
    }
}

impl Producer {
    fn shut_down(&mut self) {
        self.forward_taken();
        for (_, topic) in self.topics.drain() {
            topic.do_send(Shutdown);
        }
        if let Some(shared) = &self.shared {
            shared.drop_brokers();
        }
    }

    fn one(&mut self, produce: Produce, admission: Admission, ctx: &mut Context<Self>) -> ProduceReply {
        let slot = Arc::new(ReplySlot::default());
        if let Some(error) = self.refusal() {
            if let Some(recipient) = produce.report_to {
                let report = super::DeliveryReport {
                    topic: produce.topic,
                    partition: None,
                    result: Err(error.clone()),
                    key: produce.record.key,
                    value: produce.record.value,
                };
                recipient.do_send(report);
            }
            slot.complete(Err(error));
            return ProduceReply(slot);
        }
        let reply = Reply { single: Some(slot.clone()), report_to: produce.report_to, batch: None };
        self.take(&produce.topic, std::iter::once((produce.record, reply)), admission, ctx);
        ProduceReply(slot)
    }
}

impl Handler<Produce> for Producer {
    type Result = ProduceReply;

    fn handle(&mut self, produce: Produce, ctx: &mut Context<Self>) -> Self::Result {
        self.one(produce, Admission::Wait, ctx)
    }
}

impl Handler<TryProduce> for Producer {
    type Result = ProduceReply;

    fn handle(&mut self, TryProduce(produce): TryProduce, ctx: &mut Context<Self>) -> Self::Result {
        self.one(produce, Admission::Try, ctx)
    }
}

impl Handler<ProduceBatch> for Producer {
    type Result = ResponseFuture<Result<Vec<RecordResult>, ProduceError>>;

    fn handle(&mut self, batch: ProduceBatch, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(error) = self.refusal() {
            return Box::pin(async move { Err(error) });
        }
        let (sender, receiver) = oneshot::channel();
        let collector = BatchCollector::new(batch.records.len(), sender);
        let records = batch
            .records
            .into_iter()
            .enumerate()
            .map(|(index, record)| (record, Reply { batch: Some((collector.clone(), index)), ..Reply::default() }));
        self.take(&batch.topic, records, Admission::Wait, ctx);
        drop(collector);
        Box::pin(async move { receiver.await.map_err(|_| ProduceError::Closed) })
    }
}

impl Producer {
    fn flush(&mut self) -> impl std::future::Future<Output = ()> + 'static {
        self.forward_taken();
        let shared = self.shared.clone();
        for topic in self.topics.values() {
            topic.do_send(FlushNow);
        }
        async move {
            if let Some(shared) = shared {
                let watermark = shared.outstanding.watermark();
                shared.outstanding.wait_below(watermark).await;
            }
        }
    }
}

impl Handler<Flush> for Producer {
    type Result = ResponseFuture<Result<(), ProduceError>>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        let flushed = self.flush();
        Box::pin(async move {
            flushed.await;
            Ok(())
        })
    }
}

impl Handler<Close> for Producer {
    type Result = ResponseActFuture<Self, Result<(), ProduceError>>;

    fn handle(&mut self, _: Close, _: &mut Context<Self>) -> Self::Result {
        self.closed = true;
        let flushed = self.flush();
        Box::pin(flushed.into_actor(self).map(|(), act, _| {
            act.shut_down();
            Ok(())
        }))
    }
}

impl Handler<Stats> for Producer {
    type Result = MessageResult<Stats>;

    fn handle(&mut self, _: Stats, _: &mut Context<Self>) -> Self::Result {
        let stats = match &self.shared {
            Some(shared) => shared.stats.snapshot(shared.budget.in_use()),
            None => ProducerStats::default(),
        };
        MessageResult(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_takes_ahead_but_refuses_exactly_what_does_not_fit() {
        let roomy = MemoryBudget::new(1_000);
        let mut reserve = Reserve::new(5);
        let first = reserve.take(&roomy, 100).unwrap();
        assert_eq!((first.bytes(), roomy.in_use()), (100, 500), "the next four records' charge taken ahead");
        let more: Vec<_> = (0..4).map(|_| reserve.take(&roomy, 100).unwrap()).collect();
        assert_eq!(roomy.in_use(), 500);
        drop((first, more, reserve));
        assert_eq!(roomy.in_use(), 0);

        let tight = MemoryBudget::new(250);
        let mut reserve = Reserve::new(5);
        let held: Vec<_> = (0..2).map(|_| reserve.take(&tight, 100).unwrap()).collect();
        assert!(matches!(reserve.take(&tight, 100), Err(BudgetError::Full { bytes: 100, available: 50 })));
        assert_eq!(reserve.take(&tight, 50).unwrap().bytes(), 50, "a smaller record still fits");
        drop((held, reserve));
        assert_eq!(tight.in_use(), 0);

        let mut leftover = Reserve::new(3);
        let big = leftover.take(&roomy, 300).unwrap();
        assert_eq!(roomy.in_use(), 900);
        let bigger = leftover.take(&roomy, 700).unwrap();
        assert_eq!(roomy.in_use(), 1_000, "a reserve too small for a record goes back first");
        drop((big, bigger, leftover));
        assert_eq!(roomy.in_use(), 0);
    }

    #[test]
    fn topic_names_follow_kafka() {
        assert!(valid_topic("orders.v1_x-y"));
        for bad in ["", ".", "..", "a b", "ä", &"x".repeat(250)] {
            assert!(!valid_topic(bad), "{bad:?}");
        }
    }
}
