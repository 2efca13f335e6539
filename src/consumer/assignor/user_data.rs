//! The subscription user data of the Java sticky assignors, so that mixed groups agree on
//! who owned what.
//!
//! An eager `sticky` member revokes everything before it rejoins, so its subscription's
//! `owned_partitions` is empty: its previous assignment travels in the user data instead
//! (Java's `StickyAssignor.STICKY_ASSIGNOR_USER_DATA_V1`). A `cooperative-sticky` member
//! sends only its generation there, for subscriptions older than version 2, which have no
//! `generation_id` field (`COOPERATIVE_STICKY_ASSIGNOR_USER_DATA_V0`). Both are classic,
//! non-flexible Kafka structs: INT16-prefixed strings, INT32-prefixed arrays.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

use crate::protocol::primitives::{read_array, read_i32, read_string, write_array, write_i32, write_string};
use crate::protocol::{DecodeError, EncodeError};

/// The previous assignment an eager `sticky` member sends in its user data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyUserData {
    /// The partitions the member was assigned.
    pub partitions: Vec<(String, i32)>,
    /// The generation of that assignment; `None` in the version 0 layout.
    pub generation: Option<i32>,
}

impl StickyUserData {
    /// Encodes version 1 (partitions grouped by topic, then the generation), or version 0
    /// when `generation` is `None`.
    ///
    /// # Errors
    ///
    /// [`EncodeError::TooLong`] when a topic name or a list overflows its length prefix.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in &self.partitions {
            by_topic.entry(topic).or_default().push(*partition);
        }
        let topics: Vec<(&str, Vec<i32>)> = by_topic.into_iter().collect();
        let mut buf = BytesMut::new();
        write_array(&mut buf, &topics, false, "previous_assignment", |buf, (topic, partitions)| {
            write_string(buf, topic, false, "topic")?;
            write_array(buf, partitions, false, "partitions", |buf, &p| {
                write_i32(buf, p);
                Ok(())
            })
        })?;
        if let Some(generation) = self.generation {
            write_i32(&mut buf, generation);
        }
        Ok(buf.freeze())
    }

    /// Decodes either version: the generation is present when four bytes follow the
    /// partitions, as Java falls back from version 1 to version 0.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for truncated or malformed input. Java then ignores the previous
    /// assignment; the caller should do the same (empty `owned_partitions`, generation -1).
    pub fn decode(mut bytes: Bytes) -> Result<Self, DecodeError> {
        let topics = read_array(&mut bytes, false, "previous_assignment", |buf| {
            let topic = read_string(buf, false, "topic")?;
            let partitions = read_array(buf, false, "partitions", |buf| read_i32(buf, "partition"))?;
            Ok((topic, partitions))
        })?;
        let generation = if bytes.len() >= 4 { Some(read_i32(&mut bytes, "generation")?) } else { None };
        let partitions = topics
            .into_iter()
            .flat_map(|(topic, partitions)| partitions.into_iter().map(move |p| (topic.clone(), p)))
            .collect();
        Ok(Self { partitions, generation })
    }
}

/// Encodes the `cooperative-sticky` user data: the member's generation.
pub fn encode_cooperative_generation(generation: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(4);
    write_i32(&mut buf, generation);
    buf.freeze()
}

/// Decodes the `cooperative-sticky` user data.
///
/// # Errors
///
/// [`DecodeError::UnexpectedEof`] when fewer than four bytes are given; Java then uses
/// generation -1.
pub fn decode_cooperative_generation(mut bytes: Bytes) -> Result<i32, DecodeError> {
    read_i32(&mut bytes, "generation")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    // The STICKY_ASSIGNOR_USER_DATA_V1 layout of StickyAssignor.java, written out by hand:
    // [{topic "t", partitions [0, 2]}], generation 7.
    const V1: &[u8] = &[
        0, 0, 0, 1, // one topic
        0, 1, b't', // "t"
        0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // [0, 2]
        0, 0, 0, 7, // generation
    ];

    #[test]
    fn version_1_layout() {
        let data = StickyUserData { partitions: vec![("t".into(), 0), ("t".into(), 2)], generation: Some(7) };
        assert_eq!(data.encode().unwrap(), Bytes::from_static(V1));
        assert_eq!(StickyUserData::decode(Bytes::from_static(V1)).unwrap(), data);
    }

    // StickyAssignorTest.testSchemaBackwardCompatibility: version 0 has no generation.
    #[test]
    fn version_0_has_no_generation() {
        let v0 = Bytes::from_static(&V1[..V1.len() - 4]);
        let decoded = StickyUserData::decode(v0).unwrap();
        assert_eq!(decoded.generation, None);
        assert_eq!(decoded.partitions.len(), 2);
    }

    #[test]
    fn cooperative_generation_layout() {
        assert_eq!(encode_cooperative_generation(3), Bytes::from_static(&[0, 0, 0, 3]));
        assert_eq!(decode_cooperative_generation(Bytes::from_static(&[0, 0, 0, 3])).unwrap(), 3);
        assert!(decode_cooperative_generation(Bytes::from_static(&[0, 0])).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(
            mut partitions in proptest::collection::vec(("[a-z]{1,5}", 0..100i32), 0..10),
            generation in proptest::option::of(any::<i32>()),
        ) {
            partitions.sort();
            let data = StickyUserData { partitions, generation };
            let decoded = StickyUserData::decode(data.encode().unwrap()).unwrap();
            prop_assert_eq!(decoded, data);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = StickyUserData::decode(Bytes::from(bytes));
        }
    }
}
