//! The `backup` Lambda: backup jobs from the backup queue (SQS, partial batch responses) written to
//! the backup bucket. Configuration: `functions::BACKUP` (`BACKUP_BUCKET`).

use std::sync::Arc;

use orders_core::adapters::aws::{AwsClients, FunctionConfig, S3BackupStore, env, functions};
use orders_workers::backup::BackupWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_workers::lambda::init_logging();
    let config = FunctionConfig::from_env(&functions::BACKUP)?;
    let clients = AwsClients::for_lambda().await;
    let worker = BackupWorker::new(Arc::new(S3BackupStore::new(clients.s3, config.get(env::BACKUP_BUCKET).to_owned())));
    orders_workers::lambda::run_sqs(Arc::new(worker)).await
}
