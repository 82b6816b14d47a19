//! The local runner: Lambda's event source mappings, played inside `orders serve`. Queue pollers
//! receive batches (up to 10), hand them to the handler as SQS events and delete what succeeded; the
//! stream poller reads the change feed in order, hands it over as DynamoDB stream events and moves
//! its position past what succeeded. Failed records come again: queue messages after their
//! visibility timeout (then the DLQ), change records at once, with growing pauses.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use orders_core::ports::{ChangeFeed, MessageQueue, QueueName};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::events::{EventSource, parse_sequence_number, sqs_event, stream_event};
use crate::stream::StreamHandler;
use orders_core::lambda::SqsHandler;

/// Pause when there is nothing to do.
const IDLE: Duration = Duration::from_millis(100);

/// Polls one queue and feeds its handler.
#[derive(Clone)]
#[allow(missing_docs)]
pub struct QueuePoller {
    pub queue: QueueName,
    /// The queue service.
    pub queues: Arc<dyn MessageQueue>,
    pub handler: Arc<dyn SqsHandler>,
    /// What events say about their source.
    pub source: EventSource,
}

impl QueuePoller {
    /// One receive-handle-delete round; returns how many messages were handed over.
    pub async fn poll_once(&self) -> Result<usize, orders_core::ports::QueueError> {
        let messages = self.queues.receive(self.queue, 10).await?;
        if messages.is_empty() {
            return Ok(0);
        }
        let event = sqs_event(&self.source, self.queue.as_str(), &messages);
        let response = self.handler.handle(event).await;
        // Delete what succeeded all at once (the embedded store commits the deletes together); a
        // delete that fails leaves its message to come back, which the handlers are ready for.
        let deletes = messages
            .iter()
            .filter(|message| !response.batch_item_failures.iter().any(|f| f.item_identifier == message.message_id))
            .map(|message| self.queues.delete(self.queue, &message.receipt_handle));
        join_all(deletes).await.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(messages.len())
    }

    /// `concurrency` pollers of this queue, each polling until `shutdown` turns true: Lambda's
    /// event source mapping runs up to its maximum concurrency of batches at once in the same way.
    pub fn spawn_many(self, concurrency: usize, shutdown: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        (0..concurrency.max(1)).map(|_| self.clone().spawn(shutdown.clone())).collect()
    }

    /// Polls until `shutdown` turns true.
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            while !*shutdown.borrow() {
                let pause = match self.poll_once().await {
                    Ok(0) => IDLE,
                    Ok(_) => Duration::ZERO,
                    Err(error) => {
                        tracing::warn!(queue = %self.queue, %error, "polling failed");
                        Duration::from_secs(1)
                    }
                };
                if !pause.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        })
    }
}

/// Reads the change feed in order and feeds the stream handler.
#[derive(Clone)]
#[allow(missing_docs)]
pub struct StreamPoller {
    pub feed: Arc<dyn ChangeFeed>,
    pub handler: Arc<dyn StreamHandler>,
    /// The consumer name its position is kept under.
    pub consumer: String,
    /// The table name the records say they come from.
    pub table: String,
    /// What events say about their source.
    pub source: EventSource,
}

/// The outcome of one stream round.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamRound {
    /// Nothing new.
    Idle,
    /// This many records were processed.
    Processed(usize),
    /// A record failed; the position stays before it.
    Failed,
}

impl StreamPoller {
    /// One read-handle-advance round.
    pub async fn poll_once(&self) -> Result<StreamRound, orders_core::ports::StoreError> {
        let position = self.feed.position(&self.consumer).await?;
        let changes = self.feed.changes_after(position, 100).await?;
        let Some(last) = changes.last().map(|c| c.sequence) else { return Ok(StreamRound::Idle) };
        let event = stream_event(&self.source, &self.table, &changes)
            .map_err(|e| orders_core::ports::StoreError::Internal(e.to_string()))?;
        let response = self.handler.handle(event).await;
        let first_failed = response
            .batch_item_failures
            .iter()
            .filter_map(|f| f.item_identifier.as_deref().and_then(parse_sequence_number))
            .min();
        match first_failed {
            None => {
                self.feed.save_position(&self.consumer, last).await?;
                Ok(StreamRound::Processed(changes.len()))
            }
            Some(failed) => {
                self.feed.save_position(&self.consumer, failed.saturating_sub(1).max(position)).await?;
                Ok(StreamRound::Failed)
            }
        }
    }

    /// Polls until `shutdown` turns true; after failures it pauses longer each time (up to 10 s).
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(drive_stream(self, IDLE, shutdown))
    }
}

/// A stream reader the runner drives round by round.
#[async_trait::async_trait]
pub trait StreamRounds: Send {
    /// Reads and hands over what is new.
    async fn round(&mut self) -> Result<StreamRound, orders_core::ports::StoreError>;
}

#[async_trait::async_trait]
impl StreamRounds for StreamPoller {
    async fn round(&mut self) -> Result<StreamRound, orders_core::ports::StoreError> {
        self.poll_once().await
    }
}

/// Runs stream rounds until `shutdown` turns true: at once after a productive round, after `idle`
/// when there was nothing, and after growing pauses (up to 10 s) while rounds keep failing.
pub async fn drive_stream(mut source: impl StreamRounds, idle: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    while !*shutdown.borrow() {
        let pause = match source.round().await {
            Ok(StreamRound::Processed(_)) => {
                failures = 0;
                Duration::ZERO
            }
            Ok(StreamRound::Idle) => idle,
            Ok(StreamRound::Failed) => {
                failures = failures.saturating_add(1);
                backoff(failures)
            }
            Err(error) => {
                tracing::warn!(%error, "reading the stream failed");
                failures = failures.saturating_add(1);
                backoff(failures)
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(7))).min(Duration::from_secs(10))
}
