//! The embedded broker (in-process, 3 nodes) against kcat: every codec on both
//! librdkafkas, a two-member consumer group, and the idempotent producer under
//! injected errors. Every record must come back exactly once, equal, in order.

mod broker_support;
mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use actix_kafka::protocol::{ApiKey, ErrorCode};
use broker_support::clients::KCAT_FORMAT;
use broker_support::records::parse_line;
use broker_support::{
    assert_exactly_once, blocking, generate, kcat_consume_all, kcat_produce, soak, start_cluster, KafkaRecord,
};
use support::process::{lines, ChildGuard};
use support::{require_peer, Librdkafka, Peer};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const PARTITIONS: i32 = 6;

/// Records per codec and for the group: 20,000 (200,000 with `ACTIX_KAFKA_SOAK=1`).
fn record_count() -> usize {
    soak(20_000, 200_000)
}

fn peers_present(lib: Librdkafka) -> bool {
    require_peer(Peer::Kcat).is_some() && require_peer(Peer::Librdkafka(lib)).is_some()
}

/// 20,000 keyed records per codec into a 6-partition topic of a 3-node cluster, read
/// back with `kcat -C -e`.
async fn every_codec_round_trips(lib: Librdkafka) {
    if !peers_present(lib) {
        return;
    }
    let topics: Vec<String> = CODECS.iter().map(|codec| format!("kcat-{codec}")).collect();
    let specs: Vec<(&str, i32)> = topics.iter().map(|t| (t.as_str(), PARTITIONS)).collect();
    let cluster = start_cluster(3, &specs).await;
    let bootstrap = cluster.bootstrap();
    for (codec, topic) in CODECS.iter().zip(&topics) {
        let started = Instant::now();
        let records = generate(&format!("{}-{codec}", lib.label()), record_count());
        let (b, t, r) = (bootstrap.clone(), topic.clone(), records.clone());
        blocking(move || kcat_produce(lib, &b, &t, codec, &r, &[])).await;
        let (b, t) = (bootstrap.clone(), topic.clone());
        let got = blocking(move || kcat_consume_all(lib, &b, &t)).await;
        assert_exactly_once(&format!("kcat on {}, {codec}", lib.label()), &records, &got);
        let partitions: BTreeSet<i32> = got.iter().map(|r| r.partition).collect();
        assert_eq!(partitions.len(), PARTITIONS as usize, "{codec}: the keys spread over every partition");
        eprintln!("{} {codec}: {} records out and back in {:?}", lib.label(), record_count(), started.elapsed());
    }
    cluster.shutdown().await.expect("shutdown");
}

#[actix_rt::test]
async fn every_codec_round_trips_with_kcat_on_librdkafka_2_16() {
    every_codec_round_trips(Librdkafka::V2_16).await;
}

#[actix_rt::test]
async fn every_codec_round_trips_with_kcat_on_librdkafka_2_0_2() {
    every_codec_round_trips(Librdkafka::System).await;
}

/// One `kcat -G` member: its consumed records on stdout, its rebalance notices on
/// stderr.
struct Member {
    _child: ChildGuard,
    records: Receiver<String>,
    notices: Receiver<String>,
    assigned: BTreeSet<i32>,
    consumed: Vec<KafkaRecord>,
}

impl Member {
    fn start(lib: Librdkafka, bootstrap: &str, group: &str, topic: &str) -> Member {
        let mut command = Command::new("kcat");
        command.args(["-b", bootstrap, "-G", group, "-u", "-f", KCAT_FORMAT]);
        for setting in [
            "auto.offset.reset=earliest",
            "session.timeout.ms=6000",
            "heartbeat.interval.ms=250",
            "fetch.wait.max.ms=100",
            "topic.metadata.refresh.interval.ms=1000",
        ] {
            command.args(["-X", setting]);
        }
        command.arg(topic).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(dir) = lib.library_dir() {
            command.env("LD_LIBRARY_PATH", dir);
        }
        let mut child = ChildGuard(command.spawn().expect("run kcat -G"));
        let records = lines(child.0.stdout.take().expect("stdout"));
        let notices = lines(child.0.stderr.take().expect("stderr"));
        Member { _child: child, records, notices, assigned: BTreeSet::new(), consumed: Vec::new() }
    }

