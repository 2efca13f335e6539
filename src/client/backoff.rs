//! [`Backoff`]: exponential retry delays with jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exponential retry delays: `initial`, doubling on each attempt up to `max`, each
/// one spread by ±20 % jitter so that clients retrying together drift apart.
///
/// The `n`-th delay (from 0) lies in `[0.8 × b, min(1.2 × b, max)]` where
/// `b = min(initial × 2ⁿ, max)`. The jitter comes from a small xorshift generator
/// seeded from the clock, the backoff's address and a process-wide counter: no
/// `rand` dependency, and two backoffs made at the same instant still differ.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_kafka::client::Backoff;
///
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// let first = backoff.next_delay();
/// assert!(first >= Duration::from_millis(80) && first <= Duration::from_millis(120));
/// assert_eq!(backoff.attempts(), 1);
/// backoff.reset();
/// assert_eq!(backoff.attempts(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempts: u32,
    state: u64,
}

/// Jitter as a fraction of the delay, in per mille.
const JITTER_PER_MILLE: u64 = 200;

impl Backoff {
    /// A backoff starting at `initial` and capped at `max` (`initial` above `max` is
    /// treated as `max`).
    pub fn new(initial: Duration, max: Duration) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let mut backoff = Self::with_seed(initial, max, 0);
        let address = std::ptr::addr_of!(backoff) as u64;
        backoff.state = splitmix(now ^ address.rotate_left(32) ^ COUNTER.fetch_add(1, Ordering::Relaxed));
        backoff
    }

    fn with_seed(initial: Duration, max: Duration, seed: u64) -> Self {
        Self { initial: initial.min(max), max, attempts: 0, state: splitmix(seed) }
    }

    /// The delay before the next attempt; counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.initial.saturating_mul(1u32.checked_shl(self.attempts).unwrap_or(u32::MAX)).min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        // A factor in [1000 - J, 1000 + J] per mille.
        let factor = 1000 - JITTER_PER_MILLE + self.next_random() % (2 * JITTER_PER_MILLE + 1);
        let nanos = base.as_nanos().saturating_mul(u128::from(factor)) / 1000;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)).min(self.max)
    }

    /// Starts over from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// How many delays were handed out since the start or the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// xorshift64: never zero, since the seed is not.
    fn next_random(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

/// SplitMix64's finaliser: spreads any seed, and never yields 0 for xorshift.
fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_then_cap_within_jitter() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS);
        for base in [100u32, 200, 400, 800, 1000, 1000, 1000] {
            let delay = backoff.next_delay();
            assert!(delay >= base * 8 / 10 * MS, "{delay:?} below {base} ms - 20 %");
            assert!(delay <= (base * 12 / 10).min(1000) * MS, "{delay:?} above {base} ms + 20 %");
        }
        assert_eq!(backoff.attempts(), 7);
        backoff.reset();
        assert!(backoff.next_delay() <= 120 * MS);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut backoff = Backoff::new(100 * MS, 100 * MS);
        let delays: std::collections::BTreeSet<Duration> = (0..50).map(|_| backoff.next_delay()).collect();
        assert!(delays.len() > 10, "only {} distinct delays", delays.len());
        assert!(delays.iter().any(|d| *d < 95 * MS) && delays.iter().any(|d| *d > 99 * MS));
    }

    #[test]
    fn two_backoffs_made_together_differ() {
        let a: Vec<_> = (0..5).scan(Backoff::new(MS, MS * 1000), |b, _| Some(b.next_delay())).collect();
        let b: Vec<_> = (0..5).scan(Backoff::new(MS, MS * 1000), |b, _| Some(b.next_delay())).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut backoff = Backoff::with_seed(Duration::from_secs(1), Duration::MAX, 7);
        for _ in 0..100 {
            backoff.next_delay();
        }
        assert!(backoff.next_delay() > Duration::from_secs(1 << 30));
    }

    proptest! {
        #[test]
        fn every_delay_is_within_bounds(initial in 1u64..10_000, max in 1u64..100_000, seed: u64, n in 0u32..40) {
            let (initial, max) = (Duration::from_micros(initial), Duration::from_micros(max));
            let mut backoff = Backoff::with_seed(initial, max, seed);
            let mut base = initial.min(max);
            for _ in 0..n {
                let delay = backoff.next_delay();
                prop_assert!(delay <= max);
                // One nanosecond of rounding down.
                prop_assert!((delay.as_nanos() + 1) * 10 >= base.as_nanos() * 8);
                prop_assert!(delay.as_nanos() * 10 <= base.as_nanos() * 12);
                base = (base * 2).min(max);
            }
        }
    }
}
