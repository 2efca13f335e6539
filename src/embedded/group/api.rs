//! The interface the broker's request dispatch calls: the [`Groups`] handle and one
//! async fn per group API (offsets are in `api_offsets.rs`).
//!
//! Every fn answers: a parked JoinGroup or SyncGroup is bounded by the group's rebalance
//! and session deadlines, and a coordinator that goes away (shutdown, or every `Groups`
//! handle dropped) answers COORDINATOR_NOT_AVAILABLE.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::actor::{
    All, Describe, GroupCoordinator, Heartbeat, Join, Leave, Lookup, Registry, Shutdown, Summary, Sync,
};
use super::member::Protocol;
use super::membership::{LeavingMember, SyncInput};
use super::responses::{described_error, join_response, sync_response};
use super::state::{JoinInput, JoinOutcome, SyncOutcome};
use super::{GroupConfig, GroupError};
use crate::protocol::messages::leave_group_request::MemberIdentity;
use crate::protocol::messages::leave_group_response::MemberResponse;
use crate::protocol::messages::list_groups_response::ListedGroup;
use crate::protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use crate::protocol::ErrorCode;

/// DescribeGroups v3+ `authorized_operations` when asked: READ, DELETE, DESCRIBE (no ACLs).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// A cheap handle on the group coordinator; clones share it. When the last clone is
/// dropped the coordinator shuts down as by [`Groups::shutdown`].
#[derive(Clone)]
pub(crate) struct Groups {
    registry: Addr<Registry>,
    _guard: Arc<Guard>,
}

struct Guard(Addr<Registry>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.do_send(Shutdown);
    }
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups").finish_non_exhaustive()
    }
}

impl Groups {
    /// Starts the coordinator, loading every stored group from `config.data_dir`.
    ///
    /// # Errors
    ///
    /// [`GroupError::NoSystem`] outside a running actix System; [`GroupError::Io`] when
    /// the store cannot be read.
    pub(crate) fn start(config: GroupConfig) -> Result<Groups, GroupError> {
        if System::try_current().is_none() {
            return Err(GroupError::NoSystem);
        }
        let registry = Registry::load(&config)?.start();
        Ok(Groups { registry: registry.clone(), _guard: Arc::new(Guard(registry)) })
    }

    /// Answers every parked request with COORDINATOR_NOT_AVAILABLE, flushes the store
    /// and stops; afterwards every call answers COORDINATOR_NOT_AVAILABLE.
    pub(crate) async fn shutdown(&self) {
        if self.registry.send(Shutdown).await.is_err() {
            tracing::debug!("group coordinator already shut down");
        }
    }

    /// The group's coordinator actor; `Ok(None)` for a group that does not exist unless
    /// `create`.
    pub(crate) async fn coordinator(
        &self,
        group_id: &str,
        create: bool,
    ) -> Result<Option<Addr<GroupCoordinator>>, ErrorCode> {
        let lookup = Lookup { group_id: group_id.to_owned(), create };
        self.registry.send(lookup).await.unwrap_or(Err(ErrorCode::CoordinatorNotAvailable))
    }

