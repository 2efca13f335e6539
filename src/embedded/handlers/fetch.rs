//! Fetch (key 1), versions 0-16.
//!
//! - v0-2: max_wait, min_bytes, per-partition offset and max bytes. v1: throttle.
//! - v3: overall max_bytes; the first batch of the first partition with data is
//!   returned even when larger than either limit (KIP-74), so consumers progress.
//! - v4: isolation level; last stable offset and aborted transactions in the answer.
//! - v5: log start offset. v9: current leader epoch.
//! - v7: fetch sessions (KIP-227): session id and epoch, forgotten_topics_data, and a
//!   top-level error code (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH).
//! - v11: rack id, preferred read replica. v12: flexible; current_leader on
//!   NOT_LEADER_OR_FOLLOWER. v13: topics by id (UNKNOWN_TOPIC_ID), also in
//!   forgotten_topics_data; a session keeps the naming it was created with
//!   (FETCH_SESSION_TOPIC_ID_ERROR otherwise). v15: replica state.
//! - v16: node endpoints.
//!
//! The wait is a real long poll: when fewer than min_bytes are ready, the request
//! waits on the cluster-wide append signal until data arrives or max_wait passes,
//! reading again after each append; no timer polling. Fetch sessions follow KIP-227
//! (see `fetch_sessions.rs`): a full fetch with epoch 0 opens a session on this node;
//! an incremental fetch reads every partition of the session, waits the same way, and
//! answers only the partitions with records or changed metadata (so an incremental
//! answer with nothing new waits for max_wait, as Kafka's does). Without transactions
//! the last stable offset is the high watermark.
//!
//! Two fetch faults act here, per partition: a held partition is read for its high
//! watermark only (no records, no bytes toward min_bytes); a corrupted one gets one
//! byte of its first batch inverted in the answer, never in the log.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

use super::{leadership_error, throttled, Answer, Served};
use crate::embedded::controller::ClusterView;
use crate::embedded::fetch_sessions::{FetchContext, Observed, PartitionKey, Sent, SessionRequest, TopicKey, Wanted};
use crate::embedded::partition::Read;
use crate::embedded::session::Session;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::fetch_request::FetchTopic;
use crate::protocol::messages::fetch_response::{FetchableTopicResponse, LeaderIdAndEpoch, PartitionData};
use crate::protocol::messages::{FetchRequest, FetchResponse};
use crate::protocol::primitives::Uuid;

impl Served for FetchRequest {
    fn error_response(&self, version: i16, code: ErrorCode) -> FetchResponse {
        let responses = self
            .topics
            .iter()
            .map(|t| FetchableTopicResponse {
                topic: t.topic.clone(),
                topic_id: t.topic_id,
                partitions: t.partitions.iter().map(|p| failed(p.partition, code)).collect(),
                ..Default::default()
            })
            .collect();
        let error_code = if version >= 7 { code.code() } else { 0 };
        FetchResponse { error_code, responses, ..Default::default() }
    }
    throttled!();
}

fn failed(partition_index: i32, code: ErrorCode) -> PartitionData {
    PartitionData {
        partition_index,
        error_code: code.code(),
        high_watermark: -1,
        records: Some(Bytes::new()),
        ..Default::default()
    }
}

/// How this request uses fetch sessions.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Sessionless,
    /// A full fetch asking for a new session.
    Full,
    Incremental(i32),
}

/// One partition the request reads.
struct Planned {
    key: PartitionKey,
    wanted: Wanted,
    /// The hold_fetch fault: read the high watermark only.
    held: bool,
}

/// One partition's answer, before the session decides whether it is sent.
struct ReadPartition {
    key: PartitionKey,
    wanted: Wanted,
    /// The topic's name when known (v13+ names topics by id), for the corrupt fault.
    name: Option<String>,
    data: PartitionData,
}

/// Answers a fetch once min_bytes are ready, an error occurs, or max_wait passes.
pub(crate) async fn handle(session: &Session, version: i16, request: FetchRequest) -> Answer<FetchResponse> {
    let context = if version >= 7 {
        session.shared.fetch_sessions().node(session.node).begin(session_request(version, &request))
    } else {
        FetchContext::Sessionless
    };
    let (mode, wanted) = match context {
        FetchContext::Error(code) => {
            let (session_id, epoch) = (request.session_id, request.session_epoch);
            tracing::debug!(session_id, epoch, code = code.name(), "fetch session refused");
            return Answer::Respond(FetchResponse { error_code: code.code(), ..Default::default() });
        }
        FetchContext::Incremental { session_id, partitions } => (Mode::Incremental(session_id), partitions),
        FetchContext::Full => (Mode::Full, requested(version, &request.topics)),
        FetchContext::Sessionless => (Mode::Sessionless, requested(version, &request.topics)),
    };
    let planned = plan(session, wanted);
    let read = long_poll(session, version, &request, &planned).await;
    Answer::Respond(respond(session, version, mode, read))
}

