//! Throughput of the producer actor, for `benches/peers/producer_bench.sh`: RECORDS
//! records of SIZE bytes (`0000000042-xxxx...`, no key) to TOPIC, through one of two
//! APIs:
//!
//! - `--api send`: one `Produce` per record, `send().await`ed, with up to WINDOW
//!   replies outstanding (a window of 1 is the strictly synchronous producer);
//! - `--api batch`: `ProduceBatch`es of BATCH records, up to 4 outstanding.
//!
//! ```text
//! cargo run --release --example produce_bench -- --brokers B --topic T \
//!     [--api send|batch] [--records 1000000] [--size 100] [--acks 0|1|all] [--window 10000] [--batch 10000]
//! ```
//!
//! Prints one line, `api=send records=N ok=N failed=0 seconds=S records_per_s=R`, and
//! exits 1 when a record failed.

use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use actix::{Actor, Addr};
use actix_kafka::producer::{Acks, Close, Produce, ProduceBatch, Producer, ProducerRecord};
use bytes::Bytes;
use tokio::task::JoinSet;

/// `ProduceBatch`es outstanding at once.
const BATCHES_IN_FLIGHT: usize = 4;

#[derive(Debug)]
struct Options {
    brokers: String,
    topic: String,
    api: String,
    records: usize,
    size: usize,
    acks: Acks,
    window: usize,
    batch: usize,
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("produce_bench: {e}");
            return ExitCode::from(2);
        }
    };
    let system = actix_rt::System::new();
    match system.block_on(run(&options)) {
        Ok((ok, failed, seconds)) => {
            println!(
                "api={} records={} ok={ok} failed={failed} seconds={seconds:.3} records_per_s={:.0}",
                options.api,
                options.records,
                ok as f64 / seconds
            );
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("produce_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Produces every record; (acknowledged, failed, seconds).
async fn run(options: &Options) -> Result<(u64, u64, f64), Box<dyn Error>> {
    let producer =
        Producer::builder().bootstrap(&options.brokers).client_id("produce-bench").acks(options.acks).build()?.start();
    let started = Instant::now();
    let (ok, failed) = match options.api.as_str() {
        "send" => by_send(&producer, options).await,
        _ => by_batch(&producer, options).await,
    };
    let seconds = started.elapsed().as_secs_f64();
    producer.send(Close).await??;
    Ok((ok, failed, seconds))
}

/// The record with index `i`: exactly `size` bytes.
fn value(i: usize, size: usize) -> Bytes {
    let mut value = format!("{i:010}-").into_bytes();
    value.resize(size, b'x');
    Bytes::from(value)
}

async fn by_send(producer: &Addr<Producer>, options: &Options) -> (u64, u64) {
    let (mut ok, mut failed) = (0, 0);
    let mut count = |done: Option<Result<bool, tokio::task::JoinError>>| match done {
        Some(Ok(true)) => ok += 1,
        Some(_) => failed += 1,
        None => {}
    };
    let mut outstanding = JoinSet::new();
    for i in 0..options.records {
        while outstanding.len() >= options.window {
            count(outstanding.join_next().await);
        }
        let request = producer.send(Produce::to(options.topic.as_str()).value(value(i, options.size)));
        outstanding.spawn_local(async move { matches!(request.await, Ok(Ok(_))) });
    }
    while let Some(done) = outstanding.join_next().await {
        count(Some(done));
    }
    (ok, failed)
}

async fn by_batch(producer: &Addr<Producer>, options: &Options) -> (u64, u64) {
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut count = |done: Option<Result<(u64, u64), tokio::task::JoinError>>| {
        if let Some(Ok((batch_ok, batch_failed))) = done {
            ok += batch_ok;
            failed += batch_failed;
        }
    };
    let mut outstanding = JoinSet::new();
    let mut next = 0;
    while next < options.records {
        while outstanding.len() >= BATCHES_IN_FLIGHT {
            count(outstanding.join_next().await);
        }
        let end = (next + options.batch).min(options.records);
        let records =
            (next..end).map(|i| ProducerRecord { value: Some(value(i, options.size)), ..ProducerRecord::default() });
        let size = (end - next) as u64;
        let request = producer.send(ProduceBatch::to(options.topic.as_str()).records(records));
        outstanding.spawn_local(async move {
            match request.await {
                Ok(Ok(results)) => {
                    let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
                    (ok, size - ok)
                }
                _ => (0, size),
            }
        });
        next = end;
    }
    while let Some(done) = outstanding.join_next().await {
        count(Some(done));
    }
    (ok, failed)
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        brokers: String::new(),
        topic: String::new(),
        api: "batch".into(),
        records: 1_000_000,
        size: 100,
        acks: Acks::All,
        window: 10_000,
        batch: 10_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let number = |v: &str| {
            v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{arg} {v}: not a positive number"))
        };
        match arg.as_str() {
            "--brokers" => options.brokers = value,
            "--topic" => options.topic = value,
            "--api" if value == "send" || value == "batch" => options.api = value,
            "--records" => options.records = number(&value)?,
            "--size" => options.size = number(&value)?,
            "--window" => options.window = number(&value)?,
            "--batch" => options.batch = number(&value)?,
            "--acks" => {
                options.acks = match value.as_str() {
                    "0" => Acks::None,
                    "1" => Acks::Leader,
                    "all" | "-1" => Acks::All,
                    other => return Err(format!("--acks {other}: expected 0, 1 or all")),
                }
            }
            other => return Err(format!("unknown argument {other} {value}")),
        }
    }
    if options.brokers.is_empty() || options.topic.is_empty() {
        return Err("--brokers and --topic are required".into());
    }
    Ok(options)
}
