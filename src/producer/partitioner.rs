//! Partitioners: which partition a record without an explicit partition goes to.
//!
//! The default, [`Partitioner::Murmur2`], places keyed records exactly where the Java
//! client (and librdkafka's `murmur2_random`) places them, so a topic written by a mix of
//! clients keeps every key on one partition, and a consumer relying on key order sees it.
//! Keyless records follow KIP-794's uniform sticky rule: they fill one partition's batch
//! before moving on, so they travel in few, full batches instead of many small ones.
//!
//! [`Partitioner::Fnv1a`] is sarama's default hash partitioner, for users migrating from
//! sarama whose existing topics were keyed that way.
//!
//! A [`Partitioner`] is configuration; each topic gets its own state, a
//! [`TopicPartitioner`], from [`Partitioner::for_topic`].

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

/// A custom partitioner.
///
/// Each topic gets its own instance (see [`Partitioner::Custom`]), so an implementation
/// may keep per-topic state in `&mut self` without locking.
pub trait Partition: Send + 'static {
    /// The partition, in `0..partitions`, for a record of `topic` with `key`.
    ///
    /// `partitions` is greater than 0. `record_bytes` is the record's estimated size (the
    /// charge of [`MemoryBudget`](super::budget::MemoryBudget)), for size-aware schemes
    /// such as sticky partitioning. A value outside `0..partitions` makes the producer
    /// refuse the record with [`PartitionerError::OutOfRange`].
    fn partition(&mut self, topic: &str, key: Option<&[u8]>, record_bytes: usize, partitions: i32) -> i32;
}

/// The partitioners a producer can be configured with.
///
/// # Examples
///
/// ```
/// use actix_kafka::producer::partitioner::{murmur2_partition, Partitioner};
///
/// let mut orders = Partitioner::default().for_topic(16 * 1024);
/// // A keyed record goes where the Java client would put it.
/// assert_eq!(orders.partition("orders", Some(b"21"), 80, 6), Ok(murmur2_partition(b"21", 6)));
/// // A keyless record goes to the current sticky partition.
/// let sticky = orders.partition("orders", None, 80, 6).unwrap();
/// assert!((0..6).contains(&sticky));
/// ```
#[derive(Clone, Default)]
pub enum Partitioner {
    /// The default. Keyed records: `(murmur2(key) & 0x7fffffff) % partitions`, bit for bit
    /// the Java client's `BuiltInPartitioner.partitionForKey` and librdkafka's
    /// `murmur2_random`, so keys land on the same partition whichever client wrote them.
    /// Keyless records: sticky, as [`Partitioner::Sticky`].
    #[default]
    Murmur2,
    /// Every record sticky, keys ignored (KIP-794 uniform sticky): records stay on one
    /// partition until `batch_bytes` of them went there, then move to another partition,
    /// chosen at random among the others. Fewer, fuller batches than round-robin.
    Sticky,
    /// sarama's default hash partitioner, for users migrating from sarama: the 32-bit
    /// FNV-1a hash of the key as an `int32`, `% partitions`, negated when negative (see
    /// [`fnv1a_partition`]). Keyless records: sticky.
    Fnv1a,
    /// Every record to the next partition in turn, per topic.
    RoundRobin,
    /// Every record must name its partition: asking for one is
    /// [`PartitionerError::PartitionRequired`].
    Manual,
    /// A factory: each topic gets its own instance of the custom [`Partition`].
    Custom(Arc<dyn Fn() -> Box<dyn Partition> + Send + Sync>),
}

impl fmt::Debug for Partitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Partitioner::Murmur2 => "Murmur2",
            Partitioner::Sticky => "Sticky",
            Partitioner::Fnv1a => "Fnv1a",
            Partitioner::RoundRobin => "RoundRobin",
            Partitioner::Manual => "Manual",
            Partitioner::Custom(_) => "Custom",
        })
    }
}

