//! Kafka's error codes as a `Copy` enum.
//!
//! Names and codes are Kafka's (`org.apache.kafka.common.protocol.Errors`, 3.8);
//! `is_retriable` is true where the Java client's exception for the code is a
//! `RetriableException`: the same request may succeed later, usually after a metadata
//! refresh or a back-off. A code this crate does not know is kept as `Unknown(code)`.

macro_rules! error_codes {
    ($(($code:literal, $variant:ident, $name:literal, $retriable:literal),)*) => {
        /// A Kafka protocol error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[allow(missing_docs)]
        pub enum ErrorCode {
            $($variant,)*
            /// A code this crate does not know (a newer broker's).
            Unknown(i16),
        }

        impl ErrorCode {
            /// The error for a wire code; `0` is [`ErrorCode::None`].
            pub fn from_i16(code: i16) -> ErrorCode {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// The wire code.
            pub fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// Kafka's name for the error, e.g. `"NOT_LEADER_OR_FOLLOWER"`.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// Whether the same request may succeed if retried.
            pub fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    ErrorCode::Unknown(_) => false,
                }
            }
        }
    };
}

error_codes! {
    (-1, UnknownServerError, "UNKNOWN_SERVER_ERROR", false),
    (0, None, "NONE", false),
    (1, OffsetOutOfRange, "OFFSET_OUT_OF_RANGE", false),
    (2, CorruptMessage, "CORRUPT_MESSAGE", true),
    (3, UnknownTopicOrPartition, "UNKNOWN_TOPIC_OR_PARTITION", true),
    (4, InvalidFetchSize, "INVALID_FETCH_SIZE", false),
    (5, LeaderNotAvailable, "LEADER_NOT_AVAILABLE", true),
    (6, NotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER", true),
    (7, RequestTimedOut, "REQUEST_TIMED_OUT", true),
    (8, BrokerNotAvailable, "BROKER_NOT_AVAILABLE", false),
    (9, ReplicaNotAvailable, "REPLICA_NOT_AVAILABLE", true),
    (10, MessageTooLarge, "MESSAGE_TOO_LARGE", false),
    (11, StaleControllerEpoch, "STALE_CONTROLLER_EPOCH", false),
    (12, OffsetMetadataTooLarge, "OFFSET_METADATA_TOO_LARGE", false),
    (13, NetworkException, "NETWORK_EXCEPTION", true),
    (14, CoordinatorLoadInProgress, "COORDINATOR_LOAD_IN_PROGRESS", true),
    (15, CoordinatorNotAvailable, "COORDINATOR_NOT_AVAILABLE", true),
    (16, NotCoordinator, "NOT_COORDINATOR", true),
    (17, InvalidTopicException, "INVALID_TOPIC_EXCEPTION", false),
    (18, RecordListTooLarge, "RECORD_LIST_TOO_LARGE", false),
    (19, NotEnoughReplicas, "NOT_ENOUGH_REPLICAS", true),
    (20, NotEnoughReplicasAfterAppend, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true),
    (21, InvalidRequiredAcks, "INVALID_REQUIRED_ACKS", false),
    (22, IllegalGeneration, "ILLEGAL_GENERATION", false),
    (23, InconsistentGroupProtocol, "INCONSISTENT_GROUP_PROTOCOL", false),
    (24, InvalidGroupId, "INVALID_GROUP_ID", false),
    (25, UnknownMemberId, "UNKNOWN_MEMBER_ID", false),
    (26, InvalidSessionTimeout, "INVALID_SESSION_TIMEOUT", false),
    (27, RebalanceInProgress, "REBALANCE_IN_PROGRESS", false),
    (28, InvalidCommitOffsetSize, "INVALID_COMMIT_OFFSET_SIZE", false),
    (29, TopicAuthorizationFailed, "TOPIC_AUTHORIZATION_FAILED", false),
    (30, GroupAuthorizationFailed, "GROUP_AUTHORIZATION_FAILED", false),
    (31, ClusterAuthorizationFailed, "CLUSTER_AUTHORIZATION_FAILED", false),
    (32, InvalidTimestamp, "INVALID_TIMESTAMP", false),
    (33, UnsupportedSaslMechanism, "UNSUPPORTED_SASL_MECHANISM", false),
    (34, IllegalSaslState, "ILLEGAL_SASL_STATE", false),
    (35, UnsupportedVersion, "UNSUPPORTED_VERSION", false),
    (36, TopicAlreadyExists, "TOPIC_ALREADY_EXISTS", false),
    (37, InvalidPartitions, "INVALID_PARTITIONS", false),
    (38, InvalidReplicationFactor, "INVALID_REPLICATION_FACTOR", false),
    (39, InvalidReplicaAssignment, "INVALID_REPLICA_ASSIGNMENT", false),
    (40, InvalidConfig, "INVALID_CONFIG", false),
    (41, NotController, "NOT_CONTROLLER", true),
    (42, InvalidRequest, "INVALID_REQUEST", false),
    (43, UnsupportedForMessageFormat, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false),
    (44, PolicyViolation, "POLICY_VIOLATION", false),
    (45, OutOfOrderSequenceNumber, "OUT_OF_ORDER_SEQUENCE_NUMBER", false),
    (46, DuplicateSequenceNumber, "DUPLICATE_SEQUENCE_NUMBER", false),
    (47, InvalidProducerEpoch, "INVALID_PRODUCER_EPOCH", false),
    (48, InvalidTxnState, "INVALID_TXN_STATE", false),
    (49, InvalidProducerIdMapping, "INVALID_PRODUCER_ID_MAPPING", false),
    (50, InvalidTransactionTimeout, "INVALID_TRANSACTION_TIMEOUT", false),
    (51, ConcurrentTransactions, "CONCURRENT_TRANSACTIONS", true),
    (52, TransactionCoordinatorFenced, "TRANSACTION_COORDINATOR_FENCED", false),
    (53, TransactionalIdAuthorizationFailed, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false),
    (54, SecurityDisabled, "SECURITY_DISABLED", false),
    (55, OperationNotAttempted, "OPERATION_NOT_ATTEMPTED", false),
    (56, KafkaStorageError, "KAFKA_STORAGE_ERROR", true),
    (57, LogDirNotFound, "LOG_DIR_NOT_FOUND", false),
    (58, SaslAuthenticationFailed, "SASL_AUTHENTICATION_FAILED", false),
    (59, UnknownProducerId, "UNKNOWN_PRODUCER_ID", false),
    (60, ReassignmentInProgress, "REASSIGNMENT_IN_PROGRESS", false),
    (61, DelegationTokenAuthDisabled, "DELEGATION_TOKEN_AUTH_DISABLED", false),
    (62, DelegationTokenNotFound, "DELEGATION_TOKEN_NOT_FOUND", false),
    (63, DelegationTokenOwnerMismatch, "DELEGATION_TOKEN_OWNER_MISMATCH", false),
    (64, DelegationTokenRequestNotAllowed, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false),
    (65, DelegationTokenAuthorizationFailed, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false),
    (66, DelegationTokenExpired, "DELEGATION_TOKEN_EXPIRED", false),
    (67, InvalidPrincipalType, "INVALID_PRINCIPAL_TYPE", false),
    (68, NonEmptyGroup, "NON_EMPTY_GROUP", false),
    (69, GroupIdNotFound, "GROUP_ID_NOT_FOUND", false),
    (70, FetchSessionIdNotFound, "FETCH_SESSION_ID_NOT_FOUND", true),
    (71, InvalidFetchSessionEpoch, "INVALID_FETCH_SESSION_EPOCH", true),
    (72, ListenerNotFound, "LISTENER_NOT_FOUND", true),
    (73, TopicDeletionDisabled, "TOPIC_DELETION_DISABLED", false),
    (74, FencedLeaderEpoch, "FENCED_LEADER_EPOCH", true),
    (75, UnknownLeaderEpoch, "UNKNOWN_LEADER_EPOCH", true),
    (76, UnsupportedCompressionType, "UNSUPPORTED_COMPRESSION_TYPE", false),
    (77, StaleBrokerEpoch, "STALE_BROKER_EPOCH", false),
    (78, OffsetNotAvailable, "OFFSET_NOT_AVAILABLE", true),
    (79, MemberIdRequired, "MEMBER_ID_REQUIRED", false),
    (80, PreferredLeaderNotAvailable, "PREFERRED_LEADER_NOT_AVAILABLE", true),
    (81, GroupMaxSizeReached, "GROUP_MAX_SIZE_REACHED", false),
    (82, FencedInstanceId, "FENCED_INSTANCE_ID", false),
    (83, EligibleLeadersNotAvailable, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true),
    (84, ElectionNotNeeded, "ELECTION_NOT_NEEDED", true),
    (85, NoReassignmentInProgress, "NO_REASSIGNMENT_IN_PROGRESS", false),
    (86, GroupSubscribedToTopic, "GROUP_SUBSCRIBED_TO_TOPIC", false),
    (87, InvalidRecord, "INVALID_RECORD", false),
    (88, UnstableOffsetCommit, "UNSTABLE_OFFSET_COMMIT", true),
    (89, ThrottlingQuotaExceeded, "THROTTLING_QUOTA_EXCEEDED", true),
    (90, ProducerFenced, "PRODUCER_FENCED", false),
    (91, ResourceNotFound, "RESOURCE_NOT_FOUND", false),
    (92, DuplicateResource, "DUPLICATE_RESOURCE", false),
    (93, UnacceptableCredential, "UNACCEPTABLE_CREDENTIAL", false),
    (94, InconsistentVoterSet, "INCONSISTENT_VOTER_SET", false),
    (95, InvalidUpdateVersion, "INVALID_UPDATE_VERSION", false),
    (96, FeatureUpdateFailed, "FEATURE_UPDATE_FAILED", false),
    (97, PrincipalDeserializationFailure, "PRINCIPAL_DESERIALIZATION_FAILURE", false),
    (98, SnapshotNotFound, "SNAPSHOT_NOT_FOUND", false),
    (99, PositionOutOfRange, "POSITION_OUT_OF_RANGE", false),
    (100, UnknownTopicId, "UNKNOWN_TOPIC_ID", true),
    (101, DuplicateBrokerRegistration, "DUPLICATE_BROKER_REGISTRATION", false),
    (102, BrokerIdNotRegistered, "BROKER_ID_NOT_REGISTERED", false),
    (103, InconsistentTopicId, "INCONSISTENT_TOPIC_ID", true),
    (104, InconsistentClusterId, "INCONSISTENT_CLUSTER_ID", false),
    (105, TransactionalIdNotFound, "TRANSACTIONAL_ID_NOT_FOUND", false),
    (106, FetchSessionTopicIdError, "FETCH_SESSION_TOPIC_ID_ERROR", true),
    (107, IneligibleReplica, "INELIGIBLE_REPLICA", false),
    (108, NewLeaderElected, "NEW_LEADER_ELECTED", false),
    (109, OffsetMovedToTieredStorage, "OFFSET_MOVED_TO_TIERED_STORAGE", false),
    (110, FencedMemberEpoch, "FENCED_MEMBER_EPOCH", false),
    (111, UnreleasedInstanceId, "UNRELEASED_INSTANCE_ID", false),
    (112, UnsupportedAssignor, "UNSUPPORTED_ASSIGNOR", false),
    (113, StaleMemberEpoch, "STALE_MEMBER_EPOCH", false),
    (114, MismatchedEndpointType, "MISMATCHED_ENDPOINT_TYPE", false),
    (115, UnsupportedEndpointType, "UNSUPPORTED_ENDPOINT_TYPE", false),
    (116, UnknownControllerId, "UNKNOWN_CONTROLLER_ID", false),
    (117, UnknownSubscriptionId, "UNKNOWN_SUBSCRIPTION_ID", false),
    (118, TelemetryTooLarge, "TELEMETRY_TOO_LARGE", false),
    (119, InvalidRegistration, "INVALID_REGISTRATION", false),
    (120, TransactionAbortable, "TRANSACTION_ABORTABLE", false),
}

impl ErrorCode {
    /// Whether this is the "no error" code.
    pub fn is_ok(self) -> bool {
        self == ErrorCode::None
    }

    /// `Ok(())` for [`ErrorCode::None`], otherwise `Err(self)`.
    ///
    /// # Errors
    ///
    /// The code itself, when it is an error.
    pub fn ok(self) -> Result<(), ErrorCode> {
        if self.is_ok() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode::from_i16(code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_roundtrips() {
        for code in -1..=120 {
            let e = ErrorCode::from_i16(code);
            assert!(!matches!(e, ErrorCode::Unknown(_)), "code {code} has no variant");
            assert_eq!(e.code(), code);
        }
        assert_eq!(ErrorCode::from_i16(999), ErrorCode::Unknown(999));
        assert_eq!(ErrorCode::from_i16(999).code(), 999);
    }

    #[test]
    fn retriable_codes_are_the_transient_ones() {
        assert!(ErrorCode::NotLeaderOrFollower.is_retriable());
        assert!(ErrorCode::UnknownTopicOrPartition.is_retriable());
        assert!(!ErrorCode::MessageTooLarge.is_retriable());
        assert!(!ErrorCode::OutOfOrderSequenceNumber.is_retriable());
        assert_eq!(ErrorCode::UnsupportedVersion.to_string(), "UNSUPPORTED_VERSION (35)");
    }
}
