//! The partial-batch runner shared by every SQS handler: each record is processed on its own; an
//! error or a panic in one record fails only that record (reported in `batchItemFailures`, so SQS
//! delivers it again and, after `maxReceiveCount`, moves it to the dead-letter queue), never the
//! batch, and never silently.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use futures::future::join_all;
use orders_core::ports::{BackupError, CallbackError, QueueError, StoreError};

/// Why one record failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The message is not what the queue carries (it will fail every time: the DLQ keeps it).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Order storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The backup store failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// A queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A workflow callback failed.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// A use case failed for a passing reason (storage, workflow engine).
    #[error(transparent)]
    Order(#[from] orders_core::service::OrderError),
}

/// A handler of SQS batches (one per queue).
#[async_trait]
pub trait SqsHandler: Send + Sync {
    /// Processes a batch; the response lists the records to deliver again.
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse;
}

/// Runs `process` on every record of `event` concurrently and reports the records that failed or
/// panicked, by message id.
pub async fn process_batch<F, Fut>(event: SqsEvent, process: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), WorkerError>>,
{
    let attempts = event.records.into_iter().map(|record| {
        let message_id = record.message_id.clone().unwrap_or_default();
        let receive_count = record.attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default();
        let work = AssertUnwindSafe(process(record)).catch_unwind();
        async move {
            let failure = match work.await {
                Ok(Ok(())) => return None,
                Ok(Err(error)) => error.to_string(),
                Err(panic) => {
                    let detail = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("(no message)");
                    format!("panicked: {detail}")
                }
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
                Some("err") => Err(WorkerError::Malformed("bad".into())),
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
