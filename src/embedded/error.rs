//! The embedded broker's one error enum.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::log::LogError;

/// What went wrong starting, driving or stopping an [`EmbeddedCluster`](super::EmbeddedCluster).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// A file of the data directory could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done ("write", "read", "rename", ...).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A node's listener could not bind its address (in use, or not local).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The cluster has no node with this id.
    #[error("no node {node} in the cluster")]
    UnknownNode {
        /// The id asked for.
        node: i32,
    },
    /// The cluster has no such topic, or the topic has no such partition.
    #[error("no topic {topic} (partition {partition:?})")]
    UnknownTopic {
        /// The topic asked for.
        topic: String,
        /// The partition asked for, when one was.
        partition: Option<i32>,
    },
    /// A topic could not be created: bad name, existing topic, bad partition count.
    #[error("cannot create topic {topic}: {reason}")]
    InvalidTopic {
        /// The topic asked for.
        topic: String,
        /// Why not.
        reason: String,
    },
    /// The builder was given settings that cannot work together.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Which setting and why.
        reason: String,
    },
    /// A control line could not be understood.
    #[error("invalid command {line:?}: {reason}")]
    InvalidCommand {
        /// The line as given.
        line: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A partition log failed to open, sync or delete.
    #[error("partition log {topic}-{partition}: {source}")]
    Log {
        /// The partition's topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The cause.
        #[source]
        source: LogError,
    },
    /// The group coordinator failed to start.
    #[error("group coordinator: {reason}")]
    Group {
        /// The cause, as the group module reports it.
        reason: String,
    },
    /// The cluster's actors have stopped (the actix System ended, or `shutdown` ran).
    #[error("the embedded cluster has stopped")]
    Stopped,
}

impl From<actix::MailboxError> for EmbeddedError {
    fn from(_: actix::MailboxError) -> Self {
        EmbeddedError::Stopped
    }
}
