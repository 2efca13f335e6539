//! The producer actor: records one at a time (`send().await`), then a whole
//! [`ProduceBatch`], each acknowledgement printed with its partition and offset; then
//! flush and close.
//!
//! ```text
//! cargo run --example producer                                  # an embedded 3-node cluster
//! cargo run --example producer -- --brokers 127.0.0.1:9092 [--topic T]   # a running cluster
//! ```
//!
//! On a running cluster the topic must exist (or the cluster must create topics on
//! first use).

use std::error::Error;

use actix::Actor;
use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::producer::{Acks, Close, Flush, Produce, ProduceBatch, Producer, ProducerRecord};
use bytes::Bytes;

/// The topic of the embedded run, created with this many partitions.
const PARTITIONS: i32 = 6;

#[actix_rt::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (brokers, topic) = arguments()?;

    // Without --brokers: a 3-node cluster in this process, on free loopback ports.
    let cluster = match brokers {
        Some(_) => None,
        None => {
            let cluster = EmbeddedCluster::builder()
                .nodes(3)
                .default_partitions(PARTITIONS)
                .listen("127.0.0.1:0".parse()?)
                .start()
                .await?;
            cluster.create_topic(&topic, PARTITIONS).await?;
            Some(cluster)
        }
    };
    let bootstrap = brokers.unwrap_or_else(|| cluster.as_ref().map(EmbeddedCluster::bootstrap).unwrap_or_default());
    println!("producing to {topic} on {bootstrap}");

    let producer =
        Producer::builder().bootstrap(&bootstrap).client_id("producer-example").acks(Acks::All).build()?.start();

    // One record at a time: each `send` resolves once the record is acknowledged.
    // Records with the same key go to the same partition, in order.
    for i in 0..5 {
        let produce = Produce::to(topic.as_str())
            .key(format!("user-{}", i % 2))
            .value(format!("signed in ({i})"))
            .header("source", Bytes::from_static(b"examples/producer.rs"));
        let metadata = producer.send(produce).await??;
        println!("send:  {}[{}] @ {}", metadata.topic, metadata.partition, metadata.offset);
    }

    // A batch in one message: one reply with a result per record, in order.
    let records = (0..10).map(|i| ProducerRecord {
        key: Some(Bytes::from(format!("order-{i}"))),
        value: Some(Bytes::from(format!("{{\"order\": {i}, \"total\": {}}}", 10 * i + 5))),
        ..ProducerRecord::default()
    });
    let results = producer.send(ProduceBatch::to(topic.as_str()).records(records)).await??;
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(metadata) => {
                println!("batch: order-{i} -> {}[{}] @ {}", metadata.topic, metadata.partition, metadata.offset)
            }
            Err(e) => eprintln!("batch: order-{i} failed: {e}"),
        }
    }

    // Flush waits for everything buffered; Close flushes too, then stops the actor.
    producer.send(Flush).await??;
    producer.send(Close).await??;
    if let Some(cluster) = cluster {
        cluster.shutdown().await?;
    }
    Ok(())
}

/// `--brokers B` (none: the embedded cluster) and `--topic T` (default `example`).
fn arguments() -> Result<(Option<String>, String), String> {
    let mut brokers = None;
    let mut topic = "example".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--brokers" | "-b" => brokers = Some(value()?),
            "--topic" | "-t" => topic = value()?,
            other => return Err(format!("unknown argument {other:?}; usage: producer [--brokers B] [--topic T]")),
        }
    }
    Ok((brokers, topic))
}
