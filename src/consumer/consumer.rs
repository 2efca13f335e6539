//! The [`Consumer`] actor: the public front. It owns the `Cluster` actor, the
//! subscription, the partition consumers and (with a group) the `Coordinator`; the
//! broker consumers live in the shared registry. See the [module docs](super).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix::prelude::*;

use super::broker::Shutdown;
use super::config::{ConsumerBuilder, ConsumerConfig};
use super::coordinator::Coordinator;
use super::error::ConsumeError;
use super::internal::{
    self, AssignmentListener, CommitAcknowledged, FetchCommitted, GetGroupStats, LeaveGroup, SetSubscription,
};
use super::messages::{
    Assign, Close, Commit, CommitOffsets, ConsumerEvent, GetConsumerStats, Pause, Records, Resume, Seek, Subscribe,
};
use super::partition::{
    Drain, GetPartitionStats, PartitionConsumer, SeekPartition, SetPaused, StopPartition, Subscriber,
};
use super::shared::Shared;
use super::stats::ConsumerStats;
use super::subscription::{partitions_of, resolve, Subscription};
use super::types::{StartPosition, TopicPartition};
use crate::client::Cluster;

type Reply<T> = ResponseActFuture<Consumer, Result<T, ConsumeError>>;

/// What the consumer reads.
enum Mode {
    Idle,
    /// `Subscribe`: every partition of the topics (no group), or the group's share.
    Subscribed {
        subscription: Subscription,
        topics: BTreeSet<String>,
    },
    /// `Assign`: partitions by hand.
    Assigned,
}

/// The consumer actor. See the [module docs](super).
pub struct Consumer {
    config: Arc<ConsumerConfig>,
    shared: Option<Arc<Shared>>,
    mode: Mode,
    subscriber: Option<Subscriber>,
    partitions: BTreeMap<TopicPartition, Addr<PartitionConsumer>>,
    coordinator: Option<Addr<Coordinator>>,
    closed: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("partitions", &self.partitions.keys().collect::<Vec<_>>())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A builder with every setting at its documented default.
    pub fn builder() -> ConsumerBuilder {
        ConsumerBuilder::default()
    }

