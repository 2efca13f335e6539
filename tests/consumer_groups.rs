//! Consumer groups end to end, through the public `Consumer` only: three members
//! splitting twelve partitions, a member closing mid-way, a member dying without
//! leaving, a restart resuming at the committed offsets, cooperative-sticky moving only
//! what it must, static membership surviving a restart, and mixed groups with
//! `kcat -G` (librdkafka), on librdkafka's mock cluster and on tansu.
//!
//! Each member's partitions are replayed from its `Assigned` / `Revoked` / `Lost`
//! events; what it acknowledged is what its collector kept.

mod broker_support;
mod consumer_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use actix_kafka::consumer::assignor::{Assignor, CooperativeStickyAssignor, RangeAssignor};
use actix_kafka::consumer::{
    Close, Commit, Consumer, ConsumerBuilder, ConsumerEvent, ConsumerRecord, GetConsumerStats, OffsetReset, Subscribe,
    TopicPartition,
};
use broker_support::start_cluster;
use consumer_support::*;
use support::process::{lines, ChildGuard};
use support::{require_peer, Librdkafka, MockCluster, Peer, Tansu};

const TOPIC: &str = "orders";

/// A group member with short timers: heartbeats every 100 ms, commits every 200 ms.
fn group_builder(bootstrap: &str, group: &str, session: Duration) -> ConsumerBuilder {
    Consumer::builder()
        .bootstrap(bootstrap)
        .group_id(group)
        .offset_reset(OffsetReset::Earliest)
        .session_timeout(session)
        .heartbeat_interval(Duration::from_millis(100))
        .rebalance_timeout(Duration::from_secs(10))
        .auto_commit_interval(Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(100))
        .redelivery_backoff(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

/// One of our group members and what its subscriber saw.
struct Member {
    consumer: Addr<Consumer>,
    collecting: Collecting,
}

impl Member {
    async fn start(builder: ConsumerBuilder, collecting: Collecting) -> Member {
        let consumer = builder.build().expect("a valid consumer config").start();
        let recipient = collecting.addr.clone();
        let subscribe = Subscribe::topics([TOPIC]).to(recipient.clone().recipient()).events(recipient.recipient());
        consumer.send(subscribe).await.expect("mailbox").expect("subscribed");
        Member { consumer, collecting }
    }

    fn owned(&self) -> BTreeSet<TopicPartition> {
        owned(&self.collecting.seen.events())
    }

    fn records(&self) -> Vec<ConsumerRecord> {
        self.collecting.seen.records()
    }

    async fn close(&self) {
        self.consumer.send(Close).await.expect("mailbox").expect("close");
    }
}

/// Every record the members acknowledged, ordered by partition and offset (a
/// partition may have moved between members, each delivering its part in order).
fn merged<'a>(seen: impl IntoIterator<Item = &'a Seen>) -> Vec<ConsumerRecord> {
    let mut records: Vec<ConsumerRecord> = seen.into_iter().flat_map(Seen::records).collect();
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

fn partitions(n: i32) -> BTreeSet<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(TOPIC, p)).collect()
}

/// Whether the owners split `n` partitions: disjoint, together all, none empty.
fn is_split(owners: &[BTreeSet<TopicPartition>], n: i32) -> bool {
    let total: usize = owners.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<TopicPartition> = owners.iter().flatten().cloned().collect();
    owners.iter().all(|o| !o.is_empty()) && total == union.len() && union == partitions(n)
}

async fn wait_split(members: &[&Member], n: i32) {
    let owners = || members.iter().map(|m| m.owned()).collect::<Vec<_>>();
    wait_until(
        &format!("{} members to split {n} partitions", members.len()),
        || is_split(&owners(), n),
        || format!("{:?}", owners()),
    )
    .await;
}

