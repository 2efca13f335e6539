//! Shared by the `producer_*` tests: the records a test sends, our producer sending
//! them (reply by reply, or as delivery reports in strict send order), kcat reading
//! them back with null keys told apart from empty ones, and the checks.
//!
//! Include it after the other harnesses: `mod support; mod broker_support; mod
//! producer_support;`. Tests run under `#[actix_rt::test]`: blocking calls (kcat, the
//! mock's commands) go through `broker_support::blocking`.

// Each test crate uses its own part of the harness.
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler};
use actix_kafka::producer::{
    DeliveryReport, Produce, ProduceBatch, ProduceError, Producer, ProducerRecord, RecordMetadata,
};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::broker_support::blocking;
use crate::support::kcat::kcat_ok;
use crate::support::Librdkafka;

/// kcat's output format for [`parse_records`]: the key's length tells a null key (-1)
/// from an empty one.
pub const KCAT_FORMAT: &str = "%p\t%o\t%K\t%k\t%s\n";

/// One record as the test sends it; texts without tabs or newlines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sent {
    /// The key, `None` for a null key.
    pub key: Option<String>,
    /// The value.
    pub value: String,
}

/// One record as kcat read it back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stored {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The key, `None` for a null key.
    pub key: Option<String>,
    /// The value.
    pub value: String,
}

/// `n` records labelled `label`: every other one keyed `key-{i % keys}`, values
/// distinct.
pub fn some_keyed(label: &str, n: usize, keys: usize) -> Vec<Sent> {
    (0..n)
        .map(|i| Sent {
            key: (i % 2 == 0).then(|| format!("key-{}", (i / 2) % keys)),
            value: format!("{label}-{i}-{}", "v".repeat(i % 17)),
        })
        .collect()
}

/// `n` records all keyed: `k{j}` for j = i % keys, values `k{j}:{seq}` with `seq`
/// counting that key's records, so that a partition's order can be checked per key.
pub fn sequenced(n: usize, keys: usize) -> Vec<Sent> {
    let mut next = vec![0usize; keys];
    (0..n)
        .map(|i| {
            let key = i % keys;
            let seq = next[key];
            next[key] += 1;
            Sent { key: Some(format!("k{key}")), value: format!("k{key}:{seq}") }
        })
        .collect()
}

/// A producer record of `sent`.
pub fn record(sent: &Sent) -> ProducerRecord {
    ProducerRecord {
        key: sent.key.clone().map(Bytes::from),
        value: Some(Bytes::from(sent.value.clone())),
        ..ProducerRecord::default()
    }
}

/// A `Produce` of `sent` to `topic`.
pub fn produce(topic: &str, sent: &Sent) -> Produce {
    let produce = Produce::to(topic).value(Bytes::from(sent.value.clone()));
    match &sent.key {
        Some(key) => produce.key(Bytes::from(key.clone())),
        None => produce,
    }
}

/// Sends every record with its own `send()`, all outstanding at once, and returns the
/// replies in the order of `records`; a mailbox error is a test failure.
pub async fn send_each(
    producer: &Addr<Producer>,
    topic: &str,
    records: &[Sent],
) -> Vec<Result<RecordMetadata, ProduceError>> {
    let mut tasks = JoinSet::new();
    for (i, sent) in records.iter().enumerate() {
        let request = producer.send(produce(topic, sent));
        tasks.spawn_local(async move { (i, request.await) });
    }
    let mut replies: Vec<Option<Result<RecordMetadata, ProduceError>>> = vec![None; records.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, reply) = done.expect("a send task");
        replies[i] = Some(reply.unwrap_or_else(|e| panic!("record {i}: the producer's mailbox: {e}")));
    }
    replies.into_iter().map(|r| r.expect("every record has a reply")).collect()
}

/// Sends `records` as one `ProduceBatch` and returns its per-record results.
pub async fn send_batch(
    producer: &Addr<Producer>,
    topic: &str,
    records: &[Sent],
) -> Vec<Result<RecordMetadata, ProduceError>> {
    let batch = ProduceBatch::to(topic).records(records.iter().map(record));
    let results = producer
        .send(batch)
        .await
        .unwrap_or_else(|e| panic!("ProduceBatch: the producer's mailbox: {e}"))
        .unwrap_or_else(|e| panic!("ProduceBatch refused as a whole: {e}"));
    assert_eq!(results.len(), records.len(), "one result per record of the batch");
    results
}

/// Receives delivery reports: `do_send` with `report_to` keeps the send order, which
/// concurrent `send()`s do not promise once the mailbox is full.
pub struct Reports(mpsc::UnboundedSender<DeliveryReport>);

impl Actor for Reports {
    type Context = Context<Self>;
}

impl Handler<DeliveryReport> for Reports {
    type Result = ();

    fn handle(&mut self, report: DeliveryReport, _: &mut Context<Self>) {
        // The test may have given up waiting: then nobody needs the report.
        let _gone: Result<(), _> = self.0.send(report);
    }
}

/// A [`Reports`] actor and the receiving end of its reports.
pub fn reports() -> (Addr<Reports>, mpsc::UnboundedReceiver<DeliveryReport>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Reports(tx).start(), rx)
}

