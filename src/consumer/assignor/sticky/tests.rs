use std::collections::BTreeSet;

use super::*;
use crate::consumer::assignor::test_support::*;

/// Runs a check against both sticky assignors.
fn each_sticky(check: impl Fn(&dyn Assignor)) {
    check(&StickyAssignor);
    check(&CooperativeStickyAssignor);
}

// AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic
#[test]
fn add_then_remove_a_consumer() {
    let partitions = topics(&[("topic", 3)]);
    let first = StickyAssignor.assign(&partitions, &[member("consumer1", &["topic"])]);
    assert_eq!(first["consumer1"], tps(&[("topic", 0), ("topic", 1), ("topic", 2)]));

    let members = [
        owner("consumer1", &["topic"], &[("topic", 0), ("topic", 1), ("topic", 2)], 1),
        owner("consumer2", &["topic"], &[], 1),
    ];
    let second = StickyAssignor.assign(&partitions, &members);
    assert_eq!(second["consumer1"], tps(&[("topic", 0), ("topic", 1)]));
    assert_eq!(second["consumer2"], tps(&[("topic", 2)]));

    // Cooperative: topic-2 is transferring, so it is only revoked this round.
    let cooperative = CooperativeStickyAssignor.assign(&partitions, &members);
    assert_eq!(cooperative["consumer1"], tps(&[("topic", 0), ("topic", 1)]));
    assert_eq!(cooperative["consumer2"], tps(&[]));

    let third = StickyAssignor.assign(&partitions, &[owner("consumer2", &["topic"], &[("topic", 2)], 2)]);
    assert_eq!(third["consumer2"], tps(&[("topic", 0), ("topic", 1), ("topic", 2)]));
}

// AbstractStickyAssignorTest.testReassignmentAfterOneConsumerLeaves, scaled down: the
// departed member's partitions are spread and nothing else moves.
#[test]
fn departed_member_partitions_spread_rest_unmoved() {
    let partitions = topics(&[("t", 6)]);
    let members = [owner("c1", &["t"], &[("t", 0), ("t", 1)], 5), owner("c3", &["t"], &[("t", 4), ("t", 5)], 5)];
    each_sticky(|assignor| {
        let assignment = assignor.assign(&partitions, &members);
        check_valid(&partitions, &members, &assignment);
        check_balanced(&members, &assignment);
        let c1: BTreeSet<_> = assignment["c1"].iter().cloned().collect();
        let c3: BTreeSet<_> = assignment["c3"].iter().cloned().collect();
        assert!(c1.is_superset(&tps(&[("t", 0), ("t", 1)]).into_iter().collect()));
        assert!(c3.is_superset(&tps(&[("t", 4), ("t", 5)]).into_iter().collect()));
    });
}

// AbstractStickyAssignorTest.testEnsurePartitionsAssignedToHighestGeneration
#[test]
fn partitions_go_to_the_highest_generation() {
    let partitions = topics(&[("topic", 3), ("topic2", 3), ("topic3", 3)]);
    let all = &["topic", "topic2", "topic3"];
    let members = [
        owner("consumer1", all, &[("topic", 0), ("topic2", 0), ("topic3", 0)], 10),
        owner("consumer2", all, &[("topic", 1), ("topic2", 1), ("topic3", 1)], 9),
        owner("consumer3", all, &[("topic2", 1), ("topic3", 0), ("topic3", 2)], 8),
    ];
    let assignment = StickyAssignor.assign(&partitions, &members);
    assert_eq!(assignment["consumer1"], tps(&[("topic", 0), ("topic2", 0), ("topic3", 0)]));
    assert_eq!(assignment["consumer2"], tps(&[("topic", 1), ("topic2", 1), ("topic3", 1)]));
    assert_eq!(assignment["consumer3"], tps(&[("topic", 2), ("topic2", 2), ("topic3", 2)]));
}

