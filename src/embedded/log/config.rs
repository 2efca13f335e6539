//! How a partition log stores and syncs its data.

use std::path::PathBuf;
use std::time::Duration;

/// When a disk log calls `fsync` (`File::sync_data`) on its segment files.
///
/// Under every policy an acknowledged batch has been handed to the OS (`write(2)`)
/// before [`PartitionLog::append`](super::PartitionLog::append) returns, so it survives
/// a crash of the broker *process*. The policies differ on an OS crash or power loss:
///
/// - [`EveryBatch`](Self::EveryBatch): each append is synced before it returns, so it
///   survives those too. The slowest.
/// - [`Interval`](Self::Interval): at most that interval of acknowledged data is lost.
///   The owner calls [`PartitionLog::sync`](super::PartitionLog::sync) on a timer of this
///   period; an append also syncs when the last sync is older than the interval.
/// - [`Never`](Self::Never): the OS writes back when it likes (Linux: ~30 s). An explicit
///   [`PartitionLog::sync`](super::PartitionLog::sync) still syncs.
///
/// A memory-only log ignores the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Sync before every append returns.
    EveryBatch,
    /// Sync at least this often while appends arrive.
    Interval(Duration),
    /// Leave write-back to the OS.
    Never,
}

impl Default for FsyncPolicy {
    /// `Interval(1 s)`.
    fn default() -> Self {
        FsyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// The configuration of one [`PartitionLog`](super::PartitionLog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `None`: memory only. `Some`: this partition's own directory, created if missing.
    /// Default: `None`.
    pub dir: Option<PathBuf>,
    /// When to fsync. Default: `Interval(1 s)`.
    pub fsync: FsyncPolicy,
    /// Roll to a new segment when a batch would take the current one past this many
    /// bytes (a batch larger than this gets a segment of its own). At most
    /// `u32::MAX` (index positions are 32-bit). Default: 64 MiB.
    pub segment_bytes: u64,
    /// One sparse offset-index entry per this many bytes of log. Default: 4096.
    pub index_interval_bytes: u32,
    /// The largest batch accepted, in bytes, log overhead included. Default: 1 048 588
    /// (Kafka's `message.max.bytes`).
    pub max_message_bytes: usize,
}

impl LogConfig {
    /// The default [`segment_bytes`](Self::segment_bytes): 64 MiB.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
    /// The default [`index_interval_bytes`](Self::index_interval_bytes): 4096.
    pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;
    /// The default [`max_message_bytes`](Self::max_message_bytes): Kafka's default
    /// `message.max.bytes`, 1 MiB plus log overhead.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            dir: None,
            fsync: FsyncPolicy::default(),
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            index_interval_bytes: Self::DEFAULT_INDEX_INTERVAL_BYTES,
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}
