//! Test support: random valid messages from a byte seed, and the roundtrip and
//! no-panic checks every message runs (one macro line per message in
//! `messages/tests.rs`).
//!
//! Values are built from a proptest byte vector through [`Unstructured`], so proptest
//! shrinks a failure down to the smallest seed (and so the smallest message).

use bytes::{Bytes, BytesMut};

use super::codec::Message;
use super::primitives::Uuid;
use super::tagged::RawTaggedField;

/// A reader of decisions from a seed; once the seed runs out every answer is zero
/// (the smallest value, the empty string, the empty array).
pub(crate) struct Unstructured<'a> {
    data: &'a [u8],
}

/// A random value valid at a protocol version.
pub(crate) trait Arbitrary {
    fn arbitrary(u: &mut Unstructured<'_>, version: i16) -> Self;
}

/// Primitive values straight from the seed.
pub(crate) trait FromSeed {
    fn from_seed(u: &mut Unstructured<'_>) -> Self;
}

impl<'a> Unstructured<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte();
        }
        out
    }

    pub(crate) fn arbitrary<T: FromSeed>(&mut self) -> T {
        T::from_seed(self)
    }

    /// A short length, biased small so nested arrays stay small.
    pub(crate) fn len(&mut self, max: u8) -> usize {
        usize::from(self.byte() % (max + 1))
    }

    pub(crate) fn string(&mut self) -> String {
        const ALPHABET: [&str; 8] = ["a", "Z", "0", "-", ".", "_", "é", "日"];
        let n = self.len(8);
        (0..n).map(|_| ALPHABET[usize::from(self.byte() % 8)]).collect()
    }

    pub(crate) fn bytes(&mut self) -> Bytes {
        let n = self.len(16);
        Bytes::from((0..n).map(|_| self.byte()).collect::<Vec<u8>>())
    }

    pub(crate) fn vec<T>(&mut self, mut element: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let n = self.len(3);
        (0..n).map(|_| element(self)).collect()
    }

    pub(crate) fn nullable<T>(&mut self, allowed: bool, value: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if allowed && self.byte() % 4 == 0 {
            None
        } else {
            Some(value(self))
        }
    }

    /// Zero to two tagged fields with tags no schema uses, in increasing order.
    pub(crate) fn unknown_tagged_fields(&mut self) -> Vec<RawTaggedField> {
        let n = self.len(2);
        let mut tag = 1000;
        (0..n)
            .map(|_| {
                tag += 1 + u32::from(self.byte());
                RawTaggedField { tag, data: self.bytes() }
            })
            .collect()
    }
}

macro_rules! from_seed_int {
    ($($ty:ty),*) => {$(
        impl FromSeed for $ty {
            fn from_seed(u: &mut Unstructured<'_>) -> Self {
                <$ty>::from_be_bytes(u.take())
            }
        }
    )*};
}
from_seed_int!(i8, i16, u16, i32, u32, i64);

impl FromSeed for bool {
    fn from_seed(u: &mut Unstructured<'_>) -> Self {
        u.byte() & 1 == 1
    }
}

impl FromSeed for f64 {
    fn from_seed(u: &mut Unstructured<'_>) -> Self {
        // Finite values only: NaN is never equal to itself.
        f64::from(i32::from_seed(u)) / 8.0
    }
}

impl FromSeed for Uuid {
    fn from_seed(u: &mut Unstructured<'_>) -> Self {
        Uuid(u.take())
    }
}

/// Encodes a random valid value at every version, decodes it back equal with no bytes
/// left, and re-encodes it to the same bytes.
pub(crate) fn check_roundtrip<T: Message + Arbitrary>(seed: &[u8]) {
    for version in T::VERSIONS.iter() {
        let value = T::arbitrary(&mut Unstructured::new(seed), version);
        let mut encoded = BytesMut::new();
        value
            .encode(&mut encoded, version)
            .unwrap_or_else(|e| panic!("{} v{version}: encode failed: {e}\n{value:#?}", T::NAME));
        let mut input = encoded.clone().freeze();
        let decoded = T::decode(&mut input, version)
            .unwrap_or_else(|e| panic!("{} v{version}: decode failed: {e}\n{value:#?}", T::NAME));
        assert_eq!(decoded, value, "{} v{version}", T::NAME);
        assert!(input.is_empty(), "{} v{version}: {} bytes left", T::NAME, input.len());
        let mut again = BytesMut::new();
        decoded.encode(&mut again, version).expect("re-encode");
        assert_eq!(again, encoded, "{} v{version}: re-encoding differs", T::NAME);
    }
}

/// Feeds bytes to the decoder at every version (and one past each end): any result
/// but a panic is fine.
pub(crate) fn check_decode_never_panics<T: Message>(bytes: &[u8]) {
    for version in T::VERSIONS.min - 1..=T::VERSIONS.max + 1 {
        let _ = T::decode(&mut Bytes::copy_from_slice(bytes), version);
    }
}

/// Encodes a valid value, flips bytes of it, and decodes the result at every version.
pub(crate) fn check_mutations_never_panic<T: Message + Arbitrary>(seed: &[u8], mutations: &[(usize, u8)]) {
    for version in T::VERSIONS.iter() {
        let value = T::arbitrary(&mut Unstructured::new(seed), version);
        let mut encoded = BytesMut::new();
        if value.encode(&mut encoded, version).is_err() || encoded.is_empty() {
            continue;
        }
        let len = encoded.len();
        for (at, byte) in mutations {
            encoded[at % len] ^= byte | 1;
        }
        check_decode_never_panics::<T>(&encoded);
    }
}

/// The three codec checks for one message type, as a module of proptests.
macro_rules! roundtrip_and_fuzz {
    ($name:ident, $ty:ty) => {
        mod $name {
            use proptest::prelude::*;

            use crate::protocol::test_utils::{
                check_decode_never_panics, check_mutations_never_panic, check_roundtrip,
            };

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(48))]

                #[test]
                fn roundtrip(seed in proptest::collection::vec(any::<u8>(), 0..384)) {
                    check_roundtrip::<$ty>(&seed);
                }

                #[test]
                fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                    check_decode_never_panics::<$ty>(&bytes);
                }

                #[test]
                fn mutated_bytes_never_panic(
                    seed in proptest::collection::vec(any::<u8>(), 0..256),
                    mutations in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
                ) {
                    check_mutations_never_panic::<$ty>(&seed, &mutations);
                }
            }
        }
    };
}
pub(crate) use roundtrip_and_fuzz;
