//! [`ConsumerBuilder`]: the consumer's typed configuration.

use std::sync::Arc;
use std::time::Duration;

use super::assignor::{Assignor, CooperativeStickyAssignor, RangeAssignor};
use super::Consumer;
use crate::client::ClientConfig;

/// Where a partition with no committed offset (or an out-of-range position) starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// At the log start.
    Earliest,
    /// At the log end: only records produced from now on. The default, as in Kafka.
    #[default]
    Latest,
    /// Nowhere: the subscriber gets [`ConsumeError::OffsetOutOfRange`](super::ConsumeError::OffsetOutOfRange)
    /// in a [`ConsumerEvent::Error`](super::ConsumerEvent::Error) and the partition waits for a `Seek`.
    None,
}

/// Which records a fetch returns from transactional producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Every record up to the high watermark (0). The default, as in Kafka.
    #[default]
    ReadUncommitted,
    /// Only committed transactions, up to the last stable offset (1).
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value.
    pub fn code(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// Why a [`ConsumerBuilder`] refused to build.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The client layer's configuration is invalid.
    #[error(transparent)]
    Client(#[from] crate::client::ConfigError),
    /// A setting is out of its range; the message says which and why.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The validated settings every consumer actor shares.
#[derive(Clone)]
#[non_exhaustive]
#[allow(missing_docs)] // each field is documented on its builder setter
pub struct ConsumerConfig {
    pub client: ClientConfig,
    pub group_id: Option<String>,
    pub group_instance_id: Option<String>,
    pub assignors: Vec<Arc<dyn Assignor>>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub auto_commit: bool,
    pub auto_commit_interval: Duration,
    pub offset_reset: OffsetReset,
    pub isolation_level: IsolationLevel,
    pub fetch_min_bytes: i32,
    pub fetch_max_wait: Duration,
    pub fetch_max_bytes: i32,
    pub max_partition_fetch_bytes: i32,
    pub buffer_bytes: usize,
    pub max_records_per_delivery: usize,
    pub redelivery_backoff: Duration,
    pub drain_timeout: Duration,
    pub stall_timeout: Duration,
    pub corrupt_batch_retries: u32,
    pub check_crcs: bool,
    pub fetch_sessions: bool,
    pub request_timeout: Duration,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
}

impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("client", &self.client)
            .field("group_id", &self.group_id)
            .field("group_instance_id", &self.group_instance_id)
            .field("assignors", &self.assignors.iter().map(|a| a.name()).collect::<Vec<_>>())
            .field("session_timeout", &self.session_timeout)
            .field("rebalance_timeout", &self.rebalance_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("auto_commit", &self.auto_commit)
            .field("auto_commit_interval", &self.auto_commit_interval)
            .field("offset_reset", &self.offset_reset)
            .field("isolation_level", &self.isolation_level)
            .field("fetch_min_bytes", &self.fetch_min_bytes)
            .field("fetch_max_wait", &self.fetch_max_wait)
            .field("fetch_max_bytes", &self.fetch_max_bytes)
            .field("max_partition_fetch_bytes", &self.max_partition_fetch_bytes)
            .field("buffer_bytes", &self.buffer_bytes)
            .field("max_records_per_delivery", &self.max_records_per_delivery)
            .field("redelivery_backoff", &self.redelivery_backoff)
            .field("drain_timeout", &self.drain_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("corrupt_batch_retries", &self.corrupt_batch_retries)
            .field("check_crcs", &self.check_crcs)
            .field("fetch_sessions", &self.fetch_sessions)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            client: ClientConfig::default(),
            group_id: None,
            group_instance_id: None,
            assignors: vec![Arc::new(RangeAssignor), Arc::new(CooperativeStickyAssignor)],
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(3),
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            offset_reset: OffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            buffer_bytes: 64 * 1024 * 1024,
            max_records_per_delivery: 500,
            redelivery_backoff: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(30),
            corrupt_batch_retries: 3,
            check_crcs: true,
            fetch_sessions: true,
            request_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
        }
    }
}

impl ConsumerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason| Err(ConfigError::Invalid { setting, reason });
        self.client.validate()?;
        if self.group_id.as_deref() == Some("") {
            return invalid("group_id", "must not be empty");
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return invalid("group_instance_id", "needs a group_id");
        }
        if self.assignors.is_empty() {
            return invalid("assignors", "needs at least one assignor");
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return invalid("heartbeat_interval", "must be positive and below session_timeout");
        }
        if self.rebalance_timeout < self.session_timeout.min(Duration::from_secs(1)) {
            return invalid("rebalance_timeout", "is too short");
        }
        for timeout in [self.session_timeout, self.rebalance_timeout, self.fetch_max_wait, self.request_timeout] {
            if i32::try_from(timeout.as_millis()).is_err() {
                return invalid("timeouts", "must fit in i32 milliseconds");
            }
        }
        if self.request_timeout <= self.fetch_max_wait {
            return invalid("request_timeout", "must exceed fetch_max_wait (a fetch long-polls for it)");
        }
        if self.auto_commit && self.auto_commit_interval.is_zero() {
            return invalid("auto_commit_interval", "must be positive");
        }
        if self.fetch_min_bytes < 0 || self.fetch_max_bytes <= 0 || self.max_partition_fetch_bytes <= 0 {
            return invalid("fetch_*_bytes", "min must be ≥ 0, max and per-partition max positive");
        }
        if self.buffer_bytes == 0 || self.max_records_per_delivery == 0 {
            return invalid("buffer_bytes/max_records_per_delivery", "must be positive");
        }
        if self.stall_timeout.is_zero() {
            return invalid("stall_timeout", "must be positive");
        }
        if self.retry_backoff > self.retry_backoff_max {
            return invalid("retry_backoff", "initial must not exceed max");
        }
        Ok(())
    }
}

