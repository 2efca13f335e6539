//! The public messages a [`Consumer`](super::Consumer) answers, and the ones it sends
//! to the subscriber: [`Records`] and [`ConsumerEvent`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix::{Message, Recipient};

use super::error::{ConsumeError, HandlerError};
use super::stats::ConsumerStats;
use super::types::{ConsumerRecord, StartPosition, TopicPartition};

/// A delivery to the subscriber: records of one partition, in offset order.
///
/// The subscriber's reply acknowledges them: `Ok(())` marks every record up to the
/// last as processed (committable); `Err` leaves them unacknowledged, and the same
/// records are delivered again after the consumer's `redelivery_backoff`. The next
/// `Records` of the partition is sent only after the reply to this one
/// (backpressure); other partitions' deliveries may be in flight meanwhile.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), HandlerError>")]
pub struct Records {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The records, in offset order; never empty.
    pub records: Vec<ConsumerRecord>,
    /// The partition's high watermark at the fetch that brought them.
    pub high_watermark: i64,
}

impl Records {
    /// The offset after the last record: what acknowledging this delivery commits.
    pub fn next_offset(&self) -> i64 {
        self.records.last().map_or(-1, |r| r.offset + 1)
    }
}

/// What happens to a consumer, told to the subscription's event recipient.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
#[non_exhaustive]
pub enum ConsumerEvent {
    /// These partitions are now assigned; deliveries for them follow.
    Assigned {
        /// The newly assigned partitions (with the cooperative protocol, only the new ones).
        partitions: Vec<TopicPartition>,
    },
    /// These partitions are being given up in a rebalance. Every delivery of them has
    /// been answered (or the drain timeout passed) and their acknowledged offsets are
    /// about to be committed. The consumer awaits this event's handling (bounded by the
    /// drain timeout) before it commits, like the Java client's `onPartitionsRevoked`.
    Revoked {
        /// The partitions given up.
        partitions: Vec<TopicPartition>,
    },
    /// These partitions were lost without a clean revoke (session timeout, fenced
    /// member): nothing was committed for them, another member may already own them.
    Lost {
        /// The partitions lost.
        partitions: Vec<TopicPartition>,
    },
    /// A partition was assigned with lag but fetched nothing for `stalled_for`; the
    /// consumer restarted what was stuck.
    Stalled {
        /// The partition.
        partition: TopicPartition,
        /// Its lag (high watermark minus position) when detected.
        lag: i64,
        /// How long nothing was fetched.
        stalled_for: Duration,
    },
    /// Something failed that no request is waiting for: a corrupt batch, an offset out
    /// of range with reset policy none, a fatal group error, a failed auto-commit.
    Error(ConsumeError),
}

/// What a subscription follows.
#[derive(Clone)]
pub enum Topics {
    /// These topic names.
    Names(Vec<String>),
    /// Every topic whose whole name matches this regular expression (checked against
    /// the cluster's topics at each metadata refresh).
    Pattern(regex::Regex),
}

impl fmt::Debug for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topics::Names(names) => f.debug_tuple("Names").field(names).finish(),
            Topics::Pattern(regex) => f.debug_tuple("Pattern").field(&regex.as_str()).finish(),
        }
    }
}

/// Subscribes an actor to topics: with a `group_id`, the consumer joins the group and
/// gets its share of the partitions; without one, it reads every partition of the
/// topics. Replaces any previous subscription. Answered once the subscription is
/// registered (not after the first assignment).
///
/// # Examples
///
/// ```
/// # use actix::prelude::*;
/// # use actix_kafka::consumer::{HandlerError, Records, Subscribe};
/// # struct Billing;
/// # impl Actor for Billing { type Context = Context<Self>; }
/// # impl Handler<Records> for Billing {
/// #     type Result = Result<(), HandlerError>;
/// #     fn handle(&mut self, _: Records, _: &mut Context<Self>) -> Self::Result { Ok(()) }
/// # }
/// # fn subscribe(billing: Addr<Billing>) -> Subscribe {
/// Subscribe::topics(["orders"]).to(billing.recipient())
/// # }
/// ```
///
/// # Errors
///
/// [`ConsumeError::InvalidState`] when the consumer has partitions from [`Assign`],
/// or the subscription has no recipient; [`ConsumeError::Closed`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub struct Subscribe {
    /// The topics.
    pub topics: Topics,
    /// Where records go.
    pub recipient: Option<Recipient<Records>>,
    /// Where [`ConsumerEvent`]s go; without one they are only logged.
    pub events: Option<Recipient<ConsumerEvent>>,
}

