//! What the workers' Lambda `main`s share: JSON logs, and running an SQS or stream handler under
//! the Lambda runtime, so a `main` is only configuration and construction.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        async move {
            let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
            let _entered = span.enter();
            Ok::<_, lambda_runtime::Error>(handler.handle(event.payload).await)
        }
    }))
    .await
}

/// Serves DynamoDB stream events with `handler`; the response names the first failed record.
pub async fn run_stream(handler: Arc<dyn StreamHandler>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let handler = handler.clone();
        async move {
            let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
            let _entered = span.enter();
            Ok::<_, lambda_runtime::Error>(handler.handle(event.payload).await)
        }
    }))
    .await
}
