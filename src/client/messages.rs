//! The messages the [`Cluster`](super::Cluster) actor answers.

use std::sync::Arc;

use actix::Message;

use super::error::ClientError;
use super::metadata::ClusterMetadata;
use crate::net::BrokerConnection;

/// Asks for the cluster metadata covering `topics`.
///
/// Answered from the cache when every topic is known (present, no topic-level error)
/// and `refresh` is false; otherwise by the next refresh, which asks for every topic
/// any caller ever asked for. Concurrent refreshes are coalesced and rate-limited (see
/// the [module docs](super)). A topic the broker does not know is in the answer with
/// its error code, not an `Err`.
///
/// # Errors
///
/// [`ClientError::NoBrokerAvailable`] (or the last connection error) when no broker
/// answered within the request timeout; [`ClientError::Stopped`].
#[derive(Debug, Clone, Default, Message)]
#[rtype(result = "Result<Arc<ClusterMetadata>, ClientError>")]
pub struct GetMetadata {
    /// The topics the caller needs; empty for brokers only.
    pub topics: Vec<String>,
    /// Refresh even if the cache knows every topic (after NOT_LEADER_OR_FOLLOWER...).
    pub refresh: bool,
}

/// Asks for a metadata refresh without waiting for it (coalesced and rate-limited
/// like every refresh).
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "()")]
pub struct RefreshMetadata;

/// Asks for the pooled connection to broker `node`, opened at its address in the
/// latest metadata (fetched first if there is none yet).
///
/// One connection per node: concurrent callers share one connect, and a closed
/// connection is replaced on the next call.
///
/// # Errors
///
/// [`ClientError::UnknownNode`] when `node` is not in the metadata, or the connect's
/// error.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<BrokerConnection, ClientError>")]
pub struct GetConnection {
    /// The broker's node id.
    pub node: i32,
}

/// Asks for a connection to any broker: an open pooled one, else the first of the
/// known brokers and then the bootstrap list to answer (rounds separated by the retry
/// backoff, for up to the request timeout).
///
/// # Errors
///
/// [`ClientError::NoBrokerAvailable`] when none answered within the request timeout.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<BrokerConnection, ClientError>")]
pub struct GetAnyConnection;

/// Asks a broker for an idempotent producer id (not transactional).
///
/// `-1`/`-1` asks for a new id. An id and its epoch ask the broker to bump the epoch
/// (KIP-360, InitProducerId v3+); a broker older than v3 hands out a new id instead.
/// Retriable errors (COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR,
/// CONCURRENT_TRANSACTIONS, connection failures...) are retried with the backoff until
/// the request timeout.
///
/// # Errors
///
/// [`ClientError::Kafka`] for a non-retriable error code, [`ClientError::Timeout`]
/// (with the last error) when the retries ran out of time.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(i64, i16), ClientError>")]
pub struct InitProducerId {
    /// The current producer id, or -1 for a new one.
    pub producer_id: i64,
    /// The current epoch, or -1 for a new id.
    pub producer_epoch: i16,
}

impl InitProducerId {
    /// Asks for a new producer id.
    pub fn new_id() -> Self {
        Self { producer_id: -1, producer_epoch: -1 }
    }
}

/// Asks for the [`ClusterStats`] counters.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "ClusterStats")]
pub struct GetStats;

/// Counters of the [`Cluster`](super::Cluster) actor since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Metadata refreshes started (each sends one request, more after failures).
    pub refreshes: u64,
    /// MetadataRequests sent.
    pub metadata_requests: u64,
    /// Connects started (per node and to any broker).
    pub connects: u64,
    /// Answers served from the cache without a refresh.
    pub cache_hits: u64,
}

/// Internal: a request on the connection to `addr` failed; stop handing it out.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ConnectionFailed {
    pub(crate) addr: String,
}
