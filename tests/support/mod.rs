//! The shared harness of the peer tests: third-party Kafka peers (kcat, librdkafka's
//! mock cluster, tansu) as child processes, and a recording TCP proxy.
//!
//! Include it with `mod support;`. Every child process dies with its handle and every
//! wait is bounded, so a broken peer fails a test instead of hanging it.
//!
//! Peers are found where `.ci/install-peers` puts them: `$PEERS_DIR`, else
//! `$CARGO_TARGET_DIR/peers`, else `target/peers` in the crate root; kcat and python3
//! on `PATH`. A missing peer panics under `CI` (peer tests must fail in CI, never
//! skip) and is skipped with a notice otherwise: see [`require_peer`].

// Each test crate uses its own part of the harness.
#![allow(dead_code, unused_imports)]

pub mod certs;
pub mod check;
pub mod counting_proxy;
pub mod kcat;
pub mod mock;
pub mod peers;
pub mod process;
pub mod proxy;
pub mod tansu;

pub use check::{check_frame, Checked, FrameKind};
pub use kcat::kcat;
pub use mock::MockCluster;
pub use peers::{require_peer, Librdkafka, Peer};
pub use proxy::{Direction, Frame, RecordingProxy};
pub use tansu::Tansu;
