//! `Group`'s committed offsets: who may commit, and what a fetch reads.

use std::time::Instant;

use super::state::{Group, GroupState};
use crate::protocol::ErrorCode;

/// The largest commit metadata string kept (Kafka's `offset.metadata.max.bytes`).
pub(crate) const MAX_METADATA_BYTES: usize = 4096;

/// One committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
    /// Milliseconds since the epoch.
    pub(crate) commit_timestamp_ms: i64,
}

impl Group {
    /// Whether an OffsetCommit from this member at this generation may commit (Kafka's
    /// rules): generation < 0 with an Empty group is a "simple" commit by a standalone
    /// consumer; otherwise the member must be current, and not mid-sync.
    pub(crate) fn check_commit(
        &mut self,
        now: Instant,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        if let Some(owner) = instance_id.and_then(|i| self.static_members.get(i)) {
            if owner != member_id {
                return Err(ErrorCode::FencedInstanceId);
            }
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ErrorCode::RebalanceInProgress);
        }
        let Some(member) = self.members.get_mut(member_id) else {
            return Err(ErrorCode::UnknownMemberId);
        };
        if generation_id != self.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        member.refresh(now);
        Ok(())
    }

    /// Stores one partition's offset; OFFSET_METADATA_TOO_LARGE for oversized metadata.
    pub(crate) fn commit_offset(&mut self, topic: &str, partition: i32, offset: CommittedOffset) -> ErrorCode {
        if offset.metadata.as_ref().is_some_and(|m| m.len() > MAX_METADATA_BYTES) {
            return ErrorCode::OffsetMetadataTooLarge;
        }
        self.offsets.insert((topic.to_owned(), partition), offset);
        ErrorCode::None
    }

    /// The committed offset of one partition, if any.
    pub(crate) fn committed(&self, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.offsets.get(&(topic.to_owned(), partition))
    }

    /// Every committed partition, grouped by topic in name order.
    pub(crate) fn committed_topics(&self) -> Vec<(String, Vec<i32>)> {
        let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
        for (topic, partition) in self.offsets.keys() {
            match topics.last_mut() {
                Some((name, partitions)) if name == topic => partitions.push(*partition),
                _ => topics.push((topic.clone(), vec![*partition])),
            }
        }
        topics
    }
}
