//! The `range` assignor: contiguous slices of each topic, topic by topic.

use std::collections::BTreeMap;

use super::{empty_assignment, known_topics, sorted_members, Assignor, MemberSubscription};

/// Assigns each topic separately: its partitions are cut into contiguous ranges, one per
/// subscribed member in [`member_order`](super) order, and the first `partitions % members`
/// members get one partition more.
///
/// Co-partitioned topics therefore land on the same members, which is why `range` is the
/// Java client's default. Rack-aware placement (KIP-881) is not implemented.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use actix_kafka::consumer::assignor::{Assignor, MemberSubscription, RangeAssignor};
///
/// let member = |id: &str| MemberSubscription {
///     member_id: id.into(),
///     topics: vec!["t".into()],
///     generation_id: -1,
///     ..Default::default()
/// };
/// let partitions = BTreeMap::from([("t".to_string(), 3)]);
/// let assignment = RangeAssignor.assign(&partitions, &[member("a"), member("b")]);
/// assert_eq!(assignment["a"], [("t".to_string(), 0), ("t".to_string(), 1)]);
/// assert_eq!(assignment["b"], [("t".to_string(), 2)]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<(String, i32)>> {
        let mut assignment = empty_assignment(members);
        let sorted = sorted_members(members);

        for (topic, &count) in partitions.iter().filter(|(_, &count)| count > 0) {
            let consumers: Vec<&MemberSubscription> = sorted
                .iter()
                .copied()
                .filter(|member| known_topics(member, partitions).contains(topic.as_str()))
                .collect();
            if consumers.is_empty() {
                continue;
            }
            // Both fit in i32: the divisor is at least 1 and the dividend is an i32.
            let consumer_count = i32::try_from(consumers.len()).unwrap_or(i32::MAX);
            let per_consumer = count / consumer_count;
            let with_extra = count % consumer_count;
            let mut next = 0;
            for (index, member) in (0..).zip(consumers) {
                let length = per_consumer + i32::from(index < with_extra);
                let slot = assignment.entry(member.member_id.clone()).or_default();
                slot.extend((next..next + length).map(|partition| (topic.clone(), partition)));
                next += length;
            }
        }
        for list in assignment.values_mut() {
            list.sort();
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::assignor::test_support::*;

    // RangeAssignorTest.testTwoConsumersOneTopicTwoPartitions, with 3 partitions as in the
    // class documentation of RangeAssignor.java: the first member takes the extra one.
    #[test]
    fn two_members_three_partitions() {
        let assignment =
            RangeAssignor.assign(&topics(&[("t1", 3)]), &[member("consumer1", &["t1"]), member("consumer2", &["t1"])]);
        assert_eq!(assignment["consumer1"], tps(&[("t1", 0), ("t1", 1)]));
        assert_eq!(assignment["consumer2"], tps(&[("t1", 2)]));
    }

    // RangeAssignorTest.testMultipleConsumersMixedTopics
    #[test]
    fn multiple_consumers_mixed_topics() {
        let assignment = RangeAssignor.assign(
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

    // RangeAssignorTest.testTwoStaticConsumersTwoTopicsSixPartitions: the order is by
    // instance id, not member id.
    #[test]
    fn static_members_ordered_by_instance_id() {
        let both = &["topic1", "topic2"];
        let low = MemberSubscription { group_instance_id: Some("instance1".into()), ..member("consumer-b", both) };
        let high = MemberSubscription { group_instance_id: Some("instance2".into()), ..member("consumer-a", both) };
        let assignment = RangeAssignor.assign(&topics(&[("topic1", 3), ("topic2", 3)]), &[low, high]);
        let expected = tps(&[("topic1", 0), ("topic1", 1), ("topic2", 0), ("topic2", 1)]);
        assert_eq!(assignment["consumer-b"], expected);
        assert_eq!(assignment["consumer-a"], tps(&[("topic1", 2), ("topic2", 2)]));
    }

    // RangeAssignorTest.testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions
    #[test]
    fn static_member_before_dynamic_member() {
        let both = &["topic1", "topic2"];
        let low = MemberSubscription { group_instance_id: Some("instance1".into()), ..member("consumer-b", both) };
        let assignment =
            RangeAssignor.assign(&topics(&[("topic1", 3), ("topic2", 3)]), &[member("consumer-a", both), low]);
        assert_eq!(assignment["consumer-b"].len(), 4);
        assert_eq!(assignment["consumer-a"], tps(&[("topic1", 2), ("topic2", 2)]));
    }

    // RangeAssignorTest.testOneConsumerNonexistentTopic
    #[test]
    fn unknown_topic_gives_an_empty_assignment() {
        let assignment = RangeAssignor.assign(&topics(&[]), &[member("consumer", &["topic"])]);
        assert_eq!(assignment["consumer"], tps(&[]));
    }

    proptest::proptest! {
        #[test]
        fn every_partition_once((partitions, members) in group()) {
            let assignment = RangeAssignor.assign(&partitions, &members);
            check_valid(&partitions, &members, &assignment);
        }
    }
}
