//! Dead-letter parking: where a handler puts what it can never process, its queue's dead-letter
//! queue, with one set of message attributes whatever the queue. A parked message carries the
//! string attributes its source message had (so a replay sends it back as it was), then:
//!
//! - [`REASON`]: why it can never be processed (`orders dlq peek` shows it; the runbooks read it);
//! - [`SOURCE_MESSAGE_ID`]: the SQS message it came in;
//! - [`CLIENT_REFERENCE`]: for an import entry with a usable reference, that reference.
//!
//! A replay (`orders dlq replay`) sends a dead letter back to its source queue with its attributes
//! and [`REPLAYED_FROM`], naming the dead-letter queue: whether it was parked by a handler or moved
//! there by the queue's redrive, its handler then knows it for a replay (and counts it).
//!
//! A message parked whole keeps its body byte for byte; a part of a message (one import entry) is
//! parked with that part as its body.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsMessage;

use crate::ports::{MessageQueue, OutgoingMessage, QueueError, QueueName};

/// The attribute saying why the message was parked.
pub const REASON: &str = "reason";
/// The attribute naming the SQS message the parked one came in.
pub const SOURCE_MESSAGE_ID: &str = "source_message_id";
/// The attribute carrying an import entry's client reference.
pub const CLIENT_REFERENCE: &str = "client_reference";
/// The attribute a replayed dead letter carries: the dead-letter queue it was replayed from.
pub const REPLAYED_FROM: &str = "replayed_from";

/// One queue's dead-letter queue.
#[derive(Clone)]
pub struct DeadLetters {
    queues: Arc<dyn MessageQueue>,
    queue: QueueName,
}

impl DeadLetters {
    /// What can never be processed goes to `queue` (a dead-letter queue) of `queues`.
    pub fn new(queues: Arc<dyn MessageQueue>, queue: QueueName) -> Self {
        DeadLetters { queues, queue }
    }

    /// The dead-letter queue.
    pub fn queue(&self) -> QueueName {
        self.queue
    }

    /// Keeps `source` hidden on its own queue (the one this dead-letter queue serves) for `delay`,
    /// so that its next delivery comes after a back-off.
    pub async fn retry_after(&self, source: &SqsMessage, delay: std::time::Duration) -> Result<(), QueueError> {
        let (Some(queue), Some(receipt)) = (self.queue.source_queue(), source.receipt_handle.as_deref()) else {
            return Ok(());
        };
        self.queues.retry_after(queue, receipt, delay).await
    }

    /// Sends `source` to the dead-letter queue as it came, with `reason`.
    pub async fn park(&self, source: &SqsMessage, reason: &str) -> Result<(), QueueError> {
        let body = source.body.clone().unwrap_or_default();
        self.send(body, attributes(source, reason, None)).await
    }

    /// Sends one part of `source` (`body`: an import entry as sent) to the dead-letter queue, with
    /// `reason` and the entry's `client_reference` when it had a usable one.
    pub async fn park_part(
        &self,
        source: &SqsMessage,
        body: String,
        reason: &str,
        client_reference: Option<&str>,
    ) -> Result<(), QueueError> {
        self.send(body, attributes(source, reason, client_reference)).await
    }

    async fn send(&self, body: String, attributes: BTreeMap<String, String>) -> Result<(), QueueError> {
        self.queues.send(self.queue, OutgoingMessage { body, attributes }).await?;
        crate::metrics::message_parked(self.queue.source_queue().unwrap_or(self.queue));
        Ok(())
    }
}

/// The one set of attributes a parked message carries (see the module's documentation).
fn attributes(source: &SqsMessage, reason: &str, client_reference: Option<&str>) -> BTreeMap<String, String> {
    let mut attributes: BTreeMap<String, String> = source
        .message_attributes
        .iter()
        .filter_map(|(name, value)| value.string_value.clone().map(|text| (name.clone(), text)))
        .collect();
    attributes.insert(REASON.into(), reason.to_owned());
    attributes.insert(SOURCE_MESSAGE_ID.into(), source.message_id.clone().unwrap_or_default());
    if let Some(reference) = client_reference {
        attributes.insert(CLIENT_REFERENCE.into(), reference.to_owned());
    }
    attributes
}
