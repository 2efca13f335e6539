//! One partition's consuming state, as a plain state machine: the fetch position, the
//! prefetch buffer, the delivery waiting for the subscriber, the acknowledged offset,
//! pause, seek and the corrupt-batch count. The `PartitionConsumer` actor is a thin
//! shell that turns messages into calls here and carries out what they return.
//!
//! Offsets, in order: `acknowledged ≤ in-flight delivery < buffer < fetch_position`.
//! A delivery takes records from the front of the buffer and stays *in flight* until
//! the subscriber answers: `Ok` acknowledges it (and releases its budget charge),
//! `Err` keeps it for redelivery. Only one delivery is in flight at a time, which is
//! the backpressure the subscriber sees.
//!
//! Every fetch answer is tagged with the **fetch sequence** current when the partition
//! asked for it. A seek (or a reset) bumps the sequence, drops the buffer and moves
//! the fetch position, so an answer still in flight for the old position is recognised
//! and dropped instead of being delivered out of place.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::protocol::record::RecordError;

use super::budget::{charge_of, PrefetchBudget};
use super::decode::Decoded;
use super::fetch_session::PartitionFetch;
use super::types::{ConsumerRecord, TopicPartition};

/// Why a partition does not fetch until the next seek.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Halt {
    /// The batch at this offset stayed corrupt.
    Corrupt { offset: i64 },
    /// The position is out of range and the reset policy is none.
    OutOfRange { offset: i64 },
    /// The broker refused the partition with a non-retriable error.
    Refused,
}

/// What became of a fetch answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FetchOutcome {
    /// An answer for a position given up since (a seek): dropped.
    Stale,
    /// Taken: `records` records buffered (possibly none).
    Buffered { records: usize },
    /// A corrupt batch at `offset`, fetched again (this was try `tries`).
    CorruptRetry { offset: i64, tries: u32 },
    /// A corrupt batch that stayed corrupt: the partition halts.
    CorruptHalt { offset: i64, tries: u32, error: RecordError },
}

#[derive(Debug)]
struct InFlight {
    records: Vec<ConsumerRecord>,
    charge: usize,
    /// The fetch sequence when it was delivered: a seek since makes a failure final.
    seq: u64,
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct PartitionState {
    tp: TopicPartition,
    budget: Arc<PrefetchBudget>,
    /// The next offset to fetch; `None` while unknown (a reset in progress).
    fetch_position: Option<i64>,
    leader_epoch: i32,
    buffer: VecDeque<ConsumerRecord>,
    buffered_charge: usize,
    in_flight: Option<InFlight>,
    acknowledged: Option<(i64, i32)>,
    high_watermark: i64,
    paused: bool,
    halted: Option<Halt>,
    seq: u64,
    corrupt: Option<(i64, u32)>,
    /// Doubles the partition max bytes while only partial batches come back.
    max_bytes_shift: u32,
    /// The most bytes this partition buffers before it stops asking for more.
    buffer_limit: usize,
    /// The consumer's `max_partition_fetch_bytes`.
    partition_max_bytes: i32,
    corrupt_retries: u32,
}

/// The settings a partition's state needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartitionSettings {
    pub(crate) partition_max_bytes: i32,
    pub(crate) buffer_limit: usize,
    pub(crate) corrupt_retries: u32,
}

impl PartitionState {
    pub(crate) fn new(tp: TopicPartition, budget: Arc<PrefetchBudget>, settings: PartitionSettings) -> Self {
        Self {
            tp,
            budget,
            fetch_position: None,
            leader_epoch: -1,
            buffer: VecDeque::new(),
            buffered_charge: 0,
            in_flight: None,
            acknowledged: None,
            high_watermark: -1,
            paused: false,
            halted: None,
            seq: 0,
            corrupt: None,
            max_bytes_shift: 0,
            buffer_limit: settings.buffer_limit,
            partition_max_bytes: settings.partition_max_bytes,
            corrupt_retries: settings.corrupt_retries,
        }
    }

    pub(crate) fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// Moves to `offset` (a start position, a seek, a reset): drops the buffer, clears
    /// a halt and starts a new fetch sequence.
    pub(crate) fn seek(&mut self, offset: i64, leader_epoch: i32) {
        self.drop_buffer();
        self.fetch_position = Some(offset);
        if leader_epoch >= 0 {
            self.leader_epoch = leader_epoch;
        }
        self.halted = None;
        self.corrupt = None;
        self.max_bytes_shift = 0;
        self.seq += 1;
    }

