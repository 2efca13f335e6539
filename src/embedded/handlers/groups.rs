//! The group APIs, routed to the group coordinator.
//!
//! JoinGroup (11) v0-9, SyncGroup (14) v0-5, Heartbeat (12) v0-4, LeaveGroup (13)
//! v0-5, OffsetCommit (8) v0-9, OffsetFetch (9) v0-9, DescribeGroups (15) v0-5,
//! ListGroups (16) v0-5: the group module owns their semantics and version notes.
//! This file only tells it whether this node coordinates a group (the
//! FindCoordinator rule: `up_nodes[fnv1a(group) % n]`, so a group moves when its
//! node goes down, and the in-process group state moves with it) and supplies the
//! error answers for injected faults.

use super::{throttled, Answer, Served};
use crate::embedded::group;
use crate::embedded::session::Session;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::*;

/// Whether `session`'s node coordinates each group, as of the latest view.
fn is_coordinator(session: &Session) -> impl Fn(&str) -> bool {
    let view = session.shared.view();
    let node = session.node;
    move |group: &str| view.state.coordinator(group) == Some(node)
}

macro_rules! group_api {
    ($handler:ident, $error:ident, $request:ty, $response:ty) => {
        impl Served for $request {
            fn error_response(&self, _: i16, code: ErrorCode) -> $response {
                group::$error(self, code)
            }
            throttled!();
        }

        /// Routes the request to the group coordinator.
        pub(crate) async fn $handler(session: &Session, version: i16, request: $request) -> Answer<$response> {
            let groups = &session.shared.groups;
            Answer::Respond(group::$handler(groups, is_coordinator(session), version, request).await)
        }
    };
}

group_api!(sync_group, sync_group_error, SyncGroupRequest, SyncGroupResponse);
group_api!(heartbeat, heartbeat_error, HeartbeatRequest, HeartbeatResponse);
group_api!(leave_group, leave_group_error, LeaveGroupRequest, LeaveGroupResponse);
group_api!(offset_commit, offset_commit_error, OffsetCommitRequest, OffsetCommitResponse);
group_api!(offset_fetch, offset_fetch_error, OffsetFetchRequest, OffsetFetchResponse);
group_api!(describe_groups, describe_groups_error, DescribeGroupsRequest, DescribeGroupsResponse);
group_api!(list_groups, list_groups_error, ListGroupsRequest, ListGroupsResponse);

impl Served for JoinGroupRequest {
    fn error_response(&self, _: i16, code: ErrorCode) -> JoinGroupResponse {
        group::join_group_error(self, code)
    }
    throttled!();
}

/// Routes JoinGroup, with the client id and host the coordinator builds member ids from.
pub(crate) async fn join_group(
    session: &Session,
    version: i16,
    client_id: &str,
    request: JoinGroupRequest,
) -> Answer<JoinGroupResponse> {
    let groups = &session.shared.groups;
    let host = &session.client_host;
    Answer::Respond(group::join_group(groups, is_coordinator(session), version, client_id, host, request).await)
}
