//! The `roundrobin` assignor: all partitions dealt out in turn.

use std::collections::{BTreeMap, BTreeSet};

use super::{empty_assignment, sorted_members, Assignor, MemberSubscription};

/// Deals every subscribed partition, sorted by (topic, partition), to the members in
/// [`member_order`](super) order in a circle, skipping members that do not subscribe to the
/// partition's topic.
///
/// With identical subscriptions the counts differ by at most one; with different ones the
/// result can be unbalanced, as in the Java client.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<(String, i32)>> {
        let mut assignment = empty_assignment(members);
        let circle = sorted_members(members);
        let topics: BTreeSet<&str> = members.iter().flat_map(|m| m.topics.iter().map(String::as_str)).collect();

        let mut next = 0;
        for topic in topics {
            let Some(&count) = partitions.get(topic) else { continue };
            for partition in 0..count {
                // Some member subscribes to `topic` (it came from a subscription), so this
                // walk ends within one turn of the circle.
                while !circle[next].topics.iter().any(|t| t == topic) {
                    next = (next + 1) % circle.len();
                }
                let slot = assignment.entry(circle[next].member_id.clone()).or_default();
                slot.push((topic.to_string(), partition));
                next = (next + 1) % circle.len();
            }
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::assignor::test_support::*;

    // RoundRobinAssignorTest.testMultipleConsumersMixedTopics
    #[test]
    fn multiple_consumers_mixed_topics() {
        let assignment = RoundRobinAssignor.assign(
            &topics(&[("topic1", 3), ("topic2", 2)]),
            &[
                member("consumer1", &["topic1"]),
                member("consumer2", &["topic1", "topic2"]),
                member("consumer3", &["topic1"]),
            ],
        );
        assert_eq!(assignment["consumer1"], tps(&[("topic1", 0)]));
        assert_eq!(assignment["consumer2"], tps(&[("topic1", 1), ("topic2", 0), ("topic2", 1)]));
        assert_eq!(assignment["consumer3"], tps(&[("topic1", 2)]));
    }

    // RoundRobinAssignorTest.testTwoDynamicConsumersTwoTopicsSixPartitions
    #[test]
    fn two_consumers_two_topics() {
        let both = &["topic1", "topic2"];
        let assignment = RoundRobinAssignor
            .assign(&topics(&[("topic1", 3), ("topic2", 3)]), &[member("consumer1", both), member("consumer2", both)]);
        assert_eq!(assignment["consumer1"], tps(&[("topic1", 0), ("topic1", 2), ("topic2", 1)]));
        assert_eq!(assignment["consumer2"], tps(&[("topic1", 1), ("topic2", 0), ("topic2", 2)]));
    }

    // RoundRobinAssignorTest.testTwoStaticConsumersTwoTopicsSixPartitions
    #[test]
    fn static_members_ordered_by_instance_id() {
        let both = &["topic1", "topic2"];
        let first = MemberSubscription { group_instance_id: Some("instance1".into()), ..member("consumer-b", both) };
        let second = MemberSubscription { group_instance_id: Some("instance2".into()), ..member("consumer-a", both) };
        let assignment = RoundRobinAssignor.assign(&topics(&[("topic1", 3), ("topic2", 3)]), &[second, first]);
        assert_eq!(assignment["consumer-b"], tps(&[("topic1", 0), ("topic1", 2), ("topic2", 1)]));
        assert_eq!(assignment["consumer-a"], tps(&[("topic1", 1), ("topic2", 0), ("topic2", 2)]));
    }

    proptest::proptest! {
        #[test]
        fn every_partition_once((partitions, members) in group()) {
            let assignment = RoundRobinAssignor.assign(&partitions, &members);
            check_valid(&partitions, &members, &assignment);
        }

        #[test]
        fn balanced_when_subscriptions_are_equal((partitions, mut members) in group()) {
            let all: Vec<String> = partitions.keys().cloned().collect();
            for member in &mut members {
                member.topics = all.clone();
            }
            let assignment = RoundRobinAssignor.assign(&partitions, &members);
            check_balanced(&members, &assignment);
        }
    }
}
