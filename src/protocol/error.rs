//! The codec's two error types: one for bytes that cannot be decoded, one for values
//! that cannot be encoded at the requested version.
//!
//! Both carry a `what` naming the message and field (`"ProduceRequest.acks"`), so an
//! error read in a log says where the bytes went wrong, not only how.

/// Bytes that do not decode to a valid message.
///
/// Every decoder in [`crate::protocol`] returns this instead of panicking; none of its
/// variants is caused by anything but the input, so the caller can drop the frame (or
/// the connection) and carry on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("unexpected end of input reading {what}: needed {needed} bytes, {remaining} left")]
    UnexpectedEof {
        /// What was being read.
        what: &'static str,
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count is negative (other than the null marker) or larger than the
    /// bytes left, so it cannot be right. Nothing was allocated for it.
    #[error("invalid length {length} for {what}")]
    InvalidLength {
        /// What was being read.
        what: &'static str,
        /// The length as found on the wire.
        length: i64,
    },
    /// A varint runs past its maximum width.
    #[error("varint in {what} is longer than {max_bytes} bytes")]
    VarintTooLong {
        /// What was being read.
        what: &'static str,
        /// The widest valid encoding.
        max_bytes: usize,
    },
    /// A string field holds bytes that are not UTF-8.
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 {
        /// What was being read.
        what: &'static str,
    },
    /// A null where the version does not allow one.
    #[error("{what} is null in version {version}, where it may not be")]
    UnexpectedNull {
        /// What was being read.
        what: &'static str,
        /// The message version.
        version: i16,
    },
    /// The message or header version is outside what this codec implements.
    #[error("{what} has no version {version}")]
    UnsupportedVersion {
        /// The message.
        what: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// Tagged fields must come in strictly increasing tag order (KIP-482).
    #[error("tagged field {tag} in {what} does not follow tag {previous}")]
    TaggedFieldOrder {
        /// The structure being read.
        what: &'static str,
        /// The tag before.
        previous: u32,
        /// The tag found.
        tag: u32,
    },
    /// A value is out of the range the protocol allows (a magic byte, an enum value).
    #[error("invalid value {value} for {what}")]
    InvalidValue {
        /// What was being read.
        what: &'static str,
        /// The value found.
        value: i64,
    },
    /// Bytes were left over inside a length-delimited region that should have been
    /// consumed whole (a frame, a known tagged field).
    #[error("{remaining} unexpected bytes after {what}")]
    TrailingBytes {
        /// What was being read.
        what: &'static str,
        /// How many bytes were left.
        remaining: usize,
    },
    /// The API key in a request header is not one this codec knows.
    #[error("unknown API key {api_key}")]
    UnknownApiKey {
        /// The key found.
        api_key: i16,
    },
}

/// A value that cannot be written at the requested version.
///
/// The Kafka rule is kept: a field the version lacks may only be dropped silently when
/// it holds its default (or the schema marks it ignorable); otherwise encoding fails
/// rather than lose information the caller set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string, byte string or array is too long for its length prefix.
    #[error("{what} is {length} long, more than its length prefix can hold")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its length.
        length: usize,
    },
    /// A null value for a field that is not nullable in this version.
    #[error("{what} may not be null in version {version}")]
    NullNotAllowed {
        /// The field.
        what: &'static str,
        /// The message version.
        version: i16,
    },
    /// A non-default value in a field that this version does not have.
    #[error("{what} is set but version {version} does not carry it")]
    FieldNotSupported {
        /// The field.
        what: &'static str,
        /// The message version.
        version: i16,
    },
    /// The message has no such version.
    #[error("{what} has no version {version}")]
    UnsupportedVersion {
        /// The message.
        what: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A value is outside what the wire format allows.
    #[error("invalid value {value} for {what}")]
    InvalidValue {
        /// The field.
        what: &'static str,
        /// The value.
        value: i64,
    },
}
