//! The `backup` Lambda: backup jobs from the backup queue (SQS, partial batch responses) written to
//! the backup bucket; malformed jobs go to the backup DLQ with their reason. Configuration:
//! `functions::BACKUP` (`BACKUP_BUCKET`, `BACKUP_DLQ_URL`).

use std::sync::Arc;

use orders_core::adapters::aws::{AwsClients, FunctionConfig, S3BackupStore, SqsQueues, env, functions};
use orders_core::lambda::DeadLetters;
use orders_core::ports::QueueName;
use orders_workers::backup::BackupWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_core::lambda::init_logging();
    let config = FunctionConfig::from_env(&functions::BACKUP)?;
    let clients = AwsClients::for_lambda().await;
    let queues = Arc::new(SqsQueues::new(clients.sqs.clone(), config.resources().queue_urls));
    let store = Arc::new(S3BackupStore::new(clients.s3, config.get(env::BACKUP_BUCKET).to_owned()));
    let worker = BackupWorker::new(store, DeadLetters::new(queues, QueueName::BackupDlq));
    orders_core::lambda::run_sqs(Arc::new(worker)).await
}
