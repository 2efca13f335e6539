//! The consumer protocol's blobs as a member and as the leader uses them: the
//! Subscription metadata of each JoinGroup protocol, the members' subscriptions the
//! leader decodes, and the Assignments it hands out.
//!
//! Versions, chosen so Java and librdkafka members accept them: eager assignors send
//! Subscription v0 (topics and user data; an eager member owns nothing when it
//! joins); `cooperative-sticky` sends v1, whose `owned_partitions` KIP-429 needs, and
//! its generation in the user data (as Java does for subscriptions older than v2).
//! Both librdkafka 2.0 and 2.16 and the Java client read v0 and v1. The eager `sticky`
//! assignor carries its previous assignment in `StickyUserData`. Assignments are
//! v0, which every client reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;

use crate::consumer::assignor::{
    decode_cooperative_generation, encode_cooperative_generation, Assignor, MemberSubscription, RebalanceProtocol,
    StickyUserData,
};
use crate::consumer::types::TopicPartition;
use crate::protocol::consumer_protocol::{decode_versioned, encode_versioned, Assignment, Subscription};
use crate::protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use crate::protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use crate::protocol::{DecodeError, EncodeError};

/// The protocol name of the eager sticky assignor, whose user data is special.
const STICKY: &str = "sticky";
/// The protocol name of the cooperative sticky assignor.
const COOPERATIVE_STICKY: &str = "cooperative-sticky";

/// What a member says about itself in JoinGroup.
#[derive(Debug, Clone)]
pub(super) struct SubscriptionState<'a> {
    pub(super) topics: &'a BTreeSet<String>,
    /// The partitions owned now (cooperative members keep them through a rebalance).
    pub(super) owned: &'a BTreeSet<TopicPartition>,
    /// The last assignment received (the eager `sticky` user data).
    pub(super) previous: &'a BTreeSet<TopicPartition>,
    pub(super) generation: i32,
}

/// One (name, Subscription blob) per assignor, in order of preference.
///
/// # Errors
///
/// [`EncodeError`] when a topic name or a list overflows its length prefix.
pub(super) fn join_protocols(
    assignors: &[Arc<dyn Assignor>],
    state: &SubscriptionState<'_>,
) -> Result<Vec<(String, Bytes)>, EncodeError> {
    assignors.iter().map(|assignor| Ok((assignor.name().to_owned(), subscription(assignor.as_ref(), state)?))).collect()
}

fn subscription(assignor: &dyn Assignor, state: &SubscriptionState<'_>) -> Result<Bytes, EncodeError> {
    let topics: Vec<String> = state.topics.iter().cloned().collect();
    if assignor.protocol() == RebalanceProtocol::Cooperative {
        let owned_partitions =
            by_topic(state.owned).into_iter().map(|(topic, partitions)| OwnedTopic { topic, partitions }).collect();
        let user_data = Some(encode_cooperative_generation(state.generation));
        let subscription = Subscription { topics, user_data, owned_partitions, ..Default::default() };
        return encode_versioned(&subscription, 1);
    }
    let user_data = if assignor.name() == STICKY {
        let partitions = state.previous.iter().map(|tp| (tp.topic.to_string(), tp.partition)).collect();
        let generation = (state.generation >= 0).then_some(state.generation);
        Some(StickyUserData { partitions, generation }.encode()?)
    } else {
        None
    };
    encode_versioned(&Subscription { topics, user_data, ..Default::default() }, 0)
}

fn by_topic(partitions: &BTreeSet<TopicPartition>) -> BTreeMap<String, Vec<i32>> {
    let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(tp.topic.to_string()).or_default().push(tp.partition);
    }
    topics
}

/// One member of the JoinGroup response, as the leader reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JoinedMember {
    pub(super) member_id: String,
    pub(super) instance_id: Option<String>,
    pub(super) metadata: Bytes,
}

/// Decodes each member's Subscription for `protocol`. A member whose metadata does
/// not decode is kept with no topics (it gets nothing; the rest of the group still
/// makes progress) and logged.
pub(super) fn decode_members(members: &[JoinedMember], protocol: &str) -> Vec<MemberSubscription> {
    members.iter().map(|member| decode_member(member, protocol)).collect()
}

fn decode_member(member: &JoinedMember, protocol: &str) -> MemberSubscription {
    let mut decoded = MemberSubscription {
        member_id: member.member_id.clone(),
        group_instance_id: member.instance_id.clone(),
        generation_id: -1,
        ..Default::default()
    };
    let (version, subscription) = match decode_versioned::<Subscription>(member.metadata.clone()) {
        Ok(read) => read,
        Err(error) => {
            tracing::warn!(member = %member.member_id, %error, "undecodable subscription; the member gets nothing");
            return decoded;
        }
    };
    decoded.topics = subscription.topics;
    decoded.rack_id = subscription.rack_id;
    decoded.owned_partitions = subscription
        .owned_partitions
        .into_iter()
        .flat_map(|t| t.partitions.into_iter().map(move |p| (t.topic.clone(), p)))
        .collect();
    if version >= 2 {
        decoded.generation_id = subscription.generation_id;
    }
    match (protocol, subscription.user_data) {
        (STICKY, Some(data)) if decoded.owned_partitions.is_empty() => {
            if let Ok(sticky) = StickyUserData::decode(data) {
                decoded.owned_partitions = sticky.partitions;
                decoded.generation_id = sticky.generation.unwrap_or(-1);
            }
        }
        (COOPERATIVE_STICKY, Some(data)) if version < 2 => {
            decoded.generation_id = decode_cooperative_generation(data).unwrap_or(-1);
        }
        _ => {}
    }
    decoded
}

