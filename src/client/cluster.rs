//! The [`Cluster`] actor: a thin shell over [`RefreshState`] and [`Pool`] that turns
//! messages into calls on them, and spawns the futures of `tasks.rs`.

use std::future::ready;
use std::sync::Arc;
use std::time::Instant;

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, MessageResult, ResponseFuture, Supervised, Supervisor,
    WrapFuture,
};
use tokio::sync::oneshot;

use super::config::{ClientConfig, ConfigError};
use super::error::ClientError;
use super::messages::{
    ClusterStats, ConnectionFailed, GetAnyConnection, GetConnection, GetMetadata, GetStats, InitProducerId,
    RefreshMetadata,
};
use super::metadata::ClusterMetadata;
use super::pool::{Endpoint, Pool};
use super::refresh::{Decision, RefreshState};
use super::tasks::{self, FetchOutcome, Patience};
use crate::net::BrokerConnection;

type MetadataResult = Result<Arc<ClusterMetadata>, ClientError>;
type ConnectionResult = Result<BrokerConnection, ClientError>;
type MetadataWaiter = oneshot::Sender<MetadataResult>;
type ConnectionWaiter = oneshot::Sender<ConnectionResult>;

/// The cluster metadata actor: bootstrap, the metadata cache and its refreshes, one
/// pooled connection per broker node, and InitProducerId. See the [module docs](super).
///
/// # Examples
///
/// ```no_run
/// use actix_kafka::client::{ClientConfig, Cluster, GetMetadata};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = Cluster::start(ClientConfig::new("localhost:9092"))?;
/// let metadata = cluster.send(GetMetadata { topics: vec!["orders".into()], refresh: false }).await??;
/// println!("orders has {:?} partitions", metadata.partition_count("orders"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Cluster {
    config: ClientConfig,
    metadata: Option<Arc<ClusterMetadata>>,
    refresh: RefreshState<MetadataWaiter>,
    pool: Pool<BrokerConnection, ConnectionWaiter>,
    /// Connects cancelled by a restart, to start again in `started`.
    reconnect: Vec<Endpoint>,
    stats: ClusterStats,
}

impl Cluster {
    /// Validates `config` and starts the actor under a [`Supervisor`] on the current
    /// actix system. It bootstraps at once (a first metadata refresh).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ClientConfig::validate`].
    pub fn start(config: ClientConfig) -> Result<Addr<Cluster>, ConfigError> {
        config.validate()?;
        Ok(Supervisor::start(move |_| Cluster::new(config)))
    }

    fn new(config: ClientConfig) -> Self {
        Self {
            refresh: RefreshState::new(config.metadata_min_interval),
            config,
            metadata: None,
            pool: Pool::new(),
            reconnect: Vec::new(),
            stats: ClusterStats::default(),
        }
    }

    fn patience(&self) -> Patience {
        Patience {
            timeout: self.config.connection.request_timeout,
            backoff_initial: self.config.retry_backoff,
            backoff_max: self.config.retry_backoff_max,
        }
    }

    /// Queues `waiter` for the next refresh (or the one in flight, when `join`).
    fn refresh_for(&mut self, waiter: Option<MetadataWaiter>, join: bool, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let decision = match waiter {
            Some(waiter) if join => self.refresh.join(waiter, now),
            waiter => self.refresh.request(waiter, now),
        };
        self.act_on(decision, ctx);
    }

    fn act_on(&mut self, decision: Decision, ctx: &mut Context<Self>) {
        match decision {
            Decision::Start => self.start_refresh(ctx),
            Decision::StartAt(at) => {
                ctx.run_later(at.saturating_duration_since(Instant::now()), |act, ctx| {
                    let decision = act.refresh.timer_fired(Instant::now());
                    act.act_on(decision, ctx);
                });
            }
            Decision::Nothing => {}
        }
    }

    fn start_refresh(&mut self, ctx: &mut Context<Self>) {
        self.stats.refreshes += 1;
        let topics: Vec<String> = self.refresh.topics().iter().cloned().collect();
        let fetch =
            tasks::fetch_metadata(ctx.address(), topics, self.config.allow_auto_topic_creation, self.patience());
        let started = Instant::now();
        ctx.spawn(fetch.into_actor(self).map(move |outcome, act, ctx| act.finish_refresh(outcome, started, ctx)));
    }

    fn finish_refresh(&mut self, outcome: FetchOutcome, started: Instant, ctx: &mut Context<Self>) {
        self.stats.metadata_requests += outcome.requests;
        let elapsed = started.elapsed();
        let answer = outcome.result.map(Arc::new);
        match &answer {
            Ok(metadata) => {
                tracing::debug!(
                    topics = metadata.topics.len(),
                    brokers = ?metadata.brokers.keys().collect::<Vec<_>>(),
                    requests = outcome.requests,
                    ?elapsed,
                    "metadata refreshed"
                );
                self.pool.retain_nodes(|node, addr| metadata.brokers.get(&node).is_some_and(|b| b.addr() == addr));
                self.metadata = Some(metadata.clone());
            }
            Err(error) => tracing::debug!(%error, requests = outcome.requests, ?elapsed, "metadata refresh failed"),
        }
        let (waiters, decision) = self.refresh.finish(Instant::now(), answer.is_err());
        for waiter in waiters {
            answer_waiter(waiter, answer.clone());
        }
        self.act_on(decision, ctx);
    }

    /// Answers with the pooled connection of `endpoint`, or queues for it and starts
    /// the connect if nobody has.
    fn connection(&mut self, endpoint: Endpoint, ctx: &mut Context<Self>) -> ResponseFuture<ConnectionResult> {
        if let Some(connection) = self.pool.get(endpoint) {
            return Box::pin(ready(Ok(connection)));
        }
        let (waiter, answer) = oneshot::channel();
        if self.pool.wait(endpoint, waiter) {
            self.connect(endpoint, ctx);
        }
        Box::pin(async move { answer.await.unwrap_or(Err(ClientError::Stopped)) })
    }

