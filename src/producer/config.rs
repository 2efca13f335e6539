//! [`ProducerBuilder`]: the producer's typed configuration.

use std::time::Duration;

use super::partitioner::Partitioner;
use super::Producer;
use crate::client::ClientConfig;
use crate::protocol::record::Compression;

/// How many acknowledgements the broker must gather before answering a produce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// No answer at all (`acks=0`): a record's reply completes once it is written to
    /// the socket, with offset -1. Incompatible with idempotence.
    None,
    /// The leader's own append (`acks=1`).
    Leader,
    /// Every in-sync replica (`acks=all`, -1). The default.
    #[default]
    All,
}

impl Acks {
    /// The wire value.
    pub fn code(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Why a [`ProducerBuilder`] refused to build.
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

/// The validated settings every producer actor shares.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[allow(missing_docs)] // each field is documented on its builder setter
pub struct ProducerConfig {
    pub client: ClientConfig,
    pub acks: Acks,
    pub compression: Compression,
    pub linger: Duration,
    pub batch_bytes: usize,
    pub max_request_bytes: usize,
    pub buffer_bytes: usize,
    pub delivery_timeout: Duration,
    pub request_timeout: Duration,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    pub idempotence: bool,
    pub max_in_flight: u8,
    pub partitioner: Partitioner,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            client: ClientConfig::default(),
            acks: Acks::All,
            compression: Compression::None,
            linger: Duration::from_millis(5),
            batch_bytes: 1024 * 1024,
            max_request_bytes: 1024 * 1024,
            buffer_bytes: 32 * 1024 * 1024,
            delivery_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            idempotence: true,
            max_in_flight: 5,
            partitioner: Partitioner::default(),
        }
    }
}

impl ProducerConfig {
    /// How many batches of one partition may be in flight at once: `max_in_flight`
    /// with idempotence (the broker keeps order by sequence), 1 without it.
    pub fn partition_in_flight(&self) -> usize {
        if self.idempotence {
            usize::from(self.max_in_flight)
        } else {
            1
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason| Err(ConfigError::Invalid { setting, reason });
        self.client.validate()?;
        if self.idempotence && !(1..=5).contains(&self.max_in_flight) {
            return invalid("max_in_flight", "must be 1..=5 with idempotence");
        }
        if self.max_in_flight == 0 {
            return invalid("max_in_flight", "must be at least 1");
        }
        if self.idempotence && self.acks != Acks::All {
            return invalid("acks", "idempotence needs Acks::All");
        }
        if self.batch_bytes == 0 || self.max_request_bytes == 0 || self.buffer_bytes == 0 {
            return invalid("batch_bytes/max_request_bytes/buffer_bytes", "must be positive");
        }
        if self.delivery_timeout < self.linger + self.request_timeout {
            return invalid("delivery_timeout", "must be at least linger + request_timeout");
        }
        if self.request_timeout.is_zero() {
            return invalid("request_timeout", "must be positive");
        }
        if self.retry_backoff > self.retry_backoff_max {
            return invalid("retry_backoff", "initial must not exceed max");
        }
        if i32::try_from(self.request_timeout.as_millis()).is_err() {
            return invalid("request_timeout", "must fit in i32 milliseconds");
        }
        Ok(())
    }
}

/// Builds a [`Producer`]; every setter documents its default and unit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_kafka::producer::{Acks, Producer};
///
/// let producer = Producer::builder()
///     .bootstrap("127.0.0.1:9092")
///     .linger(Duration::from_millis(10))
///     .acks(Acks::All)
///     .build()
///     .unwrap();
/// assert_eq!(producer.config().linger, Duration::from_millis(10));
/// assert!(Producer::builder().max_in_flight(6).build().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProducerBuilder {
    config: ProducerConfig,
}

impl ProducerBuilder {
    /// The bootstrap brokers, `"host:port,host:port"`. Required: there is no default.
    pub fn bootstrap(mut self, bootstrap: &str) -> Self {
        self.config.client = self.config.client.bootstrap(bootstrap);
        self
    }

