//! What the workers' Lambda `main`s share: JSON logs, and running an SQS or stream handler under
//! the Lambda runtime, so a `main` is only configuration and construction.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::batch::SqsHandler;
use crate::stream::StreamHandler;

/// Installs the JSON log subscriber once (one object per line, with span fields).
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

/// Serves SQS events with `handler`; the response carries the partial batch failures.
pub async fn run_sqs(handler: Arc<dyn SqsHandler>) -> Result<(), lambda_runtime::Error> {
    run(move |event: SqsEvent| {
        let handler = handler.clone();
        async move { handler.handle(event).await }
    })
    .await
}

/// Serves DynamoDB stream events with `handler`; the response names the first failed record.
pub async fn run_stream(handler: Arc<dyn StreamHandler>) -> Result<(), lambda_runtime::Error> {
    run(move |event: Event| {
        let handler = handler.clone();
        async move { handler.handle(event).await }
    })
    .await
}

/// Runs `handle` under the Lambda runtime, each invocation in a span carrying its request id.
async fn run<E, R, F, Fut>(handle: F) -> Result<(), lambda_runtime::Error>
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
