//! The actors: a `GroupCoordinator` per group around a [`Group`], and the `Registry`
//! that creates them on demand.
//!
//! The coordinator is a thin shell: it stamps `Instant::now()` on each message, calls
//! the state machine, hands the returned replies to the parked requests' channels,
//! writes what changed through the store, and keeps one timer at the group's next
//! deadline (the old `SpawnHandle` cancelled when the deadline moves).

use std::collections::HashMap;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::member::Token;
use super::membership::{LeavingMember, SyncInput};
use super::offsets::{CommittedOffset, MAX_METADATA_BYTES};
use super::state::{Group, GroupState, JoinInput, JoinOutcome, Limits, Reply, SyncOutcome};
use super::store::{GroupLog, Store, StoredGroup, StoredMetadata};
use super::{GroupConfig, GroupError};
use crate::protocol::messages::describe_groups_response::DescribedGroup;
use crate::protocol::ErrorCode;

enum Waiter {
    Join(oneshot::Sender<JoinOutcome>),
    Sync(oneshot::Sender<SyncOutcome>),
}

/// One group's actor.
pub(crate) struct GroupCoordinator {
    group: Group,
    log: Option<GroupLog>,
    persisted: StoredMetadata,
    waiters: HashMap<Token, Waiter>,
    next_token: Token,
    timer: Option<(Instant, SpawnHandle)>,
}

impl GroupCoordinator {
    fn new(group: Group, log: Option<GroupLog>) -> GroupCoordinator {
        let persisted = metadata_of(&group);
        GroupCoordinator { group, log, persisted, waiters: HashMap::new(), next_token: 0, timer: None }
    }

    fn park(&mut self, waiter: Waiter) -> Token {
        self.next_token += 1;
        self.waiters.insert(self.next_token, waiter);
        self.next_token
    }

    /// Hands each reply to its parked request's channel.
    fn deliver(&mut self, replies: Vec<Reply>) {
        for reply in replies {
            let delivered = match reply {
                Reply::Join(token, outcome) => match self.waiters.remove(&token) {
                    Some(Waiter::Join(tx)) => tx.send(outcome).is_ok(),
                    _ => false,
                },
                Reply::Sync(token, outcome) => match self.waiters.remove(&token) {
                    Some(Waiter::Sync(tx)) => tx.send(outcome).is_ok(),
                    _ => false,
                },
            };
            if !delivered {
                tracing::debug!(group = %self.group.id, "a parked request's caller went away");
            }
        }
    }

    /// Hands out replies, persists a changed generation, moves the timer.
    fn settle(&mut self, replies: Vec<Reply>, ctx: &mut Context<Self>) {
        self.deliver(replies);
        let metadata = metadata_of(&self.group);
        if metadata != self.persisted {
            if let Some(log) = &mut self.log {
                if let Err(error) = log.append_metadata(&metadata) {
                    tracing::warn!(group = %self.group.id, %error, "group metadata not persisted");
                }
            }
            self.persisted = metadata;
        }
        self.reschedule(ctx);
    }

    fn reschedule(&mut self, ctx: &mut Context<Self>) {
        let next = self.group.next_deadline();
        if next.is_some() && next == self.timer.as_ref().map(|(at, _)| *at) {
            return;
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(deadline) = next {
            let delay = deadline.saturating_duration_since(Instant::now());
            let handle = ctx.run_later(delay, |act, ctx| {
                act.timer = None;
                let replies = act.group.tick(Instant::now());
                act.settle(replies, ctx);
            });
            self.timer = Some((deadline, handle));
        }
    }
}

fn metadata_of(group: &Group) -> StoredMetadata {
    StoredMetadata {
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader.clone(),
    }
}

impl Actor for GroupCoordinator {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let replies = self.group.close(ErrorCode::CoordinatorNotAvailable);
        self.deliver(replies);
        if let Some(log) = &mut self.log {
            if let Err(error) = log.flush() {
                tracing::warn!(group = %self.group.id, %error, "group store flush failed");
            }
        }
    }
}

/// JoinGroup: the receiver yields the answer, at once or when the rebalance completes.
#[derive(Message)]
#[rtype(result = "oneshot::Receiver<JoinOutcome>")]
pub(crate) struct Join(pub(crate) JoinInput);

/// SyncGroup: the receiver yields the answer, at once or when the leader syncs.
#[derive(Message)]
#[rtype(result = "oneshot::Receiver<SyncOutcome>")]
pub(crate) struct Sync(pub(crate) SyncInput);

/// Heartbeat.
#[derive(Message)]
#[rtype(result = "ErrorCode")]
pub(crate) struct Heartbeat {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) generation_id: i32,
}

