//! The [`Consumer`]'s handlers of what its group [`Coordinator`](super::super::coordinator::Coordinator)
//! tells it: partitions assigned, to revoke, lost; and events to pass on.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::{ActorFutureExt, Context, Handler, Recipient, ResponseActFuture, WrapFuture};

use super::super::internal::{PartitionsAssigned, PartitionsLost, RevokePartitions};
use super::super::messages::ConsumerEvent;
use super::super::types::TopicPartition;
use super::Consumer;

/// Tells the subscriber `Revoked` and waits for its handling, bounded by `timeout`
/// (the drain timeout), as the Java client runs `onPartitionsRevoked` before it commits.
pub(super) async fn tell_revoked(
    events: Option<Recipient<ConsumerEvent>>,
    partitions: Vec<TopicPartition>,
    timeout: Duration,
) {
    if let Some(events) = events {
        let told = events.send(ConsumerEvent::Revoked { partitions });
        if tokio::time::timeout(timeout, told).await.is_err() {
            tracing::warn!("the subscriber did not handle Revoked within the drain timeout");
        }
    }
}

impl Handler<PartitionsAssigned> for Consumer {
    type Result = ();

    fn handle(&mut self, msg: PartitionsAssigned, _: &mut Context<Self>) {
        if !self.closed {
            self.start_partitions(msg.partitions);
        }
    }
}

impl Handler<RevokePartitions> for Consumer {
    type Result = ResponseActFuture<Self, BTreeMap<TopicPartition, (i64, i32)>>;

    fn handle(&mut self, msg: RevokePartitions, _: &mut Context<Self>) -> Self::Result {
        tracing::info!(partitions = ?msg.partitions, "revoking partitions");
        let drained = self.drain(&msg.partitions);
        let events = self.subscriber.as_ref().and_then(|s| s.events.clone());
        let timeout = self.config.drain_timeout;
        let partitions = msg.partitions;
        let revoke = async move {
            let acknowledged = drained.await;
            tell_revoked(events, partitions.clone(), timeout).await;
            (partitions, acknowledged)
        };
        Box::pin(revoke.into_actor(self).map(|(partitions, acknowledged), act, _| {
            act.stop_partitions(&partitions);
            acknowledged
        }))
    }
}

impl Handler<PartitionsLost> for Consumer {
    type Result = ();

    fn handle(&mut self, msg: PartitionsLost, _: &mut Context<Self>) {
        tracing::info!(partitions = ?msg.partitions, "partitions lost");
        self.stop_partitions(&msg.partitions);
        self.event(ConsumerEvent::Lost { partitions: msg.partitions });
    }
}

impl Handler<ConsumerEvent> for Consumer {
    type Result = ();

    fn handle(&mut self, event: ConsumerEvent, _: &mut Context<Self>) {
        self.event(event);
    }
}
