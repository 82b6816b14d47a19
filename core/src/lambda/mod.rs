//! The plumbing every Lambda entry point shares (feature `lambda`), whichever crate its `main` is
//! in: the logs and metrics set-up and the bracket around each invocation ([`telemetry`]), the
//! message of a caught panic, running a handler under the Lambda runtime, the partial-batch runner
//! of SQS handlers ([`batch`]) and dead-letter parking with one set of message attributes for every
//! queue ([`dead_letters`]). The local runner of `orders serve` drives the same SQS handlers, so it
//! shares the runner and the parking too.

pub mod batch;
pub mod dead_letters;
pub mod telemetry;

pub use batch::{Backoff, MAX_MESSAGE_BYTES, SqsHandler, process_batch, process_batch_with_backoff};
pub use dead_letters::DeadLetters;
pub use telemetry::init;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

/// What a caught panic said (`panic!`'s formatted message or literal), for the log and the report.
pub fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

/// Serves SQS events with `handler`; the response carries the partial batch failures.
pub async fn run_sqs(handler: Arc<dyn SqsHandler>) -> Result<(), lambda_runtime::Error> {
    run_handler(move |event: SqsEvent| {
        let handler = handler.clone();
        async move { handler.handle(event).await }
    })
    .await
}

/// Runs `handle` under the Lambda runtime, each invocation in a span carrying its request id (and
/// whether it is a cold start), its metrics written once it is done.
pub async fn run_handler<E, R, F, Fut>(handle: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(E) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        let request_id = event.context.request_id;
        let answer = handle(event.payload).instrument(telemetry::invocation_span(&request_id)).await;
        telemetry::flush_metrics(&request_id);
        Ok::<_, lambda_runtime::Error>(answer)
    }))
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_caught_panic_says_what_it_said() {
        let formatted = std::panic::catch_unwind(|| panic!("order {} broke", 7)).unwrap_err();
        assert_eq!(panic_message(formatted.as_ref()), "order 7 broke");
        let literal = std::panic::catch_unwind(|| panic!("broke")).unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), "broke");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(42_u8)).unwrap_err();
        assert_eq!(panic_message(other.as_ref()), "(no message)");
    }
}
