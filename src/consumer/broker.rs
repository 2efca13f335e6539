//! `BrokerConsumer`: one per broker node. Keeps one Fetch in flight for every partition
//! it leads that wants data, decodes the answer (decompression, CRC check) and hands
//! each partition what it got; the partition's reply says what it wants next.
//!
//! # The want protocol
//!
//! A `PartitionConsumer` registers a [`Want`] (its fetch offset, max bytes, leader
//! epoch and its fetch sequence) when it has room for data. Every fetch carries every
//! registered want. When a partition's answer has something for it (records, a new
//! position past control batches, a corrupt batch, an error, a new high watermark) the
//! want is removed and the answer goes to the partition as [`Fetched`]; an empty answer
//! leaves the want in place for the next fetch. The partition answers `Fetched` with
//! its next want, and the next fetch leaves only when every partition of this answer
//! has replied: so the next fetch carries them all at their new positions, instead of
//! long-polling without them for `fetch_max_wait`.
//!
//! # Supervision
//!
//! A failed request (the connection broke, a timeout, an undecodable answer) stops the
//! actor; its `Supervisor` restarts it and [`restarting`](actix::Supervised::restarting)
//! hands every want back to its partition as [`FetchResult::Reroute`]. The partition
//! still holds its position, so it looks its leader up again (the node may be gone,
//! the leadership moved) and registers again: nothing is lost and nothing delivered
//! twice. A connect that fails hands the wants back the same way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix::WeakAddr;
use tracing::Instrument;

use super::decode::{decode_partition, DecodeContext};
use super::fetch_request::{fetch_request, fetch_version, FetchSettings, FIRST_TOPIC_ID_VERSION};
use super::fetch_session::{FetchPlan, FetchSession, PartitionFetch};
use super::partition::PartitionConsumer;
use super::shared::{Counters, Shared};
use super::types::TopicPartition;
use crate::client::{ClientError, GetConnection};
use crate::net::BrokerConnection;
use crate::protocol::messages::FetchResponse;
use crate::protocol::primitives::Uuid;
use crate::protocol::record::DecodeOptions;
use crate::protocol::{ApiKey, ErrorCode};

pub(crate) use super::decode::Decoded;

/// A partition wants data (replaces its previous want).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Want {
    pub(crate) tp: TopicPartition,
    pub(crate) topic_id: Uuid,
    pub(crate) next: NextWant,
    /// Weak, so that a stopped partition is not restarted by its supervisor because
    /// this actor still held it.
    pub(crate) reply_to: WeakAddr<PartitionConsumer>,
}

/// The changing part of a want.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NextWant {
    pub(crate) seq: u64,
    pub(crate) fetch: PartitionFetch,
}

/// A partition no longer wants data (paused, revoked, stopped, moving to another leader).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Unwant {
    pub(crate) tp: TopicPartition,
}

/// Restart the actor (stall healing): the wants go back to their partitions.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RestartBroker;

/// Stop for good (the consumer closes).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

/// What a fetch brought one partition; the reply is the partition's next want.
#[derive(Message)]
#[rtype(result = "FetchedReply")]
pub(crate) struct Fetched {
    /// The fetch sequence of the want this answers.
    pub(crate) seq: u64,
    pub(crate) result: FetchResult,
}

/// A partition's reply to [`Fetched`].
#[derive(Debug)]
pub(crate) struct FetchedReply {
    /// What it wants next, if it wants data now.
    pub(crate) next: Option<NextWant>,
    /// No want only for want of room (its buffer or the consumer's budget is full):
    /// one comes as soon as its records are taken.
    pub(crate) held_back: bool,
}

/// See [`Fetched`].
#[derive(Debug)]
pub(crate) enum FetchResult {
    Data {
        decoded: Decoded,
        high_watermark: i64,
    },
    /// The broker's partition-level error code.
    Error(ErrorCode),
    /// This broker cannot serve the partition now (connection lost, restart): look
    /// the leader up again.
    Reroute,
}

