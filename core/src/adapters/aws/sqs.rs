//! The queues on SQS. Visibility timeouts and dead-letter redrive are the queues' own settings
//! (set up by infra or `orders setup`); this adapter only sends, receives, deletes and counts.

use std::collections::{BTreeMap, HashMap};

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use chrono::DateTime;

use super::errors::{describe, is_transient};
use crate::ports::{
    MAX_BATCH, MAX_RECEIVE_WAIT, MessageQueue, OutgoingMessage, QueueError, QueueName, ReceivedMessage,
};

/// The pipeline's queues on SQS.
#[derive(Clone, Debug)]
pub struct SqsQueues {
    client: Client,
    urls: BTreeMap<QueueName, String>,
}

pub(super) fn sdk_error<E, R>(error: aws_sdk_sqs::error::SdkError<E, R>) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    if is_transient(&error) {
        QueueError::Unavailable(describe(&error))
    } else {
        QueueError::Internal(describe(&error))
    }
}

impl SqsQueues {
    /// Queues at `urls`.
    pub fn new(client: Client, urls: BTreeMap<QueueName, String>) -> Self {
        SqsQueues { client, urls }
    }

    fn url(&self, queue: QueueName) -> Result<&str, QueueError> {
        self.urls
            .get(&queue)
            .map(String::as_str)
            .ok_or_else(|| QueueError::Internal(format!("no URL for queue {queue}")))
    }

    /// One ReceiveMessage, waiting up to `wait` (whole seconds, at most 20) for a message.
    async fn receive_within(
        &self,
        queue: QueueName,
        max_messages: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let wait_seconds = i32::try_from(wait.min(MAX_RECEIVE_WAIT).as_secs()).unwrap_or(0);
        let output = self
            .client
            .receive_message()
            .queue_url(self.url(queue)?)
            .max_number_of_messages(max_messages.clamp(1, 10) as i32)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|message| {
                let system = message.attributes.unwrap_or_default();
                let number = |name: MessageSystemAttributeName| {
                    system.get(&name).and_then(|v| v.parse::<i64>().ok()).unwrap_or_default()
                };
                ReceivedMessage {
                    message_id: message.message_id.unwrap_or_default(),
                    receipt_handle: message.receipt_handle.unwrap_or_default(),
                    body: message.body.unwrap_or_default(),
                    attributes: message
                        .message_attributes
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|(name, value)| value.string_value.map(|v| (name, v)))
                        .collect(),
                    receive_count: number(MessageSystemAttributeName::ApproximateReceiveCount) as u32,
                    sent_at: DateTime::from_timestamp_millis(number(MessageSystemAttributeName::SentTimestamp))
                        .unwrap_or_default(),
                }
            })
            .collect())
    }
}

#[async_trait]
impl MessageQueue for SqsQueues {
    async fn send(&self, queue: QueueName, message: OutgoingMessage) -> Result<String, QueueError> {
        let mut attributes = HashMap::new();
        for (name, value) in message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| QueueError::Internal(e.to_string()))?;
            attributes.insert(name, value);
        }
        let output = self
            .client
            .send_message()
            .queue_url(self.url(queue)?)
            .message_body(message.body)
            .set_message_attributes(Some(attributes).filter(|a| !a.is_empty()))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.message_id.unwrap_or_default())
    }

    async fn receive(&self, queue: QueueName, max_messages: usize) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.receive_within(queue, max_messages, Duration::ZERO).await
    }

    /// SQS long polling: one request that SQS answers as soon as a message is there.
    async fn receive_waiting(
        &self,
        queue: QueueName,
        max_messages: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.receive_within(queue, max_messages, wait).await
    }
    async fn delete(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        let result =
            self.client.delete_message().queue_url(self.url(queue)?).receipt_handle(receipt_handle).send().await;
        match result {
            Ok(_) => Ok(()),
            // A stale receipt handle deletes nothing, as in the embedded queues.
            Err(error) if error.as_service_error().is_some_and(|e| e.is_receipt_handle_is_invalid()) => Ok(()),
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn delete_batch(&self, queue: QueueName, receipt_handles: &[String]) -> Result<(), QueueError> {
        let mut handles: Vec<&String> = receipt_handles.iter().collect();
        // SQS refuses a batch that names one entry twice.
        handles.sort();
        handles.dedup();
        for chunk in handles.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(index, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(handle.as_str())
                        .build()
                        .map_err(|e| QueueError::Internal(format!("delete batch entry: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let answer = self
                .client
                .delete_message_batch()
                .queue_url(self.url(queue)?)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sdk_error)?;
            // A stale receipt handle deletes nothing, as in `delete`; any other refusal is an error.
            if let Some(refused) = answer.failed().iter().find(|entry| entry.code() != "ReceiptHandleIsInvalid") {
                let reason = format!("{}: {}", refused.code(), refused.message().unwrap_or_default());
                return Err(if refused.sender_fault() {
                    QueueError::Internal(reason)
                } else {
                    QueueError::Unavailable(reason)
                });
            }
        }
        Ok(())
    }

    async fn retry_after(&self, queue: QueueName, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        // SQS keeps a message hidden for at most 12 hours.
        let seconds = i32::try_from(delay.as_secs().min(12 * 60 * 60)).unwrap_or(0);
        let result = self
            .client
            .change_message_visibility()
            .queue_url(self.url(queue)?)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_receipt_handle_is_invalid()) => Ok(()),
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn release(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        self.retry_after(queue, receipt_handle, Duration::ZERO).await
    }

    async fn depth(&self, queue: QueueName) -> Result<u64, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(self.url(queue)?)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.attributes.unwrap_or_default().values().filter_map(|v| v.parse::<u64>().ok()).sum())
    }

    async fn in_flight(&self, queue: QueueName) -> Result<u64, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(self.url(queue)?)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.attributes.unwrap_or_default().values().filter_map(|v| v.parse::<u64>().ok()).sum())
    }
}
