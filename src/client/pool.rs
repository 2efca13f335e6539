//! [`Pool`]: one connection per broker node (and one "any broker" connection for
//! bootstrap), with the callers waiting while it is being opened. Plain state, no I/O.

use std::collections::BTreeMap;

use crate::net::BrokerConnection;

/// What a pooled connection must tell the pool.
pub(crate) trait Pooled: Clone {
    fn is_closed(&self) -> bool;
    fn addr(&self) -> &str;
}

impl Pooled for BrokerConnection {
    fn is_closed(&self) -> bool {
        BrokerConnection::is_closed(self)
    }
    fn addr(&self) -> &str {
        BrokerConnection::addr(self)
    }
}

/// Whom a pooled connection goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    /// The broker with this node id, at its address in the latest metadata.
    Node(i32),
    /// Whichever broker answers first: the known brokers, then the bootstrap list.
    Any,
}

#[derive(Debug)]
enum Slot<C, W> {
    Ready(C),
    Connecting(Vec<W>),
}

/// The pool: per endpoint, a ready connection or the callers waiting for one.
#[derive(Debug)]
pub(crate) struct Pool<C, W> {
    slots: BTreeMap<Endpoint, Slot<C, W>>,
}

impl<C: Pooled, W> Pool<C, W> {
    pub(crate) fn new() -> Self {
        Self { slots: BTreeMap::new() }
    }

    /// The open connection of `endpoint`, if there is one.
    pub(crate) fn get(&self, endpoint: Endpoint) -> Option<C> {
        match self.slots.get(&endpoint) {
            Some(Slot::Ready(connection)) if !connection.is_closed() => Some(connection.clone()),
            _ => None,
        }
    }

    /// Any open connection: a node's (lowest id first), else the bootstrap one.
    pub(crate) fn any_open(&self) -> Option<C> {
        self.slots.values().find_map(|slot| match slot {
            Slot::Ready(connection) if !connection.is_closed() => Some(connection.clone()),
            _ => None,
        })
    }

    /// Queues `waiter` for `endpoint`'s connection; true when nobody is opening it
    /// yet, so the caller must start the connect (and later call
    /// [`complete`](Self::complete)). Concurrent callers share one connect.
    pub(crate) fn wait(&mut self, endpoint: Endpoint, waiter: W) -> bool {
        match self.slots.get_mut(&endpoint) {
            Some(Slot::Connecting(waiters)) => {
                waiters.push(waiter);
                false
            }
            previous => {
                if let Some(Slot::Ready(old)) = previous {
                    tracing::debug!(?endpoint, broker = old.addr(), "connection closed: reconnecting");
                }
                self.slots.insert(endpoint, Slot::Connecting(vec![waiter]));
                true
            }
        }
    }

    /// The connect of `endpoint` finished: keeps the connection if it opened, and
    /// returns the waiters to answer.
    pub(crate) fn complete<E>(&mut self, endpoint: Endpoint, result: &Result<C, E>) -> Vec<W> {
        let waiters = match self.slots.remove(&endpoint) {
            Some(Slot::Connecting(waiters)) => waiters,
            other => {
                // Not connecting (a restart came in between): keep what is there.
                if let Some(slot) = other {
                    self.slots.insert(endpoint, slot);
                }
                Vec::new()
            }
        };
        if let Ok(connection) = result {
            self.slots.insert(endpoint, Slot::Ready(connection.clone()));
        }
        waiters
    }

    /// Forgets the ready connections to `addr` (a request on it failed), so the next
    /// caller opens a new one. Clones already handed out are untouched.
    pub(crate) fn forget(&mut self, addr: &str) {
        self.slots.retain(|_, slot| !matches!(slot, Slot::Ready(connection) if connection.addr() == addr));
    }

    /// Drops the ready node connections that `keep(node, addr)` refuses (a node gone
    /// from the metadata, or moved to another address).
    pub(crate) fn retain_nodes(&mut self, keep: impl Fn(i32, &str) -> bool) {
        self.slots.retain(|endpoint, slot| match (endpoint, slot) {
            (Endpoint::Node(node), Slot::Ready(connection)) => keep(*node, connection.addr()),
            _ => true,
        });
    }

