//! The messages a `PartitionConsumer` answers, and its handlers: each one a call on
//! the actor's methods (in `partition.rs`) or on its [`PartitionState`].
//!
//! [`PartitionState`]: super::super::position::PartitionState

use actix::prelude::*;
use tokio::sync::oneshot;

use super::super::broker::{Fetched, FetchedReply};
use super::super::stats::PartitionStats;
use super::super::types::StartPosition;
use super::PartitionConsumer;

/// Moves the partition (a user `Seek`).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SeekPartition(pub(crate) StartPosition);

/// Pauses or resumes the partition.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SetPaused(pub(crate) bool);

/// Stop fetching and let the delivery in flight finish (bounded by the drain
/// timeout); answers the acknowledged offset and epoch.
#[derive(Message)]
#[rtype(result = "Option<(i64, i32)>")]
pub(crate) struct Drain;

/// Stop for good.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StopPartition;

/// The partition's [`PartitionStats`].
#[derive(Message)]
#[rtype(result = "PartitionStats")]
pub(crate) struct GetPartitionStats;

impl Handler<Fetched> for PartitionConsumer {
    type Result = MessageResult<Fetched>;

    fn handle(&mut self, msg: Fetched, ctx: &mut Context<Self>) -> Self::Result {
        self.registered = false;
        self.on_data(msg.seq, msg.result, ctx);
        let next = self.next_want(ctx);
        let held_back = next.is_none() && self.held_back();
        MessageResult(FetchedReply { next, held_back })
    }
}

impl Handler<SeekPartition> for PartitionConsumer {
    type Result = ();

    fn handle(&mut self, msg: SeekPartition, ctx: &mut Context<Self>) {
        tracing::debug!(partition = %self.tp(), position = ?msg.0, "seek");
        self.resolve(msg.0, ctx);
    }
}

impl Handler<SetPaused> for PartitionConsumer {
    type Result = ();

    fn handle(&mut self, msg: SetPaused, ctx: &mut Context<Self>) {
        self.state.set_paused(msg.0);
        if msg.0 {
            self.unwant();
        } else {
            self.deliver(ctx);
            self.register(ctx);
        }
    }
}

impl Handler<Drain> for PartitionConsumer {
    type Result = ResponseActFuture<Self, Option<(i64, i32)>>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        self.unwant();
        let (done, drained) = oneshot::channel();
        if self.awaiting_answer() {
            self.drained.push(done);
        } else {
            let _nobody = done.send(());
        }
        let timeout = self.shared.config.drain_timeout;
        Box::pin(async move { tokio::time::timeout(timeout, drained).await }.into_actor(self).map(|waited, act, _| {
            if waited.is_err() {
                tracing::warn!(partition = %act.tp(), "drain timed out; the delivery in flight stays unacknowledged");
                act.state.abandon_delivery();
            }
            act.state.acknowledged()
        }))
    }
}

impl Handler<StopPartition> for PartitionConsumer {
    type Result = ();

    fn handle(&mut self, _: StopPartition, ctx: &mut Context<Self>) {
        self.draining = true;
        self.unwant();
        ctx.stop();
    }
}

impl Handler<GetPartitionStats> for PartitionConsumer {
    type Result = MessageResult<GetPartitionStats>;

    fn handle(&mut self, _: GetPartitionStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(PartitionStats {
            position: self.state.position().unwrap_or(-1),
            acknowledged: self.state.acknowledged().map_or(-1, |(offset, _)| offset),
            lag: self.state.lag(),
            paused: self.state.paused(),
        })
    }
}
