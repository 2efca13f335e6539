//! Idempotent-producer state: each producer id's epoch and its last five batches.
//!
//! Kafka's rules (`ProducerStateManager`, `ProducerAppendInfo`), per partition:
//!
//! - an epoch older than the producer's current one is fenced
//!   ([`AppendError::InvalidProducerEpoch`]);
//! - a newer epoch starts over: its first sequence must be 0;
//! - in the same epoch, a batch whose first and last sequences equal one of the five
//!   cached batches is a duplicate (a retry whose response was lost) and is answered
//!   with that batch's offsets; any other batch must start at the newest cached
//!   batch's last sequence + 1, wrapping from `i32::MAX` to 0;
//! - a producer the log does not know may only start at sequence 0
//!   ([`AppendError::UnknownProducerId`] otherwise).

use std::collections::{HashMap, VecDeque};

use super::error::AppendError;
use super::header::{increment_sequence, BatchHeader};

/// How many recent batches are kept per producer, as in Kafka (and as many as a
/// producer may have in flight with idempotence on).
pub(crate) const CACHED_BATCHES: usize = 5;

/// One appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub base_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    /// Oldest first.
    batches: VecDeque<BatchMetadata>,
}

/// What to do with an idempotent batch that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Append it.
    Append,
    /// Append nothing; it was appended before at these offsets.
    Duplicate(BatchMetadata),
}

/// The producer state of one partition.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
}

/// Changes to a [`ProducerState`] made while checking one append, applied with
/// [`ProducerState::commit`] only once the whole append succeeded.
#[derive(Debug, Default)]
pub(crate) struct StagedProducers {
    changed: HashMap<i64, ProducerEntry>,
}

impl ProducerState {
    /// Drops every producer (a fault hook, and what a lost snapshot would do).
    pub(crate) fn clear(&mut self) {
        self.producers.clear();
    }

    /// Checks an idempotent batch against the state as `staged` changes it.
    pub(crate) fn check(&self, staged: &StagedProducers, header: &BatchHeader) -> Result<SequenceCheck, AppendError> {
        let producer_id = header.producer_id;
        let (epoch, first) = (header.producer_epoch, header.base_sequence);
        let Some(entry) = staged.changed.get(&producer_id).or_else(|| self.producers.get(&producer_id)) else {
            return match first {
                0 => Ok(SequenceCheck::Append),
                sequence => Err(AppendError::UnknownProducerId { producer_id, sequence }),
            };
        };
        if epoch < entry.epoch {
            return Err(AppendError::InvalidProducerEpoch { producer_id, epoch, current: entry.epoch });
        }
        let out_of_order =
            |expected| AppendError::OutOfOrderSequenceNumber { producer_id, epoch, expected, found: first };
        if epoch > entry.epoch {
            return if first == 0 { Ok(SequenceCheck::Append) } else { Err(out_of_order(0)) };
        }
        let last = header.last_sequence();
        if let Some(original) = entry.batches.iter().find(|b| b.first_sequence == first && b.last_sequence == last) {
            return Ok(SequenceCheck::Duplicate(*original));
        }
        let expected = entry.batches.back().map_or(0, |newest| increment_sequence(newest.last_sequence, 1));
        if first == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(out_of_order(expected))
        }
    }

    /// Records an appended idempotent batch in `staged`.
    pub(crate) fn stage(&self, staged: &mut StagedProducers, header: &BatchHeader, last_offset: i64) {
        let producer_id = header.producer_id;
        let entry = staged
            .changed
            .entry(producer_id)
            .or_insert_with(|| self.producers.get(&producer_id).cloned().unwrap_or_default());
        record_batch(entry, header, last_offset);
    }

    /// Applies the changes of a successful append.
    pub(crate) fn commit(&mut self, staged: StagedProducers) {
        self.producers.extend(staged.changed);
    }

    /// Replays a batch found in the log during recovery (no checks: it was accepted).
    pub(crate) fn replay(&mut self, header: &BatchHeader, last_offset: i64) {
        if header.is_idempotent() {
            record_batch(self.producers.entry(header.producer_id).or_default(), header, last_offset);
        }
    }
}

