//! The `import` Lambda: batch order imports from the import queue (SQS, partial batch responses),
//! created through the same use case as `POST /orders`; refused entries go to the import DLQ with
//! their reason. Configuration: `functions::IMPORT` (the tables, the state machine, the import DLQ).

use std::sync::Arc;

use orders_core::adapters::aws::{FunctionConfig, functions};
use orders_core::lambda::DeadLetters;
use orders_core::ports::QueueName;
use orders_core::wiring::wire_lambda;
use orders_workers::import::ImportWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_core::lambda::init(functions::IMPORT.binary);
    let ports = wire_lambda(&FunctionConfig::from_env(&functions::IMPORT)?).await.ports;
    let worker = ImportWorker::new(ports.order_service(), DeadLetters::new(ports.queues, QueueName::ImportDlq));
    orders_core::lambda::run_sqs(Arc::new(worker)).await
}
