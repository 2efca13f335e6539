//! A partition's frozen batches, in-flight window and producer sequence numbers.
//!
//! The plain state machine a `PartitionProducer` wraps. Rules, after the Java
//! client's `TransactionManager` and against sarama #1430 / #3354:
//!
//! - a batch gets its sequence numbers when it is dispatched for the first time (not
//!   when its records arrive), and keeps them across retries, so the broker can
//!   deduplicate a retry of a batch it already appended;
//! - at most `window` batches are in flight; after a retriable error nothing new is
//!   dispatched until every in-flight batch is back, then the returned batches go
//!   first, in sequence order: order is kept;
//! - a batch that fails for good after it was sent leaves a gap: the partition stops,
//!   waits for its in-flight batches, asks for an epoch bump, and renumbers its
//!   unacknowledged batches from 0 under the new epoch. A failed batch never keeps
//!   sequence numbers that later batches depend on;
//! - any epoch change (a bump asked by another partition too) is adopted only once
//!   nothing of the old epoch is in flight.

use std::collections::VecDeque;

use tokio::time::Instant;

/// Producer id and epoch.
pub(crate) type ProducerIdentity = (i64, i16);

/// The sequence numbers of a dispatched batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sequence {
    pub(crate) identity: ProducerIdentity,
    pub(crate) base: i32,
}

/// A frozen batch of a partition.
#[derive(Debug)]
pub(crate) struct Batch<R> {
    pub(crate) records: Vec<R>,
    pub(crate) sequence: Option<Sequence>,
    pub(crate) attempts: u32,
}

impl<R> Batch<R> {
    /// A batch that was never sent.
    pub(crate) fn new(records: Vec<R>) -> Self {
        Self { records, sequence: None, attempts: 0 }
    }
}

/// What the partition should do next.
#[derive(Debug)]
pub(crate) enum Next<R> {
    /// Send this batch.
    Send(Batch<R>),
    /// Nothing to send.
    Idle,
    /// Wait: the window is full, or retries are draining, or old epochs are in flight.
    Wait,
    /// Idempotence needs a producer id first.
    NeedIdentity,
    /// The partition's sequences have a gap: bump past this identity first.
    NeedBump(ProducerIdentity),
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct PartitionQueue<R> {
    window: usize,
    idempotent: bool,
    ready: VecDeque<Batch<R>>,
    in_flight: usize,
    /// The identity the partition's sequence numbers belong to.
    identity: Option<ProducerIdentity>,
    next_sequence: i32,
    draining: bool,
    needs_bump: bool,
}

impl<R> PartitionQueue<R> {
    /// An empty queue allowing `window` batches in flight.
    pub(crate) fn new(window: usize, idempotent: bool) -> Self {
        Self {
            window: window.max(1),
            idempotent,
            ready: VecDeque::new(),
            in_flight: 0,
            identity: None,
            next_sequence: 0,
            draining: false,
            needs_bump: false,
        }
    }

    /// Queues a frozen batch behind the others.
    pub(crate) fn push(&mut self, records: Vec<R>) {
        self.ready.push_back(Batch::new(records));
    }

