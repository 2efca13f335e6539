//! One segment of a log: its batches in order, held in memory or in a
//! `{base_offset:020}.log` file with its `.index`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::error::LogError;
use super::index::{encode_entry, IndexMark, OffsetIndex};

/// Where one batch sits, and what reads and timestamp look-ups need of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchEntry {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    /// Byte position in the segment file (in a memory segment, the sum of the sizes before).
    pub position: u64,
    pub size: u64,
}

/// The files of a disk segment.
#[derive(Debug)]
pub(crate) struct SegmentFiles {
    pub log_path: PathBuf,
    pub index_path: PathBuf,
    pub log: File,
    pub index: File,
}

#[derive(Debug)]
enum Store {
    /// Each batch's bytes, parallel to `batches`.
    Memory(Vec<Bytes>),
    File(SegmentFiles),
}

/// A run of batches in offset order.
#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    /// The offset after the last batch (the base offset when empty).
    pub next_offset: i64,
    /// Bytes of batches held.
    pub size: u64,
    pub batches: Vec<BatchEntry>,
    index: OffsetIndex,
    store: Store,
}

/// Where a segment was, to roll an append back to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentMark {
    next_offset: i64,
    size: u64,
    batches: usize,
    index: IndexMark,
}

/// The paths of the segment starting at `base_offset` in `dir`.
pub(crate) fn segment_paths(dir: &Path, base_offset: i64) -> (PathBuf, PathBuf) {
    (dir.join(format!("{base_offset:020}.log")), dir.join(format!("{base_offset:020}.index")))
}

/// Opens a segment file for reading and appending, creating it if asked.
pub(crate) fn open_file(path: &Path, create_new: bool) -> Result<File, LogError> {
    let mut options = OpenOptions::new();
    options.read(true).append(true);
    if create_new {
        options.create(true);
    }
    options.open(path).map_err(|e| LogError::io(path, e))
}

/// Syncs a directory, so files created or removed in it survive an OS crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| LogError::io(dir, e))
}

impl Segment {
    /// An empty memory segment.
    pub(crate) fn memory(base_offset: i64) -> Segment {
        Segment::assemble(base_offset, Vec::new(), OffsetIndex::default(), Store::Memory(Vec::new()))
    }

    /// A new, empty disk segment in `dir` (any stale files of that name are emptied).
    pub(crate) fn create(dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let (log_path, index_path) = segment_paths(dir, base_offset);
        let log = open_file(&log_path, true)?;
        let index = open_file(&index_path, true)?;
        log.set_len(0).map_err(|e| LogError::io(&log_path, e))?;
        index.set_len(0).map_err(|e| LogError::io(&index_path, e))?;
        let files = SegmentFiles { log_path, index_path, log, index };
        Ok(Segment::assemble(base_offset, Vec::new(), OffsetIndex::default(), Store::File(files)))
    }

    /// A disk segment whose batches recovery scanned and whose index it rebuilt.
    pub(crate) fn recovered(
        base_offset: i64,
        batches: Vec<BatchEntry>,
        index: OffsetIndex,
        files: SegmentFiles,
    ) -> Segment {
        Segment::assemble(base_offset, batches, index, Store::File(files))
    }

    fn assemble(base_offset: i64, batches: Vec<BatchEntry>, index: OffsetIndex, store: Store) -> Segment {
        let next_offset = batches.last().map_or(base_offset, |b| b.last_offset + 1);
        let size = batches.last().map_or(0, |b| b.position + b.size);
        Segment { base_offset, next_offset, size, batches, index, store }
    }

    /// Whether `batch_size` more bytes ending at `last_offset` belong in a new segment.
    pub(crate) fn should_roll(&self, segment_bytes: u64, batch_size: u64, last_offset: i64) -> bool {
        let too_big = self.size.saturating_add(batch_size) > segment_bytes;
        let too_far = last_offset.saturating_sub(self.base_offset) > i64::from(i32::MAX);
        !self.batches.is_empty() && (too_big || too_far)
    }

