//! Partition assignors: the plans a group leader computes from its members' subscriptions.
//!
//! These follow the Java client's `ConsumerPartitionAssignor`s so that a group may mix
//! actix-kafka, Java and librdkafka members: whichever member is elected leader runs the
//! assignor named by the group's protocol, and every member must accept the result. The
//! assignors are plain structs with no I/O; the consumer turns their output into
//! `ConsumerProtocolAssignment` blobs.
//!
//! | name | struct | protocol |
//! |---|---|---|
//! | `range` | [`RangeAssignor`] | eager |
//! | `roundrobin` | [`RoundRobinAssignor`] | eager |
//! | `sticky` | [`StickyAssignor`] | eager |
//! | `cooperative-sticky` | [`CooperativeStickyAssignor`] | cooperative (KIP-429) |

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

mod range;
mod round_robin;
mod sticky;
mod user_data;

pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::{CooperativeStickyAssignor, StickyAssignor};
pub use user_data::{decode_cooperative_generation, encode_cooperative_generation, StickyUserData};

/// One group member's subscription, as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscription {
    /// The member id the coordinator gave this member.
    pub member_id: String,
    /// The static membership id (KIP-345), if the member is static.
    pub group_instance_id: Option<String>,
    /// The topics the member subscribes to.
    pub topics: Vec<String>,
    /// The partitions the member owned in its last generation (cooperative protocol), or
    /// the previous assignment decoded from the `sticky` user data.
    pub owned_partitions: Vec<(String, i32)>,
    /// The generation `owned_partitions` belong to; `-1` when unknown.
    pub generation_id: i32,
    /// The member's rack (KIP-881); accepted but not used by these assignors.
    pub rack_id: Option<String>,
}

/// How members give up partitions during a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before it rejoins.
    Eager,
    /// Members keep what they own; only moved partitions are revoked (KIP-429).
    Cooperative,
}

/// A partition assignment strategy run by the group leader.
pub trait Assignor: Send + Sync {
    /// The JoinGroup protocol name, identical to the Java client's.
    fn name(&self) -> &'static str;

    /// Whether members using this assignor revoke eagerly or cooperatively; eager unless
    /// the assignor says otherwise.
    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    /// Computes an assignment.
    ///
    /// `partitions` maps every subscribed topic to its partition count; a subscribed topic
    /// missing from it (unknown to the cluster) is skipped. The result holds every member,
    /// possibly with an empty list, and each list is sorted by (topic, partition).
    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<(String, i32)>>;
}

/// Java's `MemberInfo` order: static members first, by instance id, then dynamic members by
/// member id. Range and round-robin walk members in this order, so a static member keeps its
/// slot when it rejoins under a new member id.
pub(crate) fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
    .then_with(|| a.member_id.cmp(&b.member_id))
}

/// An empty assignment with one entry per member.
/// The members in the Java client's order (see [`member_order`]).
pub(crate) fn sorted_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| member_order(a, b));
    sorted
}

pub(crate) fn empty_assignment(members: &[MemberSubscription]) -> BTreeMap<String, Vec<(String, i32)>> {
    members.iter().map(|member| (member.member_id.clone(), Vec::new())).collect()
}

/// The member's subscribed topics that exist in `partitions` with at least one partition.
pub(crate) fn known_topics<'a>(
    member: &'a MemberSubscription,
    partitions: &BTreeMap<String, i32>,
) -> BTreeSet<&'a str> {
    member
        .topics
        .iter()
        .filter(|topic| partitions.get(topic.as_str()).is_some_and(|&count| count > 0))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support;
