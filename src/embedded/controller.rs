//! The controller: the one writer of the cluster's topic table and node states.
//!
//! An actor on the storage arbiter wrapping the plain [`ClusterState`]: it opens and
//! starts partition actors, persists `cluster.meta` (temp file, fsync, rename) on every
//! change, and publishes each new state as an immutable [`ClusterView`] on a `watch`
//! channel. Sessions read the latest view without a message round trip; only changes
//! (create, delete, failover, producer ids) queue here, one at a time.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler, Message};
use tokio::sync::watch;

use super::error::EmbeddedError;
use super::log::{FsyncPolicy, LogConfig, PartitionLog};
use super::partition::{Delete, PartitionActor};
use super::state::{random_uuid, ClusterState, PartitionAssignment, Refusal, TopicSpec};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::Uuid;

/// The cluster at one moment, as handlers read it.
#[derive(Debug, Clone)]
pub(crate) struct ClusterView {
    pub state: ClusterState,
    pub logs: BTreeMap<String, Vec<Addr<PartitionActor>>>,
}

impl ClusterView {
    /// A partition's leadership and its actor.
    pub(crate) fn partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Option<(PartitionAssignment, &Addr<PartitionActor>)> {
        let index = usize::try_from(partition).ok()?;
        let assignment = *self.state.topics.get(topic)?.partitions.get(index)?;
        Some((assignment, self.logs.get(topic)?.get(index)?))
    }

    /// The node with this id.
    pub(crate) fn node(&self, id: i32) -> Option<&super::state::NodeState> {
        self.state.nodes.iter().find(|n| n.id == id)
    }

    /// The controller id Metadata reports: the first node that is up.
    pub(crate) fn controller_id(&self) -> i32 {
        self.state.up_nodes().first().copied().unwrap_or(-1)
    }
}

/// Where and how partition logs are stored.
#[derive(Debug, Clone)]
pub(crate) struct StorageSettings {
    pub data_dir: Option<PathBuf>,
    pub fsync: FsyncPolicy,
    pub default_partitions: i32,
}

/// The controller actor.
pub(crate) struct Controller {
    state: ClusterState,
    logs: BTreeMap<String, Vec<Addr<PartitionActor>>>,
    settings: StorageSettings,
    appended: watch::Sender<u64>,
    view: watch::Sender<Arc<ClusterView>>,
}

impl Actor for Controller {
    type Context = Context<Self>;
}

impl Controller {
    pub(crate) fn new(
        state: ClusterState,
        settings: StorageSettings,
        appended: watch::Sender<u64>,
        view: watch::Sender<Arc<ClusterView>>,
    ) -> Self {
        Self { state, logs: BTreeMap::new(), settings, appended, view }
    }

    fn publish(&self) {
        self.view.send_replace(Arc::new(ClusterView { state: self.state.clone(), logs: self.logs.clone() }));
    }

    fn persist(&self) -> Result<(), EmbeddedError> {
        match &self.settings.data_dir {
            Some(dir) => write_atomically(&dir.join("cluster.meta"), self.state.encode_meta().as_bytes()),
            None => Ok(()),
        }
    }

    /// Opens and starts the actors of a topic's partitions.
    fn open_topic(&self, name: &str, id: Uuid, partitions: usize) -> Result<Vec<Addr<PartitionActor>>, EmbeddedError> {
        let durable = self.settings.data_dir.is_some();
        (0..partitions)
            .map(|p| {
                let dir = self.settings.data_dir.as_ref().map(|d| partition_dir(d, name, id, p));
                let config = LogConfig { dir, fsync: self.settings.fsync, ..LogConfig::default() };
                let partition = i32::try_from(p).unwrap_or(i32::MAX);
                let (log, _report) = PartitionLog::open(config).map_err(|source| EmbeddedError::Log {
                    topic: name.to_string(),
                    partition,
                    source,
                })?;
                let fsync = self.settings.fsync;
                let actor =
                    PartitionActor::new(name.to_string(), partition, log, self.appended.clone(), fsync, durable);
                Ok(actor.start())
            })
            .collect()
    }
}

/// `DIR/<topic>-<first 8 hex digits of its id>/<partition>`: a recreated topic of the
/// same name never meets the files of the deleted one.
pub(crate) fn partition_dir(data_dir: &Path, topic: &str, id: Uuid, partition: usize) -> PathBuf {
    let short: String = id.0[..4].iter().map(|b| format!("{b:02x}")).collect();
    data_dir.join(format!("{topic}-{short}")).join(partition.to_string())
}

/// Writes `path` so that a crash leaves the old or the new content, never a mix.
pub(crate) fn write_atomically(path: &Path, content: &[u8]) -> Result<(), EmbeddedError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| EmbeddedError::Io { what, path, source }
    };
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp).map_err(io("create", &temp))?;
    file.write_all(content).map_err(io("write", &temp))?;
    file.sync_all().map_err(io("fsync", &temp))?;
    std::fs::rename(&temp, path).map_err(io("rename", path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("fsync", dir))?;
    }
    Ok(())
}