impl Partitioner {
    /// The per-topic state of this partitioner.
    ///
    /// `batch_bytes` is the sticky switch threshold: keyless records move to another
    /// partition once this many bytes of them went to the current one (Java uses
    /// `batch.size`). 0 behaves as 1: every keyless record moves on. A custom partitioner
    /// is built here, once per topic.
    pub fn for_topic(&self, batch_bytes: usize) -> TopicPartitioner {
        let sticky = || Sticky::new(batch_bytes);
        let strategy = match self {
            Partitioner::Murmur2 => Strategy::Murmur2(sticky()),
            Partitioner::Sticky => Strategy::Sticky(sticky()),
            Partitioner::Fnv1a => Strategy::Fnv1a(sticky()),
            Partitioner::RoundRobin => Strategy::RoundRobin { next: 0 },
            Partitioner::Manual => Strategy::Manual,
            Partitioner::Custom(factory) => Strategy::Custom(factory()),
        };
        TopicPartitioner { strategy }
    }
}

/// Why no partition could be chosen for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionerError {
    /// The producer is configured with [`Partitioner::Manual`] and the record names no
    /// partition.
    #[error("the manual partitioner needs every record to name its partition")]
    PartitionRequired,
    /// The topic has no partitions (yet): its metadata reported a count of 0 or less.
    #[error("the topic has no partitions")]
    NoPartitions,
    /// A custom partitioner returned a partition outside `0..partitions`.
    #[error("the custom partitioner chose partition {partition}, outside 0..{partitions}")]
    OutOfRange {
        /// What the custom partitioner returned.
        partition: i32,
        /// The topic's partition count.
        partitions: i32,
    },
}

/// One topic's partitioner state, from [`Partitioner::for_topic`].
pub struct TopicPartitioner {
    strategy: Strategy,
}

enum Strategy {
    Murmur2(Sticky),
    Sticky(Sticky),
    Fnv1a(Sticky),
    RoundRobin { next: u64 },
    Manual,
    Custom(Box<dyn Partition>),
}

impl fmt::Debug for TopicPartitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("TopicPartitioner");
        match &self.strategy {
            Strategy::Murmur2(sticky) => out.field("murmur2", sticky),
            Strategy::Sticky(sticky) => out.field("sticky", sticky),
            Strategy::Fnv1a(sticky) => out.field("fnv1a", sticky),
            Strategy::RoundRobin { next } => out.field("round_robin_next", next),
            Strategy::Manual => out.field("manual", &true),
            Strategy::Custom(_) => out.field("custom", &true),
        };
        out.finish()
    }
}