impl Subscribe {
    /// A subscription to these topic names.
    pub fn topics<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { topics: Topics::Names(topics.into_iter().map(Into::into).collect()), recipient: None, events: None }
    }

    /// A subscription to every topic whose whole name matches `pattern`.
    pub fn pattern(pattern: regex::Regex) -> Self {
        Self { topics: Topics::Pattern(pattern), recipient: None, events: None }
    }

    /// Where the records go (required).
    pub fn to(mut self, recipient: Recipient<Records>) -> Self {
        self.recipient = Some(recipient);
        self
    }

    /// Where the [`ConsumerEvent`]s go (optional).
    pub fn events(mut self, recipient: Recipient<ConsumerEvent>) -> Self {
        self.events = Some(recipient);
        self
    }
}

/// Assigns partitions by hand, without group membership (the Java client's
/// `assign`). With a `group_id` the group's committed offsets are the start and
/// commits go to the group; without one nothing is committed. Replaces any previous
/// assignment.
///
/// # Errors
///
/// [`ConsumeError::InvalidState`] while subscribed to a group, or without a recipient.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub struct Assign {
    /// The partitions and where each starts.
    pub partitions: Vec<(TopicPartition, StartPosition)>,
    /// Where records go.
    pub recipient: Option<Recipient<Records>>,
    /// Where [`ConsumerEvent`]s go.
    pub events: Option<Recipient<ConsumerEvent>>,
}

impl Assign {
    /// These partitions, each starting at its committed offset (with a group) or by
    /// the reset policy.
    pub fn partitions<I, T>(partitions: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<TopicPartition>,
    {
        let partitions = partitions.into_iter().map(|tp| (tp.into(), StartPosition::Reset)).collect();
        Self { partitions, recipient: None, events: None }
    }

    /// Starts every partition at `start`.
    pub fn from(mut self, start: StartPosition) -> Self {
        for (_, position) in &mut self.partitions {
            *position = start;
        }
        self
    }

    /// Where the records go (required).
    pub fn to(mut self, recipient: Recipient<Records>) -> Self {
        self.recipient = Some(recipient);
        self
    }

    /// Where the [`ConsumerEvent`]s go (optional).
    pub fn events(mut self, recipient: Recipient<ConsumerEvent>) -> Self {
        self.events = Some(recipient);
        self
    }
}

/// Commits every acknowledged offset now and waits for the coordinator's answer.
///
/// # Errors
///
/// [`ConsumeError::NoGroup`] without a `group_id`; the commit's error.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub struct Commit;

/// Moves an assigned partition's position: the next delivery starts at `position`.
/// Records already fetched past it are dropped; a delivery in flight finishes first.
///
/// # Errors
///
/// [`ConsumeError::NotAssigned`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub struct Seek {
    /// The partition.
    pub partition: TopicPartition,
    /// Where it goes.
    pub position: StartPosition,
}

/// Stops fetching and delivering these partitions until [`Resume`]; they stay
/// assigned (and heartbeats go on).
///
/// # Errors
///
/// [`ConsumeError::NotAssigned`] naming the first partition not assigned (none is paused then).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub struct Pause {
    /// The partitions.
    pub partitions: Vec<TopicPartition>,
}

/// Resumes partitions paused with [`Pause`].
///
/// # Errors
///
/// [`ConsumeError::NotAssigned`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub struct Resume {
    /// The partitions.
    pub partitions: Vec<TopicPartition>,
}

/// Closes the consumer: stops fetching, lets in-flight deliveries finish (bounded by
/// the drain timeout), commits what was acknowledged, leaves the group and stops
/// every consumer actor. Later requests get [`ConsumeError::Closed`].
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub struct Close;

/// Asks for the consumer's [`ConsumerStats`].
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "ConsumerStats")]
pub struct GetConsumerStats;

/// Marks the records of each partition before its offset as acknowledged and commits
/// now (the Java client's `commitSync(offsets)`): for a subscriber that processed only
/// part of a delivery (it answered the delivery with `Err`, so the rest comes again),
/// or that keeps its own progress. An offset below what is already acknowledged
/// changes nothing for that partition.
///
/// # Errors
///
/// [`ConsumeError::NoGroup`] without a `group_id`; [`ConsumeError::NotAssigned`]; the
/// commit's error.
#[derive(Debug, Clone, Default, Message)]
#[rtype(result = "Result<(), ConsumeError>")]
pub struct CommitOffsets {
    /// Each partition and the next offset to consume (what is committed).
    pub offsets: Vec<(TopicPartition, i64)>,
}
