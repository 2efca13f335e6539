//! The embedded broker's consumer group coordinator: Kafka's classic group protocol
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed offsets (OffsetCommit,
//! OffsetFetch), DescribeGroups and ListGroups.
//!
//! # The state machine
//!
//! Each group is a plain [`state::Group`] (no actix, time passed in), wrapped by one
//! `GroupCoordinator` actor; a `Registry` actor creates coordinators on demand.
//!
//! - **Empty** → a JoinGroup starts a rebalance: **PreparingRebalance**. Since JoinGroup
//!   v4 a member without an id is first answered MEMBER_ID_REQUIRED with a fresh id
//!   (`{client_id}-{uuid-like}`), kept pending for one session timeout.
//! - The join phase ends when every member has rejoined (and no handed-out id is still
//!   pending), or at the rebalance deadline (the largest member rebalance timeout; an
//!   Empty group's first rebalance waits [`GroupConfig::initial_rebalance_delay`]).
//!   Members that did not rejoin are removed; the generation goes up; the protocol is
//!   the one all members support with the most first-preference votes; every parked
//!   JoinGroup is answered, the leader with all members' metadata:
//!   **CompletingRebalance**.
//! - Followers' SyncGroups park until the leader's SyncGroup brings the assignments;
//!   then every parked sync is answered: **Stable**. Members that never sync within the
//!   rebalance timeout are removed (a fresh rebalance answers the parked syncs with
//!   REBALANCE_IN_PROGRESS).
//! - Heartbeats refresh the session and answer REBALANCE_IN_PROGRESS while preparing a
//!   rebalance. A member whose session expires (it is not parked in Join or Sync), or
//!   that leaves, is removed and a rebalance starts; the last one gone leaves the group
//!   Empty at the next generation.
//! - **Dead** is only what DescribeGroups reports for a group that does not exist.
//!
//! # Static membership
//!
//! A member with a group instance id that rejoins with an empty member id takes a new
//! member id; the old one is fenced (its parked requests, and any later request, get
//! FENCED_INSTANCE_ID). If the group is Stable and the member's protocols are unchanged
//! there is no rebalance: it is answered the current generation, naming the previous
//! leader (so, like Kafka before KIP-814, even a former leader acts as a follower and
//! syncs to its previous assignment; at JoinGroup v9 a former leader is told it leads
//! with `skip_assignment`). Otherwise it rejoins like any member. Simplified: a static
//! member's session expiry removes it like a dynamic one, and a static member that
//! rejoins with protocols that keep the chosen protocol still causes a rebalance.
//!
//! # Durability
//!
//! With [`GroupConfig::data_dir`], committed offsets and each group's generation and
//! protocol are appended to `DIR/__consumer_offsets/<hex group id>.log` (CRC-checked,
//! length-prefixed records; compacted, and a torn tail cut, on start). A commit is
//! written before its response is sent, so a process crash loses no acknowledged
//! offset; [`GroupConfig::fsync_every_commit`] also fsyncs it, for power loss.
//! Members are not persisted: after a restart every group is Empty at its last
//! generation with all its offsets, and clients rejoin.

#![cfg_attr(not(test), allow(dead_code))] // the broker's request dispatch is the caller

use std::path::PathBuf;
use std::time::Duration;

mod actor;
mod api;
mod api_offsets;
mod member;
mod membership;
mod offsets;
mod outcome;
mod responses;
mod state;
mod store;

#[cfg(test)]
mod tests_actor;
#[cfg(test)]
mod tests_state;

// Re-exported for the broker's request dispatch.
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use api::{describe_groups, heartbeat, join_group, leave_group, list_groups, sync_group, Groups};
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use api_offsets::{offset_commit, offset_fetch};
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use responses::{
    describe_groups_error, heartbeat_error, join_group_error, leave_group_error, list_groups_error,
    offset_commit_error, offset_fetch_error, sync_group_error,
};

/// The coordinator's settings.
#[derive(Debug, Clone)]
pub(crate) struct GroupConfig {
    /// Where committed offsets and group metadata are kept; `None` (the default) keeps
    /// them in memory only.
    pub data_dir: Option<PathBuf>,
    /// How long the first rebalance of an Empty group waits for more members. Default 0
    /// (Kafka's `group.initial.rebalance.delay.ms` defaults to 3 s).
    pub initial_rebalance_delay: Duration,
    /// The shortest session timeout a member may ask for. Default 100 ms (Kafka: 6 s;
    /// ours is low so tests can use short sessions).
    pub min_session_timeout: Duration,
    /// The longest session timeout a member may ask for. Default 30 min.
    pub max_session_timeout: Duration,
    /// Whether each commit is fsynced before it is answered. Default false: written to
    /// the OS (process-crash safe), fsynced on shutdown.
    pub fsync_every_commit: bool,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            data_dir: None,
            initial_rebalance_delay: Duration::ZERO,
            min_session_timeout: Duration::from_millis(100),
            max_session_timeout: Duration::from_secs(30 * 60),
            fsync_every_commit: false,
        }
    }
}

/// Why the group coordinator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum GroupError {
    /// The store's directory or a group's file could not be read or written.
    #[error("group store I/O on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// [`Groups::start`] was called outside a running actix System.
    #[error("the group coordinator must start inside a running actix System")]
    NoSystem,
}
