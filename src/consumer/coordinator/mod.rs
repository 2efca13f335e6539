//! The group [`Coordinator`] actor: one consumer-group membership (Kafka's classic
//! group protocol) and the group's committed offsets.
//!
//! # Pieces
//!
//! - `membership.rs`: the plain state machine (join, sync, heartbeat outcomes, eager
//!   vs cooperative revocation, session expiry), unit-tested under explicit time;
//! - `offsets.rs`: acknowledged vs committed offsets, so a commit carries only what
//!   changed;
//! - `protocol.rs`: the Subscription / Assignment blobs, and the leader's assignment;
//! - `requests.rs`: each group request built for the negotiated version;
//! - `link.rs`: FindCoordinator and a dedicated connection to the coordinator (not
//!   the `Cluster` pool's: a JoinGroup is held for up to the rebalance timeout, which
//!   would also hold the pooled connection's fetches, and needs a longer request
//!   timeout than anything else);
//! - `flows.rs`: the I/O of each step, as plain async functions (retries, backoff);
//! - `actor.rs` (and `actor/handlers.rs`): the actor gluing them to timers and
//!   messages.
//!
//! # Supervision
//!
//! The actor runs under a `Supervisor` on an arbiter of its own. A restart drops the
//! coordinator connection and the in-flight steps, reports the owned partitions lost
//! (nothing proves the membership survived) and rejoins under the same member id.
//! A commit or a `LeaveGroup` a caller waits for runs as a task of its own, so it is
//! answered exactly once even across a restart. When every address of the actor is
//! dropped without a `LeaveGroup` it stops at the next heartbeat tick, as a crashed
//! process would, and the coordinator drops the member at its session timeout.
//!
//! # Rebalancing
//!
//! With an eager protocol (range, roundrobin, sticky) everything owned is revoked
//! before JoinGroup: the consumer drains and answers the final acknowledged offsets,
//! which are committed, then the member joins. With `cooperative-sticky` (KIP-429)
//! the member keeps what it owns through the rebalance, revokes only the partitions
//! the new assignment moved away (committing them), then rejoins at once so they can
//! go to their new owner; only newly added partitions are handed to the consumer,
//! each with its committed offset (OffsetFetch).
//!
//! Heartbeats run on their own timer on the coordinator's own arbiter, so a
//! subscriber blocking the consumer's thread never starves them. If none succeeds for
//! a session timeout the coordinator has dropped the member: its partitions are
//! *lost* (nothing committed) and it rejoins. UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION
//! and FENCED_INSTANCE_ID are losses too; FENCED_INSTANCE_ID and other
//! non-retriable errors (GROUP_AUTHORIZATION_FAILED, INCONSISTENT_GROUP_PROTOCOL...)
//! are reported as `ConsumerEvent::Error` and end the membership.
//!
//! # Commits
//!
//! The latest acknowledged offset per owned partition is committed on the
//! auto-commit timer, on `CommitAcknowledged`, on revoke and on `LeaveGroup`, with
//! the member's generation and id (generation -1 and an empty id outside any
//! membership: a manual assignment with a group id). REBALANCE_IN_PROGRESS and
//! ILLEGAL_GENERATION fail a commit (Java semantics); retriable errors are retried
//! with the backoff for up to the request timeout.

// The Consumer, written in parallel against the same contract, is the caller.
#![cfg_attr(not(test), allow(dead_code))]

mod actor;
mod flows;
mod link;
mod membership;
mod offsets;
mod protocol;
mod requests;

#[cfg(test)]
mod tests_actor;
#[cfg(test)]
mod tests_membership;
#[cfg(test)]
mod tests_peers;

#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use actor::Coordinator;
