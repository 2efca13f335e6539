//! A consumer group of three: three `Consumer`s with the same `group_id`, each
//! delivering to its own actor, share a 12-partition topic. Midway through, member 3
//! closes: its in-flight deliveries finish, its acknowledged offsets are committed,
//! it leaves the group, and the other two take its partitions over from there.
//! Prints who got what, and every assignment change as it happens.
//!
//! ```text
//! cargo run --example consumer_group                          # an embedded 3-node cluster
//! cargo run --example consumer_group -- --brokers HOST:PORT   # a running cluster (topic auto-created)
//! ```

use std::collections::BTreeSet;
use std::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use actix_kafka::consumer::{Close, Consumer, ConsumerEvent, HandlerError, OffsetReset, Records, Subscribe};
use actix_kafka::embedded::EmbeddedCluster;
use actix_kafka::producer::{ProduceBatch, Producer, ProducerRecord};

const PARTITIONS: i32 = 12;
const RECORDS: usize = 30_000;

/// One member's subscriber: counts records, remembers which it saw, and prints its
/// rebalance events.
struct Member {
    name: &'static str,
    seen: BTreeSet<usize>,
    received: usize,
}

impl Actor for Member {
    type Context = Context<Self>;
}

impl Handler<Records> for Member {
    type Result = Result<(), HandlerError>;

    fn handle(&mut self, delivery: Records, _: &mut Context<Self>) -> Self::Result {
        for record in &delivery.records {
            let value = std::str::from_utf8(record.value.as_deref().unwrap_or_default())?;
            if let Some(n) = value.strip_prefix("order-").and_then(|n| n.parse().ok()) {
                self.seen.insert(n);
            }
            self.received += 1;
        }
        Ok(())
    }
}

impl Handler<ConsumerEvent> for Member {
    type Result = ();

    fn handle(&mut self, event: ConsumerEvent, _: &mut Context<Self>) {
        match event {
            ConsumerEvent::Assigned { partitions } => println!("{}: assigned {}", self.name, names(&partitions)),
            ConsumerEvent::Revoked { partitions } => println!("{}: revoked {}", self.name, names(&partitions)),
            ConsumerEvent::Lost { partitions } => println!("{}: lost {}", self.name, names(&partitions)),
            other => println!("{}: {other:?}", self.name),
        }
    }
}

fn names(partitions: &[actix_kafka::consumer::TopicPartition]) -> String {
    let list: Vec<String> = partitions.iter().map(|tp| tp.partition.to_string()).collect();
    format!("[{}]", list.join(","))
}

/// Answers what the member saw.
#[derive(Message)]
#[rtype(result = "(usize, BTreeSet<usize>)")]
struct Report;

impl Handler<Report> for Member {
    type Result = MessageResult<Report>;

    fn handle(&mut self, _: Report, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.received, self.seen.clone()))
    }
}

#[actix_rt::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let brokers = match std::env::args().nth(1).as_deref() {
        Some("--brokers") => Some(std::env::args().nth(2).ok_or("--brokers needs HOST:PORT")?),
        Some(other) => return Err(format!("unknown argument {other:?}").into()),
        None => None,
    };
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let topic = format!("orders-{run}");
    let cluster = match brokers {
        Some(_) => None,
        None => {
            let cluster = EmbeddedCluster::builder().nodes(3).default_partitions(PARTITIONS).start().await?;
            cluster.create_topic(&topic, PARTITIONS).await?;
            Some(cluster)
        }
    };
    let bootstrap = brokers.unwrap_or_else(|| cluster.as_ref().map(EmbeddedCluster::bootstrap).unwrap_or_default());

    // Three members of one group, each a Consumer delivering to its own actor.
    let mut members = Vec::new();
    for name in ["member-1", "member-2", "member-3"] {
        let member = Member { name, seen: BTreeSet::new(), received: 0 }.start();
        let consumer = Consumer::builder()
            .bootstrap(&bootstrap)
            .client_id(name)
            .group_id(format!("billing-{run}"))
            .offset_reset(OffsetReset::Earliest)
            .heartbeat_interval(Duration::from_millis(500))
            .session_timeout(Duration::from_secs(10))
            .build()?
            .start();
        let subscribe =
            Subscribe::topics([topic.as_str()]).to(member.clone().recipient()).events(member.clone().recipient());
        consumer.send(subscribe).await??;
        members.push((name, member, consumer));
    }

    // Produce the first half, let the three share it, stop member 3, produce the rest.
    let producer = Producer::builder().bootstrap(&bootstrap).build()?.start();
    let produce = |from: usize, to: usize| {
        let records = (from..to).map(|i| ProducerRecord::new(format!("order-{i}")).key(format!("customer-{}", i % 97)));
        producer.send(ProduceBatch::to(topic.as_str()).records(records))
    };
    produce(0, RECORDS / 2).await??;
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("member-3: closing");
    members[2].2.send(Close).await??;
    produce(RECORDS / 2, RECORDS).await??;

    // Wait until the two remaining members (with what member 3 got) saw everything.
    let mut all = BTreeSet::new();
    for _ in 0..120 {
        all.clear();
        for (_, member, _) in &members {
            all.extend(member.send(Report).await?.1);
        }
        if all.len() == RECORDS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut total = 0;
    for (name, member, consumer) in &members {
        let (received, _) = member.send(Report).await?;
        total += received;
        println!("{name}: {received} records");
        if *name != "member-3" {
            consumer.send(Close).await??;
        }
    }
    println!("group: {} distinct of {RECORDS} records, {} delivered twice", all.len(), total - all.len());
    if let Some(cluster) = cluster {
        cluster.shutdown().await?;
    }
    if all.len() != RECORDS {
        std::process::exit(1);
    }
    Ok(())
}
