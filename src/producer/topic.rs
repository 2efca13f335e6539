//! `TopicProducer`: one per topic. Learns the topic's partition count from the
//! `Cluster` (holding records while the topic is unknown, up to their delivery
//! timeout), runs the partitioner, and routes records, still grouped, to the
//! `PartitionProducer`s it starts on first use.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::time::Instant;

use super::error::ProduceError;
use super::partition::{FlushNow, PartitionProducer, Records, Shutdown};
use super::partitioner::TopicPartitioner;
use super::pending::PendingRecord;
use super::shared::Shared;
use crate::client::{Backoff, ClientError, GetMetadata};

/// Records for this topic, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TopicRecords(pub(crate) Vec<PendingRecord>);

/// See the [module docs](self).
pub(crate) struct TopicProducer {
    topic: Arc<str>,
    shared: Arc<Shared>,
    partitioner: TopicPartitioner,
    partitions: Option<i32>,
    waiting: Vec<PendingRecord>,
    producers: HashMap<i32, Addr<PartitionProducer>>,
    looking_up: bool,
    last_error: Option<ClientError>,
    backoff: Backoff,
}

impl TopicProducer {
    pub(crate) fn new(topic: Arc<str>, shared: Arc<Shared>) -> Self {
        let config = &shared.config;
        Self {
            partitioner: config.partitioner.for_topic(config.batch_bytes),
            backoff: Backoff::new(config.retry_backoff, config.retry_backoff_max),
            topic,
            shared,
            partitions: None,
            waiting: Vec::new(),
            producers: HashMap::new(),
            looking_up: false,
            last_error: None,
        }
    }

    fn fail(&self, record: PendingRecord, partition: Option<i32>, error: ProduceError) {
        record.complete(&self.topic, partition, Err(error), &self.shared.outstanding, &self.shared.stats);
    }

    fn look_up(&mut self, refresh: bool, ctx: &mut Context<Self>) {
        if self.looking_up {
            return;
        }
        self.looking_up = true;
        let request = self.shared.cluster.send(GetMetadata { topics: vec![self.topic.to_string()], refresh });
        ctx.spawn(request.into_actor(self).map(|answer, act, ctx| {
            act.looking_up = false;
            let count = match answer {
                Ok(Ok(metadata)) => metadata.partition_count(&act.topic),
                // Wrong credentials, an untrusted certificate: asking again cannot
                // help, so the waiting records fail now instead of at their deadline.
                Ok(Err(error)) if !error.is_retriable() => {
                    for record in std::mem::take(&mut act.waiting) {
                        act.fail(record, None, ProduceError::Client(error.clone()));
                    }
                    act.last_error = Some(error);
                    return;
                }
                Ok(Err(error)) => {
                    act.last_error = Some(error);
                    None
                }
                Err(_) => None,
            };
            match count.and_then(|c| i32::try_from(c).ok()).filter(|c| *c > 0) {
                Some(count) => {
                    act.partitions = Some(count);
                    act.backoff.reset();
                    let waiting = std::mem::take(&mut act.waiting);
                    act.route(waiting, ctx);
                }
                None => {
                    ctx.run_later(act.backoff.next_delay(), |act, ctx| act.look_up(true, ctx));
                }
            }
        }));
    }

    fn route(&mut self, records: Vec<PendingRecord>, ctx: &mut Context<Self>) {
        let Some(count) = self.partitions else {
            self.waiting.extend(records);
            return self.look_up(false, ctx);
        };
        let chosen: Vec<Result<i32, ProduceError>> = records.iter().map(|record| self.choose(record, count)).collect();
        if let Some(runs) = partition_runs(&chosen) {
            return self.route_runs(records, runs);
        }
        // Partitions first, then lists of the exact size: growing a list of
        // ~200-byte records one push at a time copied them over and over.
        let mut counts: Vec<(i32, usize)> = Vec::new();
        for partition in chosen.iter().filter_map(|c| c.as_ref().ok()) {
            match counts.iter_mut().find(|(p, _)| p == partition) {
                Some((_, count)) => *count += 1,
                None => counts.push((*partition, 1)),
            }
        }
        let mut routed: Vec<(i32, Vec<PendingRecord>)> =
            counts.into_iter().map(|(partition, count)| (partition, Vec::with_capacity(count))).collect();
        for (record, chosen) in records.into_iter().zip(chosen) {
            match chosen {
                Ok(partition) => match routed.iter_mut().find(|(p, _)| *p == partition) {
                    Some((_, list)) => list.push(record),
                    None => routed.push((partition, vec![record])),
                },
                Err(error) => self.fail(record, None, error),
            }
        }
        for (partition, records) in routed {
            self.partition_producer(partition).do_send(Records(records));
        }
    }

