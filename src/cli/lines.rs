//! Cutting stdin into records, one per line: the plain state machine behind the
//! `produce` command's reader thread (bytes, not necessarily UTF-8; one trailing `\r`
//! stripped; an optional key delimiter).

use bytes::{Bytes, BytesMut};

use crate::producer::ProducerRecord;

/// Cuts a byte stream into records, one per line: the plain state machine behind the
/// reader thread.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    pending: BytesMut,
    key_delimiter: Option<Box<[u8]>>,
    partition: Option<i32>,
}

impl LineSplitter {
    /// A splitter that cuts keys off at `key_delimiter` and gives every record
    /// `partition`.
    pub fn new(key_delimiter: Option<&[u8]>, partition: Option<i32>) -> LineSplitter {
        LineSplitter { pending: BytesMut::new(), key_delimiter: key_delimiter.map(Box::from), partition }
    }

    /// Takes the next piece of input and returns the records of every line it
    /// completes, with the sum of their key and value lengths; at `eof`, the text
    /// after the last newline is a record too. The records share one buffer per call.
    pub fn push(&mut self, input: &[u8], eof: bool) -> (Vec<ProducerRecord>, usize) {
        self.pending.extend_from_slice(input);
        let complete = match self.pending.iter().rposition(|b| *b == b'\n') {
            Some(last) => last + 1,
            None => 0,
        };
        let take = if eof { self.pending.len() } else { complete };
        let text = self.pending.split_to(take).freeze();
        let mut records = Vec::new();
        let mut bytes = 0;
        let mut start = 0;
        while start < text.len() {
            let end = text[start..].iter().position(|b| *b == b'\n').map_or(text.len(), |at| start + at);
            let record = self.record(text.slice(start..end));
            bytes += record.key.as_ref().map_or(0, Bytes::len) + record.value.as_ref().map_or(0, Bytes::len);
            records.push(record);
            start = end + 1;
        }
        (records, bytes)
    }

    /// One line (without its `\n`) as a record.
    fn record(&self, mut line: Bytes) -> ProducerRecord {
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        let (key, value) = match self.key_delimiter.as_deref().and_then(|d| find(&line, d).map(|at| (at, d.len()))) {
            Some((at, len)) => (Some(line.slice(..at)), line.slice(at + len..)),
            None => (None, line),
        };
        ProducerRecord { key, value: Some(value), partition: self.partition, ..ProducerRecord::default() }
    }
}

/// Where `needle` first occurs in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [byte] => haystack.iter().position(|b| b == byte),
        _ => haystack.windows(needle.len()).position(|window| window == needle),
    }
}
