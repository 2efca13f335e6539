//! What every session shares: the controller, the latest cluster view, the append
//! signal, the faults, the fetch sessions and the group coordinator.

use std::sync::{Arc, Mutex, MutexGuard};

use actix::Addr;
use tokio::sync::watch;

use super::config::ListenerSecurity;
use super::controller::{ClusterView, Controller};
use super::faults::Faults;
use super::fetch_sessions::NodeSessions;
use super::group::Groups;

/// The cluster's shared handles, one `Arc` for every session of every node.
pub(crate) struct Shared {
    pub controller: Addr<Controller>,
    pub view: watch::Receiver<Arc<ClusterView>>,
    /// Bumped by every append; fetch long polls wait on it.
    pub appended: watch::Sender<u64>,
    pub faults: Mutex<Faults>,
    /// Each node's KIP-227 fetch session cache.
    pub fetch_sessions: Mutex<NodeSessions>,
    pub groups: Groups,
    pub auto_create_topics: bool,
    pub max_frame_size: usize,
    /// TLS and SASL of every listener.
    pub security: ListenerSecurity,
}

impl Shared {
    /// The latest published cluster view.
    pub(crate) fn view(&self) -> Arc<ClusterView> {
        self.view.borrow().clone()
    }

    /// The fault table (a poisoned lock still holds valid counters).
    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The fetch session caches (a poisoned lock still holds consistent sessions: each
    /// change is made whole under the lock).
    pub(crate) fn fetch_sessions(&self) -> MutexGuard<'_, NodeSessions> {
        self.fetch_sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
