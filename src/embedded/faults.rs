//! Fault injection state: what the next requests should suffer.
//!
//! A plain struct behind one mutex, read by every request's dispatch; like kfake's
//! `ControlKey`, faults are keyed by API. Each injected error is consumed by the
//! request it answers, so a test states exactly how many requests fail.

use std::collections::HashMap;
use std::time::Duration;

use crate::protocol::api_key::ApiKey;
use crate::protocol::error_code::ErrorCode;

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
