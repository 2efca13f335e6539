//! `Group`'s SyncGroup, Heartbeat, LeaveGroup, expiry and descriptions.

use std::time::Instant;

use bytes::Bytes;

use super::member::Token;
use super::state::{Group, GroupState, JoinOutcome, Reply, SyncOutcome};
use crate::protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use crate::protocol::ErrorCode;

/// A SyncGroup request, version-independent.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncInput {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) generation_id: i32,
    /// v5+: checked against the group's when given.
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    /// The leader's assignment per member id; followers send none.
    pub(crate) assignments: Vec<(String, Bytes)>,
}

/// One member named in a LeaveGroup request.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeavingMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
}

impl Group {
    /// Handles a SyncGroup; the answer to `token` comes back in the replies, now or once
    /// the leader syncs.
    pub(crate) fn sync(&mut self, now: Instant, token: Token, input: SyncInput) -> Vec<Reply> {
        let mut replies = Vec::new();
        if let Err(code) = self.check_sync(&input) {
            replies.push(Reply::Sync(token, SyncOutcome::error(code)));
            return replies;
        }
        let outcome = |group: &Group, assignment: Bytes| SyncOutcome {
            error: ErrorCode::None,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            assignment,
        };
        let is_leader = self.leader.as_deref() == Some(input.member_id.as_str());
        let Some(member) = self.members.get_mut(&input.member_id) else { return replies };
        member.refresh(now);
        match self.state {
            GroupState::PreparingRebalance => {
                replies.push(Reply::Sync(token, SyncOutcome::error(ErrorCode::RebalanceInProgress)));
            }
            GroupState::Stable => {
                let assignment = member.assignment.clone();
                replies.push(Reply::Sync(token, outcome(self, assignment)));
            }
            GroupState::CompletingRebalance => {
                member.synced = true;
                if let Some(old) = member.sync_waiter.replace(token) {
                    replies.push(Reply::Sync(old, SyncOutcome::error(ErrorCode::RebalanceInProgress)));
                }
                if is_leader {
                    self.complete_sync(now, input.assignments, &mut replies);
                }
            }
            GroupState::Empty | GroupState::Dead => {
                replies.push(Reply::Sync(token, SyncOutcome::error(ErrorCode::UnknownMemberId)));
            }
        }
        replies
    }

    fn check_sync(&self, input: &SyncInput) -> Result<(), ErrorCode> {
        self.check_member(&input.member_id, input.instance_id.as_deref())?;
        if input.generation_id != self.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        let type_differs = input.protocol_type.is_some() && input.protocol_type != self.protocol_type;
        let name_differs = input.protocol_name.is_some() && input.protocol_name != self.protocol_name;
        if type_differs || name_differs {
            return Err(ErrorCode::InconsistentGroupProtocol);
        }
        Ok(())
    }