    fn connect(&mut self, endpoint: Endpoint, ctx: &mut Context<Self>) {
        self.stats.connects += 1;
        let config = self.config.connection.clone();
        let connect: ResponseFuture<ConnectionResult> = match endpoint {
            Endpoint::Node(node) => match self.metadata.as_ref().and_then(|m| m.brokers.get(&node)) {
                Some(broker) => Box::pin(tasks::connect_one(broker.addr(), config)),
                None => Box::pin(ready(Err(ClientError::UnknownNode { node }))),
            },
            Endpoint::Any => Box::pin(tasks::connect_first(self.candidates(), config, self.patience())),
        };
        ctx.spawn(connect.into_actor(self).map(move |result, act, _| {
            match &result {
                Ok(connection) => tracing::debug!(?endpoint, broker = connection.addr(), "connected"),
                Err(error) => tracing::debug!(?endpoint, %error, "connect failed"),
            }
            for waiter in act.pool.complete(endpoint, &result) {
                answer_waiter(waiter, result.clone());
            }
        }));
    }

    /// The addresses to try for "any broker": the known brokers, then the bootstrap
    /// list, without repeats.
    fn candidates(&self) -> Vec<String> {
        let known = self.metadata.iter().flat_map(|m| m.brokers.values().map(|b| b.addr()));
        let mut candidates: Vec<String> = Vec::new();
        for addr in known.chain(self.config.bootstrap.iter().cloned()) {
            if !candidates.contains(&addr) {
                candidates.push(addr);
            }
        }
        candidates
    }
}

/// Sends `value` to a waiting caller; one that stopped waiting (its future was
/// dropped) does not want it, so a closed channel is not an error.
fn answer_waiter<T>(waiter: oneshot::Sender<T>, value: T) {
    if waiter.send(value).is_err() {
        tracing::trace!("a caller stopped waiting before its answer");
    }
}

impl Actor for Cluster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.config.metadata_max_age, |act, ctx| act.refresh_for(None, false, ctx));
        for endpoint in std::mem::take(&mut self.reconnect) {
            self.connect(endpoint, ctx);
        }
        // Bootstrap, and answer whoever waited across a restart.
        self.refresh_for(None, false, ctx);
    }
}

impl Supervised for Cluster {
    /// The spawned refresh and connects are gone: drop the cache and the connections,
    /// keep the waiters, and let `started` start them again.
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::debug!("cluster actor restarting");
        self.metadata = None;
        self.refresh.restart();
        self.reconnect = self.pool.restart();
    }
}

impl Handler<GetMetadata> for Cluster {
    type Result = ResponseFuture<MetadataResult>;

    fn handle(&mut self, msg: GetMetadata, ctx: &mut Context<Self>) -> Self::Result {
        self.refresh.add_topics(&msg.topics);
        if let Some(metadata) = &self.metadata {
            if !msg.refresh && msg.topics.iter().all(|topic| metadata.knows(topic)) {
                self.stats.cache_hits += 1;
                return Box::pin(ready(Ok(metadata.clone())));
            }
        }
        let (waiter, answer) = oneshot::channel();
        self.refresh_for(Some(waiter), false, ctx);
        Box::pin(async move { answer.await.unwrap_or(Err(ClientError::Stopped)) })
    }
}

impl Handler<RefreshMetadata> for Cluster {
    type Result = ();

    fn handle(&mut self, _: RefreshMetadata, ctx: &mut Context<Self>) {
        self.refresh_for(None, false, ctx);
    }
}

impl Handler<GetConnection> for Cluster {
    type Result = ResponseFuture<ConnectionResult>;

    fn handle(&mut self, msg: GetConnection, ctx: &mut Context<Self>) -> Self::Result {
        let node = msg.node;
        if self.metadata.is_some() {
            if self.metadata.as_ref().is_some_and(|m| !m.brokers.contains_key(&node)) {
                return Box::pin(ready(Err(ClientError::UnknownNode { node })));
            }
            return self.connection(Endpoint::Node(node), ctx);
        }
        // No metadata yet: wait for the first refresh, then ask again.
        let (waiter, answer) = oneshot::channel();
        self.refresh_for(Some(waiter), true, ctx);
        let cluster = ctx.address();
        Box::pin(async move {
            answer.await.unwrap_or(Err(ClientError::Stopped))?;
            cluster.send(GetConnection { node }).await?
        })
    }
}

impl Handler<GetAnyConnection> for Cluster {
    type Result = ResponseFuture<ConnectionResult>;

    fn handle(&mut self, _: GetAnyConnection, ctx: &mut Context<Self>) -> Self::Result {
        match self.pool.any_open() {
            Some(connection) => Box::pin(ready(Ok(connection))),
            None => self.connection(Endpoint::Any, ctx),
        }
    }
}

impl Handler<ConnectionFailed> for Cluster {
    type Result = ();

    fn handle(&mut self, msg: ConnectionFailed, _: &mut Context<Self>) {
        self.pool.forget(&msg.addr);
    }
}

impl Handler<InitProducerId> for Cluster {
    type Result = ResponseFuture<Result<(i64, i16), ClientError>>;

    fn handle(&mut self, msg: InitProducerId, ctx: &mut Context<Self>) -> Self::Result {
        Box::pin(tasks::init_producer_id(ctx.address(), msg.producer_id, msg.producer_epoch, self.patience()))
    }
}

impl Handler<GetStats> for Cluster {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.stats)
    }
}
