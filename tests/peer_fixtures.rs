//! Byte fixtures recorded from real peers (kcat on librdkafka 2.16 and 2.0.2, the
//! librdkafka mock clusters, tansu) must decode with our codec, using every byte, and
//! re-encode byte for byte.
//!
//! - `committed_fixtures_decode_and_reencode_exactly` checks `tests/fixtures/` and
//!   needs no peer.
//! - `live_*` record fresh traffic through the recording proxy and check every frame
//!   (peers required under `CI`).
//! - `record_fixtures` (ignored) regenerates `tests/fixtures/`:
//!   `cargo test --test peer_fixtures -- --ignored record_fixtures`.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use actix_kafka::protocol::ApiKey;
use bytes::Bytes;
use support::check::{api_key_by_snake_name, snake_name};
use support::kcat::kcat_ok;
use support::{check_frame, require_peer, Checked, Direction, Frame, FrameKind, Librdkafka, MockCluster, Peer};
use support::{RecordingProxy, Tansu};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const TOPIC: &str = "fixtures";
const RECORDS_PER_BATCH: usize = 3;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

// ---------------------------------------------------------------------------------
// Committed fixtures

/// What a fixture's file name says: `<api>_v<version>[_<variant>]_<request|response>.bin`.
fn parse_name(path: &Path) -> Result<(ApiKey, i16, bool), String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).ok_or("not UTF-8")?;
    let (rest, request) = if let Some(rest) = stem.strip_suffix("_request") {
        (rest, true)
    } else if let Some(rest) = stem.strip_suffix("_response") {
        (rest, false)
    } else {
        return Err("the name ends in neither _request nor _response".into());
    };
    let at = rest
        .match_indices("_v")
        .map(|(at, _)| at)
        .find(|at| rest[at + 2..].starts_with(|c: char| c.is_ascii_digit()))
        .ok_or("no _v<version>")?;
    let (api, tail) = (&rest[..at], &rest[at + 2..]);
    let api = api_key_by_snake_name(api).ok_or_else(|| format!("unknown api {api:?}"))?;
    let version = tail.split('_').next().unwrap_or_default();
    let version = version.parse().map_err(|e| format!("version {version:?}: {e}"))?;
    Ok((api, version, request))
}

fn check_fixture(path: &Path) -> Result<(), String> {
    let peer = path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (api, version, request) = parse_name(path)?;
    let bytes = Bytes::from(fs::read(path).map_err(|e| e.to_string())?);
    let kind = if request {
        let header = bytes.get(..4).ok_or("shorter than a header")?;
        let in_header = (i16::from_be_bytes([header[0], header[1]]), i16::from_be_bytes([header[2], header[3]]));
        if in_header != (api as i16, version) {
            return Err(format!("the header says api {} v{}, the name {api} v{version}", in_header.0, in_header.1));
        }
        FrameKind::Request
    } else {
        FrameKind::Response { api_key: api as i16, api_version: version }
    };
    match check_frame(&bytes, kind)? {
        Checked::Exact => Ok(()),
        Checked::NotImplemented(what) => Err(format!("{what} is not implemented by the codec")),
        Checked::PeerQuirk(_) if peer.contains("mock") => Ok(()),
        Checked::PeerQuirk(quirk) => Err(quirk),
    }
}

fn committed_fixtures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for peer in fs::read_dir(fixtures_dir()).expect("tests/fixtures") {
        let peer = peer.expect("fixture directory entry").path();
        if peer.is_dir() {
            for file in fs::read_dir(&peer).expect("fixture directory") {
                let file = file.expect("fixture entry").path();
                if file.extension().is_some_and(|e| e == "bin") {
                    files.push(file);
                }
            }
        }
    }
    files.sort();
    files
}

