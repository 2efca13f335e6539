//! Request assembly: which queued batches go into the next produce request, and
//! how a batch is encoded.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;

use super::pending::PendingRecord;
use super::sequence::Batch;
use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use crate::protocol::messages::ProduceRequest;
use crate::protocol::record::{Compression, RecordBatchBuilder, RecordError};

/// Bytes a produce request spends besides its batches: header, acks, timeout,
/// per-topic and per-partition framing (a generous bound).
pub(crate) const REQUEST_OVERHEAD: usize = 512;

/// Takes the next request's items from the front of `queue`: at most one batch per
/// partition (Kafka's rule for v3+), in queue order, while their `size` fits
/// `max_bytes` (the first one always goes). Items skipped because their partition
/// already has a batch in this request stay in the queue, in order.
pub(crate) fn assemble<T, K: Eq + std::hash::Hash>(
    queue: &mut VecDeque<T>,
    max_bytes: usize,
    key: impl Fn(&T) -> K,
    size: impl Fn(&T) -> usize,
) -> Vec<T> {
    let mut taken = Vec::new();
    let mut partitions = HashSet::new();
    let mut kept = VecDeque::new();
    let mut total = REQUEST_OVERHEAD;
    while let Some(item) = queue.pop_front() {
        let fits = taken.is_empty() || total + size(&item) <= max_bytes;
        if !fits {
            queue.push_front(item);
            break;
        }
        if partitions.insert(key(&item)) {
            total += size(&item);
            taken.push(item);
        } else {
            kept.push_back(item);
        }
    }
    while let Some(item) = kept.pop_back() {
        queue.push_front(item);
    }
    taken
}

/// Encodes a batch with its producer id, epoch and base sequence, if it has them.
pub(crate) fn encode(batch: &Batch<PendingRecord>, compression: Compression) -> Result<(Bytes, usize), RecordError> {
    // The charges bound the encoded records from above (70 bytes of framing each).
    let room: usize = batch.records.iter().map(PendingRecord::size).sum();
    let mut builder = RecordBatchBuilder::with_capacity(compression, room);
    if let Some(sequence) = batch.sequence {
        builder =
            builder.producer_id(sequence.identity.0).producer_epoch(sequence.identity.1).base_sequence(sequence.base);
    }
    for pending in &batch.records {
        let record = &pending.record;
        builder.push_ref(pending.timestamp, record.key.as_deref(), record.value.as_deref(), &record.headers)?;
    }
    let uncompressed = builder.estimated_size();
    Ok((builder.finish()?, uncompressed))
}

/// A produce request for these encoded batches, grouped by topic.
pub(crate) fn produce_request(acks: i16, timeout_ms: i32, batches: &[(&str, i32, Bytes)]) -> ProduceRequest {
    let mut topic_data: Vec<TopicProduceData> = Vec::new();
    for (topic, partition, records) in batches {
        let data = PartitionProduceData { index: *partition, records: Some(records.clone()), ..Default::default() };
        match topic_data.iter_mut().find(|t| t.name == *topic) {
            Some(entry) => entry.partition_data.push(data),
            None => topic_data.push(TopicProduceData {
                name: (*topic).to_owned(),
                partition_data: vec![data],
                ..Default::default()
            }),
        }
    }
    ProduceRequest { transactional_id: None, acks, timeout_ms, topic_data, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_batch_per_partition_per_request_in_order() {
        let mut queue: VecDeque<(u8, usize)> = [(0, 10), (0, 10), (1, 10), (2, 10)].into();
        let taken = assemble(&mut queue, 10_000, |i| i.0, |i| i.1);
        assert_eq!(taken, vec![(0, 10), (1, 10), (2, 10)]);
        assert_eq!(queue, VecDeque::from([(0, 10)]));
    }

    #[test]
    fn a_request_stays_within_max_bytes_but_always_carries_one_batch() {
        let mut queue: VecDeque<(u8, usize)> = [(0, 600), (1, 600), (2, 100)].into();
        let taken = assemble(&mut queue, REQUEST_OVERHEAD + 700, |i| i.0, |i| i.1);
        assert_eq!(taken, vec![(0, 600)]);
        let mut huge: VecDeque<(u8, usize)> = [(0, 1 << 30)].into();
        assert_eq!(assemble(&mut huge, 100, |i| i.0, |i| i.1).len(), 1);
    }

    #[test]
    fn batches_are_grouped_by_topic() {
        let b = Bytes::from_static(b"x");
        let request = produce_request(-1, 30_000, &[("a", 0, b.clone()), ("b", 0, b.clone()), ("a", 1, b)]);
        assert_eq!(request.topic_data.len(), 2);
        assert_eq!(request.topic_data[0].partition_data.iter().map(|p| p.index).collect::<Vec<_>>(), vec![0, 1]);
    }
}
