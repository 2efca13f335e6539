//! [`OffsetBook`]: what the subscriber acknowledged against what was committed, so
//! that each commit carries only what changed since the last successful one.

use std::collections::BTreeMap;

use crate::consumer::types::TopicPartition;

/// A partition's next offset to consume and the leader epoch of the record before it.
pub(super) type Position = (i64, i32);

/// Acknowledged and committed positions per partition.
#[derive(Debug, Default)]
pub(super) struct OffsetBook {
    acknowledged: BTreeMap<TopicPartition, Position>,
    committed: BTreeMap<TopicPartition, Position>,
}

impl OffsetBook {
    /// Records an acknowledgement; an older one than known is ignored (acks may
    /// race a revoke's answer).
    pub(super) fn acknowledge(&mut self, partition: TopicPartition, position: Position) {
        let entry = self.acknowledged.entry(partition).or_insert(position);
        if position.0 >= entry.0 {
            *entry = position;
        }
    }

    /// The acknowledged positions not yet committed.
    pub(super) fn pending(&self) -> BTreeMap<TopicPartition, Position> {
        self.acknowledged
            .iter()
            .filter(|(tp, position)| self.committed.get(*tp) != Some(*position))
            .map(|(tp, position)| (tp.clone(), *position))
            .collect()
    }

    /// Marks `offsets` committed (after a successful OffsetCommit), except for
    /// partitions forgotten while the commit was in flight.
    pub(super) fn committed(&mut self, offsets: &BTreeMap<TopicPartition, Position>) {
        for (tp, position) in offsets {
            if self.acknowledged.contains_key(tp) {
                self.committed.insert(tp.clone(), *position);
            }
        }
    }

    /// Forgets `partitions` (revoked or lost): nothing more is committed for them.
    pub(super) fn forget<'a>(&mut self, partitions: impl IntoIterator<Item = &'a TopicPartition>) {
        for tp in partitions {
            self.acknowledged.remove(tp);
            self.committed.remove(tp);
        }
    }

    /// Forgets everything (the membership was lost).
    pub(super) fn clear(&mut self) {
        self.acknowledged.clear();
        self.committed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn only_changed_offsets_are_pending() {
        let mut book = OffsetBook::default();
        book.acknowledge(tp(0), (10, 1));
        book.acknowledge(tp(1), (5, 1));
        let first = book.pending();
        assert_eq!(first.len(), 2);
        book.committed(&first);
        assert!(book.pending().is_empty(), "nothing changed since the commit");
        book.acknowledge(tp(1), (8, 1));
        assert_eq!(book.pending(), BTreeMap::from([(tp(1), (8, 1))]));
    }

    #[test]
    fn a_commit_of_an_older_snapshot_leaves_the_newer_ack_pending() {
        let mut book = OffsetBook::default();
        book.acknowledge(tp(0), (10, 1));
        let snapshot = book.pending();
        book.acknowledge(tp(0), (12, 1)); // acknowledged while the commit was in flight
        book.committed(&snapshot);
        assert_eq!(book.pending(), BTreeMap::from([(tp(0), (12, 1))]));
    }

    #[test]
    fn older_acks_and_forgotten_partitions_are_ignored() {
        let mut book = OffsetBook::default();
        book.acknowledge(tp(0), (10, 1));
        book.acknowledge(tp(0), (4, 1));
        assert_eq!(book.pending()[&tp(0)], (10, 1));
        book.forget([&tp(0)]);
        assert!(book.pending().is_empty());
        book.acknowledge(tp(2), (1, 0));
        let in_flight = book.pending();
        book.clear();
        book.committed(&in_flight);
        assert!(book.pending().is_empty() && book.committed.is_empty(), "a late commit of a forgotten partition");
    }
}
