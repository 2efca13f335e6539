//! The coordinator's I/O, as plain async functions over owned inputs: each runs one
//! step's requests (with retries where the protocol allows) and returns what the
//! [`Membership`](super::membership::Membership) or the actor needs. None of them
//! touches actor state, so a commit a caller waits for survives an actor restart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use tokio::time::Instant;

use super::link::{coordinator_moved, is_retriable, Link};
use super::membership::JoinOutcome;
use super::offsets::Position;
use super::protocol::{self, JoinedMember};
use super::requests::{self, Identity};
use crate::client::{Backoff, Cluster, GetMetadata};
use crate::consumer::assignor::Assignor;
use crate::consumer::config::{ConsumerConfig, IsolationLevel};
use crate::consumer::error::ConsumeError;
use crate::consumer::types::{StartPosition, TopicPartition};
use crate::protocol::{ApiKey, ErrorCode};

/// JoinGroup; `None` when the request itself failed (the caller rediscovers).
pub(super) async fn join(
    link: Arc<Link>,
    config: Arc<ConsumerConfig>,
    id: Identity,
    protocols: Vec<(String, bytes::Bytes)>,
) -> Option<JoinOutcome> {
    let build = |v| requests::join_group(&id, config.session_timeout, config.rebalance_timeout, &protocols, v);
    match link.send(build, link.join_timeout()).await {
        Ok(response) => Some(JoinOutcome {
            error: ErrorCode::from_i16(response.error_code),
            generation: response.generation_id,
            member_id: response.member_id,
            protocol: response.protocol_name,
            leader: response.leader,
            skip_assignment: response.skip_assignment,
            members: response
                .members
                .into_iter()
                .map(|m| JoinedMember {
                    member_id: m.member_id,
                    instance_id: m.group_instance_id,
                    metadata: m.metadata,
                })
                .collect(),
        }),
        Err(error) => {
            tracing::debug!(group = %id.group, %error, "JoinGroup failed");
            None
        }
    }
}

/// What a SyncGroup returned: its error code (`None` when the request failed) and
/// the decoded assignment.
pub(super) type SyncResult = (Option<ErrorCode>, Option<BTreeSet<TopicPartition>>);

/// The leader's SyncGroup: metadata for every subscribed topic, the assignor named
/// by the group's protocol, then SyncGroup with everyone's assignment. A follower
/// (`members` `None`) syncs with no assignments.
pub(super) async fn sync(
    link: Arc<Link>,
    cluster: Addr<Cluster>,
    config: Arc<ConsumerConfig>,
    id: Identity,
    protocol: String,
    members: Option<Vec<JoinedMember>>,
) -> SyncResult {
    let assignments = match members {
        Some(members) => match lead(&cluster, &config, &protocol, &members).await {
            Ok(assignments) => assignments,
            Err(error) => {
                tracing::warn!(group = %id.group, %error, "the leader could not compute an assignment");
                return (None, None);
            }
        },
        None => Vec::new(),
    };
    match link.send(|v| requests::sync_group(&id, &protocol, assignments, v), config.request_timeout).await {
        Ok(response) => {
            let error = ErrorCode::from_i16(response.error_code);
            let assignment = match protocol::decode_assignment(response.assignment) {
                Ok(assignment) => Some(assignment),
                Err(error) => {
                    tracing::warn!(group = %id.group, %error, "undecodable assignment");
                    None
                }
            };
            (Some(error), assignment)
        }
        Err(error) => {
            tracing::debug!(group = %id.group, %error, "SyncGroup failed");
            (None, None)
        }
    }
}

async fn lead(
    cluster: &Addr<Cluster>,
    config: &ConsumerConfig,
    protocol: &str,
    members: &[JoinedMember],
) -> Result<Vec<(String, bytes::Bytes)>, ConsumeError> {
    let subscriptions = protocol::decode_members(members, protocol);
    let topics: BTreeSet<String> = subscriptions.iter().flat_map(|m| m.topics.iter().cloned()).collect();
    let request = GetMetadata { topics: topics.iter().cloned().collect(), refresh: false };
    let metadata = cluster.send(request).await.map_err(|_| ConsumeError::Closed)??;
    let counts: BTreeMap<String, i32> = topics
        .iter()
        .filter_map(|t| metadata.partition_count(t).and_then(|n| i32::try_from(n).ok()).map(|n| (t.clone(), n)))
        .collect();
    let assignor: &dyn Assignor = match config.assignors.iter().find(|a| a.name() == protocol) {
        Some(assignor) => assignor.as_ref(),
        None => return Err(ConsumeError::InvalidState("the group chose a protocol this member did not offer")),
    };
    let (blobs, plan) = protocol::assign(assignor, &counts, &subscriptions)
        .map_err(|_| ConsumeError::InvalidState("the assignment does not fit the protocol's length prefixes"))?;
    tracing::info!(protocol, members = members.len(), ?plan, "computed the group's assignment as its leader");
    Ok(blobs)
}

