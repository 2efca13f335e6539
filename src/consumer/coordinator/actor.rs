//! The [`Coordinator`] actor: a thin shell that runs the [`Membership`]'s steps, the
//! heartbeat and auto-commit timers, and the consumer's requests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use actix::dev::ContextFutureSpawner;
use actix::{
    Actor, ActorFutureExt, Addr, Arbiter, ArbiterHandle, AsyncContext, Context, Supervised, Supervisor, WrapFuture,
};

use super::flows;
use super::link::Link;
use super::membership::{HeartbeatDue, JoinOutcome, Membership, Step, Verdict};
use super::offsets::{OffsetBook, Position};
use super::protocol::{self, JoinedMember, SubscriptionState};
use super::requests::Identity;
use crate::client::{Backoff, Cluster};
use crate::consumer::config::ConsumerConfig;
use crate::consumer::error::ConsumeError;
use crate::consumer::internal::{AssignmentListener, PartitionsAssigned, PartitionsLost, RevokePartitions};
use crate::consumer::messages::ConsumerEvent;
use crate::consumer::types::{StartPosition, TopicPartition};
use crate::protocol::{ApiKey, ErrorCode};

mod handlers;

#[cfg(test)]
pub(super) use handlers::Crash;

/// One group membership: FindCoordinator, JoinGroup/SyncGroup (running the assignor
/// when leader), heartbeats on their own timer, offsets. See the
/// [module docs](super).
pub(crate) struct Coordinator {
    config: Arc<ConsumerConfig>,
    cluster: Addr<Cluster>,
    listener: AssignmentListener,
    link: Arc<Link>,
    membership: Membership,
    book: OffsetBook,
    backoff: Backoff,
    waiting_backoff: bool,
    heartbeat_in_flight: bool,
    auto_commit_in_flight: bool,
    closed: bool,
    heartbeats: u64,
    commits: u64,
    commit_failures: u64,
    /// The arbiter this actor runs on, stopped with it.
    arbiter: Option<ArbiterHandle>,
}

impl Coordinator {
    /// Starts the coordinator for `config.group_id` (which must be set), under a
    /// supervisor on its own arbiter so user processing never delays heartbeats.
    pub(crate) fn start(
        config: Arc<ConsumerConfig>,
        cluster: Addr<Cluster>,
        listener: AssignmentListener,
    ) -> Addr<Coordinator> {
        let arbiter = Arbiter::new().handle();
        let own = arbiter.clone();
        Supervisor::start_in_arbiter(&arbiter, move |_| Coordinator::new(config, cluster, listener, Some(own)))
    }

    pub(super) fn new(
        config: Arc<ConsumerConfig>,
        cluster: Addr<Cluster>,
        listener: AssignmentListener,
        arbiter: Option<ArbiterHandle>,
    ) -> Self {
        let group: Arc<str> = Arc::from(config.group_id.as_deref().unwrap_or_default());
        let protocols = config.assignors.iter().map(|a| (a.name().to_owned(), a.protocol())).collect();
        let membership =
            Membership::new(group.clone(), config.group_instance_id.clone(), config.session_timeout, protocols);
        Self {
            link: Arc::new(Link::new(cluster.clone(), config.clone(), group)),
            backoff: Backoff::new(config.retry_backoff, config.retry_backoff_max),
            config,
            cluster,
            listener,
            membership,
            book: OffsetBook::default(),
            waiting_backoff: false,
            heartbeat_in_flight: false,
            auto_commit_in_flight: false,
            closed: false,
            heartbeats: 0,
            commits: 0,
            commit_failures: 0,
            arbiter,
        }
    }

