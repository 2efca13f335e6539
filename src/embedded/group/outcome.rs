//! What the state machine takes and gives back: version-independent requests and
//! answers, and the replies owed to parked requests.

use std::time::Duration;

use bytes::Bytes;

use super::member::{Protocol, Token};
use crate::protocol::ErrorCode;

/// A JoinGroup request, version-independent.
#[derive(Debug, Clone)]
pub(crate) struct JoinInput {
    pub(crate) version: i16,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<Protocol>,
}

/// One member in the leader's JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JoinedMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) metadata: Bytes,
}

/// A JoinGroup answer, version-independent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JoinOutcome {
    pub(crate) error: ErrorCode,
    pub(crate) generation_id: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    pub(crate) skip_assignment: bool,
    pub(crate) member_id: String,
    pub(crate) members: Vec<JoinedMember>,
}

impl JoinOutcome {
    /// An error answer echoing `member_id`.
    pub(crate) fn error(error: ErrorCode, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_owned(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup answer, version-independent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyncOutcome {
    pub(crate) error: ErrorCode,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignment: Bytes,
}

impl SyncOutcome {
    /// An error answer.
    pub(crate) fn error(error: ErrorCode) -> SyncOutcome {
        SyncOutcome { error, protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// An answer owed to a parked (or just arrived) request, identified by its token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Join(Token, JoinOutcome),
    Sync(Token, SyncOutcome),
}
