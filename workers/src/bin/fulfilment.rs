//! The `fulfilment` Lambda: the workflow's callback tasks from the fulfilment queue (SQS, partial
//! batch responses), answered with SendTaskSuccess/SendTaskFailure. Configuration:
//! `functions::FULFILMENT` (the tables).

use std::sync::Arc;

use orders_core::adapters::aws::{AwsClients, DynamoDbStore, FunctionConfig, StepFunctions, functions};
use orders_workers::fulfilment::FulfilmentWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_workers::lambda::init_logging();
    let config = FunctionConfig::from_env(&functions::FULFILMENT)?;
    let clients = AwsClients::for_lambda().await;
    let orders = Arc::new(DynamoDbStore::new(clients.dynamodb.clone(), &config.resources()));
    // Callbacks name their execution through the token; no state machine ARN is needed.
    let callbacks = Arc::new(StepFunctions::new(clients.sfn.clone(), String::new()));
    orders_workers::lambda::run_sqs(Arc::new(FulfilmentWorker::new(orders, callbacks))).await
}