struct WantEntry {
    next: NextWant,
    reply_to: WeakAddr<PartitionConsumer>,
}

/// The longest long poll while a partition of this broker is held back for want of
/// room (see [`BrokerConsumer::settings`]).
const HELD_BACK_MAX_WAIT: Duration = Duration::from_millis(50);

/// See the [module docs](self).
pub(crate) struct BrokerConsumer {
    node: i32,
    shared: Arc<Shared>,
    connection: Option<BrokerConnection>,
    connecting: bool,
    wants: BTreeMap<TopicPartition, WantEntry>,
    topic_ids: BTreeMap<Arc<str>, Uuid>,
    session: FetchSession,
    /// A fetch is in flight, or its partitions' replies are awaited.
    busy: bool,
    pending_replies: usize,
    high_watermarks: HashMap<TopicPartition, i64>,
    requests: u64,
    options: DecodeOptions,
    /// Shut down (the consumer closed): wants are ignored from now on.
    closed: bool,
    /// Partitions that answered their last data without a want for want of room.
    held_back: HashSet<TopicPartition>,
}

impl BrokerConsumer {
    pub(crate) fn new(node: i32, shared: Arc<Shared>) -> Self {
        Self {
            node,
            session: FetchSession::new(shared.config.fetch_sessions),
            options: DecodeOptions::default().with_verify_crc(shared.config.check_crcs),
            shared,
            connection: None,
            connecting: false,
            wants: BTreeMap::new(),
            topic_ids: BTreeMap::new(),
            busy: false,
            pending_replies: 0,
            high_watermarks: HashMap::new(),
            requests: 0,
            closed: false,
            held_back: HashSet::new(),
        }
    }

