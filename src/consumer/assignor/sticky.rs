//! The `sticky` and `cooperative-sticky` assignors: balanced, and moving as little as possible.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::{empty_assignment, known_topics, Assignor, MemberSubscription, RebalanceProtocol};

type TopicPartition = (String, i32);

/// Balances partitions while keeping as many as possible where they were (KIP-54).
///
/// The result is *balanced*: members with the same subscriptions hold partition counts that
/// differ by at most one, and more generally no partition sits with a member that has two
/// more partitions than another member subscribed to its topic. Within that constraint each
/// member keeps the partitions it owned; a partition claimed by several members goes to the
/// claim with the highest `generation_id`, and a tie leaves it unowned, as in the Java
/// client. When nothing changed since the previous assignment, nothing moves.
///
/// This is the eager variant: members revoke everything before they rejoin, so the caller
/// fills `owned_partitions` and `generation_id` from the `sticky` user data
/// ([`StickyUserData`](super::StickyUserData)).
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

impl Assignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<(String, i32)>> {
        sticky_assignment(partitions, members)
    }
}

/// The sticky target, reached in steps that never hand a member a partition another member
/// still owns (KIP-429).
///
/// A partition moving from one owner to another is only revoked in this round: the old owner
/// gives it up and rejoins, and the next rebalance hands it to its new owner. Every member's
/// `owned_partitions` must therefore be what it really holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<(String, i32)>> {
        let mut assignment = sticky_assignment(partitions, members);
        // As Java's `CooperativeStickyAssignor.adjustAssignment`: a partition added to a
        // member that did not own it, while another member owned it, is transferring.
        let mut claimed_by: BTreeMap<&TopicPartition, BTreeSet<&str>> = BTreeMap::new();
        for member in members {
            for tp in &member.owned_partitions {
                claimed_by.entry(tp).or_default().insert(&member.member_id);
            }
        }
        for (member_id, list) in &mut assignment {
            list.retain(|tp| match claimed_by.get(tp) {
                None => true,
                Some(claimants) => claimants.contains(member_id.as_str()),
            });
        }
        assignment
    }
}

/// The balanced, sticky assignment both assignors aim for.
fn sticky_assignment(
    partitions: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
) -> BTreeMap<String, Vec<TopicPartition>> {
    let eligible: BTreeMap<&str, BTreeSet<&str>> =
        members.iter().map(|member| (member.member_id.as_str(), known_topics(member, partitions))).collect();
    let owners = previous_owners(partitions, members, &eligible);
    let mut plan = Plan { eligible, assigned: BTreeMap::new(), owners };
    for member in plan.eligible.keys() {
        plan.assigned.insert(member, BTreeSet::new());
    }
    for (tp, owner) in &plan.owners {
        plan.assigned.entry(owner).or_default().insert(tp.clone());
    }
    plan.place_unowned(partitions);
    plan.balance();

    let mut assignment = empty_assignment(members);
    for (member, set) in plan.assigned {
        assignment.insert(member.to_string(), set.into_iter().collect());
    }
    assignment
}

/// Who keeps each previously owned partition: the claim with the highest generation, none
/// on a tie (Java's `allSubscriptionsEqual`/`getAllTopicPartitions` rules). Claims on topics
/// the member no longer subscribes to, or on partitions that no longer exist, are dropped.
fn previous_owners<'a>(
    partitions: &BTreeMap<String, i32>,
    members: &'a [MemberSubscription],
    eligible: &BTreeMap<&str, BTreeSet<&str>>,
) -> BTreeMap<TopicPartition, &'a str> {
    let mut claims: BTreeMap<&TopicPartition, BTreeMap<&str, i32>> = BTreeMap::new();
    for member in members {
        let topics = &eligible[member.member_id.as_str()];
        for tp in &member.owned_partitions {
            let exists = partitions.get(&tp.0).is_some_and(|&count| (0..count).contains(&tp.1));
            if exists && topics.contains(tp.0.as_str()) {
                claims.entry(tp).or_default().insert(&member.member_id, member.generation_id);
            }
        }
    }
    claims
        .into_iter()
        .filter_map(|(tp, claimants)| {
            let newest = *claimants.values().max()?;
            let mut winners = claimants.into_iter().filter(|&(_, generation)| generation == newest);
            match (winners.next(), winners.next()) {
                (Some((member, _)), None) => Some((tp.clone(), member)),
                _ => None,
            }
        })
        .collect()
}

