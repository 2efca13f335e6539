//! [`EmbeddedCluster`]: start, stop, and the public fault hooks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, Addr, Arbiter};
use tokio::sync::watch;

use super::config::{EmbeddedClusterBuilder, ListenerSecurity};
use super::context::Shared;
use super::control::{self, Command};
use super::controller::{ClusterView, Controller, CreateTopic, MoveLeader, Recover, SetNodeUp, StorageSettings};
use super::error::EmbeddedError;
use super::faults::Faults;
use super::fetch_sessions::NodeSessions;
use super::group::{GroupConfig, Groups};
use super::listener::{self, ListenerHandle};
use super::log::FsyncPolicy;
use super::partition::{Close, ForgetProducers};
use super::state::{ClusterState, Refusal, TopicSpec};
use crate::protocol::api_key::ApiKey;
use crate::protocol::error_code::ErrorCode;

/// N Kafka-compatible broker nodes in this process; see the [module docs](super).
pub struct EmbeddedCluster {
    shared: Arc<Shared>,
    nodes: Vec<(i32, SocketAddr)>,
    /// The running listener of each node that is up.
    listeners: tokio::sync::Mutex<BTreeMap<i32, ListenerHandle>>,
    storage: Arbiter,
}

impl std::fmt::Debug for EmbeddedCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedCluster").field("nodes", &self.nodes).finish_non_exhaustive()
    }
}

impl EmbeddedCluster {
    /// A builder with every default: one node on an ephemeral loopback port, in memory.
    pub fn builder() -> EmbeddedClusterBuilder {
        EmbeddedClusterBuilder::default()
    }

    pub(crate) async fn start(builder: EmbeddedClusterBuilder) -> Result<Self, EmbeddedError> {
        let addrs = builder.node_listen_addrs()?;
        let security = ListenerSecurity::new(&builder)?;
        let data_dir = builder.data_dir.clone();
        if let Some(dir) = &data_dir {
            std::fs::create_dir_all(dir).map_err(|source| EmbeddedError::Io {
                what: "create",
                path: dir.clone(),
                source,
            })?;
        }
        let mut bound = Vec::with_capacity(addrs.len());
        for (id, addr) in (0..).zip(addrs) {
            let listener = listener::bind(addr).await?;
            let local = listener.local_addr().map_err(|source| EmbeddedError::Bind { addr, source })?;
            bound.push((id, local, listener));
        }
        let nodes: Vec<(i32, SocketAddr)> = bound.iter().map(|(id, addr, _)| (*id, *addr)).collect();
        let state = load_state(data_dir.as_ref(), nodes.clone())?;

        let (appended, _) = watch::channel(0u64);
        let initial = ClusterView { state: state.clone(), logs: BTreeMap::new() };
        let (view_sender, view) = watch::channel(Arc::new(initial));
        let settings = StorageSettings {
            data_dir: data_dir.clone(),
            fsync: builder.fsync,
            default_partitions: builder.default_partitions,
        };
        let storage = Arbiter::new();
        let signal = appended.clone();
        let controller: Addr<Controller> = Controller::start_in_arbiter(&storage.handle(), move |_| {
            Controller::new(state, settings, signal, view_sender)
        });
        let recovered = controller.send(Recover).await.map_err(EmbeddedError::from).and_then(|r| r);
        let groups = recovered.and_then(|()| {
            Groups::start(GroupConfig {
                data_dir: data_dir.as_ref().map(|d| d.join("groups")),
                initial_rebalance_delay: builder.group_initial_rebalance_delay,
                fsync_every_commit: matches!(builder.fsync, FsyncPolicy::EveryBatch),
                ..GroupConfig::default()
            })
            .map_err(|error| EmbeddedError::Group { reason: error.to_string() })
        });
        let groups = match groups {
            Ok(groups) => groups,
            Err(error) => {
                storage.stop();
                return Err(error);
            }
        };
        let shared = Arc::new(Shared {
            controller,
            view,
            appended,
            faults: Mutex::new(Faults::default()),
            fetch_sessions: Mutex::new(NodeSessions::default()),
            groups,
            auto_create_topics: builder.auto_create_topics,
            max_frame_size: builder.max_frame_size,
            security,
        });
        let listeners =
            bound.into_iter().map(|(id, _, socket)| (id, listener::spawn(socket, id, shared.clone()))).collect();
        let cluster = EmbeddedCluster { shared, nodes, listeners: tokio::sync::Mutex::new(listeners), storage };
        tracing::info!(bootstrap = %cluster.bootstrap(), data_dir = ?data_dir, "embedded cluster started");
        Ok(cluster)
    }

    /// The bootstrap list, `127.0.0.1:p0,127.0.0.1:p1,...`, nodes in id order.
    pub fn bootstrap(&self) -> String {
        self.nodes.iter().map(|(_, addr)| addr.to_string()).collect::<Vec<_>>().join(",")
    }

    /// Each node's id and listen address (down nodes included).
    pub fn node_addrs(&self) -> Vec<(i32, SocketAddr)> {
        self.nodes.clone()
    }