/// LeaveGroup: one code per member.
#[derive(Message)]
#[rtype(result = "Vec<ErrorCode>")]
pub(crate) struct Leave(pub(crate) Vec<LeavingMember>);

/// OffsetCommit: one code per partition, in request order.
#[derive(Message)]
#[rtype(result = "Vec<Vec<ErrorCode>>")]
pub(crate) struct Commit {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) generation_id: i32,
    pub(crate) topics: Vec<(String, Vec<(i32, CommittedOffset)>)>,
}

/// Committed offsets, per topic and partition.
pub(crate) type FetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

/// OffsetFetch: `None` topics means every committed partition.
#[derive(Message)]
#[rtype(result = "FetchedOffsets")]
pub(crate) struct Fetch(pub(crate) Option<Vec<(String, Vec<i32>)>>);

/// DescribeGroups' entry for this group.
#[derive(Message)]
#[rtype(result = "DescribedGroup")]
pub(crate) struct Describe;

/// ListGroups' entry: protocol type and state.
#[derive(Message)]
#[rtype(result = "(String, GroupState)")]
pub(crate) struct Summary;

/// Answers parked requests with COORDINATOR_NOT_AVAILABLE, flushes, stops.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Close;

impl Handler<Join> for GroupCoordinator {
    type Result = MessageResult<Join>;

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let token = self.park(Waiter::Join(tx));
        let replies = self.group.join(Instant::now(), token, msg.0);
        self.settle(replies, ctx);
        MessageResult(rx)
    }
}

impl Handler<Sync> for GroupCoordinator {
    type Result = MessageResult<Sync>;

    fn handle(&mut self, msg: Sync, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let token = self.park(Waiter::Sync(tx));
        let replies = self.group.sync(Instant::now(), token, msg.0);
        self.settle(replies, ctx);
        MessageResult(rx)
    }
}

impl Handler<Heartbeat> for GroupCoordinator {
    type Result = MessageResult<Heartbeat>;

    fn handle(&mut self, msg: Heartbeat, ctx: &mut Self::Context) -> Self::Result {
        let code = self.group.heartbeat(Instant::now(), &msg.member_id, msg.instance_id.as_deref(), msg.generation_id);
        self.reschedule(ctx);
        MessageResult(code)
    }
}

impl Handler<Leave> for GroupCoordinator {
    type Result = MessageResult<Leave>;

    fn handle(&mut self, msg: Leave, ctx: &mut Self::Context) -> Self::Result {
        let (codes, replies) = self.group.leave(Instant::now(), &msg.0);
        self.settle(replies, ctx);
        MessageResult(codes)
    }
}

impl Handler<Commit> for GroupCoordinator {
    type Result = MessageResult<Commit>;

    fn handle(&mut self, msg: Commit, ctx: &mut Self::Context) -> Self::Result {
        let checked =
            self.group.check_commit(Instant::now(), &msg.member_id, msg.instance_id.as_deref(), msg.generation_id);
        let codes = match checked {
            Err(code) => msg.topics.iter().map(|(_, ps)| vec![code; ps.len()]).collect(),
            Ok(()) => self.commit(&msg.topics),
        };
        self.reschedule(ctx);
        MessageResult(codes)
    }
}

impl GroupCoordinator {
    /// Writes the acceptable offsets to the store first, then applies them.
    fn commit(&mut self, topics: &[(String, Vec<(i32, CommittedOffset)>)]) -> Vec<Vec<ErrorCode>> {
        let too_large = |o: &CommittedOffset| o.metadata.as_ref().is_some_and(|m| m.len() > MAX_METADATA_BYTES);
        let accepted = topics.iter().flat_map(|(topic, ps)| {
            ps.iter().filter(|(_, o)| !too_large(o)).map(move |(p, o)| (topic.as_str(), *p, o))
        });
        let written = match &mut self.log {
            Some(log) => log.append_offsets(accepted),
            None => Ok(()),
        };
        if let Err(error) = written {
            tracing::warn!(group = %self.group.id, %error, "offset commit not persisted");
            return topics.iter().map(|(_, ps)| vec![ErrorCode::CoordinatorNotAvailable; ps.len()]).collect();
        }
        let group = &mut self.group;
        topics
            .iter()
            .map(|(topic, ps)| ps.iter().map(|(p, o)| group.commit_offset(topic, *p, o.clone())).collect())
            .collect()
    }
}

impl Handler<Fetch> for GroupCoordinator {
    type Result = MessageResult<Fetch>;

