//! The accumulator: a partition's open batch and its flush triggers.
//!
//! Records are appended to the open batch; it is frozen (moved to the ready queue)
//! when it reaches `batch_bytes`, when the next record would not fit in
//! `max_batch` (so every frozen batch fits one produce request), when its linger
//! deadline passes, or on a flush. Time is passed in, so the triggers are tested
//! under explicit time.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Something with a size in bytes.
pub(crate) trait Weighed {
    /// Its size in bytes.
    fn size(&self) -> usize;
}

impl Weighed for super::pending::PendingRecord {
    fn size(&self) -> usize {
        super::pending::PendingRecord::size(self)
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// The record waits in the open batch until this linger deadline (unchanged by
    /// later records of the same batch).
    Lingering(Instant),
    /// At least one batch was frozen: the linger timer of the old batch is moot.
    Frozen,
}

/// A partition's open batch and frozen batches.
#[derive(Debug)]
pub(crate) struct Accumulator<R> {
    batch_bytes: usize,
    max_batch: usize,
    linger: Duration,
    open: Vec<R>,
    open_bytes: usize,
    deadline: Option<Instant>,
    ready: VecDeque<Vec<R>>,
}

impl<R: Weighed> Accumulator<R> {
    /// An empty accumulator.
    pub(crate) fn new(batch_bytes: usize, max_batch: usize, linger: Duration) -> Self {
        Self {
            batch_bytes,
            max_batch: max_batch.max(1),
            linger,
            open: Vec::new(),
            open_bytes: 0,
            deadline: None,
            ready: VecDeque::new(),
        }
    }

    /// Appends a record at `now`.
    pub(crate) fn push(&mut self, record: R, now: Instant) -> Pushed {
        let size = record.size();
        let mut frozen = false;
        if !self.open.is_empty() && self.open_bytes + size > self.max_batch {
            self.freeze();
            frozen = true;
        }
        if self.open.is_empty() {
            self.deadline = Some(now + self.linger);
        }
        self.open.push(record);
        self.open_bytes += size;
        // A zero linger is not a batch per record: the records pushed together (one
        // message's worth) wait for `on_linger(now)`, which the caller makes at once.
        if self.open_bytes >= self.batch_bytes {
            self.freeze();
            frozen = true;
        }
        match (frozen, self.deadline) {
            (false, Some(deadline)) => Pushed::Lingering(deadline),
            _ => Pushed::Frozen,
        }
    }

    /// Appends records at `now`, in order; whether a batch was frozen.
    ///
    /// With no open batch, the list itself becomes the open batch, up to where that
    /// batch ends: the records are not copied (a list of 10,000 ~200-byte records is
    /// 2 MB, and copying it touched as much fresh memory). Otherwise the open batch's
    /// list is sized for the records still to come (at most a batch's worth), so
    /// records are not copied again as it grows.
    pub(crate) fn push_all(&mut self, mut records: Vec<R>, now: Instant) -> bool {
        let mut frozen = false;
        if self.open.is_empty() && !records.is_empty() {
            let (count, bytes) = self.first_batch(&records);
            let rest = if count < records.len() { records.split_off(count) } else { Vec::new() };
            self.open = records;
            self.open_bytes = bytes;
            self.deadline = Some(now + self.linger);
            if bytes >= self.batch_bytes {
                self.freeze();
                frozen = true;
            }
            records = rest;
        }
        let mut left = records.len();
        for record in records {
            if self.open.capacity() == 0 {
                let per_batch = self.batch_bytes / record.size().max(1) + 1;
                self.open.reserve(left.min(per_batch));
            }
            left -= 1;
            frozen |= self.push(record, now) == Pushed::Frozen;
        }
        frozen
    }

    /// How many of `records` (and their bytes) make the first batch when pushed one by
    /// one into an empty accumulator: [`push`](Self::push)'s two size triggers.
    fn first_batch(&self, records: &[R]) -> (usize, usize) {
        let (mut count, mut bytes) = (0, 0);
        for record in records {
            let size = record.size();
            if count > 0 && bytes + size > self.max_batch {
                break;
            }
            count += 1;
            bytes += size;
            if bytes >= self.batch_bytes {
                break;
            }
        }
        (count, bytes)
    }

    /// The open batch's linger deadline, if there is an open batch.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Freezes the open batch if its linger deadline passed; whether it did.
    pub(crate) fn on_linger(&mut self, now: Instant) -> bool {
        if self.deadline.is_some_and(|deadline| deadline <= now) {
            self.freeze();
            return true;
        }
        false
    }

    /// Freezes the open batch, if any (a flush).
    pub(crate) fn freeze(&mut self) {
        if !self.open.is_empty() {
            self.ready.push_back(std::mem::take(&mut self.open));
        }
        self.open_bytes = 0;
        self.deadline = None;
    }

    /// Takes the frozen batches, oldest first.
    pub(crate) fn take_ready(&mut self) -> impl Iterator<Item = Vec<R>> + '_ {
        self.ready.drain(..)
    }

