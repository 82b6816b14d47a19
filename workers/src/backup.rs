//! The backup worker: each backup job becomes one immutable object,
//! `orders/{order_id}/v{version}.json` (or `deleted.json`). A repeated job finds the object there and
//! changes nothing; passing failures are retried at once with exponential backoff and jitter
//! (`backon`), then left to the queue's redelivery and dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use backon::{ExponentialBuilder, Retryable};
use orders_core::ports::{BackupError, BackupObject, BackupStore, BackupWrite, OrderBackup, encode_backup};

use orders_core::application::{BackupJob, StepError};
use orders_core::lambda::{DeadLetters, SqsHandler, process_batch};

/// Writes backup jobs to the backup store.
#[derive(Clone)]
pub struct BackupWorker {
    store: Arc<dyn BackupStore>,
    dead_letters: DeadLetters,
}

impl BackupWorker {
    /// A worker writing to `store`; messages it can never process go to `dead_letters`.
    pub fn new(store: Arc<dyn BackupStore>, dead_letters: DeadLetters) -> Self {
        BackupWorker { store, dead_letters }
    }

    async fn process(&self, message: SqsMessage) -> Result<(), StepError> {
        let body = message.body.ok_or_else(|| StepError::Malformed("empty body".into()))?;
        let job: BackupJob = serde_json::from_str(&body).map_err(|e| StepError::Malformed(e.to_string()))?;
        let backup = match job {
            BackupJob::Version { order, idempotency } => BackupObject::Version(OrderBackup { order, idempotency }),
            BackupJob::Tombstone { order_id, last_version, deleted_at } => {
                BackupObject::Tombstone { order_id, last_version, deleted_at }
            }
        };
        let key = backup.key();
        let object = encode_backup(&backup).map_err(|e| StepError::Malformed(e.to_string()))?;
        let write = (|| async { self.store.put_if_absent(&key, &object).await })
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(50))
                    .with_max_delay(Duration::from_secs(2))
                    .with_max_times(3)
                    .with_jitter(),
            )
            .when(|error| matches!(error, BackupError::Unavailable(_)))
            .notify(|error, delay| tracing::warn!(%error, ?delay, "backup write failed; retrying"))
            .await?;
        match write {
            BackupWrite::Written => tracing::info!(object = %key.object_key(), "backup written"),
            BackupWrite::AlreadyPresent => tracing::debug!(object = %key.object_key(), "backup already present"),
        }
        Ok(())
    }
}

#[async_trait]
impl SqsHandler for BackupWorker {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        process_batch(event, &self.dead_letters, |message| self.process(message)).await
    }
}