    /// The fetch's settings. While a partition is held back for want of room, the
    /// fetch long-polls at most [`HELD_BACK_MAX_WAIT`]: the held-back partition will
    /// want again as soon as its records are taken, and its want cannot join a fetch
    /// in flight, so a full `fetch_max_wait` on the other (caught-up) partitions
    /// would stall it that long (a partition with a backlog beside idle ones got one
    /// buffer's worth per `fetch_max_wait`).
    fn settings(&self) -> FetchSettings {
        let config = &self.shared.config;
        let max_wait = if self.held_back.is_empty() {
            config.fetch_max_wait
        } else {
            config.fetch_max_wait.min(HELD_BACK_MAX_WAIT)
        };
        FetchSettings {
            max_wait_ms: i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            isolation_level: config.isolation_level.code(),
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.connecting {
            return;
        }
        self.connecting = true;
        let request = self.shared.cluster.send(GetConnection { node: self.node });
        ctx.spawn(request.into_actor(self).map(|answer, act, ctx| {
            act.connecting = false;
            match answer.map_err(ClientError::from).and_then(|r| r) {
                Ok(connection) => {
                    act.connection = Some(connection);
                    act.maybe_fetch(ctx);
                }
                Err(error) => {
                    tracing::debug!(broker = act.node, %error, "no connection; partitions look their leader up again");
                    act.hand_back_all();
                }
            }
        }));
    }

    /// Every want goes back to its partition as [`FetchResult::Reroute`].
    fn hand_back_all(&mut self) {
        for (_, want) in std::mem::take(&mut self.wants) {
            if let Some(partition) = want.reply_to.upgrade() {
                partition.do_send(Fetched { seq: want.next.seq, result: FetchResult::Reroute });
            }
        }
    }

    fn maybe_fetch(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.wants.is_empty() {
            return;
        }
        let Some(connection) = self.connection.clone().filter(|c| !c.is_closed()) else {
            self.connection = None;
            self.connect(ctx);
            return;
        };
        let negotiated = match connection.version_for(ApiKey::Fetch) {
            Ok(version) => version,
            Err(error) => {
                tracing::warn!(broker = self.node, %error, "the broker does not serve Fetch");
                self.hand_back_all();
                return;
            }
        };
        let ids = self.wants.keys().map(|tp| self.topic_ids.get(&tp.topic).unwrap_or(&Uuid::ZERO));
        let version = fetch_version(negotiated, ids);
        let wanted = self.wants.iter().map(|(tp, w)| (tp.clone(), w.next.fetch)).collect();
        let plan = self.session.next_plan(wanted, version);
        let request = fetch_request(&plan, &self.settings(), version, &self.topic_ids);
        let asked: HashMap<TopicPartition, (u64, i64)> =
            self.wants.iter().map(|(tp, w)| (tp.clone(), (w.next.seq, w.next.fetch.fetch_offset))).collect();
        self.busy = true;
        self.requests += 1;
        Counters::add(&self.shared.stats.fetch_requests, 1);
        if !plan.full {
            Counters::add(&self.shared.stats.incremental_fetches, 1);
        }
        let span = tracing::debug_span!(
            "fetch_request",
            broker = self.node,
            request = self.requests,
            version,
            partitions = asked.len(),
            sent = plan.partitions.len(),
            session = plan.session_id,
        );
        let timeout = self.shared.config.request_timeout + self.shared.config.fetch_max_wait;
        let call = async move { tokio::time::timeout(timeout, connection.request_at(&request, version)).await };
        ctx.spawn(call.instrument(span.clone()).into_actor(self).map(move |answer, act, ctx| {
            let _entered = span.enter();
            match answer {
                Ok(Ok(response)) => act.on_response(plan, asked, version, response, ctx),
                Ok(Err(error)) => act.on_failure(&error.to_string(), ctx),
                Err(_elapsed) => act.on_failure("the fetch timed out", ctx),
            }
        }));
    }

    fn on_failure(&mut self, error: &str, ctx: &mut Context<Self>) {
        tracing::warn!(broker = self.node, error, "fetch failed; restarting the broker consumer");
        self.session.on_failure();
        ctx.stop();
    }

    fn on_response(
        &mut self,
        plan: FetchPlan,
        asked: HashMap<TopicPartition, (u64, i64)>,
        version: i16,
        response: FetchResponse,
        ctx: &mut Context<Self>,
    ) {
        let error = ErrorCode::from_i16(response.error_code);
        self.session.on_response(plan, error, response.session_id);
        if !error.is_ok() {
            tracing::debug!(broker = self.node, error = error.name(), "fetch answered with a top-level error");
            self.busy = false;
            ctx.run_later(self.shared.config.retry_backoff, |act, ctx| act.maybe_fetch(ctx));
            return;
        }
        let names: HashMap<Uuid, Arc<str>> = self.topic_ids.iter().map(|(name, id)| (*id, name.clone())).collect();
        let (mut bytes, mut records) = (0usize, 0usize);
        let mut answers = Vec::new();
        for topic in response.responses {
            let name = if version >= FIRST_TOPIC_ID_VERSION {
                names.get(&topic.topic_id).cloned()
            } else {
                self.wants.keys().find(|tp| *tp.topic == *topic.topic).map(|tp| tp.topic.clone())
            };
            let Some(name) = name else { continue };
            for partition in topic.partitions {
                let tp = TopicPartition { topic: name.clone(), partition: partition.partition_index };
                let Some(&(seq, fetch_offset)) = asked.get(&tp) else { continue };
                if self.wants.get(&tp).map(|w| w.next.seq) != Some(seq) {
                    continue; // a seek or a new want since: this answer is for an old position
                }
                let code = ErrorCode::from_i16(partition.error_code);
                if !code.is_ok() {
                    answers.push((tp, Fetched { seq, result: FetchResult::Error(code) }));
                    continue;
                }
                let cx = DecodeContext {
                    topic: &name,
                    partition: tp.partition,
                    fetch_offset,
                    read_committed: self.shared.config.isolation_level.code() == 1,
                    aborted: partition.aborted_transactions.as_deref(),
                    options: &self.options,
                };
                let decoded = decode_partition(partition.records, &cx);
                bytes += decoded.bytes;
                records += decoded.records.len();
                let high_watermark = partition.high_watermark;
                let hwm_changed = self.high_watermarks.insert(tp.clone(), high_watermark) != Some(high_watermark);
                let moved = !decoded.records.is_empty()
                    || decoded.corrupt.is_some()
                    || decoded.needs_more_bytes
                    || decoded.next_offset > fetch_offset;
                if moved || hwm_changed {
                    answers.push((tp, Fetched { seq, result: FetchResult::Data { decoded, high_watermark } }));
                }
            }
        }
        Counters::add(&self.shared.stats.bytes_fetched, bytes as u64);
        tracing::debug!(broker = self.node, bytes, records, answered = answers.len(), "fetched");
        self.hand_out(answers, ctx);
    }

    /// Sends each partition its answer and collects the next wants; the next fetch
    /// leaves when all have replied.
    fn hand_out(&mut self, answers: Vec<(TopicPartition, Fetched)>, ctx: &mut Context<Self>) {
        for (tp, fetched) in answers {
            let Some(want) = self.wants.remove(&tp) else { continue };
            let Some(partition) = want.reply_to.upgrade() else { continue };
            self.pending_replies += 1;
            let reply_to = want.reply_to;
            ctx.spawn(partition.send(fetched).into_actor(self).map(move |reply, act, ctx| {
                match reply {
                    Ok(FetchedReply { next: Some(next), .. }) => {
                        act.held_back.remove(&tp);
                        act.wants.entry(tp).or_insert(WantEntry { next, reply_to });
                    }
                    Ok(FetchedReply { next: None, held_back: true }) => {
                        act.held_back.insert(tp);
                    }
                    _ => {
                        act.held_back.remove(&tp);
                    }
                }
                act.pending_replies -= 1;
                if act.pending_replies == 0 {
                    act.busy = false;
                    act.maybe_fetch(ctx);
                }
            }));
        }
        if self.pending_replies == 0 {
            self.busy = false;
            self.maybe_fetch(ctx);
        }
    }
}

impl Actor for BrokerConsumer {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        tracing::debug!(broker = self.node, "broker consumer started");
    }
}

