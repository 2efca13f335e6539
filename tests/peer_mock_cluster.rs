//! A live smoke test of the peer harness itself: kcat produces records to each peer
//! broker and consumes them back unchanged. The client's own live tests stand on it.

mod support;

use support::kcat::kcat_ok;
use support::{require_peer, Librdkafka, MockCluster, Peer, Tansu};

const RECORDS: usize = 100;

fn records(tag: &str) -> String {
    (0..RECORDS).map(|i| format!("{tag}-record-{i}\n")).collect()
}

/// Produces [`RECORDS`] records with `codec` to `topic` at `bootstrap`, reads them back
/// from the beginning, and checks they are the same, in order.
fn produce_and_consume(lib: Librdkafka, bootstrap: &str, topic: &str, codec: &str) {
    let sent = records(codec);
    kcat_ok(lib, &["-b", bootstrap, "-P", "-t", topic, "-p", "0", "-z", codec], sent.as_bytes());
    let count = RECORDS.to_string();
    let output =
        kcat_ok(lib, &["-b", bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-c", &count, "-e"], b"");
    let received = String::from_utf8(output.stdout).expect("kcat prints what was produced: UTF-8");
    assert_eq!(received, sent, "{} {bootstrap} topic {topic} codec {codec}", lib.label());
}

#[test]
fn kcat_round_trips_every_codec_through_the_2_16_mock() {
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    let topics: Vec<(&str, u32)> = codecs.iter().map(|c| (*c, 1)).collect();
    let Some(_kcat) = require_peer(Peer::Kcat) else { return };
    let Some(mock) = MockCluster::start(3, &topics, Librdkafka::V2_16) else { return };
    for codec in codecs {
        produce_and_consume(Librdkafka::V2_16, mock.bootstrap(), codec, codec);
    }
}

#[test]
fn kcat_round_trips_through_the_2_0_2_mock() {
    let Some(_kcat) = require_peer(Peer::Kcat) else { return };
    let Some(mock) = MockCluster::start(3, &[("smoke", 2)], Librdkafka::System) else { return };
    produce_and_consume(Librdkafka::System, mock.bootstrap(), "smoke", "lz4");
}

#[test]
fn kcat_round_trips_through_tansu() {
    let Some(_kcat) = require_peer(Peer::Kcat) else { return };
    let Some(tansu) = Tansu::start() else { return };
    tansu.create_topic("smoke", 1);
    // Debian's librdkafka 2.0.2 cannot read tansu's ApiVersions answer: use 2.16.
    produce_and_consume(Librdkafka::V2_16, &tansu.bootstrap(), "smoke", "snappy");
}

#[test]
fn the_mock_answers_commands_and_refuses_bad_ones() {
    let Some(mut mock) = MockCluster::start(2, &[("t", 2)], Librdkafka::System) else { return };
    assert_eq!(mock.broker_addrs().len(), 2);
    assert_eq!(mock.command("leader t 0 2"), Ok(String::new()));
    assert_eq!(mock.command("broker-down 2"), Ok(String::new()));
    assert_eq!(mock.command("broker-up 2"), Ok(String::new()));
    assert_eq!(mock.command("errors 3 6 6"), Ok(String::new()));
    assert!(mock.command("no-such-command").is_err());
    assert!(mock.command("initial-rebalance-delay 0").is_err(), "2.0.2 has no rebalance delay knob");
}
