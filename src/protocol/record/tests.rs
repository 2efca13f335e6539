//! Property tests across the record layer: roundtrips of arbitrary batches in every
//! codec, and decoding of arbitrary and mutated bytes, which must return `Ok` or
//! `Err` but never panic.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use super::{
    decode_batches, Compression, DecodeOptions, Record, RecordBatch, RecordBatches, RecordHeader, TimestampType,
};

fn bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(vec(any::<u8>(), 0..max).prop_map(Bytes::from))
}

fn header() -> impl Strategy<Value = RecordHeader> {
    ("\\PC{0,8}", bytes(16)).prop_map(|(key, value)| RecordHeader { key, value })
}

fn codec() -> impl Strategy<Value = Compression> {
    proptest::sample::select(Compression::ALL.to_vec())
}

/// A batch whose record offsets are `base_offset` plus deltas that fit an `int32`,
/// with arbitrary timestamps (their deltas wrap) and header fields.
fn batch() -> impl Strategy<Value = RecordBatch> {
    let record = (0..=i64::from(i32::MAX), any::<i64>(), bytes(32), bytes(64), vec(header(), 0..3));
    let flags = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>());
    let producer = (any::<i64>(), any::<i16>(), any::<i32>(), any::<i32>(), any::<i32>());
    (-(1i64 << 40)..(1i64 << 40), any::<i64>(), any::<i64>(), codec(), flags, producer, vec(record, 0..20)).prop_map(
        |(base_offset, base_timestamp, max_timestamp, compression, flags, producer, records)| {
            let (log_append, is_transactional, is_control, has_delete_horizon) = flags;
            let (producer_id, producer_epoch, base_sequence, partition_leader_epoch, last_offset_delta) = producer;
            RecordBatch {
                base_offset,
                partition_leader_epoch,
                compression,
                timestamp_type: if log_append { TimestampType::LogAppendTime } else { TimestampType::CreateTime },
                is_transactional,
                is_control,
                has_delete_horizon,
                last_offset_delta,
                base_timestamp,
                max_timestamp,
                producer_id,
                producer_epoch,
                base_sequence,
                records: records
                    .into_iter()
                    .map(|(delta, timestamp, key, value, headers)| Record {
                        offset: base_offset + delta,
                        timestamp,
                        key,
                        value,
                        headers,
                    })
                    .collect(),
            }
        },
    )
}

fn encoded(batch: &RecordBatch) -> BytesMut {
    let mut buf = BytesMut::new();
    batch.encode(&mut buf).unwrap();
    buf
}

/// Decodes everything every way there is; the results do not matter, only that
/// there is one.
fn decode_all_ways(input: Bytes, verify_crc: bool) {
    let opts = DecodeOptions::default().with_verify_crc(verify_crc).with_max_decompressed_size(1 << 20);
    let _ = decode_batches(input.clone(), &opts);
    let _ = RecordBatch::decode(&mut input.clone(), &opts);
    let mut batches = RecordBatches::new(input, &opts);
    for batch in batches.by_ref().flatten() {
        for record in &batch.records {
            let _ = RecordBatch::control_record(record);
        }
    }
    let _ = batches.truncated_tail();
}

proptest! {
    #[test]
    fn roundtrip_in_every_codec(batch in batch()) {
        let bytes = encoded(&batch);
        let decoded = RecordBatch::decode(&mut bytes.clone().freeze(), &DecodeOptions::default()).unwrap();
        prop_assert_eq!(&decoded, &batch);
        // Re-encoding gives the same bytes (compressors included: they are deterministic).
        prop_assert_eq!(encoded(&decoded), bytes);
    }

    #[test]
    fn uncompressed_roundtrip_is_byte_identical_and_zero_copy(mut batch in batch()) {
        batch.compression = Compression::None;
        let bytes = encoded(&batch).freeze();
        let decoded = decode_batches(bytes.clone(), &DecodeOptions::default()).unwrap();
        prop_assert_eq!(decoded.len(), 1);
        prop_assert_eq!(encoded(&decoded[0]).freeze(), bytes.clone());
        let range = bytes.as_ptr_range();
        for record in &decoded[0].records {
            for value in record.key.iter().chain(&record.value).filter(|v| !v.is_empty()) {
                prop_assert!(range.contains(&value.as_ptr()), "copied");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in vec(any::<u8>(), 0..512), verify_crc: bool) {
        decode_all_ways(Bytes::from(input), verify_crc);
    }

    /// Arbitrary bytes behind a valid magic and length, so that (without the CRC
    /// check) they reach the decompressors and the record parser.
    #[test]
    fn arbitrary_batch_bodies_never_panic(mut input in vec(any::<u8>(), 61..1024), codec in codec()) {
        let length = i32::try_from(input.len() - 12).unwrap();
        input[8..12].copy_from_slice(&length.to_be_bytes());
        input[16] = 2;
        input[22] = (input[22] & !0x07) | u8::try_from(codec.id()).unwrap();
        decode_all_ways(Bytes::from(input), false);
    }

    #[test]
    fn mutated_batches_never_panic(
        batch in batch(),
        mutations in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate: bool,
        verify_crc: bool,
    ) {
        let mut bytes = encoded(&batch);
        for (at, byte) in mutations {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        decode_all_ways(bytes.freeze(), verify_crc);
    }

    /// Mutations inside the compressed section only, header and CRC kept valid
    /// (the CRC recomputed), so every codec's decoder sees corrupt input.
    #[test]
    fn corrupt_compressed_sections_never_panic(
        mut batch in batch(),
        codec in codec(),
        mutations in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        batch.compression = codec;
        let mut bytes = encoded(&batch);
        if bytes.len() > 61 {
            for (at, byte) in mutations {
                let at = 61 + at.index(bytes.len() - 61);
                bytes[at] = byte;
            }
            let crc = crc32c::crc32c(&bytes[21..]);
            bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        decode_all_ways(bytes.freeze(), true);
    }
}
