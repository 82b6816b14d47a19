//! The `backup` Lambda: backup jobs from the backup queue (SQS, partial batch responses: the writes
//! the `stream` function could not make, and replays from the DLQ) written to the backup bucket;
//! malformed jobs go to the backup DLQ with their reason. Configuration: `functions::BACKUP`
//! (`BACKUP_BUCKET`, `BACKUP_DLQ_URL`).

use std::sync::Arc;

use orders_core::adapters::aws::{FunctionConfig, functions};
use orders_core::lambda::DeadLetters;
use orders_core::ports::QueueName;
use orders_core::wiring::wire_lambda;
use orders_workers::backup::BackupWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_core::lambda::init(functions::BACKUP.binary);
    let ports = wire_lambda(&FunctionConfig::from_env(&functions::BACKUP)?).await.ports;
    let worker = BackupWorker::new(ports.backup_service(), DeadLetters::new(ports.queues, QueueName::BackupDlq));
    orders_core::lambda::run_sqs(Arc::new(worker)).await
}
