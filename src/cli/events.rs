//! The consumer's event recipient shared by `consume` and `perf consume`.

use actix::prelude::*;
use tokio::sync::watch;

use crate::consumer::ConsumerEvent;

/// Ends the command on the consumer's first `Error` event: the error, made into the
/// command's own outcome by `make`, goes on `first` (later ones are only logged, so
/// the first cause is the one reported). Other events are logged.
pub(crate) struct FirstError<T> {
    pub(crate) first: watch::Sender<Option<T>>,
    pub(crate) make: fn(String) -> T,
}

impl<T: Unpin + 'static> Actor for FirstError<T> {
    type Context = Context<Self>;
}

impl<T: Unpin + 'static> Handler<ConsumerEvent> for FirstError<T> {
    type Result = ();

    fn handle(&mut self, event: ConsumerEvent, _: &mut Context<Self>) {
        match event {
            ConsumerEvent::Error(error) => {
                tracing::error!(%error, "consumer error");
                self.first.send_if_modified(|first| {
                    let is_first = first.is_none();
                    if is_first {
                        *first = Some((self.make)(error.to_string()));
                    }
                    is_first
                });
            }
            other => tracing::info!(event = ?other, "consumer event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::ConsumeError;

    #[actix_rt::test]
    async fn the_first_error_is_kept() {
        let (first, mut seen) = watch::channel(None);
        let events = FirstError { first, make: |e: String| format!("failed: {e}") }.start();
        events.send(ConsumerEvent::Error(ConsumeError::Closed)).await.unwrap();
        events.send(ConsumerEvent::Error(ConsumeError::Timeout { what: "a commit" })).await.unwrap();
        assert!(seen.has_changed().unwrap());
        let kept = seen.borrow_and_update().clone().unwrap();
        assert_eq!(kept, format!("failed: {}", ConsumeError::Closed));
    }
}