impl TopicPartitioner {
    /// The partition for a record with no explicit partition.
    ///
    /// `record_bytes` is the record's estimated size; sticky partitioning counts it
    /// towards the switch threshold (only for keyless records, as in the Java client).
    ///
    /// # Errors
    ///
    /// [`PartitionerError::PartitionRequired`] for [`Partitioner::Manual`] (whatever the
    /// partition count); [`PartitionerError::NoPartitions`] when `partitions <= 0`;
    /// [`PartitionerError::OutOfRange`] when a custom partitioner answers outside
    /// `0..partitions`.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_kafka::producer::partitioner::{Partitioner, PartitionerError};
    ///
    /// let mut rr = Partitioner::RoundRobin.for_topic(16 * 1024);
    /// let turns: Vec<i32> = (0..4).map(|_| rr.partition("t", None, 10, 3).unwrap()).collect();
    /// assert_eq!(turns, [0, 1, 2, 0]);
    ///
    /// let mut manual = Partitioner::Manual.for_topic(16 * 1024);
    /// assert_eq!(manual.partition("t", None, 10, 3), Err(PartitionerError::PartitionRequired));
    /// ```
    pub fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        record_bytes: usize,
        partitions: i32,
    ) -> Result<i32, PartitionerError> {
        if let Strategy::Manual = self.strategy {
            return Err(PartitionerError::PartitionRequired);
        }
        if partitions <= 0 {
            return Err(PartitionerError::NoPartitions);
        }
        let partition = match (&mut self.strategy, key) {
            (Strategy::Murmur2(_), Some(key)) => murmur2_partition(key, partitions),
            (Strategy::Fnv1a(_), Some(key)) => fnv1a_partition(key, partitions),
            (Strategy::Murmur2(sticky) | Strategy::Fnv1a(sticky) | Strategy::Sticky(sticky), _) => {
                sticky.partition(record_bytes, partitions)
            }
            (Strategy::RoundRobin { next }, _) => {
                // `partitions` > 0 was checked above, so the remainder fits an i32.
                let partition = (*next % partitions as u64) as i32;
                *next = partition as u64 + 1;
                partition
            }
            (Strategy::Custom(custom), _) => {
                let partition = custom.partition(topic, key, record_bytes, partitions);
                if !(0..partitions).contains(&partition) {
                    return Err(PartitionerError::OutOfRange { partition, partitions });
                }
                partition
            }
            (Strategy::Manual, _) => return Err(PartitionerError::PartitionRequired),
        };
        Ok(partition)
    }

    /// Makes the sticky choices deterministic, for tests. No effect on other strategies.
    #[doc(hidden)]
    pub fn set_seed(&mut self, seed: u64) {
        if let Strategy::Murmur2(sticky) | Strategy::Sticky(sticky) | Strategy::Fnv1a(sticky) = &mut self.strategy {
            sticky.random = XorShift::new(seed);
        }
    }
}

/// KIP-794 uniform sticky state: the current partition and the bytes sent to it.
#[derive(Debug)]
struct Sticky {
    batch_bytes: usize,
    current: Option<i32>,
    produced: usize,
    random: XorShift,
}

impl Sticky {
    fn new(batch_bytes: usize) -> Self {
        Sticky { batch_bytes: batch_bytes.max(1), current: None, produced: 0, random: XorShift::from_entropy() }
    }

    /// The record goes to the current partition; once it brings the bytes sent there to
    /// the threshold, the next record moves on (the Java client's order: append, then
    /// `updatePartitionInfo` may switch).
    fn partition(&mut self, record_bytes: usize, partitions: i32) -> i32 {
        let current = match self.current {
            // A partition count that shrank (stale metadata) invalidates the choice.
            Some(current) if current < partitions => current,
            _ => {
                self.produced = 0;
                self.random.below(partitions)
            }
        };
        self.produced = self.produced.saturating_add(record_bytes);
        if self.produced >= self.batch_bytes {
            self.produced = 0;
            self.current = Some(self.random.other_than(current, partitions));
        } else {
            self.current = Some(current);
        }
        current
    }
}

/// xorshift64*: a tiny PRNG for sticky switches (statistical spread, not secrecy), so the
/// crate needs no `rand`.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // The state must never be 0 (it would stay 0).
        XorShift(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    /// Seeded from std's per-process random hash keys.
    fn from_entropy() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x5eed);
        XorShift::new(hasher.finish())
    }

    fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    /// Uniform in `0..n`, `n > 0` (Lemire's multiply-shift; the bias is below 2^-31·n).
    fn below(&mut self, n: i32) -> i32 {
        let n = u64::try_from(n).unwrap_or(1).max(1);
        // The product shifted right by 32 is < n <= i32::MAX.
        ((u64::from(self.next_u32()) * n) >> 32) as i32
    }

    /// Uniform among `0..n` except `current`; 0 when `n == 1`.
    fn other_than(&mut self, current: i32, n: i32) -> i32 {
        if n <= 1 {
            return 0;
        }
        let pick = self.below(n - 1);
        if pick >= current {
            pick + 1
        } else {
            pick
        }
    }
}