    /// The next step, given the producer's current identity.
    pub(crate) fn next(&mut self, current: Option<ProducerIdentity>) -> Next<R> {
        if self.ready.is_empty() {
            return Next::Idle;
        }
        if self.draining || self.in_flight >= self.window {
            return Next::Wait;
        }
        if self.idempotent {
            let Some(current) = current else { return Next::NeedIdentity };
            if self.identity != Some(current) {
                if self.in_flight > 0 {
                    return Next::Wait;
                }
                self.adopt(current);
            } else if self.needs_bump {
                return Next::NeedBump(current);
            }
        }
        let Some(mut batch) = self.ready.pop_front() else { return Next::Idle };
        if let (None, Some(identity)) = (batch.sequence, self.identity) {
            let base = self.next_sequence;
            let count = i32::try_from(batch.records.len()).unwrap_or(i32::MAX);
            // Sequences wrap from i32::MAX to 0, as the broker expects.
            self.next_sequence = ((i64::from(base) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32;
            batch.sequence = Some(Sequence { identity, base });
        }
        batch.attempts += 1;
        self.in_flight += 1;
        Next::Send(batch)
    }

    /// Starts over under a new identity: every unacknowledged batch is renumbered.
    fn adopt(&mut self, identity: ProducerIdentity) {
        self.identity = Some(identity);
        self.next_sequence = 0;
        self.needs_bump = false;
        for batch in &mut self.ready {
            batch.sequence = None;
        }
    }

    /// A dispatched batch was acknowledged (or failed without consuming sequences).
    pub(crate) fn acknowledged(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A dispatched batch must be sent again: it goes back before every newer batch,
    /// and nothing is dispatched until the in-flight ones are back.
    pub(crate) fn retry(&mut self, batch: Batch<R>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.draining = true;
        let base = batch.sequence.map(|s| s.base);
        let position = match base {
            Some(base) => {
                self.ready.iter().position(|b| b.sequence.map_or(true, |s| s.base > base)).unwrap_or(self.ready.len())
            }
            None => 0,
        };
        self.ready.insert(position, batch);
    }

    /// A dispatched batch must be sent again after an epoch bump (the broker lost or
    /// refused our sequence state).
    pub(crate) fn retry_after_bump(&mut self, batch: Batch<R>) {
        self.needs_bump = self.idempotent;
        self.retry(batch);
    }

    /// A dispatched batch failed for good: if it had sequence numbers, the partition
    /// needs an epoch bump before sending anything else.
    pub(crate) fn failed(&mut self, batch: &Batch<R>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if batch.sequence.is_some() {
            self.needs_bump = true;
        }
    }

    /// Whether retries wait for the in-flight batches to come back, and they all did:
    /// time to back off and then [`resume`](Self::resume).
    pub(crate) fn drained(&self) -> bool {
        self.draining && self.in_flight == 0
    }

    /// Ends the retry drain (after the backoff).
    pub(crate) fn resume(&mut self) {
        self.draining = false;
    }

    /// Removes the queued batches whose oldest record is past its deadline. A removed
    /// batch that had been sent leaves a gap: an epoch bump will be needed.
    pub(crate) fn expire(&mut self, now: Instant, deadline: impl Fn(&R) -> Instant) -> Vec<Batch<R>> {
        let mut expired = Vec::new();
        let mut kept = VecDeque::with_capacity(self.ready.len());
        for batch in self.ready.drain(..) {
            if batch.records.first().is_some_and(|r| deadline(r) <= now) {
                self.needs_bump |= batch.sequence.is_some();
                expired.push(batch);
            } else {
                kept.push_back(batch);
            }
        }
        self.ready = kept;
        expired
    }

    /// Batches waiting to be sent.
    pub(crate) fn queued(&self) -> usize {
        self.ready.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: ProducerIdentity = (7, 0);
    const BUMPED: ProducerIdentity = (7, 1);

    fn send(queue: &mut PartitionQueue<u32>, identity: ProducerIdentity) -> Batch<u32> {
        match queue.next(Some(identity)) {
            Next::Send(batch) => batch,
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    fn bases(batches: &[&Batch<u32>]) -> Vec<i32> {
        batches.iter().map(|b| b.sequence.unwrap().base).collect()
    }

    #[test]
    fn sequences_are_assigned_at_dispatch_within_the_window() {
        let mut queue = PartitionQueue::new(2, true);
        queue.push(vec![1, 2, 3]);
        queue.push(vec![4]);
        queue.push(vec![5]);
        assert!(matches!(queue.next(None), Next::NeedIdentity));
        let (a, b) = (send(&mut queue, ID), send(&mut queue, ID));
        assert_eq!(bases(&[&a, &b]), vec![0, 3]);
        assert!(matches!(queue.next(Some(ID)), Next::Wait), "window of 2");
        queue.acknowledged();
        assert_eq!(send(&mut queue, ID).sequence.unwrap().base, 4);
    }

    #[test]
    fn a_retried_batch_goes_first_with_its_sequence_once_the_window_drains() {
        let mut queue = PartitionQueue::new(5, true);
        for r in 0..4 {
            queue.push(vec![r]);
        }
        let (a, b) = (send(&mut queue, ID), send(&mut queue, ID));
        queue.retry(b);
        assert!(matches!(queue.next(Some(ID)), Next::Wait), "draining while a is in flight");
        queue.retry(a);
        assert!(queue.drained());
        queue.resume();
        let order: Vec<_> = (0..4).map(|_| send(&mut queue, ID)).collect();
        assert_eq!(order.iter().map(|b| b.records[0]).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(bases(&order.iter().collect::<Vec<_>>()), vec![0, 1, 2, 3]);
        assert_eq!(order[0].attempts, 2);
    }

    #[test]
    fn a_failed_batch_never_keeps_sequences_later_batches_need() {
        // sarama #1430 / #3354: the failed batch's numbers must not stay consumed.
        let mut queue = PartitionQueue::new(5, true);
        queue.push(vec![0, 0]);
        queue.push(vec![1]);
        let (failed, later) = (send(&mut queue, ID), send(&mut queue, ID));
        queue.failed(&failed);
        assert!(matches!(queue.next(Some(ID)), Next::Idle));
        queue.retry(later); // OUT_OF_ORDER_SEQUENCE: the gap
        queue.resume();
        assert!(matches!(queue.next(Some(ID)), Next::NeedBump(ID)));
        let renumbered = send(&mut queue, BUMPED);
        assert_eq!(renumbered.sequence, Some(Sequence { identity: BUMPED, base: 0 }));
    }

    #[test]
    fn an_epoch_change_waits_for_the_old_epoch_in_flight() {
        let mut queue = PartitionQueue::new(5, true);
        queue.push(vec![1]);
        queue.push(vec![2]);
        let _old = send(&mut queue, ID);
        assert!(matches!(queue.next(Some(BUMPED)), Next::Wait));
        queue.acknowledged();
        assert_eq!(send(&mut queue, BUMPED).sequence, Some(Sequence { identity: BUMPED, base: 0 }));
    }

    #[test]
    fn unknown_producer_state_bumps_and_renumbers_everything_unacknowledged() {
        let mut queue = PartitionQueue::new(5, true);
        for r in 0..3 {
            queue.push(vec![r]);
        }
        let batches: Vec<_> = (0..3).map(|_| send(&mut queue, ID)).collect();
        for batch in batches.into_iter().rev() {
            queue.retry_after_bump(batch);
        }
        queue.resume();
        assert!(matches!(queue.next(Some(ID)), Next::NeedBump(ID)));
        let again: Vec<_> = (0..3).map(|_| send(&mut queue, BUMPED)).collect();
        assert_eq!(
            again.iter().map(|b| (b.records[0], b.sequence.unwrap().base)).collect::<Vec<_>>(),
            vec![(0, 0), (1, 1), (2, 2)]
        );
    }

    #[test]
    fn without_idempotence_there_are_no_sequences_and_one_batch_in_flight() {
        let mut queue = PartitionQueue::new(1, false);
        queue.push(vec![1]);
        queue.push(vec![2]);
        let first = match queue.next(None) {
            Next::Send(batch) => batch,
            other => panic!("{other:?}"),
        };
        assert!(first.sequence.is_none());
        assert!(matches!(queue.next(None), Next::Wait));
    }

    #[test]
    fn expired_batches_leave_and_a_sent_one_forces_a_bump() {
        let now = Instant::now();
        let mut queue = PartitionQueue::new(5, true);
        queue.push(vec![1]);
        queue.push(vec![100]);
        let sent = send(&mut queue, ID);
        queue.retry(sent);
        let deadline = |r: &u32| now + std::time::Duration::from_millis(u64::from(*r));
        let expired = queue.expire(now + std::time::Duration::from_millis(50), deadline);
        assert_eq!(expired.len(), 1);
        assert_eq!(queue.queued(), 1);
        queue.resume();
        assert!(matches!(queue.next(Some(ID)), Next::NeedBump(ID)));
    }
}
