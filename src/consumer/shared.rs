//! What every actor of one consumer shares: the configuration, the `Cluster`, the
//! prefetch budget, the counters and the `BrokerConsumer` registry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use actix::{Addr, Supervisor};

use super::broker::BrokerConsumer;
use super::budget::PrefetchBudget;
use super::config::ConsumerConfig;
use super::stats::ConsumerStats;
use crate::client::Cluster;

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Arc<ConsumerConfig>,
    pub(crate) cluster: Addr<Cluster>,
    pub(crate) budget: Arc<PrefetchBudget>,
    pub(crate) stats: Counters,
    brokers: Mutex<HashMap<i32, Addr<BrokerConsumer>>>,
}

/// The consumer-wide counters of [`ConsumerStats`], updated by every actor.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) records_delivered: AtomicU64,
    pub(crate) records_acknowledged: AtomicU64,
    pub(crate) bytes_fetched: AtomicU64,
    pub(crate) fetch_requests: AtomicU64,
    pub(crate) incremental_fetches: AtomicU64,
    pub(crate) handler_errors: AtomicU64,
    pub(crate) corrupt_batches: AtomicU64,
    pub(crate) stalls_healed: AtomicU64,
    pub(crate) broker_restarts: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// The counters, without partitions or group.
    pub(crate) fn snapshot(&self) -> ConsumerStats {
        ConsumerStats {
            records_delivered: self.records_delivered.load(Relaxed),
            records_acknowledged: self.records_acknowledged.load(Relaxed),
            bytes_fetched: self.bytes_fetched.load(Relaxed),
            fetch_requests: self.fetch_requests.load(Relaxed),
            incremental_fetches: self.incremental_fetches.load(Relaxed),
            handler_errors: self.handler_errors.load(Relaxed),
            corrupt_batches: self.corrupt_batches.load(Relaxed),
            stalls_healed: self.stalls_healed.load(Relaxed),
            broker_restarts: self.broker_restarts.load(Relaxed),
            ..ConsumerStats::default()
        }
    }
}

impl Shared {
    pub(crate) fn new(config: Arc<ConsumerConfig>, cluster: Addr<Cluster>) -> Self {
        Self {
            budget: Arc::new(PrefetchBudget::new(config.buffer_bytes)),
            config,
            cluster,
            stats: Counters::default(),
            brokers: Mutex::new(HashMap::new()),
        }
    }

    /// The `BrokerConsumer` of `node`, started under a `Supervisor` on first use.
    pub(crate) fn broker(self: &Arc<Self>, node: i32) -> Addr<BrokerConsumer> {
        let mut brokers = self.brokers.lock().unwrap_or_else(PoisonError::into_inner);
        let shared = self.clone();
        brokers.entry(node).or_insert_with(|| Supervisor::start(move |_| BrokerConsumer::new(node, shared))).clone()
    }

    /// Forgets every `BrokerConsumer` (on close): each stops once nothing holds it.
    pub(crate) fn drop_brokers(&self) -> Vec<Addr<BrokerConsumer>> {
        self.brokers.lock().unwrap_or_else(PoisonError::into_inner).drain().map(|(_, addr)| addr).collect()
    }
}
