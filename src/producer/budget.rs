//! The producer's memory budget: one pool of bytes for every record not yet acknowledged.
//!
//! Like the Java client's `buffer.memory`, a producer holds at most this many bytes of
//! records in flight, retries included: a record takes its charge from the budget when it
//! is accepted and gives it back only when it is acknowledged or finally fails. When the
//! brokers fall behind, senders wait (or, with [`MemoryBudget::try_acquire`], are told the
//! budget is full) instead of the producer growing without bound.
//!
//! # Record size accounting
//!
//! The budget only counts bytes; the producer computes each record's charge as
//!
//! ```text
//! key length + value length + Σ (header key length + header value length) + RECORD_OVERHEAD_BYTES
//! ```
//!
//! where a null key, value or header value counts 0 and [`RECORD_OVERHEAD_BYTES`] (70) is a
//! fixed allowance for the framing around a record, of the order of the Java client's
//! estimate. It is an estimate, not the encoded size: what matters is that every record is
//! charged the same way when it is accepted and released exactly once.
//!
//! Waiting is first come, first served (tokio's semaphore is fair): a large record waiting
//! for room is not starved by a stream of small ones behind it.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{Semaphore, TryAcquireError};

/// The fixed per-record allowance in a record's charge (see the module docs).
pub const RECORD_OVERHEAD_BYTES: usize = 70;

/// The budget a producer uses unless configured otherwise: 32 MiB, the Java client's
/// `buffer.memory` default.
pub const DEFAULT_BUDGET_BYTES: usize = 32 * 1024 * 1024;

/// A pool of bytes shared by every record not yet acknowledged. Cloning shares the pool.
///
/// # Examples
///
/// ```
/// use actix_kafka::producer::budget::{BudgetError, MemoryBudget};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let budget = MemoryBudget::new(1000);
/// let batch = budget.acquire(600).await.unwrap();
/// assert_eq!(budget.in_use(), 600);
/// assert_eq!(budget.try_acquire(500).unwrap_err(), BudgetError::Full { bytes: 500, available: 400 });
/// drop(batch);
/// assert_eq!(budget.available(), 1000);
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryBudget {
    semaphore: Arc<Semaphore>,
    total: usize,
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("total", &self.total)
            .field("available", &self.available())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Default for MemoryBudget {
    /// [`DEFAULT_BUDGET_BYTES`] (32 MiB).
    fn default() -> Self {
        MemoryBudget::new(DEFAULT_BUDGET_BYTES)
    }
}

impl MemoryBudget {
    /// A budget of `bytes` bytes. The producer's default is [`DEFAULT_BUDGET_BYTES`].
    ///
    /// # Panics
    ///
    /// When `bytes` exceeds tokio's `Semaphore::MAX_PERMITS` (`usize::MAX >> 3`).
    pub fn new(bytes: usize) -> Self {
        assert!(bytes <= Semaphore::MAX_PERMITS, "a memory budget of {bytes} bytes is over {}", Semaphore::MAX_PERMITS);
        MemoryBudget { semaphore: Arc::new(Semaphore::new(bytes)), total: bytes }
    }

    /// Takes `bytes` from the budget, waiting (first come, first served) until there is
    /// room. Cancel-safe: dropping the future while it waits takes nothing.
    ///
    /// # Errors
    ///
    /// [`BudgetError::TooLarge`] when `bytes` could never fit: more than the total, or more
    /// than `u32::MAX` (the most one acquire can take); [`BudgetError::Closed`] when the
    /// budget is closed, before or while waiting.
    pub async fn acquire(&self, bytes: usize) -> Result<BudgetPermit, BudgetError> {
        let permits = self.permits_for(bytes)?;
        let permit = Arc::clone(&self.semaphore).acquire_many_owned(permits).await.map_err(|_| BudgetError::Closed)?;
        // From here the bytes are tracked by `BudgetPermit`, which can split and merge
        // beyond what one tokio permit holds.
        permit.forget();
        Ok(self.permit(bytes))
    }

    /// Takes `bytes` from the budget if there is room now.
    ///
    /// # Errors
    ///
    /// [`BudgetError::Full`] when there is not enough room now (or older waiters come
    /// first); [`BudgetError::TooLarge`] and [`BudgetError::Closed`] as for
    /// [`acquire`](Self::acquire).
    pub fn try_acquire(&self, bytes: usize) -> Result<BudgetPermit, BudgetError> {
        let permits = self.permits_for(bytes)?;
        match Arc::clone(&self.semaphore).try_acquire_many_owned(permits) {
            Ok(permit) => {
                permit.forget();
                Ok(self.permit(bytes))
            }
            Err(TryAcquireError::NoPermits) => Err(BudgetError::Full { bytes, available: self.available() }),
            Err(TryAcquireError::Closed) => Err(BudgetError::Closed),
        }
    }

    /// The bytes free now. Bytes already set aside for the oldest waiter, not yet enough
    /// for it, count as in use.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// The budget's size, as given to [`new`](Self::new).
    pub fn total(&self) -> usize {
        self.total
    }

    /// `total() - available()`: the bytes held by permits (or set aside for a waiter).
    pub fn in_use(&self) -> usize {
        self.total.saturating_sub(self.available())
    }

    /// Closes the budget: every waiter, and every later acquire, gets
    /// [`BudgetError::Closed`]. Permits already held stay valid and still give their bytes
    /// back on drop.
    pub fn close(&self) {
        self.semaphore.close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.semaphore.is_closed()
    }

    fn permits_for(&self, bytes: usize) -> Result<u32, BudgetError> {
        let too_large = BudgetError::TooLarge { bytes, total: self.total };
        if bytes > self.total {
            return Err(too_large);
        }
        u32::try_from(bytes).map_err(|_| too_large)
    }

    fn permit(&self, bytes: usize) -> BudgetPermit {
        BudgetPermit { semaphore: Arc::clone(&self.semaphore), bytes }
    }
}

/// Bytes taken from a [`MemoryBudget`], given back when the permit drops.
///
/// A batch's permit can be [`split`](Self::split) per record (when some records of a
/// batch fail and others are retried) and permits can be [`merge`](Self::merge)d (records
/// joining a batch); the bytes are conserved exactly, so nothing leaks or is released
/// twice.
///
/// # Examples
///
/// ```
/// use actix_kafka::producer::budget::MemoryBudget;
///
/// let budget = MemoryBudget::new(1000);
/// let mut batch = budget.try_acquire(300).unwrap();
/// batch.merge(budget.try_acquire(200).unwrap());
/// let failed = batch.split(120);
/// assert_eq!((batch.bytes(), failed.bytes()), (380, 120));
/// drop(failed);
/// assert_eq!(budget.in_use(), 380);
/// ```
pub struct BudgetPermit {
    semaphore: Arc<Semaphore>,
    bytes: usize,
}

impl fmt::Debug for BudgetPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetPermit").field("bytes", &self.bytes).finish()
    }
}