    /// How many records wait in the open batch.
    #[cfg(test)]
    pub(crate) fn open_len(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weighed for usize {
        fn size(&self) -> usize {
            *self
        }
    }

    const LINGER: Duration = Duration::from_millis(5);

    fn sizes(batches: Vec<Vec<usize>>) -> Vec<usize> {
        batches.iter().map(|b| b.iter().sum()).collect()
    }

    #[test]
    fn a_size_trigger_flushes_before_linger_and_cancels_the_deadline() {
        let now = Instant::now();
        let mut acc = Accumulator::new(100, 1000, LINGER);
        assert_eq!(acc.push(60, now), Pushed::Lingering(now + LINGER));
        // The deadline is the first record's, not moved by the next one.
        assert_eq!(acc.push(30, now + Duration::from_millis(1)), Pushed::Lingering(now + LINGER));
        assert_eq!(acc.push(20, now + Duration::from_millis(2)), Pushed::Frozen);
        assert_eq!(acc.deadline(), None, "the linger deadline went with the frozen batch");
        assert!(!acc.on_linger(now + LINGER), "a stale linger timer freezes nothing");
        assert_eq!(sizes(acc.take_ready().collect()), vec![110]);
    }

    #[test]
    fn pushing_all_at_once_freezes_as_pushing_one_by_one() {
        let now = Instant::now();
        let mut one_by_one = Accumulator::new(100, 150, Duration::ZERO);
        let mut at_once = Accumulator::new(100, 150, Duration::ZERO);
        let records = vec![30, 30, 30, 30, 120, 5, 60, 60, 1];
        let frozen = records.iter().fold(false, |f, r| f | (one_by_one.push(*r, now) == Pushed::Frozen));
        assert_eq!(at_once.push_all(records, now), frozen);
        assert_eq!(at_once.open_len(), one_by_one.open_len());
        let (a, b): (Vec<_>, Vec<_>) = (at_once.take_ready().collect(), one_by_one.take_ready().collect());
        assert_eq!(a, b);
        assert_eq!(sizes(a), vec![120, 120, 125]);
    }

    proptest::proptest! {
        /// Whatever the sizes and however they arrive (one list adopted whole or in
        /// part, or record by record), the same batches are frozen at the same time.
        #[test]
        fn lists_and_single_records_make_the_same_batches(
            sizes in proptest::collection::vec(1usize..300, 0..60),
            cut in 0usize..60,
            batch_bytes in 1usize..400,
            max_batch in 1usize..500,
        ) {
            let now = Instant::now();
            let mut one_by_one = Accumulator::new(batch_bytes, max_batch, LINGER);
            let mut lists = Accumulator::new(batch_bytes, max_batch, LINGER);
            let cut = cut.min(sizes.len());
            let (first, second) = (sizes[..cut].to_vec(), sizes[cut..].to_vec());
            for part in [first, second] {
                let frozen = part.iter().fold(false, |f, r| f | (one_by_one.push(*r, now) == Pushed::Frozen));
                proptest::prop_assert_eq!(lists.push_all(part, now), frozen);
                proptest::prop_assert_eq!(lists.open_len(), one_by_one.open_len());
                proptest::prop_assert_eq!(lists.deadline(), one_by_one.deadline());
                proptest::prop_assert_eq!(lists.open_bytes, one_by_one.open_bytes);
            }
            lists.freeze();
            one_by_one.freeze();
            let (a, b): (Vec<_>, Vec<_>) = (lists.take_ready().collect(), one_by_one.take_ready().collect());
            proptest::prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn linger_flushes_a_small_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(100, 1000, LINGER);
        acc.push(10, now);
        assert!(!acc.on_linger(now + Duration::from_millis(4)));
        assert_eq!(acc.take_ready().count(), 0);
        assert!(acc.on_linger(now + LINGER));
        assert_eq!(sizes(acc.take_ready().collect()), vec![10]);
        assert_eq!(acc.open_len(), 0);
    }

    #[test]
    fn a_record_that_would_pass_the_request_limit_starts_a_new_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(10_000, 100, LINGER);
        acc.push(70, now);
        assert_eq!(acc.push(40, now), Pushed::Frozen);
        assert_eq!(acc.open_len(), 1);
        acc.freeze();
        assert_eq!(sizes(acc.take_ready().collect()), vec![70, 40]);
    }

    #[test]
    fn flush_sends_at_once_and_zero_linger_never_waits() {
        let now = Instant::now();
        let mut acc = Accumulator::new(100, 1000, LINGER);
        acc.push(1, now);
        acc.freeze();
        assert_eq!(acc.take_ready().count(), 1);
        let mut eager = Accumulator::new(100, 1000, Duration::ZERO);
        assert_eq!(eager.push(1, now), Pushed::Lingering(now));
        assert_eq!(eager.push(2, now), Pushed::Lingering(now));
        assert!(eager.on_linger(now), "a zero linger is due at once");
        assert_eq!(sizes(eager.take_ready().collect()), vec![3], "records pushed together make one batch");
    }
}
