//! Builds the FetchRequest for a [`FetchPlan`] at a negotiated version: a plain
//! function, so every version's field rules are unit-tested without a broker.
//!
//! The version rules (`FetchRequest.json`): `max_bytes` from v3, `isolation_level`
//! from v4, `log_start_offset` from v5 (a consumer sends -1), sessions and forgotten
//! topics from v7, `current_leader_epoch` from v9 (so the broker answers
//! FENCED_LEADER_EPOCH to a consumer behind a leader change), `rack_id` from v11,
//! and topic ids instead of names from v13. The caller picks v12 at most when a topic
//! has no id yet (metadata older than v10 has none).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use crate::protocol::messages::FetchRequest;
use crate::protocol::primitives::Uuid;

use super::fetch_session::FetchPlan;
use super::types::TopicPartition;

/// The request-wide settings, from the consumer's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FetchSettings {
    pub(crate) max_wait_ms: i32,
    pub(crate) min_bytes: i32,
    pub(crate) max_bytes: i32,
    pub(crate) isolation_level: i8,
}

/// The first Fetch version that names topics by id.
pub(crate) const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// The version to use: the negotiated one, capped at 12 unless every topic has an id.
pub(crate) fn fetch_version<'a>(negotiated: i16, mut topic_ids: impl Iterator<Item = &'a Uuid>) -> i16 {
    if negotiated >= FIRST_TOPIC_ID_VERSION && topic_ids.any(|id| *id == Uuid::ZERO) {
        FIRST_TOPIC_ID_VERSION - 1
    } else {
        negotiated
    }
}

