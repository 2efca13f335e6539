//! The sparse offset index of a segment, `{base_offset:020}.index` (Kafka's layout).
//!
//! Entries are 8 bytes: the offset relative to the segment's base offset (u32 BE)
//! and the file position of a batch (u32 BE). As in Kafka's `LogSegment.append`, an
//! entry is added for a batch once more than `index_interval_bytes` were appended
//! since the previous entry, keyed by the batch's *last* offset and pointing at its
//! start, so "the greatest entry at or below offset X" always points at or before
//! the batch holding X.

/// The size of one index entry on disk.
pub(crate) const ENTRY_LEN: usize = 8;

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// The entries of one segment's index, and the bytes appended since the last one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OffsetIndex {
    entries: Vec<IndexEntry>,
    bytes_since_last_entry: u64,
}

/// Where an [`OffsetIndex`] was, to roll an append back to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexMark {
    entries: usize,
    bytes_since_last_entry: u64,
}

impl OffsetIndex {
    /// Accounts for a batch about to be appended at `position`; returns the entry to
    /// add for it, if one is due (and representable in 32 bits).
    pub(crate) fn on_append(
        &mut self,
        interval: u32,
        relative_last_offset: u64,
        position: u64,
        size: u64,
    ) -> Option<IndexEntry> {
        let mut added = None;
        if self.bytes_since_last_entry > u64::from(interval) {
            if let (Ok(relative_offset), Ok(position)) = (u32::try_from(relative_last_offset), u32::try_from(position))
            {
                let entry = IndexEntry { relative_offset, position };
                self.entries.push(entry);
                added = Some(entry);
            }
            self.bytes_since_last_entry = 0;
        }
        self.bytes_since_last_entry += size;
        added
    }

    pub(crate) fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    pub(crate) fn mark(&self) -> IndexMark {
        IndexMark { entries: self.entries.len(), bytes_since_last_entry: self.bytes_since_last_entry }
    }

    pub(crate) fn rollback(&mut self, mark: IndexMark) {
        self.entries.truncate(mark.entries);
        self.bytes_since_last_entry = mark.bytes_since_last_entry;
    }

    /// The index file's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.entries.iter().flat_map(|e| encode_entry(*e)).collect()
    }
}

/// One entry's bytes.
pub(crate) fn encode_entry(entry: IndexEntry) -> [u8; ENTRY_LEN] {
    let mut out = [0u8; ENTRY_LEN];
    out[..4].copy_from_slice(&entry.relative_offset.to_be_bytes());
    out[4..].copy_from_slice(&entry.position.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_follow_kafkas_byte_interval_rule() {
        let mut index = OffsetIndex::default();
        let mut position = 0;
        let mut added = Vec::new();
        for offset in 0..10u64 {
            added.push(index.on_append(250, offset, position, 100).is_some());
            position += 100;
        }
        // More than 250 bytes since the last entry: after 3 batches (300 bytes).
        assert_eq!(added, [false, false, false, true, false, false, true, false, false, true]);
        assert_eq!(index.entries()[0], IndexEntry { relative_offset: 3, position: 300 });
        assert_eq!(index.entries()[1], IndexEntry { relative_offset: 6, position: 600 });
        assert_eq!(index.encode().len(), 3 * ENTRY_LEN);
        assert_eq!(&index.encode()[..8], &[0, 0, 0, 3, 0, 0, 1, 44]);
    }

    #[test]
    fn rollback_restores_the_entries_and_the_byte_count() {
        let mut index = OffsetIndex::default();
        index.on_append(0, 0, 0, 10);
        let mark = index.mark();
        let before = index.clone();
        index.on_append(0, 1, 10, 10);
        assert_eq!(index.entries().len(), 1);
        index.rollback(mark);
        assert_eq!(index, before);
    }
}
