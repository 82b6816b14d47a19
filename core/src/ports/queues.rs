//! The queue port: SQS semantics (at-least-once delivery, visibility timeout, receive count,
//! dead-letter queue after `maxReceiveCount`, message attributes, batches of up to 10).

use std::collections::BTreeMap;
use std::fmt;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The longest a receive waits for a message (SQS's `WaitTimeSeconds` is at most 20).
pub const MAX_RECEIVE_WAIT: Duration = Duration::from_secs(20);

/// The most messages one receive hands over and one batch delete removes (SQS's limit for both).
pub const MAX_BATCH: usize = 10;

/// How often [`MessageQueue::receive_waiting`] looks again while it waits, unless an adapter knows
/// better.
pub const RECEIVE_RETRY: Duration = Duration::from_millis(100);

/// The pipeline's queues. Each work queue has a dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueName {
    /// Backup jobs: one per order change whose backup the change reactions could not write.
    Backup,
    /// Backup jobs that failed `maxReceiveCount` times.
    BackupDlq,
    /// Workflow callback tasks (fulfilment, waiting for a status), each carrying a task token.
    Fulfilment,
    /// Workflow tasks that failed `maxReceiveCount` times.
    FulfilmentDlq,
    /// Batch order imports.
    Import,
    /// Imports that failed or were refused.
    ImportDlq,
}

impl std::str::FromStr for QueueName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        QueueName::ALL.into_iter().find(|q| q.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = QueueName::ALL.iter().map(|q| q.as_str()).collect();
            format!("unknown queue {text:?}: one of {}", names.join(", "))
        })
    }
}

impl QueueName {
    /// Every queue.
    pub const ALL: [QueueName; 6] = [
        QueueName::Backup,
        QueueName::BackupDlq,
        QueueName::Fulfilment,
        QueueName::FulfilmentDlq,
        QueueName::Import,
        QueueName::ImportDlq,
    ];

    /// The queue's name (also its SQS name suffix).
    pub const fn as_str(self) -> &'static str {
        match self {
            QueueName::Backup => "backup",
            QueueName::BackupDlq => "backup-dlq",
            QueueName::Fulfilment => "fulfilment",
            QueueName::FulfilmentDlq => "fulfilment-dlq",
            QueueName::Import => "import",
            QueueName::ImportDlq => "import-dlq",
        }
    }

    /// The queue whose dead letters this queue holds, for a dead-letter queue.
    pub fn source_queue(self) -> Option<QueueName> {
        QueueName::ALL.into_iter().find(|q| q.dead_letter_queue() == Some(self))
    }

    /// Where messages go after failing too often; `None` for the dead-letter queues themselves.
    pub const fn dead_letter_queue(self) -> Option<QueueName> {
        match self {
            QueueName::Backup => Some(QueueName::BackupDlq),
            QueueName::Fulfilment => Some(QueueName::FulfilmentDlq),
            QueueName::Import => Some(QueueName::ImportDlq),
            QueueName::BackupDlq | QueueName::FulfilmentDlq | QueueName::ImportDlq => None,
        }
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    /// The body (JSON for every queue of the pipeline).
    pub body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
}

/// A received message, invisible to other consumers until its visibility timeout ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ReceivedMessage {
    /// Stable id of the message.
    pub message_id: String,
    /// Handle for deleting this receipt (a later receive gets another one).
    pub receipt_handle: String,
    pub body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
    /// When it was first sent.
    pub sent_at: DateTime<Utc>,
}

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Passing trouble: the same call may succeed later.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("queue failure: {0}")]
    Internal(String),
}

/// A queue service with SQS semantics.
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Sends one message; returns its id.
    async fn send(&self, queue: QueueName, message: OutgoingMessage) -> Result<String, QueueError>;

    /// Receives up to `max_messages` (1 to 10) visible messages, hiding them for the queue's
    /// visibility timeout. A message received more than the queue's `maxReceiveCount` times moves to
    /// its dead-letter queue instead of being delivered again.
    async fn receive(&self, queue: QueueName, max_messages: usize) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// [`receive`](MessageQueue::receive), but when nothing is visible it waits up to `wait` (at
    /// most [`MAX_RECEIVE_WAIT`]) for a message to arrive (SQS long polling); an empty answer means
    /// none came in time. A receive given up (its future dropped) may have taken messages already:
    /// they come back after their visibility timeout, as any unfinished delivery does.
    ///
    /// This version receives again after [`RECEIVE_RETRY`] pauses until a message is there or the
    /// time is up: right for a queue this process does not hear about (the embedded queues are
    /// written by operator commands in other processes too), and what SQS does on the server.
    async fn receive_waiting(
        &self,
        queue: QueueName,
        max_messages: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait.min(MAX_RECEIVE_WAIT);
        loop {
            let messages = self.receive(queue, max_messages).await?;
            let now = tokio::time::Instant::now();
            if !messages.is_empty() || now >= deadline {
                return Ok(messages);
            }
            tokio::time::sleep(RECEIVE_RETRY.min(deadline - now)).await;
        }
    }

    /// Deletes a received message (done with it). A stale receipt handle deletes nothing.
    async fn delete(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError>;

    /// Deletes received messages together: one `DeleteMessageBatch` request to SQS per
    /// [`MAX_BATCH`] of them, one write to the embedded queues. Stale receipt handles delete nothing;
    /// an error may leave some of the batch deleted and the rest to come back, which every handler
    /// is ready for. This version deletes them one by one.
    async fn delete_batch(&self, queue: QueueName, receipt_handles: &[String]) -> Result<(), QueueError> {
        for receipt_handle in receipt_handles {
            self.delete(queue, receipt_handle).await?;
        }
        Ok(())
    }

    /// How many messages the queue holds (visible or in flight).
    async fn depth(&self, queue: QueueName) -> Result<u64, QueueError>;

    /// How many of them are in flight: received by someone and not yet visible again (SQS:
    /// ApproximateNumberOfMessagesNotVisible). They reappear when their visibility timeout ends.
    async fn in_flight(&self, queue: QueueName) -> Result<u64, QueueError>;

    /// Keeps a received message hidden for `delay` from now (SQS: ChangeMessageVisibility), so that
    /// its next delivery comes after a back-off rather than after the queue's visibility timeout.
    /// A stale receipt handle changes nothing.
    async fn retry_after(&self, queue: QueueName, receipt_handle: &str, delay: Duration) -> Result<(), QueueError>;

    /// Makes a received message visible again at once (SQS: visibility timeout 0), for looking at
    /// messages without taking them.
    async fn release(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError>;
}
