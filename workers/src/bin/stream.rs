//! The `stream` Lambda: the orders table's DynamoDB stream (NEW_AND_OLD_IMAGES). Each new version
//! is backed up in the backup bucket (a write that fails goes to the backup queue as a job),
//! listings are refreshed after the workflow's status writes, and workflows waiting on a status are
//! answered; a new order's execution is started if its create request could not start it.
//! Configuration: `functions::STREAM` (the tables, the backup bucket and queue, the state machine).

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use orders_core::adapters::aws::{FunctionConfig, functions};
use orders_core::wiring::wire_lambda;
use orders_workers::stream::{StreamHandler, StreamProcessor};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_core::lambda::init(functions::STREAM.binary);
    let ports = wire_lambda(&FunctionConfig::from_env(&functions::STREAM)?).await.ports;
    // The stream both answers waiting tasks (callbacks) and starts new orders' executions (engine).
    let processor = Arc::new(StreamProcessor::new(ports.change_reactions()));
    orders_core::lambda::run_handler(move |event: Event| {
        let processor = processor.clone();
        async move { processor.handle(event).await }
    })
    .await
}
