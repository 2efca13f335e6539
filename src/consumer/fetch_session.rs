//! The client side of an incremental fetch session (KIP-227), as a plain state machine.
//!
//! A consumer that fetches hundreds of partitions from one broker would otherwise
//! resend every partition in every FetchRequest, and the broker would answer every
//! partition, data or not. With a session the broker remembers the partitions (and
//! their fetch offsets) of the last request; the client then sends only what changed
//! (a new fetch offset after data arrived, a partition added) and names the ones it
//! no longer wants in `forgotten_topics_data`, and the broker answers only partitions
//! with something to say.
//!
//! The epochs, from the KIP:
//!
//! | request | session_id | session_epoch |
//! |---|---|---|
//! | full fetch, sessions off | 0 | -1 (FINAL) |
//! | full fetch, asking for a session | 0 | 0 (INITIAL) |
//! | incremental fetch | the broker's id | 1, 2, … (wrapping to 1) |
//!
//! A full fetch answered with a non-zero `session_id` opens the session. A top-level
//! FETCH_SESSION_ID_NOT_FOUND or INVALID_FETCH_SESSION_EPOCH (the broker evicted the
//! session, or an answer was lost so the epochs disagree), any other failure of the
//! request, and a change of the Fetch version all drop it: the next request is a full
//! fetch again. Nothing here does I/O; [`FetchSession::next_plan`] says what to send
//! and [`FetchSession::on_response`] / [`FetchSession::on_failure`] what came back.

use std::collections::BTreeMap;

use crate::protocol::ErrorCode;

use super::types::TopicPartition;

/// The session epoch of a full fetch that opens no session.
pub(crate) const FINAL_EPOCH: i32 = -1;
/// The session epoch of a full fetch that asks for a session.
pub(crate) const INITIAL_EPOCH: i32 = 0;
/// The first Fetch version with sessions.
pub(crate) const MIN_SESSION_VERSION: i16 = 7;

/// What the client asks of one partition in a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionFetch {
    /// The next offset wanted.
    pub(crate) fetch_offset: i64,
    /// The most bytes this partition may contribute.
    pub(crate) partition_max_bytes: i32,
    /// The leader epoch the client knows (-1 when unknown); the broker fences stale ones.
    pub(crate) current_leader_epoch: i32,
}

/// What one FetchRequest must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchPlan {
    pub(crate) session_id: i32,
    pub(crate) session_epoch: i32,
    /// The partitions to send: all of them in a full fetch, only new or changed ones
    /// in an incremental one.
    pub(crate) partitions: Vec<(TopicPartition, PartitionFetch)>,
    /// Partitions the session holds that are no longer wanted (incremental only).
    pub(crate) forgotten: Vec<TopicPartition>,
    /// Whether this is a full fetch (the answer then covers every partition sent).
    pub(crate) full: bool,
    /// What the session holds once this request succeeds.
    wanted: BTreeMap<TopicPartition, PartitionFetch>,
}

/// See the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct FetchSession {
    enabled: bool,
    /// The broker's session id; 0 while there is no session.
    session_id: i32,
    /// The epoch of the next incremental request.
    next_epoch: i32,
    /// What the broker's session holds (as of the last successful request).
    held: BTreeMap<TopicPartition, PartitionFetch>,
    /// The Fetch version the session was opened at.
    version: i16,
}

impl FetchSession {
    /// A session state machine; `enabled` is the consumer's `fetch_sessions` setting.
    pub(crate) fn new(enabled: bool) -> Self {
        Self { enabled, session_id: 0, next_epoch: INITIAL_EPOCH, held: BTreeMap::new(), version: -1 }
    }

    /// The open session's id, 0 when none.
    #[cfg(test)]
    pub(crate) fn session_id(&self) -> i32 {
        self.session_id
    }

    /// Drops the session: the next request is a full fetch.
    pub(crate) fn reset(&mut self) {
        self.session_id = 0;
        self.next_epoch = INITIAL_EPOCH;
        self.held.clear();
    }