/// The assignment under construction.
struct Plan<'a> {
    /// Member id → its subscribed topics that exist.
    eligible: BTreeMap<&'a str, BTreeSet<&'a str>>,
    /// Member id → the partitions planned for it.
    assigned: BTreeMap<&'a str, BTreeSet<TopicPartition>>,
    /// The previous owner of each partition that keeps one.
    owners: BTreeMap<TopicPartition, &'a str>,
}

impl<'a> Plan<'a> {
    /// The member subscribed to `topic`, other than `except`, with the fewest partitions;
    /// ties go to the smallest member id.
    fn least_loaded(&self, topic: &str, except: Option<&str>) -> Option<&'a str> {
        self.eligible
            .iter()
            .filter(|(member, topics)| Some(**member) != except && topics.contains(topic))
            .min_by_key(|(member, _)| (self.assigned[**member].len(), **member))
            .map(|(member, _)| *member)
    }

    /// Gives every partition nobody keeps to the least loaded member subscribed to its
    /// topic, partitions with the fewest candidates first (as Java's general assignment).
    fn place_unowned(&mut self, partitions: &BTreeMap<String, i32>) {
        let subscribed: BTreeSet<&str> = self.eligible.values().flatten().copied().collect();
        let mut unowned: Vec<(usize, TopicPartition)> = Vec::new();
        for topic in subscribed {
            let candidates = self.eligible.values().filter(|topics| topics.contains(topic)).count();
            for partition in 0..partitions.get(topic).copied().unwrap_or(0) {
                let tp = (topic.to_string(), partition);
                if !self.owners.contains_key(&tp) {
                    unowned.push((candidates, tp));
                }
            }
        }
        unowned.sort();
        for (_, tp) in unowned {
            if let Some(member) = self.least_loaded(&tp.0, None) {
                self.assigned.entry(member).or_default().insert(tp);
            }
        }
    }

    /// Moves partitions to a member subscribed to their topic that holds at least two fewer,
    /// until no such move is left. Each move lowers the sum of squared counts, so this ends;
    /// at the end members with equal subscriptions differ by at most one.
    fn balance(&mut self) {
        while self.unload_heaviest() {}
    }

    /// Moves partitions away from the most loaded member that can give some, for as long as
    /// it stays at least as loaded as the members ranked below it (so that it does not give
    /// away what a heavier member should). Partitions it did not own before go first, then
    /// the highest-numbered. Returns whether anything moved.
    fn unload_heaviest(&mut self) -> bool {
        let mut by_load: Vec<&'a str> = self.assigned.keys().copied().collect();
        by_load.sort_by_key(|member| (Reverse(self.assigned[member].len()), *member));
        for (rank, &from) in by_load.iter().enumerate() {
            let lighter = &by_load[rank + 1..];
            let mut candidates: Vec<TopicPartition> = self.assigned[from].iter().cloned().collect();
            candidates.sort_by_key(|tp| (self.owners.get(tp) == Some(&from), Reverse(tp.clone())));
            let mut moved = false;
            for tp in candidates {
                let floor = lighter.iter().map(|member| self.assigned[member].len()).max().unwrap_or(0);
                if self.assigned[from].len() < floor {
                    break;
                }
                let Some(to) = self.least_loaded(&tp.0, Some(from)) else { continue };
                if self.assigned[to].len() + 1 < self.assigned[from].len() {
                    self.assigned.entry(from).or_default().remove(&tp);
                    self.assigned.entry(to).or_default().insert(tp);
                    moved = true;
                }
            }
            if moved {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests;
