//! The plumbing every Lambda entry point shares (feature `lambda`), whichever crate its `main` is
//! in: the JSON log set-up, the message of a caught panic, running a handler under the Lambda
//! runtime, the partial-batch runner of SQS handlers ([`batch`]) and dead-letter parking with one
//! set of message attributes for every queue ([`dead_letters`]). The local runner of
//! `orders serve` drives the same SQS handlers, so it shares the runner and the parking too.

pub mod batch;
pub mod dead_letters;

pub use batch::{Backoff, MAX_MESSAGE_BYTES, SqsHandler, process_batch, process_batch_with_backoff};
pub use dead_letters::DeadLetters;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

/// Installs the JSON log subscriber once (one object per line, with span fields; no timestamp, as
/// CloudWatch Logs stamps every line), filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_env_filter(filter)
        .without_time()
        .with_writer(std::io::stderr)
        .init();
}

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

/// Runs `handle` under the Lambda runtime, each invocation in a span carrying its request id.
pub async fn run_handler<E, R, F, Fut>(handle: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(E) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
        Ok::<_, lambda_runtime::Error>(handle(event.payload).instrument(span).await)
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
