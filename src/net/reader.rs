//! The reader task: reads size-prefixed response frames off the socket and hands
//! each one to its waiter.
//!
//! The size prefix is checked (`frame_length`) as soon as its 4 bytes are buffered,
//! and the buffer grows only by what has arrived (at most [`MAX_READ_RESERVE`] ahead),
//! so a lying prefix can cost neither a refused-size allocation nor more memory than
//! the peer actually sends.

use std::io;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::error::ConnectionError;
use super::shared::Shared;
use crate::protocol::frame::{frame_length, FrameError};

/// The smallest read the buffer makes room for.
const MIN_READ_RESERVE: usize = 8 * 1024;
/// The most the buffer grows ahead of the bytes that have arrived.
const MAX_READ_RESERVE: usize = 1024 * 1024;

/// Reads frames until the connection closes or fails; a failure closes the
/// connection with its cause.
pub(super) async fn run<R: AsyncRead + Unpin>(mut socket: R, shared: Arc<Shared>, max_frame_size: usize) {
    let mut shutdown = shared.shutdown_signal();
    let mut buf = BytesMut::with_capacity(MIN_READ_RESERVE);
    let cause = loop {
        if let Err(cause) = dispatch_frames(&mut buf, &shared, max_frame_size) {
            break cause;
        }
        buf.reserve(read_reserve(&buf));
        tokio::select! {
            _ = shutdown.wait_for(|closed| *closed) => return,
            read = socket.read_buf(&mut buf) => match read {
                Ok(0) => {
                    let error = io::Error::new(io::ErrorKind::UnexpectedEof, "the broker closed the connection");
                    break ConnectionError::io(shared.addr(), error);
                }
                Ok(_) => {}
                Err(error) => break ConnectionError::io(shared.addr(), error),
            },
        }
    };
    shared.fail(cause);
}

/// Hands every whole frame at the front of `buf` to its waiter.
fn dispatch_frames(buf: &mut BytesMut, shared: &Shared, max_frame_size: usize) -> Result<(), ConnectionError> {
    loop {
        let size = match frame_length(buf, max_frame_size) {
            Ok(Some(size)) => size,
            Ok(None) => return Ok(()),
            Err(FrameError::TooLarge { size, max }) => {
                return Err(ConnectionError::FrameTooLarge { addr: shared.addr().to_owned(), size, max })
            }
            Err(FrameError::NegativeSize(size)) => {
                return Err(ConnectionError::NegativeFrameSize { addr: shared.addr().to_owned(), size })
            }
        };
        buf.advance(4);
        shared.dispatch(buf.split_to(size).freeze())?;
    }
}

/// How much room to make before the next read: what the current frame still needs
/// (its prefix has been checked already), clamped to
/// `MIN_READ_RESERVE..=MAX_READ_RESERVE`.
fn read_reserve(buf: &[u8]) -> usize {
    let needed = match buf.get(..4) {
        Some(prefix) => {
            let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
            usize::try_from(size).unwrap_or(0).saturating_add(4).saturating_sub(buf.len())
        }
        None => 4 - buf.len(),
    };
    needed.clamp(MIN_READ_RESERVE, MAX_READ_RESERVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_grows_by_at_most_a_megabyte_whatever_the_prefix_says() {
        assert_eq!(read_reserve(&[]), MIN_READ_RESERVE);
        assert_eq!(read_reserve(&[0, 0, 0, 10, 1]), MIN_READ_RESERVE);
        assert_eq!(read_reserve(&[0x7f, 0xff, 0xff, 0xff]), MAX_READ_RESERVE);
        assert_eq!(read_reserve(&[0xff, 0xff, 0xff, 0xff]), MIN_READ_RESERVE);
        let mut half = vec![0, 0x20, 0, 0];
        half.resize(4 + 0x20_0000 - 100, 0);
        assert_eq!(read_reserve(&half), MIN_READ_RESERVE, "100 bytes to go");
    }

    #[test]
    fn frames_are_cut_at_their_prefix_and_an_oversized_one_is_refused() {
        let shared = Shared::new("b:1");
        let mut waiter = shared.register(5, crate::protocol::ApiKey::Metadata).unwrap();
        let mut buf = BytesMut::from(&[0, 0, 0, 5, 0, 0, 0, 5, 9, 0x7f, 0xff, 0xff, 0xff][..]);
        let error = dispatch_frames(&mut buf, &shared, 1000).unwrap_err();
        assert!(matches!(error, ConnectionError::FrameTooLarge { size, max: 1000, .. } if size == i32::MAX as usize));
        assert_eq!(&waiter.try_recv().unwrap().unwrap()[..], &[0, 0, 0, 5, 9]);
        assert_eq!((buf.len(), buf.capacity()), (4, 4), "nothing was reserved for the refused frame");
        let mut negative = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        let error = dispatch_frames(&mut negative, &shared, 1000).unwrap_err();
        assert!(matches!(error, ConnectionError::NegativeFrameSize { size: -2, .. }));
    }
}
