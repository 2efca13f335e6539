//! API keys, and the one table of versions this codec implements per API.
//!
//! | API (key) | versions | flexible from |
//! |---|---|---|
//! | Produce (0) | 0–11 | 9 |
//! | Fetch (1) | 0–16 | 12 |
//! | ListOffsets (2) | 0–8 | 6 |
//! | Metadata (3) | 0–12 | 9 |
//! | OffsetCommit (8) | 0–9 | 8 |
//! | OffsetFetch (9) | 0–9 | 6 |
//! | FindCoordinator (10) | 0–5 | 3 |
//! | JoinGroup (11) | 0–9 | 6 |
//! | Heartbeat (12) | 0–4 | 4 |
//! | LeaveGroup (13) | 0–5 | 4 |
//! | SyncGroup (14) | 0–5 | 4 |
//! | DescribeGroups (15) | 0–5 | 5 |
//! | ListGroups (16) | 0–5 | 3 |
//! | SaslHandshake (17) | 0–1 | — |
//! | ApiVersions (18) | 0–3 | 3 |
//! | CreateTopics (19) | 0–7 | 5 |
//! | DeleteTopics (20) | 0–6 | 4 |
//! | InitProducerId (22) | 0–5 | 2 |
//! | SaslAuthenticate (36) | 0–2 | 2 |
//!
//! These are Kafka 3.8.0's whole ranges, so the codec reaches down to librdkafka 2.0.2's
//! mock (Metadata v2, non-flexible group APIs) and Kafka 2.1, and up to Kafka 3.8's
//! newest versions. The table is generated with the messages (`messages::API_TABLE`);
//! a unit test below keeps this doc in step with it.

use super::codec::VersionRange;
use super::messages::API_TABLE;

/// The APIs this codec speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(i16)]
#[allow(missing_docs)]
pub enum ApiKey {
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    DescribeGroups = 15,
    ListGroups = 16,
    SaslHandshake = 17,
    ApiVersions = 18,
    CreateTopics = 19,
    DeleteTopics = 20,
    InitProducerId = 22,
    SaslAuthenticate = 36,
}

impl ApiKey {
    /// Every API the codec speaks, in key order.
    pub const ALL: [ApiKey; 19] = [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
        ApiKey::SyncGroup,
        ApiKey::DescribeGroups,
        ApiKey::ListGroups,
        ApiKey::SaslHandshake,
        ApiKey::ApiVersions,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::InitProducerId,
        ApiKey::SaslAuthenticate,
    ];

    /// The key for a wire value, if the codec knows it.
    pub fn from_i16(key: i16) -> Option<ApiKey> {
        Self::ALL.into_iter().find(|k| *k as i16 == key)
    }

    fn row(self) -> (i16, &'static str, i16, i16, Option<i16>) {
        // Every variant has a row: the table and the enum are generated from one list,
        // and `table_and_enum_agree` checks it.
        API_TABLE.iter().copied().find(|row| row.0 == self as i16).unwrap_or((self as i16, "Unknown", 0, -1, None))
    }

    /// The API's name in the Kafka spec, e.g. `"Produce"`.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// The versions this codec implements.
    pub fn versions(self) -> VersionRange {
        let (_, _, min, max, _) = self.row();
        VersionRange::new(min, max)
    }

    /// Whether `version` of this API uses the flexible encoding (KIP-482).
    pub fn is_flexible(self, version: i16) -> bool {
        self.row().4.is_some_and(|first| version >= first)
    }

    /// The request header version for `version` of this API: 2 when flexible, else 1.
    pub fn request_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// The response header version for `version` of this API: 1 when flexible, else
    /// 0; ApiVersions always answers with header 0 (KIP-511), so a client that does
    /// not yet know the broker's versions can still read the correlation id.
    pub fn response_header_version(self, version: i16) -> i16 {
        if self != ApiKey::ApiVersions && self.is_flexible(version) {
            1
        } else {
            0
        }
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_enum_agree() {
        assert_eq!(API_TABLE.len(), ApiKey::ALL.len());
        for key in ApiKey::ALL {
            assert_ne!(key.name(), "Unknown", "{key:?}");
            assert_eq!(ApiKey::from_i16(key as i16), Some(key));
        }
        assert_eq!(ApiKey::from_i16(7), None);
    }

    #[test]
    fn the_module_doc_states_the_table() {
        let doc = include_str!("api_key.rs");
        for (key, name, min, max, flexible) in API_TABLE {
            let flexible = flexible.map_or("—".to_string(), |f| f.to_string());
            let row = format!("//! | {name} ({key}) | {min}–{max} | {flexible} |");
            assert!(doc.contains(&row), "missing doc row: {row}");
        }
    }

    #[test]
    fn header_versions_follow_flexibility() {
        assert_eq!(ApiKey::Produce.request_header_version(8), 1);
        assert_eq!(ApiKey::Produce.request_header_version(9), 2);
        assert_eq!(ApiKey::Produce.response_header_version(9), 1);
        assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
        assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
        assert_eq!(ApiKey::SaslHandshake.request_header_version(1), 1);
    }
}