    pub(crate) fn new(config: ConsumerConfig) -> Self {
        Self {
            config: Arc::new(config),
            shared: None,
            mode: Mode::Idle,
            subscriber: None,
            partitions: BTreeMap::new(),
            coordinator: None,
            closed: false,
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    fn shared(&self) -> Result<Arc<Shared>, ConsumeError> {
        match (&self.shared, self.closed) {
            (Some(shared), false) => Ok(shared.clone()),
            _ => Err(ConsumeError::Closed),
        }
    }

    fn coordinator(&mut self, shared: &Shared, ctx: &mut Context<Self>) -> Addr<Coordinator> {
        let listener = AssignmentListener {
            assigned: ctx.address().recipient(),
            revoke: ctx.address().recipient(),
            lost: ctx.address().recipient(),
            events: ctx.address().recipient(),
        };
        let (config, cluster) = (self.config.clone(), shared.cluster.clone());
        self.coordinator.get_or_insert_with(|| Coordinator::start(config, cluster, listener)).clone()
    }

    fn subscriber(&self, records: Recipient<Records>, events: Option<Recipient<ConsumerEvent>>) -> Subscriber {
        let coordinator = self.coordinator.as_ref().map(|c| c.clone().recipient());
        Subscriber { records, events, coordinator }
    }

    fn event(&self, event: ConsumerEvent) {
        match &self.subscriber {
            Some(subscriber) => subscriber.event(event),
            None => tracing::warn!(?event, "consumer event without a subscriber"),
        }
    }

    /// Starts partition consumers for `partitions` not yet running.
    fn start_partitions(&mut self, partitions: Vec<(TopicPartition, StartPosition)>) -> Vec<TopicPartition> {
        let (Some(shared), Some(subscriber)) = (self.shared.clone(), self.subscriber.clone()) else {
            return Vec::new();
        };
        let mut started = Vec::new();
        for (tp, start) in partitions {
            if self.partitions.contains_key(&tp) {
                continue;
            }
            let addr = PartitionConsumer::start(shared.clone(), tp.clone(), start, subscriber.clone());
            self.partitions.insert(tp.clone(), addr);
            started.push(tp);
        }
        if !started.is_empty() {
            tracing::info!(partitions = ?started, "partitions assigned");
            self.event(ConsumerEvent::Assigned { partitions: started.clone() });
        }
        started
    }

    fn stop_partitions(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(addr) = self.partitions.remove(tp) {
                addr.do_send(StopPartition);
            }
        }
    }

    /// Without a group: starts what the subscription now covers, stops the rest.
    fn sync_partitions(&mut self, wanted: BTreeSet<TopicPartition>) {
        let gone: Vec<TopicPartition> = self.partitions.keys().filter(|tp| !wanted.contains(*tp)).cloned().collect();
        if !gone.is_empty() {
            tracing::info!(partitions = ?gone, "partitions no longer subscribed");
            self.stop_partitions(&gone);
        }
        self.start_partitions(wanted.into_iter().map(|tp| (tp, StartPosition::Reset)).collect());
    }

    /// Resolves the subscription again and acts on what changed.
    fn refresh_subscription(&mut self, ctx: &mut Context<Self>) -> Reply<()> {
        let Mode::Subscribed { subscription, .. } = &self.mode else { return Box::pin(fut::ready(Ok(()))) };
        let Ok(shared) = self.shared() else { return Box::pin(fut::ready(Err(ConsumeError::Closed))) };
        let subscription = subscription.clone();
        let coordinator = self.config.group_id.is_some().then(|| self.coordinator(&shared, ctx));
        let resolving = async move { resolve(&shared, &subscription).await };
        Box::pin(resolving.into_actor(self).then(move |resolved, act, _| {
            let answer: Reply<()> = match resolved {
                Err(error) => Box::pin(fut::ready(Err(error))),
                Ok((topics, metadata)) => {
                    let changed = match &mut act.mode {
                        Mode::Subscribed { topics: current, .. } if *current != topics => {
                            *current = topics.clone();
                            true
                        }
                        _ => false,
                    };
                    match coordinator {
                        Some(coordinator) if changed => {
                            let set = coordinator.send(SetSubscription { topics });
                            Box::pin(async move { set.await.map_err(|_| ConsumeError::Closed)? }.into_actor(act))
                        }
                        Some(_) => Box::pin(fut::ready(Ok(()))),
                        None => {
                            act.sync_partitions(partitions_of(&metadata, &topics));
                            Box::pin(fut::ready(Ok(())))
                        }
                    }
                }
            };
            answer
        }))
    }
}

impl Actor for Consumer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match Cluster::start(self.config.client.clone()) {
            Ok(cluster) => self.shared = Some(Arc::new(Shared::new(self.config.clone(), cluster))),
            Err(error) => {
                // `build()` validated the same configuration, so this does not happen.
                tracing::error!(%error, "the client configuration is invalid; the consumer is closed");
                self.closed = true;
            }
        }
        ctx.run_interval(self.config.client.metadata_max_age, |act, ctx| {
            let refresh = act.refresh_subscription(ctx).map(|result, _, _| {
                if let Err(error) = result {
                    tracing::debug!(%error, "subscription refresh failed");
                }
            });
            ctx.spawn(refresh);
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(shared) = &self.shared {
            shared.drop_brokers();
        }
    }
}

impl Handler<Subscribe> for Consumer {
    type Result = Reply<()>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Self::Result {
        let prepared = (|| {
            let shared = self.shared()?;
            let records = msg.recipient.ok_or(ConsumeError::InvalidState("a subscription needs a recipient"))?;
            if matches!(self.mode, Mode::Assigned) {
                return Err(ConsumeError::InvalidState("the consumer has partitions from Assign"));
            }
            Ok((shared, records, Subscription::new(&msg.topics)?))
        })();
        let (shared, records, subscription) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        if self.config.group_id.is_some() {
            self.coordinator(&shared, ctx);
        } else {
            let all: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
            self.stop_partitions(&all);
        }
        self.subscriber = Some(self.subscriber(records, msg.events));
        tracing::info!(topics = ?msg.topics, group = ?self.config.group_id, "subscribed");
        self.mode = Mode::Subscribed { subscription, topics: BTreeSet::new() };
        self.refresh_subscription(ctx)
    }
}

impl Handler<Assign> for Consumer {
    type Result = Reply<()>;

