//! `--format`: how `actix-kafka consume` prints a record.
//!
//! A format is parsed once into a list of [`Piece`]s, then rendered per record
//! straight into the output buffer: no per-record parsing or allocation. The tokens
//! follow kcat's where they overlap, so a kcat user's format string reads the same:
//!
//! | token | prints |
//! |---|---|
//! | `%v` | the value (raw bytes; nothing for a null value) |
//! | `%k` | the key (raw bytes; nothing for a null key) |
//! | `%t` | the topic |
//! | `%p` | the partition |
//! | `%o` | the offset |
//! | `%T` | the timestamp, milliseconds since the epoch |
//! | `%%` | a `%` |
//! | `\n`, `\t`, `\r`, `\\` | a newline, a tab, a carriage return, a backslash |
//!
//! Anything else is printed as written; an unknown `%x` or `\x` is an error, so a
//! typo does not silently print the wrong thing.

use std::fmt;

use crate::consumer::ConsumerRecord;

/// The format used without `--format`: the value, one record per line.
pub const DEFAULT_FORMAT: &str = "%v\\n";

/// One part of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Value,
    Key,
    Topic,
    Partition,
    Offset,
    Timestamp,
}

/// A parsed `--format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFormat {
    pieces: Vec<Piece>,
}

/// Why a format string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// The offending token, e.g. `%x`.
    pub token: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown token {:?} (use %k %v %t %p %o %T %% \\n \\t \\r \\\\)", self.token)
    }
}

impl std::error::Error for FormatError {}

impl RecordFormat {
    /// Parses `format`.
    ///
    /// # Errors
    ///
    /// [`FormatError`] for an unknown `%` or `\` token, or one cut off at the end.
    pub fn parse(format: &str) -> Result<Self, FormatError> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            let piece = match c {
                '%' | '\\' => match (c, chars.next()) {
                    ('%', Some('v')) => Piece::Value,
                    ('%', Some('k')) => Piece::Key,
                    ('%', Some('t')) => Piece::Topic,
                    ('%', Some('p')) => Piece::Partition,
                    ('%', Some('o')) => Piece::Offset,
                    ('%', Some('T')) => Piece::Timestamp,
                    ('%', Some('%')) => Piece::Literal(b"%".to_vec()),
                    ('\\', Some('n')) => Piece::Literal(b"\n".to_vec()),
                    ('\\', Some('t')) => Piece::Literal(b"\t".to_vec()),
                    ('\\', Some('r')) => Piece::Literal(b"\r".to_vec()),
                    ('\\', Some('\\')) => Piece::Literal(b"\\".to_vec()),
                    (c, next) => return Err(FormatError { token: next.map_or(c.to_string(), |n| format!("{c}{n}")) }),
                },
                c => {
                    let mut buf = [0; 4];
                    literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
            };
            match piece {
                Piece::Literal(bytes) => literal.extend_from_slice(&bytes),
                piece => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Self { pieces })
    }

    /// Appends `record`, formatted, to `out`.
    pub fn render(&self, record: &ConsumerRecord, out: &mut Vec<u8>) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(bytes) => out.extend_from_slice(bytes),
                Piece::Value => out.extend_from_slice(record.value.as_deref().unwrap_or_default()),
                Piece::Key => out.extend_from_slice(record.key.as_deref().unwrap_or_default()),
                Piece::Topic => out.extend_from_slice(record.topic.as_bytes()),
                Piece::Partition => push_number(out, i64::from(record.partition)),
                Piece::Offset => push_number(out, record.offset),
                Piece::Timestamp => push_number(out, record.timestamp),
            }
        }
    }
}

impl Default for RecordFormat {
    fn default() -> Self {
        Self { pieces: vec![Piece::Value, Piece::Literal(b"\n".to_vec())] }
    }
}

fn push_number(out: &mut Vec<u8>, n: i64) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::record::TimestampType;

    fn record(key: Option<&'static str>, value: Option<&'static [u8]>) -> ConsumerRecord {
        ConsumerRecord {
            topic: "orders".into(),
            partition: 3,
            offset: 42,
            timestamp: 1_700_000_000_000,
            timestamp_type: TimestampType::CreateTime,
            key: key.map(|k| Bytes::from_static(k.as_bytes())),
            value: value.map(Bytes::from_static),
            headers: Vec::new(),
            leader_epoch: -1,
        }
    }

    fn render(format: &str, record: &ConsumerRecord) -> Vec<u8> {
        let mut out = Vec::new();
        RecordFormat::parse(format).unwrap().render(record, &mut out);
        out
    }

    #[test]
    fn the_default_prints_the_value_and_a_newline() {
        let r = record(Some("k"), Some(b"hello"));
        assert_eq!(render(DEFAULT_FORMAT, &r), b"hello\n");
        assert_eq!(RecordFormat::parse(DEFAULT_FORMAT).unwrap(), RecordFormat::default());
    }

    #[test]
    fn every_token_renders() {
        let r = record(Some("key-1"), Some(b"v\xff"));
        assert_eq!(
            render("%t/%p@%o %k=%v %T 100%%\\t|\\\\|\\r\\n", &r),
            b"orders/3@42 key-1=v\xff 1700000000000 100%\t|\\|\r\n"
        );
    }

    #[test]
    fn null_key_and_value_print_nothing() {
        assert_eq!(render("[%k][%v]", &record(None, None)), b"[][]");
    }

    #[test]
    fn non_ascii_literals_are_kept() {
        assert_eq!(render("é→%o", &record(None, None)), "é→42".as_bytes());
    }

    #[test]
    fn unknown_or_cut_tokens_are_refused() {
        assert_eq!(RecordFormat::parse("%x").unwrap_err().token, "%x");
        assert_eq!(RecordFormat::parse("a\\q").unwrap_err().token, "\\q");
        assert_eq!(RecordFormat::parse("%v%").unwrap_err().token, "%");
        assert!(RecordFormat::parse("%v\\").is_err());
    }
}