    /// Runs the membership's next step, if any and not backing off.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        if self.closed || self.waiting_backoff {
            return;
        }
        let epoch = self.membership.epoch;
        match self.membership.next_step() {
            Step::Wait => {}
            Step::Join => self.join(epoch, ctx),
            Step::Sync { leader_of } => self.sync(epoch, leader_of, ctx),
            Step::Revoke(partitions) => self.revoke(epoch, partitions, ctx),
            Step::Assign(partitions) => self.assign(epoch, partitions, ctx),
        }
    }

    fn join(&mut self, epoch: u64, ctx: &mut Context<Self>) {
        let m = &self.membership;
        let state =
            SubscriptionState { topics: &m.topics, owned: &m.owned, previous: &m.previous, generation: m.generation };
        let protocols = match protocol::join_protocols(&self.config.assignors, &state) {
            Ok(protocols) => protocols,
            Err(error) => {
                tracing::error!(%error, "the subscription does not encode");
                let outcome = JoinOutcome {
                    error: ErrorCode::InvalidRequest,
                    generation: -1,
                    member_id: String::new(),
                    protocol: None,
                    leader: String::new(),
                    skip_assignment: false,
                    members: Vec::new(),
                };
                let verdict = self.membership.on_join(Some(outcome));
                return self.act_on(verdict, ApiKey::JoinGroup, ctx);
            }
        };
        let join = flows::join(self.link.clone(), self.config.clone(), m.identity(), protocols);
        join.into_actor(self)
            .map(move |outcome, act, ctx| {
                if act.membership.epoch != epoch {
                    return;
                }
                let verdict = act.membership.on_join(outcome);
                if verdict == Verdict::Continue && act.membership.generation >= 0 {
                    let m = &act.membership;
                    tracing::info!(group = %act.link.group(), generation = m.generation, member_id = %m.member_id,
                        protocol = ?m.protocol, leader = m.leader, "joined the group");
                }
                act.act_on(verdict, ApiKey::JoinGroup, ctx);
            })
            .spawn(ctx);
    }

    fn sync(&mut self, epoch: u64, leader_of: Option<Vec<JoinedMember>>, ctx: &mut Context<Self>) {
        let protocol = self.membership.protocol.clone().unwrap_or_default();
        let identity = self.membership.identity();
        let sync =
            flows::sync(self.link.clone(), self.cluster.clone(), self.config.clone(), identity, protocol, leader_of);
        sync.into_actor(self)
            .map(move |(error, assignment), act, ctx| {
                if act.membership.epoch != epoch {
                    return;
                }
                let verdict = act.membership.on_sync(error, assignment, Instant::now());
                if verdict == Verdict::Continue && error == Some(ErrorCode::None) {
                    act.backoff.reset();
                    let m = &act.membership;
                    tracing::info!(group = %act.link.group(), generation = m.generation, member_id = %m.member_id,
                        protocol = ?m.protocol, partitions = ?m.previous, "assigned");
                }
                act.act_on(verdict, ApiKey::SyncGroup, ctx);
            })
            .spawn(ctx);
    }

    /// Revoke: the consumer drains and answers the final acknowledged offsets, which
    /// are committed (a failed commit still lets the revoke proceed, as in Java).
    fn revoke(&mut self, epoch: u64, partitions: Vec<TopicPartition>, ctx: &mut Context<Self>) {
        tracing::info!(group = %self.link.group(), ?partitions, "revoking");
        let request = self.listener.revoke.send(RevokePartitions { partitions: partitions.clone() });
        let patience = self.config.drain_timeout + self.config.request_timeout;
        async move { tokio::time::timeout(patience, request).await }
            .into_actor(self)
            .map(move |answer, act, ctx| {
                if act.membership.epoch != epoch {
                    return;
                }
                match answer {
                    Ok(Ok(offsets)) => {
                        offsets.into_iter().for_each(|(tp, position)| act.book.acknowledge(tp, position))
                    }
                    Ok(Err(error)) => tracing::warn!(%error, "the consumer did not answer the revoke"),
                    Err(_) => tracing::warn!(?patience, "the consumer did not answer the revoke in time"),
                }
                let offsets: BTreeMap<TopicPartition, Position> =
                    act.book.pending().into_iter().filter(|(tp, _)| partitions.contains(tp)).collect();
                act.commit_then_release(epoch, partitions, offsets, ctx);
            })
            .spawn(ctx);
    }

    fn commit_then_release(
        &mut self,
        epoch: u64,
        partitions: Vec<TopicPartition>,
        offsets: BTreeMap<TopicPartition, Position>,
        ctx: &mut Context<Self>,
    ) {
        let commit = self.commit_future(offsets.clone());
        async move {
            match commit {
                Some(commit) => commit.await,
                None => Ok(()),
            }
        }
        .into_actor(self)
        .map(move |result, act, ctx| {
            act.after_commit(&offsets, &result);
            if let Err(error) = result {
                tracing::warn!(%error, "commit on revoke failed; revoking anyway");
            }
            if act.membership.epoch != epoch {
                return;
            }
            act.book.forget(&partitions);
            act.membership.revoked(&partitions);
            act.drive(ctx);
        })
        .spawn(ctx);
    }

    fn assign(&mut self, epoch: u64, partitions: Vec<TopicPartition>, ctx: &mut Context<Self>) {
        flows::fetch_offsets(self.link.clone(), self.config.clone(), partitions.clone())
            .into_actor(self)
            .map(move |result, act, ctx| {
                if act.membership.epoch != epoch {
                    return;
                }
                match result {
                    Ok(positions) => {
                        act.membership.assigned(partitions, true);
                        let partitions: Vec<(TopicPartition, StartPosition)> = positions.into_iter().collect();
                        tracing::info!(group = %act.link.group(), ?partitions, "partitions assigned");
                        act.listener.assigned.do_send(PartitionsAssigned { partitions });
                        act.drive(ctx);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot fetch the committed offsets of new partitions");
                        act.membership.assigned(partitions, false);
                        act.act_on(Verdict::Backoff, ApiKey::OffsetFetch, ctx);
                    }
                }
            })
            .spawn(ctx);
    }

    /// Carries out a verdict of the membership.
    fn act_on(&mut self, verdict: Verdict, api: ApiKey, ctx: &mut Context<Self>) {
        match verdict {
            Verdict::Continue => self.drive(ctx),
            Verdict::Backoff | Verdict::Rediscover => {
                if verdict == Verdict::Rediscover {
                    let link = self.link.clone();
                    ctx.spawn(async move { link.reset().await }.into_actor(self));
                }
                self.drive_after_backoff(ctx);
            }
            Verdict::Lost(partitions) => {
                self.notify_lost(partitions);
                self.drive(ctx);
            }
            Verdict::Fatal(error, partitions) => {
                self.notify_lost(partitions);
                let group = self.link.group().clone();
                tracing::error!(%group, ?api, error = error.name(), "fatal group error; the membership stops");
                self.listener.events.do_send(ConsumerEvent::Error(ConsumeError::Group { group, api, error }));
            }
        }
    }

    fn drive_after_backoff(&mut self, ctx: &mut Context<Self>) {
        if self.waiting_backoff {
            return;
        }
        self.waiting_backoff = true;
        ctx.run_later(self.backoff.next_delay(), |act, ctx| {
            act.waiting_backoff = false;
            act.drive(ctx);
        });
    }

    fn notify_lost(&mut self, partitions: Vec<TopicPartition>) {
        if partitions.is_empty() {
            return;
        }
        tracing::warn!(group = %self.link.group(), ?partitions, "partitions lost");
        self.book.forget(&partitions);
        self.listener.lost.do_send(PartitionsLost { partitions });
    }

    fn heartbeat_tick(&mut self, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        if !ctx.connected() {
            // The timers would keep an actor nobody can reach alive: stop, as a
            // crashed process would; the broker drops the member at its session timeout.
            tracing::info!(group = %self.link.group(), "the consumer is gone without leaving; stopping");
            self.closed = true;
            self.stop_arbiter();
            return;
        }
        match self.membership.heartbeat_due(Instant::now()) {
            HeartbeatDue::Skip => {}
            HeartbeatDue::Expired(lost) => {
                tracing::warn!(session_timeout = ?self.config.session_timeout, "no heartbeat succeeded for a session");
                self.notify_lost(lost);
                self.drive(ctx);
            }
            HeartbeatDue::Send(_) if self.heartbeat_in_flight => {}
            HeartbeatDue::Send(identity) => {
                self.heartbeat_in_flight = true;
                self.heartbeats += 1;
                let generation = identity.generation;
                flows::heartbeat(self.link.clone(), identity, self.config.request_timeout)
                    .into_actor(self)
                    .map(move |error, act, ctx| {
                        act.heartbeat_in_flight = false;
                        let verdict = act.membership.on_heartbeat(generation, error, Instant::now());
                        match verdict {
                            // A failed heartbeat does not hold the membership up, but
                            // the next request finds the coordinator again (it may have
                            // moved, or its connection hung).
                            Verdict::Rediscover => {
                                let link = act.link.clone();
                                ctx.spawn(async move { link.reset().await }.into_actor(act));
                            }
                            Verdict::Backoff => {}
                            verdict => act.act_on(verdict, ApiKey::Heartbeat, ctx),
                        }
                    })
                    .spawn(ctx);
            }
        }
    }

    fn auto_commit_tick(&mut self, ctx: &mut Context<Self>) {
        if self.closed || self.auto_commit_in_flight || self.membership.is_rebalancing() {
            return;
        }
        let offsets = self.book.pending();
        let Some(commit) = self.commit_future(offsets.clone()) else { return };
        self.auto_commit_in_flight = true;
        commit
            .into_actor(self)
            .map(move |result, act, _| {
                act.auto_commit_in_flight = false;
                act.after_commit(&offsets, &result);
                if let Err(error) = result {
                    tracing::warn!(%error, "auto-commit failed");
                    act.listener.events.do_send(ConsumerEvent::Error(error));
                }
            })
            .spawn(ctx);
    }

    /// The commit of `offsets` as the current member (or outside any membership when
    /// not subscribed); `None` when there is nothing to commit.
    fn commit_future(
        &self,
        offsets: BTreeMap<TopicPartition, Position>,
    ) -> Option<impl std::future::Future<Output = Result<(), ConsumeError>> + 'static> {
        if offsets.is_empty() {
            return None;
        }
        let identity = if self.membership.is_subscribed() {
            self.membership.identity()
        } else {
            Identity::simple(self.link.group().clone())
        };
        tracing::debug!(group = %identity.group, generation = identity.generation, ?offsets, "committing");
        Some(flows::commit(self.link.clone(), self.config.clone(), identity, offsets))
    }

    fn after_commit(&mut self, offsets: &BTreeMap<TopicPartition, Position>, result: &Result<(), ConsumeError>) {
        if offsets.is_empty() {
            return;
        }
        match result {
            Ok(()) => {
                self.book.committed(offsets);
                self.commits += 1;
            }
            Err(_) => self.commit_failures += 1,
        }
    }

    fn stop_arbiter(&mut self) {
        if let Some(arbiter) = self.arbiter.take() {
            arbiter.stop();
        }
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        self.stop_arbiter();
    }
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.config.heartbeat_interval, |act, ctx| act.heartbeat_tick(ctx));
        if self.config.auto_commit {
            ctx.run_interval(self.config.auto_commit_interval, |act, ctx| act.auto_commit_tick(ctx));
        }
        self.drive(ctx);
    }
}

impl Supervised for Coordinator {
    /// The context's timers and in-flight steps are gone: forget the connection, and
    /// the partitions (nothing proves the membership survived), and rejoin under the
    /// same member id; `started` sets the timers again.
    fn restarting(&mut self, ctx: &mut Context<Self>) {
        tracing::warn!(group = %self.link.group(), "coordinator restarting");
        let fresh = Link::new(self.cluster.clone(), self.config.clone(), self.link.group().clone());
        let old = std::mem::replace(&mut self.link, Arc::new(fresh));
        ctx.spawn(async move { old.reset().await }.into_actor(self));
        let lost = self.membership.lose(false);
        self.notify_lost(lost);
        self.waiting_backoff = false;
        self.heartbeat_in_flight = false;
        self.auto_commit_in_flight = false;
    }
}
