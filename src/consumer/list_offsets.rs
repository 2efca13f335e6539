//! The reset policy's lookup: ListOffsets for the log start (timestamp -2) or the log
//! end (-1) of one partition, on its leader.
//!
//! The request and the reading of the answer are plain functions, tested at every
//! version: v0 answers a list of `old_style_offsets` (we ask for one), v1+ one
//! `offset`; `isolation_level` (v2+) makes "latest" the last stable offset under
//! `read_committed`; `current_leader_epoch` (v4+) lets the leader fence a stale view.

use crate::client::{ClientError, GetConnection, GetMetadata};
use crate::net::BrokerConnection;
use crate::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use crate::protocol::{ApiKey, ErrorCode};

use super::error::ConsumeError;
use super::shared::Shared;
use super::types::TopicPartition;

/// ListOffsets' timestamp for the log start.
pub(crate) const EARLIEST: i64 = -2;
/// ListOffsets' timestamp for the log end.
pub(crate) const LATEST: i64 = -1;

/// The request for `tp` at `timestamp` ([`EARLIEST`] or [`LATEST`]) at `version`.
pub(crate) fn list_offsets_request(
    tp: &TopicPartition,
    timestamp: i64,
    leader_epoch: i32,
    isolation_level: i8,
    version: i16,
) -> ListOffsetsRequest {
    let partition = ListOffsetsPartition {
        partition_index: tp.partition,
        current_leader_epoch: if version >= 4 { leader_epoch } else { -1 },
        timestamp,
        ..Default::default()
    };
    let topic = ListOffsetsTopic { name: tp.topic.to_string(), partitions: vec![partition], ..Default::default() };
    let mut request = ListOffsetsRequest { topics: vec![topic], ..Default::default() };
    if version >= 2 {
        request.isolation_level = isolation_level;
    }
    request
}

/// The offset the answer gives for `tp`, or the partition's error code.
pub(crate) fn read_offset(response: &ListOffsetsResponse, tp: &TopicPartition, version: i16) -> Result<i64, ErrorCode> {
    let partition = response
        .topics
        .iter()
        .filter(|t| *t.name == *tp.topic)
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == tp.partition)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    let error = ErrorCode::from_i16(partition.error_code);
    if !error.is_ok() {
        return Err(error);
    }
    let offset = if version == 0 { partition.old_style_offsets.first().copied() } else { Some(partition.offset) };
    offset.filter(|o| *o >= 0).ok_or(ErrorCode::OffsetNotAvailable)
}

