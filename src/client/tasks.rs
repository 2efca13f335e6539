//! The [`Cluster`](super::Cluster) actor's asynchronous work, as plain futures that
//! own their inputs: connecting, fetching metadata, InitProducerId. They reach the
//! actor only through its address, so the actor never waits on the network.

use std::time::{Duration, Instant};

use actix::Addr;

use super::backoff::Backoff;
use super::cluster::Cluster;
use super::error::ClientError;
use super::messages::{ConnectionFailed, GetAnyConnection};
use super::metadata::{metadata_request, ClusterMetadata};
use crate::net::{BrokerConnection, ConnectionConfig, ConnectionError};
use crate::protocol::messages::InitProducerIdRequest;
use crate::protocol::{ApiKey, ErrorCode};

/// How long and how patiently a task retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    /// The bound on the whole task (the request timeout).
    pub(crate) timeout: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
}

impl Patience {
    fn backoff(&self) -> Backoff {
        Backoff::new(self.backoff_initial, self.backoff_max)
    }
}

/// Opens a connection to `addr`, once.
pub(crate) async fn connect_one(addr: String, config: ConnectionConfig) -> Result<BrokerConnection, ClientError> {
    BrokerConnection::connect(&addr, config).await.map_err(ClientError::from)
}

/// Tries each address in order, then again after a backoff, until one connects or
/// the patience runs out; a non-retriable failure (authentication, TLS trust) ends it
/// at once.
pub(crate) async fn connect_first(
    candidates: Vec<String>,
    config: ConnectionConfig,
    patience: Patience,
) -> Result<BrokerConnection, ClientError> {
    let deadline = tokio::time::Instant::now() + patience.timeout;
    let mut backoff = patience.backoff();
    let mut tried: Vec<String> = Vec::new();
    let rounds = async {
        loop {
            for addr in &candidates {
                match BrokerConnection::connect(addr, config.clone()).await {
                    Ok(connection) => return Ok(connection),
                    // Wrong credentials or an untrusted certificate will not get
                    // better by asking again: fail fast, no retry storm.
                    Err(error) if !error.is_retriable() => return Err(ClientError::Connection(error)),
                    Err(error) => tracing::debug!(broker = %addr, %error, "bootstrap connect failed"),
                }
                if !tried.contains(addr) {
                    tried.push(addr.clone());
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    };
    let result = tokio::time::timeout_at(deadline, rounds).await;
    result.unwrap_or_else(|_| Err(ClientError::NoBrokerAvailable { tried }))
}

/// One metadata fetch: its result and how many requests it sent.
#[derive(Debug)]
pub(crate) struct FetchOutcome {
    pub(crate) result: Result<ClusterMetadata, ClientError>,
    pub(crate) requests: u64,
}

/// Fetches the metadata of `topics` from any broker; a connection that fails is
/// reported to the actor (so another is used next) and the fetch is retried with the
/// backoff, all within the patience.
pub(crate) async fn fetch_metadata(
    cluster: Addr<Cluster>,
    topics: Vec<String>,
    allow_auto_topic_creation: bool,
    patience: Patience,
) -> FetchOutcome {
    let mut requests = 0;
    let mut last = None;
    let attempts = async {
        let mut backoff = patience.backoff();
        loop {
            let connection = cluster.send(GetAnyConnection).await??;
            let version = connection.version_for(ApiKey::Metadata)?;
            let request = metadata_request(&topics, version, allow_auto_topic_creation);
            requests += 1;
            match connection.request_at(&request, version).await {
                Ok(response) => return Ok(ClusterMetadata::from_response(response, Instant::now())),
                Err(error) => {
                    let error = report_failure(&cluster, &connection, error);
                    if !error.is_retriable() {
                        return Err(error);
                    }
                    last = Some(error);
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    };
    let result = tokio::time::timeout(patience.timeout, attempts).await;
    let result = result.unwrap_or_else(|_| Err(timed_out("Metadata", patience.timeout, last)));
    FetchOutcome { result, requests }
}

/// Asks any broker for a producer id (or an epoch bump), retrying retriable errors.
pub(crate) async fn init_producer_id(
    cluster: Addr<Cluster>,
    producer_id: i64,
    producer_epoch: i16,
    patience: Patience,
) -> Result<(i64, i16), ClientError> {
    let mut last = None;
    let attempts = async {
        let mut backoff = patience.backoff();
        loop {
            match init_producer_id_once(&cluster, producer_id, producer_epoch).await {
                Ok(answer) => return Ok(answer),
                Err(error) if !error.is_retriable() => return Err(error),
                Err(error) => {
                    tracing::debug!(%error, attempt = backoff.attempts() + 1, "InitProducerId failed: retrying");
                    last = Some(error);
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    };
    let result = tokio::time::timeout(patience.timeout, attempts).await;
    result.unwrap_or_else(|_| Err(timed_out("InitProducerId", patience.timeout, last)))
}

async fn init_producer_id_once(
    cluster: &Addr<Cluster>,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<(i64, i16), ClientError> {
    let connection = cluster.send(GetAnyConnection).await??;
    let version = connection.version_for(ApiKey::InitProducerId)?;
    // Before v3 there is no id to bump: the broker hands out a new one.
    let (producer_id, producer_epoch) = if version >= 3 { (producer_id, producer_epoch) } else { (-1, -1) };
    let request = InitProducerIdRequest {
        transactional_id: None,
        // librdkafka's value for a non-transactional producer; the broker ignores it.
        transaction_timeout_ms: -1,
        producer_id,
        producer_epoch,
        ..Default::default()
    };
    let response =
        connection.request_at(&request, version).await.map_err(|e| report_failure(cluster, &connection, e))?;
    match ErrorCode::from_i16(response.error_code) {
        ErrorCode::None => Ok((response.producer_id, response.producer_epoch)),
        error => Err(ClientError::Kafka { api: ApiKey::InitProducerId, error }),
    }
}

/// Tells the actor to stop handing out a connection whose request failed at the
/// network level.
fn report_failure(cluster: &Addr<Cluster>, connection: &BrokerConnection, error: ConnectionError) -> ClientError {
    if error.is_retriable() {
        tracing::debug!(broker = connection.addr(), %error, "request failed: dropping the connection from the pool");
        cluster.do_send(ConnectionFailed { addr: connection.addr().to_owned() });
    }
    ClientError::Connection(error)
}

fn timed_out(operation: &'static str, timeout: Duration, last: Option<ClientError>) -> ClientError {
    let last = last.unwrap_or(ClientError::NoBrokerAvailable { tried: Vec::new() });
    ClientError::Timeout { operation, timeout, last: Box::new(last) }
}
