//! One group member, member id generation and Kafka's protocol vote.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// Identifies one parked JoinGroup or SyncGroup request; the actor maps it to a reply channel.
pub(crate) type Token = u64;

/// One protocol a member supports, with its metadata (for consumers: the subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Protocol {
    pub(crate) name: String,
    pub(crate) metadata: Bytes,
}

/// A member of a group, as the coordinator knows it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) protocol_type: String,
    /// In the member's order of preference.
    pub(crate) protocols: Vec<Protocol>,
    /// What the leader assigned it in the last completed sync.
    pub(crate) assignment: Bytes,
    /// When the member is removed unless it heartbeats, joins or syncs again.
    pub(crate) session_deadline: Instant,
    /// Its JoinGroup parked until the rebalance completes.
    pub(crate) join_waiter: Option<Token>,
    /// Its SyncGroup parked until the leader syncs.
    pub(crate) sync_waiter: Option<Token>,
    /// Whether it sent SyncGroup in the current generation.
    pub(crate) synced: bool,
}

impl Member {
    /// Restarts the session clock: the member proved it is alive at `now`.
    pub(crate) fn refresh(&mut self, now: Instant) {
        self.session_deadline = now + self.session_timeout;
    }

    /// Whether the session timer runs: a member parked in Join or Sync is kept alive
    /// (Kafka's rule; its wait is bounded by the rebalance deadline instead).
    pub(crate) fn is_parked(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }

    /// The metadata the member sent for `protocol`, empty if it does not support it.
    pub(crate) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|p| p.name == protocol).map(|p| p.metadata.clone()).unwrap_or_default()
    }

    /// Whether the member supports `protocol`.
    pub(crate) fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol)
    }
}

/// A fresh member id, `{client_id}-{uuid-like}`, unique within the process.
pub(crate) fn new_member_id(client_id: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let high = splitmix64(nanos ^ count.rotate_left(32));
    let low = splitmix64(high ^ count);
    format!(
        "{client_id}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Kafka's protocol choice: among the protocols every member supports, each member votes
/// for the one it prefers most; the most votes win, ties going to the protocol the
/// first member prefers. `None` when the members share no protocol.
pub(crate) fn select_protocol<'a>(members: impl Iterator<Item = &'a Member> + Clone) -> Option<String> {
    let first = members.clone().next()?;
    let candidates: Vec<&str> = first
        .protocols
        .iter()
        .map(|p| p.name.as_str())
        .filter(|name| members.clone().all(|m| m.supports(name)))
        .collect();
    let mut votes = vec![0usize; candidates.len()];
    for member in members {
        let choice = member.protocols.iter().find_map(|p| candidates.iter().position(|c| *c == p.name));
        if let Some(index) = choice {
            votes[index] += 1;
        }
    }
    let best = votes.iter().copied().max()?;
    // `position` keeps the first of equal counts: the first member's preference order.
    let index = votes.iter().position(|v| *v == best)?;
    candidates.get(index).map(|s| (*s).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(protocols: &[&str]) -> Member {
        Member {
            id: String::new(),
            instance_id: None,
            client_id: String::new(),
            client_host: String::new(),
            session_timeout: Duration::from_secs(1),
            rebalance_timeout: Duration::from_secs(1),
            protocol_type: "consumer".into(),
            protocols: protocols.iter().map(|n| Protocol { name: (*n).into(), metadata: Bytes::new() }).collect(),
            assignment: Bytes::new(),
            session_deadline: Instant::now(),
            join_waiter: None,
            sync_waiter: None,
            synced: false,
        }
    }

    #[test]
    fn votes_pick_the_majority_preference_among_common_protocols() {
        let members = [member(&["range", "roundrobin"]), member(&["roundrobin", "range"]), member(&["roundrobin"])];
        assert_eq!(select_protocol(members.iter()).as_deref(), Some("roundrobin"));
        let members = [member(&["sticky", "range"]), member(&["range", "sticky"]), member(&["range", "sticky"])];
        assert_eq!(select_protocol(members.iter()).as_deref(), Some("range"));
    }

    #[test]
    fn no_common_protocol_selects_none() {
        let members = [member(&["range"]), member(&["roundrobin"])];
        assert_eq!(select_protocol(members.iter()), None);
    }

    #[test]
    fn member_ids_are_unique_and_prefixed() {
        let a = new_member_id("rdkafka");
        let b = new_member_id("rdkafka");
        assert!(a.starts_with("rdkafka-"));
        assert_ne!(a, b);
    }
}