impl BudgetPermit {
    /// The bytes this permit holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes over `other`'s bytes; they are given back when `self` drops.
    ///
    /// # Panics
    ///
    /// When `other` comes from a different [`MemoryBudget`]: its bytes would be given
    /// back to the wrong pool.
    pub fn merge(&mut self, mut other: BudgetPermit) {
        assert!(Arc::ptr_eq(&self.semaphore, &other.semaphore), "merging permits of two different memory budgets");
        self.bytes += std::mem::take(&mut other.bytes);
    }

    /// Moves `bytes` of this permit into a new permit of the same budget.
    ///
    /// # Panics
    ///
    /// When `bytes > self.bytes()`. See [`try_split`](Self::try_split).
    pub fn split(&mut self, bytes: usize) -> BudgetPermit {
        let held = self.bytes;
        self.try_split(bytes).unwrap_or_else(|| panic!("cannot split {bytes} bytes off a permit of {held}"))
    }

    /// Moves `bytes` of this permit into a new permit, or `None` (and no change) when
    /// this permit holds fewer.
    pub fn try_split(&mut self, bytes: usize) -> Option<BudgetPermit> {
        self.bytes = self.bytes.checked_sub(bytes)?;
        Some(BudgetPermit { semaphore: Arc::clone(&self.semaphore), bytes })
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        if self.bytes > 0 {
            // Within the budget's total (bytes are conserved), so under MAX_PERMITS.
            self.semaphore.add_permits(self.bytes);
        }
    }
}