async fn wait_acknowledged(members: &[&Member], n: usize) {
    let total = || members.iter().map(|m| m.collecting.seen.records.lock().unwrap().len()).sum::<usize>();
    wait_until(&format!("{n} records acknowledged"), || total() >= n, || format!("{}", total())).await;
}

fn partition_set(records: &[ConsumerRecord]) -> BTreeSet<TopicPartition> {
    records.iter().map(|r| TopicPartition::new(r.topic.clone(), r.partition)).collect()
}

#[actix_rt::test]
async fn three_members_split_twelve_partitions_and_read_every_record_once() {
    let cluster = start_cluster(3, &[(TOPIC, 12)]).await;
    let b = cluster.bootstrap();
    let builder = || group_builder(&b, "split", Duration::from_secs(3)).max_records_per_delivery(100);
    let a = Member::start(builder(), Collecting::plain()).await;
    let bm = Member::start(builder(), Collecting::plain()).await;
    let c = Member::start(builder(), Collecting::plain()).await;
    let members = [&a, &bm, &c];
    wait_split(&members, 12).await;
    // Range over three members: four partitions each.
    assert!(members.iter().all(|m| m.owned().len() == 4), "{:?}", members.map(|m| m.owned()));

    produce_numbered(&b, TOPIC, 12, 500).await;
    wait_acknowledged(&members, 12 * 500).await;
    assert_exactly_once(&merged(members.map(|m| &m.collecting.seen)), &all(12, 500));

    let mut generations = BTreeSet::new();
    let mut leaders = 0;
    for m in members {
        let records = m.records();
        assert!(partition_set(&records).is_subset(&m.owned()), "a member read only what it owns");
        let stats = m.consumer.send(GetConsumerStats).await.unwrap();
        let in_stats: BTreeSet<TopicPartition> = stats.partitions.keys().cloned().collect();
        assert_eq!(in_stats, m.owned(), "the stats name the owned partitions");
        assert_eq!(stats.records_acknowledged, records.len() as u64);
        let group = stats.group.expect("a group member has group stats");
        assert_eq!(group.protocol.as_deref(), Some("range"));
        generations.insert(group.generation_id);
        leaders += usize::from(group.is_leader);
    }
    assert_eq!(generations.len(), 1, "every member is in the same generation: {generations:?}");
    assert_eq!(leaders, 1, "exactly one leader");
    for m in members {
        m.close().await;
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_member_closing_mid_way_hands_its_partitions_over_without_loss_or_duplicates() {
    let cluster = start_cluster(3, &[(TOPIC, 12)]).await;
    let b = cluster.bootstrap();
    // Slow subscribers (20 ms per 50-record delivery), so the close lands mid-way.
    let builder = || group_builder(&b, "closing", Duration::from_secs(3)).max_records_per_delivery(50);
    let slow = || Collecting::start(0, Duration::from_millis(20));
    let a = Member::start(builder(), slow()).await;
    let bm = Member::start(builder(), slow()).await;
    let c = Member::start(builder(), slow()).await;
    wait_split(&[&a, &bm, &c], 12).await;
    let c_partitions = c.owned();

    let n = 1_000;
    produce_numbered(&b, TOPIC, 12, n).await;
    wait_acknowledged(&[&a, &bm, &c], 12 * n / 4).await;
    c.close().await;
    let c_records = c.records();
    assert!(c_records.len() < 4 * n, "c closed mid-way ({} records)", c_records.len());

    wait_split(&[&a, &bm], 12).await;
    wait_acknowledged(&[&a, &bm, &c], 12 * n).await;
    // Drain then revoke, and commit on close: what c acknowledged is not delivered
    // again, and what it did not is delivered to the new owners.
    assert_exactly_once(&merged([&a.collecting.seen, &bm.collecting.seen, &c.collecting.seen]), &all(12, n));
    assert_eq!(c.records().len(), c_records.len(), "nothing reached c after its close");
    let taken_over: BTreeSet<TopicPartition> =
        partition_set(&a.records()).union(&partition_set(&bm.records())).cloned().collect();
    assert!(c_partitions.is_subset(&taken_over), "a and b finished c's partitions");
    for m in [&a, &bm] {
        assert!(
            m.collecting.seen.events().iter().any(|e| matches!(e, ConsumerEvent::Revoked { .. })),
            "range is eager: the survivors revoked before rejoining"
        );
        m.close().await;
    }
    cluster.shutdown().await.unwrap();
}

/// A member on its own actix `System` and thread, so that stopping that system kills
/// it as a crashed process dies: no LeaveGroup, no commit, its sockets closed.
struct Remote {
    seen: Seen,
    system: actix_rt::System,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Remote {
    async fn start(builder: ConsumerBuilder) -> Remote {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_rt::System::new();
            let member = system.block_on(async move {
                let member = Member::start(builder, Collecting::plain()).await;
                tx.send((member.collecting.seen.clone(), actix_rt::System::current())).expect("test alive");
                member
            });
            system.run().expect("the member's system runs");
            drop(member);
        });
        // Off the test's thread: the embedded broker serves the member's join on it.
        let (seen, system) = broker_support::blocking(move || rx.recv()).await.expect("the remote member starts");
        Remote { seen, system, thread: Some(thread) }
    }

    fn owned(&self) -> BTreeSet<TopicPartition> {
        owned(&self.seen.events())
    }

    /// Stops the member's system (every arbiter, the coordinator's too) and joins
    /// its thread; nothing is sent to the group.
    async fn kill(&mut self) {
        self.system.stop();
        let thread = self.thread.take().expect("killed once");
        broker_support::blocking(move || thread.join().expect("the member's thread ends")).await;
    }
}

#[actix_rt::test]
async fn a_member_that_stops_heartbeating_loses_its_partitions_at_the_session_timeout() {
    let cluster = start_cluster(3, &[(TOPIC, 12)]).await;
    let b = cluster.bootstrap();
    let session = Duration::from_millis(1_500);
    let builder = || group_builder(&b, "dying", session).max_records_per_delivery(100);
    let a = Member::start(builder(), Collecting::plain()).await;
    let bm = Member::start(builder(), Collecting::plain()).await;
    let mut c = Remote::start(builder()).await;
    let owners = || vec![a.owned(), bm.owned(), c.owned()];
    wait_until("three members to split 12 partitions", || is_split(&owners(), 12), || format!("{:?}", owners())).await;
    let c_partitions = c.owned();

    let n = 600;
    produce_numbered(&b, TOPIC, 12, n / 2).await;
    let total = || a.records().len() + bm.records().len() + c.seen.records.lock().unwrap().len();
    wait_until("the first half acknowledged", || total() >= 12 * n / 2, || format!("{}", total())).await;
    let killed_at = tokio::time::Instant::now();
    c.kill().await;
    let c_records = c.seen.records();

    wait_split(&[&a, &bm], 12).await;
    let moved_after = killed_at.elapsed();
    produce_range(&b, TOPIC, 12, n / 2..n).await;
    let distinct = || {
        let offsets: BTreeSet<(i32, i64)> =
            a.records().iter().chain(&bm.records()).chain(&c_records).map(|r| (r.partition, r.offset)).collect();
        offsets.len()
    };
    wait_until(
        "every record at least once",
        || distinct() >= 12 * n,
        || {
            let survivors = merged([&a.collecting.seen, &bm.collecting.seen]);
            let last: BTreeMap<i32, i64> = survivors.iter().map(|r| (r.partition, r.offset)).collect();
            format!("{} distinct; survivors' last offsets {last:?}; a {:?} b {:?}", distinct(), a.owned(), bm.owned())
        },
    )
    .await;
    let everything: Vec<ConsumerRecord> = merged([&a.collecting.seen, &bm.collecting.seen, &c.seen]);
    let duplicates = assert_at_least_once(&everything, &all(12, n));
    // At least once: what c acknowledged but had not committed when it died comes
    // again, only on c's partitions; everything else exactly once.
    let survivors = merged([&a.collecting.seen, &bm.collecting.seen]);
    let mut survivors_expected = BTreeMap::new();
    let mut c_expected = BTreeMap::new();
    for p in 0..12 {
        if !c_partitions.contains(&TopicPartition::new(TOPIC, p)) {
            survivors_expected.insert(p, 0..n);
            continue;
        }
        let c_read = c_records.iter().filter(|r| r.partition == p).count();
        let resumed = survivors.iter().find(|r| r.partition == p).map_or(n, |r| r.offset as usize);
        assert!(resumed <= c_read, "partition {p}: resumed at {resumed}, after c's {c_read} records: a gap");
        survivors_expected.insert(p, resumed..n);
        c_expected.insert(p, 0..c_read);
    }
    assert_exactly_once(&survivors, &survivors_expected);
    assert_exactly_once(&c_records, &c_expected);
    eprintln!("{duplicates} records of the dead member redelivered; its partitions moved after {moved_after:?}");
    assert!(moved_after >= session / 2, "the partitions moved at the session timeout, not at once: {moved_after:?}");
    for m in [&a, &bm] {
        m.close().await;
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_restarted_member_resumes_at_the_committed_offsets() {
    let cluster = start_cluster(1, &[(TOPIC, 4)]).await;
    let b = cluster.bootstrap();
    let n = 1_000;
    produce_numbered(&b, TOPIC, 4, n).await;
    let builder = || group_builder(&b, "restart", Duration::from_secs(3)).max_records_per_delivery(100);
    let first = Member::start(builder(), Collecting::start(0, Duration::from_millis(10))).await;
    wait_acknowledged(&[&first], 1_500).await;
    first.close().await;
    let before = first.records();
    assert!(before.len() < 4 * n, "closed mid-way ({} records)", before.len());
    // Close committed exactly what was acknowledged: per partition, the next offset.
    let acknowledged: BTreeMap<i32, usize> =
        (0..4).map(|p| (p, before.iter().filter(|r| r.partition == p).count())).collect();
    assert_exactly_once(&before, &acknowledged.iter().map(|(p, k)| (*p, 0..*k)).collect());

    let second = Member::start(builder(), Collecting::plain()).await;
    wait_acknowledged(&[&second], 4 * n - before.len()).await;
    let after = second.records();
    // Nothing before the committed offsets comes again, nothing after is missing.
    assert_exactly_once(&after, &acknowledged.iter().map(|(p, k)| (*p, *k..n)).collect());
    let stats = second.consumer.send(GetConsumerStats).await.unwrap();
    assert_eq!(stats.records_delivered, (4 * n - before.len()) as u64, "no redelivery at all");
    second.close().await;
    cluster.shutdown().await.unwrap();
}

fn cooperative() -> Vec<Arc<dyn Assignor>> {
    vec![Arc::new(CooperativeStickyAssignor)]
}

#[actix_rt::test]
async fn cooperative_sticky_moves_only_what_a_joining_member_takes() {
    let cluster = start_cluster(3, &[(TOPIC, 12)]).await;
    let b = cluster.bootstrap();
    let builder = || group_builder(&b, "cooperative", Duration::from_secs(3)).assignors(cooperative());
    let a = Member::start(builder(), Collecting::plain()).await;
    let bm = Member::start(builder(), Collecting::plain()).await;
    wait_split(&[&a, &bm], 12).await;
    let n = 300;
    produce_numbered(&b, TOPIC, 12, n).await;
    wait_acknowledged(&[&a, &bm], 12 * n).await;
    let (a_before, b_before) = (a.owned(), bm.owned());
    let (a_events, b_events) = (a.collecting.seen.events().len(), bm.collecting.seen.events().len());

    let c = Member::start(builder(), Collecting::plain()).await;
    wait_split(&[&a, &bm, &c], 12).await;
    // Sticky: a and b only gave up partitions (to c), never got any of each other's.
    assert!(a.owned().is_subset(&a_before) && bm.owned().is_subset(&b_before), "sticky");
    let moved: BTreeSet<TopicPartition> =
        a_before.difference(&a.owned()).chain(b_before.difference(&bm.owned())).cloned().collect();
    assert_eq!(moved, c.owned(), "c got exactly what a and b gave up");
    assert_eq!(c.owned().len(), 4, "balanced: {:?}", c.owned());
    for (m, from, kept) in [(&a, a_events, a.owned()), (&bm, b_events, bm.owned())] {
        for event in &m.collecting.seen.events()[from..] {
            match event {
                ConsumerEvent::Revoked { partitions } => {
                    assert!(partitions.iter().all(|tp| moved.contains(tp)), "revoked only moved ones: {event:?}");
                }
                ConsumerEvent::Lost { .. } | ConsumerEvent::Assigned { .. } => {
                    panic!("a kept member neither loses nor is re-assigned its partitions: {event:?}, kept {kept:?}")
                }
                _ => {}
            }
        }
    }

    produce_range(&b, TOPIC, 12, n..2 * n).await;
    wait_acknowledged(&[&a, &bm, &c], 12 * 2 * n).await;
    assert_exactly_once(&merged([&a.collecting.seen, &bm.collecting.seen, &c.collecting.seen]), &all(12, 2 * n));
    assert!(partition_set(&c.records()).is_subset(&c.owned()));
    for m in [&a, &bm, &c] {
        m.close().await;
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_static_member_restarting_within_its_session_keeps_its_partitions() {
    let cluster = start_cluster(1, &[(TOPIC, 6)]).await;
    let b = cluster.bootstrap();
    // A long session: the restart must not depend on the member's expiry.
    let builder = |id: &str| group_builder(&b, "static", Duration::from_secs(20)).group_instance_id(id);
    let a = Member::start(builder("a"), Collecting::plain()).await;
    let first = Member::start(builder("b"), Collecting::plain()).await;
    wait_split(&[&a, &first], 6).await;
    let n = 200;
    produce_numbered(&b, TOPIC, 6, n).await;
    wait_acknowledged(&[&a, &first], 6 * n).await;
    let owned_before = first.owned();
    let a_generation = a.consumer.send(GetConsumerStats).await.unwrap().group.unwrap().generation_id;
    let a_events = a.collecting.seen.events().len();
    // A static member's close commits but does not leave (KIP-345).
    first.close().await;

    let second = Member::start(builder("b"), Collecting::plain()).await;
    wait_until(
        "the restarted member to own its partitions again",
        || second.owned() == owned_before,
        || format!("{:?} vs {owned_before:?}", second.owned()),
    )
    .await;
    produce_range(&b, TOPIC, 6, n..2 * n).await;
    wait_acknowledged(&[&a, &first, &second], 6 * 2 * n).await;
    assert_exactly_once(&merged([&a.collecting.seen, &first.collecting.seen, &second.collecting.seen]), &all(6, 2 * n));
    let group = a.consumer.send(GetConsumerStats).await.unwrap().group.unwrap();
    assert_eq!(group.generation_id, a_generation, "no rebalance: the generation did not move");
    assert!(a.collecting.seen.events()[a_events..].is_empty(), "a saw no revoke or assignment");
    let second_group = second.consumer.send(GetConsumerStats).await.unwrap().group.unwrap();
    assert_eq!(second_group.generation_id, a_generation);
    for m in [&a, &second] {
        m.close().await;
    }
    cluster.shutdown().await.unwrap();
}

/// A `kcat -G` member printing `partition offset value` per record, its rebalance
/// notices on stderr.
struct KcatMember {
    _child: ChildGuard,
    records: std::sync::mpsc::Receiver<String>,
    notices: std::sync::mpsc::Receiver<String>,
    assigned: BTreeSet<TopicPartition>,
    consumed: Vec<(i32, i64, String)>,
    log: Vec<String>,
}

impl KcatMember {
    fn start(lib: Librdkafka, bootstrap: &str, group: &str) -> KcatMember {
        let mut command = std::process::Command::new("kcat");
        command.args(["-b", bootstrap, "-G", group, "-u", "-f", "%p %o %s\\n"]);
        for setting in [
            "partition.assignment.strategy=range",
            "auto.offset.reset=earliest",
            "session.timeout.ms=6000",
            "heartbeat.interval.ms=100",
            "fetch.wait.max.ms=100",
        ] {
            command.args(["-X", setting]);
        }
        command.arg(TOPIC).stdin(std::process::Stdio::null());
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        if let Some(dir) = lib.library_dir() {
            command.env("LD_LIBRARY_PATH", dir);
        }
        let mut child = ChildGuard(command.spawn().expect("kcat -G starts"));
        let records = lines(child.0.stdout.take().expect("piped stdout"));
        let notices = lines(child.0.stderr.take().expect("piped stderr"));
        KcatMember { _child: child, records, notices, assigned: BTreeSet::new(), consumed: Vec::new(), log: Vec::new() }
    }

    /// Reads what kcat printed so far: records, and "assigned: orders [0], orders [3]"
    /// or "revoked: ..." notices.
    fn poll(&mut self) {
        while let Ok(line) = self.records.try_recv() {
            let mut fields = line.splitn(3, ' ');
            let mut next = || fields.next().unwrap_or_else(|| panic!("kcat line {line:?}"));
            let partition = next().parse().expect("a partition");
            let offset = next().parse().expect("an offset");
            self.consumed.push((partition, offset, next().to_owned()));
        }
        for notice in self.notices.try_iter() {
            if let Some((_, list)) = notice.split_once("assigned:") {
                self.assigned = list
                    .split('[')
                    .skip(1)
                    .filter_map(|p| p.split(']').next()?.parse().ok())
                    .map(|p| TopicPartition::new(TOPIC, p))
                    .collect();
            } else if notice.contains("revoked:") {
                self.assigned.clear();
            }
            self.log.push(notice);
        }
    }
}

/// Two of ours (range) and one `kcat -G` split six partitions, then read every record
/// exactly once between them, each only from what it was assigned.
async fn mixed_group_with_kcat(lib: Librdkafka) {
    if require_peer(Peer::Kcat).is_none() || require_peer(Peer::Librdkafka(lib)).is_none() {
        return;
    }
    let cluster = start_cluster(3, &[(TOPIC, 6)]).await;
    let b = cluster.bootstrap();
    let range: Vec<Arc<dyn Assignor>> = vec![Arc::new(RangeAssignor)];
    let builder = || group_builder(&b, "mixed", Duration::from_secs(6)).assignors(range.clone());
    let a = Member::start(builder(), Collecting::plain()).await;
    let bm = Member::start(builder(), Collecting::plain()).await;
    let kcat = std::cell::RefCell::new(KcatMember::start(lib, &b, "mixed"));
    let owners = || {
        kcat.borrow_mut().poll();
        vec![a.owned(), bm.owned(), kcat.borrow().assigned.clone()]
    };
    let log = || format!("{:?}\n{}", owners(), kcat.borrow().log.join("\n"));
    wait_until("ours and kcat to split 6 partitions", || is_split(&owners(), 6), log).await;
    assert!(owners().iter().all(|o| o.len() == 2), "range: two each: {:?}", owners());

    let n = 1_000;
    produce_numbered(&b, TOPIC, 6, n).await;
    let total = || {
        kcat.borrow_mut().poll();
        a.records().len() + bm.records().len() + kcat.borrow().consumed.len()
    };
    wait_until("every record read by the group", || total() >= 6 * n, || format!("{}", total())).await;
    let kcat = kcat.into_inner();
    let theirs: Vec<ConsumerRecord> = kcat
        .consumed
        .iter()
        .map(|(partition, offset, value)| ConsumerRecord {
            topic: Arc::from(TOPIC),
            partition: *partition,
            offset: *offset,
            timestamp: 0,
            timestamp_type: actix_kafka::protocol::record::TimestampType::CreateTime,
            key: None,
            value: Some(bytes::Bytes::from(value.clone())),
            headers: Vec::new(),
            leader_epoch: -1,
        })
        .collect();
    assert!(partition_set(&theirs).is_subset(&kcat.assigned), "kcat read only its own");
    for m in [&a, &bm] {
        assert!(partition_set(&m.records()).is_subset(&m.owned()), "ours read only their own");
    }
    let mut everything: Vec<ConsumerRecord> = merged([&a.collecting.seen, &bm.collecting.seen]);
    everything.extend(theirs);
    everything.sort_by_key(|r| (r.partition, r.offset));
    assert_exactly_once(&everything, &all(6, n));
    drop(kcat);
    for m in [&a, &bm] {
        m.close().await;
    }
    cluster.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_mixed_group_with_kcat_on_librdkafka_2_16_reads_every_record_once() {
    mixed_group_with_kcat(Librdkafka::V2_16).await;
}

#[actix_rt::test]
async fn a_mixed_group_with_kcat_on_librdkafka_2_0_2_reads_every_record_once() {
    mixed_group_with_kcat(Librdkafka::System).await;
}

/// Two of ours split four partitions on a peer broker, then read every record once.
async fn group_split_on(bootstrap: &str, session: Duration) {
    let builder = || group_builder(bootstrap, "peers", session).max_records_per_delivery(100);
    let a = Member::start(builder(), Collecting::plain()).await;
    let bm = Member::start(builder(), Collecting::plain()).await;
    wait_split(&[&a, &bm], 4).await;
    let n = 500;
    produce_numbered(bootstrap, TOPIC, 4, n).await;
    wait_acknowledged(&[&a, &bm], 4 * n).await;
    assert_exactly_once(&merged([&a.collecting.seen, &bm.collecting.seen]), &all(4, n));
    // Commit while the group is stable: the first close makes the group rebalance, and
    // the librdkafka mock refuses commits in a rebalance with REBALANCE_IN_PROGRESS
    // (Kafka accepts them while preparing one), which would fail the second close's
    // commit of what auto-commit had not yet sent.
    for m in [&a, &bm] {
        assert!(partition_set(&m.records()).is_subset(&m.owned()));
        m.consumer.send(Commit).await.expect("mailbox").expect("commit");
    }
    for m in [&a, &bm] {
        m.close().await;
    }
}

/// librdkafka 2.0.2's mock only: the 2.16 mock advertises JoinGroup v6 but reads its
/// flexible protocol array's count as an INT32 and drops the connection (see
/// `coordinator/tests_peers.rs`). The 2.0.2 mock waits 3 s before its first
/// rebalance and expires a member parked in JoinGroup at its session timeout, so the
/// session must outlast that delay.
#[actix_rt::test]
async fn a_group_splits_the_partitions_on_the_librdkafka_2_0_2_mock_cluster() {
    let Some(mock) = MockCluster::start(3, &[(TOPIC, 4)], Librdkafka::System) else { return };
    group_split_on(mock.bootstrap(), Duration::from_secs(6)).await;
}

#[actix_rt::test]
async fn a_group_splits_the_partitions_on_tansu() {
    let Some(tansu) = Tansu::start() else { return };
    tansu.create_topic(TOPIC, 4);
    group_split_on(&tansu.bootstrap(), Duration::from_secs(6)).await;
}
