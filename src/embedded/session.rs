//! One client connection: read a frame, handle it, write the answer, repeat.
//!
//! A session is a plain spawned task, not an actor. Kafka answers a connection's
//! requests one at a time, in order; a sequential loop states exactly that, and the
//! borrow of the socket across `read → handle → write` needs no mailbox, no
//! `atomic_response` and no reordering guard. The state a session shares (topics,
//! partitions, groups) lives in actors it sends messages to; its own state is just the
//! socket. The listener keeps each session's handle, so `node_down` can end them all.
//!
//! On a secured listener the session first runs the TLS handshake (within
//! [`TLS_HANDSHAKE_TIMEOUT`]), and its [`Authenticator`] admits each request: before
//! SASL authentication only ApiVersions and the SASL APIs, in frames of at most 512 KiB
//! (see `auth.rs`).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::auth::{Admit, Authenticator};
use super::context::Shared;
use super::dispatch::{self, Reply};
use crate::protocol::api_key::ApiKey;
use crate::protocol::frame::frame_length;

/// How long a client may take to complete the TLS handshake.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a session knows about itself.
pub(crate) struct Session {
    /// The node whose listener accepted the connection.
    pub node: i32,
    /// The cluster's shared handles.
    pub shared: Arc<Shared>,
    /// The client's address, for JoinGroup's member ids.
    pub client_host: String,
}

/// Serves one accepted connection: the TLS handshake first on a TLS listener.
pub(crate) async fn accept(stream: TcpStream, session: Session) {
    #[cfg(feature = "tls")]
    if let Some(acceptor) = session.shared.security.tls.clone() {
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => run(tls, session).await,
            Ok(Err(error)) => {
                tracing::debug!(node = session.node, client = %session.client_host, %error, "TLS handshake failed");
            }
            Err(_) => tracing::debug!(node = session.node, client = %session.client_host, "TLS handshake timed out"),
        }
        return;
    }
    run(stream, session).await;
}

/// Serves one connection until the client leaves, sends something unreadable or
/// not admitted, or the task is aborted (node down, shutdown).
pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, session: Session) {
    let max_frame_size = session.shared.max_frame_size;
    let mut auth = Authenticator::new(session.shared.security.sasl.clone());
    loop {
        let frame = match read_frame(&mut stream, auth.max_frame_size(max_frame_size)).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(node = session.node, client = %session.client_host, %error, "closing connection");
                break;
            }
        };
        let api = frame.get(..2).and_then(|key| ApiKey::from_i16(i16::from_be_bytes([key[0], key[1]])));
        let Some(api) = api else { break };
        let reply = match auth.admit(api, Instant::now()) {
            Admit::Serve => dispatch::handle(&session, frame, auth.offers_sasl()).await,
            Admit::Sasl => {
                let answer = auth.handle(frame, Instant::now());
                if let Some(frame) = answer.frame {
                    if let Err(error) = write_answer(&mut stream, &frame).await {
                        tracing::debug!(node = session.node, %error, "cannot write a SASL answer; closing connection");
                        break;
                    }
                }
                if answer.close {
                    break;
                }
                continue;
            }
            Admit::Close(reason) => {
                tracing::debug!(node = session.node, client = %session.client_host, %api, reason, "closing connection");
                break;
            }
        };
        match reply {
            Reply::Frame(answer) => {
                if let Err(error) = write_answer(&mut stream, &answer).await {
                    tracing::debug!(node = session.node, %error, "cannot write an answer; closing connection");
                    break;
                }
            }
            Reply::Silent => {}
            Reply::Close => break,
        }
    }
}

/// Writes a whole answer frame and flushes it (a TLS stream buffers).
async fn write_answer<W: AsyncWrite + Unpin>(stream: &mut W, frame: &[u8]) -> io::Result<()> {
    stream.write_all(frame).await?;
    stream.flush().await
}

/// Reads one frame (without its size prefix); `Ok(None)` at a clean end of stream
/// between frames.
///
/// The size prefix is checked before anything is allocated, and the buffer then grows
/// only as bytes arrive (at most doubling what was received, from 4 KiB), so a prefix
/// announcing 100 MiB costs 4 KiB until the bytes really come.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, max_size: usize) -> io::Result<Option<Bytes>> {
    let mut prefix = [0u8; 4];
    if reader.read(&mut prefix[..1]).await? == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut prefix[1..]).await?;
    frame_length(&prefix, max_size).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    let size = u32::from_be_bytes(prefix) as usize;
    let mut buf = BytesMut::new();
    while buf.len() < size {
        let want = (size - buf.len()).min(buf.len().max(4096));
        buf.reserve(want);
        let read = (&mut *reader).take(want as u64).read_buf(&mut buf).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("frame ends at {} of {size} bytes", buf.len()),
            ));
        }
    }
    Ok(Some(buf.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8], max: usize) -> io::Result<Option<Bytes>> {
        let mut reader = bytes;
        read_frame(&mut reader, max).await
    }

    #[tokio::test]
    async fn frames_are_read_whole_and_a_clean_end_is_none() {
        let mut reader: &[u8] = &[0, 0, 0, 2, 7, 8, 0, 0, 0, 0];
        assert_eq!(read_frame(&mut reader, 100).await.unwrap().unwrap(), Bytes::from_static(&[7, 8]));
        assert_eq!(read_frame(&mut reader, 100).await.unwrap().unwrap(), Bytes::new());
        assert!(read_frame(&mut reader, 100).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn large_negative_and_truncated_frames_are_errors() {
        assert_eq!(read(&[0x7f, 0xff, 0xff, 0xff], 1 << 20).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(read(&[0xff, 0xff, 0xff, 0xfe], 1 << 20).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(read(&[0, 0, 0, 101], 100).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(read(&[0, 0, 0, 5, 1, 2], 100).await.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(read(&[0, 0], 100).await.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn a_large_frame_arriving_in_pieces_is_assembled() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let expected = payload.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&(payload.len() as u32).to_be_bytes()).await.unwrap();
            client.write_all(&payload).await.unwrap();
        });
        let frame = read_frame(&mut server, 1 << 20).await.unwrap().unwrap();
        assert_eq!(&frame[..], &expected[..]);
        writer.await.unwrap();
    }
}