#[test]
fn committed_fixtures_decode_and_reencode_exactly() {
    let files = committed_fixtures();
    // Guards against a fixture directory lost in a move: this test must check something.
    assert!(files.len() >= 60, "only {} fixtures under tests/fixtures", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            check_fixture(f).err().map(|e| format!("{}: {e}", f.strip_prefix(fixtures_dir()).unwrap_or(f).display()))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} fixtures fail:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn every_peer_directory_holds_the_core_apis() {
    let files = committed_fixtures();
    let mut apis: BTreeMap<String, Vec<ApiKey>> = BTreeMap::new();
    for file in &files {
        let peer =
            file.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (api, _, _) = parse_name(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        apis.entry(peer).or_default().push(api);
    }
    assert!(apis.len() >= 4, "peer directories: {:?}", apis.keys());
    for (peer, keys) in &apis {
        let mut wanted = vec![ApiKey::ApiVersions, ApiKey::Metadata, ApiKey::Produce, ApiKey::Fetch];
        if peer.contains("mock") {
            wanted.extend([ApiKey::FindCoordinator, ApiKey::JoinGroup, ApiKey::SyncGroup, ApiKey::OffsetCommit]);
        }
        for key in wanted {
            assert!(keys.contains(&key), "{peer} has no {key} fixture");
        }
    }
}

// ---------------------------------------------------------------------------------
// Recording traffic

/// A broker kcat can talk to through the proxy.
enum Broker {
    Mock { _cluster: MockCluster },
    Tansu { _broker: Tansu },
}

/// One client/broker pairing to record.
struct Pairing {
    /// The fixture directory's name.
    name: &'static str,
    client: Librdkafka,
    broker: Broker,
    proxy: RecordingProxy,
}

impl Pairing {
    /// `None` when a peer is missing outside CI.
    fn mock(name: &'static str, client: Librdkafka, mock: Librdkafka, brokers: u32) -> Option<Pairing> {
        require_peer(Peer::Kcat)?;
        require_peer(Peer::Librdkafka(client))?;
        let mut mock = MockCluster::start(brokers, &[(TOPIC, 1)], mock)?;
        if mock.lib() == Librdkafka::V2_16 {
            // The 2.16 mock serves Metadata v13, one past Kafka 3.8's schemas (our codec):
            // the proxy could not rewrite such an answer, and kcat would leave it.
            let max = ApiKey::Metadata.versions().max;
            mock.command(&format!("apiversion {} 0 {max}", ApiKey::Metadata as i16)).expect("cap Metadata");
        }
        let proxy = RecordingProxy::start_many(&mock.broker_addrs()).expect("proxy");
        Some(Pairing { name, client, broker: Broker::Mock { _cluster: mock }, proxy })
    }

    fn tansu(name: &'static str) -> Option<Pairing> {
        require_peer(Peer::Kcat)?;
        require_peer(Peer::Librdkafka(Librdkafka::V2_16))?;
        let tansu = Tansu::start()?;
        tansu.create_topic(TOPIC, 1);
        let proxy = RecordingProxy::start(tansu.addr()).expect("proxy");
        Some(Pairing { name, client: Librdkafka::V2_16, broker: Broker::Tansu { _broker: tansu }, proxy })
    }

    fn kcat(&self, args: &[&str], stdin: &[u8]) -> String {
        let bootstrap = self.proxy.addr().to_string();
        let mut all = vec!["-b", &bootstrap, "-X", "broker.address.family=v4"];
        all.extend_from_slice(args);
        let output = kcat_ok(self.client, &all, stdin);
        let problems = self.proxy.problems();
        assert!(problems.is_empty(), "{}: the proxy saw problems: {problems:#?}", self.name);
        String::from_utf8(output.stdout).expect("UTF-8 from kcat")
    }

    /// Runs the scenario, returning the frames of each step, named.
    fn record(&self) -> Vec<(String, Vec<Frame>)> {
        let mut steps = Vec::new();
        self.kcat(&["-L", "-t", TOPIC], b"");
        steps.push(("metadata".to_string(), self.proxy.take_frames()));
        let mut sent = String::new();
        for codec in CODECS {
            // Repetitive values, so that every codec really shrinks the batch: librdkafka
            // sends a batch uncompressed when compression would not make it smaller.
            let batch: String =
                (0..RECORDS_PER_BATCH).map(|i| format!("{codec}-{i}-{}\n", "kafka-record-".repeat(12))).collect();
            self.kcat(&["-P", "-t", TOPIC, "-p", "0", "-z", codec], batch.as_bytes());
            sent.push_str(&batch);
            steps.push((format!("produce-{codec}"), self.proxy.take_frames()));
        }
        let count = (CODECS.len() * RECORDS_PER_BATCH).to_string();
        let received = self.kcat(&["-C", "-t", TOPIC, "-p", "0", "-o", "beginning", "-c", &count, "-e"], b"");
        assert_eq!(received, sent, "{}: consumed records differ from the produced ones", self.name);
        steps.push(("fetch".to_string(), self.proxy.take_frames()));
        if matches!(self.broker, Broker::Mock { .. }) {
            let received =
                self.kcat(&["-G", "fixture-group", "-X", "auto.offset.reset=earliest", "-c", &count, "-e", TOPIC], b"");
            assert_eq!(received, sent, "{}: the group consumer read different records", self.name);
            steps.push(("group".to_string(), self.proxy.take_frames()));
        }
        steps
    }
}

/// A request and its response, as recorded.
struct Exchange {
    request: Frame,
    response: Frame,
}

fn exchanges(frames: &[Frame]) -> Vec<Exchange> {
    let mut requests: HashMap<(usize, i32), &Frame> = HashMap::new();
    let mut out = Vec::new();
    for frame in frames {
        match frame.direction {
            Direction::Request => {
                requests.insert((frame.connection, frame.correlation_id), frame);
            }
            Direction::Response => {
                if let Some(request) = requests.remove(&(frame.connection, frame.correlation_id)) {
                    out.push(Exchange { request: request.clone(), response: frame.clone() });
                }
            }
        }
    }
    out
}

/// Checks every recorded frame; returns (frames checked, by api key and version;
/// what the codec does not implement) and panics listing every codec failure.
fn check_all(name: &str, steps: &[(String, Vec<Frame>)]) -> (BTreeMap<(i16, i16), usize>, Vec<String>) {
    let mut exact = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut quirks = Vec::new();
    let mut failures = Vec::new();
    for (step, frames) in steps {
        for frame in frames {
            let kind = match frame.direction {
                Direction::Request => FrameKind::Request,
                Direction::Response => FrameKind::Response { api_key: frame.api_key, api_version: frame.api_version },
            };
            match check_frame(&frame.bytes, kind) {
                Ok(Checked::Exact) => *exact.entry((frame.api_key, frame.api_version)).or_insert(0) += 1,
                Ok(Checked::NotImplemented(what)) => skipped.push(format!("{step}: {:?} {what}", frame.direction)),
                Ok(Checked::PeerQuirk(quirk)) if name.contains("mock") => quirks.push(quirk),
                Ok(Checked::PeerQuirk(quirk)) => failures.push(format!("{step}: {:?}: {quirk}", frame.direction)),
                Err(e) => failures.push(format!("{step}: {:?}: {e}", frame.direction)),
            }
        }
    }
    assert!(failures.is_empty(), "{name}: {} frames fail the codec check:\n{}", failures.len(), failures.join("\n"));
    skipped.sort();
    skipped.dedup();
    quirks.sort();
    quirks.dedup();
    if !quirks.is_empty() {
        eprintln!("{name}: malformed in a known librdkafka-mock way:\n{}", quirks.join("\n"));
    }
    (exact, skipped)
}

fn live(pairing: Option<Pairing>) {
    let Some(pairing) = pairing else { return };
    let started = std::time::Instant::now();
    let steps = pairing.record();
    let (exact, skipped) = check_all(pairing.name, &steps);
    eprintln!(
        "{}: {} frames checked exactly in {:.1?}, by (api, version): {exact:?}; not implemented by the codec: {skipped:?}",
        pairing.name,
        exact.values().sum::<usize>(),
        started.elapsed()
    );
    let mut wanted = vec![ApiKey::ApiVersions, ApiKey::Metadata, ApiKey::Produce, ApiKey::Fetch];
    if matches!(pairing.broker, Broker::Mock { .. }) {
        wanted.extend([ApiKey::FindCoordinator, ApiKey::JoinGroup, ApiKey::SyncGroup, ApiKey::OffsetCommit]);
    }
    for key in wanted {
        // A request and its response at least.
        let count: usize = exact.iter().filter(|((k, _), _)| *k == key as i16).map(|(_, n)| n).sum();
        assert!(count >= 2, "{}: only {count} {key} frames passed the check", pairing.name);
    }
}

#[test]
fn live_kcat_2_16_and_the_2_16_mock() {
    live(Pairing::mock("kcat-2.16_mock-2.16", Librdkafka::V2_16, Librdkafka::V2_16, 3));
}

#[test]
fn live_kcat_2_0_2_and_the_2_0_2_mock() {
    live(Pairing::mock("kcat-2.0.2_mock-2.0.2", Librdkafka::System, Librdkafka::System, 3));
}

#[test]
fn live_kcat_2_0_2_and_the_2_16_mock() {
    live(Pairing::mock("kcat-2.0.2_mock-2.16", Librdkafka::System, Librdkafka::V2_16, 3));
}

#[test]
fn live_kcat_2_16_and_tansu() {
    live(Pairing::tansu("kcat-2.16_tansu-0.6"));
}

// ---------------------------------------------------------------------------------
// Re-recording

/// Writes one request/response pair per (api, version[, codec]) seen in each
/// pairing's traffic: for Fetch the pair with the largest response (the one with
/// records), for the rest the first.
fn write_fixtures(name: &str, steps: &[(String, Vec<Frame>)]) -> usize {
    let dir = fixtures_dir().join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).expect("remove old fixtures");
    }
    fs::create_dir_all(&dir).expect("fixture directory");
    let mut chosen: BTreeMap<String, Exchange> = BTreeMap::new();
    for (step, frames) in steps {
        for exchange in exchanges(frames) {
            let (key, version) = (exchange.request.api_key, exchange.request.api_version);
            let Some(api) = ApiKey::from_i16(key).filter(|k| k.versions().contains(version)) else { continue };
            let variant = match (api, step.strip_prefix("produce-")) {
                (ApiKey::Produce, Some(codec)) => format!("_{codec}"),
                _ => String::new(),
            };
            let stem = format!("{}_v{version}{variant}", snake_name(api));
            let keep_new = match chosen.get(&stem) {
                None => true,
                Some(old) => api == ApiKey::Fetch && exchange.response.bytes.len() > old.response.bytes.len(),
            };
            if keep_new {
                chosen.insert(stem, exchange);
            }
        }
    }
    for (stem, exchange) in &chosen {
        fs::write(dir.join(format!("{stem}_request.bin")), &exchange.request.bytes).expect("write fixture");
        fs::write(dir.join(format!("{stem}_response.bin")), &exchange.response.bytes).expect("write fixture");
    }
    chosen.len() * 2
}

#[test]
#[ignore = "re-records tests/fixtures from the peers: cargo test --test peer_fixtures -- --ignored record_fixtures"]
fn record_fixtures() {
    let pairings = [
        Pairing::mock("kcat-2.16_mock-2.16", Librdkafka::V2_16, Librdkafka::V2_16, 1),
        Pairing::mock("kcat-2.0.2_mock-2.0.2", Librdkafka::System, Librdkafka::System, 1),
        Pairing::mock("kcat-2.0.2_mock-2.16", Librdkafka::System, Librdkafka::V2_16, 1),
        Pairing::tansu("kcat-2.16_tansu-0.6"),
    ];
    for pairing in pairings {
        let pairing = pairing.expect("recording fixtures needs every peer: run .ci/install-peers");
        let steps = pairing.record();
        let written = write_fixtures(pairing.name, &steps);
        eprintln!("{}: wrote {written} fixtures", pairing.name);
    }
}