    /// The leader's assignments arrived: store them, answer every parked sync, Stable.
    fn complete_sync(&mut self, now: Instant, assignments: Vec<(String, Bytes)>, replies: &mut Vec<Reply>) {
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
        }
        for (id, assignment) in assignments {
            if let Some(member) = self.members.get_mut(&id) {
                member.assignment = assignment;
            }
        }
        self.state = GroupState::Stable;
        self.sync_deadline = None;
        let (protocol_type, protocol_name) = (self.protocol_type.clone(), self.protocol_name.clone());
        for member in self.members.values_mut() {
            if let Some(token) = member.sync_waiter.take() {
                member.refresh(now);
                let outcome = SyncOutcome {
                    error: ErrorCode::None,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: member.assignment.clone(),
                };
                replies.push(Reply::Sync(token, outcome));
            }
        }
    }

    /// Handles a Heartbeat: refreshes the session and says whether to rejoin.
    pub(crate) fn heartbeat(
        &mut self,
        now: Instant,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> ErrorCode {
        if matches!(self.state, GroupState::Empty | GroupState::Dead) {
            return ErrorCode::UnknownMemberId;
        }
        if let Err(code) = self.check_member(member_id, instance_id) {
            return code;
        }
        if generation_id != self.generation {
            return ErrorCode::IllegalGeneration;
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.refresh(now);
        }
        match self.state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            _ => ErrorCode::None,
        }
    }

    /// Handles a LeaveGroup: one error code per leaving member, and the replies owed.
    pub(crate) fn leave(&mut self, now: Instant, leaving: &[LeavingMember]) -> (Vec<ErrorCode>, Vec<Reply>) {
        let mut replies = Vec::new();
        let mut codes = Vec::with_capacity(leaving.len());
        let mut removed_any = false;
        for one in leaving {
            let target = match &one.instance_id {
                Some(instance_id) => match self.static_members.get(instance_id) {
                    None => Err(ErrorCode::UnknownMemberId),
                    Some(owner) if !one.member_id.is_empty() && *owner != one.member_id => {
                        Err(ErrorCode::FencedInstanceId)
                    }
                    Some(owner) => Ok(owner.clone()),
                },
                None if self.pending.remove(&one.member_id).is_some() => {
                    codes.push(ErrorCode::None);
                    continue;
                }
                None if self.members.contains_key(&one.member_id) => Ok(one.member_id.clone()),
                None => Err(ErrorCode::UnknownMemberId),
            };
            match target {
                Ok(id) => {
                    self.remove_member(&id, ErrorCode::UnknownMemberId, &mut replies);
                    removed_any = true;
                    codes.push(ErrorCode::None);
                }
                Err(code) => codes.push(code),
            }
        }
        if removed_any {
            self.after_removal(now, &mut replies);
        }
        (codes, replies)
    }

    /// After members went away: a settled group rebalances, a rebalancing one may now be
    /// complete.
    fn after_removal(&mut self, now: Instant, replies: &mut Vec<Reply>) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.rebalance(now, replies),
            GroupState::PreparingRebalance => self.maybe_complete_join(now, replies),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Runs every deadline that passed by `now`: handed-out ids and sessions expire, the
    /// join phase ends, members that never synced are removed.
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<Reply> {
        let mut replies = Vec::new();
        self.pending.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_parked() && m.session_deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        if self.state == GroupState::CompletingRebalance && self.sync_deadline.is_some_and(|d| d <= now) {
            let unsynced: Vec<String> = self.members.values().filter(|m| !m.synced).map(|m| m.id.clone()).collect();
            for id in unsynced {
                self.remove_member(&id, ErrorCode::UnknownMemberId, &mut replies);
            }
        }
        for id in &expired {
            tracing::debug!(group = %self.id, member = %id, "session expired");
            self.remove_member(id, ErrorCode::UnknownMemberId, &mut replies);
        }
        self.after_removal(now, &mut replies);
        replies
    }

    /// The earliest instant [`Group::tick`] has work to do at.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let sessions = self.members.values().filter(|m| !m.is_parked()).map(|m| m.session_deadline);
        let rebalance = self.rebalance_deadline.filter(|_| self.state == GroupState::PreparingRebalance);
        let sync = self.sync_deadline.filter(|_| self.state == GroupState::CompletingRebalance);
        sessions.chain(self.pending.values().copied()).chain(rebalance).chain(sync).min()
    }

    /// Answers every parked request with `code`: the coordinator is going away.
    pub(crate) fn close(&mut self, code: ErrorCode) -> Vec<Reply> {
        let mut replies = Vec::new();
        for member in self.members.values_mut() {
            if let Some(token) = member.join_waiter.take() {
                replies.push(Reply::Join(token, JoinOutcome::error(code, &member.id)));
            }
            if let Some(token) = member.sync_waiter.take() {
                replies.push(Reply::Sync(token, SyncOutcome::error(code)));
            }
        }
        replies
    }

    /// DescribeGroups' view; metadata and assignments only in Stable (Kafka's rule).
    pub(crate) fn describe(&self) -> DescribedGroup {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = self
            .members
            .values()
            .map(|m| DescribedGroupMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                member_metadata: if stable { m.metadata_for(&protocol) } else { Bytes::new() },
                member_assignment: if stable { m.assignment.clone() } else { Bytes::new() },
                ..Default::default()
            })
            .collect();
        DescribedGroup {
            error_code: 0,
            group_id: self.id.clone(),
            group_state: self.state.name().to_owned(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_data: if stable { protocol } else { String::new() },
            members,
            ..Default::default()
        }
    }
}
