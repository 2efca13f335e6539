//! One partition's fetched record set → [`ConsumerRecord`]s: a plain function.
//!
//! What a consumer must not deliver, and why it is in a fetch answer at all:
//!
//! - **Records below the fetch offset.** A broker answers from the start of the
//!   batch holding the fetch offset, and a compressed batch can only be sent whole, so
//!   its records before the offset come too.
//! - **Control batches** (transaction markers, KRaft records): they take offsets but
//!   are not user records. A fetch answered with nothing but a marker must still move
//!   the position past it, or the consumer would fetch the marker forever; so the next
//!   fetch offset is taken from batch ends, not from delivered records.
//! - **Aborted transactions**, with `read_committed`: the broker lists them
//!   (`aborted_transactions`: producer id and first offset) and the consumer drops the
//!   transactional batches of those producers until their ABORT marker.
//! - **A truncated last batch** (the byte limit cut it, KIP-74): dropped, and fetched
//!   whole from its offset next time. A fetch whose *only* batch is truncated (a
//!   broker older than KIP-74, or a batch larger than the limits) makes no progress;
//!   [`Decoded::needs_more_bytes`] says so and the partition asks for more next time.
//!
//! A batch that does not decode (a CRC mismatch, a malformed record) ends the decode:
//! the whole batches before it are delivered, and [`Decoded::corrupt`] carries the
//! error; the next fetch starts at [`Decoded::next_offset`], at the bad batch.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use crate::protocol::messages::fetch_response::AbortedTransaction;
use crate::protocol::record::{ControlRecord, DecodeOptions, RecordBatch, RecordBatches, RecordError};

use super::types::ConsumerRecord;

/// What one partition's record set held.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    /// The records to deliver, in offset order, all at or above the fetch offset.
    pub(crate) records: Vec<ConsumerRecord>,
    /// Where the next fetch starts: past every whole batch decoded, never below the
    /// fetch offset.
    pub(crate) next_offset: i64,
    /// The size of the record set as received.
    pub(crate) bytes: usize,
    /// The error of the batch at `next_offset` that did not decode.
    pub(crate) corrupt: Option<RecordError>,
    /// Only a partial batch came: the partition max bytes is too small for it.
    pub(crate) needs_more_bytes: bool,
}

/// How to read one partition's record set.
#[derive(Debug)]
pub(crate) struct DecodeContext<'a> {
    pub(crate) topic: &'a Arc<str>,
    pub(crate) partition: i32,
    pub(crate) fetch_offset: i64,
    pub(crate) read_committed: bool,
    pub(crate) aborted: Option<&'a [AbortedTransaction]>,
    pub(crate) options: &'a DecodeOptions,
}

/// Decodes `records` as the [module docs](self) describe.
pub(crate) fn decode_partition(records: Option<Bytes>, cx: &DecodeContext<'_>) -> Decoded {
    let records = records.unwrap_or_default();
    let mut decoded = Decoded { next_offset: cx.fetch_offset, bytes: records.len(), ..Decoded::default() };
    let mut aborts = Aborts::new(cx);
    let mut batches = RecordBatches::new(records, cx.options);
    let mut whole = 0usize;
    for batch in batches.by_ref() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                decoded.corrupt = Some(error);
                return decoded;
            }
        };
        whole += 1;
        decoded.next_offset = decoded.next_offset.max(batch.last_offset().saturating_add(1));
        if aborts.skip(&batch) {
            continue;
        }
        push_records(&mut decoded.records, batch, cx);
    }
    decoded.needs_more_bytes = whole == 0 && batches.truncated_tail();
    decoded
}