/// Why bytes could not be taken from a [`MemoryBudget`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetError {
    /// Not enough room now ([`MemoryBudget::try_acquire`] only).
    #[error("the memory budget is full: {bytes} bytes wanted, {available} available")]
    Full {
        /// The bytes asked for.
        bytes: usize,
        /// The bytes free when asked.
        available: usize,
    },
    /// The request could never fit: over the budget's total, or over `u32::MAX` bytes.
    #[error("{bytes} bytes can never fit the memory budget of {total} bytes (nor more than 4 GiB at once)")]
    TooLarge {
        /// The bytes asked for.
        bytes: usize,
        /// The budget's total.
        total: usize,
    },
    /// The budget was closed (the producer is shutting down).
    #[error("the memory budget is closed")]
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio::task::{yield_now, JoinHandle};

    /// Lets spawned tasks (on the test's current-thread runtime) run until they wait.
    async fn settle() {
        for _ in 0..10 {
            yield_now().await;
        }
    }

    fn waiter(budget: &MemoryBudget, bytes: usize) -> JoinHandle<Result<BudgetPermit, BudgetError>> {
        let budget = budget.clone();
        tokio::spawn(async move { budget.acquire(bytes).await })
    }

    #[tokio::test]
    async fn acquire_try_acquire_and_release_on_drop() {
        let budget = MemoryBudget::new(1000);
        let a = budget.acquire(400).await.unwrap();
        let b = budget.try_acquire(600).unwrap();
        assert_eq!((a.bytes(), b.bytes()), (400, 600));
        assert_eq!((budget.available(), budget.in_use(), budget.total()), (0, 1000, 1000));
        assert_eq!(budget.try_acquire(1).unwrap_err(), BudgetError::Full { bytes: 1, available: 0 });
        drop(a);
        assert_eq!((budget.available(), budget.in_use()), (400, 600));
        let zero = budget.try_acquire(0).unwrap();
        assert_eq!(zero.bytes(), 0);
        drop((b, zero));
        assert_eq!(budget.available(), 1000);
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_a_permit_drops() {
        let budget = MemoryBudget::new(100);
        let held = budget.acquire(80).await.unwrap();
        let waiting = waiter(&budget, 50);
        settle().await;
        assert!(!waiting.is_finished(), "50 bytes cannot fit while 80 of 100 are held");
        drop(held);
        let permit = waiting.await.unwrap().unwrap();
        assert_eq!((permit.bytes(), budget.in_use()), (50, 50));
    }

    #[tokio::test]
    async fn waiters_are_served_in_order() {
        let budget = MemoryBudget::new(100);
        let mut held = budget.acquire(100).await.unwrap();
        let large = waiter(&budget, 90);
        settle().await;
        let small = waiter(&budget, 10);
        settle().await;
        // The small one would fit once 20 bytes come back, but the large one came first.
        drop(held.split(20));
        settle().await;
        assert!(!large.is_finished() && !small.is_finished());
        assert_eq!(budget.try_acquire(5).unwrap_err(), BudgetError::Full { bytes: 5, available: 0 });
        drop(held);
        assert_eq!(large.await.unwrap().unwrap().bytes(), 90);
        assert_eq!(small.await.unwrap().unwrap().bytes(), 10);
        assert_eq!(budget.available(), 100);
    }

    #[tokio::test]
    async fn too_large_is_refused_at_once() {
        let budget = MemoryBudget::new(100);
        let too_large = BudgetError::TooLarge { bytes: 101, total: 100 };
        assert_eq!(budget.acquire(101).await.unwrap_err(), too_large);
        assert_eq!(budget.try_acquire(101).unwrap_err(), too_large);
        assert_eq!(budget.acquire(100).await.unwrap().bytes(), 100);
    }

    #[cfg(target_pointer_width = "64")]
    #[tokio::test]
    async fn more_than_u32_max_at_once_is_too_large() {
        let total = u32::MAX as usize + 10;
        let budget = MemoryBudget::new(total);
        let bytes = u32::MAX as usize + 1;
        assert_eq!(budget.acquire(bytes).await.unwrap_err(), BudgetError::TooLarge { bytes, total });
        assert_eq!(budget.try_acquire(bytes).unwrap_err(), BudgetError::TooLarge { bytes, total });
        // Permits can still add up past u32::MAX by merging.
        let mut permit = budget.try_acquire(u32::MAX as usize).unwrap();
        permit.merge(budget.try_acquire(10).unwrap());
        assert_eq!((permit.bytes(), budget.available()), (total, 0));
        drop(permit);
        assert_eq!(budget.available(), total);
    }

    #[tokio::test]
    async fn close_wakes_waiters_and_refuses_later_acquires() {
        let budget = MemoryBudget::new(100);
        let held = budget.acquire(100).await.unwrap();
        let waiting = [waiter(&budget, 10), waiter(&budget, 60)];
        settle().await;
        budget.close();
        assert!(budget.is_closed());
        for waiting in waiting {
            assert_eq!(waiting.await.unwrap().unwrap_err(), BudgetError::Closed);
        }
        assert_eq!(budget.acquire(1).await.unwrap_err(), BudgetError::Closed);
        assert_eq!(budget.try_acquire(1).unwrap_err(), BudgetError::Closed);
        // Held permits still give their bytes back.
        drop(held);
        assert_eq!(budget.available(), 100);
    }

    #[tokio::test]
    async fn a_cancelled_acquire_takes_nothing() {
        let budget = MemoryBudget::new(100);
        let held = budget.acquire(70).await.unwrap();
        let waiting = waiter(&budget, 50);
        settle().await;
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        drop(held);
        assert_eq!(budget.available(), 100);
    }

    #[test]
    fn split_and_try_split() {
        let budget = MemoryBudget::new(100);
        let mut permit = budget.try_acquire(100).unwrap();
        assert!(permit.try_split(101).is_none());
        assert_eq!(permit.bytes(), 100);
        let part = permit.split(100);
        assert_eq!((permit.bytes(), part.bytes()), (0, 100));
        drop(permit);
        assert_eq!(budget.available(), 0);
        drop(part);
        assert_eq!(budget.available(), 100);
    }

    #[test]
    #[should_panic(expected = "cannot split 11 bytes off a permit of 10")]
    fn splitting_more_than_held_panics() {
        let budget = MemoryBudget::new(100);
        budget.try_acquire(10).unwrap().split(11);
    }

    #[test]
    #[should_panic(expected = "two different memory budgets")]
    fn merging_permits_of_two_budgets_panics() {
        let (a, b) = (MemoryBudget::new(100), MemoryBudget::new(100));
        a.try_acquire(10).unwrap().merge(b.try_acquire(10).unwrap());
    }

    #[test]
    fn clones_share_the_pool_and_the_default_is_32_mib() {
        let budget = MemoryBudget::default();
        assert_eq!(budget.total(), 32 * 1024 * 1024);
        let _permit = budget.clone().try_acquire(1024).unwrap();
        assert_eq!(budget.in_use(), 1024);
        assert!(format!("{budget:?}").contains("available: 33553408"));
    }

    #[test]
    fn permits_and_budgets_are_send() {
        fn send<T: Send + Sync>() {}
        send::<BudgetPermit>();
        send::<MemoryBudget>();
    }

    #[derive(Debug, Clone)]
    enum Op {
        Acquire(usize),
        Split { permit: usize, bytes: usize },
        Merge { into: usize, from: usize },
        Drop(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..300usize).prop_map(Op::Acquire),
            (any::<usize>(), 0..400usize).prop_map(|(permit, bytes)| Op::Split { permit, bytes }),
            (any::<usize>(), any::<usize>()).prop_map(|(into, from)| Op::Merge { into, from }),
            any::<usize>().prop_map(Op::Drop),
        ]
    }

    proptest! {
        /// Random acquires, splits, merges and drops never leak nor release twice: the
        /// permits held always add up to `in_use`, and everything comes back at the end.
        #[test]
        fn splits_and_merges_conserve_bytes(ops in proptest::collection::vec(op(), 0..64)) {
            let budget = MemoryBudget::new(1000);
            let mut permits: Vec<BudgetPermit> = Vec::new();
            for op in ops {
                match op {
                    Op::Acquire(bytes) => {
                        if let Ok(permit) = budget.try_acquire(bytes) {
                            permits.push(permit);
                        }
                    }
                    Op::Split { permit, bytes } if !permits.is_empty() => {
                        let index = permit % permits.len();
                        let held = permits[index].bytes();
                        match permits[index].try_split(bytes) {
                            Some(part) => {
                                prop_assert_eq!(part.bytes() + permits[index].bytes(), held);
                                permits.push(part);
                            }
                            None => prop_assert!(bytes > held && permits[index].bytes() == held),
                        }
                    }
                    Op::Merge { into, from } if permits.len() >= 2 => {
                        let from = permits.swap_remove(from % permits.len());
                        let into = into % permits.len();
                        let expected = permits[into].bytes() + from.bytes();
                        permits[into].merge(from);
                        prop_assert_eq!(permits[into].bytes(), expected);
                    }
                    Op::Drop(index) if !permits.is_empty() => {
                        permits.swap_remove(index % permits.len());
                    }
                    _ => {}
                }
                let held: usize = permits.iter().map(BudgetPermit::bytes).sum();
                prop_assert_eq!(held, budget.in_use());
            }
            drop(permits);
            prop_assert_eq!(budget.available(), 1000);
        }
    }
}