    /// The request to send for `wanted` at Fetch `version`.
    pub(crate) fn next_plan(&mut self, wanted: BTreeMap<TopicPartition, PartitionFetch>, version: i16) -> FetchPlan {
        if version != self.version {
            self.reset();
            self.version = version;
        }
        let use_sessions = self.enabled && version >= MIN_SESSION_VERSION;
        if !use_sessions || self.session_id == 0 {
            let epoch = if use_sessions { INITIAL_EPOCH } else { FINAL_EPOCH };
            let partitions = wanted.iter().map(|(tp, f)| (tp.clone(), *f)).collect();
            return FetchPlan {
                session_id: 0,
                session_epoch: epoch,
                partitions,
                forgotten: Vec::new(),
                full: true,
                wanted,
            };
        }
        let partitions =
            wanted.iter().filter(|(tp, f)| self.held.get(*tp) != Some(*f)).map(|(tp, f)| (tp.clone(), *f)).collect();
        let forgotten = self.held.keys().filter(|tp| !wanted.contains_key(*tp)).cloned().collect();
        FetchPlan {
            session_id: self.session_id,
            session_epoch: self.next_epoch,
            partitions,
            forgotten,
            full: false,
            wanted,
        }
    }

    /// The answer to `plan` arrived with this top-level error code and session id.
    pub(crate) fn on_response(&mut self, plan: FetchPlan, error: ErrorCode, session_id: i32) {
        if !error.is_ok() {
            if matches!(error, ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch) {
                tracing::debug!(session = self.session_id, error = error.name(), "fetch session dropped");
            }
            self.reset();
            return;
        }
        if plan.full {
            // A zero id means the broker declined (or has no room): full fetches go on,
            // each asking again.
            self.session_id = if plan.session_epoch == INITIAL_EPOCH { session_id } else { 0 };
            self.next_epoch = 1;
        } else {
            self.next_epoch = if self.next_epoch == i32::MAX { 1 } else { self.next_epoch + 1 };
        }
        self.held = if self.session_id == 0 { BTreeMap::new() } else { plan.wanted };
    }