/// Opens every topic the loaded state lists; run once, before serving.
#[derive(Message)]
#[rtype(result = "Result<(), EmbeddedError>")]
pub(crate) struct Recover;

impl Handler<Recover> for Controller {
    type Result = Result<(), EmbeddedError>;

    fn handle(&mut self, _: Recover, _: &mut Self::Context) -> Self::Result {
        let topics: Vec<(String, Uuid, usize)> =
            self.state.topics.iter().map(|(name, t)| (name.clone(), t.id, t.partitions.len())).collect();
        for (name, id, partitions) in topics {
            let logs = self.open_topic(&name, id, partitions)?;
            self.logs.insert(name, logs);
        }
        self.persist()?;
        self.publish();
        Ok(())
    }
}

/// Creates a topic (CreateTopics, auto-creation, `create_topic`).
#[derive(Message)]
#[rtype(result = "Result<(Uuid, i32), Refusal>")]
pub(crate) struct CreateTopic {
    pub spec: TopicSpec,
    pub validate_only: bool,
}

impl Handler<CreateTopic> for Controller {
    type Result = Result<(Uuid, i32), Refusal>;

    fn handle(&mut self, msg: CreateTopic, _: &mut Self::Context) -> Self::Result {
        let leaders = self.state.plan_topic(&msg.spec, self.settings.default_partitions)?;
        let count = i32::try_from(leaders.len()).unwrap_or(i32::MAX);
        if msg.validate_only {
            return Ok((Uuid::ZERO, count));
        }
        let id = random_uuid();
        let storage = |e: EmbeddedError| (ErrorCode::KafkaStorageError, e.to_string());
        let logs = self.open_topic(&msg.spec.name, id, leaders.len()).map_err(storage)?;
        self.state.add_topic(&msg.spec.name, id, &leaders);
        self.logs.insert(msg.spec.name.clone(), logs);
        tracing::info!(topic = %msg.spec.name, partitions = count, "topic created");
        self.persist().map_err(storage)?;
        self.publish();
        Ok((id, count))
    }
}

/// Deletes a topic and its partitions' data.
#[derive(Message)]
#[rtype(result = "Result<(), Refusal>")]
pub(crate) struct DeleteTopic {
    pub name: String,
}

impl Handler<DeleteTopic> for Controller {
    type Result = Result<(), Refusal>;

    fn handle(&mut self, msg: DeleteTopic, _: &mut Self::Context) -> Self::Result {
        let unknown = || (ErrorCode::UnknownTopicOrPartition, format!("no topic {}", msg.name));
        self.state.topics.remove(&msg.name).ok_or_else(unknown)?;
        for log in self.logs.remove(&msg.name).unwrap_or_default() {
            log.do_send(Delete);
        }
        tracing::info!(topic = %msg.name, "topic deleted");
        self.persist().map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
        self.publish();
        Ok(())
    }
}

/// Marks a node up or down, moving leadership as [`ClusterState::set_node_up`] says.
#[derive(Message)]
#[rtype(result = "Result<(), EmbeddedError>")]
pub(crate) struct SetNodeUp {
    pub node: i32,
    pub up: bool,
}

impl Handler<SetNodeUp> for Controller {
    type Result = Result<(), EmbeddedError>;

    fn handle(&mut self, msg: SetNodeUp, _: &mut Self::Context) -> Self::Result {
        self.state.set_node_up(msg.node, msg.up).map_err(|()| EmbeddedError::UnknownNode { node: msg.node })?;
        self.persist()?;
        self.publish();
        Ok(())
    }
}

/// Moves one partition's leadership.
#[derive(Message)]
#[rtype(result = "Result<(), Refusal>")]
pub(crate) struct MoveLeader {
    pub topic: String,
    pub partition: i32,
    pub node: i32,
}

impl Handler<MoveLeader> for Controller {
    type Result = Result<(), Refusal>;

    fn handle(&mut self, msg: MoveLeader, _: &mut Self::Context) -> Self::Result {
        self.state.move_leader(&msg.topic, msg.partition, msg.node)?;
        self.persist().map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
        self.publish();
        Ok(())
    }
}

/// Hands out a new producer id; the counter is persisted before the id is answered.
#[derive(Message)]
#[rtype(result = "Result<i64, ErrorCode>")]
pub(crate) struct AllocateProducerId;

impl Handler<AllocateProducerId> for Controller {
    type Result = Result<i64, ErrorCode>;

    fn handle(&mut self, _: AllocateProducerId, _: &mut Self::Context) -> Self::Result {
        let id = self.state.allocate_producer_id();
        self.persist().map_err(|error| {
            tracing::warn!(%error, "cannot persist the producer id counter");
            ErrorCode::KafkaStorageError
        })?;
        self.publish();
        Ok(id)
    }
}
