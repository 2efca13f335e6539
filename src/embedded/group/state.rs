//! `Group`: one consumer group's state machine, the join phase and rebalance completion.
//!
//! No actix and no clock here: every operation takes `now`, and returns the replies
//! owed to parked requests ([`Reply`]); [`Group::next_deadline`] says when to call
//! [`Group::tick`]. Sync, heartbeat, leave and expiry are in `membership.rs`, offsets in
//! `offsets.rs`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::member::{new_member_id, select_protocol, Member, Token};
use super::offsets::CommittedOffset;
pub(crate) use super::outcome::{JoinInput, JoinOutcome, JoinedMember, Reply, SyncOutcome};
use crate::protocol::ErrorCode;

/// The classic protocol's group states, named as DescribeGroups and ListGroups name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's name for the state.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// The coordinator-wide limits a group checks joins against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) min_session_timeout: Duration,
    pub(crate) max_session_timeout: Duration,
    /// How long a rebalance of an Empty group waits for more members.
    pub(crate) initial_rebalance_delay: Duration,
}

/// One consumer group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) limits: Limits,
    pub(crate) state: GroupState,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, valid until their deadline.
    pub(crate) pending: HashMap<String, Instant>,
    /// Group instance id → member id, for static members.
    pub(crate) static_members: HashMap<String, String>,
    /// In PreparingRebalance: when the join phase ends regardless of missing members.
    pub(crate) rebalance_deadline: Option<Instant>,
    /// In CompletingRebalance: when members that never sent SyncGroup are removed.
    pub(crate) sync_deadline: Option<Instant>,
    /// The running rebalance began in an Empty group: it waits out the initial delay.
    pub(crate) initial_rebalance: bool,
    pub(crate) offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl Group {
    /// A new, Empty group at generation 0.
    pub(crate) fn new(id: impl Into<String>, limits: Limits) -> Group {
        Group {
            id: id.into(),
            limits,
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline: None,
            sync_deadline: None,
            initial_rebalance: false,
            offsets: BTreeMap::new(),
        }
    }

    /// Handles a JoinGroup; the answer to `token` comes back in the replies, now or later.
    pub(crate) fn join(&mut self, now: Instant, token: Token, input: JoinInput) -> Vec<Reply> {
        let mut replies = Vec::new();
        if let Err(code) = self.check_join(&input) {
            replies.push(Reply::Join(token, JoinOutcome::error(code, &input.member_id)));
        } else if input.member_id.is_empty() {
            self.join_unknown(now, token, input, &mut replies);
        } else {
            self.join_known(now, token, input, &mut replies);
        }
        replies
    }

    fn check_join(&self, input: &JoinInput) -> Result<(), ErrorCode> {
        let session = input.session_timeout;
        if session < self.limits.min_session_timeout || session > self.limits.max_session_timeout {
            return Err(ErrorCode::InvalidSessionTimeout);
        }
        if input.protocol_type.is_empty() || input.protocols.is_empty() {
            return Err(ErrorCode::InconsistentGroupProtocol);
        }
        let others = || self.members.values().filter(|m| m.id != input.member_id);
        if others().next().is_none() {
            return Ok(());
        }
        let same_type = others().all(|m| m.protocol_type == input.protocol_type);
        let shared = input.protocols.iter().any(|p| others().all(|m| m.supports(&p.name)));
        if !same_type || !shared {
            return Err(ErrorCode::InconsistentGroupProtocol);
        }
        Ok(())
    }

    fn join_unknown(&mut self, now: Instant, token: Token, input: JoinInput, replies: &mut Vec<Reply>) {
        let new_id = new_member_id(&input.client_id);
        if let Some(instance_id) = &input.instance_id {
            if let Some(old_id) = self.static_members.get(instance_id).cloned() {
                return self.rejoin_static(now, token, &old_id, new_id, input, replies);
            }
        } else if input.version >= 4 {
            // KIP-394: the client must come back with the id we hand out.
            self.pending.insert(new_id.clone(), now + input.session_timeout);
            replies.push(Reply::Join(token, JoinOutcome::error(ErrorCode::MemberIdRequired, &new_id)));
            return;
        }
        self.add_member(now, new_id, input, token);
        self.rebalance(now, replies);
    }

    fn join_known(&mut self, now: Instant, token: Token, input: JoinInput, replies: &mut Vec<Reply>) {
        let id = input.member_id.clone();
        if self.pending.remove(&id).is_some() {
            self.add_member(now, id, input, token);
            return self.rebalance(now, replies);
        }
        if let Err(code) = self.check_member(&id, input.instance_id.as_deref()) {
            return replies.push(Reply::Join(token, JoinOutcome::error(code, &id)));
        }
        let Some(member) = self.members.get(&id) else { return };
        let unchanged = member.protocol_type == input.protocol_type && member.protocols == input.protocols;
        let is_leader = self.leader.as_deref() == Some(id.as_str());
        match self.state {
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged && (self.state == GroupState::CompletingRebalance || !is_leader) =>
            {
                // Nothing changed: answer the current generation again.
                let outcome = self.join_outcome(&id, is_leader);
                if let Some(member) = self.members.get_mut(&id) {
                    member.refresh(now);
                }
                replies.push(Reply::Join(token, outcome));
            }
            GroupState::Empty | GroupState::Dead => {
                replies.push(Reply::Join(token, JoinOutcome::error(ErrorCode::UnknownMemberId, &id)));
            }
            _ => {
                self.update_member(now, &id, input, token, replies);
                self.rebalance(now, replies);
            }
        }
    }

    /// A static member rejoins with an empty member id: it takes a new id and the old one
    /// is fenced. In a Stable group whose member kept its protocols there is no rebalance:
    /// it gets the current generation and syncs to its previous assignment.
    fn rejoin_static(
        &mut self,
        now: Instant,
        token: Token,
        old_id: &str,
        new_id: String,
        input: JoinInput,
        replies: &mut Vec<Reply>,
    ) {
        let Some(mut member) = self.members.remove(old_id) else { return };
        fence_waiters(&mut member, replies);
        let old_leader = self.leader.clone().unwrap_or_default();
        let was_leader = old_leader == old_id;
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        let unchanged = member.protocol_type == input.protocol_type && member.protocols == input.protocols;
        member.id = new_id.clone();
        if let Some(instance_id) = &member.instance_id {
            self.static_members.insert(instance_id.clone(), new_id.clone());
        }
        self.members.insert(new_id.clone(), member);
        if self.state == GroupState::Stable && unchanged {
            let mut outcome = self.join_outcome(&new_id, false);
            if was_leader && input.version >= 9 {
                // KIP-814: the leader learns it leads, but keeps the current assignment.
                outcome = JoinOutcome { skip_assignment: true, ..self.join_outcome(&new_id, true) };
            } else {
                // The old id: the rejoined member does not think it leads, so it does not
                // compute an assignment a Stable group would never hand out.
                outcome.leader = old_leader;
            }
            if let Some(member) = self.members.get_mut(&new_id) {
                member.client_id = input.client_id;
                member.client_host = input.client_host;
                member.refresh(now);
            }
            replies.push(Reply::Join(token, outcome));
            return;
        }
        self.update_member(now, &new_id, input, token, replies);
        self.rebalance(now, replies);
    }

    fn add_member(&mut self, now: Instant, id: String, input: JoinInput, token: Token) {
        if let Some(instance_id) = &input.instance_id {
            self.static_members.insert(instance_id.clone(), id.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        let member = Member {
            id: id.clone(),
            instance_id: input.instance_id,
            client_id: input.client_id,
            client_host: input.client_host,
            session_timeout: input.session_timeout,
            rebalance_timeout: input.rebalance_timeout,
            protocol_type: input.protocol_type,
            protocols: input.protocols,
            assignment: Bytes::new(),
            session_deadline: now + input.session_timeout,
            join_waiter: Some(token),
            sync_waiter: None,
            synced: false,
        };
        self.members.insert(id, member);
    }

    fn update_member(&mut self, now: Instant, id: &str, input: JoinInput, token: Token, replies: &mut Vec<Reply>) {
        let Some(member) = self.members.get_mut(id) else { return };
        if let Some(old) = member.join_waiter.replace(token) {
            // A retried JoinGroup replaces the one still parked.
            replies.push(Reply::Join(old, JoinOutcome::error(ErrorCode::RebalanceInProgress, id)));
        }
        member.client_id = input.client_id;
        member.client_host = input.client_host;
        member.session_timeout = input.session_timeout;
        member.rebalance_timeout = input.rebalance_timeout;
        member.protocol_type = input.protocol_type;
        member.protocols = input.protocols;
        member.refresh(now);
    }

    /// Starts a rebalance unless one is running, then completes it if it can.
    pub(crate) fn rebalance(&mut self, now: Instant, replies: &mut Vec<Reply>) {
        match self.state {
            GroupState::PreparingRebalance | GroupState::Dead => {}
            GroupState::Empty => {
                self.state = GroupState::PreparingRebalance;
                self.initial_rebalance = true;
                self.rebalance_deadline = Some(now + self.limits.initial_rebalance_delay);
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                for member in self.members.values_mut() {
                    if let Some(token) = member.sync_waiter.take() {
                        replies.push(Reply::Sync(token, SyncOutcome::error(ErrorCode::RebalanceInProgress)));
                    }
                }
                self.state = GroupState::PreparingRebalance;
                self.initial_rebalance = false;
                self.sync_deadline = None;
                let timeout = self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
                self.rebalance_deadline = Some(now + timeout);
            }
        }
        self.maybe_complete_join(now, replies);
    }

    /// Completes the join phase when every member rejoined and no handed-out id is
    /// outstanding, or when the rebalance deadline passed.
    pub(crate) fn maybe_complete_join(&mut self, now: Instant, replies: &mut Vec<Reply>) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let expired = self.rebalance_deadline.map_or(true, |deadline| deadline <= now);
        let all_joined = self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some());
        // An Empty group's first rebalance waits the initial delay even when all joined.
        let delaying = self.initial_rebalance && !expired;
        if expired || (all_joined && !delaying) {
            self.complete_join(now, replies);
        }
    }

    fn complete_join(&mut self, now: Instant, replies: &mut Vec<Reply>) {
        let missing: Vec<String> =
            self.members.values().filter(|m| m.join_waiter.is_none()).map(|m| m.id.clone()).collect();
        for id in missing {
            self.remove_member(&id, ErrorCode::UnknownMemberId, replies);
        }
        self.rebalance_deadline = None;
        self.initial_rebalance = false;
        self.generation = self.generation.wrapping_add(1);
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader = None;
            return;
        }
        self.protocol_name = select_protocol(self.members.values());
        self.protocol_type = self.members.values().next().map(|m| m.protocol_type.clone());
        if self.leader.as_ref().map_or(true, |leader| !self.members.contains_key(leader)) {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let timeout = self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
        self.sync_deadline = Some(now + timeout);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let is_leader = self.leader.as_deref() == Some(id.as_str());
            let outcome = self.join_outcome(&id, is_leader);
            if let Some(member) = self.members.get_mut(&id) {
                member.synced = false;
                member.refresh(now);
                if let Some(token) = member.join_waiter.take() {
                    replies.push(Reply::Join(token, outcome));
                }
            }
        }
    }

    /// The current generation's JoinGroup answer for `member_id`; the leader gets every
    /// member's metadata for the chosen protocol.
    pub(crate) fn join_outcome(&self, member_id: &str, as_leader: bool) -> JoinOutcome {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if as_leader {
            let member = |m: &Member| JoinedMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            };
            self.members.values().map(member).collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: ErrorCode::None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_owned(),
            members,
        }
    }

    /// Checks a request's member id and instance id: FENCED_INSTANCE_ID when the instance
    /// id belongs to another member id, UNKNOWN_MEMBER_ID for an unknown member.
    pub(crate) fn check_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
        if let Some(owner) = instance_id.and_then(|i| self.static_members.get(i)) {
            if owner != member_id {
                return Err(ErrorCode::FencedInstanceId);
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        Ok(())
    }

    /// Removes a member, answering its parked requests with `code`; the leader moves on.
    pub(crate) fn remove_member(&mut self, id: &str, code: ErrorCode, replies: &mut Vec<Reply>) {
        let Some(mut member) = self.members.remove(id) else { return };
        if let Some(token) = member.join_waiter.take() {
            replies.push(Reply::Join(token, JoinOutcome::error(code, id)));
        }
        if let Some(token) = member.sync_waiter.take() {
            replies.push(Reply::Sync(token, SyncOutcome::error(code)));
        }
        if let Some(instance_id) = &member.instance_id {
            if self.static_members.get(instance_id).is_some_and(|owner| owner == id) {
                self.static_members.remove(instance_id);
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
    }
}

fn fence_waiters(member: &mut Member, replies: &mut Vec<Reply>) {
    if let Some(token) = member.join_waiter.take() {
        replies.push(Reply::Join(token, JoinOutcome::error(ErrorCode::FencedInstanceId, &member.id)));
    }
    if let Some(token) = member.sync_waiter.take() {
        replies.push(Reply::Sync(token, SyncOutcome::error(ErrorCode::FencedInstanceId)));
    }
}