/// Java's `Utils.murmur2`, bit for bit: MurmurHash2 (32-bit, seed `0x9747b28c`) over
/// little-endian 4-byte words.
///
/// Every Kafka client that partitions "like Java" (librdkafka's `murmur2`, franz-go,
/// kafkajs' default) agrees with this function, which is what keeps a key on one
/// partition across clients.
///
/// # Examples
///
/// ```
/// use actix_kafka::producer::partitioner::murmur2;
///
/// // From Kafka's `UtilsTest.testMurmur2`.
/// assert_eq!(murmur2(b"21"), -973932308);
/// assert_eq!(murmur2(b"abc"), 479470107);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java hashes an `int` length; a longer slice has no Java counterpart, and the
    // truncation matches librdkafka's `(uint32_t)len`.
    let mut h = SEED ^ data.len() as u32;
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record under the Java client's default partitioner:
/// `toPositive(murmur2(key)) % partitions`, where `toPositive` clears the sign bit.
///
/// # Panics
///
/// When `partitions <= 0`. [`TopicPartitioner::partition`] returns
/// [`PartitionerError::NoPartitions`] instead.
///
/// # Examples
///
/// ```
/// use actix_kafka::producer::partitioner::murmur2_partition;
///
/// // murmur2("foobar") is -790332482; without its sign bit, 1357151166.
/// assert_eq!(murmur2_partition(b"foobar", 50), 1357151166 % 50);
/// ```
pub fn murmur2_partition(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition, got {partitions}");
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// The 32-bit FNV-1a hash (offset basis `0x811c9dc5`, prime `0x01000193`).
fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5, |h: u32, &byte| (h ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// The partition of a keyed record under sarama's default `HashPartitioner`: the FNV-1a
/// hash as an `int32`, `% partitions` (the remainder keeps the hash's sign), negated when
/// negative.
///
/// This is not the Java client's mapping (sarama's `NewReferenceHashPartitioner` masks
/// the sign bit instead); it exists so users migrating from sarama keep their keys on the
/// partitions they were on.
///
/// # Panics
///
/// When `partitions <= 0`. [`TopicPartitioner::partition`] returns
/// [`PartitionerError::NoPartitions`] instead.
///
/// # Examples
///
/// ```
/// use actix_kafka::producer::partitioner::fnv1a_partition;
///
/// // FNV-1a("a") is 0xe40c292c, as an int32 -468965076; -468965076 % 10 is -6.
/// assert_eq!(fnv1a_partition(b"a", 10), 6);
/// ```
pub fn fnv1a_partition(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition, got {partitions}");
    // `partitions` > 0, so the remainder is in (-partitions, partitions): negation is safe.
    ((fnv1a(key) as i32) % partitions).abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Apache Kafka's `UtilsTest.testMurmur2`, as the Java `int`s it asserts.
    const KAFKA_UTILS_TEST: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        (b"abc", 479_470_107),
    ];

    /// librdkafka's `unittest_murmur2` (`src/rdmurmur2.c`), "java_murmur2_results".
    const LIBRDKAFKA_UNIT_TEST: [(&[u8], u32); 11] = [
        (b"kafka", 0xd067_cf64),
        (b"giberish123456789", 0x8f55_2b0c),
        (b"1234", 0x9fc9_7b14),
        (b"234", 0xe7c0_09ca),
        (b"34", 0x8739_30da),
        (b"4", 0x5a4b_5ca1),
        (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
        (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
        (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
        (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
        (b"", 0x106e_08d9),
    ];

    #[test]
    fn murmur2_matches_kafka_utils_test() {
        for (key, expected) in KAFKA_UTILS_TEST {
            assert_eq!(murmur2(key), expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn murmur2_matches_librdkafka_unit_test() {
        for (key, expected) in LIBRDKAFKA_UNIT_TEST {
            assert_eq!(murmur2(key) as u32, expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn murmur2_of_the_empty_key() {
        assert_eq!(murmur2(b""), 275_646_681);
        assert_eq!(murmur2_partition(b"", 1000), 275_646_681 % 1000);
    }

    /// `murmur2(key) & 0x7fffffff` for every prefix of "abcdefghijklmnop" (lengths 0..=16:
    /// every tail length, with 0..4 full words), then non-ASCII keys (UTF-8 "κόσμε",
    /// `ff 80 00 7f fe`, bytes 0x80..0x90). Captured from librdkafka 2.16's
    /// `rd_kafka_msg_partitioner_murmur2_random` with a partition count of `i32::MAX`.
    #[test]
    fn murmur2_tails_and_non_ascii_match_librdkafka() {
        let expected: [i32; 17] = [
            275_646_681,
            584_102_524,
            316_155_434,
            479_470_107,
            823_834_100,
            461_995_741,
            1_870_650_108,
            1_801_016_473,
            1_192_056_285,
            1_527_803_838,
            8_205_847,
            1_915_094_099,
            1_612_196_711,
            387_415_655,
            1_842_055_212,
            1_680_674_526,
            1_893_595_660,
        ];
        let alphabet = b"abcdefghijklmnop";
        for (len, expected) in expected.into_iter().enumerate() {
            assert_eq!(murmur2_partition(&alphabet[..len], i32::MAX), expected, "length {len}");
        }
        let non_ascii: [(Vec<u8>, i32); 3] = [
            ("κόσμε".as_bytes().to_vec(), 1_230_415_863),
            (vec![0xff, 0x80, 0x00, 0x7f, 0xfe], 768_357_719),
            ((0x80..0x90).collect(), 1_290_994_154),
        ];
        for (key, expected) in non_ascii {
            assert_eq!(murmur2_partition(&key, i32::MAX), expected, "{key:02x?}");
        }
    }

    #[test]
    fn murmur2_partition_clears_the_sign_bit() {
        // murmur2("21") is negative: a plain `%` would give a negative partition.
        assert_eq!(murmur2_partition(b"21", 12), (-973_932_308i32 & 0x7fff_ffff) % 12);
        for partitions in [1, 2, 3, 7, 100, i32::MAX] {
            for (key, _) in KAFKA_UTILS_TEST {
                assert!((0..partitions).contains(&murmur2_partition(key, partitions)));
            }
        }
    }

    #[test]
    fn fnv1a_known_vectors() {
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn fnv1a_partition_negates_like_sarama() {
        // 0xe40c292c as int32 is -468965076; Go's (and Rust's) % keeps the sign: -6 → 6.
        // Masking the sign bit (Java's way, sarama's "reference" partitioner) would give 2.
        assert_eq!(fnv1a(b"a") as i32, -468_965_076);
        assert_eq!(fnv1a_partition(b"a", 10), 6);
        // 0xbf9cf968 as int32 is -1080231576: % 7 is -4 → 4; masking gives 5.
        assert_eq!(fnv1a_partition(b"foobar", 7), 4);
        // 0x811c9dc5 as int32 is -2128831035: % 1000 is -35 → 35; masking gives 613.
        assert_eq!(fnv1a_partition(b"", 1000), 35);
        for partitions in [1, 2, 3, 1000, i32::MAX] {
            for key in [&b""[..], b"a", b"foobar", b"\xff\xfe"] {
                assert!((0..partitions).contains(&fnv1a_partition(key, partitions)));
            }
        }
    }

    #[test]
    fn fnv1a_partitioner_hashes_keys_and_sticks_keyless() {
        let mut topic = Partitioner::Fnv1a.for_topic(100);
        assert_eq!(topic.partition("t", Some(b"foobar"), 10, 7), Ok(4));
        topic.set_seed(7);
        let first = topic.partition("t", None, 10, 7).unwrap();
        assert_eq!(topic.partition("t", None, 10, 7), Ok(first));
    }

    #[test]
    fn murmur2_partitioner_hashes_keys_and_the_empty_key() {
        let mut topic = Partitioner::Murmur2.for_topic(100);
        for partitions in [1, 3, 6, 12] {
            for (key, _) in KAFKA_UTILS_TEST {
                assert_eq!(topic.partition("t", Some(key), 10, partitions), Ok(murmur2_partition(key, partitions)));
            }
            // An empty key is a key (Java hashes `new byte[0]`), not a keyless record.
            assert_eq!(topic.partition("t", Some(b""), 10, partitions), Ok(275_646_681 % partitions));
        }
    }

    /// Sends keyless records of `bytes` each and returns the partitions they went to.
    fn keyless(topic: &mut TopicPartitioner, records: usize, bytes: usize, partitions: i32) -> Vec<i32> {
        (0..records).map(|_| topic.partition("t", None, bytes, partitions).unwrap()).collect()
    }

    #[test]
    fn sticky_stays_until_batch_bytes_then_switches_to_another_partition() {
        for partitioner in [Partitioner::Murmur2, Partitioner::Sticky, Partitioner::Fnv1a] {
            let mut topic = partitioner.for_topic(100);
            topic.set_seed(42);
            // 30-byte records: the 4th brings the total to 120 >= 100, the 5th moves on.
            let sent = keyless(&mut topic, 40, 30, 6);
            for run in sent.chunks(4) {
                assert!(run.iter().all(|&p| p == run[0]), "{partitioner:?}: {sent:?}");
            }
            for pair in sent.chunks(4).collect::<Vec<_>>().windows(2) {
                assert_ne!(pair[0][0], pair[1][0], "{partitioner:?}: {sent:?}");
            }
        }
    }

    #[test]
    fn sticky_ignores_keys() {
        let mut topic = Partitioner::Sticky.for_topic(1000);
        topic.set_seed(1);
        let first = topic.partition("t", Some(b"21"), 1, 100).unwrap();
        for (key, _) in KAFKA_UTILS_TEST {
            assert_eq!(topic.partition("t", Some(key), 1, 100), Ok(first));
        }
    }

    #[test]
    fn keyed_records_do_not_count_towards_the_sticky_switch() {
        let mut topic = Partitioner::Murmur2.for_topic(100);
        topic.set_seed(3);
        let first = topic.partition("t", None, 10, 6).unwrap();
        for _ in 0..50 {
            topic.partition("t", Some(b"key"), 1000, 6).unwrap();
        }
        assert_eq!(topic.partition("t", None, 10, 6), Ok(first));
    }

    #[test]
    fn sticky_with_one_partition_stays_at_zero() {
        let mut topic = Partitioner::Sticky.for_topic(10);
        assert!(keyless(&mut topic, 100, 7, 1).iter().all(|&p| p == 0));
    }

    #[test]
    fn sticky_with_zero_batch_bytes_moves_every_record() {
        let mut topic = Partitioner::Sticky.for_topic(0);
        topic.set_seed(9);
        let sent = keyless(&mut topic, 50, 1, 3);
        assert!(sent.windows(2).all(|pair| pair[0] != pair[1]), "{sent:?}");
    }

    #[test]
    fn sticky_switches_spread_over_every_partition() {
        let mut topic = Partitioner::Sticky.for_topic(1);
        topic.set_seed(2024);
        let mut counts = [0u32; 12];
        for partition in keyless(&mut topic, 12_000, 1, 12) {
            counts[partition as usize] += 1;
        }
        // Uniform would be 1,000 each.
        assert!(counts.iter().all(|&count| (800..1200).contains(&count)), "{counts:?}");
    }

    #[test]
    fn sticky_repicks_when_the_partition_count_shrinks() {
        let mut topic = Partitioner::Sticky.for_topic(1 << 20);
        topic.set_seed(5);
        let partitions: HashSet<i32> = (0..200)
            .map(|i| {
                let count = if i % 2 == 0 { 100 } else { 2 };
                let partition = topic.partition("t", None, 1, count).unwrap();
                assert!((0..count).contains(&partition));
                partition
            })
            .collect();
        assert!(!partitions.is_empty());
    }

    #[test]
    fn unseeded_sticky_partitioners_start_in_range() {
        for _ in 0..50 {
            let mut topic = Partitioner::Sticky.for_topic(100);
            assert!((0..5).contains(&topic.partition("t", None, 1, 5).unwrap()));
        }
    }

    #[test]
    fn round_robin_cycles_per_topic() {
        let partitioner = Partitioner::RoundRobin;
        let mut orders = partitioner.for_topic(100);
        let mut users = partitioner.for_topic(100);
        assert_eq!(keyless(&mut orders, 7, 1, 3), [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(orders.partition("orders", Some(b"k"), 1, 3), Ok(1));
        assert_eq!(keyless(&mut users, 2, 1, 3), [0, 1]);
        // A count that shrinks under the cursor stays in range.
        assert_eq!(orders.partition("orders", None, 1, 2), Ok(0));
    }

    #[test]
    fn manual_needs_an_explicit_partition() {
        let mut topic = Partitioner::Manual.for_topic(100);
        assert_eq!(topic.partition("t", Some(b"k"), 1, 3), Err(PartitionerError::PartitionRequired));
        assert_eq!(topic.partition("t", None, 1, 0), Err(PartitionerError::PartitionRequired));
    }

    #[test]
    fn no_partitions_is_an_error() {
        for partitioner in [Partitioner::Murmur2, Partitioner::Sticky, Partitioner::Fnv1a, Partitioner::RoundRobin] {
            let mut topic = partitioner.for_topic(100);
            assert_eq!(topic.partition("t", Some(b"k"), 1, 0), Err(PartitionerError::NoPartitions));
            assert_eq!(topic.partition("t", None, 1, -1), Err(PartitionerError::NoPartitions));
        }
    }

    struct Fixed(i32);

    impl Partition for Fixed {
        fn partition(&mut self, _: &str, _: Option<&[u8]>, _: usize, _: i32) -> i32 {
            self.0
        }
    }

    /// Counts its calls: shows each topic has its own instance.
    struct Counter(i32);

    impl Partition for Counter {
        fn partition(&mut self, topic: &str, key: Option<&[u8]>, record_bytes: usize, partitions: i32) -> i32 {
            assert_eq!((topic, key, record_bytes), ("t", Some(&b"k"[..]), 33));
            self.0 += 1;
            self.0 % partitions
        }
    }

    #[test]
    fn custom_partitioners_are_per_topic_and_range_checked() {
        let counter = Partitioner::Custom(Arc::new(|| Box::new(Counter(0))));
        let (mut a, mut b) = (counter.for_topic(100), counter.for_topic(100));
        assert_eq!(a.partition("t", Some(b"k"), 33, 10), Ok(1));
        assert_eq!(a.partition("t", Some(b"k"), 33, 10), Ok(2));
        assert_eq!(b.partition("t", Some(b"k"), 33, 10), Ok(1));

        for bad in [-1, 3, i32::MAX] {
            let mut topic = Partitioner::Custom(Arc::new(move || Box::new(Fixed(bad)))).for_topic(100);
            assert_eq!(
                topic.partition("t", None, 1, 3),
                Err(PartitionerError::OutOfRange { partition: bad, partitions: 3 })
            );
        }
        let mut topic = Partitioner::Custom(Arc::new(|| Box::new(Fixed(2)))).for_topic(100);
        assert_eq!(topic.partition("t", None, 1, 3), Ok(2));
    }

    #[test]
    fn debug_default_and_clone() {
        let custom = Partitioner::Custom(Arc::new(|| Box::new(Fixed(0))));
        assert_eq!(format!("{custom:?}"), "Custom");
        assert_eq!(format!("{:?}", custom.clone()), "Custom");
        assert_eq!(format!("{:?}", Partitioner::default()), "Murmur2");
        assert!(format!("{:?}", Partitioner::RoundRobin.for_topic(1)).contains("round_robin"));
    }

    #[test]
    fn topic_partitioners_are_send() {
        fn send<T: Send>() {}
        send::<TopicPartitioner>();
        send::<Partitioner>();
    }
}