    /// Drops every ready connection and returns the endpoints that callers still wait
    /// for (their connects were cancelled by the restart: start them again).
    pub(crate) fn restart(&mut self) -> Vec<Endpoint> {
        self.slots.retain(|_, slot| matches!(slot, Slot::Connecting(_)));
        self.slots.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[derive(Debug, Clone)]
    struct Fake {
        addr: &'static str,
        closed: Rc<Cell<bool>>,
    }

    impl Pooled for Fake {
        fn is_closed(&self) -> bool {
            self.closed.get()
        }
        fn addr(&self) -> &str {
            self.addr
        }
    }

    fn fake(addr: &'static str) -> Fake {
        Fake { addr, closed: Rc::new(Cell::new(false)) }
    }

    #[test]
    fn concurrent_callers_share_one_connect_then_the_connection() {
        let mut pool = Pool::<Fake, u8>::new();
        assert!(pool.get(Endpoint::Node(1)).is_none());
        assert!(pool.wait(Endpoint::Node(1), 1), "the first caller connects");
        assert!(!pool.wait(Endpoint::Node(1), 2), "the second shares it");
        let connection = fake("a:1");
        assert_eq!(pool.complete::<()>(Endpoint::Node(1), &Ok(connection.clone())), [1, 2]);
        assert_eq!(pool.get(Endpoint::Node(1)).unwrap().addr, "a:1");
        connection.closed.set(true);
        assert!(pool.get(Endpoint::Node(1)).is_none(), "a closed connection is not handed out");
        assert!(pool.wait(Endpoint::Node(1), 3), "and is reopened");
    }

    #[test]
    fn a_failed_connect_answers_its_waiters_and_keeps_nothing() {
        let mut pool = Pool::<Fake, u8>::new();
        assert!(pool.wait(Endpoint::Any, 1));
        assert_eq!(pool.complete(Endpoint::Any, &Err("refused")), [1]);
        assert!(pool.get(Endpoint::Any).is_none());
        assert!(pool.wait(Endpoint::Any, 2));
    }

    #[test]
    fn any_open_prefers_nodes_and_forget_drops_by_address() {
        let mut pool = Pool::<Fake, u8>::new();
        for (endpoint, addr) in [(Endpoint::Any, "boot:1"), (Endpoint::Node(2), "b:2")] {
            pool.wait(endpoint, 0);
            pool.complete::<()>(endpoint, &Ok(fake(addr)));
        }
        assert_eq!(pool.any_open().unwrap().addr, "b:2");
        pool.forget("b:2");
        assert_eq!(pool.any_open().unwrap().addr, "boot:1");
    }

    #[test]
    fn nodes_gone_or_moved_are_dropped() {
        let mut pool = Pool::<Fake, u8>::new();
        for (endpoint, addr) in [(Endpoint::Node(1), "a:1"), (Endpoint::Node(2), "b:2"), (Endpoint::Any, "a:1")] {
            pool.wait(endpoint, 0);
            pool.complete::<()>(endpoint, &Ok(fake(addr)));
        }
        pool.retain_nodes(|node, addr| node == 2 && addr == "b:2");
        assert!(pool.get(Endpoint::Node(1)).is_none());
        assert!(pool.get(Endpoint::Node(2)).is_some());
        assert!(pool.get(Endpoint::Any).is_some(), "the bootstrap connection is not a node's");
    }

    #[test]
    fn restart_drops_connections_and_names_the_pending_connects() {
        let mut pool = Pool::<Fake, u8>::new();
        pool.wait(Endpoint::Node(1), 0);
        pool.complete::<()>(Endpoint::Node(1), &Ok(fake("a:1")));
        pool.wait(Endpoint::Node(2), 7);
        assert_eq!(pool.restart(), [Endpoint::Node(2)]);
        assert!(pool.any_open().is_none());
        assert_eq!(pool.complete::<()>(Endpoint::Node(2), &Ok(fake("b:2"))), [7], "the waiter is still answered");
    }
}
