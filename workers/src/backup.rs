//! The backup worker: the backup queue's entry point, the retrier of the backups the stream
//! processor could not write itself (and of the jobs replayed from the DLQ). Each job is kept by
//! [`Backups::keep`](orders_core::application::Backups::keep) (one immutable object per order
//! version, retried at once on passing failures); what still fails is left to the queue's
//! redelivery and dead-letter queue.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use orders_core::application::{BackupJob, Backups, StepError};
use orders_core::lambda::{DeadLetters, SqsHandler, process_batch};

/// Keeps backup jobs in the backup store.
#[derive(Clone)]
pub struct BackupWorker {
    backups: Backups,
    dead_letters: DeadLetters,
}

impl BackupWorker {
    /// A worker keeping jobs through `backups`; messages it can never process go to `dead_letters`.
    pub fn new(backups: Backups, dead_letters: DeadLetters) -> Self {
        BackupWorker { backups, dead_letters }
    }

    async fn process(&self, message: SqsMessage) -> Result<(), StepError> {
        let body = message.body.ok_or_else(|| StepError::Malformed("empty body".into()))?;
        let job: BackupJob = serde_json::from_str(&body).map_err(|e| StepError::Malformed(e.to_string()))?;
        self.backups.keep(job).await.map(drop)
    }
}

#[async_trait]
impl SqsHandler for BackupWorker {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        process_batch(event, &self.dead_letters, |message| self.process(message)).await
    }
}
