//! Control records (`RECORD_BATCH.md`, "Control batches"): the single record of a
//! batch with the control bit set.
//!
//! The key is `version: int16, type: int16`. For the two transaction markers, ABORT
//! (0) and COMMIT (1), the value is `version: int16, coordinator_epoch: int32`
//! (Kafka's `EndTransactionMarker`). The other types (LEADER_CHANGE and the KRaft
//! snapshot records) are surfaced as [`ControlRecord::Other`]; clients never need
//! their values.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::RecordError;
use super::record::Record;

/// The control record type of an ABORT marker.
const ABORT: i16 = 0;
/// The control record type of a COMMIT marker.
const COMMIT: i16 = 1;
/// The key and end-transaction-marker value versions we write.
const CURRENT_VERSION: i16 = 0;

/// A parsed control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecord {
    /// The transaction of the batch's producer id was aborted: consumers reading
    /// `read_committed` drop its records.
    Abort {
        /// The transaction coordinator's epoch when it wrote the marker.
        coordinator_epoch: i32,
    },
    /// The transaction of the batch's producer id was committed.
    Commit {
        /// The transaction coordinator's epoch when it wrote the marker.
        coordinator_epoch: i32,
    },
    /// Any other control type (2 LEADER_CHANGE, 3-6 KRaft records, or newer ones).
    Other {
        /// The type from the key.
        kind: i16,
    },
}

fn invalid(reason: &'static str) -> RecordError {
    RecordError::InvalidControlRecord { reason }
}

