//! The record batches inside the recorded frames (tests/fixtures, captured from
//! librdkafka 2.0.2 and 2.16 and tansu) decode with our record layer: every Produce
//! batch in the codec its file name says, with its CRC checked; uncompressed batches
//! re-encode byte for byte; compressed ones re-encode (with our compressors) to a batch
//! that decodes equal. Every Fetch response's batches decode too.

use std::fs;
use std::path::{Path, PathBuf};

use actix_kafka::protocol::messages::{FetchResponse, ProduceRequest};
use actix_kafka::protocol::record::{Compression, DecodeOptions, RecordBatch, RecordBatches};
use actix_kafka::protocol::{ApiKey, Decode, RequestHeader, ResponseHeader};
use bytes::{Bytes, BytesMut};

fn fixtures(prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut found = Vec::new();
    for dir in fs::read_dir(&root).expect("tests/fixtures").flatten() {
        for file in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && name.ends_with(suffix) {
                found.push(file.path());
            }
        }
    }
    found.sort();
    found
}

/// `produce_v7_lz4_request.bin` -> (7, Lz4).
fn version_and_codec(path: &Path) -> (i16, Compression) {
    let name = path.file_name().unwrap().to_string_lossy();
    let parts: Vec<&str> = name.split('_').collect();
    let version = parts[1].trim_start_matches('v').parse().expect("a version in the name");
    (version, parts[2].parse().expect("a codec in the name"))
}

fn all_batches(records: Bytes, what: &str) -> Vec<RecordBatch> {
    let options = DecodeOptions::default();
    let mut batches = RecordBatches::new(records, &options);
    let decoded: Vec<RecordBatch> = batches.by_ref().map(|b| b.unwrap_or_else(|e| panic!("{what}: {e}"))).collect();
    assert!(!batches.truncated_tail() || !decoded.is_empty(), "{what}: only a truncated batch");
    decoded
}

#[test]
fn produce_batches_from_librdkafka_decode_in_their_codec() {
    let files = fixtures("produce_", "_request.bin");
    assert!(files.len() >= 15, "only {} produce fixtures", files.len());
    for path in files {
        let (version, codec) = version_and_codec(&path);
        let what = path.display().to_string();
        let mut frame = Bytes::from(fs::read(&path).unwrap());
        RequestHeader::decode(&mut frame).unwrap();
        let request = ProduceRequest::decode(&mut frame, version).unwrap();
        let raw = request.topic_data[0].partition_data[0].records.clone().expect("records");
        let batches = all_batches(raw.clone(), &what);
        assert_eq!(batches.len(), 1, "{what}");
        let batch = &batches[0];
        assert_eq!(batch.compression, codec, "{what}");
        assert!(!batch.records.is_empty(), "{what}");
        assert!(batch.records.iter().all(|r| r.value.as_ref().is_some_and(|v| !v.is_empty())), "{what}");

        let mut again = BytesMut::new();
        batch.encode(&mut again).unwrap();
        if codec == Compression::None {
            assert_eq!(&again[..], &raw[..], "{what}: uncompressed batches re-encode byte for byte");
        }
        let reread = RecordBatch::decode(&mut again.freeze(), &DecodeOptions::default()).unwrap();
        assert_eq!(&reread, batch, "{what}");
    }
}

#[test]
fn fetched_batches_decode() {
    let files = fixtures("fetch_", "_response.bin");
    assert!(files.len() >= 4, "only {} fetch fixtures", files.len());
    let mut records = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let version: i16 = name.split('_').nth(1).unwrap().trim_start_matches('v').parse().unwrap();
        let mut frame = Bytes::from(fs::read(&path).unwrap());
        ResponseHeader::decode(&mut frame, ApiKey::Fetch.response_header_version(version)).unwrap();
        let response = FetchResponse::decode(&mut frame, version).unwrap();
        for partition in response.responses.iter().flat_map(|t| &t.partitions) {
            let batches = all_batches(partition.records.clone().unwrap_or_default(), &path.display().to_string());
            records += batches.iter().map(|b| b.records.len()).sum::<usize>();
        }
    }
    assert!(records > 0, "the fetch fixtures hold records");
}
