//! Counters and a small fixed latency histogram for [`Stats`](super::Stats).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::messages::ProducerStats;

/// Bucket upper bounds grow by ~19% (2^(1/4)) from 10 µs; 112 buckets reach ~37 min.
const BUCKETS: usize = 112;
const FIRST_BOUND_MICROS: f64 = 10.0;
const GROWTH: f64 = 1.189_207_115; // 2^(1/4)

/// A latency histogram with fixed, logarithmic buckets: constant memory, O(1)
/// record, percentiles accurate to one bucket (~19%).
#[derive(Debug, Clone)]
pub(crate) struct LatencyHistogram {
    counts: [u64; BUCKETS],
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { counts: [0; BUCKETS], total: 0 }
    }
}

impl LatencyHistogram {
    fn bucket(latency: Duration) -> usize {
        let micros = latency.as_secs_f64() * 1e6;
        if micros <= FIRST_BOUND_MICROS {
            return 0;
        }
        let index = (micros / FIRST_BOUND_MICROS).log(GROWTH).ceil();
        // Saturating float-to-int conversion; the last bucket takes everything above.
        (index as usize).min(BUCKETS - 1)
    }

    fn upper_bound(bucket: usize) -> Duration {
        let exponent = i32::try_from(bucket).unwrap_or(i32::MAX);
        Duration::from_secs_f64(FIRST_BOUND_MICROS * GROWTH.powi(exponent) / 1e6)
    }

    /// Adds one observation.
    pub(crate) fn record(&mut self, latency: Duration) {
        self.counts[Self::bucket(latency)] += 1;
        self.total += 1;
    }

    /// The upper bound of the bucket holding the `quantile` (0..=1) observation;
    /// zero when empty.
    pub(crate) fn percentile(&self, quantile: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.total as f64) * quantile.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::upper_bound(bucket);
            }
        }
        Self::upper_bound(BUCKETS - 1)
    }
}

/// The producer's counters, shared by every actor of the pipeline.
#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    records_sent: AtomicU64,
    records_failed: AtomicU64,
    records_retried: AtomicU64,
    batches_sent: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_uncompressed: AtomicU64,
    broker_starts: AtomicU64,
    broker_restarts: AtomicU64,
    latency: Mutex<LatencyHistogram>,
}

impl StatsCounters {
    /// Counts answered records: `sent` delivered, `failed` failed for good.
    pub(crate) fn records_done(&self, sent: usize, failed: usize) {
        if sent > 0 {
            self.records_sent.fetch_add(sent as u64, Relaxed);
        }
        if failed > 0 {
            self.records_failed.fetch_add(failed as u64, Relaxed);
        }
    }

    pub(crate) fn retried(&self, records: usize) {
        self.records_retried.fetch_add(records as u64, Relaxed);
    }

    pub(crate) fn batch_sent(&self, sent_bytes: usize, uncompressed_bytes: usize) {
        self.batches_sent.fetch_add(1, Relaxed);
        self.bytes_sent.fetch_add(sent_bytes as u64, Relaxed);
        self.bytes_uncompressed.fetch_add(uncompressed_bytes as u64, Relaxed);
    }

    pub(crate) fn request_latency(&self, latency: Duration) {
        self.latency.lock().unwrap_or_else(PoisonError::into_inner).record(latency);
    }

    pub(crate) fn broker_started(&self) {
        self.broker_starts.fetch_add(1, Relaxed);
    }

    pub(crate) fn broker_restarted(&self) {
        self.broker_restarts.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, buffered_bytes: usize) -> ProducerStats {
        let latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (sent, raw) = (self.bytes_sent.load(Relaxed), self.bytes_uncompressed.load(Relaxed));
        ProducerStats {
            records_sent: self.records_sent.load(Relaxed),
            records_failed: self.records_failed.load(Relaxed),
            records_retried: self.records_retried.load(Relaxed),
            batches_sent: self.batches_sent.load(Relaxed),
            bytes_sent: sent,
            compression_ratio: if sent == 0 { 1.0 } else { raw as f64 / sent as f64 },
            buffered_bytes: buffered_bytes as u64,
            request_latency_p50: latency.percentile(0.5),
            request_latency_p99: latency.percentile(0.99),
            broker_starts: self.broker_starts.load(Relaxed),
            broker_restarts: self.broker_restarts.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_one_bucket() {
        let mut histogram = LatencyHistogram::default();
        assert_eq!(histogram.percentile(0.5), Duration::ZERO);
        for ms in 1..=100u64 {
            histogram.record(Duration::from_millis(ms));
        }
        let p50 = histogram.percentile(0.5).as_secs_f64() * 1e3;
        let p99 = histogram.percentile(0.99).as_secs_f64() * 1e3;
        assert!((50.0..=50.0 * GROWTH).contains(&p50), "p50 {p50}");
        assert!((99.0..=99.0 * GROWTH).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn extremes_land_in_the_end_buckets() {
        let mut histogram = LatencyHistogram::default();
        histogram.record(Duration::ZERO);
        histogram.record(Duration::from_secs(100_000));
        assert!(histogram.percentile(0.0) <= Duration::from_micros(10));
        assert!(histogram.percentile(1.0) > Duration::from_secs(60));
    }

    #[test]
    fn the_compression_ratio_is_raw_over_sent() {
        let stats = StatsCounters::default();
        assert_eq!(stats.snapshot(0).compression_ratio, 1.0);
        stats.batch_sent(100, 400);
        stats.records_done(1, 0);
        stats.records_done(0, 1);
        let snapshot = stats.snapshot(7);
        assert_eq!((snapshot.compression_ratio, snapshot.records_sent, snapshot.records_failed), (4.0, 1, 1));
        assert_eq!(snapshot.buffered_bytes, 7);
    }
}