/// The FetchRequest carrying `plan` at `version`; `topic_ids` maps each topic to its
/// id (consulted from v13 only).
pub(crate) fn fetch_request(
    plan: &FetchPlan,
    settings: &FetchSettings,
    version: i16,
    topic_ids: &BTreeMap<Arc<str>, Uuid>,
) -> FetchRequest {
    let id_of = |topic: &Arc<str>| topic_ids.get(topic).copied().unwrap_or(Uuid::ZERO);
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (tp, fetch) in &plan.partitions {
        let partition = FetchPartition {
            partition: tp.partition,
            current_leader_epoch: if version >= 9 { fetch.current_leader_epoch } else { -1 },
            fetch_offset: fetch.fetch_offset,
            partition_max_bytes: fetch.partition_max_bytes,
            ..Default::default()
        };
        match topics.last_mut() {
            Some(last) if last.topic == *tp.topic => last.partitions.push(partition),
            _ => topics.push(FetchTopic {
                topic: tp.topic.to_string(),
                topic_id: if version >= FIRST_TOPIC_ID_VERSION { id_of(&tp.topic) } else { Uuid::ZERO },
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    let mut request =
        FetchRequest { max_wait_ms: settings.max_wait_ms, min_bytes: settings.min_bytes, topics, ..Default::default() };
    if version >= 3 {
        request.max_bytes = settings.max_bytes;
    }
    if version >= 4 {
        request.isolation_level = settings.isolation_level;
    }
    if version >= 7 {
        request.session_id = plan.session_id;
        request.session_epoch = plan.session_epoch;
        request.forgotten_topics_data = forgotten(&plan.forgotten, version, id_of);
    }
    request
}

fn forgotten(partitions: &[TopicPartition], version: i16, id_of: impl Fn(&Arc<str>) -> Uuid) -> Vec<ForgottenTopic> {
    let mut topics: Vec<ForgottenTopic> = Vec::new();
    for tp in partitions {
        match topics.last_mut() {
            Some(last) if last.topic == *tp.topic => last.partitions.push(tp.partition),
            _ => topics.push(ForgottenTopic {
                topic: tp.topic.to_string(),
                topic_id: if version >= FIRST_TOPIC_ID_VERSION { id_of(&tp.topic) } else { Uuid::ZERO },
                partitions: vec![tp.partition],
                ..Default::default()
            }),
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::consumer::fetch_session::{FetchSession, PartitionFetch};
    use crate::protocol::{Decode, Encode};

    fn settings() -> FetchSettings {
        FetchSettings { max_wait_ms: 500, min_bytes: 1, max_bytes: 1 << 20, isolation_level: 1 }
    }

    fn plan(sessions: bool, version: i16) -> FetchPlan {
        let f = |o| PartitionFetch { fetch_offset: o, partition_max_bytes: 4096, current_leader_epoch: 5 };
        let wanted = [(("a", 0), 10), (("a", 1), 11), (("b", 0), 12)]
            .into_iter()
            .map(|(tp, o)| (TopicPartition::from(tp), f(o)))
            .collect();
        FetchSession::new(sessions).next_plan(wanted, version)
    }

    fn ids() -> BTreeMap<Arc<str>, Uuid> {
        [(Arc::from("a"), Uuid([1; 16])), (Arc::from("b"), Uuid([2; 16]))].into_iter().collect()
    }

    /// Encodes at `version` and decodes back, as the broker would read it.
    fn on_the_wire(request: &FetchRequest, version: i16) -> FetchRequest {
        let mut buf = BytesMut::new();
        request.encode(&mut buf, version).unwrap_or_else(|e| panic!("v{version}: {e}"));
        FetchRequest::decode(&mut buf.freeze(), version).unwrap()
    }

    #[test]
    fn every_version_encodes_with_the_fields_it_has() {
        for version in 0..=16 {
            let request = fetch_request(&plan(true, version), &settings(), version, &ids());
            let read = on_the_wire(&request, version);
            assert_eq!(read.topics.len(), 2, "v{version}: grouped by topic");
            assert_eq!(read.topics[0].partitions.len(), 2);
            let p = &read.topics[0].partitions[1];
            assert_eq!((p.partition, p.fetch_offset, p.partition_max_bytes), (1, 11, 4096));
            assert_eq!(p.current_leader_epoch, if version >= 9 { 5 } else { -1 }, "v{version}");
            assert_eq!(read.max_bytes, if version >= 3 { 1 << 20 } else { i32::MAX });
            assert_eq!(read.isolation_level, if version >= 4 { 1 } else { 0 });
            assert_eq!(read.session_epoch, if version >= 7 { 0 } else { -1 }, "v{version}: initial epoch");
            if version >= 13 {
                assert_eq!((read.topics[0].topic_id, read.topics[1].topic_id), (Uuid([1; 16]), Uuid([2; 16])));
            } else {
                assert_eq!((read.topics[0].topic.as_str(), read.topics[1].topic.as_str()), ("a", "b"));
            }
        }
    }

    #[test]
    fn forgotten_topics_are_grouped_and_named_per_version() {
        for version in [7, 12, 13, 16] {
            let mut p = plan(true, version);
            p.forgotten = vec![TopicPartition::new("a", 2), TopicPartition::new("a", 3), TopicPartition::new("b", 1)];
            p.session_id = 9;
            p.session_epoch = 4;
            let read = on_the_wire(&fetch_request(&p, &settings(), version, &ids()), version);
            assert_eq!((read.session_id, read.session_epoch), (9, 4));
            assert_eq!(read.forgotten_topics_data.len(), 2);
            assert_eq!(read.forgotten_topics_data[0].partitions, [2, 3]);
            if version >= 13 {
                assert_eq!(read.forgotten_topics_data[1].topic_id, Uuid([2; 16]));
            } else {
                assert_eq!(read.forgotten_topics_data[1].topic, "b");
            }
        }
    }

    #[test]
    fn topic_ids_cap_the_version_only_when_one_is_missing() {
        assert_eq!(fetch_version(16, [Uuid([1; 16])].iter()), 16);
        assert_eq!(fetch_version(16, [Uuid([1; 16]), Uuid::ZERO].iter()), 12);
        assert_eq!(fetch_version(11, [Uuid::ZERO].iter()), 11);
    }
}