    fn handle(&mut self, msg: Assign, ctx: &mut Context<Self>) -> Self::Result {
        let prepared = (|| {
            let shared = self.shared()?;
            let records = msg.recipient.ok_or(ConsumeError::InvalidState("an assignment needs a recipient"))?;
            if matches!(self.mode, Mode::Subscribed { .. }) && self.config.group_id.is_some() {
                return Err(ConsumeError::InvalidState("the consumer is subscribed to a group"));
            }
            Ok((shared, records))
        })();
        let (shared, records) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        let all: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        self.stop_partitions(&all);
        self.mode = Mode::Assigned;
        let coordinator = self.config.group_id.is_some().then(|| self.coordinator(&shared, ctx));
        self.subscriber = Some(self.subscriber(records, msg.events));
        let partitions = msg.partitions;
        let ask: Vec<TopicPartition> =
            partitions.iter().filter(|(_, s)| *s == StartPosition::Reset).map(|(tp, _)| tp.clone()).collect();
        let committed = async move {
            match coordinator {
                Some(coordinator) if !ask.is_empty() => {
                    coordinator.send(FetchCommitted { partitions: ask }).await.map_err(|_| ConsumeError::Closed)?
                }
                _ => Ok(BTreeMap::new()),
            }
        };
        Box::pin(committed.into_actor(self).map(move |committed, act, _| {
            let committed = committed?;
            let starts = partitions
                .into_iter()
                .map(|(tp, start)| {
                    let start = committed.get(&tp).copied().unwrap_or(start);
                    (tp, start)
                })
                .collect();
            act.start_partitions(starts);
            Ok(())
        }))
    }
}

impl Handler<Seek> for Consumer {
    type Result = Result<(), ConsumeError>;

    fn handle(&mut self, msg: Seek, _: &mut Context<Self>) -> Self::Result {
        self.shared()?;
        self.partition(&msg.partition)?.do_send(SeekPartition(msg.position));
        Ok(())
    }
}

impl Handler<Pause> for Consumer {
    type Result = Result<(), ConsumeError>;

    fn handle(&mut self, msg: Pause, _: &mut Context<Self>) -> Self::Result {
        self.set_paused(&msg.partitions, true)
    }
}

impl Handler<Resume> for Consumer {
    type Result = Result<(), ConsumeError>;

    fn handle(&mut self, msg: Resume, _: &mut Context<Self>) -> Self::Result {
        self.set_paused(&msg.partitions, false)
    }
}

impl Consumer {
    fn partition(&self, tp: &TopicPartition) -> Result<&Addr<PartitionConsumer>, ConsumeError> {
        self.partitions
            .get(tp)
            .ok_or_else(|| ConsumeError::NotAssigned { topic: tp.topic.clone(), partition: tp.partition })
    }

    /// Checks every partition first, so that an unknown one pauses none.
    fn set_paused(&self, partitions: &[TopicPartition], paused: bool) -> Result<(), ConsumeError> {
        self.shared()?;
        let addrs = partitions.iter().map(|tp| self.partition(tp)).collect::<Result<Vec<_>, _>>()?;
        for addr in addrs {
            addr.do_send(SetPaused(paused));
        }
        Ok(())
    }

    /// Drains `partitions` and answers their acknowledged offsets.
    fn drain(
        &self,
        partitions: &[TopicPartition],
    ) -> impl std::future::Future<Output = BTreeMap<TopicPartition, (i64, i32)>> {
        let requests: Vec<_> =
            partitions.iter().filter_map(|tp| Some((tp.clone(), self.partitions.get(tp)?.send(Drain)))).collect();
        async move {
            let mut acknowledged = BTreeMap::new();
            for (tp, request) in requests {
                if let Ok(Some(offset)) = request.await {
                    acknowledged.insert(tp, offset);
                }
            }
            acknowledged
        }
    }
}

impl Handler<Commit> for Consumer {
    type Result = Reply<()>;