// AbstractStickyAssignorTest.testOwnedPartitionsAreInvalidatedForConsumerWithStaleGeneration
#[test]
fn stale_generation_loses_its_claims() {
    let partitions = topics(&[("topic", 3), ("topic2", 3)]);
    let both = &["topic", "topic2"];
    let owned = &[("topic", 0), ("topic", 2), ("topic2", 1)];
    let members = [owner("consumer1", both, owned, 10), owner("consumer2", both, owned, 9)];
    let assignment = StickyAssignor.assign(&partitions, &members);
    assert_eq!(assignment["consumer1"], tps(&[("topic", 0), ("topic", 2), ("topic2", 1)]));
    assert_eq!(assignment["consumer2"], tps(&[("topic", 1), ("topic2", 0), ("topic2", 2)]));
}

// CooperativeStickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumersInSameGenerationWithEqualPartitionsPerConsumer:
// a same-generation double claim leaves the partition unowned for the sticky target.
#[test]
fn same_generation_double_claim_is_invalidated() {
    let partitions = topics(&[("t", 3)]);
    let members = [
        owner("consumer1", &["t"], &[("t", 0), ("t", 1)], 3),
        owner("consumer2", &["t"], &[("t", 0), ("t", 2)], 3),
        owner("consumer3", &["t"], &[], 3),
    ];
    let assignment = StickyAssignor.assign(&partitions, &members);
    assert_eq!(assignment["consumer1"], tps(&[("t", 1)]));
    assert_eq!(assignment["consumer2"], tps(&[("t", 2)]));
    assert_eq!(assignment["consumer3"], tps(&[("t", 0)]));
    // consumer3 must wait until both claimants have given t-0 up.
    let cooperative = CooperativeStickyAssignor.assign(&partitions, &members);
    assert_eq!(cooperative["consumer3"], tps(&[]));
}

// AbstractStickyAssignorTest.testLargeAssignmentAndGroupWithUniformSubscription, smaller:
// a large group stays quick (this runs unoptimised) and balanced, then a member leaves.
#[test]
fn large_uniform_group() {
    let names: Vec<String> = (0..40).map(|t| format!("topic{t}")).collect();
    let partitions = names.iter().map(|name| (name.clone(), 50)).collect();
    let subscribed: Vec<&str> = names.iter().map(String::as_str).collect();
    let members: Vec<_> = (0..200).map(|m| member(&format!("consumer{m:03}"), &subscribed)).collect();
    let first = StickyAssignor.assign(&partitions, &members);
    check_valid(&partitions, &members, &first);
    check_balanced(&members, &first);
    let mut next = rejoin(&members, &first, 1);
    next.remove(17);
    let second = CooperativeStickyAssignor.assign(&partitions, &next);
    check_balanced(&next, &second);
    for member in &next {
        assert!(first[&member.member_id].iter().all(|tp| second[&member.member_id].contains(tp)));
    }
}

// AbstractStickyAssignorTest.testReassignmentAfterOneConsumerAdded, at scale: one member
// owning everything hands over to many newcomers without quadratic blow-up.
#[test]
fn one_owner_many_newcomers() {
    let partitions = topics(&[("t", 3000)]);
    let everything: Vec<(String, i32)> = (0..3000).map(|p| ("t".to_string(), p)).collect();
    let mut members =
        vec![MemberSubscription { owned_partitions: everything, generation_id: 1, ..member("c000", &["t"]) }];
    members.extend((1..100).map(|m| member(&format!("c{m:03}"), &["t"])));
    let assignment = StickyAssignor.assign(&partitions, &members);
    check_valid(&partitions, &members, &assignment);
    check_balanced(&members, &assignment);
    assert_eq!(assignment["c000"], (0..30).map(|p| ("t".to_string(), p)).collect::<Vec<_>>());
}

#[test]
fn names_and_protocols() {
    assert_eq!((StickyAssignor.name(), StickyAssignor.protocol()), ("sticky", RebalanceProtocol::Eager));
    assert_eq!(
        (CooperativeStickyAssignor.name(), CooperativeStickyAssignor.protocol()),
        ("cooperative-sticky", RebalanceProtocol::Cooperative)
    );
}

