//! The controller's plain state: nodes, topics with their leaders, producer ids.
//!
//! No actix and no I/O here, so every decision (where leaders go, what a failover
//! does, which node coordinates a group, what `cluster.meta` holds) is unit-tested.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;

use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::Uuid;

/// One broker node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeState {
    pub id: i32,
    pub addr: SocketAddr,
    pub up: bool,
}

/// Where one partition is led from. `leader` is -1 while every node is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionAssignment {
    pub leader: i32,
    pub leader_epoch: i32,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicState {
    pub id: Uuid,
    pub partitions: Vec<PartitionAssignment>,
}

/// A CreateTopics entry, before validation.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicSpec {
    pub name: String,
    /// -1: the cluster's default.
    pub num_partitions: i32,
    /// -1: the default (1).
    pub replication_factor: i16,
    /// Manual assignment: (partition index, replica broker ids); leader = first id.
    pub assignments: Vec<(i32, Vec<i32>)>,
}

/// A refusal: the Kafka error code and a message for the client.
pub(crate) type Refusal = (ErrorCode, String);

/// The whole cluster as the controller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterState {
    pub cluster_id: String,
    pub nodes: Vec<NodeState>,
    pub topics: BTreeMap<String, TopicState>,
    pub next_producer_id: i64,
    /// Where the next topic's first leader goes; advances per topic, so leaders of
    /// single-partition topics spread too.
    pub next_leader: usize,
}

/// Whether `name` is a legal topic name: 1-249 of `[a-zA-Z0-9._-]`, not "." or "..".
pub(crate) fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 249 {
        return Err(format!("topic name length {} is not 1-249", name.len()));
    }
    if name == "." || name == ".." {
        return Err(format!("topic name {name:?} is not allowed"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("topic name {name:?} holds {bad:?}; legal are [a-zA-Z0-9._-]"));
    }
    Ok(())
}

