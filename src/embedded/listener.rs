//! One node's listener: the accept loop and the sessions it started.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::context::Shared;
use super::error::EmbeddedError;
use super::session::{self, Session};

/// A running listener; [`stop`](Self::stop) closes it and every session it accepted.
pub(crate) struct ListenerHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Binds a node's address (SO_REUSEADDR, as tokio sets it, so `node_up` can take the
/// same port again at once).
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, EmbeddedError> {
    TcpListener::bind(addr).await.map_err(|source| EmbeddedError::Bind { addr, source })
}

/// Starts node `node`'s accept loop on the current actix arbiter.
pub(crate) fn spawn(listener: TcpListener, node: i32, shared: Arc<Shared>) -> ListenerHandle {
    let (stop, stopped) = oneshot::channel();
    let task = tokio::task::spawn_local(accept_loop(listener, node, shared, stopped));
    ListenerHandle { stop, task }
}

impl ListenerHandle {
    /// Aborts the accept loop and, with it, every session (no waiting).
    pub(crate) fn abort(self) {
        self.task.abort();
    }

    /// Closes the listening socket and every session, and waits until they are gone.
    pub(crate) async fn stop(self) {
        // The loop may already have ended; then there is no one to tell.
        self.stop.send(()).ok();
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "listener task failed");
        }
    }
}

async fn accept_loop(listener: TcpListener, node: i32, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(node, %peer, %error, "cannot set TCP_NODELAY");
                    }
                    let session = Session { node, shared: shared.clone(), client_host: peer.ip().to_string() };
                    sessions.spawn_local(session::accept(stream, session));
                }
                Err(error) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    tracing::warn!(node, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    sessions.shutdown().await;
    tracing::debug!(node, "listener stopped");
}
