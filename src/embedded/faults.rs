//! Fault injection state: what the next requests should suffer.
//!
//! A plain struct behind one mutex, read by every request's dispatch; like kfake's
//! `ControlKey`, faults are keyed by API. Each injected error is consumed by the
//! request it answers, so a test states exactly how many requests fail. The two fetch
//! faults are keyed by partition instead: they act on what one partition's answer
//! carries, the way a flaky disk or a stuck leader would, not on a whole API.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

use crate::protocol::api_key::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::record::{HEADER_LEN, LOG_OVERHEAD, MAGIC};

/// One pending injected error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Injected {
    api: ApiKey,
    code: ErrorCode,
    remaining: u32,
    node: Option<i32>,
}

/// Every fault the cluster is currently told to apply.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    injected: Vec<Injected>,
    latency: HashMap<ApiKey, Duration>,
    throttle: HashMap<ApiKey, i32>,
    drop_after_append: u32,
    /// Fetch answers still to corrupt, per (topic, partition).
    corrupt_fetch: HashMap<(String, i32), u32>,
    /// Fetches still to hold, per (topic, partition).
    hold_fetch: HashMap<(String, i32), u32>,
}

impl Faults {
    /// Answers the next `count` requests of `api` (on `node`, or on any node) with `code`.
    pub(crate) fn inject_error(&mut self, api: ApiKey, code: ErrorCode, count: u32, node: Option<i32>) {
        if count > 0 {
            self.injected.push(Injected { api, code, remaining: count, node });
        }
    }

    /// The error a request of `api` on `node` must be answered with, if any; consumes
    /// one use of the oldest matching injection.
    pub(crate) fn take_error(&mut self, api: ApiKey, node: i32) -> Option<ErrorCode> {
        let index = self.injected.iter().position(|i| i.api == api && i.node.map_or(true, |n| n == node))?;
        let injected = &mut self.injected[index];
        let code = injected.code;
        injected.remaining -= 1;
        if injected.remaining == 0 {
            self.injected.remove(index);
        }
        Some(code)
    }

    /// Adds `latency` before each answer to `api`; zero removes it.
    pub(crate) fn set_latency(&mut self, api: ApiKey, latency: Duration) {
        if latency.is_zero() {
            self.latency.remove(&api);
        } else {
            self.latency.insert(api, latency);
        }
    }

    /// The latency to add before answering `api`.
    pub(crate) fn latency(&self, api: ApiKey) -> Duration {
        self.latency.get(&api).copied().unwrap_or_default()
    }

    /// Sets the throttle time answers to `api` carry; zero removes it.
    pub(crate) fn set_throttle(&mut self, api: ApiKey, throttle_ms: i32) {
        if throttle_ms == 0 {
            self.throttle.remove(&api);
        } else {
            self.throttle.insert(api, throttle_ms);
        }
    }

    /// The throttle time for answers to `api`.
    pub(crate) fn throttle(&self, api: ApiKey) -> i32 {
        self.throttle.get(&api).copied().unwrap_or(0)
    }

    /// Drops the connection after appending the next `count` produce requests.
    pub(crate) fn set_drop_after_append(&mut self, count: u32) {
        self.drop_after_append = count;
    }

    /// Whether this produce request's connection must be dropped once appended;
    /// consumes one.
    pub(crate) fn take_drop_after_append(&mut self) -> bool {
        let drop = self.drop_after_append > 0;
        self.drop_after_append = self.drop_after_append.saturating_sub(1);
        drop
    }

    /// Corrupts the next `count` fetch answers carrying records of `topic`-`partition`;
    /// zero clears.
    pub(crate) fn set_corrupt_fetch(&mut self, topic: &str, partition: i32, count: u32) {
        set_count(&mut self.corrupt_fetch, topic, partition, count);
    }

    /// `records` with one byte of the first batch's records flipped, when a corruption
    /// of `topic`-`partition` is pending (one is consumed); None otherwise, or when the
    /// bytes hold no whole v2 batch with records to flip.
    pub(crate) fn corrupt(&mut self, topic: &str, partition: i32, records: &Bytes) -> Option<Bytes> {
        let key = (topic.to_string(), partition);
        self.corrupt_fetch.get(&key)?;
        let corrupted = flip_first_batch_byte(records)?;
        take_one(&mut self.corrupt_fetch, key);
        Some(corrupted)
    }

