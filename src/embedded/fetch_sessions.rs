//! Incremental fetch sessions (KIP-227): the per-node session cache, a plain state
//! machine the Fetch handler drives.
//!
//! A consumer fetching hundreds of partitions would resend every partition in every
//! request, and the broker would answer every one of them, even when nothing changed.
//! KIP-227 lets the broker remember the partitions (a *session*), so the client sends
//! only what changed and the broker answers only partitions with news:
//!
//! | request (session id, epoch) | meaning | the answer |
//! |---|---|---|
//! | (0, 0) | full fetch, start a session | every partition, and the new session's id (0 when the cache is full of newer sessions) |
//! | (id, 0) | full fetch: close session `id`, start another | as above |
//! | (any, -1) | full fetch without a session (`FINAL_EPOCH`); closes session `id` | every partition, session id 0 |
//! | (id, epoch ≥ 1) | incremental: add or update the listed partitions, drop the forgotten ones | only partitions with records or changed metadata since the last answer |
//!
//! An incremental request for an unknown id answers FETCH_SESSION_ID_NOT_FOUND, one
//! with another epoch than the expected one INVALID_FETCH_SESSION_EPOCH, and one whose
//! topic naming (ids from v13, names before) differs from the session's
//! FETCH_SESSION_TOPIC_ID_ERROR, as Kafka does. An incremental request that leaves the
//! session empty closes it. Each node keeps its own cache, bounded; when full, a new
//! session evicts the least recently used one (Kafka also privileges followers and
//! protects young sessions; the embedded broker has no followers and stays simple).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::Uuid;

/// The session epoch of a sessionless full fetch; it also closes the named session.
pub(crate) const FINAL_EPOCH: i32 = -1;
/// The session epoch of a full fetch that asks for a new session.
pub(crate) const INITIAL_EPOCH: i32 = 0;
/// Sessions each node keeps before evicting (Kafka's `max.incremental.fetch.session.cache.slots`).
pub(crate) const DEFAULT_CAPACITY: usize = 1_000;

/// How a request names a topic: by name before Fetch v13, by id from v13 (KIP-516).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TopicKey {
    Name(String),
    Id(Uuid),
}

/// One partition of a session.
pub(crate) type PartitionKey = (TopicKey, i32);

/// What the client asked of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
}

/// The partition metadata an answer carried; an incremental answer repeats a partition
/// only when it has records or this changed (KIP-227).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub error_code: i16,
}

/// One read partition of an answer, as the cache judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    pub key: PartitionKey,
    pub sent: Sent,
    pub has_records: bool,
}

/// A fetch request's session fields, with its partitions as keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionRequest {
    pub session_id: i32,
    pub session_epoch: i32,
    /// Fetch v13+: topics by id.
    pub uses_topic_ids: bool,
    pub partitions: Vec<(PartitionKey, Wanted)>,
    pub forgotten: Vec<PartitionKey>,
}

/// How to serve a request, once checked against the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchContext {
    /// Answer every requested partition, with session id 0.
    Sessionless,
    /// Answer every requested partition, then [`create`](SessionCache::create) a session.
    Full,
    /// Read the session's partitions (in this order), answer those
    /// [`must_answer`](SessionCache::must_answer) keeps.
    Incremental { session_id: i32, partitions: Vec<(PartitionKey, Wanted)> },
    /// Answer this top-level error and nothing else.
    Error(ErrorCode),
}

#[derive(Debug)]
struct CachedPartition {
    wanted: Wanted,
    /// What the last answer carried; None until the partition was first answered.
    sent: Option<Sent>,
    /// Iteration order: partitions that returned records move to the back, so a small
    /// max_bytes budget serves every partition in turn, not always the first ones.
    order: u64,
}

#[derive(Debug)]
struct FetchSession {
    /// The epoch the next incremental request must carry.
    epoch: i32,
    uses_topic_ids: bool,
    partitions: HashMap<PartitionKey, CachedPartition>,
    next_order: u64,
    last_used: u64,
}

impl FetchSession {
    fn upsert(&mut self, key: PartitionKey, wanted: Wanted) {
        let order = self.next_order;
        match self.partitions.get_mut(&key) {
            Some(cached) => cached.wanted = wanted,
            None => {
                self.next_order += 1;
                self.partitions.insert(key, CachedPartition { wanted, sent: None, order });
            }
        }
    }

    fn ordered(&self) -> Vec<(PartitionKey, Wanted)> {
        let mut all: Vec<(&PartitionKey, &CachedPartition)> = self.partitions.iter().collect();
        all.sort_by_key(|(_, cached)| cached.order);
        all.into_iter().map(|(key, cached)| (key.clone(), cached.wanted)).collect()
    }
}

