//! One client connection: read a frame, handle it, write the answer, repeat.
//!
//! A session is a plain spawned task, not an actor. Kafka answers a connection's
//! requests one at a time, in order; a sequential loop states exactly that, and the
//! borrow of the socket across `read → handle → write` needs no mailbox, no
//! `atomic_response` and no reordering guard. The state a session shares (topics,
//! partitions, groups) lives in actors it sends messages to; its own state is just the
//! socket. The listener keeps each session's handle, so `node_down` can end them all.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::context::Shared;
use super::dispatch::{self, Reply};
use crate::protocol::frame::frame_length;

/// What a session knows about itself.
pub(crate) struct Session {
    /// The node whose listener accepted the connection.
    pub node: i32,
    /// The cluster's shared handles.
    pub shared: Arc<Shared>,
    /// The client's address, for JoinGroup's member ids.
    pub client_host: String,
}

/// Serves one connection until the client leaves, sends something unreadable, or the
/// task is aborted (node down, shutdown).
pub(crate) async fn run(mut stream: TcpStream, session: Session) {
    let max_frame_size = session.shared.max_frame_size;
    loop {
        let frame = match read_frame(&mut stream, max_frame_size).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(node = session.node, client = %session.client_host, %error, "closing connection");
                break;
            }
        };
        match dispatch::handle(&session, frame).await {
            Reply::Frame(answer) => {
                if let Err(error) = stream.write_all(&answer).await {
                    tracing::debug!(node = session.node, %error, "cannot write an answer; closing connection");
                    break;
                }
            }
            Reply::Silent => {}
            Reply::Close => break,
        }
    }
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
