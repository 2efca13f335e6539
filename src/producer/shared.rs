//! What every actor of one producer shares: configuration, the `Cluster`, the memory
//! budget, the producer id, counters and the `BrokerProducer` registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use actix::{Addr, Supervisor};

use super::broker::BrokerProducer;
use super::budget::MemoryBudget;
use super::config::ProducerConfig;
use super::error::ProduceError;
use super::pending::Outstanding;
use super::sequence::ProducerIdentity;
use super::stats::StatsCounters;
use crate::client::{ClientError, Cluster, InitProducerId};

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ProducerConfig,
    pub(crate) cluster: Addr<Cluster>,
    pub(crate) budget: MemoryBudget,
    pub(crate) outstanding: Outstanding,
    pub(crate) stats: StatsCounters,
    identity: Mutex<IdentityState>,
    /// Serialises InitProducerId calls, so a burst of partitions asking for a bump
    /// bumps once.
    init_lock: tokio::sync::Mutex<()>,
    brokers: Mutex<HashMap<i32, Addr<BrokerProducer>>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct IdentityState {
    current: Option<ProducerIdentity>,
    fenced: bool,
}

impl Shared {
    pub(crate) fn new(config: ProducerConfig, cluster: Addr<Cluster>) -> Self {
        Self {
            budget: MemoryBudget::new(config.buffer_bytes),
            config,
            cluster,
            outstanding: Outstanding::default(),
            stats: StatsCounters::default(),
            identity: Mutex::new(IdentityState::default()),
            init_lock: tokio::sync::Mutex::new(()),
            brokers: Mutex::new(HashMap::new()),
        }
    }

    /// The producer id and epoch, once known.
    pub(crate) fn identity(&self) -> Option<ProducerIdentity> {
        self.identity.lock().unwrap_or_else(PoisonError::into_inner).current
    }

    /// Whether a broker fenced this producer's epoch.
    pub(crate) fn is_fenced(&self) -> bool {
        self.identity.lock().unwrap_or_else(PoisonError::into_inner).fenced
    }

    pub(crate) fn fence(&self) {
        self.identity.lock().unwrap_or_else(PoisonError::into_inner).fenced = true;
    }

    /// Gets a producer id (when `stale` is `None`) or bumps the epoch past `stale`
    /// (KIP-360); a no-op when someone else already did.
    ///
    /// A bump the broker refuses for good (an id it does not know) falls back to a new
    /// producer id, which starts every partition over at sequence 0 just the same.
    pub(crate) async fn renew_identity(
        self: Arc<Self>,
        stale: Option<ProducerIdentity>,
    ) -> Result<ProducerIdentity, ProduceError> {
        let _serial = self.init_lock.lock().await;
        let current = self.identity();
        if let Some(current) = current.filter(|current| Some(*current) != stale) {
            return Ok(current);
        }
        let (id, epoch) = stale.unwrap_or((-1, -1));
        let answer = match self.cluster.send(InitProducerId { producer_id: id, producer_epoch: epoch }).await {
            Ok(Err(error)) if stale.is_some() && !error.is_retriable() => {
                tracing::info!(%error, "epoch bump refused; asking for a new producer id");
                self.cluster.send(InitProducerId { producer_id: -1, producer_epoch: -1 }).await
            }
            other => other,
        };
        let identity = answer.map_err(|_| ClientError::Stopped)??;
        tracing::info!(producer_id = identity.0, epoch = identity.1, "producer identity");
        self.identity.lock().unwrap_or_else(PoisonError::into_inner).current = Some(identity);
        Ok(identity)
    }

    /// The `BrokerProducer` of `node`, started under a `Supervisor` on first use.
    pub(crate) fn broker(self: &Arc<Self>, node: i32) -> Addr<BrokerProducer> {
        let mut brokers = self.brokers.lock().unwrap_or_else(PoisonError::into_inner);
        let shared = self.clone();
        brokers
            .entry(node)
            .or_insert_with(|| {
                self.stats.broker_started();
                Supervisor::start(move |_| BrokerProducer::new(node, shared))
            })
            .clone()
    }

    /// Forgets every `BrokerProducer`: each stops once its last batch is answered.
    pub(crate) fn drop_brokers(&self) {
        self.brokers.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
