//! [`Membership`]: the plain state machine of one group membership (no I/O, time
//! passed in). The actor asks it for the next [`Step`], runs that step's requests,
//! and hands the outcome back; each outcome method says what the actor must do
//! besides (tell the consumer partitions were lost, back off, rediscover...).
//!
//! ```text
//! Idle ─subscribe─▶ Unjoined ─(eager: Revoke owned)─▶ Join ─▶ Joined ─▶ Sync ─▶ Assigning ─(cooperative: Revoke moved)─▶ Assign added ─▶ Stable
//!                      ▲                                                                                   │ revoked any: rejoin        │
//!                      └──────────── REBALANCE_IN_PROGRESS, subscription change, lost (UNKNOWN_MEMBER_ID...) ◀──────────────────────────┘
//! ```

use std::collections::BTreeSet;
use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::protocol::JoinedMember;
use super::requests::Identity;
use crate::consumer::assignor::RebalanceProtocol;
use crate::consumer::types::TopicPartition;
use crate::protocol::ErrorCode;

/// Where the membership is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// No subscription yet.
    Idle,
    /// Must join (after an eager revoke of what it owns).
    Unjoined,
    /// A JoinGroup is in flight.
    Joining,
    /// Joined; must sync (the leader with the members to assign).
    Joined,
    /// A SyncGroup is in flight.
    Syncing,
    /// Synced: revoking moved partitions, fetching the new ones' offsets.
    Assigning,
    /// Assigned, heartbeating.
    Stable,
    /// A fatal error (FENCED_INSTANCE_ID...): no more joins until a new subscription.
    Failed(ErrorCode),
}

/// What the actor should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Nothing now: a step is in flight, or there is nothing to do.
    Wait,
    /// Give these partitions up (RevokePartitions, commit the answer), then
    /// [`Membership::revoked`].
    Revoke(Vec<TopicPartition>),
    /// Send JoinGroup, then [`Membership::on_join`].
    Join,
    /// Send SyncGroup (the leader with an assignment of these members), then
    /// [`Membership::on_sync`].
    Sync { leader_of: Option<Vec<JoinedMember>> },
    /// Fetch the committed offsets of these new partitions and hand them to the
    /// consumer, then [`Membership::assigned`].
    Assign(Vec<TopicPartition>),
}

/// A JoinGroup response, as the membership needs it.
#[derive(Debug, Clone)]
pub(super) struct JoinOutcome {
    pub(super) error: ErrorCode,
    pub(super) generation: i32,
    pub(super) member_id: String,
    pub(super) protocol: Option<String>,
    pub(super) leader: String,
    pub(super) skip_assignment: bool,
    pub(super) members: Vec<JoinedMember>,
}

/// What the actor does after a join, sync or heartbeat outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Go on with the next step now.
    Continue,
    /// Go on after the retry backoff.
    Backoff,
    /// The coordinator moved: forget it, go on after the backoff.
    Rediscover,
    /// These partitions were lost: tell the consumer, forget their offsets, go on.
    Lost(Vec<TopicPartition>),
    /// A fatal error: tell the consumer (after the lost partitions, if any).
    Fatal(ErrorCode, Vec<TopicPartition>),
}

/// What the heartbeat timer should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeartbeatDue {
    /// Nothing (not a member, or a join or sync is in flight).
    Skip,
    /// Send a heartbeat as this identity.
    Send(Identity),
    /// No heartbeat succeeded for a session timeout: the coordinator has dropped
    /// this member, and these partitions are lost.
    Expired(Vec<TopicPartition>),
}

/// One group membership's state.
#[derive(Debug)]
pub(super) struct Membership {
    group: Arc<str>,
    instance_id: Option<String>,
    session_timeout: Duration,
    /// How each offered protocol revokes, by name.
    protocols: Vec<(String, RebalanceProtocol)>,
    pub(super) topics: BTreeSet<String>,
    pub(super) member_id: String,
    pub(super) generation: i32,
    pub(super) protocol: Option<String>,
    pub(super) leader: bool,
    pub(super) phase: Phase,
    /// What this member owns now.
    pub(super) owned: BTreeSet<TopicPartition>,
    /// The last assignment received (the eager `sticky` assignor's user data).
    pub(super) previous: BTreeSet<TopicPartition>,
    /// The members the leader must assign, from its JoinGroup response.
    pending_members: Vec<JoinedMember>,
    to_revoke: Vec<TopicPartition>,
    to_add: Vec<TopicPartition>,
    rejoin_needed: bool,
    busy: bool,
    last_heartbeat: Option<Instant>,
    /// Bumped whenever in-flight steps become stale (lost, restart): their outcomes
    /// are ignored.
    pub(super) epoch: u64,
    pub(super) joins: u64,
    pub(super) rebalances: u64,
}