/// An assignor's plan: member id → its (topic, partition)s.
pub(super) type Plan = BTreeMap<String, Vec<(String, i32)>>;

/// Runs `assignor` and encodes each member's Assignment (every member gets one,
/// possibly empty).
///
/// # Errors
///
/// [`EncodeError`] when a list overflows its length prefix.
pub(super) fn assign(
    assignor: &dyn Assignor,
    partitions: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
) -> Result<(Vec<(String, Bytes)>, Plan), EncodeError> {
    let plan = assignor.assign(partitions, members);
    let mut blobs = Vec::with_capacity(members.len());
    for member in members {
        let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in plan.get(&member.member_id).into_iter().flatten() {
            topics.entry(topic.clone()).or_default().push(*partition);
        }
        let assigned_partitions =
            topics.into_iter().map(|(topic, partitions)| AssignedTopic { topic, partitions }).collect();
        let blob = encode_versioned(&Assignment { assigned_partitions, user_data: None }, 0)?;
        blobs.push((member.member_id.clone(), blob));
    }
    Ok((blobs, plan))
}

/// The partitions of an Assignment blob; an empty blob (a member the leader left
/// out) is an empty assignment.
///
/// # Errors
///
/// [`DecodeError`] for a malformed blob.
pub(super) fn decode_assignment(bytes: Bytes) -> Result<BTreeSet<TopicPartition>, DecodeError> {
    if bytes.is_empty() {
        return Ok(BTreeSet::new());
    }
    let (_, assignment) = decode_versioned::<Assignment>(bytes)?;
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .flat_map(|t| {
            let topic: Arc<str> = Arc::from(t.topic);
            t.partitions.into_iter().map(move |p| TopicPartition { topic: topic.clone(), partition: p })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::assignor::{CooperativeStickyAssignor, RangeAssignor, StickyAssignor};

    fn set(list: &[(&str, i32)]) -> BTreeSet<TopicPartition> {
        list.iter().map(|&(t, p)| TopicPartition::new(t, p)).collect()
    }

    #[test]
    fn each_assignor_sends_what_the_leader_reads_back() {
        let assignors: Vec<Arc<dyn Assignor>> =
            vec![Arc::new(RangeAssignor), Arc::new(StickyAssignor), Arc::new(CooperativeStickyAssignor)];
        let topics = BTreeSet::from(["a".to_owned(), "b".to_owned()]);
        let owned = set(&[("a", 1)]);
        let previous = set(&[("a", 1), ("b", 0)]);
        let state = SubscriptionState { topics: &topics, owned: &owned, previous: &previous, generation: 4 };
        let protocols = join_protocols(&assignors, &state).unwrap();
        let names: Vec<&str> = protocols.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["range", "sticky", "cooperative-sticky"]);
        let member =
            |metadata: &Bytes| JoinedMember { member_id: "m".into(), instance_id: None, metadata: metadata.clone() };

        assert_eq!(&protocols[0].1[..2], &[0, 0], "eager: version 0");
        let range = decode_member(&member(&protocols[0].1), "range");
        assert_eq!((range.topics.clone(), range.owned_partitions.len()), (vec!["a".into(), "b".into()], 0));

        let sticky = decode_member(&member(&protocols[1].1), "sticky");
        assert_eq!(sticky.owned_partitions, [("a".to_owned(), 1), ("b".to_owned(), 0)]);
        assert_eq!(sticky.generation_id, 4);

        assert_eq!(&protocols[2].1[..2], &[0, 1], "cooperative: version 1");
        let cooperative = decode_member(&member(&protocols[2].1), "cooperative-sticky");
        assert_eq!((cooperative.owned_partitions, cooperative.generation_id), (vec![("a".to_owned(), 1)], 4));
    }

    #[test]
    fn garbage_metadata_is_a_member_with_no_topics() {
        let member =
            JoinedMember { member_id: "m".into(), instance_id: None, metadata: Bytes::from_static(&[0, 0, 9]) };
        assert!(decode_member(&member, "range").topics.is_empty());
    }

    #[test]
    fn assignments_roundtrip_and_every_member_gets_one() {
        let members = vec![
            MemberSubscription { member_id: "m1".into(), topics: vec!["t".into()], ..Default::default() },
            MemberSubscription { member_id: "m2".into(), topics: vec!["t".into()], ..Default::default() },
        ];
        let partitions = BTreeMap::from([("t".to_owned(), 3)]);
        let (blobs, _) = assign(&RangeAssignor, &partitions, &members).unwrap();
        let decoded: Vec<BTreeSet<TopicPartition>> =
            blobs.into_iter().map(|(_, b)| decode_assignment(b).unwrap()).collect();
        assert_eq!(decoded, [set(&[("t", 0), ("t", 1)]), set(&[("t", 2)])]);
        assert!(decode_assignment(Bytes::new()).unwrap().is_empty());
        assert!(decode_assignment(Bytes::from_static(&[0, 0, 0, 0, 0, 5])).is_err());
    }
}