/// Moves the batch's records at or above the fetch offset into `out` (the batch is
/// owned: keys, values and headers are moved, not cloned).
fn push_records(out: &mut Vec<ConsumerRecord>, mut batch: RecordBatch, cx: &DecodeContext<'_>) {
    out.reserve(batch.records.len());
    let (timestamp_type, epoch) = (batch.timestamp_type, batch.partition_leader_epoch);
    let records = std::mem::take(&mut batch.records);
    for record in records {
        if record.offset < cx.fetch_offset {
            continue;
        }
        out.push(ConsumerRecord {
            topic: cx.topic.clone(),
            partition: cx.partition,
            offset: record.offset,
            timestamp: batch.record_timestamp(&record),
            timestamp_type,
            key: record.key,
            value: record.value,
            headers: record.headers,
            leader_epoch: epoch,
        });
    }
}

/// Aborted-transaction tracking for `read_committed` (the Java client's rule).
struct Aborts {
    enabled: bool,
    /// Aborted transactions not yet reached, by first offset.
    pending: BTreeSet<(i64, i64)>,
    /// Producers whose open transaction was aborted: their data batches are dropped
    /// until their ABORT marker.
    active: HashSet<i64>,
}

impl Aborts {
    fn new(cx: &DecodeContext<'_>) -> Self {
        let pending = match (cx.read_committed, cx.aborted) {
            (true, Some(list)) => list.iter().map(|a| (a.first_offset, a.producer_id)).collect(),
            _ => BTreeSet::new(),
        };
        Self { enabled: cx.read_committed, pending, active: HashSet::new() }
    }

