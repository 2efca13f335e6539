//! Version negotiation as a plain value: what the broker announced in its
//! ApiVersions answer, against what this crate implements (`FRAMING.md` §4).

use std::collections::HashMap;

use crate::protocol::messages::api_versions_response::ApiVersion;
use crate::protocol::{ApiKey, VersionRange};

/// The versions a broker announced on one connection, and for each API this crate
/// speaks the highest version both sides support.
///
/// Valid only for the connection it was negotiated on (a rolling upgrade changes it).
///
/// # Examples
///
/// ```
/// use actix_kafka::net::NegotiatedVersions;
/// use actix_kafka::protocol::{ApiKey, VersionRange};
///
/// let versions = NegotiatedVersions::from_ranges([(ApiKey::Metadata as i16, VersionRange::new(0, 2))]);
/// assert_eq!(versions.version_for(ApiKey::Metadata), Some(2));
/// assert_eq!(versions.version_for(ApiKey::Fetch), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NegotiatedVersions {
    /// Every range the broker announced, by wire key, including keys this crate does
    /// not know.
    broker: HashMap<i16, VersionRange>,
    /// The ApiVersions version the handshake was answered at.
    handshake_version: i16,
}

impl NegotiatedVersions {
    /// From the `api_keys` of a broker's ApiVersions answer. A key announced twice
    /// keeps its last range.
    pub fn from_api_keys(api_keys: &[ApiVersion]) -> Self {
        Self::from_ranges(api_keys.iter().map(|k| (k.api_key, VersionRange::new(k.min_version, k.max_version))))
    }

    /// From `(wire api key, broker range)` pairs.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (i16, VersionRange)>) -> Self {
        Self { broker: ranges.into_iter().collect(), handshake_version: 0 }
    }

    pub(crate) fn with_handshake_version(mut self, version: i16) -> Self {
        self.handshake_version = version;
        self
    }

    /// The ApiVersions version at which the broker answered the handshake (3 for
    /// Kafka 2.4+, lower after an UNSUPPORTED_VERSION fallback).
    pub fn handshake_version(&self) -> i16 {
        self.handshake_version
    }

    /// The range the broker announced for `api`, if it announced the API.
    pub fn broker_range(&self, api: ApiKey) -> Option<VersionRange> {
        self.broker.get(&(api as i16)).copied()
    }

    /// The versions of `api` both sides support, if any.
    pub fn common_range(&self, api: ApiKey) -> Option<VersionRange> {
        self.broker_range(api)?.intersect(api.versions())
    }

    /// The highest version of `api` both sides support, if any.
    pub fn version_for(&self, api: ApiKey) -> Option<i16> {
        self.common_range(api).map(|range| range.max)
    }

    /// The wire keys the broker announced, in key order.
    pub fn broker_api_keys(&self) -> Vec<i16> {
        let mut keys: Vec<i16> = self.broker.keys().copied().collect();
        keys.sort_unstable();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(api_key: ApiKey, min: i16, max: i16) -> ApiVersion {
        ApiVersion { api_key: api_key as i16, min_version: min, max_version: max, ..Default::default() }
    }

    #[test]
    fn picks_the_lower_of_the_two_maxima() {
        // librdkafka 2.0.2's mock (PEER_VERSIONS.md): Metadata 0-2, Fetch 0-11; ours
        // reach 12 and 16. tansu: Fetch 0-17, above ours.
        let versions = NegotiatedVersions::from_api_keys(&[
            api(ApiKey::Metadata, 0, 2),
            api(ApiKey::Fetch, 0, 11),
            api(ApiKey::Produce, 0, 99),
        ]);
        assert_eq!(versions.version_for(ApiKey::Metadata), Some(2));
        assert_eq!(versions.version_for(ApiKey::Fetch), Some(11));
        assert_eq!(versions.version_for(ApiKey::Produce), Some(ApiKey::Produce.versions().max));
        assert_eq!(versions.common_range(ApiKey::Produce), Some(ApiKey::Produce.versions()));
    }

    #[test]
    fn an_api_the_broker_lacks_or_ranges_that_do_not_meet_have_no_version() {
        let versions =
            NegotiatedVersions::from_api_keys(&[api(ApiKey::Heartbeat, 20, 30), api(ApiKey::Metadata, 5, 2)]);
        assert_eq!(versions.broker_range(ApiKey::Heartbeat), Some(VersionRange::new(20, 30)));
        assert_eq!(versions.version_for(ApiKey::Heartbeat), None, "disjoint ranges");
        assert_eq!(versions.version_for(ApiKey::Metadata), None, "an empty broker range");
        assert_eq!(versions.broker_range(ApiKey::Fetch), None);
        assert_eq!(versions.version_for(ApiKey::Fetch), None);
    }

    #[test]
    fn unknown_keys_are_kept_and_the_minimum_is_respected() {
        let versions =
            NegotiatedVersions::from_ranges([(1000, VersionRange::new(0, 1)), (18, VersionRange::new(2, 4))]);
        assert_eq!(versions.broker_api_keys(), vec![18, 1000]);
        assert_eq!(versions.common_range(ApiKey::ApiVersions), Some(VersionRange::new(2, 3)));
    }
}
