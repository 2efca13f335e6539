//! One partition's log as an actor on the storage arbiter.
//!
//! Every partition actor of the cluster runs on one dedicated storage `Arbiter` (its
//! own thread), so a slow write or an fsync never stalls a session: sessions wait for
//! the answer of the partition they asked, and keep their thread free meanwhile. The
//! actor is a thin shell over [`PartitionLog`]; it adds the interval fsync timer and
//! the cluster-wide append signal that fetch long polls wait on.

use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message};
use bytes::Bytes;
use tokio::sync::watch;

use super::log::{AppendOutcome, FsyncPolicy, LogError, PartitionLog, ReadResult};
use crate::protocol::error_code::ErrorCode;

/// The actor owning one partition log.
pub(crate) struct PartitionActor {
    topic: String,
    partition: i32,
    log: Option<PartitionLog>,
    appended: watch::Sender<u64>,
    fsync_interval: Option<Duration>,
    dirty: bool,
}

impl PartitionActor {
    /// Wraps an opened log; `appended` is bumped after every append.
    pub(crate) fn new(
        topic: String,
        partition: i32,
        log: PartitionLog,
        appended: watch::Sender<u64>,
        fsync: FsyncPolicy,
        durable: bool,
    ) -> Self {
        let fsync_interval = match fsync {
            FsyncPolicy::Interval(interval) if durable && !interval.is_zero() => Some(interval),
            _ => None,
        };
        Self { topic, partition, log: Some(log), appended, fsync_interval, dirty: false }
    }

    fn sync(&mut self) -> Result<(), LogError> {
        match self.log.as_mut() {
            Some(log) if self.dirty => {
                log.sync()?;
                self.dirty = false;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(interval) = self.fsync_interval {
            ctx.run_interval(interval, |actor, _| {
                if let Err(error) = actor.sync() {
                    tracing::warn!(topic = %actor.topic, partition = actor.partition, %error, "interval fsync failed");
                }
            });
        }
    }
}

/// Appends a producer's batches; answers the outcome or the Kafka error code.
#[derive(Message)]
#[rtype(result = "Result<AppendOutcome, ErrorCode>")]
pub(crate) struct Append {
    pub records: Bytes,
    pub leader_epoch: i32,
}

impl Handler<Append> for PartitionActor {
    type Result = Result<AppendOutcome, ErrorCode>;

    fn handle(&mut self, msg: Append, _: &mut Self::Context) -> Self::Result {
        let log = self.log.as_mut().ok_or(ErrorCode::UnknownTopicOrPartition)?;
        let outcome = log.append(msg.records, msg.leader_epoch).map_err(|error| {
            tracing::debug!(topic = %self.topic, partition = self.partition, %error, "append refused");
            error.error_code()
        })?;
        self.dirty = true;
        self.appended.send_modify(|count| *count = count.wrapping_add(1));
        Ok(outcome)
    }
}

/// Reads from `offset`, at most `max_bytes` unless `min_one` lets one batch over.
#[derive(Message)]
#[rtype(result = "Result<ReadResult, ErrorCode>")]
pub(crate) struct Read {
    pub offset: i64,
    pub max_bytes: usize,
    pub min_one: bool,
}

impl Handler<Read> for PartitionActor {
    type Result = Result<ReadResult, ErrorCode>;

    fn handle(&mut self, msg: Read, _: &mut Self::Context) -> Self::Result {
        let log = self.log.as_ref().ok_or(ErrorCode::UnknownTopicOrPartition)?;
        log.read(msg.offset, msg.max_bytes, msg.min_one).map_err(|error| error.error_code())
    }
}

/// ListOffsets' lookup: -2 earliest, -1 latest, -3 max timestamp, else the first
/// offset whose timestamp is at least this one. Answers (timestamp, offset), (-1, -1)
/// when there is none (the log answers (offset, timestamp); ListOffsets the reverse).
#[derive(Message)]
#[rtype(result = "Result<(i64, i64), ErrorCode>")]
pub(crate) struct ListOffset {
    pub timestamp: i64,
}

impl Handler<ListOffset> for PartitionActor {
    type Result = Result<(i64, i64), ErrorCode>;

    fn handle(&mut self, msg: ListOffset, _: &mut Self::Context) -> Self::Result {
        let log = self.log.as_ref().ok_or(ErrorCode::UnknownTopicOrPartition)?;
        match msg.timestamp {
            -2 => Ok((-1, log.log_start_offset())),
            -1 => Ok((-1, log.log_end_offset())),
            -3 => Ok(log.max_timestamp().map_or((-1, -1), |(offset, timestamp)| (timestamp, offset))),
            timestamp if timestamp < 0 => Err(ErrorCode::InvalidRequest),
            timestamp => match log.offset_for_timestamp(timestamp) {
                Ok(found) => Ok(found.map_or((-1, -1), |(offset, timestamp)| (timestamp, offset))),
                Err(error) => {
                    tracing::warn!(topic = %self.topic, partition = self.partition, %error, "timestamp lookup failed");
                    Err(ErrorCode::KafkaStorageError)
                }
            },
        }
    }
}

/// Makes the log forget every producer's sequence state.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ForgetProducers;

impl Handler<ForgetProducers> for PartitionActor {
    type Result = ();

    fn handle(&mut self, _: ForgetProducers, _: &mut Self::Context) {
        if let Some(log) = self.log.as_mut() {
            log.forget_producers();
        }
    }
}

/// Flushes and fsyncs the log, then stops the actor (cluster shutdown).
#[derive(Message)]
#[rtype(result = "Result<(), LogError>")]
pub(crate) struct Close;

impl Handler<Close> for PartitionActor {
    type Result = Result<(), LogError>;

    fn handle(&mut self, _: Close, ctx: &mut Self::Context) -> Self::Result {
        use actix::ActorContext;
        self.dirty = true;
        let result = self.sync();
        self.log = None;
        ctx.stop();
        result
    }
}

/// Deletes the log's data, then stops the actor (DeleteTopics).
#[derive(Message)]
#[rtype(result = "Result<(), LogError>")]
pub(crate) struct Delete;

impl Handler<Delete> for PartitionActor {
    type Result = Result<(), LogError>;

    fn handle(&mut self, _: Delete, ctx: &mut Self::Context) -> Self::Result {
        use actix::ActorContext;
        ctx.stop();
        match self.log.take() {
            Some(log) => log.delete(),
            None => Ok(()),
        }
    }
}