/// The request's session fields, its partitions keyed as the version names topics.
fn session_request(version: i16, request: &FetchRequest) -> SessionRequest {
    let forgotten = request.forgotten_topics_data.iter().flat_map(|t| {
        let topic = topic_key(version, &t.topic, t.topic_id);
        t.partitions.iter().map(move |p| (topic.clone(), *p))
    });
    SessionRequest {
        session_id: request.session_id,
        session_epoch: request.session_epoch,
        uses_topic_ids: version >= 13,
        partitions: requested(version, &request.topics),
        forgotten: forgotten.collect(),
    }
}

fn topic_key(version: i16, name: &str, id: Uuid) -> TopicKey {
    if version >= 13 {
        TopicKey::Id(id)
    } else {
        TopicKey::Name(name.to_string())
    }
}

fn requested(version: i16, topics: &[FetchTopic]) -> Vec<(PartitionKey, Wanted)> {
    let mut all = Vec::with_capacity(topics.iter().map(|t| t.partitions.len()).sum());
    for topic in topics {
        let key = topic_key(version, &topic.topic, topic.topic_id);
        for p in &topic.partitions {
            let wanted = Wanted { fetch_offset: p.fetch_offset, partition_max_bytes: p.partition_max_bytes };
            all.push(((key.clone(), p.partition), wanted));
        }
    }
    all
}

/// The topic's name in `view`, however the request named it.
fn topic_name<'a>(view: &'a ClusterView, key: &'a TopicKey) -> Option<&'a str> {
    match key {
        TopicKey::Name(name) => Some(name.as_str()),
        TopicKey::Id(id) => view.state.topic_name(*id),
    }
}

/// The partitions to read, each hold consumed once per request (not per long-poll pass).
fn plan(session: &Session, wanted: Vec<(PartitionKey, Wanted)>) -> Vec<Planned> {
    let view = session.shared.view();
    let mut faults = session.shared.faults();
    let mut held = |key: &PartitionKey| topic_name(&view, &key.0).is_some_and(|name| faults.take_hold(name, key.1));
    wanted.into_iter().map(|(key, wanted)| Planned { held: held(&key), key, wanted }).collect()
}

/// Reads until min_bytes are ready, a partition fails, or max_wait passes.
async fn long_poll(session: &Session, version: i16, request: &FetchRequest, planned: &[Planned]) -> Vec<ReadPartition> {
    let max_wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let deadline = tokio::time::Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let max_bytes = if version >= 3 { usize::try_from(request.max_bytes).unwrap_or(0) } else { usize::MAX };
    let mut appended = session.shared.appended.subscribe();
    loop {
        // Mark the current count seen before reading, so no append is missed between
        // the read and the wait.
        appended.borrow_and_update();
        let (read, bytes, failed) = read_once(session, version, max_bytes, planned).await;
        if bytes >= min_bytes || failed || tokio::time::Instant::now() >= deadline {
            return read;
        }
        match tokio::time::timeout_at(deadline, appended.changed()).await {
            Ok(Ok(())) => continue,
            _ => return read,
        }
    }
}

/// One pass over the planned partitions: their answers, the record bytes, and whether
/// any partition failed.
async fn read_once(
    session: &Session,
    version: i16,
    max_bytes: usize,
    planned: &[Planned],
) -> (Vec<ReadPartition>, usize, bool) {
    let view = session.shared.view();
    let (mut total, mut any_failed) = (0usize, false);
    let mut read = Vec::with_capacity(planned.len());
    for wanted in planned {
        let name = topic_name(&view, &wanted.key.0);
        let budget = max_bytes.saturating_sub(total);
        let data = read_partition(session, version, &view, name, wanted, budget, total == 0).await;
        total += data.records.as_ref().map_or(0, Bytes::len);
        any_failed |= data.error_code != 0;
        read.push(ReadPartition {
            key: wanted.key.clone(),
            wanted: wanted.wanted,
            name: name.map(str::to_string),
            data,
        });
    }
    (read, total, any_failed)
}