impl Supervised for BrokerConsumer {
    /// The actor is not re-created: drop the connection (the pool replaces a broken
    /// one), the session and the request state, and hand every want back.
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!(broker = self.node, "broker consumer restarting");
        Counters::add(&self.shared.stats.broker_restarts, 1);
        self.connection = None;
        self.connecting = false;
        self.busy = false;
        self.pending_replies = 0;
        self.session.reset();
        self.high_watermarks.clear();
        self.held_back.clear();
        self.hand_back_all();
    }
}

impl Handler<Want> for BrokerConsumer {
    type Result = ();

    fn handle(&mut self, want: Want, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        self.held_back.remove(&want.tp);
        if want.topic_id != Uuid::ZERO {
            self.topic_ids.insert(want.tp.topic.clone(), want.topic_id);
        }
        self.wants.insert(want.tp, WantEntry { next: want.next, reply_to: want.reply_to });
        self.maybe_fetch(ctx);
    }
}

impl Handler<Unwant> for BrokerConsumer {
    type Result = ();

    fn handle(&mut self, msg: Unwant, _: &mut Context<Self>) {
        self.held_back.remove(&msg.tp);
        self.wants.remove(&msg.tp);
        self.high_watermarks.remove(&msg.tp);
    }
}

impl Handler<RestartBroker> for BrokerConsumer {
    type Result = ();

    fn handle(&mut self, _: RestartBroker, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Shutdown> for BrokerConsumer {
    type Result = ();

    /// Goes idle for good rather than stopping: under its `Supervisor`, a stop while
    /// partitions still hold its address is a restart (counted in
    /// `ConsumerStats::broker_restarts`, with a warning, on every close). An idle
    /// actor stops once nothing holds its address.
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {
        self.closed = true;
        self.wants.clear();
        self.held_back.clear();
        self.high_watermarks.clear();
        self.connection = None;
        self.session.reset();
    }
}
