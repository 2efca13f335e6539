//! The consumer protocol's opaque blobs: the `Subscription` a member puts in its
//! JoinGroup metadata and the `Assignment` the leader hands out in SyncGroup, when the
//! group's protocol type is `"consumer"`.
//!
//! On the wire each is an int16 version followed by the structure at that version
//! (never flexible). A newer version than we know is read as our newest: Kafka only
//! ever appends fields to these structures, so the fields we know come first. This is
//! what lets our members sit in one group with Java and librdkafka members.

use bytes::{Bytes, BytesMut};

use super::codec::Message;
use super::error::{DecodeError, EncodeError};
pub use super::messages::{ConsumerProtocolAssignment as Assignment, ConsumerProtocolSubscription as Subscription};
use super::primitives::{read_i16, write_i16};

/// Writes `value` with its version prefix.
///
/// # Errors
///
/// [`EncodeError`] when `value` does not fit `version`.
pub fn encode_versioned<T: Message>(value: &T, version: i16) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::new();
    write_i16(&mut buf, version);
    value.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

/// Reads a version-prefixed blob; returns the version found (which may be newer than
/// the one it was read as) and the value.
///
/// # Errors
///
/// [`DecodeError`] for a negative version or malformed bytes.
pub fn decode_versioned<T: Message>(mut bytes: Bytes) -> Result<(i16, T), DecodeError> {
    let version = read_i16(&mut bytes, T::NAME)?;
    if version < 0 {
        return Err(DecodeError::InvalidValue { what: T::NAME, value: i64::from(version) });
    }
    let value = T::decode(&mut bytes, version.min(T::VERSIONS.max))?;
    Ok((version, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::consumer_protocol_subscription::TopicPartition;

    #[test]
    fn a_newer_subscription_reads_as_our_newest() {
        let sub = Subscription {
            topics: vec!["orders".into()],
            owned_partitions: vec![TopicPartition { topic: "orders".into(), partitions: vec![0, 2] }],
            generation_id: 7,
            rack_id: Some("r1".into()),
            ..Default::default()
        };
        let mut bytes = BytesMut::from(&encode_versioned(&sub, 3).unwrap()[..]);
        bytes[1] = 9; // a version 9 from a future client, with a field appended
        bytes.extend_from_slice(&[0, 0, 0, 42]);
        let (version, read): (i16, Subscription) = decode_versioned(bytes.freeze()).unwrap();
        assert_eq!((version, read), (9, sub));
    }

    #[test]
    fn assignment_v0_has_the_java_layout() {
        let a = Assignment {
            assigned_partitions: vec![crate::protocol::messages::consumer_protocol_assignment::TopicPartition {
                topic: "t".into(),
                partitions: vec![1],
            }],
            user_data: None,
        };
        let bytes = encode_versioned(&a, 0).unwrap();
        assert_eq!(&bytes[..], &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    }
}