/// One partition's answer: an error, or its records (none when held) and offsets.
async fn read_partition(
    session: &Session,
    version: i16,
    view: &ClusterView,
    name: Option<&str>,
    wanted: &Planned,
    budget: usize,
    first: bool,
) -> PartitionData {
    let partition = wanted.key.1;
    let Some((assignment, log)) = name.and_then(|name| view.partition(name, partition)) else {
        let unknown = if version >= 13 { ErrorCode::UnknownTopicId } else { ErrorCode::UnknownTopicOrPartition };
        return failed(partition, unknown);
    };
    if let Some(code) = leadership_error(assignment.leader, session.node) {
        let mut data = failed(partition, code);
        if version >= 12 && assignment.leader >= 0 {
            data.current_leader = LeaderIdAndEpoch {
                leader_id: assignment.leader,
                leader_epoch: assignment.leader_epoch,
                ..Default::default()
            };
        }
        return data;
    }
    let max_bytes = usize::try_from(wanted.wanted.partition_max_bytes).unwrap_or(0).min(budget);
    let read = if wanted.held {
        Read { offset: wanted.wanted.fetch_offset, max_bytes: 0, min_one: false }
    } else {
        Read { offset: wanted.wanted.fetch_offset, max_bytes, min_one: first }
    };
    match log.send(read).await {
        Ok(Ok(result)) => PartitionData {
            partition_index: partition,
            high_watermark: result.high_watermark,
            last_stable_offset: result.high_watermark,
            log_start_offset: result.log_start_offset,
            records: Some(if wanted.held { Bytes::new() } else { result.records }),
            ..Default::default()
        },
        Ok(Err(code)) => failed(partition, code),
        Err(_) => failed(partition, ErrorCode::NotLeaderOrFollower),
    }
}

/// The answer: what the session lets through (opening a session after a full fetch),
/// with the corrupt fault applied, partitions grouped by topic.
fn respond(session: &Session, version: i16, mode: Mode, read: Vec<ReadPartition>) -> FetchResponse {
    let observed: Vec<Observed> = read.iter().map(observe).collect();
    let (session_id, keep) = match mode {
        Mode::Sessionless => (0, vec![true; read.len()]),
        Mode::Full => {
            let partitions = read.iter().zip(&observed).map(|(r, o)| (r.key.clone(), r.wanted, o.sent)).collect();
            let id = session.shared.fetch_sessions().node(session.node).create(version >= 13, partitions);
            (id, vec![true; read.len()])
        }
        Mode::Incremental(id) => (id, session.shared.fetch_sessions().node(session.node).must_answer(id, &observed)),
    };
    let mut faults = session.shared.faults();
    let mut responses: Vec<FetchableTopicResponse> = Vec::new();
    let mut index: HashMap<TopicKey, usize> = HashMap::new();
    for (mut served, keep) in read.into_iter().zip(keep) {
        if !keep {
            continue;
        }
        if let (Some(name), Some(records)) = (&served.name, &served.data.records) {
            if let Some(corrupted) = faults.corrupt(name, served.key.1, records) {
                tracing::debug!(topic = %name, partition = served.key.1, "answering a corrupted batch");
                served.data.records = Some(corrupted);
            }
        }
        let (topic, _) = served.key;
        let slot = *index.entry(topic.clone()).or_insert_with(|| {
            responses.push(topic_response(&topic));
            responses.len() - 1
        });
        responses[slot].partitions.push(served.data);
    }
    FetchResponse { session_id, responses, ..Default::default() }
}

fn observe(served: &ReadPartition) -> Observed {
    let data = &served.data;
    Observed {
        key: served.key.clone(),
        sent: Sent {
            high_watermark: data.high_watermark,
            log_start_offset: data.log_start_offset,
            error_code: data.error_code,
        },
        has_records: data.records.as_ref().is_some_and(|r| !r.is_empty()),
    }
}

fn topic_response(topic: &TopicKey) -> FetchableTopicResponse {
    let (topic, topic_id) = match topic {
        TopicKey::Name(name) => (name.clone(), Uuid::ZERO),
        TopicKey::Id(id) => (String::new(), *id),
    };
    FetchableTopicResponse { topic, topic_id, ..Default::default() }
}
