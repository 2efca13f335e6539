//! The handlers of the consumer's messages (see `internal.rs`).

use std::collections::BTreeMap;

use actix::{AsyncContext, Context, Handler, ResponseFuture};

use super::Coordinator;
use crate::consumer::coordinator::flows;
use crate::consumer::coordinator::offsets::Position;
use crate::consumer::error::ConsumeError;
use crate::consumer::internal::{
    Acknowledged, CommitAcknowledged, CommitOffsets, FetchCommitted, GetGroupStats, LeaveGroup, SetSubscription,
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
    type Result = ResponseFuture<Result<(), ConsumeError>>;
    fn handle(&mut self, _: CommitAcknowledged, ctx: &mut Context<Self>) -> Self::Result {
        if self.closed {
            return Box::pin(std::future::ready(Err(ConsumeError::Closed)));
        }
        let offsets = self.book.pending();
        let Some(commit) = self.commit_future(offsets.clone()) else { return Box::pin(std::future::ready(Ok(()))) };
        // A task of its own, not the actor's: the caller is answered even if the actor
        // restarts meanwhile, and the outcome comes back as a message.
        let me = ctx.address();
        Box::pin(async move {
            let result = commit.await;
            me.do_send(CommitDone { offsets, result: result.clone() });
            result
        })
    }
}

impl Handler<CommitOffsets> for Coordinator {
    type Result = ResponseFuture<Result<(), ConsumeError>>;
    fn handle(&mut self, msg: CommitOffsets, ctx: &mut Context<Self>) -> Self::Result {
        for (partition, offset) in msg.offsets {
            if self.membership.is_subscribed() && !self.membership.owned.contains(&partition) {
                let TopicPartition { topic, partition } = partition;
                return Box::pin(std::future::ready(Err(ConsumeError::NotAssigned { topic, partition })));
            }
            // The leader epoch is unknown for a user-given offset (-1, as the Java client
            // commits it without one).
            self.book.acknowledge(partition, (offset, -1));
        }
        self.handle(CommitAcknowledged, ctx)
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
    type Result = ResponseFuture<Result<(), ConsumeError>>;
    fn handle(&mut self, _: LeaveGroup, ctx: &mut Context<Self>) -> Self::Result {
        if self.closed {
            return Box::pin(std::future::ready(Ok(())));
        }
        self.closed = true;
        let offsets = self.book.pending();
        let commit = self.commit_future(offsets.clone());
        let leave =
            (self.membership.generation >= 0 || !self.membership.member_id.is_empty()) && !self.membership.is_static();
        let (link, identity, timeout) = (self.link.clone(), self.membership.identity(), self.config.request_timeout);
        let me = ctx.address();
        Box::pin(async move {
            let result = match commit {
                Some(commit) => commit.await,
                None => Ok(()),
            };
            if leave {
                flows::leave(link.clone(), identity, timeout).await;
            }
            link.reset().await;
            me.do_send(CommitDone { offsets, result: result.clone() });
            // Handled after this answer is sent (this task sends it in this poll).
            me.do_send(Stop);
            result
        })
    }
}

/// The outcome of a commit a caller waited for, back from its task.
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
struct CommitDone {
    offsets: BTreeMap<TopicPartition, Position>,
    result: Result<(), ConsumeError>,
}

impl Handler<CommitDone> for Coordinator {
    type Result = ();
    fn handle(&mut self, msg: CommitDone, _: &mut Context<Self>) {
        self.after_commit(&msg.offsets, &msg.result);
    }
}

/// The end of a `LeaveGroup`: stop the arbiter, and the actor with it.
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
struct Stop;

impl Handler<Stop> for Coordinator {
    type Result = ();
    fn handle(&mut self, _: Stop, _: &mut Context<Self>) {
        self.membership.lose(false);
        self.stop_arbiter();
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
