//! The quickstart: produce 100,000 records through the producer actor, awaiting every
//! reply, then receive all of them in a consumer actor that is a member of a consumer
//! group; print counts and throughput, and exit non-zero if any record was lost or
//! delivered twice.
//!
//! ```text
//! cargo run --release --example quickstart                          # an embedded 3-node cluster
//! cargo run --release --example quickstart -- --brokers HOST:PORT   # a running cluster
//! cargo run --release --example quickstart -- --records 1000000
//! ```
//!
//! On a running cluster the topic (`quickstart-<unix time>`, fresh each run) is
//! created on first use, which needs `auto.create.topics.enable` (Kafka's default).

use std::error::Error;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use actix_kafka::consumer::{self, Consumer, HandlerError, OffsetReset, Records, Subscribe};
use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::producer::{self, Produce, Producer};
use actix_kafka::producer::{ProduceError, RecordMetadata};
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinSet};

/// What a `send(Produce)` answers: the actor's reply, inside the mailbox's result.
type SendResult = Result<Result<RecordMetadata, ProduceError>, MailboxError>;

/// Partitions of the embedded run's topic.
const PARTITIONS: i32 = 6;
/// Sends awaited together: enough to keep every partition's batches full.
const WINDOW: usize = 10_000;
/// How long the consumer may take before the run counts as failed.
const CONSUME_TIMEOUT: Duration = Duration::from_secs(120);

/// The subscriber: checks every record's sequence number off a list.
struct Tally {
    seen: Vec<bool>,
    received: usize,
    duplicates: usize,
    foreign: usize,
    done: Option<oneshot::Sender<()>>,
}

impl Actor for Tally {
    type Context = Context<Self>;
}

impl Handler<Records> for Tally {
    type Result = Result<(), HandlerError>;

    fn handle(&mut self, delivery: Records, _: &mut Context<Self>) -> Self::Result {
        for record in &delivery.records {
            let value = record.value.as_deref().unwrap_or_default();
            let seq = std::str::from_utf8(value)?.strip_prefix("record-").and_then(|n| n.parse::<usize>().ok());
            match seq.and_then(|n| self.seen.get_mut(n)) {
                Some(seen) if *seen => self.duplicates += 1,
                Some(seen) => {
                    *seen = true;
                    self.received += 1;
                }
                None => self.foreign += 1,
            }
        }
        if self.received == self.seen.len() {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
        Ok(())
    }
}

/// Answers the tally's counts.
#[derive(Message)]
#[rtype(result = "(usize, usize, usize)")]
struct Counts;

impl Handler<Counts> for Tally {
    type Result = MessageResult<Counts>;

    fn handle(&mut self, _: Counts, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.received, self.duplicates, self.foreign))
    }
}

#[actix_rt::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (brokers, records) = arguments()?;
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let topic = format!("quickstart-{run}");

    // Without --brokers: a 3-node Kafka-compatible cluster in this process.
    let cluster = match brokers {
        Some(_) => None,
        None => {
            let cluster = EmbeddedCluster::builder().nodes(3).default_partitions(PARTITIONS).start().await?;
            cluster.create_topic(&topic, PARTITIONS).await?;
            Some(cluster)
        }
    };
    let bootstrap = brokers.unwrap_or_else(|| cluster.as_ref().map(EmbeddedCluster::bootstrap).unwrap_or_default());
    println!("quickstart: {records} records to {topic} on {bootstrap}");

    // Produce: one `Produce` message per record, every reply awaited (its partition
    // and offset), up to WINDOW of them outstanding at once. Each send is its own
    // task, so records wait in the producer's batches together rather than one by one.
    let producer = Producer::builder().bootstrap(&bootstrap).client_id("quickstart").build()?.start();
    let started = Instant::now();
    let mut acknowledged = 0;
    let mut replies = JoinSet::new();
    for i in 0..records {
        if replies.len() >= WINDOW {
            acknowledged += acknowledge(replies.join_next().await)?;
        }
        let record = Produce::to(topic.as_str()).key(format!("key-{}", i % 1000)).value(format!("record-{i}"));
        replies.spawn_local(producer.send(record));
    }
    while let Some(reply) = replies.join_next().await {
        acknowledged += acknowledge(Some(reply))?;
    }
    let produce_time = started.elapsed();
    producer.send(producer::Close).await??;
    println!(
        "produced: {acknowledged} records acknowledged in {:.2} s ({:.0} records/s)",
        produce_time.as_secs_f64(),
        acknowledged as f64 / produce_time.as_secs_f64()
    );

    // Consume: a consumer actor in a group receives every record; its replies
    // acknowledge them, and acknowledged offsets are committed.
    let (done, finished) = oneshot::channel();
    let tally = Tally { seen: vec![false; records], received: 0, duplicates: 0, foreign: 0, done: Some(done) }.start();
    let consumer = Consumer::builder()
        .bootstrap(&bootstrap)
        .client_id("quickstart")
        .group_id(format!("quickstart-{run}"))
        .offset_reset(OffsetReset::Earliest)
        .build()?
        .start();
    let started = Instant::now();
    consumer.send(Subscribe::topics([topic.as_str()]).to(tally.clone().recipient())).await??;
    let completed = tokio::time::timeout(CONSUME_TIMEOUT, finished).await.is_ok();
    let consume_time = started.elapsed();
    consumer.send(consumer::Close).await??;
    let (received, duplicates, foreign) = tally.send(Counts).await?;
    println!(
        "consumed: {received} records in {:.2} s ({:.0} records/s), {duplicates} duplicates, {} lost",
        consume_time.as_secs_f64(),
        received as f64 / consume_time.as_secs_f64(),
        records - received
    );

    if let Some(cluster) = cluster {
        cluster.shutdown().await?;
    }
    if !completed || received != records || duplicates > 0 || foreign > 0 {
        eprintln!("quickstart: FAILED ({} lost, {duplicates} duplicated, {foreign} unexpected)", records - received);
        std::process::exit(1);
    }
    println!("quickstart: OK, every record produced once and consumed once");
    Ok(())
}

/// Checks one send's reply: 1 for an acknowledged record, the error otherwise.
fn acknowledge(reply: Option<Result<SendResult, JoinError>>) -> Result<usize, Box<dyn Error>> {
    match reply {
        Some(reply) => {
            let metadata = reply???;
            debug_assert!(metadata.offset >= 0, "acks=all replies carry the offset");
            Ok(1)
        }
        None => Ok(0),
    }
}

/// `--brokers HOST:PORT` and `--records N` (default 100,000).
fn arguments() -> Result<(Option<String>, usize), Box<dyn Error>> {
    let mut brokers = None;
    let mut records = 100_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--brokers" => brokers = Some(args.next().ok_or("--brokers needs HOST:PORT")?),
            "--records" => records = args.next().ok_or("--records needs a number")?.parse()?,
            other => return Err(format!("unknown argument {other:?} (use --brokers HOST:PORT, --records N)").into()),
        }
    }
    Ok((brokers, records))
}