    /// The request of `plan` failed (connection, timeout, undecodable answer): the
    /// broker may or may not have advanced the epoch, so start over.
    pub(crate) fn on_failure(&mut self) {
        self.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn fetch(offset: i64) -> PartitionFetch {
        PartitionFetch { fetch_offset: offset, partition_max_bytes: 1024, current_leader_epoch: 3 }
    }

    fn wanted(parts: &[(i32, i64)]) -> BTreeMap<TopicPartition, PartitionFetch> {
        parts.iter().map(|&(p, o)| (tp(p), fetch(o))).collect()
    }

    fn sent(plan: &FetchPlan) -> Vec<(i32, i64)> {
        plan.partitions.iter().map(|(tp, f)| (tp.partition, f.fetch_offset)).collect()
    }

    #[test]
    fn disabled_sessions_send_full_fetches_with_the_final_epoch() {
        let mut session = FetchSession::new(false);
        for _ in 0..3 {
            let plan = session.next_plan(wanted(&[(0, 5), (1, 7)]), 12);
            assert_eq!((plan.session_id, plan.session_epoch, plan.full), (0, FINAL_EPOCH, true));
            assert_eq!(sent(&plan), [(0, 5), (1, 7)]);
            session.on_response(plan, ErrorCode::None, 99);
            assert_eq!(session.session_id(), 0, "a session id is ignored when we did not ask");
        }
    }

    #[test]
    fn versions_before_7_have_no_sessions() {
        let mut session = FetchSession::new(true);
        let plan = session.next_plan(wanted(&[(0, 5)]), 6);
        assert_eq!((plan.session_id, plan.session_epoch), (0, FINAL_EPOCH));
    }

    #[test]
    fn a_full_fetch_opens_the_session_and_incrementals_send_only_changes() {
        let mut session = FetchSession::new(true);
        let plan = session.next_plan(wanted(&[(0, 5), (1, 7), (2, 9)]), 12);
        assert_eq!((plan.session_id, plan.session_epoch, plan.full), (0, INITIAL_EPOCH, true));
        assert_eq!(sent(&plan).len(), 3);
        session.on_response(plan, ErrorCode::None, 42);
        assert_eq!(session.session_id(), 42);

        // Partition 0 got data (new offset), partition 1 nothing, partition 2 is paused.
        let plan = session.next_plan(wanted(&[(0, 8), (1, 7)]), 12);
        assert_eq!((plan.session_id, plan.session_epoch, plan.full), (42, 1, false));
        assert_eq!(sent(&plan), [(0, 8)]);
        assert_eq!(plan.forgotten, [tp(2)]);
        session.on_response(plan, ErrorCode::None, 42);

        // Nothing changed: an empty incremental fetch, epoch 2.
        let plan = session.next_plan(wanted(&[(0, 8), (1, 7)]), 12);
        assert_eq!((plan.session_epoch, sent(&plan).len(), plan.forgotten.len()), (2, 0, 0));
        session.on_response(plan, ErrorCode::None, 42);

        // Partition 2 comes back: sent as new.
        let plan = session.next_plan(wanted(&[(0, 8), (1, 7), (2, 9)]), 12);
        assert_eq!((plan.session_epoch, sent(&plan)), (3, vec![(2, 9)]));
    }

    #[test]
    fn a_changed_leader_epoch_or_max_bytes_is_a_change() {
        let mut session = FetchSession::new(true);
        let plan = session.next_plan(wanted(&[(0, 5)]), 12);
        session.on_response(plan, ErrorCode::None, 1);
        let mut w = wanted(&[(0, 5)]);
        w.get_mut(&tp(0)).unwrap().current_leader_epoch = 4;
        assert_eq!(sent(&session.next_plan(w, 12)), [(0, 5)]);
    }

    #[test]
    fn session_errors_and_failures_go_back_to_a_full_fetch() {
        for error in [ErrorCode::FetchSessionIdNotFound, ErrorCode::InvalidFetchSessionEpoch] {
            let mut session = FetchSession::new(true);
            let plan = session.next_plan(wanted(&[(0, 5), (1, 6)]), 12);
            session.on_response(plan, ErrorCode::None, 7);
            let plan = session.next_plan(wanted(&[(0, 6), (1, 6)]), 12);
            assert!(!plan.full);
            session.on_response(plan, error, 0);
            let plan = session.next_plan(wanted(&[(0, 6), (1, 6)]), 12);
            assert_eq!((plan.session_id, plan.session_epoch, plan.full), (0, INITIAL_EPOCH, true));
            assert_eq!(sent(&plan).len(), 2, "{error:?}: every partition again");
        }
        let mut session = FetchSession::new(true);
        let plan = session.next_plan(wanted(&[(0, 5)]), 12);
        session.on_response(plan, ErrorCode::None, 7);
        let _in_flight = session.next_plan(wanted(&[(0, 6)]), 12);
        session.on_failure();
        assert!(session.next_plan(wanted(&[(0, 6)]), 12).full);
    }

    #[test]
    fn a_declined_session_keeps_asking_with_full_fetches() {
        let mut session = FetchSession::new(true);
        for _ in 0..2 {
            let plan = session.next_plan(wanted(&[(0, 5)]), 12);
            assert_eq!((plan.session_id, plan.session_epoch, plan.full), (0, INITIAL_EPOCH, true));
            session.on_response(plan, ErrorCode::None, 0);
        }
    }

    #[test]
    fn a_version_change_drops_the_session_and_the_epoch_wraps_to_one() {
        let mut session = FetchSession::new(true);
        let plan = session.next_plan(wanted(&[(0, 5)]), 12);
        session.on_response(plan, ErrorCode::None, 7);
        assert!(session.next_plan(wanted(&[(0, 5)]), 13).full);

        let mut session = FetchSession::new(true);
        let plan = session.next_plan(wanted(&[(0, 5)]), 12);
        session.on_response(plan, ErrorCode::None, 7);
        session.next_epoch = i32::MAX;
        let plan = session.next_plan(wanted(&[(0, 5)]), 12);
        assert_eq!(plan.session_epoch, i32::MAX);
        session.on_response(plan, ErrorCode::None, 7);
        assert_eq!(session.next_plan(wanted(&[(0, 5)]), 12).session_epoch, 1);
    }
}
