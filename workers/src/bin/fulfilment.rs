//! The `fulfilment` Lambda: the workflow's callback tasks from the fulfilment queue (SQS, partial
//! batch responses), answered with SendTaskSuccess/SendTaskFailure; malformed tasks go to the
//! fulfilment DLQ with their reason. Configuration: `functions::FULFILMENT` (the tables, the DLQ).

use std::sync::Arc;

use orders_core::adapters::aws::{
    AwsClients, DynamoDbStore, FunctionConfig, SqsQueues, StepFunctionsCallbacks, functions,
};
use orders_core::lambda::DeadLetters;
use orders_core::ports::QueueName;
use orders_workers::fulfilment::FulfilmentWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_core::lambda::init_logging();
    let resources = FunctionConfig::from_env(&functions::FULFILMENT)?.resources();
    let clients = AwsClients::for_lambda().await;
    let orders = Arc::new(DynamoDbStore::new(clients.dynamodb.clone(), &resources));
    let queues = Arc::new(SqsQueues::new(clients.sqs.clone(), resources.queue_urls.clone()));
    let callbacks = Arc::new(StepFunctionsCallbacks::new(clients.sfn.clone()));
    let dead_letters = DeadLetters::new(queues, QueueName::FulfilmentDlq);
    orders_core::lambda::run_sqs(Arc::new(FulfilmentWorker::new(orders, callbacks, dead_letters))).await
}