    /// Every group's coordinator.
    pub(crate) async fn all(&self) -> Vec<(String, Addr<GroupCoordinator>)> {
        self.registry.send(All).await.unwrap_or_default()
    }
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Handles a JoinGroup; waits while the member is parked for the rebalance.
pub(crate) async fn join_group(
    groups: &Groups,
    is_coordinator: impl Fn(&str) -> bool,
    version: i16,
    client_id: &str,
    client_host: &str,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let fail = |code| join_response(JoinOutcome::error(code, &req.member_id), version);
    if req.group_id.is_empty() {
        return fail(ErrorCode::InvalidGroupId);
    }
    if !is_coordinator(&req.group_id) {
        return fail(ErrorCode::NotCoordinator);
    }
    let addr = match groups.coordinator(&req.group_id, req.member_id.is_empty()).await {
        Ok(Some(addr)) => addr,
        Ok(None) => return fail(ErrorCode::UnknownMemberId),
        Err(code) => return fail(code),
    };
    let session_timeout = millis(req.session_timeout_ms);
    let rebalance_timeout =
        if version >= 1 && req.rebalance_timeout_ms >= 0 { millis(req.rebalance_timeout_ms) } else { session_timeout };
    let input = JoinInput {
        version,
        member_id: req.member_id.clone(),
        instance_id: req.group_instance_id.clone().filter(|_| version >= 5),
        client_id: client_id.to_owned(),
        client_host: client_host.to_owned(),
        session_timeout,
        rebalance_timeout,
        protocol_type: req.protocol_type.clone(),
        protocols: req
            .protocols
            .iter()
            .map(|p| Protocol { name: p.name.clone(), metadata: p.metadata.clone() })
            .collect(),
    };
    match addr.send(Join(input)).await {
        Ok(rx) => match rx.await {
            Ok(outcome) => join_response(outcome, version),
            Err(_) => fail(ErrorCode::CoordinatorNotAvailable),
        },
        Err(_) => fail(ErrorCode::CoordinatorNotAvailable),
    }
}

/// Handles a SyncGroup; a follower waits for the leader's assignments.
pub(crate) async fn sync_group(
    groups: &Groups,
    is_coordinator: impl Fn(&str) -> bool,
    version: i16,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let fail = |code| sync_response(SyncOutcome::error(code), version);
    if req.group_id.is_empty() {
        return fail(ErrorCode::InvalidGroupId);
    }
    if !is_coordinator(&req.group_id) {
        return fail(ErrorCode::NotCoordinator);
    }
    let addr = match groups.coordinator(&req.group_id, false).await {
        Ok(Some(addr)) => addr,
        Ok(None) => return fail(ErrorCode::UnknownMemberId),
        Err(code) => return fail(code),
    };
    let v5 = version >= 5;
    let input = SyncInput {
        member_id: req.member_id,
        instance_id: req.group_instance_id.filter(|_| version >= 3),
        generation_id: req.generation_id,
        protocol_type: req.protocol_type.filter(|_| v5),
        protocol_name: req.protocol_name.filter(|_| v5),
        assignments: req.assignments.into_iter().map(|a| (a.member_id, a.assignment)).collect(),
    };
    match addr.send(Sync(input)).await {
        Ok(rx) => match rx.await {
            Ok(outcome) => sync_response(outcome, version),
            Err(_) => fail(ErrorCode::CoordinatorNotAvailable),
        },
        Err(_) => fail(ErrorCode::CoordinatorNotAvailable),
    }
}

/// Handles a Heartbeat.
pub(crate) async fn heartbeat(
    groups: &Groups,
    is_coordinator: impl Fn(&str) -> bool,
    version: i16,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let code = if req.group_id.is_empty() {
        ErrorCode::InvalidGroupId
    } else if !is_coordinator(&req.group_id) {
        ErrorCode::NotCoordinator
    } else {
        match groups.coordinator(&req.group_id, false).await {
            Ok(Some(addr)) => {
                let instance_id = req.group_instance_id.filter(|_| version >= 3);
                let msg = Heartbeat { member_id: req.member_id, instance_id, generation_id: req.generation_id };
                addr.send(msg).await.unwrap_or(ErrorCode::CoordinatorNotAvailable)
            }
            Ok(None) => ErrorCode::UnknownMemberId,
            Err(code) => code,
        }
    };
    HeartbeatResponse { error_code: code.code(), ..Default::default() }
}

/// Handles a LeaveGroup: one member before v3, a batch with per-member codes from v3.
pub(crate) async fn leave_group(
    groups: &Groups,
    is_coordinator: impl Fn(&str) -> bool,
    version: i16,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let leaving: Vec<LeavingMember> = if version >= 3 {
        let member = |m: &MemberIdentity| LeavingMember {
            member_id: m.member_id.clone(),
            instance_id: m.group_instance_id.clone(),
        };
        req.members.iter().map(member).collect()
    } else {
        vec![LeavingMember { member_id: req.member_id.clone(), instance_id: None }]
    };
    let group_code = if req.group_id.is_empty() {
        Some(ErrorCode::InvalidGroupId)
    } else if !is_coordinator(&req.group_id) {
        Some(ErrorCode::NotCoordinator)
    } else {
        None
    };
    let codes = match group_code {
        Some(code) => vec![code; leaving.len()],
        None => match groups.coordinator(&req.group_id, false).await {
            Ok(Some(addr)) => addr
                .send(Leave(leaving.clone()))
                .await
                .unwrap_or_else(|_| vec![ErrorCode::CoordinatorNotAvailable; leaving.len()]),
            Ok(None) => vec![ErrorCode::UnknownMemberId; leaving.len()],
            Err(code) => vec![code; leaving.len()],
        },
    };
    if version < 3 {
        let code = codes.first().copied().unwrap_or(ErrorCode::None);
        return LeaveGroupResponse { error_code: code.code(), ..Default::default() };
    }
    let members = leaving
        .into_iter()
        .zip(&codes)
        .map(|(m, code)| MemberResponse {
            member_id: m.member_id,
            group_instance_id: m.instance_id,
            error_code: code.code(),
            ..Default::default()
        })
        .collect();
    let top = group_code.unwrap_or(ErrorCode::None);
    LeaveGroupResponse { error_code: top.code(), members, ..Default::default() }
}

/// Handles a DescribeGroups; an unknown group is described as Dead with no error.
pub(crate) async fn describe_groups(
    groups: &Groups,
    is_coordinator: impl Fn(&str) -> bool,
    version: i16,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut described = Vec::with_capacity(req.groups.len());
    for group_id in &req.groups {
        let mut group = if !is_coordinator(group_id) {
            described_error(group_id, ErrorCode::NotCoordinator)
        } else {
            match groups.coordinator(group_id, false).await {
                Ok(Some(addr)) => addr
                    .send(Describe)
                    .await
                    .unwrap_or_else(|_| described_error(group_id, ErrorCode::CoordinatorNotAvailable)),
                Ok(None) => {
                    let mut dead = described_error(group_id, ErrorCode::None);
                    dead.group_state = "Dead".to_owned();
                    dead
                }
                Err(code) => described_error(group_id, code),
            }
        };
        if version >= 3 && req.include_authorized_operations && group.error_code == 0 {
            group.authorized_operations = GROUP_OPERATIONS;
        }
        if version < 4 {
            group.members.iter_mut().for_each(|m| m.group_instance_id = None);
        }
        described.push(group);
    }
    DescribeGroupsResponse { groups: described, ..Default::default() }
}

/// Handles a ListGroups: the groups this node coordinates, filtered by state (v4+) and
/// type (v5+; every group here is "classic"), case-insensitively.
pub(crate) async fn list_groups(
    groups: &Groups,
    is_coordinator: impl Fn(&str) -> bool,
    version: i16,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let wanted =
        |filter: &[String], value: &str| filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value));
    let mut listed = Vec::new();
    for (group_id, addr) in groups.all().await {
        if !is_coordinator(&group_id) {
            continue;
        }
        let Ok((protocol_type, state)) = addr.send(Summary).await else { continue };
        if version >= 4 && !wanted(&req.states_filter, state.name()) {
            continue;
        }
        if version >= 5 && !wanted(&req.types_filter, "classic") {
            continue;
        }
        listed.push(ListedGroup {
            group_id,
            protocol_type,
            group_state: if version >= 4 { state.name().to_owned() } else { String::new() },
            group_type: if version >= 5 { "classic".to_owned() } else { String::new() },
            ..Default::default()
        });
    }
    listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    ListGroupsResponse { groups: listed, ..Default::default() }
}
