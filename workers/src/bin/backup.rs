//! The `backup` Lambda: backup jobs from the backup queue (SQS, partial batch responses) written to
//! the backup bucket. Configuration: `BACKUP_BUCKET`.

use std::sync::Arc;

use orders_core::adapters::aws::{AwsClients, S3BackupStore, env, required_env};
use orders_workers::backup::BackupWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_workers::lambda::init_logging();
    let bucket = required_env(env::BACKUP_BUCKET)?;
    let clients = AwsClients::for_lambda().await;
    let worker = BackupWorker::new(Arc::new(S3BackupStore::new(clients.s3, bucket)));
    orders_workers::lambda::run_sqs(Arc::new(worker)).await
}