    /// Stops the listeners, closes every session, flushes and fsyncs every partition log
    /// and the group store, and stops the storage thread.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::Log`] for the first log that failed to sync (the others are
    /// still closed), [`EmbeddedError::Stopped`] when the actors were already gone.
    pub async fn shutdown(self) -> Result<(), EmbeddedError> {
        let listeners = std::mem::take(&mut *self.listeners.lock().await);
        for (_, listener) in listeners {
            listener.stop().await;
        }
        let view = self.shared.view();
        let mut result = Ok(());
        for (topic, logs) in &view.logs {
            for (partition, log) in (0..).zip(logs) {
                match log.send(Close).await {
                    Ok(Ok(())) | Err(_) => {}
                    Ok(Err(source)) => {
                        tracing::warn!(%topic, partition, error = %source, "cannot sync a partition log");
                        if result.is_ok() {
                            result = Err(EmbeddedError::Log { topic: topic.clone(), partition, source });
                        }
                    }
                }
            }
        }
        self.shared.groups.shutdown().await;
        self.storage.stop();
        tracing::info!(bootstrap = %self.bootstrap(), "embedded cluster stopped");
        result
    }

    /// Creates a topic with `partitions` partitions, leaders spread over the up nodes.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::InvalidTopic`] for an illegal name, an existing topic or a
    /// partition count below 1.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<(), EmbeddedError> {
        let spec = TopicSpec {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor: -1,
            assignments: vec![],
        };
        match self.shared.controller.send(CreateTopic { spec, validate_only: false }).await? {
            Ok(_) => Ok(()),
            Err((_, reason)) => Err(EmbeddedError::InvalidTopic { topic: name.to_string(), reason }),
        }
    }

    fn check_node(&self, node: i32) -> Result<SocketAddr, EmbeddedError> {
        self.nodes.iter().find(|(id, _)| *id == node).map(|(_, addr)| *addr).ok_or(EmbeddedError::UnknownNode { node })
    }

    /// Takes node `node` down: its listener and every session on it close, and each
    /// partition it leads moves to the next up node with leader epoch + 1 (the log is
    /// shared in-process, as a replicated cluster failing over). Groups it coordinated
    /// move too. Already down: nothing happens.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::UnknownNode`].
    pub async fn node_down(&self, node: i32) -> Result<(), EmbeddedError> {
        self.check_node(node)?;
        let mut listeners = self.listeners.lock().await;
        let Some(listener) = listeners.remove(&node) else {
            return Ok(());
        };
        self.shared.controller.send(SetNodeUp { node, up: false }).await??;
        listener.stop().await;
        self.shared.fetch_sessions().node_down(node);
        tracing::info!(node, "node down");
        Ok(())
    }

    /// Brings node `node` back on the same port. It leads the partitions that had no
    /// leader; others stay where failover put them (use [`move_leader`](Self::move_leader)).
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::UnknownNode`], or [`EmbeddedError::Bind`] if the port was taken
    /// meanwhile.
    pub async fn node_up(&self, node: i32) -> Result<(), EmbeddedError> {
        let addr = self.check_node(node)?;
        let mut listeners = self.listeners.lock().await;
        if listeners.contains_key(&node) {
            return Ok(());
        }
        let socket = listener::bind(addr).await?;
        listeners.insert(node, listener::spawn(socket, node, self.shared.clone()));
        self.shared.controller.send(SetNodeUp { node, up: true }).await??;
        tracing::info!(node, "node up");
        Ok(())
    }

    /// Moves the leadership of `topic`-`partition` to `node` (leader epoch + 1).
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::UnknownTopic`] or [`EmbeddedError::UnknownNode`].
    pub async fn move_leader(&self, topic: &str, partition: i32, node: i32) -> Result<(), EmbeddedError> {
        let moved: Result<(), Refusal> =
            self.shared.controller.send(MoveLeader { topic: topic.to_string(), partition, node }).await?;
        moved.map_err(|(code, _)| match code {
            ErrorCode::BrokerNotAvailable => EmbeddedError::UnknownNode { node },
            _ => EmbeddedError::UnknownTopic { topic: topic.to_string(), partition: Some(partition) },
        })
    }

    /// Answers the next `count` requests of `api` (on `node`, or on any node when None)
    /// with `code` in every error field, without doing anything else. Injections queue:
    /// the oldest matching one is used first.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::UnknownNode`].
    pub async fn inject_error(
        &self,
        api: ApiKey,
        code: ErrorCode,
        count: u32,
        node: Option<i32>,
    ) -> Result<(), EmbeddedError> {
        if let Some(node) = node {
            self.check_node(node)?;
        }
        self.shared.faults().inject_error(api, code, count, node);
        Ok(())
    }

    /// Adds `latency` before answering each request of `api`; zero removes it.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for checks.
    pub async fn set_latency(&self, api: ApiKey, latency: Duration) -> Result<(), EmbeddedError> {
        self.shared.faults().set_latency(api, latency);
        Ok(())
    }

    /// The next `count` produce requests that append are appended, then their connection
    /// is closed without an answer (the client cannot tell whether they landed).
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for checks.
    pub async fn drop_after_append(&self, count: u32) -> Result<(), EmbeddedError> {
        self.shared.faults().set_drop_after_append(count);
        Ok(())
    }

    /// Makes every partition log forget its idempotent producers, so their next produce
    /// answers UNKNOWN_PRODUCER_ID.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::Stopped`] when the storage actors are gone.
    pub async fn forget_producer_state(&self) -> Result<(), EmbeddedError> {
        let view = self.shared.view();
        for log in view.logs.values().flatten() {
            log.send(ForgetProducers).await?;
        }
        Ok(())
    }

    /// Answers to `api` carry `throttle_time_ms` (in the versions that have it); zero
    /// removes it.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for checks.
    pub async fn throttle(&self, api: ApiKey, throttle_ms: i32) -> Result<(), EmbeddedError> {
        self.shared.faults().set_throttle(api, throttle_ms);
        Ok(())
    }

    /// The next `count` fetch answers that carry records of `topic`-`partition` have one
    /// byte inverted inside the first batch's records, so the client's CRC-32C check
    /// fails; the stored log is untouched, so a refetch after the count is clean. Zero
    /// clears.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for checks.
    pub async fn corrupt_fetch(&self, topic: &str, partition: i32, count: u32) -> Result<(), EmbeddedError> {
        self.shared.faults().set_corrupt_fetch(topic, partition, count);
        Ok(())
    }

    /// The next `count` fetches that include `topic`-`partition` answer it with no
    /// records but its true high watermark, so the client sees lag and no data (a
    /// stalled partition). A held partition adds no bytes, so a long poll waiting for it
    /// waits its whole max_wait. Zero clears.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for checks.
    pub async fn hold_fetch(&self, topic: &str, partition: i32, count: u32) -> Result<(), EmbeddedError> {
        self.shared.faults().set_hold_fetch(topic, partition, count);
        Ok(())
    }

    /// Runs one control command line (the CLI's `--control-stdin` language) and answers
    /// `"ok <line>"`:
    ///
    /// `down NODE` | `up NODE` | `leader TOPIC PARTITION NODE` |
    /// `error API CODE [COUNT] [NODE]` | `latency API MS` | `drop-after-append COUNT` |
    /// `forget-producers` | `throttle API MS` | `create-topic NAME PARTITIONS` |
    /// `corrupt-fetch TOPIC PARTITION [COUNT]` | `hold-fetch TOPIC PARTITION [COUNT]`.
    ///
    /// API by name (`Produce`, any case) or key number; CODE by Kafka name
    /// (`NOT_LEADER_OR_FOLLOWER`, any case) or number; COUNT defaults to 1.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::InvalidCommand`] for a line that does not parse, else the error
    /// of the hook it runs.
    pub async fn control(&self, line: &str) -> Result<String, EmbeddedError> {
        let line = line.trim();
        let command =
            control::parse(line).map_err(|reason| EmbeddedError::InvalidCommand { line: line.to_string(), reason })?;
        match command {
            Command::Down(node) => self.node_down(node).await?,
            Command::Up(node) => self.node_up(node).await?,
            Command::Leader { topic, partition, node } => self.move_leader(&topic, partition, node).await?,
            Command::Error { api, code, count, node } => self.inject_error(api, code, count, node).await?,
            Command::Latency { api, latency } => self.set_latency(api, latency).await?,
            Command::DropAfterAppend(count) => self.drop_after_append(count).await?,
            Command::ForgetProducers => self.forget_producer_state().await?,
            Command::Throttle { api, throttle_ms } => self.throttle(api, throttle_ms).await?,
            Command::CreateTopic { name, partitions } => self.create_topic(&name, partitions).await?,
            Command::CorruptFetch { topic, partition, count } => self.corrupt_fetch(&topic, partition, count).await?,
            Command::HoldFetch { topic, partition, count } => self.hold_fetch(&topic, partition, count).await?,
        }
        Ok(format!("ok {line}"))
    }
}

impl Drop for EmbeddedCluster {
    /// A cluster dropped without [`shutdown`](Self::shutdown) stops serving at once:
    /// listeners and sessions are aborted and the storage thread is told to stop
    /// (logs are not fsynced first; data in memory is lost, as documented).
    fn drop(&mut self) {
        if let Ok(mut listeners) = self.listeners.try_lock() {
            for (_, listener) in std::mem::take(&mut *listeners) {
                listener.abort();
            }
        }
        self.storage.stop();
    }
}

fn load_state(data_dir: Option<&PathBuf>, nodes: Vec<(i32, SocketAddr)>) -> Result<ClusterState, EmbeddedError> {
    let Some(path) = data_dir.map(|d| d.join("cluster.meta")) else {
        return Ok(ClusterState::new(nodes));
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => ClusterState::decode_meta(&text, nodes)
            .map_err(|reason| EmbeddedError::InvalidConfig { reason: format!("{}: {reason}", path.display()) }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(ClusterState::new(nodes)),
        Err(source) => Err(EmbeddedError::Io { what: "read", path, source }),
    }
}