/// Builds a [`Consumer`]; every setter documents its default and unit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_kafka::consumer::{Consumer, OffsetReset};
///
/// let consumer = Consumer::builder()
///     .bootstrap("127.0.0.1:9092")
///     .group_id("billing")
///     .offset_reset(OffsetReset::Earliest)
///     .build()
///     .unwrap();
/// assert_eq!(consumer.config().auto_commit_interval, Duration::from_secs(5));
/// assert!(Consumer::builder().bootstrap("k:9092").group_id("").build().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConsumerBuilder {
    config: ConsumerConfig,
}

impl ConsumerBuilder {
    /// The bootstrap brokers, `"host:port,host:port"`. Required: there is no default.
    pub fn bootstrap(mut self, bootstrap: &str) -> Self {
        self.config.client = self.config.client.bootstrap(bootstrap);
        self
    }

    /// The `client_id` of every request. Default: `"actix-kafka"`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.config.client = self.config.client.client_id(client_id);
        self
    }

    /// The whole client configuration. Replaces what `bootstrap` and `client_id` set.
    /// Default: [`ClientConfig::default`].
    pub fn client(mut self, client: ClientConfig) -> Self {
        self.config.client = client;
        self
    }

    /// The consumer group to join (`group.id`). Default: none: a subscription reads
    /// every partition and nothing is committed.
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.config.group_id = Some(group_id.into());
        self
    }

    /// A static membership id (KIP-345, `group.instance.id`): a restart within the
    /// session timeout keeps the member's partitions without a rebalance. Default: none.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.config.group_instance_id = Some(id.into());
        self
    }

    setter!(
        /// The assignors offered in JoinGroup, in order of preference. Default: range,
        /// then cooperative-sticky (the Java client's default since 3.0).
        assignors: Vec<Arc<dyn Assignor>>
    );
    setter!(
        /// How long the coordinator waits for a heartbeat before it drops the member.
        /// Default: 45 s.
        session_timeout: Duration
    );
    setter!(
        /// How long the coordinator waits for every member to rejoin in a rebalance
        /// (Kafka's `max.poll.interval.ms`). Default: 300 s.
        rebalance_timeout: Duration
    );
    setter!(
        /// The time between heartbeats, on their own timer. Must be below the session
        /// timeout (a third of it is usual). Default: 3 s.
        heartbeat_interval: Duration
    );
    setter!(
        /// Commit acknowledged offsets every `auto_commit_interval`. Default: `true`.
        auto_commit: bool
    );
    setter!(
        /// The time between automatic commits. Default: 5 s.
        auto_commit_interval: Duration
    );
    setter!(
        /// Where a partition without a committed offset starts. Default: `Latest`.
        offset_reset: OffsetReset
    );
    setter!(
        /// Which transactional records a fetch returns. Default: `ReadUncommitted`.
        isolation_level: IsolationLevel
    );
    setter!(
        /// The least data, in bytes, a broker gathers before answering a fetch.
        /// Default: 1.
        fetch_min_bytes: i32
    );
    setter!(
        /// How long a broker may hold a fetch waiting for `fetch_min_bytes`.
        /// Default: 500 ms.
        fetch_max_wait: Duration
    );
    setter!(
        /// The most bytes one fetch response may carry (a first batch larger than
        /// this is still returned, so progress is made). Default: 50 MiB.
        fetch_max_bytes: i32
    );
    setter!(
        /// The most bytes one partition contributes to a fetch response (same rule
        /// for an oversized first batch). Default: 1 MiB.
        max_partition_fetch_bytes: i32
    );
    setter!(
        /// The prefetch budget, in bytes, for fetched records not yet delivered, over
        /// all partitions: a partition whose buffer is full is left out of fetches.
        /// Default: 64 MiB.
        buffer_bytes: usize
    );
    setter!(
        /// The most records in one [`Records`](super::Records) delivery. Default: 500.
        max_records_per_delivery: usize
    );
    setter!(
        /// How long after an `Err` reply the same records are delivered again.
        /// Default: 1 s.
        redelivery_backoff: Duration
    );
    setter!(
        /// How long a revoke or a close waits for in-flight deliveries. Default: 30 s.
        drain_timeout: Duration
    );
    setter!(
        /// A partition assigned with lag and not paused that fetches nothing for this
        /// long is reported as stalled and restarted. Default: 30 s.
        stall_timeout: Duration
    );
    setter!(
        /// How many times a batch that fails to decode is fetched again before it
        /// becomes a `CorruptBatch` error. Default: 3.
        corrupt_batch_retries: u32
    );
    setter!(
        /// Check every fetched batch's CRC-32C. Default: `true`.
        check_crcs: bool
    );
    setter!(
        /// Use incremental fetch sessions (KIP-227) where the broker offers them.
        /// Default: `true`.
        fetch_sessions: bool
    );
    setter!(
        /// How long one request (other than the fetch long poll, which adds
        /// `fetch_max_wait`) waits for its answer. Default: 30 s.
        request_timeout: Duration
    );

    /// The backoff between retries: `initial`, doubling up to `max`.
    /// Default: 100 ms and 1 s.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.retry_backoff = initial;
        self.config.retry_backoff_max = max;
        self
    }

    /// Validates the settings and returns the consumer actor, ready to `start()`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid setting.
    pub fn build(self) -> Result<Consumer, ConfigError> {
        self.config.validate()?;
        Ok(Consumer::new(self.config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_as_documented() {
        let consumer = ConsumerBuilder::default().bootstrap("k:9092").build().unwrap();
        let config = consumer.config();
        assert_eq!(config.group_id, None);
        let names: Vec<_> = config.assignors.iter().map(|a| a.name()).collect();
        assert_eq!(names, ["range", "cooperative-sticky"]);
        assert_eq!(config.session_timeout, Duration::from_secs(45));
        assert_eq!(config.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(config.auto_commit_interval, Duration::from_secs(5));
        assert_eq!(config.offset_reset, OffsetReset::Latest);
        assert_eq!(config.max_partition_fetch_bytes, 1 << 20);
    }

    #[test]
    fn bad_settings_are_refused() {
        let b = || ConsumerBuilder::default().bootstrap("k:9092");
        assert!(ConsumerBuilder::default().build().is_err(), "no bootstrap");
        assert!(b().group_id("").build().is_err());
        assert!(b().group_instance_id("i").build().is_err(), "instance id without a group");
        assert!(b().assignors(Vec::new()).build().is_err());
        assert!(b().heartbeat_interval(Duration::from_secs(60)).build().is_err());
        assert!(b().fetch_max_wait(Duration::from_secs(40)).build().is_err());
        assert!(b().max_records_per_delivery(0).build().is_err());
        assert!(b().fetch_max_bytes(0).build().is_err());
    }
}