/// Looks the offset up on `tp`'s leader, retrying retriable failures (a leader
/// moving, a connection dropping) with the backoff until the request timeout.
pub(crate) async fn lookup(shared: &Shared, tp: &TopicPartition, timestamp: i64) -> Result<i64, ConsumeError> {
    let config = &shared.config;
    let deadline = tokio::time::Instant::now() + config.request_timeout;
    let mut backoff = crate::client::Backoff::new(config.retry_backoff, config.retry_backoff_max);
    let mut refresh = false;
    loop {
        match lookup_once(shared, tp, timestamp, refresh).await {
            Ok(offset) => return Ok(offset),
            Err(error) if error.retriable && tokio::time::Instant::now() < deadline => {
                tracing::debug!(partition = %tp, error = %error.error, "ListOffsets failed; retrying");
                refresh = true;
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(error) => return Err(error.error),
        }
    }
}

struct Attempt {
    error: ConsumeError,
    retriable: bool,
}

impl From<ClientError> for Attempt {
    fn from(error: ClientError) -> Self {
        Attempt { retriable: error.is_retriable(), error: ConsumeError::Client(error) }
    }
}

async fn lookup_once(shared: &Shared, tp: &TopicPartition, timestamp: i64, refresh: bool) -> Result<i64, Attempt> {
    let metadata = shared
        .cluster
        .send(GetMetadata { topics: vec![tp.topic.to_string()], refresh })
        .await
        .map_err(ClientError::from)??;
    let leader = metadata.leader(&tp.topic, tp.partition).map(|b| b.id);
    let epoch = metadata
        .topics
        .get(&*tp.topic)
        .and_then(|t| t.partitions.iter().find(|p| p.id == tp.partition))
        .map_or(-1, |p| p.leader_epoch);
    let Some(node) = leader else {
        let error = ConsumeError::Partition {
            topic: tp.topic.clone(),
            partition: tp.partition,
            api: ApiKey::ListOffsets,
            error: ErrorCode::LeaderNotAvailable,
        };
        return Err(Attempt { error, retriable: true });
    };
    let connection: BrokerConnection =
        shared.cluster.send(GetConnection { node }).await.map_err(ClientError::from)??;
    let version = connection.version_for(ApiKey::ListOffsets).map_err(ClientError::from)?;
    let request = list_offsets_request(tp, timestamp, epoch, shared.config.isolation_level.code(), version);
    let response = connection.request_at(&request, version).await.map_err(ClientError::from)?;
    read_offset(&response, tp, version).map_err(|code| Attempt {
        retriable: code.is_retriable(),
        error: ConsumeError::Partition {
            topic: tp.topic.clone(),
            partition: tp.partition,
            api: ApiKey::ListOffsets,
            error: code,
        },
    })
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
    use crate::protocol::{Decode, Encode};

    /// An answer as a broker of `version` writes it (v0: a list of offsets; v1+: one).
    fn response_at(offset: i64, error: ErrorCode, version: i16) -> ListOffsetsResponse {
        let mut partition =
            ListOffsetsPartitionResponse { partition_index: 3, error_code: error.code(), ..Default::default() };
        if version == 0 {
            partition.old_style_offsets = vec![offset];
        } else {
            partition.offset = offset;
        }
        let topic = ListOffsetsTopicResponse { name: "t".into(), partitions: vec![partition], ..Default::default() };
        ListOffsetsResponse { topics: vec![topic], ..Default::default() }
    }

    fn response(offset: i64, error: ErrorCode) -> ListOffsetsResponse {
        response_at(offset, error, 5)
    }

    #[test]
    fn every_version_round_trips_the_request_and_reads_the_answer() {
        let tp = TopicPartition::new("t", 3);
        for version in 0..=8 {
            let request = list_offsets_request(&tp, EARLIEST, 4, 1, version);
            let mut buf = BytesMut::new();
            request.encode(&mut buf, version).unwrap_or_else(|e| panic!("v{version}: {e}"));
            let read = ListOffsetsRequest::decode(&mut buf.freeze(), version).unwrap();
            let p = &read.topics[0].partitions[0];
            assert_eq!((p.partition_index, p.timestamp), (3, EARLIEST));
            assert_eq!(p.current_leader_epoch, if version >= 4 { 4 } else { -1 });
            assert_eq!(read.isolation_level, if version >= 2 { 1 } else { 0 });

            let mut buf = BytesMut::new();
            response_at(42, ErrorCode::None, version).encode(&mut buf, version).unwrap();
            let answer = ListOffsetsResponse::decode(&mut buf.freeze(), version).unwrap();
            assert_eq!(read_offset(&answer, &tp, version), Ok(42), "v{version}");
        }
    }

    #[test]
    fn errors_and_missing_partitions_are_codes() {
        let tp = TopicPartition::new("t", 3);
        let answer = response(0, ErrorCode::NotLeaderOrFollower);
        assert_eq!(read_offset(&answer, &tp, 5), Err(ErrorCode::NotLeaderOrFollower));
        assert_eq!(
            read_offset(&response(0, ErrorCode::None), &TopicPartition::new("t", 9), 5),
            Err(ErrorCode::UnknownTopicOrPartition)
        );
        assert_eq!(read_offset(&response(-1, ErrorCode::None), &tp, 5), Err(ErrorCode::OffsetNotAvailable));
    }
}
