//! Durable group state: `DIR/__consumer_offsets/<hex group id>.log`, one append-only file
//! per group.
//!
//! A file is a sequence of records `[payload length: u32][crc32c(payload): u32][payload]`
//! (big-endian). A payload is an offset commit (topic, partition, offset, leader epoch,
//! metadata, timestamp) or the group's metadata (generation, protocol type and name,
//! leader). Each commit is one `write_all` before its response is sent, so a process
//! crash loses nothing acknowledged; `fsync_every_commit` also survives a power loss.
//! Opening reads the longest valid prefix (a torn or corrupt tail is cut), keeps the
//! latest record per key and rewrites the file compacted (temp file, fsync, rename).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, BytesMut};

use super::offsets::CommittedOffset;
use super::GroupError;

const OFFSET_RECORD: u8 = 1;
const METADATA_RECORD: u8 = 2;
const FRAME_HEADER: usize = 8;

/// The group metadata kept across restarts. Members are not: a restarted broker's
/// groups come back Empty at their last generation, and clients rejoin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StoredMetadata {
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: Option<String>,
}

/// Everything one group's file held.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StoredGroup {
    pub(crate) group_id: String,
    pub(crate) metadata: StoredMetadata,
    pub(crate) offsets: BTreeMap<(String, i32), CommittedOffset>,
}

/// The store's directory.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
    fsync: bool,
}

/// One group's open file, appended to.
#[derive(Debug)]
pub(crate) struct GroupLog {
    path: PathBuf,
    file: File,
    fsync: bool,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> GroupError + '_ {
    move |source| GroupError::Io { path: path.to_owned(), source }
}

impl Store {
    /// Opens (creating) `data_dir/__consumer_offsets`, loads and compacts every group file.
    ///
    /// # Errors
    ///
    /// [`GroupError::Io`] when the directory or a file cannot be read or rewritten.
    pub(crate) fn open(data_dir: &Path, fsync: bool) -> Result<(Store, Vec<StoredGroup>), GroupError> {
        let dir = data_dir.join("__consumer_offsets");
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let mut groups = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let path = entry.map_err(io_error(&dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.ends_with(".tmp") {
                fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            }
            let Some(group_id) = name.strip_suffix(".log").and_then(decode_hex) else { continue };
            let bytes = fs::read(&path).map_err(io_error(&path))?;
            let (mut group, valid) = parse(&bytes);
            if valid < bytes.len() {
                tracing::warn!(path = %path.display(), valid, len = bytes.len(), "cutting a torn group store tail");
            }
            group.group_id = group_id;
            rewrite(&path, &group)?;
            groups.push(group);
        }
        sync_dir(&dir)?;
        Ok((Store { dir, fsync }, groups))
    }

    /// Opens `group_id`'s file for appending, creating it.
    ///
    /// # Errors
    ///
    /// [`GroupError::Io`] when the file cannot be opened.
    pub(crate) fn log(&self, group_id: &str) -> Result<GroupLog, GroupError> {
        let path = self.dir.join(format!("{}.log", encode_hex(group_id)));
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io_error(&path))?;
        Ok(GroupLog { path, file, fsync: self.fsync })
    }
}

impl GroupLog {
    /// Appends a commit's offsets as one write, fsynced if the store says so.
    ///
    /// # Errors
    ///
    /// [`GroupError::Io`] when the write fails; the commit must then be refused.
    pub(crate) fn append_offsets<'a>(
        &mut self,
        offsets: impl IntoIterator<Item = (&'a str, i32, &'a CommittedOffset)>,
    ) -> Result<(), GroupError> {
        let mut buf = BytesMut::new();
        for (topic, partition, offset) in offsets {
            frame(&mut buf, |p| encode_offset(p, topic, partition, offset));
        }
        self.write(&buf)
    }

    /// Appends the group's metadata.
    ///
    /// # Errors
    ///
    /// [`GroupError::Io`] when the write fails.
    pub(crate) fn append_metadata(&mut self, metadata: &StoredMetadata) -> Result<(), GroupError> {
        let mut buf = BytesMut::new();
        frame(&mut buf, |p| encode_metadata(p, metadata));
        self.write(&buf)
    }

    /// Forces everything written to disk.
    ///
    /// # Errors
    ///
    /// [`GroupError::Io`] when fsync fails.
    pub(crate) fn flush(&mut self) -> Result<(), GroupError> {
        self.file.sync_data().map_err(io_error(&self.path))
    }

    fn write(&mut self, buf: &[u8]) -> Result<(), GroupError> {
        if buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(buf).map_err(io_error(&self.path))?;
        if self.fsync {
            self.flush()?;
        }
        Ok(())
    }
}

