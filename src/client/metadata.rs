//! [`ClusterMetadata`]: the cached view of the cluster, built from a
//! `MetadataResponse`, and the `MetadataRequest` that asks for it.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::protocol::messages::metadata_request::MetadataRequestTopic;
use crate::protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponseTopic};
use crate::protocol::messages::{MetadataRequest, MetadataResponse};
use crate::protocol::primitives::Uuid;
use crate::protocol::ErrorCode;

/// What the cluster looked like at the last metadata refresh.
///
/// Shared behind an `Arc`: every caller of a refresh gets the same snapshot. A topic
/// the broker does not know stays in [`topics`](Self::topics) with its error
/// (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE while it is being created...):
/// callers decide whether to wait.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterMetadata {
    /// The cluster id (Metadata v2+).
    pub cluster_id: Option<String>,
    /// The controller's node id, -1 when unknown (v0).
    pub controller_id: i32,
    /// The live brokers by node id.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Every topic asked for so far, by name.
    pub topics: BTreeMap<String, TopicMetadata>,
    /// When the response arrived.
    pub fetched_at: Instant,
}

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The node id.
    pub id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: i32,
    /// The rack, if configured (v1+).
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`, as [`BrokerConnection::connect`](crate::net::BrokerConnection::connect) takes it.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic name.
    pub name: String,
    /// The topic-level error; [`ErrorCode::None`] when the topic is usable.
    pub error: ErrorCode,
    /// The topic id (v10+), [`Uuid::ZERO`] before.
    pub id: Uuid,
    /// The partitions, sorted by id.
    pub partitions: Vec<PartitionMetadata>,
}

/// One partition's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The partition index.
    pub id: i32,
    /// The leader's node id; `None` while there is none (the wire's -1).
    pub leader: Option<i32>,
    /// The leader epoch (v7+), -1 before.
    pub leader_epoch: i32,
    /// The partition-level error.
    pub error: ErrorCode,
}

impl ClusterMetadata {
    /// Converts a response received at `fetched_at`. Topics without a name (asked
    /// for by id, v12+) are left out: this client asks by name.
    pub fn from_response(response: MetadataResponse, fetched_at: Instant) -> Self {
        let brokers = response.brokers.into_iter().map(broker).map(|b| (b.id, b)).collect();
        let topics = response.topics.into_iter().filter_map(topic).map(|t| (t.name.clone(), t)).collect();
        Self { cluster_id: response.cluster_id, controller_id: response.controller_id, brokers, topics, fetched_at }
    }

    /// The broker leading `topic`-`partition`, if known and alive.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<&BrokerInfo> {
        let topic = self.topics.get(topic)?;
        let index = topic.partitions.binary_search_by_key(&partition, |p| p.id).ok()?;
        self.brokers.get(&topic.partitions[index].leader?)
    }

    /// How many partitions `topic` has, if it is known without a topic-level error.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        self.topics.get(topic).filter(|t| t.error.is_ok()).map(|t| t.partitions.len())
    }

    /// Whether `topic` is present and has no topic-level error.
    pub fn knows(&self, topic: &str) -> bool {
        self.topics.get(topic).is_some_and(|t| t.error.is_ok())
    }
}

fn broker(b: MetadataResponseBroker) -> BrokerInfo {
    BrokerInfo { id: b.node_id, host: b.host, port: b.port, rack: b.rack }
}

fn topic(t: MetadataResponseTopic) -> Option<TopicMetadata> {
    let mut partitions: Vec<PartitionMetadata> = t
        .partitions
        .into_iter()
        .map(|p| PartitionMetadata {
            id: p.partition_index,
            leader: (p.leader_id >= 0).then_some(p.leader_id),
            leader_epoch: p.leader_epoch,
            error: ErrorCode::from_i16(p.error_code),
        })
        .collect();
    partitions.sort_by_key(|p| p.id);
    Some(TopicMetadata { name: t.name?, error: ErrorCode::from_i16(t.error_code), id: t.topic_id, partitions })
}

/// The MetadataRequest for `topics` at `version`: only the fields that version has
/// are set (the codec refuses a non-default value for a missing field). An empty list
/// asks for no topic (v1+) or, at v0 where no topic cannot be asked, for all of them.
pub(crate) fn metadata_request<'a>(
    topics: impl IntoIterator<Item = &'a String>,
    version: i16,
    allow_auto_topic_creation: bool,
) -> MetadataRequest {
    let topics = topics
        .into_iter()
        .map(|name| MetadataRequestTopic { name: Some(name.clone()), ..Default::default() })
        .collect();
    let mut request = MetadataRequest { topics: Some(topics), ..Default::default() };
    if version >= 4 {
        request.allow_auto_topic_creation = allow_auto_topic_creation;
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::metadata_response::MetadataResponsePartition;
    use crate::protocol::{Decode, Encode};
    use bytes::BytesMut;

    fn partition(index: i32, leader: i32, error: ErrorCode) -> MetadataResponsePartition {
        MetadataResponsePartition {
            partition_index: index,
            leader_id: leader,
            leader_epoch: 3,
            error_code: error.code(),
            ..Default::default()
        }
    }

    fn response() -> MetadataResponse {
        let broker = |id, port| MetadataResponseBroker {
            node_id: id,
            host: "h".into(),
            port,
            rack: Some("r1".into()),
            ..Default::default()
        };
        let t = MetadataResponseTopic {
            name: Some("t".into()),
            topic_id: Uuid([7; 16]),
            partitions: vec![partition(1, -1, ErrorCode::LeaderNotAvailable), partition(0, 2, ErrorCode::None)],
            ..Default::default()
        };
        let unknown = MetadataResponseTopic {
            name: Some("missing".into()),
            error_code: ErrorCode::UnknownTopicOrPartition.code(),
            ..Default::default()
        };
        MetadataResponse {
            brokers: vec![broker(2, 9093), broker(1, 9092)],
            cluster_id: Some("c".into()),
            controller_id: 1,
            topics: vec![t, unknown],
            ..Default::default()
        }
    }

    /// Sends the response through the codec at `version`, as a broker of that version would.
    fn at_version(response: MetadataResponse, version: i16) -> ClusterMetadata {
        let mut buf = BytesMut::new();
        response.encode(&mut buf, version).unwrap();
        let decoded = MetadataResponse::decode(&mut buf.freeze(), version).unwrap();
        ClusterMetadata::from_response(decoded, Instant::now())
    }

    #[test]
    fn converts_the_v1_v9_and_v12_shapes() {
        for version in [1, 9, 12] {
            let metadata = at_version(response(), version);
            assert_eq!(metadata.brokers.keys().copied().collect::<Vec<_>>(), [1, 2], "v{version}");
            assert_eq!(metadata.brokers[&2].addr(), "h:9093");
            assert_eq!(metadata.brokers[&1].rack.as_deref(), Some("r1"));
            assert_eq!(metadata.controller_id, 1);
            assert_eq!(metadata.cluster_id.as_deref(), (version >= 2).then_some("c"));
            let t = &metadata.topics["t"];
            assert_eq!(t.partitions.iter().map(|p| p.id).collect::<Vec<_>>(), [0, 1], "sorted by id");
            assert_eq!(t.partitions[1].leader, None, "leader -1 is None");
            assert_eq!(t.partitions[1].error, ErrorCode::LeaderNotAvailable);
            assert_eq!(t.partitions[0].leader_epoch, if version >= 7 { 3 } else { -1 });
            assert_eq!(t.id, if version >= 10 { Uuid([7; 16]) } else { Uuid::ZERO });
            assert_eq!(metadata.leader("t", 0).map(|b| b.id), Some(2));
            assert_eq!(metadata.leader("t", 1), None);
            assert_eq!(metadata.leader("t", 9), None);
            assert_eq!(metadata.partition_count("t"), Some(2));
            assert_eq!(metadata.topics["missing"].error, ErrorCode::UnknownTopicOrPartition);
            assert_eq!(metadata.partition_count("missing"), None);
            assert!(metadata.knows("t") && !metadata.knows("missing") && !metadata.knows("other"));
        }
    }

    #[test]
    fn nameless_topics_are_left_out_and_ipv6_hosts_are_bracketed() {
        let mut response = response();
        response.topics.push(MetadataResponseTopic { name: None, ..Default::default() });
        response.brokers[0].host = "::1".into();
        let metadata = ClusterMetadata::from_response(response, Instant::now());
        assert_eq!(metadata.topics.len(), 2);
        assert_eq!(metadata.brokers[&2].addr(), "[::1]:9093");
    }

    #[test]
    fn requests_encode_at_every_version() {
        let topics = ["a".to_owned(), "b".to_owned()];
        for version in 0..=12 {
            for allow in [true, false] {
                let request = metadata_request(&topics, version, allow);
                let mut buf = BytesMut::new();
                let encoded = request.encode(&mut buf, version);
                assert!(encoded.is_ok(), "v{version} allow {allow}: {encoded:?}");
                let decoded = MetadataRequest::decode(&mut buf.freeze(), version).unwrap();
                assert_eq!(decoded.topics.unwrap().len(), 2);
                assert_eq!(decoded.allow_auto_topic_creation, allow || version < 4);
            }
        }
    }
}
