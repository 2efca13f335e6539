//! The `actix-kafka broker` command itself: the BOOTSTRAP line, consecutive ports,
//! control commands on stdin (`ok` / `err`, EOF leaves the broker up), SIGTERM and
//! SIGINT exit 0, a taken port exits 1, bad arguments exit 2.

#![cfg(feature = "cli")]

mod broker_support;
mod support;

use std::net::TcpListener;
use std::process::Command;
use std::thread;
use std::time::Duration;

use broker_support::binary::{BrokerProcess, BINARY};
use support::kcat::kcat_ok;
use support::{require_peer, Librdkafka, Peer};

const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

#[test]
fn prints_bootstrap_answers_control_commands_and_exits_0_on_sigterm() {
    let mut broker = BrokerProcess::start(&["--listen", "127.0.0.1:0", "--nodes", "3", "--partitions", "2"]);
    let addrs: Vec<&str> = broker.bootstrap().split(',').collect();
    assert_eq!(addrs.len(), 3, "one address per node: {}", broker.bootstrap());
    assert!(addrs.iter().all(|a| a.starts_with("127.0.0.1:") && !a.ends_with(":0")), "{addrs:?}");

    for command in [
        "create-topic cli-topic 4",
        "down 1",
        "up 1",
        "leader cli-topic 0 2",
        "error Produce NOT_LEADER_OR_FOLLOWER 1",
        "latency Fetch 0",
    ] {
        broker.control(command);
    }
    for bad in ["fly-to-the-moon", "down", "create-topic", "error NoSuchApi 6"] {
        let answer = broker.control_raw(bad);
        assert!(answer.starts_with(&format!("err {bad}: ")), "answer to {bad:?}: {answer:?}");
    }

    // EOF on stdin ends the commands, not the broker.
    broker.close_stdin();
    thread::sleep(Duration::from_millis(300));
    assert!(broker.exited().is_none(), "the broker exited on stdin EOF:\n{}", broker.stderr());
    if require_peer(Peer::Kcat).is_some() {
        let listing = kcat_ok(Librdkafka::System, &["-L", "-b", broker.bootstrap(), "-t", "cli-topic"], b"");
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(listing.contains("topic \"cli-topic\" with 4 partitions"), "kcat -L:\n{listing}");
    }

    broker.signal("TERM");
    let status = broker.wait(EXIT_TIMEOUT).unwrap_or_else(|| panic!("no exit in {EXIT_TIMEOUT:?} after SIGTERM"));
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM; stderr:\n{}", broker.stderr());
}

#[test]
fn sigint_exits_0() {
    let mut broker = BrokerProcess::start(&["--listen", "127.0.0.1:0"]);
    broker.signal("INT");
    let status = broker.wait(EXIT_TIMEOUT).unwrap_or_else(|| panic!("no exit in {EXIT_TIMEOUT:?} after SIGINT"));
    assert_eq!(status.code(), Some(0), "exit status after SIGINT; stderr:\n{}", broker.stderr());
}

#[test]
fn nodes_listen_on_consecutive_ports() {
    // A free base port for two nodes: the kernel's choice, released just before.
    let base = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind a probe");
        probe.local_addr().expect("its address").port()
    };
    if base == u16::MAX || TcpListener::bind(("127.0.0.1", base + 1)).is_err() {
        eprintln!("port {} is taken; nothing to check", base + 1);
        return;
    }
    let broker = BrokerProcess::start(&["--listen", &format!("127.0.0.1:{base}"), "--nodes", "2"]);
    assert_eq!(broker.bootstrap(), format!("127.0.0.1:{base},127.0.0.1:{}", base + 1));
}

#[test]
fn a_taken_port_exits_1_with_a_message() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let mut broker = BrokerProcess::spawn(&["--listen", &format!("127.0.0.1:{port}")]);
    let status =
        broker.wait(EXIT_TIMEOUT).unwrap_or_else(|| panic!("still running on a taken port:\n{}", broker.stderr()));
    assert_eq!(status.code(), Some(1), "exit status on a taken port; stderr:\n{}", broker.stderr());
    let stdout = broker.next_line();
    assert!(stdout.is_none(), "nothing on stdout when the start fails: {stdout:?}");
    assert!(broker.stderr().contains("cannot start the broker"), "stderr:\n{}", broker.stderr());
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["broker", "--nodes", "0"][..],
        &["broker", "--fsync", "sometimes"],
        &["broker", "--fsync", "never", "--fsync-interval-ms", "10"],
        &["broker", "--listen", "nowhere"],
        &["broker", "--no-such-flag"],
        &["no-such-command"],
        &[],
    ] {
        let output = Command::new(BINARY).args(args).output().expect("run the binary");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    let help = Command::new(BINARY).args(["broker", "--help"]).output().expect("run the binary");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--control-stdin"));
}