fn frame(buf: &mut BytesMut, payload: impl FnOnce(&mut BytesMut)) {
    let mut body = BytesMut::new();
    payload(&mut body);
    // Payloads are a few strings a client sent, far below 4 GiB; saturate rather than wrap.
    buf.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
    buf.put_u32(crc32c::crc32c(&body));
    buf.put_slice(&body);
}

fn put_string(buf: &mut BytesMut, value: Option<&str>) {
    match value {
        None => buf.put_i32(-1),
        Some(s) => {
            buf.put_i32(i32::try_from(s.len()).unwrap_or(i32::MAX));
            buf.put_slice(s.as_bytes());
        }
    }
}

fn encode_offset(buf: &mut BytesMut, topic: &str, partition: i32, offset: &CommittedOffset) {
    buf.put_u8(OFFSET_RECORD);
    put_string(buf, Some(topic));
    buf.put_i32(partition);
    buf.put_i64(offset.offset);
    buf.put_i32(offset.leader_epoch);
    put_string(buf, offset.metadata.as_deref());
    buf.put_i64(offset.commit_timestamp_ms);
}

fn encode_metadata(buf: &mut BytesMut, metadata: &StoredMetadata) {
    buf.put_u8(METADATA_RECORD);
    buf.put_i32(metadata.generation);
    put_string(buf, metadata.protocol_type.as_deref());
    put_string(buf, metadata.protocol_name.as_deref());
    put_string(buf, metadata.leader.as_deref());
}

/// Reads the longest valid prefix of a file: the group it describes and its length.
pub(crate) fn parse(bytes: &[u8]) -> (StoredGroup, usize) {
    let mut group = StoredGroup::default();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + FRAME_HEADER) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let Some(payload) = bytes.get(at + FRAME_HEADER..).and_then(|rest| rest.get(..len)) else { break };
        if crc32c::crc32c(payload) != crc || apply(&mut group, payload).is_none() {
            break;
        }
        at += FRAME_HEADER + len;
    }
    (group, at)
}

fn apply(group: &mut StoredGroup, mut payload: &[u8]) -> Option<()> {
    let buf = &mut payload;
    match get_u8(buf)? {
        OFFSET_RECORD => {
            let topic = get_string(buf)??;
            let partition = get_i32(buf)?;
            let offset = CommittedOffset {
                offset: get_i64(buf)?,
                leader_epoch: get_i32(buf)?,
                metadata: get_string(buf)?,
                commit_timestamp_ms: get_i64(buf)?,
            };
            group.offsets.insert((topic, partition), offset);
        }
        METADATA_RECORD => {
            group.metadata = StoredMetadata {
                generation: get_i32(buf)?,
                protocol_type: get_string(buf)?,
                protocol_name: get_string(buf)?,
                leader: get_string(buf)?,
            };
        }
        _ => return None,
    }
    buf.is_empty().then_some(())
}

fn get_u8(buf: &mut &[u8]) -> Option<u8> {
    (buf.remaining() >= 1).then(|| buf.get_u8())
}

fn get_i32(buf: &mut &[u8]) -> Option<i32> {
    (buf.remaining() >= 4).then(|| buf.get_i32())
}

fn get_i64(buf: &mut &[u8]) -> Option<i64> {
    (buf.remaining() >= 8).then(|| buf.get_i64())
}