    /// Appends one batch whose offsets are already assigned; writes it (and an index
    /// entry if due) to the file of a disk segment. Call [`rollback`](Self::rollback)
    /// with a [`mark`](Self::mark) taken before if this fails.
    pub(crate) fn append(&mut self, bytes: Bytes, mut entry: BatchEntry, index_interval: u32) -> Result<(), LogError> {
        entry.position = self.size;
        entry.size = bytes.len() as u64;
        let relative_last = u64::try_from(entry.last_offset - self.base_offset).unwrap_or(u64::MAX);
        let index_entry = self.index.on_append(index_interval, relative_last, entry.position, entry.size);
        match &mut self.store {
            Store::Memory(all) => all.push(bytes),
            Store::File(files) => {
                files.log.write_all(&bytes).map_err(|e| LogError::io(&files.log_path, e))?;
                if let Some(index_entry) = index_entry {
                    files
                        .index
                        .write_all(&encode_entry(index_entry))
                        .map_err(|e| LogError::io(&files.index_path, e))?;
                }
            }
        }
        self.size += entry.size;
        self.next_offset = entry.last_offset + 1;
        self.batches.push(entry);
        Ok(())
    }

    pub(crate) fn mark(&self) -> SegmentMark {
        SegmentMark {
            next_offset: self.next_offset,
            size: self.size,
            batches: self.batches.len(),
            index: self.index.mark(),
        }
    }

    /// Undoes the appends after `mark`, cutting the files back too.
    pub(crate) fn rollback(&mut self, mark: SegmentMark) -> Result<(), LogError> {
        self.next_offset = mark.next_offset;
        self.size = mark.size;
        self.batches.truncate(mark.batches);
        self.index.rollback(mark.index);
        match &mut self.store {
            Store::Memory(all) => all.truncate(mark.batches),
            Store::File(files) => {
                files.log.set_len(mark.size).map_err(|e| LogError::io(&files.log_path, e))?;
                let index_len = (self.index.entries().len() * super::index::ENTRY_LEN) as u64;
                files.index.set_len(index_len).map_err(|e| LogError::io(&files.index_path, e))?;
            }
        }
        Ok(())
    }

    /// The position in `batches` of the batch holding `offset`, or of the first batch
    /// after it.
    pub(crate) fn find(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last_offset < offset)
    }

    /// Pushes onto `out` whole batches from `batches[from]` on, at most `budget` bytes
    /// in all, except that the first is taken whatever its size when `take_first`.
    /// Returns the bytes pushed and whether it stopped before this segment's end.
    pub(crate) fn read(
        &self,
        from: usize,
        budget: usize,
        take_first: bool,
        out: &mut Vec<Bytes>,
    ) -> Result<(usize, bool), LogError> {
        let mut end = from;
        let mut total = 0u64;
        let budget = budget as u64;
        while let Some(batch) = self.batches.get(end) {
            if total + batch.size > budget && !(take_first && end == from) {
                break;
            }
            total += batch.size;
            end += 1;
        }
        if end > from {
            match &self.store {
                Store::Memory(all) => out.extend(all[from..end].iter().cloned()),
                Store::File(files) => out.push(read_range(files, self.batches[from].position, total)?),
            }
        }
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        Ok((total, end < self.batches.len()))
    }

    /// The bytes of `batches[i]`.
    pub(crate) fn read_batch(&self, i: usize) -> Result<Bytes, LogError> {
        let batch = self.batches[i];
        match &self.store {
            Store::Memory(all) => Ok(all[i].clone()),
            Store::File(files) => read_range(files, batch.position, batch.size),
        }
    }

    /// Flushes a disk segment's file and index to stable storage.
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        if let Store::File(files) = &self.store {
            files.log.sync_data().map_err(|e| LogError::io(&files.log_path, e))?;
            files.index.sync_data().map_err(|e| LogError::io(&files.index_path, e))?;
        }
        Ok(())
    }

    /// Removes a disk segment's files.
    pub(crate) fn delete(self) -> Result<(), LogError> {
        if let Store::File(files) = self.store {
            let SegmentFiles { log_path, index_path, log, index } = files;
            drop((log, index));
            for path in [log_path, index_path] {
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(LogError::io(path, e)),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Reads `len` bytes at `position` of a segment file.
fn read_range(files: &SegmentFiles, position: u64, len: u64) -> Result<Bytes, LogError> {
    let len = usize::try_from(len).map_err(|_| LogError::Corrupt {
        path: files.log_path.clone(),
        position,
        reason: "a batch larger than memory can hold",
    })?;
    let mut buf = vec![0u8; len];
    files.log.read_exact_at(&mut buf, position).map_err(|e| LogError::io(&files.log_path, e))?;
    Ok(Bytes::from(buf))
}
