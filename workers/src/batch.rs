//! The partial-batch runner shared by every SQS handler: each record is processed on its own; an
//! error or a panic in one record fails only that record (reported in `batchItemFailures`, so SQS
//! delivers it again and, after `maxReceiveCount`, moves it to the dead-letter queue), never the
//! batch, and never silently. A record that can never succeed (malformed, wrong types, oversized) is
//! not retried: with [`DeadLetters`] it goes straight to the dead-letter queue, intact, with its
//! reason, and the rest of the batch goes on.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use futures::future::join_all;
use orders_core::application::StepError;
use orders_core::ports::{MessageQueue, OutgoingMessage, QueueError, QueueName};

/// What a caught panic said (`panic!`'s formatted message or literal), for the log and the report.
pub fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

/// The largest message body a worker reads: SQS's classic limit. A larger body is refused unread.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A handler of SQS batches (one per queue).
#[async_trait]
pub trait SqsHandler: Send + Sync {
    /// Processes a batch; the response lists the records to deliver again.
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse;
}

/// Where a worker puts the messages it can never process: its queue's dead-letter queue.
#[derive(Clone)]
pub struct DeadLetters {
    queues: Arc<dyn MessageQueue>,
    queue: QueueName,
}

impl DeadLetters {
    /// Malformed messages go to `queue` (a dead-letter queue) of `queues`.
    pub fn new(queues: Arc<dyn MessageQueue>, queue: QueueName) -> Self {
        DeadLetters { queues, queue }
    }

    /// Sends `message` to the dead-letter queue as it came, with `reason` and its source message id,
    /// and its own attributes (a replay sends it back as it was).
    async fn park(&self, message: &SqsMessage, reason: &str) -> Result<(), QueueError> {
        let mut attributes: BTreeMap<String, String> = message
            .message_attributes
            .iter()
            .filter_map(|(name, value)| value.string_value.clone().map(|text| (name.clone(), text)))
            .collect();
        attributes.insert("reason".into(), reason.to_owned());
        attributes.insert("source_message_id".into(), message.message_id.clone().unwrap_or_default());
        let body = message.body.clone().unwrap_or_default();
        self.queues.send(self.queue, OutgoingMessage { body, attributes }).await.map(|_| ())
    }
}

/// Runs `process` on every record of `event` concurrently and reports the records that failed or
/// panicked, by message id.
pub async fn process_batch<F, Fut>(event: SqsEvent, process: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
{
    process_batch_parking(event, None, process).await
}

/// As [`process_batch`], and a record that is too large or fails as [`StepError::Malformed`] is
/// moved to `dead_letters` with its reason (and counts as done) instead of being delivered again.
pub async fn process_batch_parking<F, Fut>(
    event: SqsEvent,
    dead_letters: Option<&DeadLetters>,
    process: F,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
{
    let process = &process;
    let attempts = event.records.into_iter().map(|record| {
        let message_id = record.message_id.clone().unwrap_or_default();
        let receive_count = record.attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default();
        let size = record.body.as_ref().map_or(0, String::len);
        // Only a worker that parks malformed messages keeps a copy of each (the handler takes it).
        let parking = dead_letters.map(|dead_letters| (dead_letters, record.clone()));
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
            let failure = match (work.await, parking) {
                (Ok(Ok(())), _) => return None,
                (Ok(Err(StepError::Malformed(reason))), Some((dead_letters, original))) => {
                    let reason = format!("malformed message: {reason}");
                    match dead_letters.park(&original, &reason).await {
                        Ok(()) => {
                            tracing::warn!(%message_id, %reason, dead_letter_queue = %dead_letters.queue, "message can never be processed; moved to the dead-letter queue");
                            return None;
                        }
                        Err(error) => format!("{reason}; moving it to the dead-letter queue failed: {error}"),
                    }
                }
                (Ok(Err(error)), _) => error.to_string(),
                (Err(panic), _) => format!("panicked: {}", panic_message(panic.as_ref())),
            };
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
    use super::*;

    #[test]
    fn a_caught_panic_says_what_it_said() {
        let formatted = std::panic::catch_unwind(|| panic!("order {} broke", 7)).unwrap_err();
        assert_eq!(panic_message(formatted.as_ref()), "order 7 broke");
        let literal = std::panic::catch_unwind(|| panic!("broke")).unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), "broke");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(42_u8)).unwrap_err();
        assert_eq!(panic_message(other.as_ref()), "(no message)");
    }

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

    #[tokio::test]
    async fn only_the_failing_and_panicking_records_are_reported() {
        // Given a batch where one record errs and one panics
        let response = process_batch(event(&["ok", "err", "panic", "ok"]), |message| async move {
            match message.body.as_deref() {
                Some("err") => Err(StepError::Malformed("bad".into())),
                Some("panic") => panic!("boom"),
                _ => Ok(()),
            }
        })
        .await;
        // Then exactly those two are reported, the others succeed
        assert_eq!(failed_ids(&response), ["m1", "m2"]);
    }

    #[tokio::test]
    async fn a_clean_batch_reports_nothing() {
        let response = process_batch(event(&["a", "b"]), |_| async { Ok(()) }).await;
        assert!(response.batch_item_failures.is_empty());
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json, serde_json::json!({"batchItemFailures": []}));
    }
}
