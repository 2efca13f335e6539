//! [`ConsumerStats`] and [`GroupStats`]: counters a consumer answers to
//! [`GetConsumerStats`](super::GetConsumerStats).

use std::collections::BTreeMap;

use super::types::TopicPartition;

/// Counters of one consumer since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// Records delivered to the subscriber (redeliveries counted again).
    pub records_delivered: u64,
    /// Records the subscriber acknowledged.
    pub records_acknowledged: u64,
    /// Record bytes fetched (the record sets as received).
    pub bytes_fetched: u64,
    /// FetchRequests sent.
    pub fetch_requests: u64,
    /// Of those, the incremental ones (KIP-227): sent in an established fetch session,
    /// carrying only the partitions whose fetch state changed. Zero when the broker
    /// offers no sessions or `fetch_sessions` is off.
    pub incremental_fetches: u64,
    /// Deliveries the subscriber answered with an error.
    pub handler_errors: u64,
    /// Batches that failed to decode (a CRC mismatch...) and were fetched again.
    pub corrupt_batches: u64,
    /// Stalled partitions detected and healed.
    pub stalls_healed: u64,
    /// Restarts of `BrokerConsumer` actors.
    pub broker_restarts: u64,
    /// Each assigned partition's position (next offset to deliver) and lag (high
    /// watermark minus position; -1 while unknown).
    pub partitions: BTreeMap<TopicPartition, PartitionStats>,
    /// The group membership, when the consumer has a `group_id`.
    pub group: Option<GroupStats>,
}

/// One assigned partition's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionStats {
    /// The next offset to deliver.
    pub position: i64,
    /// The offset after the last acknowledged record; -1 when none.
    pub acknowledged: i64,
    /// High watermark minus position; -1 while unknown.
    pub lag: i64,
    /// Whether the partition is paused.
    pub paused: bool,
}

/// The group membership's counters and state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupStats {
    /// The member id the coordinator gave this member; empty before the first join.
    pub member_id: String,
    /// The current generation; -1 before the first join.
    pub generation_id: i32,
    /// The protocol (assignor) the group chose.
    pub protocol: Option<String>,
    /// Whether this member is the group's leader.
    pub is_leader: bool,
    /// JoinGroup requests sent.
    pub joins: u64,
    /// Rebalances completed (successful SyncGroups).
    pub rebalances: u64,
    /// Heartbeats sent.
    pub heartbeats: u64,
    /// Successful OffsetCommit requests.
    pub commits: u64,
    /// Failed OffsetCommit requests.
    pub commit_failures: u64,
}
