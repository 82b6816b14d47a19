//! The `fulfilment` Lambda: the workflow's callback tasks from the fulfilment queue (SQS, partial
//! batch responses), answered with SendTaskSuccess/SendTaskFailure; malformed tasks go to the
//! fulfilment DLQ with their reason. Configuration: `functions::FULFILMENT` (the tables, the DLQ,
//! and, optionally, the fulfilment webhook's URL and its secret's ARN in Secrets Manager).

use std::sync::Arc;

use orders_core::adapters::aws::{FunctionConfig, fulfilment_webhook, functions};
use orders_core::lambda::DeadLetters;
use orders_core::ports::QueueName;
use orders_core::wiring::wire_lambda;
use orders_workers::fulfilment::{DEPLOYED_BACKOFF, FulfilmentWorker};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_core::lambda::init(functions::FULFILMENT.binary);
    let config = FunctionConfig::from_env(&functions::FULFILMENT)?;
    let system = wire_lambda(&config).await;
    let webhook = fulfilment_webhook(&system.clients, &config).await?;
    let ports = system.ports.with_fulfilment_webhook(webhook)?;
    let dead_letters = DeadLetters::new(ports.queues.clone(), QueueName::FulfilmentDlq);
    let worker = FulfilmentWorker::new(ports.workflow_tasks(), dead_letters, DEPLOYED_BACKOFF);
    orders_core::lambda::run_sqs(Arc::new(worker)).await
}
