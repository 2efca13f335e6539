//! The handlers of the consumer's messages (see `internal.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use actix::{ActorFutureExt, AsyncContext, Context, Handler, ResponseActFuture, ResponseFuture, WrapFuture};

use super::Coordinator;
use crate::consumer::coordinator::flows;
use crate::consumer::error::ConsumeError;
use crate::consumer::internal::{
    Acknowledged, CommitAcknowledged, FetchCommitted, GetGroupStats, LeaveGroup, SetSubscription,
};
use crate::consumer::stats::GroupStats;
use crate::consumer::types::{StartPosition, TopicPartition};

impl Handler<SetSubscription> for Coordinator {
    type Result = Result<(), ConsumeError>;
    fn handle(&mut self, msg: SetSubscription, ctx: &mut Context<Self>) -> Self::Result {
        if self.closed {
            return Err(ConsumeError::Closed);
        }
        tracing::debug!(group = %self.link.group(), topics = ?msg.topics, "subscription");
        self.membership.subscribe(msg.topics);
        self.drive(ctx);
        Ok(())
    }
}

impl Handler<Acknowledged> for Coordinator {
    type Result = ();
    fn handle(&mut self, msg: Acknowledged, _: &mut Context<Self>) {
        // A group member commits only what it owns: a late acknowledgement of a
        // partition already revoked or lost must not be committed over its new owner.
        if self.membership.is_subscribed() && !self.membership.owned.contains(&msg.partition) {
            tracing::debug!(partition = %msg.partition, "acknowledgement of a partition not owned; ignored");
            return;
        }
        self.book.acknowledge(msg.partition, (msg.offset, msg.leader_epoch));
    }
}

impl Handler<CommitAcknowledged> for Coordinator {
    type Result = ResponseActFuture<Self, Result<(), ConsumeError>>;
    fn handle(&mut self, _: CommitAcknowledged, _: &mut Context<Self>) -> Self::Result {
        if self.closed {
            return Box::pin(actix::fut::ready(Err(ConsumeError::Closed)));
        }
        let offsets = self.book.pending();
        let Some(commit) = self.commit_future(offsets.clone()) else { return Box::pin(actix::fut::ready(Ok(()))) };
        Box::pin(commit.into_actor(self).map(move |result, act, _| {
            act.after_commit(&offsets, &result);
            result
        }))
    }
}

impl Handler<FetchCommitted> for Coordinator {
    type Result = ResponseFuture<Result<BTreeMap<TopicPartition, StartPosition>, ConsumeError>>;
    fn handle(&mut self, msg: FetchCommitted, _: &mut Context<Self>) -> Self::Result {
        if self.closed {
            return Box::pin(std::future::ready(Err(ConsumeError::Closed)));
        }
        Box::pin(flows::fetch_offsets(self.link.clone(), self.config.clone(), msg.partitions))
    }
}

impl Handler<LeaveGroup> for Coordinator {
    type Result = ResponseActFuture<Self, Result<(), ConsumeError>>;
    fn handle(&mut self, _: LeaveGroup, _: &mut Context<Self>) -> Self::Result {
        if self.closed {
            return Box::pin(actix::fut::ready(Ok(())));
        }
        self.closed = true;
        let offsets = self.book.pending();
        let commit = self.commit_future(offsets.clone());
        let leave =
            (self.membership.generation >= 0 || !self.membership.member_id.is_empty()) && !self.membership.is_static();
        let (link, identity, timeout) = (self.link.clone(), self.membership.identity(), self.config.request_timeout);
        Box::pin(
            async move {
                let committed = match commit {
                    Some(commit) => commit.await,
                    None => Ok(()),
                };
                if leave {
                    flows::leave(link.clone(), identity, timeout).await;
                }
                link.reset().await;
                committed
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                act.after_commit(&offsets, &result);
                act.membership.lose(false);
                // Stop once this answer is out.
                ctx.run_later(Duration::ZERO, |act, _| act.stop_arbiter());
                result
            }),
        )
    }
}

impl Handler<GetGroupStats> for Coordinator {
    type Result = actix::MessageResult<GetGroupStats>;
    fn handle(&mut self, _: GetGroupStats, _: &mut Context<Self>) -> Self::Result {
        let m = &self.membership;
        actix::MessageResult(GroupStats {
            member_id: m.member_id.clone(),
            generation_id: m.generation,
            protocol: m.protocol.clone(),
            is_leader: m.leader,
            joins: m.joins,
            rebalances: m.rebalances,
            heartbeats: self.heartbeats,
            commits: self.commits,
            commit_failures: self.commit_failures,
        })
    }
}

/// Test hook: stops the actor as a failure would, so its supervisor restarts it.
#[cfg(test)]
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
pub(in crate::consumer::coordinator) struct Crash;

#[cfg(test)]
impl Handler<Crash> for Coordinator {
    type Result = ();
    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        use actix::ActorContext;
        ctx.stop();
    }
}