    fn handle(&mut self, msg: Fetch, _ctx: &mut Self::Context) -> Self::Result {
        let topics = msg.0.unwrap_or_else(|| self.group.committed_topics());
        let fetched = topics
            .into_iter()
            .map(|(topic, ps)| {
                let offsets = ps.into_iter().map(|p| (p, self.group.committed(&topic, p).cloned())).collect();
                (topic, offsets)
            })
            .collect();
        MessageResult(fetched)
    }
}

impl Handler<Describe> for GroupCoordinator {
    type Result = MessageResult<Describe>;

    fn handle(&mut self, _msg: Describe, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.group.describe())
    }
}

impl Handler<Summary> for GroupCoordinator {
    type Result = MessageResult<Summary>;

    fn handle(&mut self, _msg: Summary, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult((self.group.protocol_type.clone().unwrap_or_default(), self.group.state))
    }
}

impl Handler<Close> for GroupCoordinator {
    type Result = ();

    fn handle(&mut self, _msg: Close, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Creates a group's coordinator on first use and remembers every one.
pub(crate) struct Registry {
    limits: Limits,
    store: Option<Store>,
    coordinators: HashMap<String, Addr<GroupCoordinator>>,
}

impl Registry {
    /// Loads the store (if any) and starts a coordinator for every stored group; must run
    /// inside an actix System.
    pub(crate) fn load(config: &GroupConfig) -> Result<Registry, GroupError> {
        let limits = Limits {
            min_session_timeout: config.min_session_timeout,
            max_session_timeout: config.max_session_timeout,
            initial_rebalance_delay: config.initial_rebalance_delay,
        };
        let (store, stored) = match &config.data_dir {
            Some(dir) => {
                let (store, groups) = Store::open(dir, config.fsync_every_commit)?;
                (Some(store), groups)
            }
            None => (None, Vec::new()),
        };
        let mut registry = Registry { limits, store, coordinators: HashMap::new() };
        for stored in stored {
            let group = restore(stored, limits);
            let log = registry.store.as_ref().map(|s| s.log(&group.id)).transpose()?;
            registry.coordinators.insert(group.id.clone(), GroupCoordinator::new(group, log).start());
        }
        Ok(registry)
    }
}

fn restore(stored: StoredGroup, limits: Limits) -> Group {
    let mut group = Group::new(stored.group_id, limits);
    group.generation = stored.metadata.generation;
    group.protocol_type = stored.metadata.protocol_type;
    group.offsets = stored.offsets;
    group
}

impl Actor for Registry {
    type Context = Context<Self>;
}

/// The coordinator of a group: `Ok(None)` when it does not exist and `create` is false;
/// `Err` when the store cannot open its file.
#[derive(Message)]
#[rtype(result = "Result<Option<Addr<GroupCoordinator>>, ErrorCode>")]
pub(crate) struct Lookup {
    pub(crate) group_id: String,
    pub(crate) create: bool,
}

/// Every group's coordinator.
#[derive(Message)]
#[rtype(result = "Vec<(String, Addr<GroupCoordinator>)>")]
pub(crate) struct All;

/// Closes every coordinator (flushing the store), then the registry.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

impl Handler<Lookup> for Registry {
    type Result = Result<Option<Addr<GroupCoordinator>>, ErrorCode>;

    fn handle(&mut self, msg: Lookup, _ctx: &mut Self::Context) -> Self::Result {
        if let Some(addr) = self.coordinators.get(&msg.group_id) {
            return Ok(Some(addr.clone()));
        }
        if !msg.create {
            return Ok(None);
        }
        let log = match self.store.as_ref().map(|s| s.log(&msg.group_id)).transpose() {
            Ok(log) => log,
            Err(error) => {
                tracing::warn!(group = %msg.group_id, %error, "cannot open the group's store file");
                return Err(ErrorCode::CoordinatorNotAvailable);
            }
        };
        let addr = GroupCoordinator::new(Group::new(msg.group_id.clone(), self.limits), log).start();
        self.coordinators.insert(msg.group_id, addr.clone());
        Ok(Some(addr))
    }
}

impl Handler<All> for Registry {
    type Result = MessageResult<All>;

    fn handle(&mut self, _msg: All, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.coordinators.iter().map(|(id, addr)| (id.clone(), addr.clone())).collect())
    }
}

impl Handler<Shutdown> for Registry {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
        let coordinators: Vec<_> = self.coordinators.drain().collect();
        let close = async move {
            for (group_id, addr) in coordinators {
                if addr.send(Close).await.is_err() {
                    tracing::debug!(group = %group_id, "coordinator already stopped");
                }
            }
        };
        Box::pin(close.into_actor(self).map(|(), _act, ctx| ctx.stop()))
    }
}
