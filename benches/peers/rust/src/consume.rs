//! The Rust peers' consumers for benches/peers/run.sh: read RECORDS records of TOPIC
//! from the start of every partition, without a group (as `kcat -C` and our `consume`
//! without `--group`), counting them; stop at the RECORDSth.
//!
//! - `rdkafka-base-consumer`: rust-rdkafka's `BaseConsumer`, partitions assigned at
//!   their beginning, polled in a loop;
//! - `rdkafka-stream-consumer`: rust-rdkafka's `StreamConsumer`, the same assignment,
//!   read through its `stream()`;
//! - `rskafka-consumer`: rskafka's `StreamConsumer`, one per partition from
//!   `StartOffset::Earliest`, all on the runtime at once.
//!
//! librdkafka gets `fetch.wait.max.ms=100` (kcat's default too), auto-commit off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::Options;

/// Gives up when nothing arrives for this long.
const IDLE: Duration = Duration::from_secs(30);

fn librdkafka_config(options: &Options) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &options.brokers)
        .set("group.id", "peer-bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100");
    config
}

fn assignment(options: &Options) -> Result<TopicPartitionList, String> {
    let mut list = TopicPartitionList::new();
    for partition in 0..options.partitions {
        list.add_partition_offset(&options.topic, partition, Offset::Beginning).map_err(|e| e.to_string())?;
    }
    Ok(list)
}

pub fn rdkafka_base(options: &Options) -> Result<usize, String> {
    let consumer: BaseConsumer = librdkafka_config(options).create().map_err(|e| e.to_string())?;
    consumer.assign(&assignment(options)?).map_err(|e| e.to_string())?;
    let (mut count, mut bytes) = (0, 0);
    let mut idle_since = std::time::Instant::now();
    while count < options.records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                count += 1;
                bytes += message.payload().map_or(0, <[u8]>::len);
                idle_since = std::time::Instant::now();
            }
            Some(Err(e)) => return Err(e.to_string()),
            None if idle_since.elapsed() > IDLE => break,
            None => {}
        }
    }
    eprintln!("peer-bench: {bytes} value bytes");
    Ok(count)
}

pub async fn rdkafka_stream(options: &Options) -> Result<usize, String> {
    let consumer: StreamConsumer = librdkafka_config(options).create().map_err(|e| e.to_string())?;
    consumer.assign(&assignment(options)?).map_err(|e| e.to_string())?;
    let mut stream = consumer.stream();
    let (mut count, mut bytes) = (0, 0);
    while count < options.records {
        match tokio::time::timeout(IDLE, stream.next()).await {
            Ok(Some(Ok(message))) => {
                count += 1;
                bytes += message.payload().map_or(0, <[u8]>::len);
            }
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) | Err(_) => break,
        }
    }
    eprintln!("peer-bench: {bytes} value bytes");
    Ok(count)
}

pub async fn rskafka(options: &Options) -> Result<usize, String> {
    use rskafka::client::consumer::{StartOffset, StreamConsumerBuilder};
    use rskafka::client::partition::UnknownTopicHandling;
    use rskafka::client::ClientBuilder;

    let bootstrap = options.brokers.split(',').map(str::to_owned).collect();
    let client = ClientBuilder::new(bootstrap).build().await.map_err(|e| e.to_string())?;
    let count = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for partition in 0..options.partitions {
        let partition_client = client
            .partition_client(options.topic.as_str(), partition, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| e.to_string())?;
        let mut stream =
            StreamConsumerBuilder::new(Arc::new(partition_client), StartOffset::Earliest).with_max_wait_ms(100).build();
        let (count, done, total) = (count.clone(), done.clone(), options.records);
        tasks.push(tokio::spawn(async move {
            while let Some(next) = stream.next().await {
                match next {
                    Ok(_) => {
                        if count.fetch_add(1, Ordering::Relaxed) + 1 >= total {
                            done.notify_one();
                        }
                    }
                    Err(e) => {
                        eprintln!("peer-bench rskafka partition {partition}: {e}");
                        break;
                    }
                }
            }
        }));
    }
    let mut last = 0;
    while count.load(Ordering::Relaxed) < options.records {
        if tokio::time::timeout(IDLE, done.notified()).await.is_err() {
            let now = count.load(Ordering::Relaxed);
            if now == last {
                break;
            }
            last = now;
        }
    }
    for task in tasks {
        task.abort();
    }
    Ok(count.load(Ordering::Relaxed).min(options.records))
}