/// One node's fetch sessions.
#[derive(Debug)]
pub(crate) struct SessionCache {
    capacity: usize,
    sessions: HashMap<i32, FetchSession>,
    /// Bumped on every use, for least-recently-used eviction.
    clock: u64,
    /// Session ids are random (as Kafka's), so a client sending an id to the wrong
    /// node, or after a restart, gets FETCH_SESSION_ID_NOT_FOUND, not someone else's.
    ids: RandomState,
    minted: u64,
}

/// The epoch after `epoch`; wraps to 1, since 0 and -1 have their own meanings.
pub(crate) fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

impl SessionCache {
    /// An empty cache keeping at most `capacity` sessions (0: never create one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, sessions: HashMap::new(), clock: 0, ids: RandomState::new(), minted: 0 }
    }

    /// How many sessions are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Decides how to serve `request`. An incremental request that is accepted updates
    /// the session (adds, updates, forgets partitions) and advances its epoch now, as
    /// Kafka does, so a retry of the same request is refused with the epoch error.
    pub(crate) fn begin(&mut self, request: SessionRequest) -> FetchContext {
        if request.session_epoch == FINAL_EPOCH || request.session_epoch == INITIAL_EPOCH {
            if request.session_id != 0 {
                self.sessions.remove(&request.session_id);
            }
            return if request.session_epoch == FINAL_EPOCH { FetchContext::Sessionless } else { FetchContext::Full };
        }
        self.clock += 1;
        let Some(session) = self.sessions.get_mut(&request.session_id) else {
            return FetchContext::Error(ErrorCode::FetchSessionIdNotFound);
        };
        if session.epoch != request.session_epoch {
            return FetchContext::Error(ErrorCode::InvalidFetchSessionEpoch);
        }
        if session.uses_topic_ids != request.uses_topic_ids {
            return FetchContext::Error(ErrorCode::FetchSessionTopicIdError);
        }
        for (key, wanted) in request.partitions {
            session.upsert(key, wanted);
        }
        for key in &request.forgotten {
            session.partitions.remove(key);
        }
        if session.partitions.is_empty() {
            self.sessions.remove(&request.session_id);
            return FetchContext::Sessionless;
        }
        session.epoch = next_epoch(session.epoch);
        session.last_used = self.clock;
        FetchContext::Incremental { session_id: request.session_id, partitions: session.ordered() }
    }

    /// Opens a session after a full fetch answered `partitions` (what each asked, what
    /// was sent); answers its id, or 0 when there is nothing to remember or no room.
    /// A full cache evicts its least recently used session.
    pub(crate) fn create(&mut self, uses_topic_ids: bool, partitions: Vec<(PartitionKey, Wanted, Sent)>) -> i32 {
        if partitions.is_empty() || self.capacity == 0 {
            return 0;
        }
        while self.sessions.len() >= self.capacity {
            let oldest = self.sessions.iter().min_by_key(|(_, s)| s.last_used).map(|(id, _)| *id);
            if let Some(id) = oldest {
                tracing::debug!(session_id = id, "fetch session cache full; evicting the least recently used");
                self.sessions.remove(&id);
            }
        }
        self.clock += 1;
        let mut session = FetchSession {
            epoch: next_epoch(INITIAL_EPOCH),
            uses_topic_ids,
            partitions: HashMap::with_capacity(partitions.len()),
            next_order: 0,
            last_used: self.clock,
        };
        for (key, wanted, sent) in partitions {
            session.upsert(key.clone(), wanted);
            if let Some(cached) = session.partitions.get_mut(&key) {
                cached.sent = Some(sent);
            }
        }
        let id = self.mint_id();
        self.sessions.insert(id, session);
        id
    }

    /// Which of an incremental answer's partitions to send: those never answered, with
    /// records, with an error, or whose high watermark or log start offset changed since
    /// the last answer. Remembers what is sent. A session closed meanwhile (evicted,
    /// or closed by another request) keeps everything: a superset is still correct.
    pub(crate) fn must_answer(&mut self, session_id: i32, observed: &[Observed]) -> Vec<bool> {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return vec![true; observed.len()];
        };
        let mut answer = Vec::with_capacity(observed.len());
        for seen in observed {
            let Some(cached) = session.partitions.get_mut(&seen.key) else {
                answer.push(true);
                continue;
            };
            let changed = cached.sent != Some(seen.sent);
            answer.push(seen.has_records || changed || seen.sent.error_code != 0);
            cached.sent = Some(seen.sent);
            if seen.has_records {
                cached.order = session.next_order;
                session.next_order += 1;
            }
        }
        answer
    }

    fn mint_id(&mut self) -> i32 {
        loop {
            self.minted += 1;
            let mut hasher = self.ids.build_hasher();
            hasher.write_u64(self.minted);
            let id = i32::try_from(hasher.finish() & 0x7fff_ffff).unwrap_or_default();
            if id != 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }
}

