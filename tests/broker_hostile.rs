//! 300 hostile connections against the `actix-kafka broker` binary: random garbage,
//! 2 GiB and negative size prefixes, half frames, unknown API keys and versions,
//! garbage bodies behind valid headers, each then dropped. The process stays alive,
//! its peak memory stays small, and kcat still produces and consumes.

#![cfg(feature = "cli")]

mod broker_support;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use broker_support::binary::BrokerProcess;
use broker_support::{assert_exactly_once, generate, kcat_consume_all, kcat_produce};
use support::{require_peer, Librdkafka, Peer};

/// Hostile connections: 300 (3,000 with `ACTIX_KAFKA_SOAK=1`).
fn connections() -> usize {
    broker_support::soak(300, 3_000)
}
const THREADS: usize = 10;

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A request frame: size prefix, header v1 (api key, version, correlation id,
/// client id), then `body`.
fn frame(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&api_key.to_be_bytes());
    payload.extend_from_slice(&version.to_be_bytes());
    payload.extend_from_slice(&7_i32.to_be_bytes());
    payload.extend_from_slice(&(b"hostile".len() as i16).to_be_bytes());
    payload.extend_from_slice(b"hostile");
    payload.extend_from_slice(body);
    let mut out = (payload.len() as i32).to_be_bytes().to_vec();
    out.extend(payload);
    out
}

/// What hostile connection number `n` sends before it hangs up.
fn attack(n: usize, noise: &mut Noise) -> Vec<u8> {
    match n % 10 {
        // Random garbage, up to 4 KiB.
        0 => {
            let len = 1 + (noise.next() % 4096) as usize;
            noise.bytes(len)
        }
        // A 2 GiB size prefix and a little of the promised body.
        1 => [&0x7fff_ffff_u32.to_be_bytes()[..], &noise.bytes(100)].concat(),
        // A negative size prefix.
        2 => [&0x8000_0000_u32.to_be_bytes()[..], &noise.bytes(16)].concat(),
        // Half of a valid ApiVersions v0 frame.
        3 => {
            let whole = frame(18, 0, &[]);
            whole[..whole.len() / 2].to_vec()
        }
        // An unknown API key.
        4 => frame(1000 + (n % 30_000) as i16, 0, &noise.bytes(32)),
        // A known API at a version nobody speaks.
        5 => frame(3, 999, &noise.bytes(32)),
        // A Produce v3 header with a garbage body.
        6 => frame(0, 3, &noise.bytes(200)),
        // Frames too small for a header: size 0, then size 3.
        7 => [0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3].to_vec(),
        // A size prefix just over any sane frame limit (200 MiB), then nothing.
        8 => (200_i32 << 20).to_be_bytes().to_vec(),
        // Valid ApiVersions v0 then garbage in the same stream.
        _ => [frame(18, 0, &[]), noise.bytes(64)].concat(),
    }
}

/// Connects, sends the attack, reads for a moment whatever comes back, hangs up.
fn hostile_connection(addr: SocketAddr, n: usize, noise: &mut Noise) {
    let mut stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(stream) => stream,
        Err(e) => panic!("connection {n}: connect to {addr}: {e}"),
    };
    // The broker may close first: a write or read error here is its right.
    if stream.write_all(&attack(n, noise)).is_ok() {
        stream.set_read_timeout(Some(Duration::from_millis(20))).expect("read timeout");
        let mut answer = [0u8; 256];
        let _answered: std::io::Result<usize> = stream.read(&mut answer);
    }
}

#[test]
fn hostile_connections_do_not_stop_the_broker() {
    let lib = Librdkafka::V2_16;
    if require_peer(Peer::Kcat).is_none() || require_peer(Peer::Librdkafka(lib)).is_none() {
        return;
    }
    let mut broker = BrokerProcess::start(&["--listen", "127.0.0.1:0", "--nodes", "3", "--partitions", "3"]);
    broker.control("create-topic after-attack 3");
    let addrs: Vec<SocketAddr> = broker.bootstrap().split(',').map(|a| a.parse().expect("an address")).collect();

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let addrs = addrs.clone();
            thread::spawn(move || {
                let mut noise = Noise(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                for n in (t..connections()).step_by(THREADS) {
                    hostile_connection(addrs[n % addrs.len()], n, &mut noise);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("an attacking thread");
    }

    assert!(broker.exited().is_none(), "the broker died under hostile connections:\n{}", broker.stderr());
    let peak_kb = broker.status_kb("VmHWM").unwrap_or(0);
    eprintln!("after {} hostile connections: peak RSS {} MiB", connections(), peak_kb / 1024);
    assert!(peak_kb < 512 * 1024, "peak RSS {peak_kb} kB: a size prefix was believed");

    let records = generate("after-attack", 2_000);
    kcat_produce(lib, broker.bootstrap(), "after-attack", "zstd", &records, &[]);
    let got = kcat_consume_all(lib, broker.bootstrap(), "after-attack");
    assert_exactly_once("kcat after the attack", &records, &got);
    assert!(broker.exited().is_none(), "the broker died after the attack:\n{}", broker.stderr());
}
