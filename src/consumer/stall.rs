//! The stall detector: "assigned but silently not consuming", caught with explicit time.
//!
//! Every client has shipped this bug in some form (a fetch answer lost to a race, a
//! partition never re-added to a fetch session, a leader change nobody followed): a
//! partition is assigned, has records waiting, and nothing arrives, with no error
//! anywhere. The detector does not know the cause; it watches the symptom. A partition
//! *should* be receiving when it is not paused, not stopped, its lag is known and
//! positive, its prefetch buffer is not full and no delivery is waiting for the
//! subscriber. While that holds and no records arrive for `timeout`, it is stalled.
//! Any time the condition does not hold, or records arrive, the clock starts over.
//! After a report the clock starts over too, so a partition that stays stuck is
//! reported (and healed) again one timeout later, not on every check.

use std::time::Duration;

use tokio::time::Instant;

/// What the partition looks like at a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StallInputs {
    /// High watermark minus position; -1 while unknown.
    pub(crate) lag: i64,
    /// Whether the partition should be fetching: assigned, not paused or stopped, its
    /// position known, its buffer not full.
    pub(crate) fetchable: bool,
    /// Whether a delivery waits for the subscriber's answer.
    pub(crate) delivering: bool,
}

/// See the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct StallDetector {
    timeout: Duration,
    since: Instant,
}

impl StallDetector {
    /// A detector reporting after `timeout` without records.
    pub(crate) fn new(timeout: Duration, now: Instant) -> Self {
        Self { timeout, since: now }
    }

    /// Records arrived.
    pub(crate) fn on_records(&mut self, now: Instant) {
        self.since = now;
    }

    /// How long the partition has been stalled, when it is.
    pub(crate) fn check(&mut self, inputs: StallInputs, now: Instant) -> Option<Duration> {
        let should_receive = inputs.fetchable && !inputs.delivering && inputs.lag > 0;
        if !should_receive {
            self.since = now;
            return None;
        }
        let stalled_for = now.saturating_duration_since(self.since);
        if stalled_for < self.timeout {
            return None;
        }
        self.since = now;
        Some(stalled_for)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn stuck() -> StallInputs {
        StallInputs { lag: 10, fetchable: true, delivering: false }
    }

    #[tokio::test(start_paused = true)]
    async fn a_partition_with_lag_and_no_records_stalls_after_the_timeout() {
        let mut detector = StallDetector::new(TIMEOUT, Instant::now());
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(detector.check(stuck(), Instant::now()), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(detector.check(stuck(), Instant::now()), Some(TIMEOUT));
        // Reported once, then again only after another timeout.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(detector.check(stuck(), Instant::now()), None);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(detector.check(stuck(), Instant::now()), Some(TIMEOUT));
    }

    #[tokio::test(start_paused = true)]
    async fn records_restart_the_clock() {
        let mut detector = StallDetector::new(TIMEOUT, Instant::now());
        tokio::time::advance(Duration::from_secs(20)).await;
        detector.on_records(Instant::now());
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(detector.check(stuck(), Instant::now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn no_lag_paused_full_or_delivering_is_not_a_stall() {
        let cases = [
            StallInputs { lag: 0, ..stuck() },
            StallInputs { lag: -1, ..stuck() },
            StallInputs { fetchable: false, ..stuck() },
            StallInputs { delivering: true, ..stuck() },
        ];
        for inputs in cases {
            let mut detector = StallDetector::new(TIMEOUT, Instant::now());
            tokio::time::advance(Duration::from_secs(60)).await;
            assert_eq!(detector.check(inputs, Instant::now()), None, "{inputs:?}");
            // The clock started over when the condition stopped holding.
            tokio::time::advance(Duration::from_secs(29)).await;
            assert_eq!(detector.check(stuck(), Instant::now()), None, "{inputs:?}");
        }
    }
}
