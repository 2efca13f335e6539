//! The records a test sends, and the check that each came back exactly once.

use std::collections::{BTreeMap, BTreeSet};

/// One consumed record as a client reported it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KafkaRecord {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Key (text).
    pub key: String,
    /// Value (text).
    pub value: String,
}

/// `n` (key, value) pairs: keys `PREFIX-i` (distinct, so the partitioner spreads
/// them), values of varying length with repeats that every codec compresses.
pub fn generate(prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("{prefix}-{i}"), format!("{prefix}-value-{i}-{}", "abcdefgh".repeat(i % 12)))).collect()
}

/// `key<TAB>value` lines, as kcat `-K '\t'` and our python scripts read them.
pub fn as_lines(records: &[(String, String)]) -> Vec<u8> {
    records.iter().flat_map(|(k, v)| format!("{k}\t{v}\n").into_bytes()).collect()
}

/// Parses `partition<TAB>offset<TAB>key<TAB>value` lines (kcat's
/// `-f '%p\t%o\t%k\t%s\n'`, our python scripts' output).
///
/// # Panics
///
/// On a line of another shape.
pub fn parse(output: &[u8]) -> Vec<KafkaRecord> {
    String::from_utf8_lossy(output).lines().filter(|l| !l.is_empty()).map(parse_line).collect()
}

/// One line of [`parse`].
pub fn parse_line(line: &str) -> KafkaRecord {
    let fields: Vec<&str> = line.splitn(4, '\t').collect();
    let [partition, offset, key, value] = fields[..] else { panic!("not a record line: {line:?}") };
    KafkaRecord {
        partition: partition.parse().unwrap_or_else(|e| panic!("partition in {line:?}: {e}")),
        offset: offset.parse().unwrap_or_else(|e| panic!("offset in {line:?}: {e}")),
        key: key.to_string(),
        value: value.to_string(),
    }
}

/// The producer's index of a key made by [`generate`].
fn index(key: &str) -> usize {
    key.rsplit_once('-').and_then(|(_, i)| i.parse().ok()).unwrap_or_else(|| panic!("not a generated key: {key:?}"))
}

/// Asserts that `got` holds every record of `expected` exactly once, with equal
/// values, and that each partition is the producer's order at offsets 0, 1, 2 ...
/// (one producer, a fresh topic: no gaps, no duplicates, no reordering).
///
/// # Panics
///
/// With `label` and the first differences found.
pub fn assert_exactly_once(label: &str, expected: &[(String, String)], got: &[KafkaRecord]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for r in got {
        *seen.entry(r.key.as_str()).or_default() += 1;
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    let want: BTreeSet<(&str, &str)> = expected.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let have: BTreeSet<(&str, &str)> = got.iter().map(|r| (r.key.as_str(), r.value.as_str())).collect();
    let missing: Vec<_> = want.difference(&have).take(5).collect();
    let unexpected: Vec<_> = have.difference(&want).take(5).collect();
    assert!(
        duplicates.is_empty() && missing.is_empty() && unexpected.is_empty() && got.len() == expected.len(),
        "{label}: {} records back for {} sent; {} keys duplicated (first {duplicates:?}); {} missing (first {missing:?}); \
         {} unexpected (first {unexpected:?})",
        got.len(),
        expected.len(),
        seen.values().filter(|n| **n > 1).count(),
        want.difference(&have).count(),
        have.difference(&want).count(),
    );

    let mut partitions: BTreeMap<i32, Vec<&KafkaRecord>> = BTreeMap::new();
    for r in got {
        partitions.entry(r.partition).or_default().push(r);
    }
    for (partition, records) in &mut partitions {
        records.sort_by_key(|r| r.offset);
        for (expected_offset, r) in records.iter().enumerate() {
            assert_eq!(r.offset, expected_offset as i64, "{label}: partition {partition} offsets are 0, 1, 2 ...");
        }
        for pair in records.windows(2) {
            assert!(
                index(&pair[0].key) < index(&pair[1].key),
                "{label}: partition {partition} is not in produce order: {} at {} before {} at {}",
                pair[0].key,
                pair[0].offset,
                pair[1].key,
                pair[1].offset
            );
        }
    }
}
