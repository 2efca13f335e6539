//! A recording TCP proxy between a Kafka client and a broker.
//!
//! It forwards bytes both ways and records every whole frame with its direction,
//! pairing each response with its request's api key and version by correlation id.
//! A client learns broker addresses from Metadata (and the coordinator's from
//! FindCoordinator) and would connect to them directly, past the proxy; so the proxy
//! listens once per upstream broker and rewrites those two responses (decoded and
//! re-encoded at the same version with our own codec) to point at its own listeners.
//! The frames it records are the ones the peers sent, before any rewriting.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use actix_kafka::protocol::frame::{frame_length, DEFAULT_MAX_FRAME_SIZE};
use actix_kafka::protocol::messages::{FindCoordinatorResponse, MetadataResponse};
use actix_kafka::protocol::{ApiKey, Decode, Encode, RequestHeader, ResponseHeader};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to broker.
    Request,
    /// Broker to client.
    Response,
}

/// One recorded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Which accepted connection it went through, counting from 0.
    pub connection: usize,
    /// Which way it went.
    pub direction: Direction,
    /// The request's api key (for a response: its request's; -1 if unmatched).
    pub api_key: i16,
    /// The request's api version (for a response: its request's; -1 if unmatched).
    pub api_version: i16,
    /// The correlation id.
    pub correlation_id: i32,
    /// The frame as the peer sent it, without its 4-byte size prefix.
    pub bytes: Bytes,
}

#[derive(Debug, Default)]
struct Shared {
    frames: Mutex<Vec<Frame>>,
    problems: Mutex<Vec<String>>,
    /// Upstream broker port -> our listener's port.
    ports: HashMap<u16, u16>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn problem(&self, problem: String) {
        eprintln!("recording proxy: {problem}");
        lock(&self.problems).push(problem);
    }
}

/// The proxy; dropping it stops it and closes every connection.
#[derive(Debug)]
pub struct RecordingProxy {
    addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RecordingProxy {
    /// A proxy in front of one broker, listening on `127.0.0.1:0`.
    ///
    /// # Errors
    ///
    /// When a listener cannot be bound.
    pub fn start(upstream: SocketAddr) -> std::io::Result<RecordingProxy> {
        Self::start_many(&[upstream])
    }

    /// A proxy in front of each of `upstreams` (the brokers of one cluster), one
    /// listener each, rewriting broker addresses in Metadata and FindCoordinator
    /// responses to its listeners.
    ///
    /// # Errors
    ///
    /// When a listener cannot be bound.
    pub fn start_many(upstreams: &[SocketAddr]) -> std::io::Result<RecordingProxy> {
        let mut listeners = Vec::new();
        let mut ports = HashMap::new();
        for upstream in upstreams {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.set_nonblocking(true)?;
            ports.insert(upstream.port(), listener.local_addr()?.port());
            listeners.push((listener, *upstream));
        }
        let addrs = listeners.iter().map(|(l, _)| l.local_addr()).collect::<Result<Vec<_>, _>>()?;
        let shared = Arc::new(Shared { ports, ..Default::default() });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let tasks = Arc::clone(&shared);
        let thread = thread::spawn(move || {
            let connections = Arc::new(Mutex::new(0usize));
            runtime.block_on(async move {
                for (listener, upstream) in listeners {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            tokio::spawn(accept(listener, upstream, Arc::clone(&tasks), Arc::clone(&connections)));
                        }
                        Err(e) => tasks.problem(format!("listener: {e}")),
                    }
                }
                // Either a shutdown or a dropped sender ends the proxy.
                let _stop: Result<(), _> = stopped.await;
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        });
        Ok(RecordingProxy { addrs, shared, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// The listener in front of the first upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The listeners, in the order of the upstreams.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A copy of every frame recorded so far, in the order they were read.
    pub fn frames(&self) -> Vec<Frame> {
        lock(&self.shared.frames).clone()
    }

    /// Every frame recorded so far, leaving none.
    pub fn take_frames(&self) -> Vec<Frame> {
        std::mem::take(&mut *lock(&self.shared.frames))
    }

    /// What went wrong in the proxy itself: unparsable frames, failed rewrites,
    /// unmatched responses, upstreams that could not be reached.
    pub fn problems(&self) -> Vec<String> {
        lock(&self.shared.problems).clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _receiver_gone: Result<(), ()> = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                eprintln!("recording proxy: its thread panicked");
            }
        }
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>, connections: Arc<Mutex<usize>>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(e) => {
                shared.problem(format!("accept: {e}"));
                return;
            }
        };
        let connection = {
            let mut count = lock(&connections);
            *count += 1;
            *count - 1
        };
        tokio::spawn(relay(client, upstream, connection, Arc::clone(&shared)));
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, connection: usize, shared: Arc<Shared>) {
    let server = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(server)) => server,
        Ok(Err(e)) => return shared.problem(format!("connect {upstream}: {e}")),
        Err(_) => return shared.problem(format!("connect {upstream}: timed out")),
    };
    let pending = Arc::new(Mutex::new(HashMap::new()));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let requests =
        Pump { connection, direction: Direction::Request, shared: Arc::clone(&shared), pending: Arc::clone(&pending) };
    let responses = Pump { connection, direction: Direction::Response, shared, pending };
    tokio::join!(requests.run(client_read, server_write), responses.run(server_read, client_write));
}

