//! The traits every wire structure implements, and the version ranges they speak.

use bytes::{Bytes, BytesMut};

use super::api_key::ApiKey;
use super::error::{DecodeError, EncodeError};

/// Writes a structure at a protocol version.
pub trait Encode {
    /// Appends `self`, encoded at `version`, to `buf`.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when a value does not fit the version: a null where the version
    /// allows none, a set field the version lacks, a string too long for its prefix.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;

    /// The bytes of record data (`records` fields) inside, so that a frame's buffer is
    /// sized once: record data is nearly all of a produce request or a fetch response,
    /// and a buffer grown by doubling copies it again at each step.
    fn records_len(&self) -> usize {
        0
    }
}

/// Reads a structure at a protocol version.
pub trait Decode: Sized {
    /// Reads one value, encoded at `version`, from the front of `buf`.
    ///
    /// Byte strings (record batches included) are split off `buf` without copying.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for any input that is not a valid encoding; never a panic.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;
}

/// An inclusive range of protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The oldest version.
    pub min: i16,
    /// The newest version.
    pub max: i16,
}

impl VersionRange {
    /// The versions `min..=max`.
    pub const fn new(min: i16, max: i16) -> Self {
        Self { min, max }
    }

    /// Whether `version` is in the range.
    pub const fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// The versions both ranges hold, if any.
    pub fn intersect(self, other: VersionRange) -> Option<VersionRange> {
        let (min, max) = (self.min.max(other.min), self.max.min(other.max));
        (min <= max).then_some(VersionRange { min, max })
    }

    /// Every version in the range, oldest first.
    pub fn iter(self) -> impl Iterator<Item = i16> {
        self.min..=self.max
    }
}

impl std::fmt::Display for VersionRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

/// A top-level message (request, response or data structure) with its versions.
pub trait Message: Encode + Decode + std::fmt::Debug + Clone + PartialEq + Default + Send + 'static {
    /// The schema's name, e.g. `"ProduceRequest"`.
    const NAME: &'static str;
    /// The versions this codec implements (Kafka 3.8.0's `validVersions`).
    const VERSIONS: VersionRange;
    /// The first version using the flexible encoding (KIP-482), if any.
    const FLEXIBLE_FROM: Option<i16>;

    /// Whether `version` uses compact lengths and tagged fields.
    fn is_flexible(version: i16) -> bool {
        Self::FLEXIBLE_FROM.is_some_and(|first| version >= first)
    }
}

/// A request, tied to its API key and its response type.
pub trait Request: Message {
    /// The API key sent in the request header.
    const API_KEY: ApiKey;
    /// What the broker answers.
    type Response: Message;
}

/// Fails a decoded null unless the version allows one.
#[doc(hidden)]
pub fn check_null<T>(
    value: Option<T>,
    nullable: bool,
    what: &'static str,
    version: i16,
) -> Result<Option<T>, DecodeError> {
    if value.is_none() && !nullable {
        return Err(DecodeError::UnexpectedNull { what, version });
    }
    Ok(value)
}

/// Fails a null about to be encoded unless the version allows one.
#[doc(hidden)]
pub fn check_some<T>(
    value: Option<T>,
    nullable: bool,
    what: &'static str,
    version: i16,
) -> Result<Option<T>, EncodeError> {
    if value.is_none() && !nullable {
        return Err(EncodeError::NullNotAllowed { what, version });
    }
    Ok(value)
}