    /// Holds the next `count` fetches of `topic`-`partition`: answered with no records
    /// and the true high watermark; zero clears.
    pub(crate) fn set_hold_fetch(&mut self, topic: &str, partition: i32, count: u32) {
        set_count(&mut self.hold_fetch, topic, partition, count);
    }

    /// Whether this fetch must hold `topic`-`partition`; consumes one.
    pub(crate) fn take_hold(&mut self, topic: &str, partition: i32) -> bool {
        take_one(&mut self.hold_fetch, (topic.to_string(), partition))
    }
}

fn set_count(counts: &mut HashMap<(String, i32), u32>, topic: &str, partition: i32, count: u32) {
    if count == 0 {
        counts.remove(&(topic.to_string(), partition));
    } else {
        counts.insert((topic.to_string(), partition), count);
    }
}

/// Consumes one use of `key`'s count; false when none is left.
fn take_one(counts: &mut HashMap<(String, i32), u32>, key: (String, i32)) -> bool {
    let Some(remaining) = counts.get_mut(&key) else {
        return false;
    };
    *remaining -= 1;
    if *remaining == 0 {
        counts.remove(&key);
    }
    true
}

/// A copy of `records` with the middle byte of the first batch's records region
/// inverted. The region is covered by the batch's CRC-32C, so the client's check fails,
/// while the header (offsets, length) still frames the batch: the client sees a
/// corrupt batch, not a truncated response.
fn flip_first_batch_byte(records: &Bytes) -> Option<Bytes> {
    let length = records.get(LOG_OVERHEAD - 4..LOG_OVERHEAD)?;
    let batch_length = i32::from_be_bytes(length.try_into().ok()?);
    let batch_end = LOG_OVERHEAD.checked_add(usize::try_from(batch_length).ok()?)?;
    let magic = *records.get(LOG_OVERHEAD + 4)?;
    if i8::from_be_bytes([magic]) != MAGIC || batch_end <= HEADER_LEN || batch_end > records.len() {
        return None;
    }
    let mut copy = records.to_vec();
    copy[HEADER_LEN + (batch_end - HEADER_LEN) / 2] ^= 0xff;
    Some(Bytes::from(copy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record::{Compression, DecodeOptions, RecordBatch, RecordBatchBuilder, RecordError};

    #[test]
    fn an_injected_error_answers_exactly_count_requests() {
        let mut faults = Faults::default();
        faults.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 2, None);
        assert_eq!(faults.take_error(ApiKey::Fetch, 0), None);
        assert_eq!(faults.take_error(ApiKey::Produce, 0), Some(ErrorCode::NotLeaderOrFollower));
        assert_eq!(faults.take_error(ApiKey::Produce, 1), Some(ErrorCode::NotLeaderOrFollower));
        assert_eq!(faults.take_error(ApiKey::Produce, 0), None);
    }

    #[test]
    fn a_node_bound_error_spares_other_nodes_and_injections_queue_in_order() {
        let mut faults = Faults::default();
        faults.inject_error(ApiKey::Metadata, ErrorCode::RequestTimedOut, 1, Some(2));
        faults.inject_error(ApiKey::Metadata, ErrorCode::BrokerNotAvailable, 1, None);
        faults.inject_error(ApiKey::Metadata, ErrorCode::None, 0, None);
        assert_eq!(faults.take_error(ApiKey::Metadata, 0), Some(ErrorCode::BrokerNotAvailable));
        assert_eq!(faults.take_error(ApiKey::Metadata, 0), None);
        assert_eq!(faults.take_error(ApiKey::Metadata, 2), Some(ErrorCode::RequestTimedOut));
        assert_eq!(faults.take_error(ApiKey::Metadata, 2), None);
    }

    #[test]
    fn latency_throttle_and_drops_are_set_and_cleared() {
        let mut faults = Faults::default();
        faults.set_latency(ApiKey::Fetch, Duration::from_millis(5));
        faults.set_throttle(ApiKey::Produce, 100);
        assert_eq!(faults.latency(ApiKey::Fetch), Duration::from_millis(5));
        assert_eq!(faults.latency(ApiKey::Produce), Duration::ZERO);
        assert_eq!(faults.throttle(ApiKey::Produce), 100);
        faults.set_latency(ApiKey::Fetch, Duration::ZERO);
        faults.set_throttle(ApiKey::Produce, 0);
        assert_eq!((faults.latency(ApiKey::Fetch), faults.throttle(ApiKey::Produce)), (Duration::ZERO, 0));

        faults.set_drop_after_append(2);
        assert!(faults.take_drop_after_append());
        assert!(faults.take_drop_after_append());
        assert!(!faults.take_drop_after_append());
    }

    fn batch(values: &[&str]) -> Bytes {
        let mut builder = RecordBatchBuilder::new(Compression::None);
        for value in values {
            builder.push(0, None, Some(Bytes::from(value.to_string())), vec![]).unwrap();
        }
        builder.finish().unwrap()
    }

    #[test]
    fn corruption_flips_one_byte_of_the_first_batch_only_and_counts_down() {
        let first = batch(&["a", "b"]);
        let second = batch(&["c"]);
        let records = Bytes::from([first.as_ref(), second.as_ref()].concat());
        let mut faults = Faults::default();
        assert_eq!(faults.corrupt("t", 0, &records), None, "nothing pending");
        faults.set_corrupt_fetch("t", 0, 2);
        assert_eq!(faults.corrupt("t", 1, &records), None, "another partition");
        assert_eq!(faults.corrupt("t", 0, &Bytes::new()), None, "no records: nothing consumed");

        let corrupted = faults.corrupt("t", 0, &records).expect("corrupted");
        let differing: Vec<usize> = (0..records.len()).filter(|&i| records[i] != corrupted[i]).collect();
        assert_eq!(differing.len(), 1);
        assert!(differing[0] >= HEADER_LEN && differing[0] < first.len(), "inside the first batch's records");
        let mut bytes = corrupted.clone();
        let error = RecordBatch::decode(&mut bytes, &DecodeOptions::default()).unwrap_err();
        assert!(matches!(error, RecordError::CrcMismatch { .. }), "{error:?}");
        assert!(RecordBatch::decode(&mut bytes, &DecodeOptions::default()).is_ok(), "the second batch is intact");

        assert!(faults.corrupt("t", 0, &records).is_some());
        assert_eq!(faults.corrupt("t", 0, &records), None, "count used up");
        faults.set_corrupt_fetch("t", 0, 5);
        faults.set_corrupt_fetch("t", 0, 0);
        assert_eq!(faults.corrupt("t", 0, &records), None, "cleared");
    }

    #[test]
    fn bytes_without_a_whole_v2_batch_are_not_corrupted() {
        let whole = batch(&["a"]);
        assert_eq!(flip_first_batch_byte(&whole.slice(..whole.len() - 1)), None, "truncated");
        assert_eq!(flip_first_batch_byte(&whole.slice(..HEADER_LEN)), None, "header only");
        let mut legacy = whole.to_vec();
        legacy[LOG_OVERHEAD + 4] = 1;
        assert_eq!(flip_first_batch_byte(&Bytes::from(legacy)), None, "magic 1");
        assert_eq!(flip_first_batch_byte(&Bytes::from_static(&[0, 0, 0])), None);
    }

    #[test]
    fn a_hold_covers_exactly_count_fetches_of_its_partition() {
        let mut faults = Faults::default();
        faults.set_hold_fetch("t", 1, 2);
        assert!(!faults.take_hold("t", 0));
        assert!(faults.take_hold("t", 1));
        assert!(faults.take_hold("t", 1));
        assert!(!faults.take_hold("t", 1));
        faults.set_hold_fetch("t", 1, 3);
        faults.set_hold_fetch("t", 1, 0);
        assert!(!faults.take_hold("t", 1), "cleared");
    }
}