/// Heartbeat; `None` when the request failed.
pub(super) async fn heartbeat(link: Arc<Link>, id: Identity, timeout: Duration) -> Option<ErrorCode> {
    match link.send(|v| requests::heartbeat(&id, v), timeout).await {
        Ok(response) => {
            let error = ErrorCode::from_i16(response.error_code);
            link.check_moved(error).await;
            Some(error)
        }
        Err(error) => {
            tracing::debug!(group = %id.group, %error, "Heartbeat failed");
            None
        }
    }
}

/// Commits `offsets` as `id`, retrying retriable failures (only the partitions that
/// failed) with the backoff for up to the request timeout.
///
/// # Errors
///
/// [`ConsumeError::Group`] for a non-retriable error (REBALANCE_IN_PROGRESS,
/// ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID...: the Java semantics, the commit fails),
/// the last retriable error when time ran out.
pub(super) async fn commit(
    link: Arc<Link>,
    config: Arc<ConsumerConfig>,
    id: Identity,
    mut offsets: BTreeMap<TopicPartition, Position>,
) -> Result<(), ConsumeError> {
    let deadline = Instant::now() + config.request_timeout;
    let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
    loop {
        let error = match link.send(|v| requests::offset_commit(&id, &offsets, v), config.request_timeout).await {
            Ok(response) => {
                let failed: Vec<(TopicPartition, ErrorCode)> =
                    requests::commit_errors(&response).into_iter().filter(|(_, e)| !e.is_ok()).collect();
                let Some(&(_, first)) = failed.first() else { return Ok(()) };
                if let Some((_, fatal)) = failed.iter().find(|(_, e)| !e.is_retriable()) {
                    return Err(group_error(&id, ApiKey::OffsetCommit, *fatal));
                }
                link.check_moved(first).await;
                offsets.retain(|tp, _| failed.iter().any(|(f, _)| f == tp));
                group_error(&id, ApiKey::OffsetCommit, first)
            }
            Err(error) if is_retriable(&error) => error,
            Err(error) => return Err(error),
        };
        let delay = backoff.next_delay();
        if Instant::now() + delay >= deadline {
            return Err(error);
        }
        tracing::debug!(group = %id.group, %error, ?delay, "retrying OffsetCommit");
        tokio::time::sleep(delay).await;
    }
}

/// The committed positions of `partitions` (OffsetFetch), retried like a commit;
/// a partition missing from the answer starts by the reset policy.
///
/// # Errors
///
/// As [`commit`].
pub(super) async fn fetch_offsets(
    link: Arc<Link>,
    config: Arc<ConsumerConfig>,
    partitions: Vec<TopicPartition>,
) -> Result<BTreeMap<TopicPartition, StartPosition>, ConsumeError> {
    let deadline = Instant::now() + config.request_timeout;
    let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
    let group = link.group().clone();
    let stable = config.isolation_level == IsolationLevel::ReadCommitted;
    loop {
        let error =
            match link.send(|v| requests::offset_fetch(&group, &partitions, stable, v), config.request_timeout).await {
                Ok(response) => match requests::fetched_offsets(response) {
                    Ok(mut positions) => {
                        positions.retain(|tp, _| partitions.contains(tp));
                        for tp in &partitions {
                            positions.entry(tp.clone()).or_insert(StartPosition::Reset);
                        }
                        return Ok(positions);
                    }
                    Err(error) if error.is_retriable() || coordinator_moved(error) => {
                        link.check_moved(error).await;
                        ConsumeError::Group { group: group.clone(), api: ApiKey::OffsetFetch, error }
                    }
                    Err(error) => return Err(ConsumeError::Group { group, api: ApiKey::OffsetFetch, error }),
                },
                Err(error) if is_retriable(&error) => error,
                Err(error) => return Err(error),
            };
        let delay = backoff.next_delay();
        if Instant::now() + delay >= deadline {
            return Err(error);
        }
        tracing::debug!(%group, %error, ?delay, "retrying OffsetFetch");
        tokio::time::sleep(delay).await;
    }
}

/// LeaveGroup, once (the coordinator drops the member at its session timeout
/// anyway); its failure is only logged.
pub(super) async fn leave(link: Arc<Link>, id: Identity, timeout: Duration) {
    match link.send(|v| requests::leave_group(&id, v), timeout).await {
        Ok(response) => {
            let error = ErrorCode::from_i16(response.error_code);
            let member_error = response.members.iter().map(|m| ErrorCode::from_i16(m.error_code)).find(|e| !e.is_ok());
            match member_error.unwrap_or(error) {
                ErrorCode::None => tracing::info!(group = %id.group, member_id = %id.member_id, "left the group"),
                error => tracing::warn!(group = %id.group, error = error.name(), "LeaveGroup refused"),
            }
        }
        Err(error) => tracing::warn!(group = %id.group, %error, "LeaveGroup failed"),
    }
}

fn group_error(id: &Identity, api: ApiKey, error: ErrorCode) -> ConsumeError {
    ConsumeError::Group { group: id.group.clone(), api, error }
}