/// Waits for `n` reports, at most `timeout` in all.
///
/// # Panics
///
/// When fewer than `n` arrive in time.
pub async fn collect_reports(
    rx: &mut mpsc::UnboundedReceiver<DeliveryReport>,
    n: usize,
    timeout: Duration,
) -> Vec<DeliveryReport> {
    let mut reports = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + timeout;
    while reports.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(report)) => reports.push(report),
            Ok(None) => panic!("the reports channel closed after {} of {n} reports", reports.len()),
            Err(_) => panic!("{} of {n} delivery reports within {timeout:?}", reports.len()),
        }
    }
    reports
}

/// Reads all of `topic` with kcat on `lib`, from the beginning to the current end.
pub async fn read_back(lib: Librdkafka, bootstrap: &str, topic: &str) -> Vec<Stored> {
    let args: Vec<String> = ["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", KCAT_FORMAT]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let output = blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kcat_ok(lib, &args, b"").stdout
    })
    .await;
    parse_records(&output)
}

/// Parses [`KCAT_FORMAT`] lines.
///
/// # Panics
///
/// On a line of another shape.
pub fn parse_records(output: &[u8]) -> Vec<Stored> {
    let text = String::from_utf8_lossy(output);
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(5, '\t').collect();
            let [partition, offset, key_len, key, value] = fields[..] else { panic!("not a record line: {line:?}") };
            Stored {
                partition: partition.parse().unwrap_or_else(|e| panic!("partition in {line:?}: {e}")),
                offset: offset.parse().unwrap_or_else(|e| panic!("offset in {line:?}: {e}")),
                key: (key_len != "-1").then(|| key.to_string()),
                value: value.to_string(),
            }
        })
        .collect()
}

/// Asserts that every record was acknowledged, that each reply's partition and offset
/// hold exactly that record in what kcat read, and that kcat read nothing else.
///
/// # Panics
///
/// With `label` and the first differences.
pub fn assert_replies_match(
    label: &str,
    sent: &[Sent],
    replies: &[Result<RecordMetadata, ProduceError>],
    stored: &[Stored],
) {
    let failed: Vec<_> =
        replies.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e))).take(5).collect();
    assert!(failed.is_empty(), "{label}: records failed (first {failed:?})");
    let at: BTreeMap<(i32, i64), &Stored> = stored.iter().map(|s| ((s.partition, s.offset), s)).collect();
    assert_eq!(at.len(), stored.len(), "{label}: kcat read some (partition, offset) twice");
    let mut wrong = Vec::new();
    for (i, (sent, reply)) in sent.iter().zip(replies).enumerate() {
        let metadata = reply.as_ref().expect("checked above");
        match at.get(&(metadata.partition, metadata.offset)) {
            Some(s) if s.key == sent.key && s.value == sent.value => {}
            other => wrong.push(format!(
                "record {i} {sent:?} acknowledged at {}[{}]@{} holds {other:?}",
                metadata.topic, metadata.partition, metadata.offset
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{label}: {} of {} replies name another record; first: {:#?}",
        wrong.len(),
        sent.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(stored.len(), sent.len(), "{label}: kcat read {} records for {} sent", stored.len(), sent.len());
}

/// Asserts that keyed records were acknowledged on `murmur2_partition(key, partitions)`.
pub fn assert_keyed_on_murmur2(
    label: &str,
    sent: &[Sent],
    replies: &[Result<RecordMetadata, ProduceError>],
    partitions: i32,
) {
    for (sent, reply) in sent.iter().zip(replies) {
        let (Some(key), Ok(metadata)) = (&sent.key, reply) else { continue };
        let expected = actix_kafka::producer::partitioner::murmur2_partition(key.as_bytes(), partitions);
        assert_eq!(metadata.partition, expected, "{label}: key {key:?} landed on the wrong partition");
    }
}

/// Asserts that, per key, the stored values are `k:0, k:1, ...` in offset order with
/// none missing and none twice (records from [`sequenced`]), and that each key stayed
/// on one partition.
pub fn assert_per_key_order(label: &str, sent: &[Sent], stored: &[Stored]) {
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for s in sent {
        *expected.entry(s.key.as_deref().expect("sequenced records are keyed")).or_default() += 1;
    }
    let mut by_key: BTreeMap<&str, Vec<&Stored>> = BTreeMap::new();
    for s in stored {
        by_key.entry(s.key.as_deref().unwrap_or("<null>")).or_default().push(s);
    }
    let mut problems = Vec::new();
    for (key, count) in &expected {
        let mut records = by_key.remove(key).unwrap_or_default();
        records.sort_by_key(|s| (s.partition, s.offset));
        let partitions: std::collections::BTreeSet<i32> = records.iter().map(|s| s.partition).collect();
        if partitions.len() > 1 {
            problems.push(format!("{key}: on partitions {partitions:?}"));
        }
        let seqs: Vec<usize> = records
            .iter()
            .map(|s| s.value.rsplit_once(':').and_then(|(_, n)| n.parse().ok()).unwrap_or(usize::MAX))
            .collect();
        if seqs != (0..*count).collect::<Vec<_>>() {
            let first_bad = seqs.iter().enumerate().position(|(i, s)| *s != i).unwrap_or(seqs.len());
            let window = &seqs[first_bad.saturating_sub(3)..(first_bad + 4).min(seqs.len())];
            problems.push(format!(
                "{key}: {} records stored for {count} sent; first out of place at #{first_bad}: ...{window:?}",
                seqs.len()
            ));
        }
    }
    if !by_key.is_empty() {
        problems.push(format!("unexpected keys: {:?}", by_key.keys().take(5).collect::<Vec<_>>()));
    }
    assert!(problems.is_empty(), "{label}: per-key order broken:\n{}", problems.join("\n"));
}