    /// Whether `batch` is not delivered: a control batch, or aborted data.
    fn skip(&mut self, batch: &RecordBatch) -> bool {
        if self.enabled {
            while let Some(&(first, producer)) = self.pending.first() {
                if first > batch.last_offset() {
                    break;
                }
                self.pending.pop_first();
                self.active.insert(producer);
            }
        }
        if batch.is_control {
            let abort = batch.records.first().and_then(|r| RecordBatch::control_record(r).ok());
            if matches!(abort, Some(ControlRecord::Abort { .. })) {
                self.active.remove(&batch.producer_id);
            }
            return true;
        }
        self.enabled && batch.is_transactional && self.active.contains(&batch.producer_id)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::protocol::record::{Compression, Record, TimestampType};

    fn batch(base: i64, count: i64, compression: Compression) -> RecordBatch {
        let records = (0..count)
            .map(|i| Record {
                offset: base + i,
                timestamp: 1000 + i,
                value: Some(Bytes::from(format!("v{}", base + i))),
                ..Record::default()
            })
            .collect();
        RecordBatch {
            base_offset: base,
            compression,
            last_offset_delta: i32::try_from(count - 1).unwrap(),
            base_timestamp: 1000,
            max_timestamp: 1000 + count - 1,
            partition_leader_epoch: 7,
            records,
            ..RecordBatch::default()
        }
    }

    fn marker(offset: i64, producer_id: i64, marker: ControlRecord) -> RecordBatch {
        RecordBatch {
            base_offset: offset,
            is_control: true,
            is_transactional: true,
            producer_id,
            producer_epoch: 0,
            base_timestamp: 5,
            max_timestamp: 5,
            records: vec![marker.to_record(offset, 5)],
            ..RecordBatch::default()
        }
    }

    fn encode(batches: &[RecordBatch]) -> Bytes {
        let mut buf = BytesMut::new();
        for b in batches {
            b.encode(&mut buf).unwrap();
        }
        buf.freeze()
    }

    fn decode(records: Bytes, fetch_offset: i64, aborted: Option<&[AbortedTransaction]>) -> Decoded {
        let topic: Arc<str> = Arc::from("t");
        let options = DecodeOptions::default();
        let cx = DecodeContext {
            topic: &topic,
            partition: 2,
            fetch_offset,
            read_committed: aborted.is_some(),
            aborted,
            options: &options,
        };
        decode_partition(Some(records), &cx)
    }

    fn offsets(decoded: &Decoded) -> Vec<i64> {
        decoded.records.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn records_below_the_fetch_offset_are_skipped_in_every_codec() {
        for compression in Compression::ALL {
            let decoded = decode(encode(&[batch(0, 5, compression), batch(5, 3, compression)]), 3, None);
            assert_eq!(offsets(&decoded), [3, 4, 5, 6, 7], "{compression:?}");
            assert_eq!(decoded.next_offset, 8);
            let r = &decoded.records[0];
            assert_eq!((r.partition, &*r.topic, r.leader_epoch, r.timestamp), (2, "t", 7, 1003));
            assert_eq!(r.value.as_deref(), Some(&b"v3"[..]));
        }
    }

    #[test]
    fn control_batches_are_skipped_but_move_the_position() {
        let commit = marker(5, 9, ControlRecord::Commit { coordinator_epoch: 0 });
        let decoded = decode(encode(std::slice::from_ref(&commit)), 5, None);
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.next_offset, 6, "a lone marker still advances");
        let decoded =
            decode(encode(&[batch(0, 5, Compression::None), commit, batch(6, 2, Compression::None)]), 0, None);
        assert_eq!(offsets(&decoded), [0, 1, 2, 3, 4, 6, 7]);
    }

    #[test]
    fn log_append_time_reports_the_batch_max_timestamp() {
        let mut b = batch(0, 3, Compression::None);
        b.timestamp_type = TimestampType::LogAppendTime;
        b.max_timestamp = 99_999;
        let decoded = decode(encode(&[b]), 0, None);
        assert!(decoded
            .records
            .iter()
            .all(|r| r.timestamp == 99_999 && r.timestamp_type == TimestampType::LogAppendTime));
    }

    #[test]
    fn a_truncated_tail_is_dropped_and_a_lone_partial_batch_asks_for_more_bytes() {
        let records = encode(&[batch(0, 3, Compression::None), batch(3, 3, Compression::None)]);
        let decoded = decode(records.slice(..records.len() - 5), 0, None);
        assert_eq!((offsets(&decoded), decoded.next_offset, decoded.needs_more_bytes), (vec![0, 1, 2], 3, false));
        let decoded = decode(records.slice(..20), 0, None);
        assert!(decoded.records.is_empty() && decoded.needs_more_bytes);
        assert_eq!(decoded.next_offset, 0);
    }

    #[test]
    fn a_corrupt_batch_keeps_the_good_ones_before_it() {
        let first = encode(&[batch(0, 2, Compression::None)]);
        let mut buf = BytesMut::from(&encode(&[batch(0, 2, Compression::None), batch(2, 2, Compression::None)])[..]);
        buf[first.len() + 17] ^= 0xff; // the second batch's CRC
        let decoded = decode(buf.freeze(), 0, None);
        assert_eq!(offsets(&decoded), [0, 1]);
        assert_eq!(decoded.next_offset, 2);
        assert!(matches!(decoded.corrupt, Some(RecordError::CrcMismatch { .. })));
    }

    #[test]
    fn read_committed_drops_aborted_transactions_until_their_marker() {
        let txn = |base, producer_id| RecordBatch {
            is_transactional: true,
            producer_id,
            producer_epoch: 0,
            ..batch(base, 2, Compression::None)
        };
        let batches = [
            txn(0, 1),                                                   // aborted
            txn(2, 2),                                                   // committed
            marker(4, 1, ControlRecord::Abort { coordinator_epoch: 0 }), // ends 1's abort
            marker(5, 2, ControlRecord::Commit { coordinator_epoch: 0 }),
            txn(6, 1), // a later, committed transaction of producer 1
        ];
        let aborted = [AbortedTransaction { producer_id: 1, first_offset: 0, ..Default::default() }];
        let decoded = decode(encode(&batches), 0, Some(&aborted));
        assert_eq!(offsets(&decoded), [2, 3, 6, 7]);
        assert_eq!(decoded.next_offset, 8);
        let uncommitted = decode(encode(&batches), 0, None);
        assert_eq!(offsets(&uncommitted), [0, 1, 2, 3, 6, 7], "read_uncommitted keeps everything but markers");
    }
}
