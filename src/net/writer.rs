//! The writer task: the only code that writes to the socket.
//!
//! It takes whole, already-encoded frames from a channel and writes each one
//! completely, so a request future dropped at any point leaves either its whole frame
//! or nothing of it on the wire. Frames queued together are written through one
//! buffer and flushed once (pipelined requests share TCP segments).

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot};

use super::error::ConnectionError;
use super::shared::Shared;

/// Room in the channel between the request futures and the writer task, in frames.
pub(super) const QUEUE_DEPTH: usize = 256;
/// The write buffer, in bytes; a larger frame is written straight through.
const WRITE_BUFFER: usize = 64 * 1024;
/// The most frames written between two flushes.
const MAX_BATCH: usize = 64;

/// One whole frame for the wire.
#[derive(Debug)]
pub(super) struct Outgoing {
    /// The frame, size prefix included.
    pub(super) frame: Bytes,
    /// Told once the frame has been flushed to the socket (for requests that get
    /// no response).
    pub(super) written: Option<oneshot::Sender<()>>,
}

/// Writes frames until the connection closes, the handle goes away, or a write
/// fails; a failure closes the connection with its cause.
pub(super) async fn run<W: AsyncWrite + Unpin>(socket: W, mut queue: mpsc::Receiver<Outgoing>, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown_signal();
    let mut socket = BufWriter::with_capacity(WRITE_BUFFER, socket);
    loop {
        let first = tokio::select! {
            _ = shutdown.wait_for(|closed| *closed) => return,
            next = queue.recv() => match next {
                Some(outgoing) => outgoing,
                // Every handle is gone: close, so that the reader stops too.
                None => return shared.fail(ConnectionError::closed(shared.addr())),
            },
        };
        let mut flushed = Vec::new();
        let result = tokio::select! {
            // Closing mid-frame is harmless: the socket goes away with it.
            _ = shutdown.wait_for(|closed| *closed) => return,
            result = write_batch(&mut socket, first, &mut queue, &mut flushed) => result,
        };
        match result {
            Ok(()) => {
                for done in flushed {
                    if done.send(()).is_err() {
                        tracing::trace!(broker = %shared.addr(), "sender of a one-way request gone");
                    }
                }
            }
            Err(error) => {
                // Record the cause before `flushed` is dropped, so that those
                // senders' waiters find it.
                shared.fail(ConnectionError::io(shared.addr(), error));
                return;
            }
        }
    }
}

/// Writes `first` and whatever else is queued already (up to [`MAX_BATCH`]), then
/// flushes.
async fn write_batch<W: AsyncWrite + Unpin>(
    socket: &mut BufWriter<W>,
    first: Outgoing,
    queue: &mut mpsc::Receiver<Outgoing>,
    flushed: &mut Vec<oneshot::Sender<()>>,
) -> io::Result<()> {
    let mut next = Some(first);
    let mut count = 0;
    while let Some(outgoing) = next {
        socket.write_all(&outgoing.frame).await?;
        flushed.extend(outgoing.written);
        count += 1;
        next = if count < MAX_BATCH { queue.try_recv().ok() } else { None };
    }
    socket.flush().await
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn queued_frames_are_written_whole_and_in_order() {
        let shared = Arc::new(Shared::new("b:1"));
        let (client, mut server) = tokio::io::duplex(16);
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(run(client, rx, shared.clone()));
        let (done, written) = oneshot::channel();
        tx.send(Outgoing { frame: Bytes::from_static(b"first frame;"), written: None }).await.unwrap();
        tx.send(Outgoing { frame: Bytes::from_static(b"second frame"), written: Some(done) }).await.unwrap();
        let mut received = [0; 24];
        server.read_exact(&mut received).await.unwrap();
        assert_eq!(&received, b"first frame;second frame");
        written.await.unwrap();
        drop(tx);
        task.await.unwrap();
        assert!(shared.is_closed(), "the last handle gone closes the connection");
    }

    #[tokio::test]
    async fn a_write_error_closes_the_connection_with_its_cause() {
        let shared = Arc::new(Shared::new("b:1"));
        let (client, server) = tokio::io::duplex(16);
        drop(server);
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(run(client, rx, shared.clone()));
        let (done, written) = oneshot::channel();
        tx.send(Outgoing { frame: Bytes::from_static(b"lost"), written: Some(done) }).await.unwrap();
        task.await.unwrap();
        assert!(written.await.is_err());
        assert_eq!(shared.close_cause().io_kind(), Some(io::ErrorKind::BrokenPipe));
    }
}
