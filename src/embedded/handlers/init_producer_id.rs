//! InitProducerId (key 22), versions 0-5.
//!
//! - v0: transactional id, transaction timeout. v2: flexible.
//! - v3: producer id and epoch of an existing producer (KIP-360): bump its epoch.
//! - v4-5: same as v3.
//!
//! An idempotent producer gets a new id with epoch 0; ids come from the controller's
//! persisted counter, so a restarted cluster never hands an id out twice. With its
//! id and epoch, the same id comes back with epoch + 1 (a new id once the epoch is
//! exhausted). An id this cluster never issued answers INVALID_PRODUCER_ID_MAPPING.
//!
//! Transactions are not supported: a transactional id answers
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a non-retriable code, so a transactional
//! client fails at once with a clear cause instead of retrying forever (handing out a
//! plain id would let it believe its writes were transactional).

use super::{throttled, Answer, Served};
use crate::embedded::controller::AllocateProducerId;
use crate::embedded::session::Session;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

impl Served for InitProducerIdRequest {
    fn error_response(&self, _: i16, code: ErrorCode) -> InitProducerIdResponse {
        InitProducerIdResponse { error_code: code.code(), producer_id: -1, producer_epoch: -1, ..Default::default() }
    }
    throttled!();
}

/// Hands out or bumps a producer id.
pub(crate) async fn handle(
    session: &Session,
    version: i16,
    request: InitProducerIdRequest,
) -> Answer<InitProducerIdResponse> {
    if request.transactional_id.is_some() {
        return Answer::Respond(request.error_response(version, ErrorCode::TransactionalIdAuthorizationFailed));
    }
    if request.producer_id >= 0 {
        let issued = session.shared.view().state.next_producer_id;
        if request.producer_id >= issued || request.producer_epoch < 0 {
            return Answer::Respond(request.error_response(version, ErrorCode::InvalidProducerIdMapping));
        }
        if request.producer_epoch < i16::MAX - 1 {
            return Answer::Respond(InitProducerIdResponse {
                producer_id: request.producer_id,
                producer_epoch: request.producer_epoch + 1,
                ..Default::default()
            });
        }
    }
    Answer::Respond(match session.shared.controller.send(AllocateProducerId).await {
        Ok(Ok(producer_id)) => InitProducerIdResponse { producer_id, producer_epoch: 0, ..Default::default() },
        Ok(Err(code)) => request.error_response(version, code),
        Err(_) => request.error_response(version, ErrorCode::UnknownServerError),
    })
}