    /// Sends each run of records on to its partition, cutting the list from the end
    /// so that the first run keeps it (with the sticky partitioner a call's records
    /// go to one or two partitions in runs, and copying a 2 MB list touched as much
    /// fresh memory). Each partition has one run, so the order the runs leave in does
    /// not matter.
    fn route_runs(&mut self, mut records: Vec<PendingRecord>, runs: Vec<(i32, usize)>) {
        for (partition, start) in runs.into_iter().rev() {
            let list = if start == 0 { std::mem::take(&mut records) } else { records.split_off(start) };
            self.partition_producer(partition).do_send(Records(list));
        }
    }

    /// The record's partition: its own, or the partitioner's choice.
    fn choose(&mut self, record: &PendingRecord, count: i32) -> Result<i32, ProduceError> {
        match record.record.partition {
            Some(partition) if (0..count).contains(&partition) => Ok(partition),
            Some(partition) => Err(ProduceError::InvalidPartition { partition, partitions: count }),
            None => {
                let key = record.record.key.as_deref();
                self.partitioner
                    .partition(&self.topic, key, record.size(), count)
                    .map_err(|_| ProduceError::PartitionRequired)
            }
        }
    }

    fn partition_producer(&mut self, partition: i32) -> Addr<PartitionProducer> {
        let (topic, shared) = (self.topic.clone(), self.shared.clone());
        self.producers
            .entry(partition)
            .or_insert_with(|| PartitionProducer::new(topic, partition, shared).start())
            .clone()
    }

    /// Fails the records that waited for the topic past their delivery deadline.
    fn expire(&mut self) {
        let now = Instant::now();
        if self.waiting.iter().all(|r| r.deadline > now) {
            return;
        }
        let (expired, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|r| r.deadline <= now);
        self.waiting = kept;
        for record in expired {
            let error = match &self.last_error {
                Some(error) => ProduceError::Client(error.clone()),
                None => ProduceError::UnknownTopic { topic: self.topic.clone() },
            };
            self.fail(record, None, error);
        }
    }
}

impl Actor for TopicProducer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let period =
            (self.shared.config.delivery_timeout / 20).clamp(Duration::from_millis(10), Duration::from_secs(1));
        ctx.run_interval(period, |act, _| act.expire());
        self.look_up(false, ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        for record in std::mem::take(&mut self.waiting) {
            self.fail(record, None, ProduceError::Closed);
        }
    }
}

impl Handler<TopicRecords> for TopicProducer {
    type Result = ();

    fn handle(&mut self, TopicRecords(records): TopicRecords, ctx: &mut Context<Self>) {
        self.route(records, ctx);
    }
}

impl Handler<FlushNow> for TopicProducer {
    type Result = ();

    fn handle(&mut self, flush: FlushNow, _: &mut Context<Self>) {
        for producer in self.producers.values() {
            producer.do_send(flush);
        }
    }
}

impl Handler<Shutdown> for TopicProducer {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        for (_, producer) in self.producers.drain() {
            producer.do_send(Shutdown);
        }
        ctx.stop();
    }
}

/// The partitions as runs `(partition, first index)` when every record has one and
/// each partition's records are contiguous (one run per partition); `None` otherwise
/// (a record refused, or records interleaved as the round-robin partitioner or keys
/// spread them).
fn partition_runs(chosen: &[Result<i32, ProduceError>]) -> Option<Vec<(i32, usize)>> {
    let mut runs: Vec<(i32, usize)> = Vec::new();
    for (index, choice) in chosen.iter().enumerate() {
        let partition = *choice.as_ref().ok()?;
        match runs.last() {
            Some((last, _)) if *last == partition => {}
            _ if runs.iter().any(|(p, _)| *p == partition) => return None,
            _ => runs.push((partition, index)),
        }
    }
    Some(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_partitions_are_runs_and_anything_else_is_not() {
        let ok = |ps: &[i32]| ps.iter().map(|p| Ok(*p)).collect::<Vec<_>>();
        assert_eq!(partition_runs(&ok(&[])), Some(vec![]));
        assert_eq!(partition_runs(&ok(&[3, 3, 3])), Some(vec![(3, 0)]));
        assert_eq!(partition_runs(&ok(&[3, 3, 1, 1, 1, 0])), Some(vec![(3, 0), (1, 2), (0, 5)]));
        assert_eq!(partition_runs(&ok(&[0, 1, 0])), None, "partition 0 in two runs");
        let mut refused = ok(&[2, 2]);
        refused.push(Err(ProduceError::PartitionRequired));
        assert_eq!(partition_runs(&refused), None);
    }
}
