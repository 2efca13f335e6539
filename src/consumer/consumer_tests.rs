//! The consumer's half of the coordinator contract, driven by hand against the
//! embedded broker: `PartitionsAssigned` starts partition consumers at the given
//! positions, acknowledgements reach the coordinator, `RevokePartitions` drains, tells
//! the subscriber and answers the acknowledged offsets, `PartitionsLost` stops at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::*;
use crate::consumer::internal::{PartitionsAssigned, PartitionsLost, RevokePartitions};
use crate::consumer::{HandlerError, TopicPartition};
use crate::embedded::EmbeddedCluster;
use crate::producer::{ProduceBatch, Producer, ProducerRecord};

const WAIT: Duration = Duration::from_secs(20);

#[derive(Default, Clone)]
struct Log {
    records: Arc<Mutex<Vec<(i32, i64)>>>,
    events: Arc<Mutex<Vec<String>>>,
    acks: Arc<Mutex<Vec<(i32, i64)>>>,
}

struct Fake {
    log: Log,
    changed: watch::Sender<()>,
}

impl Actor for Fake {
    type Context = Context<Self>;
}

impl Handler<Records> for Fake {
    type Result = Result<(), HandlerError>;
    fn handle(&mut self, msg: Records, _: &mut Context<Self>) -> Self::Result {
        self.log.records.lock().unwrap().extend(msg.records.iter().map(|r| (r.partition, r.offset)));
        self.changed.send_replace(());
        Ok(())
    }
}

impl Handler<ConsumerEvent> for Fake {
    type Result = ();
    fn handle(&mut self, event: ConsumerEvent, _: &mut Context<Self>) {
        let name = match event {
            ConsumerEvent::Assigned { partitions } => format!("assigned {}", partitions.len()),
            ConsumerEvent::Revoked { partitions } => format!("revoked {}", partitions[0]),
            ConsumerEvent::Lost { partitions } => format!("lost {}", partitions[0]),
            other => format!("{other:?}"),
        };
        self.log.events.lock().unwrap().push(name);
        self.changed.send_replace(());
    }
}

impl Handler<crate::consumer::internal::Acknowledged> for Fake {
    type Result = ();
    fn handle(&mut self, ack: crate::consumer::internal::Acknowledged, _: &mut Context<Self>) {
        self.log.acks.lock().unwrap().push((ack.partition.partition, ack.offset));
        self.changed.send_replace(());
    }
}

async fn wait_until(changed: &mut watch::Receiver<()>, done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(WAIT, async {
        while !done() {
            changed.changed().await.unwrap();
        }
    })
    .await;
    assert!(waited.is_ok(), "condition not reached within {WAIT:?}");
}

#[actix_rt::test]
async fn assignments_from_the_coordinator_are_consumed_revoked_and_lost() {
    let cluster = EmbeddedCluster::builder().listen("127.0.0.1:0".parse().unwrap()).start().await.unwrap();
    cluster.create_topic("t", 2).await.unwrap();
    let producer = Producer::builder().bootstrap(&cluster.bootstrap()).build().unwrap().start();
    for partition in 0..2 {
        let records = (0..10).map(|i| ProducerRecord::new(format!("{i}")).partition(partition));
        producer.send(ProduceBatch::to("t").records(records)).await.unwrap().unwrap();
    }

    let log = Log::default();
    let (changed, mut watch) = watch::channel(());
    let fake = Fake { log: log.clone(), changed }.start();
    let mut consumer =
        Consumer::builder().bootstrap(&cluster.bootstrap()).fetch_max_wait(Duration::from_millis(50)).build().unwrap();
    consumer.subscriber = Some(Subscriber {
        records: fake.clone().recipient(),
        events: Some(fake.clone().recipient()),
        coordinator: Some(fake.clone().recipient()),
    });
    let consumer = consumer.start();

    let (t0, t1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
    let partitions = vec![
        (t0.clone(), StartPosition::Earliest),
        (t1.clone(), StartPosition::Offset { offset: 5, leader_epoch: -1 }),
    ];
    consumer.send(PartitionsAssigned { partitions }).await.unwrap();
    wait_until(&mut watch, || log.records.lock().unwrap().len() >= 15).await;
    let mut records = log.records.lock().unwrap().clone();
    records.sort_unstable();
    let want: Vec<(i32, i64)> = (0..10).map(|o| (0, o)).chain((5..10).map(|o| (1, o))).collect();
    assert_eq!(records, want);
    wait_until(&mut watch, || log.acks.lock().unwrap().iter().filter(|a| a.1 == 10).count() == 2).await;

    let answer = consumer.send(RevokePartitions { partitions: vec![t0.clone()] }).await.unwrap();
    assert_eq!(answer.into_iter().map(|(tp, (offset, _))| (tp, offset)).collect::<Vec<_>>(), [(t0, 10)]);
    assert_eq!(*log.events.lock().unwrap(), ["assigned 2", "revoked t-0"], "Revoked is handled before the answer");
    consumer.send(PartitionsLost { partitions: vec![t1] }).await.unwrap();
    let stats = consumer.send(GetConsumerStats).await.unwrap();
    assert!(stats.partitions.is_empty(), "{stats:?}");
    assert_eq!(stats.records_acknowledged, 15);
    wait_until(&mut watch, || log.events.lock().unwrap().len() == 3).await;
    assert_eq!(log.events.lock().unwrap()[2], "lost t-1");
    consumer.send(Close).await.unwrap().unwrap();
    cluster.shutdown().await.unwrap();
}