    /// The `client_id` of every request. Default: `"actix-kafka"`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        let client_id = client_id.into();
        self.config.client.connection.client_id = Some(client_id.clone());
        self.config.client.client_id = client_id;
        self
    }

    /// The whole client configuration (metadata ages, connection settings, backoff
    /// of metadata refreshes). Replaces what `bootstrap` and `client_id` set.
    /// Default: [`ClientConfig::default`].
    pub fn client(mut self, client: ClientConfig) -> Self {
        self.config.client = client;
        self
    }

    setter!(
        /// The acknowledgements each produce request asks for. Default: [`Acks::All`]
        /// (required by idempotence).
        acks: Acks
    );
    setter!(
        /// The codec of every batch. Default: `Compression::None`.
        compression: Compression
    );
    setter!(
        /// How long a partition's open batch waits for more records before it is sent.
        /// Default: 5 ms.
        linger: std::time::Duration
    );
    setter!(
        /// The uncompressed size, in bytes, at which a partition's batch is sent at
        /// once. Default: 1 MiB.
        batch_bytes: usize
    );
    setter!(
        /// The largest produce request, in bytes; a record bigger than this fails alone
        /// with `RecordTooLarge`. Default: 1 MiB.
        max_request_bytes: usize
    );
    setter!(
        /// The memory budget, in bytes, for records not yet acknowledged (each record
        /// is charged its key, value, headers and 70 bytes). Default: 32 MiB.
        buffer_bytes: usize
    );
    setter!(
        /// The longest a record may take from `send` to its reply, retries included.
        /// Must be at least `linger + request_timeout`. Default: 120 s.
        delivery_timeout: std::time::Duration
    );
    setter!(
        /// How long one produce request waits for its answer (also the request's
        /// broker-side timeout). Default: 30 s.
        request_timeout: std::time::Duration
    );
    setter!(
        /// Idempotent delivery: a producer id and per-partition sequence numbers, so
        /// retries never duplicate nor reorder records. Default: `true`.
        idempotence: bool
    );
    setter!(
        /// Produce requests in flight per broker connection and batches in flight per
        /// partition: 1..=5 with idempotence (order kept by sequence numbers); forced
        /// to 1 per partition without it, so order is safe by default. Default: 5.
        max_in_flight: u8
    );
    setter!(
        /// How keyless and keyed records choose a partition. Default: `Murmur2`.
        partitioner: Partitioner
    );

    /// The backoff between retries of a partition's batches: `initial`, doubling up to
    /// `max`. Default: 100 ms and 1 s.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.retry_backoff = initial;
        self.config.retry_backoff_max = max;
        self
    }

    /// Validates the settings and returns the producer actor, ready to `start()`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid setting.
    pub fn build(self) -> Result<Producer, ConfigError> {
        self.config.validate()?;
        Ok(Producer::new(self.config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_as_documented() {
        let producer = ProducerBuilder::default().bootstrap("k:9092").build().unwrap();
        let config = producer.config();
        assert_eq!(config.acks, Acks::All);
        assert_eq!(config.linger, Duration::from_millis(5));
        assert_eq!((config.batch_bytes, config.max_request_bytes), (1 << 20, 1 << 20));
        assert_eq!(config.buffer_bytes, 32 << 20);
        assert_eq!(config.delivery_timeout, Duration::from_secs(120));
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert!(config.idempotence);
        assert_eq!((config.max_in_flight, config.partition_in_flight()), (5, 5));
    }

    #[test]
    fn bad_settings_are_refused() {
        let b = || ProducerBuilder::default().bootstrap("k:9092");
        assert!(ProducerBuilder::default().build().is_err(), "no bootstrap");
        assert!(b().max_in_flight(0).build().is_err());
        assert!(b().max_in_flight(6).build().is_err());
        assert!(b().idempotence(false).max_in_flight(10).build().is_ok());
        assert!(b().acks(Acks::Leader).build().is_err());
        assert!(b().idempotence(false).acks(Acks::None).build().is_ok());
        assert!(b().delivery_timeout(Duration::from_secs(1)).build().is_err());
        assert!(b().batch_bytes(0).build().is_err());
        assert!(b().retry_backoff(Duration::from_secs(2), Duration::from_secs(1)).build().is_err());
    }

    #[test]
    fn without_idempotence_one_batch_per_partition_is_in_flight() {
        let producer =
            ProducerBuilder::default().bootstrap("k:9092").idempotence(false).max_in_flight(5).build().unwrap();
        assert_eq!(producer.config().partition_in_flight(), 1);
    }
}
