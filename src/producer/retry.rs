//! The retry decision: what a partition does with a batch the broker refused.

use crate::protocol::ErrorCode;

/// What to do with a batch after an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The broker already has the batch (a retry of an appended batch): success.
    Duplicate,
    /// Send it again to the same leader after the backoff.
    Retry,
    /// The leader may have moved: refresh metadata, back off, re-route, send again.
    RefreshAndRetry,
    /// The broker lost or rejected our sequence state: bump the epoch (KIP-360),
    /// renumber the partition's unacknowledged batches from 0, send again.
    ResetSequence,
    /// This producer is fenced: fail with `Fenced`.
    Fenced,
    /// Fail every record of the batch with this error.
    Fail,
}

/// Kafka's `PRODUCER_FENCED` (code 90), a newer name for a fenced epoch.
const PRODUCER_FENCED: i16 = 90;

/// The decision for `error` on a batch.
pub(crate) fn decide(error: ErrorCode) -> Decision {
    match error {
        ErrorCode::DuplicateSequenceNumber => Decision::Duplicate,
        ErrorCode::NotLeaderOrFollower
        | ErrorCode::UnknownTopicOrPartition
        | ErrorCode::LeaderNotAvailable
        | ErrorCode::FencedLeaderEpoch
        | ErrorCode::UnknownLeaderEpoch
        | ErrorCode::NetworkException
        | ErrorCode::KafkaStorageError
        | ErrorCode::BrokerNotAvailable => Decision::RefreshAndRetry,
        ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId => Decision::ResetSequence,
        ErrorCode::InvalidProducerEpoch => Decision::Fenced,
        other if other.code() == PRODUCER_FENCED => Decision::Fenced,
        other if other.is_retriable() => Decision::Retry,
        _ => Decision::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadership_errors_refresh_metadata() {
        for code in [ErrorCode::NotLeaderOrFollower, ErrorCode::UnknownTopicOrPartition, ErrorCode::LeaderNotAvailable]
        {
            assert_eq!(decide(code), Decision::RefreshAndRetry, "{code:?}");
        }
    }

    #[test]
    fn idempotence_errors_follow_the_java_client() {
        assert_eq!(decide(ErrorCode::DuplicateSequenceNumber), Decision::Duplicate);
        assert_eq!(decide(ErrorCode::OutOfOrderSequenceNumber), Decision::ResetSequence);
        assert_eq!(decide(ErrorCode::UnknownProducerId), Decision::ResetSequence);
        assert_eq!(decide(ErrorCode::InvalidProducerEpoch), Decision::Fenced);
        assert_eq!(decide(ErrorCode::from_i16(90)), Decision::Fenced);
    }

    #[test]
    fn other_errors_retry_when_retriable_and_fail_otherwise() {
        assert_eq!(decide(ErrorCode::RequestTimedOut), Decision::Retry);
        assert_eq!(decide(ErrorCode::NotEnoughReplicas), Decision::Retry);
        assert_eq!(decide(ErrorCode::MessageTooLarge), Decision::Fail);
        assert_eq!(decide(ErrorCode::TopicAuthorizationFailed), Decision::Fail);
        assert_eq!(decide(ErrorCode::Unknown(999)), Decision::Fail);
    }
}
