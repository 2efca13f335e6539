//! Builders, generators and invariant checks shared by the assignor tests.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::MemberSubscription;

pub(crate) type Assignment = BTreeMap<String, Vec<(String, i32)>>;

pub(crate) fn member(id: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        member_id: id.to_string(),
        topics: topics.iter().map(|topic| topic.to_string()).collect(),
        generation_id: -1,
        ..MemberSubscription::default()
    }
}

/// `member`, owning `owned` in `generation`.
pub(crate) fn owner(id: &str, topics: &[&str], owned: &[(&str, i32)], generation: i32) -> MemberSubscription {
    MemberSubscription { owned_partitions: tps(owned), generation_id: generation, ..member(id, topics) }
}

pub(crate) fn topics(counts: &[(&str, i32)]) -> BTreeMap<String, i32> {
    counts.iter().map(|&(topic, count)| (topic.to_string(), count)).collect()
}

pub(crate) fn tps(list: &[(&str, i32)]) -> Vec<(String, i32)> {
    list.iter().map(|&(topic, partition)| (topic.to_string(), partition)).collect()
}

/// Feeds an assignment back as every member's owned partitions in `generation`.
pub(crate) fn rejoin(
    members: &[MemberSubscription],
    assignment: &Assignment,
    generation: i32,
) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|member| MemberSubscription {
            owned_partitions: assignment[&member.member_id].clone(),
            generation_id: generation,
            ..member.clone()
        })
        .collect()
}

/// Up to 4 topics of 0..=8 partitions and 1..=6 members subscribing to random non-empty
/// subsets of them (or, half the time, all of them).
pub(crate) fn group() -> impl Strategy<Value = (BTreeMap<String, i32>, Vec<MemberSubscription>)> {
    let names = ["t0", "t1", "t2", "t3"];
    (
        proptest::collection::vec(0..=8i32, 1..=4),
        proptest::collection::vec(proptest::bits::u8::between(0, 4), 1..=6),
        any::<bool>(),
    )
        .prop_map(move |(counts, masks, uniform)| {
            let partitions: BTreeMap<String, i32> =
                counts.iter().enumerate().map(|(index, &count)| (names[index].to_string(), count)).collect();
            let members = masks
                .iter()
                .enumerate()
                .map(|(index, &mask)| {
                    let chosen: Vec<&str> = (0..counts.len())
                        .filter(|&bit| uniform || mask & (1 << bit) != 0)
                        .map(|bit| names[bit])
                        .collect();
                    let chosen = if chosen.is_empty() { vec![names[0]] } else { chosen };
                    member(&format!("m{index}"), &chosen)
                })
                .collect();
            (partitions, members)
        })
}

/// Every partition of every subscribed topic is assigned exactly once, to a member
/// subscribed to its topic, and every member has an entry.
pub(crate) fn check_valid(partitions: &BTreeMap<String, i32>, members: &[MemberSubscription], assignment: &Assignment) {
    assert_eq!(assignment.len(), members.len(), "one entry per member");
    let subscribed: BTreeSet<&str> = members.iter().flat_map(|m| m.topics.iter().map(String::as_str)).collect();
    let mut expected: BTreeSet<(String, i32)> = BTreeSet::new();
    for topic in subscribed {
        for partition in 0..partitions.get(topic).copied().unwrap_or(0) {
            expected.insert((topic.to_string(), partition));
        }
    }
    check_subscribed_once(members, assignment);
    let seen: BTreeSet<(String, i32)> = assignment.values().flatten().cloned().collect();
    assert_eq!(seen, expected, "every partition assigned");
}

/// No partition twice, and only to members subscribed to its topic.
pub(crate) fn check_subscribed_once(members: &[MemberSubscription], assignment: &Assignment) {
    let mut seen = BTreeSet::new();
    for member in members {
        for tp in &assignment[&member.member_id] {
            assert!(member.topics.contains(&tp.0), "{tp:?} given to {} which does not subscribe", member.member_id);
            assert!(seen.insert(tp.clone()), "{tp:?} assigned twice");
        }
    }
}

/// Members with the same subscriptions hold counts differing by at most one.
pub(crate) fn check_balanced(members: &[MemberSubscription], assignment: &Assignment) {
    let mut by_topics: BTreeMap<BTreeSet<&str>, Vec<usize>> = BTreeMap::new();
    for member in members {
        let key = member.topics.iter().map(String::as_str).collect();
        by_topics.entry(key).or_default().push(assignment[&member.member_id].len());
    }
    for (topics, counts) in by_topics {
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "unbalanced for {topics:?}: {counts:?}");
    }
}