/// The big-endian `int16` at `at`, if the bytes are there.
fn int16_at(bytes: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

impl ControlRecord {
    /// Parses a control record's key and value.
    ///
    /// As Kafka does, a key version newer than 0 is read as version 0, and bytes after
    /// the fields we know are ignored.
    ///
    /// # Errors
    ///
    /// [`RecordError::InvalidControlRecord`] for a null or short key, a negative
    /// version, or a marker with a null or short value.
    pub fn parse(record: &Record) -> Result<Self, RecordError> {
        let key = record.key.as_deref().ok_or_else(|| invalid("null key"))?;
        let version = int16_at(key, 0).ok_or_else(|| invalid("key shorter than 4 bytes"))?;
        let kind = int16_at(key, 2).ok_or_else(|| invalid("key shorter than 4 bytes"))?;
        if version < 0 {
            return Err(invalid("negative key version"));
        }
        if kind != ABORT && kind != COMMIT {
            return Ok(ControlRecord::Other { kind });
        }
        let value = record.value.as_deref().ok_or_else(|| invalid("transaction marker with a null value"))?;
        let marker_version = int16_at(value, 0).ok_or_else(|| invalid("transaction marker value too short"))?;
        if marker_version < 0 {
            return Err(invalid("negative transaction marker version"));
        }
        let epoch = value.get(2..6).and_then(|b| b.try_into().ok()).map(i32::from_be_bytes);
        let coordinator_epoch = epoch.ok_or_else(|| invalid("transaction marker value too short"))?;
        Ok(match kind {
            ABORT => ControlRecord::Abort { coordinator_epoch },
            _ => ControlRecord::Commit { coordinator_epoch },
        })
    }

    /// The control type the key carries.
    pub fn kind(&self) -> i16 {
        match *self {
            ControlRecord::Abort { .. } => ABORT,
            ControlRecord::Commit { .. } => COMMIT,
            ControlRecord::Other { kind } => kind,
        }
    }

    /// The record's key: version 0 and the type.
    pub fn key(&self) -> Bytes {
        let mut key = BytesMut::with_capacity(4);
        key.put_i16(CURRENT_VERSION);
        key.put_i16(self.kind());
        key.freeze()
    }

    /// The record's value: the end-transaction marker for ABORT and COMMIT, `None`
    /// for other types (whose values this crate does not write).
    pub fn value(&self) -> Option<Bytes> {
        match *self {
            ControlRecord::Abort { coordinator_epoch } | ControlRecord::Commit { coordinator_epoch } => {
                let mut value = BytesMut::with_capacity(6);
                value.put_i16(CURRENT_VERSION);
                value.put_i32(coordinator_epoch);
                Some(value.freeze())
            }
            ControlRecord::Other { .. } => None,
        }
    }

    /// The control record as a [`Record`], for a control batch at `offset`.
    pub fn to_record(&self, offset: i64, timestamp: i64) -> Record {
        Record { offset, timestamp, key: Some(self.key()), value: self.value(), headers: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record::{decode_batches, Compression, DecodeOptions, RecordBatch};

    /// A COMMIT marker batch as Kafka writes it: uncompressed, transactional and
    /// control bits set, baseSequence -1.
    fn marker_batch(marker: ControlRecord) -> RecordBatch {
        RecordBatch {
            base_offset: 42,
            partition_leader_epoch: 3,
            is_transactional: true,
            is_control: true,
            base_timestamp: 1_000,
            max_timestamp: 1_000,
            producer_id: 7,
            producer_epoch: 1,
            records: vec![marker.to_record(42, 1_000)],
            ..RecordBatch::default()
        }
    }

    #[test]
    fn abort_and_commit_markers_parse() {
        for marker in [ControlRecord::Abort { coordinator_epoch: 5 }, ControlRecord::Commit { coordinator_epoch: 9 }] {
            let mut buf = BytesMut::new();
            marker_batch(marker).encode(&mut buf).unwrap();
            // attributes = 0x30: control + transactional, no compression.
            assert_eq!(&buf[21..23], &[0x00, 0x30]);
            let batches = decode_batches(buf.freeze(), &DecodeOptions::default()).unwrap();
            let batch = &batches[0];
            assert!(batch.is_control && batch.is_transactional);
            assert_eq!(batch.compression, Compression::None);
            assert_eq!(RecordBatch::control_record(&batch.records[0]).unwrap(), marker);
        }
    }

    #[test]
    fn hand_written_commit_marker() {
        let record = Record {
            key: Some(Bytes::from_static(&[0, 0, 0, 1])),
            value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 17])),
            ..Record::default()
        };
        assert_eq!(ControlRecord::parse(&record).unwrap(), ControlRecord::Commit { coordinator_epoch: 17 });
        // A newer key version is read as version 0; trailing value bytes are ignored.
        let record = Record {
            key: Some(Bytes::from_static(&[0, 1, 0, 0, 9])),
            value: Some(Bytes::from_static(&[0, 1, 0xff, 0xff, 0xff, 0xff, 3])),
            ..Record::default()
        };
        assert_eq!(ControlRecord::parse(&record).unwrap(), ControlRecord::Abort { coordinator_epoch: -1 });
        let leader_change = Record { key: Some(Bytes::from_static(&[0, 0, 0, 2])), ..Record::default() };
        assert_eq!(ControlRecord::parse(&leader_change).unwrap(), ControlRecord::Other { kind: 2 });
    }

    #[test]
    fn malformed_control_records_are_errors() {
        let cases = [
            (None, None),
            (Some(&[0u8, 0, 0][..]), None),
            (Some(&[0xff, 0xff, 0, 0][..]), None),
            (Some(&[0, 0, 0, 0][..]), None),
            (Some(&[0, 0, 0, 1][..]), Some(&[0u8, 0, 0, 0, 1][..])),
            (Some(&[0, 0, 0, 1][..]), Some(&[0x80u8, 0, 0, 0, 0, 1][..])),
        ];
        for (key, value) in cases {
            let record = Record {
                key: key.map(Bytes::copy_from_slice),
                value: value.map(Bytes::copy_from_slice),
                ..Record::default()
            };
            assert!(matches!(ControlRecord::parse(&record), Err(RecordError::InvalidControlRecord { .. })), "{key:?}");
        }
    }
}