/// One direction of one connection.
struct Pump {
    connection: usize,
    direction: Direction,
    shared: Arc<Shared>,
    /// Correlation id -> (api key, api version) of requests not yet answered.
    pending: Arc<Mutex<HashMap<i32, (i16, i16)>>>,
}

impl Pump {
    async fn run(self, mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin) {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            match from.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            loop {
                let size = match frame_length(&buf, DEFAULT_MAX_FRAME_SIZE) {
                    Ok(Some(size)) => size,
                    Ok(None) => break,
                    Err(e) => {
                        self.shared.problem(format!("{:?} frame: {e}", self.direction));
                        return;
                    }
                };
                let frame = buf.split_to(4 + size).freeze();
                let out = self.frame(frame);
                if to.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
        // Pass the half-close on; the other direction ends by itself.
        let _closed: std::io::Result<()> = to.shutdown().await;
    }

    /// Records one frame (with its prefix) and returns what to forward.
    fn frame(&self, frame: Bytes) -> Bytes {
        let bytes = frame.slice(4..);
        let minimum = if self.direction == Direction::Request { 8 } else { 4 };
        if bytes.len() < minimum {
            self.shared.problem(format!("{:?} frame of {} bytes is too short", self.direction, bytes.len()));
            return frame;
        }
        let (api_key, api_version, correlation_id) = match self.direction {
            Direction::Request => self.request(&bytes),
            Direction::Response => {
                let correlation_id = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                let (key, version) = lock(&self.pending).remove(&correlation_id).unwrap_or_else(|| {
                    self.shared.problem(format!("response to unknown correlation id {correlation_id}"));
                    (-1, -1)
                });
                (key, version, correlation_id)
            }
        };
        let recorded = Frame {
            connection: self.connection,
            direction: self.direction,
            api_key,
            api_version,
            correlation_id,
            bytes,
        };
        let out = match self.direction {
            Direction::Response => self.rewrite(&recorded).unwrap_or(frame),
            Direction::Request => frame,
        };
        lock(&self.shared.frames).push(recorded);
        out
    }

    /// The api key, version and correlation id of a request, read with our codec
    /// when it knows the API (a frame it cannot read is a problem worth reporting).
    fn request(&self, bytes: &Bytes) -> (i16, i16, i32) {
        let raw = |at: usize| i16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let (key, version) = (raw(0), raw(2));
        let correlation_id = i32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if ApiKey::from_i16(key).is_some() {
            match RequestHeader::decode(&mut bytes.clone()) {
                Ok(header) => {
                    lock(&self.pending).insert(header.correlation_id, (header.api_key, header.api_version));
                    return (header.api_key, header.api_version, header.correlation_id);
                }
                Err(e) => self.shared.problem(format!("request header of api {key} v{version}: {e}")),
            }
        }
        lock(&self.pending).insert(correlation_id, (key, version));
        (key, version, correlation_id)
    }

    /// A Metadata or FindCoordinator response pointing at our listeners instead of
    /// the upstream brokers, with its size prefix; `None` when nothing changes.
    fn rewrite(&self, frame: &Frame) -> Option<Bytes> {
        let key = ApiKey::from_i16(frame.api_key)?;
        if key != ApiKey::Metadata && key != ApiKey::FindCoordinator {
            return None;
        }
        match rewrite_addresses(key, frame.api_version, &frame.bytes, &self.shared.ports) {
            Ok(rewritten) => rewritten,
            Err(e) => {
                self.shared.problem(format!("cannot rewrite {key} v{} response: {e}", frame.api_version));
                None
            }
        }
    }
}

fn rewrite_addresses(
    key: ApiKey,
    version: i16,
    bytes: &Bytes,
    ports: &HashMap<u16, u16>,
) -> Result<Option<Bytes>, String> {
    let mut changed = false;
    let mut point = |host: &mut String, port: &mut i32| {
        if let Some(ours) = u16::try_from(*port).ok().and_then(|p| ports.get(&p)) {
            *host = "127.0.0.1".into();
            *port = i32::from(*ours);
            changed = true;
        }
    };
    let header_version = key.response_header_version(version);
    let mut buf = bytes.clone();
    let header = ResponseHeader::decode(&mut buf, header_version).map_err(|e| e.to_string())?;
    let mut out = BytesMut::new();
    out.extend_from_slice(&[0; 4]);
    header.encode(&mut out, header_version).map_err(|e| e.to_string())?;
    if key == ApiKey::Metadata {
        let mut body = MetadataResponse::decode(&mut buf, version).map_err(|e| e.to_string())?;
        body.brokers.iter_mut().for_each(|b| point(&mut b.host, &mut b.port));
        body.encode(&mut out, version).map_err(|e| e.to_string())?;
    } else {
        let mut body = FindCoordinatorResponse::decode(&mut buf, version).map_err(|e| e.to_string())?;
        point(&mut body.host, &mut body.port);
        body.coordinators.iter_mut().for_each(|c| point(&mut c.host, &mut c.port));
        body.encode(&mut out, version).map_err(|e| e.to_string())?;
    }
    // Bytes after the body (librdkafka 2.16's mock writes one extra byte at the end of
    // flexible Metadata answers) go on verbatim: the proxy forwards, the checks judge.
    out.extend_from_slice(&buf);
    if !changed {
        return Ok(None);
    }
    let size = i32::try_from(out.len() - 4).map_err(|e| e.to_string())?;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(Some(out.freeze()))
}
