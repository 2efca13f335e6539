//! The group [`Coordinator`] actor. (Contract stub; the group helper replaces it.)

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler};

use super::config::ConsumerConfig;
use super::error::ConsumeError;
use super::internal::{
    Acknowledged, AssignmentListener, CommitAcknowledged, FetchCommitted, GetGroupStats, LeaveGroup, SetSubscription,
};
use super::stats::GroupStats;
use super::types::{StartPosition, TopicPartition};
use crate::client::Cluster;

/// One group membership: FindCoordinator, JoinGroup/SyncGroup (running the assignor
/// when leader), heartbeats on their own timer, offsets. (Stub.)
pub(crate) struct Coordinator {
    #[allow(dead_code)]
    config: Arc<ConsumerConfig>,
}

impl Coordinator {
    /// Starts the coordinator for `config.group_id` (which must be set), under a
    /// supervisor on its own arbiter so user processing never delays heartbeats.
    pub(crate) fn start(
        config: Arc<ConsumerConfig>,
        _cluster: Addr<Cluster>,
        _listener: AssignmentListener,
    ) -> Addr<Coordinator> {
        Coordinator { config }.start()
    }
}

impl Actor for Coordinator {
    type Context = Context<Self>;
}

impl Handler<SetSubscription> for Coordinator {
    type Result = Result<(), ConsumeError>;
    fn handle(&mut self, _: SetSubscription, _: &mut Context<Self>) -> Self::Result {
        Err(ConsumeError::InvalidState("coordinator not implemented yet"))
    }
}

impl Handler<Acknowledged> for Coordinator {
    type Result = ();
    fn handle(&mut self, _: Acknowledged, _: &mut Context<Self>) {}
}

impl Handler<CommitAcknowledged> for Coordinator {
    type Result = Result<(), ConsumeError>;
    fn handle(&mut self, _: CommitAcknowledged, _: &mut Context<Self>) -> Self::Result {
        Err(ConsumeError::InvalidState("coordinator not implemented yet"))
    }
}

impl Handler<FetchCommitted> for Coordinator {
    type Result = Result<BTreeMap<TopicPartition, StartPosition>, ConsumeError>;
    fn handle(&mut self, _: FetchCommitted, _: &mut Context<Self>) -> Self::Result {
        Err(ConsumeError::InvalidState("coordinator not implemented yet"))
    }
}

impl Handler<LeaveGroup> for Coordinator {
    type Result = Result<(), ConsumeError>;
    fn handle(&mut self, _: LeaveGroup, _: &mut Context<Self>) -> Self::Result {
        Ok(())
    }
}

impl Handler<GetGroupStats> for Coordinator {
    type Result = actix::MessageResult<GetGroupStats>;
    fn handle(&mut self, _: GetGroupStats, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(GroupStats::default())
    }
}