    fn handle(&mut self, _: Commit, _: &mut Context<Self>) -> Self::Result {
        if let Err(error) = self.shared() {
            return Box::pin(fut::ready(Err(error)));
        }
        if self.config.group_id.is_none() {
            return Box::pin(fut::ready(Err(ConsumeError::NoGroup)));
        }
        let Some(coordinator) = self.coordinator.clone() else { return Box::pin(fut::ready(Ok(()))) };
        let commit = async move { coordinator.send(CommitAcknowledged).await.map_err(|_| ConsumeError::Closed)? };
        Box::pin(commit.into_actor(self))
    }
}

impl Handler<CommitOffsets> for Consumer {
    type Result = Reply<()>;

    fn handle(&mut self, msg: CommitOffsets, _: &mut Context<Self>) -> Self::Result {
        if let Err(error) = self.shared() {
            return Box::pin(fut::ready(Err(error)));
        }
        if self.config.group_id.is_none() {
            return Box::pin(fut::ready(Err(ConsumeError::NoGroup)));
        }
        if let Some((tp, _)) = msg.offsets.iter().find(|(tp, _)| !self.partitions.contains_key(tp)) {
            let error = ConsumeError::NotAssigned { topic: tp.topic.clone(), partition: tp.partition };
            return Box::pin(fut::ready(Err(error)));
        }
        let Some(coordinator) = self.coordinator.clone() else { return Box::pin(fut::ready(Ok(()))) };
        let offsets = msg.offsets;
        let commit = async move {
            coordinator.send(internal::CommitOffsets { offsets }).await.map_err(|_| ConsumeError::Closed)?
        };
        Box::pin(commit.into_actor(self))
    }
}

impl Handler<Close> for Consumer {
    type Result = Reply<()>;

    fn handle(&mut self, _: Close, _: &mut Context<Self>) -> Self::Result {
        if self.closed {
            return Box::pin(fut::ready(Ok(())));
        }
        self.closed = true;
        tracing::info!(partitions = self.partitions.len(), "closing the consumer");
        let all: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        let drained = self.drain(&all);
        let coordinator = self.coordinator.take();
        // A group member gives its partitions up on close as in a rebalance: the
        // subscriber hears `Revoked` (after the drain, before the final commit), as the
        // Java client calls `onPartitionsRevoked` on close.
        let in_group = matches!(self.mode, Mode::Subscribed { .. }) && coordinator.is_some() && !all.is_empty();
        let events = self.subscriber.as_ref().and_then(|s| s.events.clone()).filter(|_| in_group);
        let timeout = self.config.drain_timeout;
        let close = async move {
            drained.await;
            group_side::tell_revoked(events, all, timeout).await;
            match coordinator {
                Some(coordinator) => coordinator.send(LeaveGroup).await.map_err(|_| ConsumeError::Closed)?,
                None => Ok(()),
            }
        };
        Box::pin(close.into_actor(self).map(|result, act, _| {
            let all: Vec<TopicPartition> = act.partitions.keys().cloned().collect();
            act.stop_partitions(&all);
            if let Some(shared) = &act.shared {
                for broker in shared.drop_brokers() {
                    broker.do_send(Shutdown);
                }
            }
            act.subscriber = None;
            act.mode = Mode::Idle;
            result
        }))
    }
}

impl Handler<GetConsumerStats> for Consumer {
    type Result = ResponseActFuture<Self, ConsumerStats>;

    fn handle(&mut self, _: GetConsumerStats, _: &mut Context<Self>) -> Self::Result {
        let mut stats = self.shared.as_ref().map(|s| s.stats.snapshot()).unwrap_or_default();
        let requests: Vec<_> = self.partitions.iter().map(|(tp, a)| (tp.clone(), a.send(GetPartitionStats))).collect();
        let group = self.config.group_id.is_some().then(|| self.coordinator.clone()).flatten();
        let collect = async move {
            for (tp, request) in requests {
                if let Ok(partition) = request.await {
                    stats.partitions.insert(tp, partition);
                }
            }
            if let Some(coordinator) = group {
                stats.group = coordinator.send(GetGroupStats).await.ok();
            }
            stats
        };
        Box::pin(collect.into_actor(self))
    }
}

#[path = "consumer_group_side.rs"]
mod group_side;

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