    /// Forgets the position (a reset is resolving it); nothing is fetched meanwhile.
    pub(crate) fn unset_position(&mut self) {
        self.drop_buffer();
        self.fetch_position = None;
        self.seq += 1;
    }

    pub(crate) fn halt(&mut self, halt: Halt) {
        self.drop_buffer();
        self.halted = Some(halt);
        self.seq += 1;
    }

    #[cfg(test)]
    pub(crate) fn halted(&self) -> Option<&Halt> {
        self.halted.as_ref()
    }

    pub(crate) fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub(crate) fn paused(&self) -> bool {
        self.paused
    }

    /// The leader epoch the partition's metadata gave (sent as `current_leader_epoch`).
    pub(crate) fn set_leader_epoch(&mut self, epoch: i32) {
        self.leader_epoch = epoch;
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The high watermark of the last answer; -1 before any.
    pub(crate) fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The next offset to fetch, when known.
    pub(crate) fn fetch_position(&self) -> Option<i64> {
        self.fetch_position
    }

    fn drop_buffer(&mut self) {
        self.buffer.clear();
        self.budget.release(std::mem::take(&mut self.buffered_charge));
    }

    /// Whether the buffer is full (its own limit, or the consumer's whole budget).
    pub(crate) fn buffer_full(&self) -> bool {
        self.buffered_charge >= self.buffer_limit || !self.budget.has_room()
    }

    /// Whether the partition would want data but for room in its buffer or the
    /// consumer's budget (not paused, not halted, its position known).
    pub(crate) fn held_back(&self) -> bool {
        self.fetch_position.is_some() && !self.paused && self.halted.is_none() && self.buffer_full()
    }

    /// What to fetch, when the partition wants data now.
    pub(crate) fn want(&self) -> Option<PartitionFetch> {
        let fetch_offset = self.fetch_position?;
        if self.paused || self.halted.is_some() || self.buffer_full() {
            return None;
        }
        let partition_max_bytes = self.partition_max_bytes.saturating_mul(1 << self.max_bytes_shift.min(20));
        Some(PartitionFetch { fetch_offset, partition_max_bytes, current_leader_epoch: self.leader_epoch })
    }

    /// Takes a fetch answer asked for under fetch sequence `seq`.
    pub(crate) fn on_fetched(&mut self, seq: u64, decoded: Decoded, high_watermark: i64) -> FetchOutcome {
        if seq != self.seq || self.halted.is_some() {
            return FetchOutcome::Stale;
        }
        let Some(position) = self.fetch_position else { return FetchOutcome::Stale };
        if high_watermark >= 0 {
            self.high_watermark = high_watermark;
        }
        let records = decoded.records.len();
        for record in decoded.records {
            if record.offset < position {
                continue;
            }
            let charge = charge_of(&record);
            self.buffered_charge += charge;
            self.budget.charge(charge);
            self.buffer.push_back(record);
        }
        self.fetch_position = Some(position.max(decoded.next_offset));
        if decoded.needs_more_bytes {
            self.max_bytes_shift += 1;
        } else if decoded.next_offset > position {
            self.max_bytes_shift = 0;
        }
        match decoded.corrupt {
            Some(error) => self.on_corrupt(decoded.next_offset.max(position), error),
            None => {
                self.corrupt = None;
                FetchOutcome::Buffered { records }
            }
        }
    }

    fn on_corrupt(&mut self, offset: i64, error: RecordError) -> FetchOutcome {
        let tries = match self.corrupt {
            Some((at, tries)) if at == offset => tries + 1,
            _ => 1,
        };
        self.corrupt = Some((offset, tries));
        if tries > self.corrupt_retries {
            self.halted = Some(Halt::Corrupt { offset });
            self.seq += 1;
            return FetchOutcome::CorruptHalt { offset, tries, error };
        }
        FetchOutcome::CorruptRetry { offset, tries }
    }

    /// The next delivery, when one may go: nothing in flight, not paused, records
    /// buffered. The records stay in flight until [`on_answer`](Self::on_answer).
    pub(crate) fn next_delivery(&mut self, max_records: usize) -> Option<Vec<ConsumerRecord>> {
        if self.in_flight.is_some() || self.paused || self.buffer.is_empty() {
            return None;
        }
        let count = self.buffer.len().min(max_records.max(1));
        let records: Vec<ConsumerRecord> = self.buffer.drain(..count).collect();
        let charge: usize = records.iter().map(charge_of).sum();
        self.buffered_charge -= charge;
        self.in_flight = Some(InFlight { records: records.clone(), charge, seq: self.seq });
        Some(records)
    }

    /// The delivery in flight, again (after an `Err` answer and the backoff); `None`
    /// when it was given up meanwhile.
    pub(crate) fn redelivery(&self) -> Option<Vec<ConsumerRecord>> {
        self.in_flight.as_ref().map(|f| f.records.clone())
    }

    pub(crate) fn delivering(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The subscriber answered the delivery in flight. `Ok`: acknowledged, and the
    /// new acknowledged offset and epoch are returned. `Err`: kept for redelivery
    /// (`true` returned as the second element) unless a seek made it moot.
    pub(crate) fn on_answer(&mut self, ok: bool) -> (Option<(i64, i32)>, bool) {
        let Some(in_flight) = self.in_flight.take() else { return (None, false) };
        if !ok {
            let redeliver = in_flight.seq == self.seq;
            if redeliver {
                self.in_flight = Some(in_flight);
            } else {
                self.budget.release(in_flight.charge);
            }
            return (None, redeliver);
        }
        self.budget.release(in_flight.charge);
        let acked = in_flight.records.last().map(|r| (r.offset + 1, r.leader_epoch));
        if acked.is_some() {
            self.acknowledged = acked;
        }
        (acked, false)
    }

    /// Gives up the delivery in flight without an answer (the subscriber is gone, or
    /// a drain timed out).
    pub(crate) fn abandon_delivery(&mut self) {
        if let Some(in_flight) = self.in_flight.take() {
            self.budget.release(in_flight.charge);
        }
    }

    /// The offset after the last acknowledged record and its leader epoch.
    pub(crate) fn acknowledged(&self) -> Option<(i64, i32)> {
        self.acknowledged
    }

    /// The next offset to deliver: the front of the buffer, else the fetch position.
    pub(crate) fn position(&self) -> Option<i64> {
        self.buffer.front().map(|r| r.offset).or(self.fetch_position)
    }

    /// High watermark minus position; -1 while either is unknown.
    pub(crate) fn lag(&self) -> i64 {
        match self.position() {
            Some(position) if self.high_watermark >= 0 => (self.high_watermark - position).max(0),
            _ => -1,
        }
    }

    /// Whether the partition should be receiving (for the stall detector).
    pub(crate) fn fetchable(&self) -> bool {
        self.want().is_some()
    }
}

impl Drop for PartitionState {
    fn drop(&mut self) {
        self.drop_buffer();
        self.abandon_delivery();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::record::TimestampType;

    fn record(offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition: 0,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(Bytes::from_static(b"0123456789")),
            headers: Vec::new(),
            leader_epoch: 1,
        }
    }

    fn decoded(range: std::ops::Range<i64>) -> Decoded {
        Decoded { records: range.clone().map(record).collect(), next_offset: range.end, ..Decoded::default() }
    }

    fn state(budget: usize) -> (PartitionState, Arc<PrefetchBudget>) {
        let budget = Arc::new(PrefetchBudget::new(budget));
        let settings = PartitionSettings { partition_max_bytes: 1000, buffer_limit: 10_000, corrupt_retries: 2 };
        let mut state = PartitionState::new(TopicPartition::new("t", 0), budget.clone(), settings);
        state.seek(0, -1);
        (state, budget)
    }

    const CHARGE: usize = 10 + super::super::budget::RECORD_OVERHEAD;

    #[test]
    fn deliveries_acknowledge_and_release_in_order() {
        let (mut s, budget) = state(1 << 20);
        assert_eq!(s.want().unwrap().fetch_offset, 0);
        assert_eq!(s.on_fetched(s.seq(), decoded(0..5), 9), FetchOutcome::Buffered { records: 5 });
        assert_eq!(s.want().unwrap().fetch_offset, 5);
        assert_eq!(budget.used(), 5 * CHARGE);
        assert_eq!((s.position(), s.lag()), (Some(0), 9));
        let first = s.next_delivery(3).unwrap();
        assert_eq!(first.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(s.next_delivery(3).is_none(), "one delivery at a time");
        assert_eq!(s.on_answer(true), (Some((3, 1)), false));
        assert_eq!(budget.used(), 2 * CHARGE);
        let second = s.next_delivery(3).unwrap();
        assert_eq!(second.len(), 2);
        s.on_answer(true);
        assert_eq!((s.acknowledged(), budget.used()), (Some((5, 1)), 0));
    }

    #[test]
    fn an_error_answer_redelivers_the_same_records() {
        let (mut s, _) = state(1 << 20);
        s.on_fetched(s.seq(), decoded(0..4), 4);
        let first = s.next_delivery(10).unwrap();
        assert_eq!(s.on_answer(false), (None, true));
        assert_eq!(s.acknowledged(), None);
        assert!(s.next_delivery(10).is_none(), "the failed delivery is still in flight");
        assert_eq!(s.redelivery().unwrap(), first);
        assert_eq!(s.on_answer(true), (Some((4, 1)), false));
    }

    #[test]
    fn a_seek_drops_the_buffer_and_stale_answers() {
        let (mut s, budget) = state(1 << 20);
        let old = s.seq();
        s.on_fetched(old, decoded(0..4), 10);
        let _in_flight = s.next_delivery(2).unwrap();
        s.seek(8, -1);
        assert_eq!(budget.used(), 2 * CHARGE, "only the delivery in flight is still charged");
        assert_eq!(s.on_fetched(old, decoded(4..6), 10), FetchOutcome::Stale);
        assert_eq!(s.want().unwrap().fetch_offset, 8);
        // The delivery in flight finishes; a failure of it is not redelivered after a seek.
        assert_eq!(s.on_answer(false), (None, false));
        assert_eq!(budget.used(), 0);
        s.on_fetched(s.seq(), decoded(8..9), 10);
        assert_eq!(s.next_delivery(10).unwrap()[0].offset, 8);
    }

    #[test]
    fn pause_stops_fetching_and_delivering() {
        let (mut s, _) = state(1 << 20);
        s.on_fetched(s.seq(), decoded(0..2), 2);
        s.set_paused(true);
        assert!(s.want().is_none() && s.next_delivery(10).is_none());
        s.set_paused(false);
        assert!(s.want().is_some() && s.next_delivery(10).is_some());
    }

    #[test]
    fn a_full_budget_or_buffer_leaves_the_partition_out() {
        let (mut s, budget) = state(3 * CHARGE);
        s.on_fetched(s.seq(), decoded(0..3), 10);
        assert!(s.want().is_none(), "budget full");
        s.next_delivery(1).unwrap();
        s.on_answer(true);
        assert!(s.want().is_some(), "room again");
        drop(s);
        assert_eq!(budget.used(), 0, "dropping the state releases its charge");
    }

    #[test]
    fn a_batch_corrupt_past_the_retries_halts_the_partition_until_a_seek() {
        let (mut s, _) = state(1 << 20);
        let corrupt = |good: std::ops::Range<i64>| Decoded {
            corrupt: Some(RecordError::CrcMismatch { expected: 1, computed: 2 }),
            ..decoded(good)
        };
        assert_eq!(s.on_fetched(s.seq(), corrupt(0..3), 9), FetchOutcome::CorruptRetry { offset: 3, tries: 1 });
        assert_eq!(s.want().unwrap().fetch_offset, 3, "the good records before it are kept");
        assert_eq!(s.on_fetched(s.seq(), corrupt(3..3), 9), FetchOutcome::CorruptRetry { offset: 3, tries: 2 });
        assert!(matches!(
            s.on_fetched(s.seq(), corrupt(3..3), 9),
            FetchOutcome::CorruptHalt { offset: 3, tries: 3, .. }
        ));
        assert_eq!(s.halted(), Some(&Halt::Corrupt { offset: 3 }));
        assert!(s.want().is_none());
        assert_eq!(s.next_delivery(10).unwrap().len(), 3, "records before the bad batch still go out");
        s.seek(4, -1);
        assert!(s.halted().is_none() && s.want().is_some());
    }

    #[test]
    fn partial_batches_double_the_partition_max_bytes_until_progress() {
        let (mut s, _) = state(1 << 20);
        let partial = Decoded { needs_more_bytes: true, ..Decoded::default() };
        s.on_fetched(s.seq(), partial, 9);
        assert_eq!(s.want().unwrap().partition_max_bytes, 2000);
        let partial = Decoded { needs_more_bytes: true, ..Decoded::default() };
        s.on_fetched(s.seq(), partial, 9);
        assert_eq!(s.want().unwrap().partition_max_bytes, 4000);
        s.on_fetched(s.seq(), decoded(0..1), 9);
        assert_eq!(s.want().unwrap().partition_max_bytes, 1000);
    }
}
