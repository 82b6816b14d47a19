//! The partial-batch runner shared by every SQS handler: each record is processed on its own; an
//! error or a panic in one record fails only that record (reported in `batchItemFailures`, so SQS
//! delivers it again and, after `maxReceiveCount`, moves it to the dead-letter queue), never the
//! batch, and never silently. A record that can never succeed (malformed, wrong types, oversized) is
//! not retried: it goes straight to the handler's dead-letter queue, intact, with its reason, and the
//! rest of the batch goes on.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use futures::future::join_all;

use super::dead_letters::DeadLetters;
use super::panic_message;
use crate::application::StepError;

/// The largest message body a worker reads: SQS's classic limit. A larger body is refused unread.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A handler of SQS batches (one per queue).
#[async_trait]
pub trait SqsHandler: Send + Sync {
    /// Processes a batch; the response lists the records to deliver again.
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse;
}

/// How a queue's failed records come back when its handler sets the pace itself (rather than the
/// queue's fixed visibility timeout): after pauses that double from `first_delay` up to
/// `max_delay`, and, after `attempts` deliveries, parked in the dead-letter queue with the last
/// failure as their reason (where the queue's own redrive would park them without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Deliveries before a record is parked (at most the queue's `maxReceiveCount`, which then
    /// only catches what a crash left behind).
    pub attempts: u32,
    /// The pause after the first failure.
    pub first_delay: Duration,
    /// The longest pause.
    pub max_delay: Duration,
}

impl Backoff {
    /// The pause after the `receive_count`-th delivery failed.
    pub fn delay(&self, receive_count: u32) -> Duration {
        let doublings = receive_count.saturating_sub(1).min(32);
        self.first_delay.saturating_mul(2u32.saturating_pow(doublings)).min(self.max_delay)
    }
}

/// Runs `process` on every record of `event` concurrently and reports the records that failed or
/// panicked, by message id. A record that is too large or fails as [`StepError::Malformed`] is
/// moved to `dead_letters` with its reason (and counts as done) instead of being delivered again.
pub async fn process_batch<F, Fut>(event: SqsEvent, dead_letters: &DeadLetters, process: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
{
    process_batch_with_backoff(event, dead_letters, None, process).await
}

/// [`process_batch`], with failed records paced by `backoff` when one is given.
pub async fn process_batch_with_backoff<F, Fut>(
    event: SqsEvent,
    dead_letters: &DeadLetters,
    backoff: Option<Backoff>,
    process: F,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
{
    let process = &process;
    let attempts = event.records.into_iter().map(|record| {
        let message_id = record.message_id.clone().unwrap_or_default();
        let receive_count: u32 =
            record.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1);
        let size = record.body.as_ref().map_or(0, String::len);
        // A replay is counted at its first delivery, not at each retry.
        if receive_count == 1
            && record.message_attributes.contains_key(super::dead_letters::REPLAYED_FROM)
            && let Some(queue) = dead_letters.queue().source_queue()
        {
            crate::metrics::message_replayed(queue);
        }
        // A copy of each record, to park it as it came (the handler takes the original).
        let original = record.clone();
        let work = AssertUnwindSafe(async move {
            if size > MAX_MESSAGE_BYTES {
                return Err(StepError::Malformed(format!(
                    "message of {size} bytes is over the {MAX_MESSAGE_BYTES}-byte limit"
                )));
            }
            process(record).await
        })
        .catch_unwind();
        async move {
            let failure = match work.await {
                Ok(Ok(())) => return None,
                Ok(Err(StepError::Malformed(reason))) => {
                    let reason = format!("malformed message: {reason}");
                    match dead_letters.park(&original, &reason).await {
                        Ok(()) => {
                            tracing::warn!(%message_id, %reason, dead_letter_queue = %dead_letters.queue(), "message can never be processed; moved to the dead-letter queue");
                            return None;
                        }
                        Err(error) => format!("{reason}; moving it to the dead-letter queue failed: {error}"),
                    }
                }
                Ok(Err(error)) => error.to_string(),
                Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
            };
            if let Some(backoff) = backoff {
                if receive_count >= backoff.attempts {
                    let reason = format!("failed {receive_count} times, the last with: {failure}");
                    match dead_letters.park(&original, &reason).await {
                        Ok(()) => {
                            tracing::warn!(%message_id, %reason, dead_letter_queue = %dead_letters.queue(), "record gave up; moved to the dead-letter queue");
                            return None;
                        }
                        Err(error) => tracing::error!(%message_id, %error, "parking a record that gave up failed"),
                    }
                } else if let Err(error) = dead_letters.retry_after(&original, backoff.delay(receive_count)).await {
                    // The queue's visibility timeout paces it instead.
                    tracing::warn!(%message_id, %error, "could not delay the record's next delivery");
                }
            }
            tracing::warn!(%message_id, receive_count, error = %failure, "record failed; it will be delivered again");
            Some(message_id)
        }
    });
    let mut response = SqsBatchResponse::default();
    for message_id in join_all(attempts).await.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = message_id;
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use super::*;
    use crate::adapters::embedded::{Database, EmbeddedQueues, QueueSettings};
    use crate::ports::{MessageQueue, QueueError, QueueName};

    fn event(bodies: &[&str]) -> SqsEvent {
        let mut event = SqsEvent::default();
        for (i, body) in bodies.iter().enumerate() {
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("m{i}"));
            message.body = Some((*body).to_owned());
            event.records.push(message);
        }
        event
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
        let mut ids: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        ids.sort();
        ids
    }

    async fn backup_dead_letters(dir: &tempfile::TempDir) -> (Arc<EmbeddedQueues>, DeadLetters) {
        let database = Database::open(&dir.path().join("db.sqlite3")).unwrap();
        let queues = Arc::new(EmbeddedQueues::new(database, [(QueueName::Backup, QueueSettings::default())]));
        let dead_letters = DeadLetters::new(queues.clone(), QueueName::BackupDlq);
        (queues, dead_letters)
    }

    #[tokio::test]
    async fn only_the_failing_and_panicking_records_are_reported_and_the_malformed_parked() {
        // Given a batch where one record meets passing trouble, one panics and one is malformed
        let dir = tempfile::tempdir().unwrap();
        let (queues, dead_letters) = backup_dead_letters(&dir).await;
        let response =
            process_batch(event(&["ok", "err", "panic", "ok", "bad"]), &dead_letters, |message| async move {
                match message.body.as_deref() {
                    Some("err") => Err(StepError::Queue(QueueError::Unavailable("busy".into()))),
                    Some("panic") => panic!("boom"),
                    Some("bad") => Err(StepError::Malformed("unreadable".into())),
                    _ => Ok(()),
                }
            })
            .await;
        // Then exactly the failing and the panicking one are reported, the others succeed
        assert_eq!(failed_ids(&response), ["m1", "m2"]);
        // And the malformed one is in the dead-letter queue, intact, with its reason and source
        let parked = queues.receive(QueueName::BackupDlq, 10).await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].body, "bad");
        assert_eq!(parked[0].attributes["reason"], "malformed message: unreadable");
        assert_eq!(parked[0].attributes["source_message_id"], "m4");
    }

    #[tokio::test]
    async fn a_clean_batch_reports_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (_queues, dead_letters) = backup_dead_letters(&dir).await;
        let response = process_batch(event(&["a", "b"]), &dead_letters, |_| async { Ok(()) }).await;
        assert!(response.batch_item_failures.is_empty());
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json, serde_json::json!({"batchItemFailures": []}));
    }
}
