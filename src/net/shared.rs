//! The state the handle, the reader task and the writer task share: the map of
//! requests waiting for a response, and whether the connection is closed.
//!
//! Registering a waiter and closing the connection happen under one lock, so a waiter
//! is either refused (the connection is already closed) or is in the map when the
//! connection closes and gets the cause: nobody hangs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use super::error::ConnectionError;
use crate::protocol::frame::peek_correlation_id;
use crate::protocol::ApiKey;

/// What a waiter receives: the response frame (without its size prefix), or why
/// there will be none.
pub(super) type Reply = Result<Bytes, ConnectionError>;

/// A request whose response has not arrived.
#[derive(Debug)]
struct Waiter {
    api: ApiKey,
    /// Registration order, to name the oldest waiter in a correlation mismatch.
    seq: u64,
    /// Closed on the other side when the request future was dropped or timed out:
    /// the response is then discarded quietly.
    reply: oneshot::Sender<Reply>,
}

#[derive(Debug, Default)]
struct State {
    waiters: HashMap<i32, Waiter>,
    next_seq: u64,
    /// Set once, when the connection closes: the cause given to the waiters.
    closed: Option<ConnectionError>,
}

/// State shared by the handle and the two I/O tasks.
#[derive(Debug)]
pub(super) struct Shared {
    addr: String,
    state: Mutex<State>,
    next_correlation_id: AtomicI32,
    /// Turns `true` once, when the connection closes; both tasks stop on it.
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(super) fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            state: Mutex::default(),
            next_correlation_id: AtomicI32::new(0),
            shutdown: watch::Sender::new(false),
        }
    }

    pub(super) fn addr(&self) -> &str {
        &self.addr
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across anything that can panic; if it ever were,
        // the map is still consistent, so a poisoned lock is taken as is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next correlation id: increasing, wrapping from `i32::MAX` to `i32::MIN`.
    pub(super) fn next_correlation_id(&self) -> i32 {
        self.next_correlation_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a waiter for `correlation_id`, unless the connection is closed.
    pub(super) fn register(
        &self,
        correlation_id: i32,
        api: ApiKey,
    ) -> Result<oneshot::Receiver<Reply>, ConnectionError> {
        let mut state = self.state();
        if state.closed.is_some() {
            return Err(ConnectionError::closed(&self.addr));
        }
        let (reply, receiver) = oneshot::channel();
        let seq = state.next_seq;
        state.next_seq += 1;
        if state.waiters.insert(correlation_id, Waiter { api, seq, reply }).is_some() {
            // Only after 2^32 requests with one still waiting: the older waiter is
            // dropped and sees the connection as closed.
            tracing::warn!(broker = %self.addr, correlation_id, "correlation id reused while still waiting");
        }
        Ok(receiver)
    }

    /// Removes a waiter whose frame never reached the writer task.
    pub(super) fn forget(&self, correlation_id: i32) {
        self.state().waiters.remove(&correlation_id);
    }

    /// Hands a response frame to its waiter.
    ///
    /// # Errors
    ///
    /// [`ConnectionError::CorrelationMismatch`] for an id that has no waiter (a
    /// dropped or timed-out waiter still has its entry, so its late response is no
    /// mismatch), [`ConnectionError::ShortFrame`] for a frame without an id.
    pub(super) fn dispatch(&self, frame: Bytes) -> Result<(), ConnectionError> {
        let correlation_id = peek_correlation_id(&frame)
            .map_err(|_| ConnectionError::ShortFrame { addr: self.addr.clone(), size: frame.len() })?;
        let mut state = self.state();
        let Some(waiter) = state.waiters.remove(&correlation_id) else {
            let expected = state.waiters.iter().min_by_key(|(_, w)| w.seq).map(|(id, _)| *id);
            return Err(ConnectionError::CorrelationMismatch {
                addr: self.addr.clone(),
                expected,
                received: correlation_id,
            });
        };
        drop(state);
        if waiter.reply.send(Ok(frame)).is_err() {
            tracing::debug!(
                broker = %self.addr,
                api = %waiter.api,
                correlation_id,
                "discarding the response to a request that was dropped or timed out"
            );
        }
        Ok(())
    }

    /// Closes the connection: every waiter gets `cause`, later requests get
    /// `Closed`, both tasks stop. Only the first call has an effect.
    pub(super) fn fail(&self, cause: ConnectionError) {
        let waiters = {
            let mut state = self.state();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(cause.clone());
            std::mem::take(&mut state.waiters)
        };
        self.shutdown.send_replace(true);
        match &cause {
            ConnectionError::Closed { .. } => tracing::debug!(broker = %self.addr, "connection closed"),
            _ => tracing::debug!(broker = %self.addr, error = %cause, waiting = waiters.len(), "connection failed"),
        }
        for (correlation_id, waiter) in waiters {
            if waiter.reply.send(Err(cause.clone())).is_err() {
                tracing::trace!(broker = %self.addr, correlation_id, "waiter already gone");
            }
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state().closed.is_some()
    }

    /// Why the connection closed, or `Closed` if it has not (yet) recorded a cause.
    pub(super) fn close_cause(&self) -> ConnectionError {
        self.state().closed.clone().unwrap_or_else(|| ConnectionError::closed(&self.addr))
    }

    /// A receiver that turns `true` when the connection closes. Wait on it with
    /// `wait_for(|closed| *closed)`, which also sees a close that already happened.
    pub(super) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.state().waiters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(correlation_id: i32) -> Bytes {
        Bytes::copy_from_slice(&correlation_id.to_be_bytes())
    }

    #[test]
    fn responses_go_to_their_waiter_in_any_order() {
        let shared = Shared::new("b:1");
        let mut first = shared.register(1, ApiKey::Metadata).unwrap();
        let mut second = shared.register(2, ApiKey::Metadata).unwrap();
        shared.dispatch(frame(2)).unwrap();
        shared.dispatch(frame(1)).unwrap();
        assert_eq!(first.try_recv().unwrap().unwrap(), frame(1));
        assert_eq!(second.try_recv().unwrap().unwrap(), frame(2));
        assert_eq!(shared.waiting(), 0);
    }

    #[test]
    fn a_dropped_waiter_is_no_mismatch_but_an_unknown_id_is() {
        let shared = Shared::new("b:1");
        drop(shared.register(1, ApiKey::Fetch).unwrap());
        let _kept = shared.register(2, ApiKey::Fetch).unwrap();
        let _newer = shared.register(3, ApiKey::Fetch).unwrap();
        shared.dispatch(frame(1)).unwrap();
        match shared.dispatch(frame(7)) {
            Err(ConnectionError::CorrelationMismatch { expected: Some(2), received: 7, .. }) => {}
            other => panic!("expected a mismatch naming id 2, got {other:?}"),
        }
        assert!(matches!(
            shared.dispatch(Bytes::from_static(&[0, 1])),
            Err(ConnectionError::ShortFrame { size: 2, .. })
        ));
    }

    #[test]
    fn failing_answers_every_waiter_once_and_refuses_new_ones() {
        let shared = Shared::new("b:1");
        let mut waiters: Vec<_> = (0..3).map(|id| shared.register(id, ApiKey::Produce).unwrap()).collect();
        let signal = shared.shutdown_signal();
        shared.fail(ConnectionError::io("b:1", std::io::ErrorKind::BrokenPipe.into()));
        shared.fail(ConnectionError::closed("b:1"));
        for waiter in &mut waiters {
            let error = waiter.try_recv().unwrap().unwrap_err();
            assert_eq!(error.io_kind(), Some(std::io::ErrorKind::BrokenPipe));
        }
        assert!(*signal.borrow());
        assert!(shared.is_closed());
        assert!(matches!(shared.register(9, ApiKey::Produce), Err(ConnectionError::Closed { .. })));
        assert_eq!(shared.close_cause().io_kind(), Some(std::io::ErrorKind::BrokenPipe));
    }

    #[test]
    fn correlation_ids_increase_and_wrap() {
        let shared = Shared::new("b:1");
        assert_eq!((shared.next_correlation_id(), shared.next_correlation_id()), (0, 1));
        shared.next_correlation_id.store(i32::MAX, Ordering::Relaxed);
        assert_eq!((shared.next_correlation_id(), shared.next_correlation_id()), (i32::MAX, i32::MIN));
    }
}