/// A nullable string: the outer `None` is a malformed record, the inner one a null.
fn get_string(buf: &mut &[u8]) -> Option<Option<String>> {
    let len = get_i32(buf)?;
    if len == -1 {
        return Some(None);
    }
    let len = usize::try_from(len).ok()?;
    let bytes = buf.get(..len)?;
    let value = String::from_utf8(bytes.to_vec()).ok()?;
    buf.advance(len);
    Some(Some(value))
}

/// Writes `group` compacted to `path` (temp file, fsync, rename).
fn rewrite(path: &Path, group: &StoredGroup) -> Result<(), GroupError> {
    let mut buf = BytesMut::new();
    frame(&mut buf, |p| encode_metadata(p, &group.metadata));
    for ((topic, partition), offset) in &group.offsets {
        frame(&mut buf, |p| encode_offset(p, topic, *partition, offset));
    }
    let tmp = path.with_extension("log.tmp");
    let mut file = File::create(&tmp).map_err(io_error(&tmp))?;
    file.write_all(&buf).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    fs::rename(&tmp, path).map_err(io_error(path))
}

fn sync_dir(dir: &Path) -> Result<(), GroupError> {
    // Directory fsync makes renames durable; platforms that cannot open a directory skip it.
    match File::open(dir) {
        Ok(handle) => handle.sync_all().or_else(|e| if cfg!(unix) { Err(e) } else { Ok(()) }).map_err(io_error(dir)),
        Err(_) => Ok(()),
    }
}

/// Group ids may hold any character; file names hold their UTF-8 bytes in hex.
fn encode_hex(group_id: &str) -> String {
    group_id.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(name: &str) -> Option<String> {
    if name.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..name.len()).step_by(2).map(|i| name.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(value: i64) -> CommittedOffset {
        CommittedOffset { offset: value, leader_epoch: 3, metadata: Some("m".into()), commit_timestamp_ms: 7 }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("actix-kafka-group-store-{name}-{}", std::process::id()));
        let _ignored = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn hex_names_roundtrip_any_group_id() {
        for id in ["", "g", "a/b\\c:..", "grüße"] {
            assert_eq!(decode_hex(&encode_hex(id)).as_deref(), Some(id));
        }
        assert_eq!(decode_hex("zz"), None);
    }

    #[test]
    fn reopen_keeps_latest_offsets_and_metadata_and_compacts() {
        let dir = temp_dir("reopen");
        let (store, groups) = Store::open(&dir, true).expect("open");
        assert!(groups.is_empty());
        let mut log = store.log("g/1").expect("log");
        log.append_offsets([("t", 0, &offset(5)), ("t", 1, &offset(6))]).expect("append");
        log.append_offsets([("t", 0, &offset(9))]).expect("append");
        let meta = StoredMetadata { generation: 4, protocol_type: Some("consumer".into()), ..Default::default() };
        log.append_metadata(&meta).expect("append");
        drop(log);
        let (_, groups) = Store::open(&dir, false).expect("reopen");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].group_id, "g/1");
        assert_eq!(groups[0].metadata, meta);
        assert_eq!(groups[0].offsets.get(&("t".into(), 0)), Some(&offset(9)));
        assert_eq!(groups[0].offsets.get(&("t".into(), 1)), Some(&offset(6)));
        let file = dir.join("__consumer_offsets").join(format!("{}.log", encode_hex("g/1")));
        let (_, valid) = parse(&fs::read(&file).expect("read"));
        assert_eq!(valid, fs::metadata(&file).expect("stat").len() as usize);
        let _ignored = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_cut() {
        let mut buf = BytesMut::new();
        frame(&mut buf, |p| encode_offset(p, "t", 0, &offset(1)));
        let good = buf.len();
        frame(&mut buf, |p| encode_offset(p, "t", 0, &offset(2)));
        for cut in good..buf.len() {
            let (group, valid) = parse(&buf[..cut]);
            assert_eq!(valid, good);
            assert_eq!(group.offsets.get(&("t".into(), 0)), Some(&offset(1)));
        }
        let mut corrupt = buf.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert_eq!(parse(&corrupt).0.offsets.get(&("t".into(), 0)), Some(&offset(1)));
    }
}
