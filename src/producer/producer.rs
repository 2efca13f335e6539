//! `Producer`: the dispatcher. Validates each record, charges the memory budget
//! (waiting for room with the mailbox stopped, so order is kept), and routes by topic
//! to a `TopicProducer` started on first use. Answers `Flush`, `Close` and `Stats`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::budget::BudgetError;
use super::config::{ConfigError, ProducerBuilder, ProducerConfig};
use super::error::ProduceError;
use super::messages::{
    Close, Flush, Produce, ProduceBatch, ProducerRecord, ProducerStats, RecordMetadata, Stats, TryProduce,
};
use super::partition::FlushNow;
use super::partition::Shutdown;
use super::pending::{BatchCollector, PendingRecord, RecordResult, Reply};
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
    topics: HashMap<String, Addr<TopicProducer>>,
    closed: bool,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("config", &self.config).field("closed", &self.closed).finish_non_exhaustive()
    }
}

/// Messages the producer's mailbox holds before `send` waits for room.
const MAILBOX_CAPACITY: usize = 1024;

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
        Self { config, shared: None, start_error: None, topics: HashMap::new(), closed: false }
    }

    /// The validated configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    fn topic_producer(&mut self, shared: &Arc<Shared>, topic: &str) -> Addr<TopicProducer> {
        let shared = shared.clone();
        self.topics
            .entry(topic.to_owned())
            .or_insert_with(|| TopicProducer::new(Arc::from(topic), shared).start())
            .clone()
    }

    /// Why no record can be taken at all, if so.
    fn refusal(&self) -> Option<ProduceError> {
        if self.closed {
            return Some(ProduceError::Closed);
        }
        self.start_error.clone().map(ProduceError::Config)
    }

    /// Checks one record; the error is its reply.
    fn check(&self, topic: &str, record: &ProducerRecord) -> Result<usize, ProduceError> {
        if !valid_topic(topic) {
            return Err(ProduceError::InvalidTopic { topic: topic.to_owned() });
        }
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
        topic: &str,
        records: Vec<(ProducerRecord, Reply)>,
        admission: Admission,
        ctx: &mut Context<Self>,
    ) {
        let Some(shared) = self.shared.clone() else { return };
        let topic_name: Arc<str> = Arc::from(topic);
        let deadline = Instant::now() + self.config.delivery_timeout;
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let destination = self.topic_producer(&shared, topic);
        let mut ready = Vec::with_capacity(records.len());
        let mut rest = Vec::new();
        for (record, reply) in records {
            let timestamp = record.timestamp.unwrap_or(now_ms);
            let checked = self.check(topic, &record);
            let id = shared.outstanding.register();
            let mut pending = PendingRecord { id, record, timestamp, reply, permit: None, deadline };
            let charge = match checked {
                Ok(charge) => charge,
                Err(error) => {
                    pending.complete(&topic_name, None, Err(error), &shared.outstanding, &shared.stats);
                    continue;
                }
            };
            if !rest.is_empty() {
                rest.push((pending, charge));
                continue;
            }
            match shared.budget.try_acquire(charge) {
                Ok(permit) => {
                    pending.permit = Some(permit);
                    ready.push(pending);
                }
                Err(BudgetError::Full { bytes, available }) if admission == Admission::Try => {
                    let error = ProduceError::BufferFull { bytes, available };
                    pending.complete(&topic_name, None, Err(error), &shared.outstanding, &shared.stats);
                }
                Err(BudgetError::Full { .. }) => rest.push((pending, charge)),
                Err(error) => fail_on_budget(pending, &topic_name, error, &shared),
            }
        }
        if !ready.is_empty() {
            destination.do_send(TopicRecords(ready));
        }
        if !rest.is_empty() {
            ctx.wait(acquire_slowly(shared, topic_name, destination, rest).into_actor(self));
        }
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

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Senders awaiting `send` beyond the mailbox capacity queue outside it, in no
        // guaranteed order; a roomy mailbox keeps pipelined senders in order. A full
        // budget still stops it (backpressure).
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
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
        for (_, topic) in self.topics.drain() {
            topic.do_send(Shutdown);
        }
        if let Some(shared) = &self.shared {
            shared.drop_brokers();
        }
    }

    fn one(&mut self, produce: Produce, admission: Admission, ctx: &mut Context<Self>) -> ResponseFuture<RecordResult> {
        if let Some(error) = self.refusal() {
            if let Some(recipient) = produce.report_to {
                let topic: Arc<str> = Arc::from(produce.topic.as_str());
                let report = super::DeliveryReport {
                    topic,
                    partition: None,
                    result: Err(error.clone()),
                    key: produce.record.key,
                };
                recipient.do_send(report);
            }
            return Box::pin(async move { Err(error) });
        }
        let (sender, receiver) = oneshot::channel();
        let reply = Reply { single: Some(sender), report_to: produce.report_to, batch: None };
        self.take(&produce.topic, vec![(produce.record, reply)], admission, ctx);
        Box::pin(async move { receiver.await.unwrap_or(Err(ProduceError::Closed)) })
    }
}

impl Handler<Produce> for Producer {
    type Result = ResponseFuture<Result<RecordMetadata, ProduceError>>;

    fn handle(&mut self, produce: Produce, ctx: &mut Context<Self>) -> Self::Result {
        self.one(produce, Admission::Wait, ctx)
    }
}

impl Handler<TryProduce> for Producer {
    type Result = ResponseFuture<Result<RecordMetadata, ProduceError>>;

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
            .map(|(index, record)| (record, Reply { batch: Some((collector.clone(), index)), ..Reply::default() }))
            .collect();
        drop(collector);
        self.take(&batch.topic, records, Admission::Wait, ctx);
        Box::pin(async move { receiver.await.map_err(|_| ProduceError::Closed) })
    }
}

impl Producer {
    fn flush(&mut self) -> impl std::future::Future<Output = ()> + 'static {
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
    fn topic_names_follow_kafka() {
        assert!(valid_topic("orders.v1_x-y"));
        for bad in ["", ".", "..", "a b", "ä", &"x".repeat(250)] {
            assert!(!valid_topic(bad), "{bad:?}");
        }
    }
}
