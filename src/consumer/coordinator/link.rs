//! [`Link`]: finds the group's coordinator broker and keeps one dedicated connection
//! to it.
//!
//! Why a connection of its own rather than the `Cluster` pool's: the broker holds a
//! JoinGroup for up to the rebalance timeout (minutes), so its request timeout must
//! be the rebalance timeout plus a margin, and a Kafka broker answers one connection's
//! requests in order, so a held JoinGroup on the pooled connection would also hold
//! every fetch sent to that broker. The Java client does the same (its coordinator
//! "node" is a separate connection). Every other request is bounded by the consumer's
//! `request_timeout` with `tokio::time::timeout`.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::requests;
use crate::client::{Backoff, Cluster, GetAnyConnection};
use crate::consumer::config::ConsumerConfig;
use crate::consumer::error::ConsumeError;
use crate::net::{BrokerConnection, ConnectionError};
use crate::protocol::{ApiKey, ErrorCode, Request};

/// The margin added to the rebalance timeout for a JoinGroup's answer.
const JOIN_MARGIN: Duration = Duration::from_secs(5);

/// Where the group's coordinator is, and the connection to it.
pub(super) struct Link {
    cluster: Addr<Cluster>,
    config: Arc<ConsumerConfig>,
    group: Arc<str>,
    current: Mutex<Option<BrokerConnection>>,
}

impl Link {
    pub(super) fn new(cluster: Addr<Cluster>, config: Arc<ConsumerConfig>, group: Arc<str>) -> Self {
        Self { cluster, config, group, current: Mutex::new(None) }
    }

    pub(super) fn group(&self) -> &Arc<str> {
        &self.group
    }

    /// The connection to the coordinator, discovering it (FindCoordinator through any
    /// broker, then a connect) when there is none or it closed. Callers share one
    /// discovery. Retriable failures are retried with the backoff for up to the
    /// request timeout.
    pub(super) async fn connection(&self) -> Result<BrokerConnection, ConsumeError> {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref().filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        let connection = self.discover().await?;
        *current = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets `connection` (after NOT_COORDINATOR or a connection error), so the next
    /// request discovers the coordinator again.
    pub(super) async fn forget(&self, connection: &BrokerConnection) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|c| c.addr() == connection.addr()) {
            tracing::debug!(group = %self.group, broker = connection.addr(), "forgetting the coordinator");
            if let Some(old) = current.take() {
                old.close().await;
            }
        }
    }

    /// Forgets whatever connection there is (a restart).
    pub(super) async fn reset(&self) {
        if let Some(old) = self.current.lock().await.take() {
            old.close().await;
        }
    }

    async fn discover(&self) -> Result<BrokerConnection, ConsumeError> {
        let deadline = Instant::now() + self.config.request_timeout;
        let mut backoff = Backoff::new(self.config.retry_backoff, self.config.retry_backoff_max);
        loop {
            let error = match self.discover_once().await {
                Ok(connection) => return Ok(connection),
                Err(error) if is_retriable(&error) => error,
                Err(error) => return Err(error),
            };
            let delay = backoff.next_delay();
            if Instant::now() + delay >= deadline {
                return Err(error);
            }
            tracing::debug!(group = %self.group, %error, ?delay, "coordinator not found yet");
            tokio::time::sleep(delay).await;
        }
    }

    async fn discover_once(&self) -> Result<BrokerConnection, ConsumeError> {
        let any = self.cluster.send(GetAnyConnection).await.map_err(|_| ConsumeError::Closed)??;
        let version = any.version_for(ApiKey::FindCoordinator)?;
        let request = requests::find_coordinator(&self.group, version);
        let response = bounded(self.config.request_timeout, any.request_at(&request, version), &any).await?;
        let (error, addr) = requests::coordinator_of(response, &self.group);
        if !error.is_ok() {
            return Err(ConsumeError::Group { group: self.group.clone(), api: ApiKey::FindCoordinator, error });
        }
        let mut config = self.config.client.connection.clone();
        config.request_timeout = config.request_timeout.max(self.config.rebalance_timeout + JOIN_MARGIN);
        let connection = BrokerConnection::connect(&addr, config).await?;
        tracing::debug!(group = %self.group, coordinator = %addr, "coordinator found");
        Ok(connection)
    }

    /// Sends the request `build` makes for the negotiated version to the coordinator,
    /// waiting up to `timeout`. A connection failure forgets the coordinator.
    pub(super) async fn send<R: Request>(
        &self,
        build: impl FnOnce(i16) -> R,
        timeout: Duration,
    ) -> Result<R::Response, ConsumeError> {
        let connection = self.connection().await?;
        let version = connection.version_for(R::API_KEY)?;
        let request = build(version);
        tracing::debug!(group = %self.group, api = %R::API_KEY, version, "group request");
        let result = bounded(timeout, connection.request_at(&request, version), &connection).await;
        if let Err(ConsumeError::Connection(error)) = &result {
            if !matches!(error, ConnectionError::RequestTimeout { .. }) {
                self.forget(&connection).await;
            }
        }
        result
    }

    /// Forgets the coordinator when `error` says it moved.
    pub(super) async fn check_moved(&self, error: ErrorCode) {
        if coordinator_moved(error) {
            let current = self.current.lock().await.clone();
            if let Some(connection) = current {
                self.forget(&connection).await;
            }
        }
    }

    /// How long a JoinGroup may wait for its answer.
    pub(super) fn join_timeout(&self) -> Duration {
        self.config.rebalance_timeout + JOIN_MARGIN
    }
}

/// Whether `error` means the coordinator is elsewhere or not ready: rediscover.
pub(super) fn coordinator_moved(error: ErrorCode) -> bool {
    matches!(error, ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable)
}

/// Whether a failure of a group request is worth retrying after a backoff.
pub(super) fn is_retriable(error: &ConsumeError) -> bool {
    match error {
        ConsumeError::Group { error, .. } | ConsumeError::Partition { error, .. } => error.is_retriable(),
        ConsumeError::Connection(_) | ConsumeError::Client(_) | ConsumeError::Timeout { .. } => true,
        _ => false,
    }
}

/// `request` bounded by `timeout`: a late answer is a timeout error.
async fn bounded<T>(
    timeout: Duration,
    request: impl std::future::Future<Output = Result<T, ConnectionError>>,
    connection: &BrokerConnection,
) -> Result<T, ConsumeError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(result) => result.map_err(ConsumeError::from),
        Err(_) => {
            tracing::debug!(broker = connection.addr(), ?timeout, "group request timed out");
            Err(ConsumeError::Timeout { what: "a group request" })
        }
    }
}