/// FNV-1a (32 bits): a hash that never changes between builds or runs.
pub(crate) fn stable_hash(key: &str) -> u32 {
    key.bytes().fold(0x811c_9dc5, |hash: u32, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// A random version-4 UUID from the standard library's randomly keyed hasher.
pub(crate) fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_usize(i);
        chunk.copy_from_slice(&hasher.finish().to_be_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid(bytes)
}

impl ClusterState {
    /// A fresh cluster of these nodes (all up), with a random cluster id.
    pub(crate) fn new(nodes: Vec<(i32, SocketAddr)>) -> Self {
        let id = random_uuid();
        ClusterState {
            cluster_id: hex(&id.0[..11]),
            nodes: nodes.into_iter().map(|(id, addr)| NodeState { id, addr, up: true }).collect(),
            topics: BTreeMap::new(),
            next_producer_id: 1000,
            next_leader: 0,
        }
    }

    /// The ids of the nodes that are up, in id order.
    pub(crate) fn up_nodes(&self) -> Vec<i32> {
        self.nodes.iter().filter(|n| n.up).map(|n| n.id).collect()
    }

    /// The node coordinating `group`: `up_nodes[hash % n]`, or None when all are down.
    pub(crate) fn coordinator(&self, group: &str) -> Option<i32> {
        let up = self.up_nodes();
        (!up.is_empty()).then(|| up[stable_hash(group) as usize % up.len()])
    }

    fn node(&self, id: i32) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Validates a CreateTopics entry and returns the leader of each partition.
    pub(crate) fn plan_topic(&self, spec: &TopicSpec, default_partitions: i32) -> Result<Vec<i32>, Refusal> {
        validate_topic_name(&spec.name).map_err(|m| (ErrorCode::InvalidTopicException, m))?;
        if self.topics.contains_key(&spec.name) {
            return Err((ErrorCode::TopicAlreadyExists, format!("topic {} already exists", spec.name)));
        }
        let nodes = i16::try_from(self.nodes.len()).unwrap_or(i16::MAX);
        if !spec.assignments.is_empty() {
            return self.plan_assignments(spec);
        }
        if spec.replication_factor != -1 && !(1..=nodes).contains(&spec.replication_factor) {
            let message = format!("replication factor {} is not -1 or 1-{nodes}", spec.replication_factor);
            return Err((ErrorCode::InvalidReplicationFactor, message));
        }
        let partitions = if spec.num_partitions == -1 { default_partitions } else { spec.num_partitions };
        if partitions < 1 {
            return Err((ErrorCode::InvalidPartitions, format!("partition count {partitions} is not positive")));
        }
        let up = self.up_nodes();
        if up.is_empty() {
            return Ok(vec![-1; partitions as usize]);
        }
        Ok((0..partitions as usize).map(|p| up[(self.next_leader + p) % up.len()]).collect())
    }

    fn plan_assignments(&self, spec: &TopicSpec) -> Result<Vec<i32>, Refusal> {
        if spec.num_partitions != -1 || spec.replication_factor != -1 {
            let message = "with manual assignments, num_partitions and replication_factor must be -1".to_string();
            return Err((ErrorCode::InvalidRequest, message));
        }
        let mut leaders = vec![None; spec.assignments.len()];
        for (index, brokers) in &spec.assignments {
            let slot = usize::try_from(*index).ok().and_then(|i| leaders.get_mut(i));
            let (Some(slot @ None), Some(&leader)) = (slot, brokers.first()) else {
                let message = format!("partition {index} is out of range, repeated or has no broker");
                return Err((ErrorCode::InvalidReplicaAssignment, message));
            };
            if let Some(unknown) = brokers.iter().find(|b| self.node(**b).is_none()) {
                return Err((ErrorCode::InvalidReplicaAssignment, format!("no broker {unknown}")));
            }
            *slot = Some(leader);
        }
        Ok(leaders.into_iter().flatten().collect())
    }

    /// Adds a topic whose leaders were planned; leader epochs start at 0.
    pub(crate) fn add_topic(&mut self, name: &str, id: Uuid, leaders: &[i32]) {
        let partitions = leaders.iter().map(|&leader| PartitionAssignment { leader, leader_epoch: 0 }).collect();
        self.topics.insert(name.to_string(), TopicState { id, partitions });
        self.next_leader = self.next_leader.wrapping_add(1);
    }

    /// The topic's name for a topic id.
    pub(crate) fn topic_name(&self, id: Uuid) -> Option<&str> {
        self.topics.iter().find(|(_, t)| t.id == id).map(|(name, _)| name.as_str())
    }

    /// Marks a node up or down. Down moves each partition it leads to the next up node
    /// (in id order, wrapping), leader epoch + 1; up gives it the leaderless partitions.
    ///
    /// # Errors
    ///
    /// `Err(())` for an unknown node.
    pub(crate) fn set_node_up(&mut self, node: i32, up: bool) -> Result<(), ()> {
        self.nodes.iter_mut().find(|n| n.id == node).ok_or(())?.up = up;
        let up_nodes = self.up_nodes();
        let next_up = |from: i32| -> i32 {
            up_nodes.iter().copied().find(|&n| n > from).or_else(|| up_nodes.first().copied()).unwrap_or(-1)
        };
        for topic in self.topics.values_mut() {
            for partition in &mut topic.partitions {
                let moves = if up { partition.leader == -1 } else { partition.leader == node };
                if moves {
                    partition.leader = if up { node } else { next_up(node) };
                    partition.leader_epoch += 1;
                }
            }
        }
        Ok(())
    }

    /// Moves a partition's leadership to `node` (epoch + 1 when it changes).
    pub(crate) fn move_leader(&mut self, topic: &str, partition: i32, node: i32) -> Result<(), Refusal> {
        if self.node(node).is_none() {
            return Err((ErrorCode::BrokerNotAvailable, format!("no node {node}")));
        }
        let assignment = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?))
            .ok_or((ErrorCode::UnknownTopicOrPartition, format!("no partition {topic}-{partition}")))?;
        if assignment.leader != node {
            assignment.leader = node;
            assignment.leader_epoch += 1;
        }
        Ok(())
    }

    /// A producer id never handed out before (the counter is persisted).
    pub(crate) fn allocate_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        id
    }

    /// The text of `cluster.meta`: line-based, versioned, human-readable.
    pub(crate) fn encode_meta(&self) -> String {
        let mut out = format!(
            "actix-kafka cluster.meta 1\ncluster_id {}\nnext_producer_id {}\nnext_leader {}\n",
            self.cluster_id, self.next_producer_id, self.next_leader
        );
        for (name, topic) in &self.topics {
            let partitions: Vec<String> =
                topic.partitions.iter().map(|p| format!("{}:{}", p.leader, p.leader_epoch)).collect();
            out.push_str(&format!("topic {name} {} {}\n", hex(&topic.id.0), partitions.join(",")));
        }
        out
    }

    /// Reads `cluster.meta` for a cluster of `nodes` (all up). A leader that is no longer
    /// a node moves to a live one, epoch + 1.
    pub(crate) fn decode_meta(text: &str, nodes: Vec<(i32, SocketAddr)>) -> Result<Self, String> {
        let mut state = ClusterState::new(nodes);
        let mut lines = text.lines();
        if lines.next() != Some("actix-kafka cluster.meta 1") {
            return Err("not a version 1 cluster.meta file".into());
        }
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["cluster_id", id] => state.cluster_id = (*id).to_string(),
                ["next_producer_id", n] => state.next_producer_id = parse(n, line)?,
                ["next_leader", n] => state.next_leader = parse(n, line)?,
                ["topic", name, id, partitions] => {
                    let id = unhex(id).ok_or_else(|| format!("bad topic id in {line:?}"))?;
                    let partitions = partitions
                        .split(',')
                        .map(|p| {
                            let (leader, epoch) =
                                p.split_once(':').ok_or_else(|| format!("bad partition in {line:?}"))?;
                            Ok(PartitionAssignment { leader: parse(leader, line)?, leader_epoch: parse(epoch, line)? })
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    state.topics.insert((*name).to_string(), TopicState { id, partitions });
                }
                _ => return Err(format!("unknown line {line:?}")),
            }
        }
        let up = state.up_nodes();
        let (mut spread, first) = (0usize, up.first().copied());
        for topic in state.topics.values_mut() {
            for partition in &mut topic.partitions {
                if !up.contains(&partition.leader) && first.is_some() {
                    partition.leader = up[spread % up.len()];
                    partition.leader_epoch += 1;
                    spread += 1;
                }
            }
        }
        Ok(state)
    }
}