/// Every node's cache; a node going down loses its sessions, as a restarted broker does.
#[derive(Debug)]
pub(crate) struct NodeSessions {
    capacity: usize,
    nodes: HashMap<i32, SessionCache>,
}

impl Default for NodeSessions {
    fn default() -> Self {
        Self { capacity: DEFAULT_CAPACITY, nodes: HashMap::new() }
    }
}

impl NodeSessions {
    /// Node `node`'s cache (created empty on first use).
    pub(crate) fn node(&mut self, node: i32) -> &mut SessionCache {
        let capacity = self.capacity;
        self.nodes.entry(node).or_insert_with(|| SessionCache::new(capacity))
    }

    /// Forgets every session of `node`.
    pub(crate) fn node_down(&mut self, node: i32) {
        self.nodes.remove(&node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(topic: &str, partition: i32) -> PartitionKey {
        (TopicKey::Name(topic.into()), partition)
    }

    fn wanted(fetch_offset: i64) -> Wanted {
        Wanted { fetch_offset, partition_max_bytes: 1 << 20 }
    }

    fn sent(high_watermark: i64) -> Sent {
        Sent { high_watermark, log_start_offset: 0, error_code: 0 }
    }

    fn seen(topic: &str, partition: i32, high_watermark: i64, has_records: bool) -> Observed {
        Observed { key: key(topic, partition), sent: sent(high_watermark), has_records }
    }

    fn request(session_id: i32, session_epoch: i32, partitions: &[(&str, i32, i64)]) -> SessionRequest {
        SessionRequest {
            session_id,
            session_epoch,
            partitions: partitions.iter().map(|(t, p, o)| (key(t, *p), wanted(*o))).collect(),
            ..Default::default()
        }
    }

    /// A cache with one session on t-0 and t-1 (both answered with high watermark 5).
    fn with_session() -> (SessionCache, i32) {
        let mut cache = SessionCache::new(10);
        assert_eq!(cache.begin(request(0, 0, &[("t", 0, 0), ("t", 1, 0)])), FetchContext::Full);
        let id = cache.create(false, vec![(key("t", 0), wanted(0), sent(5)), (key("t", 1), wanted(0), sent(5))]);
        assert!(id > 0);
        (cache, id)
    }

    fn incremental(context: FetchContext) -> Vec<(PartitionKey, Wanted)> {
        match context {
            FetchContext::Incremental { partitions, .. } => partitions,
            other => panic!("expected an incremental context, got {other:?}"),
        }
    }

    #[test]
    fn a_full_fetch_creates_a_session_whose_epoch_starts_at_one() {
        let (mut cache, id) = with_session();
        assert_eq!(cache.len(), 1);
        let partitions = incremental(cache.begin(request(id, 1, &[])));
        assert_eq!(partitions, vec![(key("t", 0), wanted(0)), (key("t", 1), wanted(0))]);
        // Nothing changed: nothing to answer.
        assert_eq!(cache.must_answer(id, &[seen("t", 0, 5, false), seen("t", 1, 5, false)]), [false, false]);
        assert!(matches!(cache.begin(request(id, 2, &[])), FetchContext::Incremental { .. }));
    }

    #[test]
    fn only_partitions_with_records_or_changed_metadata_are_answered() {
        let (mut cache, id) = with_session();
        incremental(cache.begin(request(id, 1, &[])));
        let answer = cache.must_answer(id, &[seen("t", 0, 6, true), seen("t", 1, 5, false)]);
        assert_eq!(answer, [true, false]);
        incremental(cache.begin(request(id, 2, &[])));
        let log_start_moved = Observed { sent: Sent { log_start_offset: 3, ..sent(6) }, ..seen("t", 0, 6, false) };
        let failed = Observed { sent: Sent { error_code: 6, ..sent(-1) }, ..seen("t", 1, -1, false) };
        assert_eq!(cache.must_answer(id, &[log_start_moved.clone(), failed.clone()]), [true, true]);
        incremental(cache.begin(request(id, 3, &[])));
        // An error is answered every time; unchanged metadata is not.
        assert_eq!(cache.must_answer(id, &[log_start_moved, failed]), [false, true]);
    }

    #[test]
    fn incremental_requests_add_update_and_forget_partitions() {
        let (mut cache, id) = with_session();
        let mut add_and_update = request(id, 1, &[("t", 1, 7), ("u", 0, 0)]);
        add_and_update.forgotten = vec![key("t", 0), key("never", 9)];
        let partitions = incremental(cache.begin(add_and_update));
        assert_eq!(partitions, vec![(key("t", 1), wanted(7)), (key("u", 0), wanted(0))]);
        // The added partition was never answered, so it is answered even without news.
        assert_eq!(cache.must_answer(id, &[seen("t", 1, 5, false), seen("u", 0, 0, false)]), [false, true]);
        assert_eq!(incremental(cache.begin(request(id, 2, &[]))).len(), 2);
    }

    #[test]
    fn partitions_that_returned_records_move_to_the_back() {
        let (mut cache, id) = with_session();
        incremental(cache.begin(request(id, 1, &[])));
        cache.must_answer(id, &[seen("t", 0, 9, true), seen("t", 1, 5, false)]);
        let order: Vec<i32> = incremental(cache.begin(request(id, 2, &[]))).iter().map(|(k, _)| k.1).collect();
        assert_eq!(order, [1, 0]);
    }

    #[test]
    fn wrong_epochs_unknown_ids_and_topic_naming_are_refused() {
        let (mut cache, id) = with_session();
        assert_eq!(cache.begin(request(id, 2, &[])), FetchContext::Error(ErrorCode::InvalidFetchSessionEpoch));
        assert_eq!(cache.begin(request(id + 1, 1, &[])), FetchContext::Error(ErrorCode::FetchSessionIdNotFound));
        let by_id = SessionRequest { uses_topic_ids: true, ..request(id, 1, &[]) };
        assert_eq!(cache.begin(by_id), FetchContext::Error(ErrorCode::FetchSessionTopicIdError));
        // Refusals do not advance the epoch: 1 is still expected.
        incremental(cache.begin(request(id, 1, &[])));
        // A retried request (same epoch) is refused once the epoch moved on.
        assert_eq!(cache.begin(request(id, 1, &[])), FetchContext::Error(ErrorCode::InvalidFetchSessionEpoch));
    }

    #[test]
    fn the_final_epoch_closes_the_session_and_fetches_without_one() {
        let (mut cache, id) = with_session();
        assert_eq!(cache.begin(request(id, FINAL_EPOCH, &[("t", 0, 0)])), FetchContext::Sessionless);
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.begin(request(id, 1, &[])), FetchContext::Error(ErrorCode::FetchSessionIdNotFound));
    }

    #[test]
    fn a_full_fetch_naming_a_session_replaces_it() {
        let (mut cache, id) = with_session();
        assert_eq!(cache.begin(request(id, INITIAL_EPOCH, &[("t", 0, 0)])), FetchContext::Full);
        assert_eq!(cache.len(), 0);
        let new_id = cache.create(false, vec![(key("t", 0), wanted(0), sent(5))]);
        assert_ne!(new_id, id);
        assert_eq!(incremental(cache.begin(request(new_id, 1, &[]))).len(), 1);
    }

    #[test]
    fn forgetting_every_partition_closes_the_session() {
        let (mut cache, id) = with_session();
        let forget_all = SessionRequest { forgotten: vec![key("t", 0), key("t", 1)], ..request(id, 1, &[]) };
        assert_eq!(cache.begin(forget_all), FetchContext::Sessionless);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_session() {
        let mut cache = SessionCache::new(2);
        let one = || vec![(key("t", 0), wanted(0), sent(0))];
        let (a, b) = (cache.create(false, one()), cache.create(false, one()));
        incremental(cache.begin(request(a, 1, &[]))); // a is now the most recently used
        let c = cache.create(false, one());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.begin(request(b, 1, &[])), FetchContext::Error(ErrorCode::FetchSessionIdNotFound));
        incremental(cache.begin(request(a, 2, &[])));
        incremental(cache.begin(request(c, 1, &[])));
        assert_eq!(SessionCache::new(0).create(false, one()), 0, "no room, no session");
        assert_eq!(cache.create(false, vec![]), 0, "nothing to remember, no session");
    }

    #[test]
    fn session_ids_are_positive_and_distinct_and_epochs_wrap_to_one() {
        let mut cache = SessionCache::new(500);
        let mut ids: Vec<i32> =
            (0..500).map(|_| cache.create(false, vec![(key("t", 0), wanted(0), sent(0))])).collect();
        assert!(ids.iter().all(|id| *id > 0));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 500);
        assert_eq!((next_epoch(1), next_epoch(i32::MAX)), (2, 1));
    }

    #[test]
    fn a_closed_session_answers_everything_and_node_down_forgets_a_node() {
        let mut cache = SessionCache::new(1);
        assert_eq!(cache.must_answer(42, &[seen("t", 0, 5, false)]), [true]);
        let mut nodes = NodeSessions::default();
        let id = nodes.node(1).create(false, vec![(key("t", 0), wanted(0), sent(0))]);
        assert_eq!(nodes.node(2).len(), 0, "caches are per node");
        nodes.node_down(1);
        assert_eq!(nodes.node(1).begin(request(id, 1, &[])), FetchContext::Error(ErrorCode::FetchSessionIdNotFound));
    }
}