proptest::proptest! {
    #[test]
    fn sticky_valid_and_balanced((partitions, members) in group()) {
        let assignment = StickyAssignor.assign(&partitions, &members);
        check_valid(&partitions, &members, &assignment);
        check_balanced(&members, &assignment);
    }

    #[test]
    fn sticky_moves_nothing_when_nothing_changed((partitions, members) in group()) {
        let first = StickyAssignor.assign(&partitions, &members);
        let again = StickyAssignor.assign(&partitions, &rejoin(&members, &first, 1));
        proptest::prop_assert_eq!(&first, &again);
        let cooperative = CooperativeStickyAssignor.assign(&partitions, &rejoin(&members, &first, 1));
        proptest::prop_assert_eq!(&first, &cooperative);
    }

    /// With equal subscriptions, a member joining takes its share and nothing else moves.
    #[test]
    fn only_the_newcomer_receives_moved_partitions((partitions, mut members) in group()) {
        let all: Vec<String> = partitions.keys().cloned().collect();
        for member in &mut members {
            member.topics = all.clone();
        }
        let (old, newcomer) = members.split_at(members.len() - 1);
        proptest::prop_assume!(!old.is_empty());
        let first = StickyAssignor.assign(&partitions, old);
        let mut next = rejoin(old, &first, 1);
        next.extend(newcomer.iter().cloned());
        let second = StickyAssignor.assign(&partitions, &next);
        check_balanced(&next, &second);
        for member in old {
            for tp in &second[&member.member_id] {
                proptest::prop_assert!(first[&member.member_id].contains(tp), "{:?} moved to {}", tp, member.member_id);
            }
        }
    }

    /// Members keep their previous partitions where balance allows: from a valid previous
    /// assignment of a smaller group, a joining member only takes what balance needs.
    #[test]
    fn sticky_after_a_member_joins((partitions, members) in group()) {
        let (old, newcomer) = members.split_at(members.len() - 1);
        proptest::prop_assume!(!old.is_empty());
        let first = StickyAssignor.assign(&partitions, old);
        let mut next = rejoin(old, &first, 1);
        next.extend(newcomer.iter().cloned());
        let second = StickyAssignor.assign(&partitions, &next);
        check_valid(&partitions, &next, &second);
        check_balanced(&next, &second);
        for member in old {
            let kept = second[&member.member_id].iter().filter(|tp| first[&member.member_id].contains(tp)).count();
            let lost = first[&member.member_id].len() - kept;
            // A member only loses partitions down to what it ends with.
            proptest::prop_assert!(lost == 0 || second[&member.member_id].len() <= first[&member.member_id].len());
        }
    }

    #[test]
    fn cooperative_never_hands_over_an_owned_partition((partitions, members) in group(), newcomer in 0usize..6) {
        // Everyone owns a previous assignment except one member, as if it had just joined
        // with a partition-less share: partitions must move to it.
        let previous = StickyAssignor.assign(&partitions, &members);
        let mut owned = rejoin(&members, &previous, 1);
        let index = newcomer % owned.len();
        let freed = std::mem::take(&mut owned[index].owned_partitions);
        let neighbour = (index + 1) % owned.len();
        owned[neighbour].owned_partitions.extend(freed);
        let assignment = CooperativeStickyAssignor.assign(&partitions, &owned);
        check_subscribed_once(&owned, &assignment);
        for member in &owned {
            for tp in &assignment[&member.member_id] {
                let other = owned.iter().any(|m| m.member_id != member.member_id && m.owned_partitions.contains(tp));
                proptest::prop_assert!(!other, "{:?} handed to {} while owned elsewhere", tp, member.member_id);
            }
        }
    }

    /// Rejoining with what was handed out converges to a valid, balanced assignment.
    #[test]
    fn cooperative_converges((partitions, members) in group()) {
        let mut current = members.clone();
        let mut assignment = CooperativeStickyAssignor.assign(&partitions, &current);
        for round in 2..=4 {
            current = rejoin(&members, &assignment, round);
            let next = CooperativeStickyAssignor.assign(&partitions, &current);
            if next == assignment {
                break;
            }
            assignment = next;
        }
        check_valid(&partitions, &members, &assignment);
        check_balanced(&members, &assignment);
    }
}