fn parse<T: std::str::FromStr>(word: &str, line: &str) -> Result<T, String> {
    word.parse().map_err(|_| format!("bad number {word:?} in {line:?}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Uuid> {
    let mut id = [0u8; 16];
    if text.len() != 32 {
        return None;
    }
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Uuid(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(n: i32) -> ClusterState {
        ClusterState::new((0..n).map(|i| (i, SocketAddr::from(([127, 0, 0, 1], 9092 + i as u16)))).collect())
    }

    fn spec(name: &str, partitions: i32) -> TopicSpec {
        TopicSpec { name: name.into(), num_partitions: partitions, replication_factor: -1, assignments: vec![] }
    }

    #[test]
    fn leaders_spread_over_nodes_and_topics() {
        let mut state = cluster(3);
        let leaders = state.plan_topic(&spec("a", 6), 1).unwrap();
        assert_eq!(leaders, [0, 1, 2, 0, 1, 2]);
        state.add_topic("a", random_uuid(), &leaders);
        let single: Vec<i32> = ["b", "c", "d"]
            .iter()
            .map(|name| {
                let leaders = state.plan_topic(&spec(name, -1), 1).unwrap();
                state.add_topic(name, random_uuid(), &leaders);
                leaders[0]
            })
            .collect();
        assert_eq!(single, [1, 2, 0]);
    }

    #[test]
    fn topic_specs_are_validated() {
        let mut state = cluster(3);
        state.add_topic("taken", random_uuid(), &[0]);
        let code = |s: TopicSpec| state.plan_topic(&s, 1).unwrap_err().0;
        assert_eq!(code(spec("taken", 1)), ErrorCode::TopicAlreadyExists);
        assert_eq!(code(spec("bad name", 1)), ErrorCode::InvalidTopicException);
        assert_eq!(code(spec(&"x".repeat(250), 1)), ErrorCode::InvalidTopicException);
        assert_eq!(code(spec("..", 1)), ErrorCode::InvalidTopicException);
        assert_eq!(code(spec("zero", 0)), ErrorCode::InvalidPartitions);
        assert_eq!(code(TopicSpec { replication_factor: 4, ..spec("rf", 1) }), ErrorCode::InvalidReplicationFactor);
        assert_eq!(code(TopicSpec { replication_factor: 0, ..spec("rf", 1) }), ErrorCode::InvalidReplicationFactor);
        assert!(state.plan_topic(&TopicSpec { replication_factor: 3, ..spec("rf", 1) }, 1).is_ok());
        assert!(validate_topic_name("a.B_c-9").is_ok());
    }

    #[test]
    fn manual_assignments_choose_the_leaders() {
        let state = cluster(3);
        let manual = |assignments: Vec<(i32, Vec<i32>)>| TopicSpec { assignments, num_partitions: -1, ..spec("m", -1) };
        assert_eq!(state.plan_topic(&manual(vec![(1, vec![0, 1]), (0, vec![2])]), 1).unwrap(), [2, 0]);
        let refused = |s: TopicSpec| state.plan_topic(&s, 1).unwrap_err().0;
        assert_eq!(refused(manual(vec![(0, vec![7])])), ErrorCode::InvalidReplicaAssignment);
        assert_eq!(refused(manual(vec![(1, vec![0])])), ErrorCode::InvalidReplicaAssignment);
        assert_eq!(refused(manual(vec![(0, vec![0]), (0, vec![1])])), ErrorCode::InvalidReplicaAssignment);
        assert_eq!(refused(manual(vec![(0, vec![])])), ErrorCode::InvalidReplicaAssignment);
        assert_eq!(refused(TopicSpec { num_partitions: 1, ..manual(vec![(0, vec![0])]) }), ErrorCode::InvalidRequest);
    }

    #[test]
    fn a_down_node_hands_its_partitions_to_the_next_up_node() {
        let mut state = cluster(3);
        state.add_topic("t", random_uuid(), &[0, 1, 2]);
        state.set_node_up(1, false).unwrap();
        let t = &state.topics["t"].partitions;
        assert_eq!(t.iter().map(|p| (p.leader, p.leader_epoch)).collect::<Vec<_>>(), [(0, 0), (2, 1), (2, 0)]);
        state.set_node_up(2, false).unwrap();
        let t = &state.topics["t"].partitions;
        assert_eq!(t.iter().map(|p| (p.leader, p.leader_epoch)).collect::<Vec<_>>(), [(0, 0), (0, 2), (0, 1)]);
        state.set_node_up(0, false).unwrap();
        assert!(state.topics["t"].partitions.iter().all(|p| p.leader == -1));
        state.set_node_up(1, true).unwrap();
        assert!(state.topics["t"].partitions.iter().all(|p| p.leader == 1));
        assert_eq!(state.up_nodes(), [1]);
        assert!(state.set_node_up(9, true).is_err());
    }

    #[test]
    fn move_leader_bumps_the_epoch_once() {
        let mut state = cluster(2);
        state.add_topic("t", random_uuid(), &[0]);
        state.move_leader("t", 0, 1).unwrap();
        state.move_leader("t", 0, 1).unwrap();
        assert_eq!(state.topics["t"].partitions[0], PartitionAssignment { leader: 1, leader_epoch: 1 });
        assert_eq!(state.move_leader("t", 1, 1).unwrap_err().0, ErrorCode::UnknownTopicOrPartition);
        assert_eq!(state.move_leader("t", 0, 5).unwrap_err().0, ErrorCode::BrokerNotAvailable);
    }

    #[test]
    fn group_coordinators_are_stable_and_only_up_nodes() {
        let mut state = cluster(3);
        assert_eq!(stable_hash(""), 0x811c_9dc5);
        assert_eq!(stable_hash("a"), 0xe40c_292c);
        let before = state.coordinator("my-group");
        assert_eq!(before, state.coordinator("my-group"));
        let spread: std::collections::BTreeSet<_> = (0..30).map(|i| state.coordinator(&format!("g{i}"))).collect();
        assert_eq!(spread.len(), 3);
        state.set_node_up(0, false).unwrap();
        assert!((0..30).all(|i| state.coordinator(&format!("g{i}")) != Some(0)));
    }

    #[test]
    fn meta_roundtrips_and_reassigns_missing_leaders() {
        let mut state = cluster(3);
        state.add_topic("t", random_uuid(), &[0, 1, 2]);
        state.move_leader("t", 0, 2).unwrap();
        state.allocate_producer_id();
        let nodes: Vec<_> = state.nodes.iter().map(|n| (n.id, n.addr)).collect();
        let back = ClusterState::decode_meta(&state.encode_meta(), nodes).unwrap();
        assert_eq!(back, state);

        let two = ClusterState::decode_meta(&state.encode_meta(), nodes_of(2)).unwrap();
        let t = &two.topics["t"].partitions;
        assert_eq!(t.iter().map(|p| (p.leader, p.leader_epoch)).collect::<Vec<_>>(), [(0, 2), (1, 0), (1, 1)]);
        assert_eq!(two.next_producer_id, 1001);
        assert!(ClusterState::decode_meta("garbage", nodes_of(1)).is_err());
        assert!(ClusterState::decode_meta("actix-kafka cluster.meta 1\ntopic t zz 0:0\n", nodes_of(1)).is_err());
    }

    fn nodes_of(n: i32) -> Vec<(i32, SocketAddr)> {
        cluster(n).nodes.iter().map(|node| (node.id, node.addr)).collect()
    }

    #[test]
    fn random_uuids_differ() {
        assert_ne!(random_uuid(), random_uuid());
        assert_ne!(random_uuid(), Uuid::ZERO);
    }
}
