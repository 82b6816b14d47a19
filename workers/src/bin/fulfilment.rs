//! The `fulfilment` Lambda: the workflow's callback tasks from the fulfilment queue (SQS, partial
//! batch responses), answered with SendTaskSuccess/SendTaskFailure; malformed tasks go to the
//! fulfilment DLQ with their reason. Configuration: `functions::FULFILMENT` (the tables, the DLQ).

use std::sync::Arc;

use orders_core::adapters::aws::{FunctionConfig, functions};
use orders_core::lambda::DeadLetters;
use orders_core::ports::QueueName;
use orders_core::wiring::wire_lambda;
use orders_workers::fulfilment::FulfilmentWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_core::lambda::init_logging();
    let ports = wire_lambda(&FunctionConfig::from_env(&functions::FULFILMENT)?).await.ports;
    let dead_letters = DeadLetters::new(ports.queues, QueueName::FulfilmentDlq);
    orders_core::lambda::run_sqs(Arc::new(FulfilmentWorker::new(ports.orders, ports.callbacks, dead_letters))).await
}
