//! The prefetch budget: one pool of bytes for every fetched, not yet acknowledged
//! record of one consumer (`buffer_bytes`).
//!
//! A partition whose subscriber is slow must not make the consumer buffer without
//! bound, and a full buffer must not be fetched into. So a partition charges what it
//! buffers here and releases it when the records are acknowledged (or dropped by a
//! seek, a revoke or a stop), and it asks for data only while the budget has room. A
//! partition that was left out because the budget was full waits on
//! [`PrefetchBudget::room`] and asks again when some was released.
//!
//! The charge of a record is an estimate (key + value + header bytes + a fixed
//! overhead), the same on charge and release: what matters is that every charge is
//! released exactly once, which [`PartitionState`](super::position::PartitionState)
//! guarantees, on drop as well.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use super::types::ConsumerRecord;

/// The fixed per-record allowance of a charge.
pub(crate) const RECORD_OVERHEAD: usize = 64;

/// The bytes a record is charged.
pub(crate) fn charge_of(record: &ConsumerRecord) -> usize {
    let len = |b: &Option<bytes::Bytes>| b.as_ref().map_or(0, |b| b.len());
    let headers: usize = record.headers.iter().map(|h| h.key.len() + len(&h.value)).sum();
    len(&record.key) + len(&record.value) + headers + RECORD_OVERHEAD
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct PrefetchBudget {
    limit: usize,
    used: AtomicUsize,
    released: Notify,
}

impl PrefetchBudget {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, used: AtomicUsize::new(0), released: Notify::new() }
    }

    /// Whether a partition may ask for more data.
    pub(crate) fn has_room(&self) -> bool {
        self.used.load(Ordering::Acquire) < self.limit
    }

    /// Bytes charged now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Charges `bytes` (the fetch already happened, so this never waits or fails: the
    /// budget can overshoot by one fetch, as Kafka's `fetch.max.bytes` can).
    pub(crate) fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Gives `bytes` back and wakes the partitions waiting for room.
    pub(crate) fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let before = self.used.fetch_sub(bytes, Ordering::AcqRel);
        debug_assert!(before >= bytes, "released more than charged");
        self.released.notify_waiters();
    }

    /// Resolves at the next release (call `has_room` again then).
    pub(crate) async fn room(&self) {
        let released = self.released.notified();
        if self.has_room() {
            return;
        }
        released.await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn room_waits_for_a_release() {
        let budget = Arc::new(PrefetchBudget::new(100));
        budget.charge(150);
        assert!(!budget.has_room());
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.room().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        budget.release(100);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert!(budget.has_room());
        assert_eq!(budget.used(), 50);
    }
}
