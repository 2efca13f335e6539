//! The messages between the [`Coordinator`](super::coordinator::Coordinator) and the
//! [`Consumer`](super::Consumer): the contract between group membership and fetching.
//!
//! The coordinator owns membership and offsets storage (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetFetch, OffsetCommit); the consumer owns the partition
//! and broker consumers, and so positions, deliveries and acknowledgements. The
//! coordinator talks to the consumer through the [`AssignmentListener`] recipients, so
//! each side can be tested against a fake of the other.

use std::collections::{BTreeMap, BTreeSet};

use actix::{Message, Recipient};

use super::error::ConsumeError;
use super::messages::ConsumerEvent;
use super::stats::GroupStats;
use super::types::{StartPosition, TopicPartition};

// ---- consumer → coordinator -------------------------------------------------------

/// The topics this member subscribes to (already resolved from a pattern). Starts the
/// membership on first use; a change triggers a rejoin.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub(crate) struct SetSubscription {
    pub(crate) topics: BTreeSet<String>,
}

/// The subscriber acknowledged records of `partition` up to `offset` (exclusive: the
/// next offset to consume, what OffsetCommit stores). Sent by the consumer after each
/// acknowledged delivery; the coordinator commits the latest per partition on its
/// auto-commit timer, on [`CommitAcknowledged`], on revoke and on leave.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct Acknowledged {
    pub(crate) partition: TopicPartition,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
}

/// Commit every acknowledged, not yet committed offset now (the user's `Commit`).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub(crate) struct CommitAcknowledged;

/// Mark these offsets acknowledged (raising, never lowering, what `Acknowledged`
/// recorded) and commit every acknowledged, not yet committed offset now (the user's
/// `CommitOffsets`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub(crate) struct CommitOffsets {
    pub(crate) offsets: Vec<(TopicPartition, i64)>,
}

/// The committed offsets of `partitions` (OffsetFetch): `StartPosition::Offset` where
/// one is committed, `StartPosition::Reset` where none is. Used for a manual
/// assignment with a group id (no membership).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<BTreeMap<TopicPartition, StartPosition>, ConsumeError>")]
pub(crate) struct FetchCommitted {
    pub(crate) partitions: Vec<TopicPartition>,
}

/// Commit what was acknowledged, leave the group (LeaveGroup; a static member does not
/// leave, per KIP-345) and stop.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub(crate) struct LeaveGroup;

/// Asks for the membership's [`GroupStats`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "GroupStats")]
pub(crate) struct GetGroupStats;

// ---- coordinator → consumer -------------------------------------------------------

/// These partitions are now this member's, each starting at its committed offset (the
/// coordinator fetched them) or by the reset policy.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct PartitionsAssigned {
    pub(crate) partitions: Vec<(TopicPartition, StartPosition)>,
}

/// Give these partitions up: stop fetching them, let in-flight deliveries finish
/// (bounded by the drain timeout), tell the subscriber (`ConsumerEvent::Revoked`), stop
/// their partition consumers, and answer with the final acknowledged offsets (the
/// coordinator commits them before it rejoins). Partitions with nothing acknowledged
/// are left out of the answer.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BTreeMap<TopicPartition, (i64, i32)>")]
pub(crate) struct RevokePartitions {
    pub(crate) partitions: Vec<TopicPartition>,
}

/// These partitions were lost (session timeout, fenced): stop them at once, commit
/// nothing, tell the subscriber (`ConsumerEvent::Lost`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct PartitionsLost {
    pub(crate) partitions: Vec<TopicPartition>,
}

/// Where the coordinator sends what the consumer must act on.
#[derive(Clone)]
pub(crate) struct AssignmentListener {
    pub(crate) assigned: Recipient<PartitionsAssigned>,
    pub(crate) revoke: Recipient<RevokePartitions>,
    pub(crate) lost: Recipient<PartitionsLost>,
    /// Errors no request waits for (a failed auto-commit, a fatal group error).
    pub(crate) events: Recipient<ConsumerEvent>,
}