    /// Reads what the member has printed so far; returns its stderr lines.
    fn poll(&mut self) -> Vec<String> {
        while let Ok(line) = self.records.try_recv() {
            self.consumed.push(parse_line(&line));
        }
        let notices: Vec<String> = self.notices.try_iter().collect();
        for notice in &notices {
            // "% Group G rebalanced (memberid M): assigned: t [0], t [3]" / "revoked: ..."
            if let Some((_, partitions)) = notice.split_once("assigned:") {
                self.assigned =
                    partitions.split('[').skip(1).filter_map(|p| p.split(']').next()?.parse().ok()).collect();
            } else if notice.contains("revoked:") {
                self.assigned.clear();
            }
        }
        notices
    }
}

/// Two `kcat -G` members first settle on a split of the 6 partitions, then 20,000
/// records are produced: between them the members get every record exactly once.
#[actix_rt::test]
async fn two_kcat_group_members_share_a_topic() {
    let lib = Librdkafka::V2_16;
    if !peers_present(lib) {
        return;
    }
    let cluster = start_cluster(3, &[("group-topic", PARTITIONS)]).await;
    let bootstrap = cluster.bootstrap();
    blocking(move || {
        let mut members = [
            Member::start(lib, &bootstrap, "kcat-group", "group-topic"),
            Member::start(lib, &bootstrap, "kcat-group", "group-topic"),
        ];
        let mut log = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for m in &mut members {
                log.extend(m.poll());
            }
            let [a, b] = &members;
            let all: BTreeSet<i32> = a.assigned.union(&b.assigned).copied().collect();
            if !a.assigned.is_empty() && !b.assigned.is_empty() && a.assigned.is_disjoint(&b.assigned) && all.len() == 6
            {
                break;
            }
            assert!(Instant::now() < deadline, "the members did not split the partitions in 30 s:\n{}", log.join("\n"));
            thread::sleep(Duration::from_millis(50));
        }

        let records = generate("group", record_count());
        kcat_produce(lib, &bootstrap, "group-topic", "lz4", &records, &[]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while members.iter().map(|m| m.consumed.len()).sum::<usize>() < record_count() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            for m in &mut members {
                log.extend(m.poll());
            }
        }
        // A little longer, so that a duplicate delivered late is seen too.
        thread::sleep(Duration::from_millis(500));
        for m in &mut members {
            log.extend(m.poll());
        }
        let got: Vec<KafkaRecord> = members.iter().flat_map(|m| m.consumed.iter().cloned()).collect();
        assert_exactly_once("two kcat -G members", &records, &got);
        for (i, m) in members.iter().enumerate() {
            assert!(!m.consumed.is_empty(), "member {i} consumed nothing");
            let partitions: BTreeSet<i32> = m.consumed.iter().map(|r| r.partition).collect();
            assert!(partitions.is_subset(&m.assigned), "member {i} read {partitions:?}, assigned {:?}", m.assigned);
        }
        eprintln!("members consumed {} and {}", members[0].consumed.len(), members[1].consumed.len());
    })
    .await;
    cluster.shutdown().await.expect("shutdown");
}

/// kcat's idempotent producer (acks=all) through NOT_LEADER_OR_FOLLOWER answers and
/// two connections dropped after the append (the producer cannot know the batch was
/// written and sends it again): no duplicate, nothing lost, order kept.
#[actix_rt::test]
async fn idempotent_kcat_survives_injected_errors() {
    let lib = Librdkafka::V2_16;
    if !peers_present(lib) {
        return;
    }
    let cluster = start_cluster(3, &[("idempotent", PARTITIONS)]).await;
    cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 3, None).await.expect("inject errors");
    cluster.drop_after_append(2).await.expect("drop after append");
    let bootstrap = cluster.bootstrap();
    let records = generate("idempotent", 5_000);
    let (b, r) = (bootstrap.clone(), records.clone());
    let log = blocking(move || {
        let settings = ["enable.idempotence=true", "acks=all", "retry.backoff.ms=50", "linger.ms=20"];
        let mut extra: Vec<&str> = settings.iter().flat_map(|s| ["-X", s]).collect();
        // librdkafka's debug log shows which faults the producer went through.
        extra.extend(["-d", "msg"]);
        kcat_produce(lib, &b, "idempotent", "snappy", &r, &extra)
    })
    .await;
    // Both faults really happened: a refusal (nothing written) and a lost answer
    // (written, and the producer cannot know).
    assert!(log.contains("Not leader for partition"), "no NOT_LEADER_OR_FOLLOWER seen by the producer:\n{log}");
    assert!(log.contains("MsgPossiblyPersisted"), "no connection dropped after an append:\n{log}");
    let got = blocking(move || kcat_consume_all(lib, &bootstrap, "idempotent")).await;
    assert_exactly_once("idempotent kcat under injected errors", &records, &got);
    cluster.shutdown().await.expect("shutdown");
}