fn record_batch(entry: &mut ProducerEntry, header: &BatchHeader, last_offset: i64) {
    if header.producer_epoch != entry.epoch || entry.batches.is_empty() {
        entry.epoch = header.producer_epoch;
        entry.batches.clear();
    }
    if entry.batches.len() == CACHED_BATCHES {
        entry.batches.pop_front();
    }
    entry.batches.push_back(BatchMetadata {
        first_sequence: header.base_sequence,
        last_sequence: header.last_sequence(),
        base_offset: header.base_offset,
        last_offset,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(producer_id: i64, epoch: i16, first: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            size: 61,
            attributes: 0,
            last_offset_delta: count - 1,
            max_timestamp: 0,
            producer_id,
            producer_epoch: epoch,
            base_sequence: first,
        }
    }

    /// Checks and, if appendable, commits a batch at `offset`.
    fn apply(state: &mut ProducerState, mut h: BatchHeader, offset: i64) -> Result<SequenceCheck, AppendError> {
        let mut staged = StagedProducers::default();
        let check = state.check(&staged, &h)?;
        if check == SequenceCheck::Append {
            h.base_offset = offset;
            state.stage(&mut staged, &h, offset + i64::from(h.last_offset_delta));
            state.commit(staged);
        }
        Ok(check)
    }

    #[test]
    fn only_the_last_five_batches_are_duplicates() {
        let mut state = ProducerState::default();
        for i in 0..7 {
            assert_eq!(apply(&mut state, header(1, 0, i * 2, 2), i64::from(i) * 2).unwrap(), SequenceCheck::Append);
        }
        // Batches 2..=6 are cached; 0 and 1 are not (and are now out of order).
        let dup = apply(&mut state, header(1, 0, 4, 2), 99).unwrap();
        assert_eq!(
            dup,
            SequenceCheck::Duplicate(BatchMetadata {
                first_sequence: 4,
                last_sequence: 5,
                base_offset: 4,
                last_offset: 5
            })
        );
        assert!(matches!(
            apply(&mut state, header(1, 0, 2, 2), 99),
            Err(AppendError::OutOfOrderSequenceNumber { expected: 14, found: 2, .. })
        ));
    }

    #[test]
    fn sequences_wrap_to_zero_after_i32_max() {
        let mut state = ProducerState::default();
        apply(&mut state, header(1, 0, 0, 1), 0).unwrap();
        state.producers.get_mut(&1).unwrap().batches.back_mut().unwrap().last_sequence = i32::MAX - 1;
        assert_eq!(apply(&mut state, header(1, 0, i32::MAX, 2), 1).unwrap(), SequenceCheck::Append);
        assert_eq!(apply(&mut state, header(1, 0, 1, 1), 3).unwrap(), SequenceCheck::Append);
    }

    #[test]
    fn epochs_fence_and_restart() {
        let mut state = ProducerState::default();
        apply(&mut state, header(1, 3, 0, 1), 0).unwrap();
        assert!(matches!(
            apply(&mut state, header(1, 2, 1, 1), 1),
            Err(AppendError::InvalidProducerEpoch { current: 3, .. })
        ));
        assert!(matches!(apply(&mut state, header(1, 4, 1, 1), 1), Err(AppendError::OutOfOrderSequenceNumber { .. })));
        assert_eq!(apply(&mut state, header(1, 4, 0, 1), 1).unwrap(), SequenceCheck::Append);
        // The old epoch's batch is no longer a duplicate: it is fenced.
        assert!(matches!(apply(&mut state, header(1, 3, 0, 1), 2), Err(AppendError::InvalidProducerEpoch { .. })));
    }

    #[test]
    fn staged_changes_are_seen_by_later_checks_and_dropped_without_commit() {
        let state = ProducerState::default();
        let mut staged = StagedProducers::default();
        let first = header(7, 0, 0, 3);
        assert_eq!(state.check(&staged, &first).unwrap(), SequenceCheck::Append);
        state.stage(&mut staged, &first, 2);
        assert_eq!(state.check(&staged, &header(7, 0, 3, 1)).unwrap(), SequenceCheck::Append);
        assert!(matches!(state.check(&staged, &header(7, 0, 0, 3)).unwrap(), SequenceCheck::Duplicate(_)));
        drop(staged);
        assert!(matches!(
            state.check(&StagedProducers::default(), &header(7, 0, 3, 1)),
            Err(AppendError::UnknownProducerId { producer_id: 7, sequence: 3 })
        ));
    }
}
