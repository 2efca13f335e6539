//! The producer's reading of the time: the create time it stamps records with and
//! the instant their delivery deadline counts from.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Records that may share one reading of the clock.
const REUSE: u32 = 16;

/// One reading of both clocks, shared by the records the producer takes one after
/// another.
///
/// Why: a `Produce` per record read the clocks twice per record, and on a virtual
/// machine a clock read costs about as much as taking the record. Records taken back
/// to back are microseconds apart, well under the millisecond of a Kafka timestamp.
/// The reading is dropped after [`REUSE`] records and whenever the producer forwards
/// what it took (which it does as soon as its mailbox is empty), so a record's stamp
/// is never older than the records queued before it.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    reading: Option<(i64, Instant)>,
    uses: u32,
}

impl Clock {
    /// The wall-clock time in ms since the epoch and the monotonic instant, for one
    /// call's records.
    pub(crate) fn now(&mut self) -> (i64, Instant) {
        match self.reading {
            Some(reading) if self.uses < REUSE => {
                self.uses += 1;
                reading
            }
            _ => {
                let wall_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
                let reading = (wall_ms, Instant::now());
                self.reading = Some(reading);
                self.uses = 1;
                reading
            }
        }
    }

    /// Drops the reading: the next call reads the clocks again.
    pub(crate) fn forget(&mut self) {
        self.reading = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_reading_is_shared_by_a_few_records_then_read_again() {
        let mut clock = Clock::default();
        let (wall, first) = clock.now();
        assert!(wall > 1_600_000_000_000, "ms since the epoch: {wall}");
        tokio::time::advance(Duration::from_millis(5)).await;
        for _ in 1..REUSE {
            assert_eq!(clock.now().1, first);
        }
        assert_eq!(clock.now().1, first + Duration::from_millis(5), "read again after REUSE records");
        tokio::time::advance(Duration::from_millis(5)).await;
        clock.forget();
        assert_eq!(clock.now().1, first + Duration::from_millis(10), "read again after forget");
    }
}