impl Membership {
    pub(super) fn new(
        group: Arc<str>,
        instance_id: Option<String>,
        session_timeout: Duration,
        protocols: Vec<(String, RebalanceProtocol)>,
    ) -> Self {
        Self {
            group,
            instance_id,
            session_timeout,
            protocols,
            topics: BTreeSet::new(),
            member_id: String::new(),
            generation: -1,
            protocol: None,
            leader: false,
            phase: Phase::Idle,
            owned: BTreeSet::new(),
            previous: BTreeSet::new(),
            pending_members: Vec::new(),
            to_revoke: Vec::new(),
            to_add: Vec::new(),
            rejoin_needed: false,
            busy: false,
            last_heartbeat: None,
            epoch: 0,
            joins: 0,
            rebalances: 0,
        }
    }

    /// The identity membership requests carry now.
    pub(super) fn identity(&self) -> Identity {
        Identity {
            group: self.group.clone(),
            member_id: self.member_id.clone(),
            generation: self.generation,
            instance_id: self.instance_id.clone(),
        }
    }

    pub(super) fn is_static(&self) -> bool {
        self.instance_id.is_some()
    }

    /// Whether a subscription made this a group member (as opposed to commits and
    /// fetches for a manual assignment).
    pub(super) fn is_subscribed(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// Whether a JoinGroup or SyncGroup is in flight (commits would be refused).
    pub(super) fn is_rebalancing(&self) -> bool {
        matches!(self.phase, Phase::Joining | Phase::Syncing | Phase::Joined)
    }

    /// How the current (or, before any join, the preferred) protocol revokes.
    pub(super) fn rebalance_protocol(&self) -> RebalanceProtocol {
        let name = self.protocol.as_deref().or(self.protocols.first().map(|(n, _)| n.as_str()));
        self.protocols.iter().find(|(n, _)| Some(n.as_str()) == name).map_or(RebalanceProtocol::Eager, |(_, p)| *p)
    }

    /// A new subscription; a change makes the member (re)join.
    pub(super) fn subscribe(&mut self, topics: BTreeSet<String>) {
        if self.phase != Phase::Idle && !matches!(self.phase, Phase::Failed(_)) && topics == self.topics {
            return;
        }
        self.topics = topics;
        match self.phase {
            Phase::Idle | Phase::Failed(_) | Phase::Stable => self.phase = Phase::Unjoined,
            _ => self.rejoin_needed = true,
        }
    }

    /// The next step, unless one is in flight.
    pub(super) fn next_step(&mut self) -> Step {
        if self.busy {
            return Step::Wait;
        }
        match self.phase {
            Phase::Stable if self.rejoin_needed => {
                self.phase = Phase::Unjoined;
                self.next_step()
            }
            Phase::Unjoined => self.start_join(),
            Phase::Joined => self.start_sync(),
            Phase::Assigning => self.continue_assigning(),
            _ => Step::Wait,
        }
    }

    fn start_join(&mut self) -> Step {
        self.busy = true;
        if self.rebalance_protocol() == RebalanceProtocol::Eager && !self.owned.is_empty() {
            return Step::Revoke(self.owned.iter().cloned().collect());
        }
        self.rejoin_needed = false;
        self.phase = Phase::Joining;
        self.joins += 1;
        Step::Join
    }

    fn start_sync(&mut self) -> Step {
        self.busy = true;
        self.phase = Phase::Syncing;
        Step::Sync { leader_of: self.leader.then(|| mem::take(&mut self.pending_members)) }
    }

    fn continue_assigning(&mut self) -> Step {
        if !self.to_revoke.is_empty() {
            self.busy = true;
            // KIP-429: having revoked, the member rejoins so the partitions can move.
            self.rejoin_needed = true;
            return Step::Revoke(mem::take(&mut self.to_revoke));
        }
        if !self.to_add.is_empty() {
            self.busy = true;
            return Step::Assign(mem::take(&mut self.to_add));
        }
        self.phase = Phase::Stable;
        self.next_step()
    }

    /// The partitions of a [`Step::Revoke`] are given up.
    pub(super) fn revoked(&mut self, partitions: &[TopicPartition]) {
        self.busy = false;
        for tp in partitions {
            self.owned.remove(tp);
        }
    }

    /// The partitions of a [`Step::Assign`] were handed to the consumer; `None` when
    /// their offsets could not be fetched (they are tried again).
    pub(super) fn assigned(&mut self, partitions: Vec<TopicPartition>, done: bool) {
        self.busy = false;
        if done {
            self.owned.extend(partitions);
        } else {
            self.to_add = partitions;
        }
    }

    /// The JoinGroup response (or `None` when the request failed).
    pub(super) fn on_join(&mut self, outcome: Option<JoinOutcome>) -> Verdict {
        self.busy = false;
        self.phase = Phase::Unjoined;
        let Some(join) = outcome else { return Verdict::Rediscover };
        match join.error {
            ErrorCode::None => {
                self.member_id = join.member_id;
                self.generation = join.generation;
                self.protocol = join.protocol;
                self.leader = join.leader == self.member_id && !join.skip_assignment;
                self.pending_members = if self.leader { join.members } else { Vec::new() };
                self.phase = Phase::Joined;
                Verdict::Continue
            }
            // KIP-394: join again at once with the id the coordinator handed out.
            ErrorCode::MemberIdRequired => {
                self.member_id = join.member_id;
                Verdict::Continue
            }
            ErrorCode::RebalanceInProgress => Verdict::Continue,
            error => self.on_error(error),
        }
    }

    /// The SyncGroup response: its error and the decoded assignment (`None` when it
    /// did not decode, or the request failed).
    pub(super) fn on_sync(
        &mut self,
        error: Option<ErrorCode>,
        assignment: Option<BTreeSet<TopicPartition>>,
        now: Instant,
    ) -> Verdict {
        self.busy = false;
        self.phase = Phase::Unjoined;
        match (error, assignment) {
            (None, _) => Verdict::Rediscover,
            (Some(ErrorCode::None), Some(assignment)) => {
                self.to_revoke = self.owned.difference(&assignment).cloned().collect();
                self.to_add = assignment.difference(&self.owned).cloned().collect();
                self.previous = assignment;
                self.rebalances += 1;
                self.last_heartbeat = Some(now);
                self.phase = Phase::Assigning;
                Verdict::Continue
            }
            (Some(ErrorCode::None), None) => Verdict::Backoff,
            (Some(ErrorCode::RebalanceInProgress), _) => Verdict::Continue,
            (Some(error), _) => self.on_error(error),
        }
    }

    /// What the heartbeat timer does at `now`.
    pub(super) fn heartbeat_due(&mut self, now: Instant) -> HeartbeatDue {
        if self.generation < 0 || !matches!(self.phase, Phase::Stable | Phase::Assigning | Phase::Unjoined) {
            return HeartbeatDue::Skip;
        }
        match self.last_heartbeat {
            Some(last) if now.saturating_duration_since(last) >= self.session_timeout => {
                let lost = self.lose(false);
                HeartbeatDue::Expired(lost)
            }
            _ => HeartbeatDue::Send(self.identity()),
        }
    }

    /// A heartbeat response for `generation` (`None` when the request failed).
    pub(super) fn on_heartbeat(&mut self, generation: i32, error: Option<ErrorCode>, now: Instant) -> Verdict {
        if generation != self.generation || !matches!(self.phase, Phase::Stable | Phase::Assigning | Phase::Unjoined) {
            return Verdict::Continue; // stale: a join or a loss happened since
        }
        match error {
            None => Verdict::Rediscover,
            Some(ErrorCode::None) => {
                self.last_heartbeat = Some(now);
                Verdict::Continue
            }
            Some(ErrorCode::RebalanceInProgress) => {
                self.last_heartbeat = Some(now);
                self.rejoin_needed = true;
                Verdict::Continue
            }
            Some(error) => self.on_error(error),
        }
    }

    /// The errors join, sync and heartbeat share.
    fn on_error(&mut self, error: ErrorCode) -> Verdict {
        match error {
            ErrorCode::UnknownMemberId => Verdict::Lost(self.lose(true)),
            ErrorCode::IllegalGeneration => Verdict::Lost(self.lose(false)),
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => Verdict::Rediscover,
            error if error.is_retriable() => Verdict::Backoff,
            error => {
                let lost = self.lose(error == ErrorCode::FencedInstanceId);
                self.phase = Phase::Failed(error);
                Verdict::Fatal(error, lost)
            }
        }
    }

    /// Gives everything up without a revoke: the generation is gone (and the member
    /// id with it when `reset_member_id`). Returns what was owned.
    pub(super) fn lose(&mut self, reset_member_id: bool) -> Vec<TopicPartition> {
        self.epoch += 1;
        self.busy = false;
        self.generation = -1;
        self.leader = false;
        self.last_heartbeat = None;
        if reset_member_id {
            self.member_id.clear();
        }
        self.to_revoke.clear();
        self.to_add.clear();
        if self.phase != Phase::Idle && !matches!(self.phase, Phase::Failed(_)) {
            self.phase = Phase::Unjoined;
        }
        mem::take(&mut self.owned).into_iter().collect()
    }
}
