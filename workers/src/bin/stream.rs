//! The `stream` Lambda: the orders table's DynamoDB stream (NEW_AND_OLD_IMAGES). Backup jobs go to
//! the backup queue, listings are reconciled after the workflow's status writes, and workflows
//! waiting on a status are answered. Configuration: the tables (`ORDERS_TABLE`, `CATALOG_TABLE`,
//! `IDEMPOTENCY_TABLE`, `COUNTERS_TABLE`) and `BACKUP_QUEUE_URL`.

use std::sync::Arc;

use orders_core::adapters::aws::{
    AwsClients, AwsResources, DynamoDbStore, SqsQueues, StepFunctions, env, required_env,
};
use orders_core::ports::QueueName;
use orders_workers::stream::StreamProcessor;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_workers::lambda::init_logging();
    let resources = AwsResources::tables_from_env()?;
    let backup_queue = required_env(env::BACKUP_QUEUE_URL)?;
    let clients = AwsClients::for_lambda().await;
    let orders = Arc::new(DynamoDbStore::new(clients.dynamodb.clone(), &resources));
    let queues = Arc::new(SqsQueues::new(clients.sqs.clone(), [(QueueName::Backup, backup_queue)].into()));
    let callbacks = Arc::new(StepFunctions::new(clients.sfn.clone(), String::new()));
    orders_workers::lambda::run_stream(Arc::new(StreamProcessor::new(orders, queues, callbacks))).await
}
