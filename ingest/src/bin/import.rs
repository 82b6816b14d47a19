//! The `import` Lambda: batch order imports from the import queue (SQS, partial batch responses),
//! created through the same use case as `POST /orders`; refused entries go to the import DLQ with
//! their reason. Configuration: the tables (`ORDERS_TABLE`, `CATALOG_TABLE`, `IDEMPOTENCY_TABLE`,
//! `COUNTERS_TABLE`), `STATE_MACHINE_ARN` and `IMPORT_DLQ_URL`.

use std::sync::Arc;

use orders_core::adapters::aws::{AwsClients, AwsResources, AwsStack, env, required_env};
use orders_core::ports::QueueName;
use orders_ingest::import::ImportWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_workers::lambda::init_logging();
    let mut resources = AwsResources::tables_from_env()?;
    resources.state_machine_arn = required_env(env::STATE_MACHINE_ARN)?;
    resources.queue_urls.insert(QueueName::ImportDlq, required_env(env::IMPORT_DLQ_URL)?);
    let stack = AwsStack::new(AwsClients::for_lambda().await, resources);
    let worker = ImportWorker::new(stack.service.clone(), stack.queues.clone());
    orders_workers::lambda::run_sqs(Arc::new(worker)).await
}
