//! Where the third-party peers are, and what a test does when one is missing.

use std::path::{Path, PathBuf};

/// A third-party program or library a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Debian's kcat, on `PATH`.
    Kcat,
    /// `python3`, on `PATH` (runs our mock-cluster driver).
    Python,
    /// A librdkafka shared library.
    Librdkafka(Librdkafka),
    /// The tansu broker, `$PEERS_DIR/bin/tansu`.
    Tansu,
}

/// Which librdkafka a mock cluster or a kcat run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Librdkafka {
    /// The system's `librdkafka.so.1` (Debian's 2.0.2).
    System,
    /// librdkafka 2.16 from the confluent-kafka wheel, `$PEERS_DIR/lib`.
    V2_16,
}

impl Librdkafka {
    /// Both libraries, oldest first.
    pub const ALL: [Librdkafka; 2] = [Librdkafka::System, Librdkafka::V2_16];

    /// A short name, for fixture directories and messages.
    pub fn label(self) -> &'static str {
        match self {
            Librdkafka::System => "librdkafka-2.0.2",
            Librdkafka::V2_16 => "librdkafka-2.16",
        }
    }

    /// The directory to put on `LD_LIBRARY_PATH` for this library, if not the system's.
    pub fn library_dir(self) -> Option<PathBuf> {
        match self {
            Librdkafka::System => None,
            Librdkafka::V2_16 => Some(peers_dir().join("lib")),
        }
    }

    /// What to `dlopen`.
    pub fn shared_object(self) -> PathBuf {
        match self {
            Librdkafka::System => PathBuf::from("librdkafka.so.1"),
            Librdkafka::V2_16 => peers_dir().join("lib/librdkafka.so.1"),
        }
    }
}

/// The directory `.ci/install-peers` installs into, by the same rule: `$PEERS_DIR`, else
/// `$CARGO_TARGET_DIR/peers`, else `target/peers` in the crate root.
pub fn peers_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = std::env::var_os("PEERS_DIR").filter(|d| !d.is_empty()) {
        return root.join(dir);
    }
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(target) => root.join(target).join("peers"),
        None => root.join("target/peers"),
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

fn system_librdkafka() -> Option<PathBuf> {
    ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib"]
        .iter()
        .map(|dir| Path::new(dir).join("librdkafka.so.1"))
        .find(|p| p.exists())
}

/// Where `peer` is, if it is installed.
pub fn find_peer(peer: Peer) -> Option<PathBuf> {
    match peer {
        Peer::Kcat => on_path("kcat"),
        Peer::Python => on_path("python3"),
        Peer::Librdkafka(Librdkafka::System) => system_librdkafka(),
        Peer::Librdkafka(Librdkafka::V2_16) => Some(peers_dir().join("lib/librdkafka.so.1")).filter(|p| p.exists()),
        Peer::Tansu => Some(peers_dir().join("bin/tansu")).filter(|p| p.is_file()),
    }
}

/// The path of `peer`, or `None` (with a notice on stderr) when it is missing and the
/// test should skip.
///
/// # Panics
///
/// When the peer is missing and the `CI` environment variable is set: in CI a peer
/// test must fail, never skip.
pub fn require_peer(peer: Peer) -> Option<PathBuf> {
    if let Some(path) = find_peer(peer) {
        return Some(path);
    }
    let hint = "run .ci/install-peers (it installs into $PEERS_DIR, else $CARGO_TARGET_DIR/peers, else target/peers)";
    if std::env::var_os("CI").is_some() {
        panic!("peer {peer:?} is missing and CI is set, so this test must not skip: {hint}");
    }
    eprintln!("skipping: peer {peer:?} is missing ({hint})");
    None
}
